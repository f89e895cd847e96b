"""siotls's asyncio adapter vs asyncio's own ``ssl=``, over loopback sockets.

    python bench/bench_asyncio.py            # full run (about 1 min)
    python bench/bench_asyncio.py --quick    # short run (< 30 s)
    python bench/bench_asyncio.py --json     # print the results as JSON

Client and server run in one process and one event loop (the default asyncio
loop) on 127.0.0.1, with the streams API on both sides: ``siotls.asyncio``
``open_connection``/``start_server`` for siotls, ``asyncio.open_connection``/
``start_server`` with ``ssl=`` for ``ssl``. TLS 1.3, x25519, an ECDSA P-256 leaf
for localhost signed by an ECDSA P-256 CA (made with ``cryptography`` here),
certificate and hostname verification on the client, no session tickets (the
``ssl`` server has ``num_tickets = 0``, the siotls one ``num_tickets=0``).

Measured, the implementations interleaved (order alternating every round), medians
over the rounds:

1. **connections/s, sequential**: connect + handshake + close, one after the other;
   a connection counts once the server's handler has seen its EOF and closed.
2. **connections/s, concurrent**: the same with 20 clients at a time.
3. **MB/s**: one connection; the client streams N MiB in 64 KiB writes (with
   ``drain()``), the server reads them all and answers one byte.
4. **1-byte echo**: round trips per second on one connection.
5. **RSS per idle connection pair**: in a fresh subprocess per stack, after 20
   warm-up connections, N more connections (client and server ends in that
   process) each past its handshake with one byte read by the server; the RSS
   delta (``/proc/self/statm``) divided by N. ``sslproto`` gives each
   connection a 256 KiB read buffer, written once (``bytearray(256 KiB)``), so
   resident; siotls's adapter reads into one buffer per thread.

Python 3.11's ``ssl`` cannot choose TLS 1.3 cipher suites, and OpenSSL prefers
AES-256-GCM; as in ``bench_engine.py`` an ``OPENSSL_CONF`` written before ``ssl``
is imported makes it use TLS_AES_128_GCM_SHA256, siotls's first choice. The suites
both really negotiated are printed.
"""

from __future__ import annotations

# First, before anything imports ssl: _common configures OpenSSL (see its docstring).
from _common import HOSTNAME, TMPDIR, Credentials, make_credentials, ssl_contexts

# isort: split
import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import siotls.asyncio as siotls_asyncio
from siotls.core.config import TLSConfiguration
from siotls.iana import CipherSuites, NamedGroup
from siotls.trust import TrustStore

HOST = "127.0.0.1"
MIB = 2**20
WRITE_SIZE = 2**16
CONCURRENCY = 20
TARGET_CONNECTIONS_RATIO = 0.8  # siotls / ssl, at least
TARGET_THROUGHPUT_RATIO = 1.0  # siotls / ssl, at least

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]



