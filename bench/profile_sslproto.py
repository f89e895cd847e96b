"""A server's Python calls per new connection and per keep-alive request, as uvicorn runs.

    python bench/profile_sslproto.py                     # ssl, siotls.compat, siotls.asyncio
    python bench/profile_sslproto.py --stacks compat --measures new --top 30
    python bench/profile_sslproto.py --stacks compat --filter siotls/compat

uvicorn hands its ``ssl_context`` to ``loop.create_server(ssl=)``: asyncio's own
``sslproto`` then drives the context's ``SSLObject`` (``ssl``'s, or
``siotls.compat``'s over ``MemoryBIO``). This script profiles that server (an
``asyncio.Protocol`` answering each request with a head and a body, two
writes, as uvicorn does, and asking the transport's extra info per connection
as uvicorn does) under cProfile in the loop's thread, while a client
thread with blocking ``ssl`` sockets (not profiled: cProfile follows one
thread) makes N new connections (``Connection: close``, the server closes) or
N requests on one kept-alive connection. ``asyncio`` (stack ``asyncio``) is
``siotls.asyncio.start_server`` with a stream handler, for comparison with
``ssl``'s ``asyncio.start_server`` (stack ``ssl-streams``).

Printed: Python calls (and C calls made from Python) per operation, deterministic
where times on a shared machine are not, grouped by package (``core`` is the
engine, ``compat`` and ``adapters`` the layers around it, ``builtin`` the C
calls), and the functions called most per operation.
"""

from __future__ import annotations

# First, before anything imports ssl: _common configures OpenSSL (see its docstring).
from _common import TMPDIR, make_credentials, ssl_contexts

# isort: split
import argparse
import asyncio
import collections
import cProfile
import pstats
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

from siotls import TLSConfiguration
from siotls.iana import CipherSuites, NamedGroup

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 6\r\n\r\n"
BODY = b"hello\n"
COUNTS = {"new": 300, "keep": 3000}


class App(asyncio.Protocol):
    """Answers every request, closes after one with ``Connection: close``; asks the
    transport what uvicorn's HTTP protocols ask per connection (none per request)."""

    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        # uvicorn.protocols.utils: get_local_addr, get_remote_addr, is_ssl. sslproto
        # answers from its own dict or the socket transport's, not the SSLObject.
        for name in ("socket", "sockname", "socket", "peername", "sslcontext"):
            transport.get_extra_info(name)

    def data_received(self, data: bytes) -> None:
        self.transport.write(HEAD)
        self.transport.write(BODY)
        if b"close" in data:
            self.transport.close()


async def stream_app(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(HEAD)
        writer.write(BODY)
        if b"close" in data:
            break
    writer.close()


def _request(sock: ssl.SSLSocket, request: bytes) -> None:
    sock.sendall(request)
    got = 0
    while got < len(HEAD) + len(BODY):
        data = sock.recv(4096)
        if not data:
            raise ConnectionError("the server closed early")
        got += len(data)


def client(port: int, context: ssl.SSLContext, count: int, measure: str,
           done: Callable[[], None]) -> None:
    def connect() -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return context.wrap_socket(raw, server_hostname="localhost")

    try:
        if measure == "new":
            for _ in range(count):
                with connect() as sock:
                    _request(sock, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        else:
            with connect() as sock:
                for _ in range(count):
                    _request(sock, b"GET / HTTP/1.1\r\n\r\n")
    finally:
        done()


async def serve(stack: str, contexts: dict[str, Any]) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    if stack == "asyncio":
        import siotls.asyncio

        return await siotls.asyncio.start_server(stream_app, "127.0.0.1", 0,
                                                 config=contexts["config"])
    if stack == "ssl-streams":
        return await asyncio.start_server(stream_app, "127.0.0.1", 0, ssl=contexts["ssl"])
    return await loop.create_server(App, "127.0.0.1", 0, ssl=contexts[stack])


async def profile(stack: str, measure: str, count: int, contexts: dict[str, Any]
                  ) -> pstats.Stats:
    loop = asyncio.get_running_loop()
    server = await serve(stack, contexts)
    port = server.sockets[0].getsockname()[1]
    try:
        stats = None
        for n, profiler in ((5, None), (count, cProfile.Profile())):  # a warm-up first
            finished = loop.create_future()
            thread = threading.Thread(target=client, args=(
                port, contexts["client"], n, measure,
                lambda finished=finished: loop.call_soon_threadsafe(finished.set_result, None)))
            if profiler is not None:
                profiler.enable()
            thread.start()
            await asyncio.wait_for(finished, 120)
            await asyncio.sleep(0.05)  # the last connection's close
            if profiler is not None:
                profiler.disable()
                stats = pstats.Stats(profiler)
            thread.join(10)
        assert stats is not None
        return stats
    finally:
        server.close()


def report(stats: Any, stack: str, measure: str, count: int, *, top: int, name_filter: str
           ) -> None:
    groups: collections.Counter[str] = collections.Counter()
    for (file, _, _), (_, ncalls, _, _, _) in stats.stats.items():
        groups[file.split("/")[-2] if "/" in file else "builtin"] += ncalls
    total = sum(groups.values())
    unit = {"new": "new connection", "keep": "keep-alive request"}[measure]
    print(f"\nserver {stack}: {total / count:.1f} calls per {unit}")
    print("  " + ", ".join(f"{name} {calls / count:.1f}" for name, calls in groups.most_common()))
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][1])
    shown = 0
    for (file, line, function), (_, ncalls, _, _, _) in rows:
        if shown >= top:
            break
        if name_filter and name_filter not in file:
            continue
        where = "/".join(file.split("/")[-2:]) if "/" in file else file
        print(f"  {ncalls / count:8.2f}  {where}:{line} {function}")
        shown += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stacks", default="ssl,compat,ssl-streams,asyncio")
    parser.add_argument("--measures", default="new,keep")
    parser.add_argument("--top", type=int, default=0)
    parser.add_argument("--filter", default="", help="only functions whose file contains this")
    args = parser.parse_args()
    from siotls.compat import SSLContext

    creds = make_credentials(TMPDIR.name)
    ssl_client, ssl_server = ssl_contexts(creds)
    config = TLSConfiguration(
        "server", private_key=creds.key_der, certificate_chain=[creds.leaf_der], num_tickets=0,
        cipher_suites=[CipherSuites.TLS_AES_128_GCM_SHA256], key_exchanges=[NamedGroup.x25519])
    contexts = {"client": ssl_client, "ssl": ssl_server, "config": config,
                "compat": SSLContext.from_config(config)}
    for measure in args.measures.split(","):
        for stack in args.stacks.split(","):
            count = COUNTS[measure]
            stats = asyncio.run(profile(stack, measure, count, contexts))
            report(stats, stack, measure, count, top=args.top, name_filter=args.filter)


if __name__ == "__main__":
    main()
