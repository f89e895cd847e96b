"""cProfile over siotls's handshake and bulk loops: the top functions by tottime.

    python bench/profile_engine.py                   # 300 handshakes, 256 MiB bulk
    python bench/profile_engine.py --handshakes 1000 --mib 64 --top 40 --sort cumtime
    python bench/profile_engine.py --unverified      # the client verifies nothing

Uses the same setup as bench_engine.py (TLS 1.3, x25519, TLS_AES_128_GCM_SHA256,
ECDSA P-256 leaf and CA, certificate verification on the client).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_engine  # sets OPENSSL_CONF before ssl is imported


def profile(title: str, function: object, top: int, sort: str, count: int = 0) -> None:
    """Profile ``function``; with ``count``, also the calls per operation."""
    profiler = cProfile.Profile()
    profiler.runcall(function)  # type: ignore[arg-type]
    print(f"\n===== {title} =====")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    if count:  # every Python call and every C call made from Python
        print(f"calls per operation: {stats.total_calls / count:.0f}")  # type: ignore[attr-defined]
    stats.strip_dirs().sort_stats(sort).print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--handshakes", type=int, default=300)
    parser.add_argument("--mib", type=int, default=256, help="bulk MiB, in 16 KiB writes")
    parser.add_argument("--echoes", type=int, default=0, help="also profile N 1-byte echoes")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--unverified", action="store_true",
                        help="a client that verifies nothing (the 'no verification' row)")
    args = parser.parse_args()

    creds = bench_engine.make_credentials(bench_engine.TMPDIR.name)
    impl = bench_engine.Siotls(creds, bench_engine.CipherSuites.TLS_AES_128_GCM_SHA256,
                               verify=not args.unverified)
    for _ in range(10):  # warm up: lazy imports and caches stay out of the profile
        impl.echo(impl.handshake(), 10)

    def handshakes() -> None:
        for _ in range(args.handshakes):
            impl.handshake()

    pair = impl.handshake()
    chunks = args.mib * bench_engine.MIB // bench_engine.CHUNK
    what = "unverified handshakes" if args.unverified else "handshakes"
    profile(f"siotls: {args.handshakes} {what} (client and server)", handshakes, args.top,
            args.sort, args.handshakes)
    profile(f"siotls: bulk {args.mib} MiB in 16 KiB writes",
            lambda: impl.bulk(pair, chunks), args.top, args.sort)
    if args.echoes:
        echo_pair = impl.handshake()
        profile(f"siotls: {args.echoes} 1-byte echoes",
                lambda: impl.echo(echo_pair, args.echoes), args.top, args.sort)


if __name__ == "__main__":
    main()
