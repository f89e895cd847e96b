"""Instructions per 1-byte echo round trip, per 16 KiB record and per handshake,
siotls and ``ssl``.

    python bench/instructions.py            # about 4 minutes (valgrind runs 16 children)
    python bench/instructions.py --json
    python bench/instructions.py --loops handshake handshake-unverified

On a shared machine times swing with the load; instruction counts do not. Each
loop of ``bench_engine.py`` (siotls, ``ssl``; echo, bulk) runs in a child under
``valgrind --tool=cachegrind --cache-sim=no`` twice, with two loop lengths; the
difference of the two totals divided by the difference of the lengths is the
count per operation, without the start-up, the certificates and (for echo and bulk)
the handshake. The handshake loops are bench_engine.py's full handshake (both
sides, in memory), with the client's chain verification and without it.
Instructions are not time (a 16 KiB copy is few instructions and many cycles),
but the echo's are mostly Python's and compare well. Needs valgrind (Debian:
``apt-get install valgrind``); without it, says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import _valgrind

#: (loop, short length, long length): the long minus the short is what is counted.
LOOPS = {"echo": (200, 1200), "bulk": (40, 240), "handshake": (20, 120),
         "handshake-unverified": (20, 120)}


def child(stack: str, loop: str, count: int) -> None:
    """Run one loop of bench_engine.py ``count`` times (after its set-up)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_engine  # sets OPENSSL_CONF before ssl is imported

    creds = bench_engine.make_credentials(bench_engine.TMPDIR.name)
    verify = loop != "handshake-unverified"
    impl = (bench_engine.Ssl(creds, verify=verify) if stack == "ssl"
            else bench_engine.Siotls(creds, bench_engine.CipherSuites.TLS_AES_128_GCM_SHA256,
                                     verify=verify))
    pair = impl.handshake()
    if loop.startswith("handshake"):
        for _ in range(count):
            impl.handshake()
        return
    (impl.echo if loop == "echo" else impl.bulk)(pair, count)


def instructions(valgrind: str, stack: str, loop: str, count: int) -> int:
    return _valgrind.instructions(__file__, stack, loop, str(count), valgrind=valgrind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("STACK", "LOOP", "COUNT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--loops", nargs="+", choices=LOOPS, default=list(LOOPS))
    args = parser.parse_args()
    if args.child:
        stack, loop, count = args.child
        child(stack, loop, int(count))
        return
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind is not installed: nothing measured")
        return
    results: dict[str, dict[str, float]] = {}
    for loop in args.loops:
        short, long = LOOPS[loop]
        for stack in ("ssl", "siotls"):
            counts = [instructions(valgrind, stack, loop, n) for n in (short, long)]
            results.setdefault(loop, {})[stack] = (counts[1] - counts[0]) / (long - short)
        results[loop]["ratio"] = results[loop]["siotls"] / results[loop]["ssl"]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'instructions per':32s} {'ssl':>10s} {'siotls':>10s} {'siotls / ssl':>13s}")
    names = {"echo": "1-byte echo round trip", "bulk": "16 KiB record (sent, received)",
             "handshake": "handshake (both sides)",
             "handshake-unverified": "handshake, no verification"}
    for loop, row in results.items():
        print(f"{names[loop]:32s} {row['ssl']:10.0f} {row['siotls']:10.0f} {row['ratio']:13.2f}")


if __name__ == "__main__":
    main()
