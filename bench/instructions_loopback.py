"""Instructions per 1-byte echo round trip over loopback TCP, anyio or trio streams,
siotls and ``ssl``: client and server in one process, on one event loop.

    python bench/instructions_loopback.py                        # anyio and trio, siotls and ssl
    python bench/instructions_loopback.py --frameworks anyio --stacks siotls

``bench_loopback.py``'s servers and echo client (its ``Anyio`` and ``Trio``
classes), run in a child under ``valgrind --tool=cachegrind --cache-sim=no`` with
two echo counts; the difference of the two totals divided by the difference of
the counts is the count per round trip (both sides, and the event loop's share),
without the start-up and the handshake. Unlike ``bench_loopback.py``'s times, it
does not swing with the machine's load. Needs valgrind; without it, says so and
exits 0.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import _valgrind

SHORT, LONG = 200, 1200


def child(framework: str, stack: str, count: int) -> None:
    """Serve, then ``count`` echoes, in this process (what valgrind measures)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_loopback as bl  # configures OpenSSL before ssl is imported

    creds = str(Path(bl.TMPDIR.name, "creds.json"))
    bl.save_credentials(bl.make_credentials(bl.TMPDIR.name), creds)
    setup = bl.Setup(bl.load_credentials(creds))
    fw = bl.FRAMEWORK_CLASSES[framework]()

    async def main() -> None:
        import anyio  # runs under trio.run as under asyncio

        ports: dict[str, dict[str, int]] = {}
        async with anyio.create_task_group() as group:
            ready = anyio.Event()
            group.start_soon(fw.serve, setup, ports, ready.set)
            await ready.wait()
            await bl.echo_rate(fw, setup, stack, ports[stack]["echo"], count)
            group.cancel_scope.cancel()

    fw.run(main)


def instructions(framework: str, stack: str, count: int) -> int:
    return _valgrind.instructions(__file__, framework, stack, str(count), timeout=600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frameworks", nargs="+", choices=("anyio", "trio"),
                        default=["anyio", "trio"])
    parser.add_argument("--stacks", nargs="+", choices=("siotls", "ssl"),
                        default=["siotls", "ssl"])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind): nothing measured")
        return
    for framework in args.frameworks:
        counts = {}
        for stack in args.stacks:
            per_echo = (instructions(framework, stack, LONG)
                        - instructions(framework, stack, SHORT)) / (LONG - SHORT)
            counts[stack] = per_echo
            print(f"{framework:6} {stack:7} {per_echo / 1000:8.1f}k instructions per echo",
                  flush=True)
        if len(counts) == 2:
            print(f"{framework:6} siotls/ssl {counts['siotls'] / counts['ssl']:.2f}x")


if __name__ == "__main__":
    main()