# -- the two implementations, behind one interface -------------------------------------------
class Impl:
    label: str

    async def start_server(self, handler: Handler) -> asyncio.Server:
        raise NotImplementedError

    async def open_connection(self, port: int
                              ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        raise NotImplementedError


class Ssl(Impl):
    label = "ssl"

    def __init__(self, creds: Credentials) -> None:
        self.client_context, self.server_context = ssl_contexts(creds)

    async def start_server(self, handler: Handler) -> asyncio.Server:
        return await asyncio.start_server(handler, HOST, 0, ssl=self.server_context,
                                          backlog=1024)

    async def open_connection(self, port: int
                              ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(HOST, port, ssl=self.client_context,
                                             server_hostname=HOSTNAME)


class Siotls(Impl):
    label = "siotls"

    def __init__(self, creds: Credentials) -> None:
        common: dict[str, Any] = {"cipher_suites": [CipherSuites.TLS_AES_128_GCM_SHA256],
                                  "key_exchanges": [NamedGroup.x25519]}
        self.client_config = TLSConfiguration(
            "client", truststore=TrustStore([creds.ca_der]), **common)
        self.server_config = TLSConfiguration(
            "server", private_key=creds.key_der, certificate_chain=[creds.leaf_der],
            num_tickets=0, **common)  # like the ssl server (_common.ssl_contexts)

    async def start_server(self, handler: Handler) -> asyncio.Server:
        return await siotls_asyncio.start_server(handler, HOST, 0, config=self.server_config,
                                                 backlog=1024)

    async def open_connection(self, port: int
                              ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await siotls_asyncio.open_connection(HOST, port, config=self.client_config,
                                                    server_hostname=HOSTNAME)


# -- servers -----------------------------------------------------------------------------------
class Servers:
    """The three servers of one implementation, and what their handlers report."""

    def __init__(self, impl: Impl) -> None:
        self.impl = impl
        self.closed: asyncio.Queue[None] = asyncio.Queue()
        self.servers: list[asyncio.Server] = []

    async def start(self) -> None:
        self.close_port = await self._start(self._close_handler)
        self.sink_port = await self._start(self._sink_handler)
        self.echo_port = await self._start(self._echo_handler)

    async def _start(self, handler: Handler) -> int:
        server = await self.impl.start_server(handler)
        self.servers.append(server)
        return server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
            await server.wait_closed()

    async def _close_handler(self, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
        """Wait for the client's EOF, close, report."""
        try:
            await reader.read()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
            self.closed.put_nowait(None)

    @staticmethod
    async def _sink_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """An 8-byte length, that many bytes, then one byte back."""
        try:
            remaining = int.from_bytes(await reader.readexactly(8), "big")
            while remaining:
                data = await reader.read(min(remaining, 2**20))
                if not data:
                    raise ConnectionError("the client went away")
                remaining -= len(data)
            writer.write(b"k")
            await writer.drain()
            await reader.read()
        finally:
            writer.close()

    @staticmethod
    async def _echo_handler(reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(2**16):
                writer.write(data)
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()


async def close_client(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        await writer.wait_closed()


# -- measurements ------------------------------------------------------------------------------
async def connections_per_second(servers: Servers, count: int, concurrency: int) -> float:
    """connect + handshake + close, ``count`` times, ``concurrency`` at a time."""
    impl, port = servers.impl, servers.close_port

    async def worker(n: int) -> None:
        for _ in range(n):
            _, writer = await impl.open_connection(port)
            await close_client(writer)
            if concurrency == 1:
                await servers.closed.get()

    start = time.perf_counter()
    shares = [count // concurrency + (i < count % concurrency) for i in range(concurrency)]
    await asyncio.gather(*(worker(n) for n in shares))
    if concurrency > 1:
        for _ in range(count):
            await servers.closed.get()
    return count / (time.perf_counter() - start)


async def throughput(servers: Servers, mib: int) -> float:
    """MB/s (10^6 bytes) of ``mib`` MiB streamed client -> server on one connection."""
    reader, writer = await servers.impl.open_connection(servers.sink_port)
    total = mib * MIB
    chunk = os.urandom(WRITE_SIZE)
    start = time.perf_counter()
    writer.write(total.to_bytes(8, "big"))
    for _ in range(total // WRITE_SIZE):
        writer.write(chunk)
        await writer.drain()
    if await reader.readexactly(1) != b"k":
        raise RuntimeError("the sink did not acknowledge")
    elapsed = time.perf_counter() - start
    await close_client(writer)
    return total / elapsed / 1e6


async def echo_rate(servers: Servers, count: int) -> float:
    """1-byte echo round trips per second on one connection."""
    reader, writer = await servers.impl.open_connection(servers.echo_port)
    start = time.perf_counter()
    for _ in range(count):
        writer.write(b"x")
        if await reader.read(1) != b"x":
            raise RuntimeError("the echo lost its byte")
    elapsed = time.perf_counter() - start
    await close_client(writer)
    return count / elapsed


async def negotiated(servers: Servers) -> str:
    _, writer = await servers.impl.open_connection(servers.close_port)
    name, version, _ = writer.get_extra_info("cipher")
    await close_client(writer)
    await servers.closed.get()
    return f"{version} {name}"


@dataclass
class Params:
    rounds: int
    sequential: int
    concurrent: int
    mib: int
    echoes: int


async def run(params: Params) -> dict[str, Any]:
    creds = make_credentials(TMPDIR.name)
    impls: list[Impl] = [Ssl(creds), Siotls(creds)]
    all_servers = {impl.label: Servers(impl) for impl in impls}
    for servers in all_servers.values():
        await servers.start()
    suites = {label: await negotiated(s) for label, s in all_servers.items()}
    metrics = ("connections_per_s_sequential", "connections_per_s_concurrent",
               "mb_per_s", "echo_round_trips_per_s")
    samples: dict[str, dict[str, list[float]]] = {
        m: {impl.label: [] for impl in impls} for m in metrics}

    async def measure(servers: Servers, scale: float) -> None:
        label = servers.impl.label
        gc.collect()
        samples["connections_per_s_sequential"][label].append(
            await connections_per_second(servers, max(1, int(params.sequential * scale)), 1))
        gc.collect()
        samples["connections_per_s_concurrent"][label].append(
            await connections_per_second(servers, max(CONCURRENCY,
                                                      int(params.concurrent * scale)),
                                         CONCURRENCY))
        gc.collect()
        samples["mb_per_s"][label].append(
            await throughput(servers, max(1, int(params.mib * scale))))
        gc.collect()
        samples["echo_round_trips_per_s"][label].append(
            await echo_rate(servers, max(10, int(params.echoes * scale))))

    for servers in all_servers.values():  # warm up
        await measure(servers, 0.1)
    for metric in samples.values():
        for values in metric.values():
            values.clear()
    start = time.perf_counter()
    for round_ in range(params.rounds):
        order = impls if round_ % 2 == 0 else impls[::-1]
        for impl in order:
            await measure(all_servers[impl.label], 1.0)
    timed = time.perf_counter() - start
    for servers in all_servers.values():
        await servers.stop()

    medians = {m: {label: statistics.median(v) for label, v in per.items()}
               for m, per in samples.items()}
    ratios = {m: medians[m]["siotls"] / medians[m]["ssl"] for m in metrics}
    return {
        "python": platform.python_version(),
        "openssl": ssl.OPENSSL_VERSION,
        "cpus": os.cpu_count(),
        "negotiated": suites,
        "params": params.__dict__,
        "timed_seconds": round(timed, 1),
        "medians": medians,
        "samples": samples,
        "ratios": ratios,
        "targets": {
            "connections_ratio_min": TARGET_CONNECTIONS_RATIO,
            "connections_sequential_met":
                ratios["connections_per_s_sequential"] >= TARGET_CONNECTIONS_RATIO,
            "connections_concurrent_met":
                ratios["connections_per_s_concurrent"] >= TARGET_CONNECTIONS_RATIO,
            "throughput_ratio_min": TARGET_THROUGHPUT_RATIO,
            "throughput_met": ratios["mb_per_s"] >= TARGET_THROUGHPUT_RATIO,
        },
    }


# -- memory ------------------------------------------------------------------------------------
async def idle_pairs_rss(impl: Impl, count: int) -> float:
    """KiB of RSS per idle connection pair (both ends in this process)."""
    held: list[Any] = []
    server_side: asyncio.Queue[None] = asyncio.Queue()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append((reader, writer, await reader.readexactly(1)))
        server_side.put_nowait(None)

    server = await impl.start_server(hold)
    port = server.sockets[0].getsockname()[1]

    async def connect(n: int) -> None:
        for _ in range(n):
            reader, writer = await impl.open_connection(port)
            writer.write(b"x")
            held.append((reader, writer))
            await server_side.get()

    def rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    await connect(20)  # warm-up
    gc.collect()
    before = rss()
    await connect(count)
    gc.collect()
    return (rss() - before) / count / 1024


def rss_child(label: str, count: int) -> None:
    creds = make_credentials(TMPDIR.name)
    impl: Impl = Ssl(creds) if label == "ssl" else Siotls(creds)
    print(json.dumps(asyncio.run(idle_pairs_rss(impl, count))))


def measure_rss(count: int) -> dict[str, float]:
    """RSS per idle connection pair of each stack, each in a fresh interpreter."""
    if not os.path.exists("/proc/self/statm"):
        return {}
    return {label: json.loads(subprocess.run(
        [sys.executable, __file__, "--rss-child", label, str(count)],
        capture_output=True, text=True, check=True, timeout=300).stdout)
        for label in ("ssl", "siotls")}


def print_table(r: dict[str, Any], mode: str) -> None:
    p, m, ratios, t = r["params"], r["medians"], r["ratios"], r["targets"]
    print(f"siotls.asyncio vs asyncio ssl=, loopback 127.0.0.1 | Python {r['python']} | "
          f"{r['openssl']} | {r['cpus']} CPUs | {mode} run ({r['timed_seconds']} s timed)")
    print(f"negotiated: ssl {r['negotiated']['ssl']}, siotls {r['negotiated']['siotls']};"
          f" x25519, ECDSA P-256 leaf + CA, client verifies")
    print(f"{p['rounds']} interleaved rounds of: {p['sequential']} sequential connections,"
          f" {p['concurrent']} connections {CONCURRENCY} at a time, {p['mib']} MiB in"
          f" {WRITE_SIZE // 1024} KiB writes, {p['echoes']} 1-byte echoes; medians\n")

    def met(ok: bool, target: str) -> str:
        return f"(target {target}: {'met' if ok else 'NOT met'})"

    rows = [
        ("connections/s, sequential", "connections_per_s_sequential", "{:.0f}",
         met(t["connections_sequential_met"], f">= {TARGET_CONNECTIONS_RATIO}x")),
        (f"connections/s, {CONCURRENCY} concurrent", "connections_per_s_concurrent", "{:.0f}",
         met(t["connections_concurrent_met"], f">= {TARGET_CONNECTIONS_RATIO}x")),
        ("MB/s, one connection", "mb_per_s", "{:.1f}",
         met(t["throughput_met"], f">= {TARGET_THROUGHPUT_RATIO}x")),
        ("1-byte echo, round trips/s", "echo_round_trips_per_s", "{:.0f}", ""),
    ]
    print(f"{'':<32}{'ssl':>10}{'siotls':>10}{'siotls/ssl':>12}")
    for name, key, fmt, target in rows:
        print(f"{name:<32}{fmt.format(m[key]['ssl']):>10}{fmt.format(m[key]['siotls']):>10}"
              f"{ratios[key]:>11.2f}x  {target}")
    if rss := r.get("rss_kib_per_idle_pair"):
        print(f"{'RSS per idle pair (KiB)':<32}{rss['ssl']:>10.1f}{rss['siotls']:>10.1f}"
              f"{rss['siotls'] / rss['ssl']:>11.2f}x  ({r['params']['rss_pairs']} pairs, "
              f"a fresh process each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (< 30 s)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--no-openssl-conf", action="store_true",
                        help="leave OpenSSL's default TLS 1.3 suites (AES-256-GCM first)")
    parser.add_argument("--rss-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child[0], int(args.rss_child[1]))
        return
    if args.quick:
        params = Params(rounds=5, sequential=200, concurrent=400, mib=64, echoes=3000)
    else:
        params = Params(rounds=9, sequential=400, concurrent=1000, mib=128, echoes=8000)
    results = asyncio.run(run(params))
    rss_pairs = 200 if args.quick else 1000
    results["params"]["rss_pairs"] = rss_pairs
    results["rss_kib_per_idle_pair"] = measure_rss(rss_pairs)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results, "quick" if args.quick else "full")


if __name__ == "__main__":
    main()
