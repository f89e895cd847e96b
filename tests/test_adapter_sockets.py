"""What the adapters' listeners tell about their sockets, and TCP_NODELAY everywhere.

* Listeners follow their framework's conventions: anyio's ``listener.extra(
  SocketAttribute.local_port)`` and friends, trio's ``transport_listener.socket``,
  asyncio's ``Server.sockets``.
* Every TCP socket the adapters' helpers connect or accept has TCP_NODELAY, as
  asyncio's own transports do. Without it a response sent as two records
  (headers, then body) waits for the peer's delayed ACK, about 40 ms: the
  round-trip tests below are a functional check of that (not a benchmark).
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.abc
import pytest
import trio
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSAttribute

import siotls
from certs import make_ca, ssl_client_context, write_pem_files
from helpers import client_config, server_config
from test_examples import server as example_server

pytestmark = pytest.mark.timeout(90)

CA = make_ca()
LEAF = CA.issue(("localhost", "127.0.0.1"))
SERVER = server_config(LEAF)
CLIENT = client_config(CA)
HOST = "127.0.0.1"
TIMEOUT = 20
ROUND_TRIPS = 20
#: well under the ~40 ms of Nagle against delayed ACK
MAX_MEDIAN = 0.020


def nodelay(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- anyio -----------------------------------------------------------------------------------

@pytest.mark.anyio
async def test_anyio_listener_forwards_socket_attributes() -> None:
    listener = await siotls.anyio.create_tls_listener(SERVER, local_host=HOST)
    async with listener:
        port = listener.extra(SocketAttribute.local_port)
        raw = listener.extra(SocketAttribute.raw_socket)
        assert port == raw.getsockname()[1] != 0
        assert listener.extra(SocketAttribute.local_address) == (HOST, port)
        assert listener.extra(SocketAttribute.family) == socket.AF_INET
        assert listener.extra(TLSAttribute.standard_compatible) is True


@pytest.mark.anyio
async def test_anyio_sockets_have_nodelay() -> None:
    server_side: list[bool] = []

    async def handle(stream: siotls.anyio.TLSStream) -> None:
        async with stream:
            server_side.append(nodelay(stream.extra(SocketAttribute.raw_socket)))
            await stream.send(await stream.receive())

    with anyio.fail_after(TIMEOUT):
        listener = await siotls.anyio.create_tls_listener(SERVER, local_host=HOST)
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, handle)
            port = listener.extra(SocketAttribute.local_port)
            async with await siotls.anyio.connect(HOST, port, config=CLIENT,
                                                  server_hostname="localhost") as stream:
                assert nodelay(stream.extra(SocketAttribute.raw_socket))
                await stream.send(b"ping")
                assert await stream.receive() == b"ping"
            tg.cancel_scope.cancel()
    assert server_side == [True]


# -- trio ------------------------------------------------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_trio_listener_and_sockets(anyio_backend: str) -> None:
    server_side: list[bool] = []

    async def handle(stream: siotls.trio.TLSStream[trio.SocketStream]) -> None:
        server_side.append(nodelay(stream.transport_stream.socket))  # type: ignore[arg-type]
        await stream.send_all(await stream.receive_some())
        await stream.aclose()

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(siotls.trio.serve_tls_over_tcp, handle, 0, SERVER)
            # trio.SSLListener's convention: the wrapped listener, then its socket
            port = listeners[0].transport_listener.socket.getsockname()[1]
            stream = await siotls.trio.open_tls_over_tcp_stream(
                HOST, port, config=CLIENT, server_hostname="localhost")
            assert nodelay(stream.transport_stream.socket)  # type: ignore[arg-type]
            await stream.send_all(b"ping")
            assert await stream.receive_some() == b"ping"
            await stream.aclose()
            nursery.cancel_scope.cancel()
    assert server_side == [True]


# -- asyncio ---------------------------------------------------------------------------------

async def _two_record_server(sock: socket.socket) -> asyncio.Server:
    """A siotls server on ``sock`` answering each line with two writes (two records)."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handled.append(nodelay(writer.get_extra_info("socket")))
        while await reader.readline():
            writer.write(b"HEADERS\n")
            writer.write(b"BODY\n")
            await writer.drain()
        writer.close()
        await writer.wait_closed()
        done.set()

    handled: list[bool] = []
    done = asyncio.Event()
    server = await siotls.asyncio.start_server(handle, sock=sock, config=SERVER)
    server.handled = handled  # type: ignore[attr-defined]
    server.done = done  # type: ignore[attr-defined]
    return server


async def _round_trips(send: Callable[[], None], reader: asyncio.StreamReader) -> list[float]:
    times = []
    for _ in range(ROUND_TRIPS):
        start = time.perf_counter()
        send()
        assert await reader.readline() == b"HEADERS\n"
        assert await reader.readline() == b"BODY\n"
        times.append(time.perf_counter() - start)
    return times


@pytest.mark.asyncio
async def test_asyncio_server_given_a_proto_0_socket() -> None:
    """``socket.create_server`` makes ``proto=0`` sockets, on which asyncio sets no
    TCP_NODELAY; the adapter does."""
    sock = socket.create_server((HOST, 0))
    assert sock.proto == 0 and not nodelay(sock)
    async with asyncio.timeout(TIMEOUT):
        server = await _two_record_server(sock)
        async with server:
            assert server.sockets[0].getsockname() == sock.getsockname()  # asyncio's convention
            reader, writer = await siotls.asyncio.open_connection(
                HOST, sock.getsockname()[1], config=CLIENT, server_hostname="localhost")
            assert nodelay(writer.get_extra_info("socket"))
            times = await _round_trips(lambda: writer.write(b"GET\n"), reader)
            writer.close()
            await writer.wait_closed()
            await server.done.wait()  # type: ignore[attr-defined]
    assert server.handled == [True]  # type: ignore[attr-defined]
    assert statistics.median(times) < MAX_MEDIAN, times


# -- the uvicorn example -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return write_pem_files(tmp_path_factory.mktemp("pem"), LEAF, CA)


def test_uvicorn_example_keep_alive_round_trip(pem: tuple[Path, Path, Path]) -> None:
    """Keep-alive requests to examples/uvicorn_app.py: headers and body leave as
    two records, so without TCP_NODELAY each response takes ~40 ms."""
    cert, key, ca = pem
    with example_server("uvicorn_app.py", "--cert", str(cert), "--key", str(key)) as (port, _):
        connection = http.client.HTTPSConnection(
            "localhost", port, context=ssl_client_context(ca), timeout=TIMEOUT)
        try:
            times = []
            for _ in range(ROUND_TRIPS + 1):
                start = time.perf_counter()
                connection.request("GET", "/")
                response = connection.getresponse()
                assert response.status == 200
                assert response.read().startswith(b"hello over https")
                times.append(time.perf_counter() - start)
        finally:
            connection.close()
    times = times[1:]  # the first one also ran the handshake
    assert statistics.median(times) < MAX_MEDIAN, times
