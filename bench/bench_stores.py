"""The fleet stores: memory per entry and checks per second of the strike registers.

    python bench/bench_stores.py            # about 15 s
    python bench/bench_stores.py --quick    # about 5 s
    python bench/bench_stores.py --redis redis://10.0.0.5:6379/0   # a Redis of yours

1. MemoryStrikeRegister: bytes per entry (tracemalloc, keys of 32 bytes: a
   SHA-256 binder, the key objects counted since the register keeps them) for
   several sizes: what ``MEMORY_BYTES_PER_ENTRY`` in siotls/stores/strikes.py and
   docs/fleet.rst promise; and checks per second.
2. RedisStrikeRegister (blocking) and AsyncRedisStrikeRegister: checks per second,
   one after the other (each a round trip), and the median time of one check, on
   a redis-server of its own on 127.0.0.1 (no persistence) unless --redis is given,
   and the memory Redis uses per key (its ``used_memory``, before and after).

Keys are new (no replays): the cost of an accepted 0-RTT ClientHello.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from siotls.stores import MemoryStrikeRegister


def ready(register_clock: float = 1e9) -> MemoryStrikeRegister:
    register = MemoryStrikeRegister(max_entries=10**7, clock=lambda: register_clock)
    register.started_at -= register.window
    return register


def memory_per_entry(count: int) -> float:
    register = ready()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(count):
            register.check_and_record(os.urandom(32), 10)
        return (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()


def memory_rate(count: int) -> float:
    register = ready()
    keys = [os.urandom(32) for _ in range(count)]
    start = time.perf_counter()
    for key in keys:
        register.check_and_record(key, 10)
    return count / (time.perf_counter() - start)


@contextmanager
def own_redis() -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not installed (apt install redis-server), or --redis")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as directory:
        proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", "--dir", directory],
                                stdout=subprocess.DEVNULL)
        try:
            import redis
            client = redis.Redis(port=port, socket_connect_timeout=1)
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            client.close()
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(10)


def redis_sync(url: str, count: int) -> tuple[float, float, float]:
    import redis

    from siotls.stores.redis import RedisStrikeRegister
    with redis.Redis.from_url(url, socket_timeout=2) as client:
        client.set(b"bench:started", repr(time.time() - 60))
        register = RedisStrikeRegister(client, prefix=b"bench:")
        memory = client.info("memory")["used_memory"]
        times = []
        for _ in range(count):
            key = os.urandom(32)
            start = time.perf_counter()
            assert register.check_and_record(key, 10)
            times.append(time.perf_counter() - start)
        memory = (client.info("memory")["used_memory"] - memory) / count
        client.delete(*client.keys(b"bench:*"))
    return count / sum(times), statistics.median(times), memory


async def redis_async(url: str, count: int) -> tuple[float, float]:
    import redis.asyncio

    from siotls.stores.redis import AsyncRedisStrikeRegister
    async with redis.asyncio.Redis.from_url(url, socket_timeout=2) as client:
        await client.set(b"bench:started", repr(time.time() - 60))
        register = AsyncRedisStrikeRegister(client, prefix=b"bench:")
        times = []
        for _ in range(count):
            key = os.urandom(32)
            start = time.perf_counter()
            assert await register.check_and_record(key, 10)
            times.append(time.perf_counter() - start)
        await client.delete(*await client.keys(b"bench:*"))
    return count / sum(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--redis", metavar="URL", help="a Redis to use (keys bench:*)")
    args = parser.parse_args()
    scale = 1 if args.quick else 5
    print(f"Python {sys.version.split()[0]}")
    print("MemoryStrikeRegister, 32-byte keys:")
    for count in (1_000, 10_000, 100_000) + (() if args.quick else (174_763,)):
        print(f"  {count:>9} entries: {memory_per_entry(count):6.1f} bytes/entry")
    print(f"  {memory_rate(50_000 * scale):,.0f} checks/s")
    with (own_redis() if args.redis is None else _given(args.redis)) as url:
        rate, median, memory = redis_sync(url, 2_000 * scale)
        print(f"RedisStrikeRegister (redis.Redis), {url}:")
        print(f"  {rate:,.0f} checks/s one at a time, median {median * 1e6:.0f} us")
        print(f"  Redis used_memory: {memory:.0f} bytes per key")
        rate, median = asyncio.run(redis_async(url, 2_000 * scale))
        print(f"AsyncRedisStrikeRegister (redis.asyncio.Redis), {url}:")
        print(f"  {rate:,.0f} checks/s one at a time, median {median * 1e6:.0f} us")


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    main()
