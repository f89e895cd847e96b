"""The asyncio adapter's read path: the shared read buffer, the connected fast path
and the read flow control (see the theory of :mod:`siotls.adapters._asyncio`).

* Connections of one thread share one read buffer: concurrent connections with
  different payloads must each get their own bytes back, intact; event loops
  in other threads have their own buffer.
* A record that fails to decrypt on the connected fast path ends the connection
  with bad_record_mac sent to the peer, as on the slow path.
* An application that paused reading stops the raw transport only after
  ``READ_HIGH_WATER`` bytes: the adapter's buffering is bounded, and everything
  arrives once the application resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
import time
from typing import Any

import pytest

from helpers import default_configs
from siotls import TLSConnection
from siotls import asyncio as siotls_asyncio
from siotls.adapters import _asyncio
from siotls.core.errors import BadRecordMac, TLSPeerAlert
from siotls.iana import AlertDescription

pytestmark = pytest.mark.timeout(60)

HOST = "127.0.0.1"
CLIENT, SERVER = default_configs()


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(2**16):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest.mark.asyncio
async def test_concurrent_connections_share_the_read_buffer() -> None:
    server = await siotls_asyncio.start_server(echo, HOST, 0, config=SERVER)
    port = server.sockets[0].getsockname()[1]

    async def one(size: int) -> None:
        payload = os.urandom(size)
        reader, writer = await siotls_asyncio.open_connection(
            HOST, port, config=CLIENT, server_hostname="localhost")
        got = bytearray()

        async def read_all() -> None:
            while len(got) < size:
                data = await reader.read(2**16)
                assert data
                got.extend(data)

        reading = asyncio.ensure_future(read_all())
        for i in range(0, size, 7000):  # writes and reads interleave across connections
            writer.write(payload[i:i + 7000])
            await writer.drain()
        await reading
        assert bytes(got) == payload
        writer.close()

    async with server, asyncio.timeout(30):
        await asyncio.gather(*(one(size) for size in (1, 700, 20_000, 300_000, 1_000_003)))


def test_event_loops_in_threads_have_their_own_read_buffer() -> None:
    results: dict[int, bool] = {}

    async def echo_round(index: int) -> None:
        served = asyncio.Event()

        async def echo_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await echo(reader, writer)
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            served.set()

        server = await siotls_asyncio.start_server(echo_once, HOST, 0, config=SERVER)
        async with server, asyncio.timeout(30):
            reader, writer = await siotls_asyncio.open_connection(
                HOST, server.sockets[0].getsockname()[1], config=CLIENT,
                server_hostname="localhost")
            ok = True
            for _ in range(50):
                payload = os.urandom(30_000)
                writer.write(payload)
                ok = ok and await reader.readexactly(len(payload)) == payload
            results[index] = ok and _asyncio._read_buffer() is not main_buffer
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            await served.wait()

    main_buffer = _asyncio._read_buffer()
    threads = [threading.Thread(target=asyncio.run, args=(echo_round(i),)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=40)
    assert results == {0: True, 1: True, 2: True}


@pytest.mark.asyncio
async def test_bad_record_on_the_fast_path_is_bad_record_mac() -> None:
    """A sans-IO server on a plain socket sends a corrupted application record."""
    outcome: dict[str, Any] = {}

    async def tls_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = TLSConnection(SERVER)
        conn.initiate_connection()
        while not conn.is_post_handshake():
            conn.receive_data(await reader.read(2**16))
            writer.write(conn.data_to_send())
        conn.send_data(b"good")
        writer.write(conn.data_to_send())
        while not conn.data_to_read():  # the client's answer: "good" went through
            conn.receive_data(await reader.read(2**16))
        conn.send_data(b"bad!")
        corrupted = bytearray(conn.data_to_send())
        corrupted[-1] ^= 1  # the tag
        writer.write(bytes(corrupted))  # one record in one read: the fast path
        try:
            while data := await reader.read(2**16):
                conn.receive_data(data)
        except TLSPeerAlert as exc:
            outcome["alert"] = exc.description
        writer.close()

    class Client(asyncio.Protocol):
        def __init__(self) -> None:
            self.data = b""
            self.lost: asyncio.Future[BaseException | None] = \
                asyncio.get_running_loop().create_future()

        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.data += data
            self.transport.write(b"ok")

        def connection_lost(self, exc: BaseException | None) -> None:
            self.lost.set_result(exc)

    server = await asyncio.start_server(tls_server, HOST, 0)
    async with server, asyncio.timeout(20):
        transport, client = await siotls_asyncio.create_connection(
            Client, HOST, server.sockets[0].getsockname()[1], config=CLIENT,
            server_hostname="localhost")
        assert isinstance(transport.get_protocol(), Client)
        await client.lost
        tls = transport._tls  # the TLSProtocol
        assert isinstance(tls._error, BadRecordMac)
        assert client.data == b"good"
        while "alert" not in outcome:
            await asyncio.sleep(0.01)
        assert outcome["alert"] == AlertDescription.BAD_RECORD_MAC


@pytest.mark.asyncio
async def test_paused_reader_bounds_what_the_adapter_buffers() -> None:
    total = 8 * 2**20
    chunk = os.urandom(2**16)

    async def send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(total // len(chunk)):
            writer.write(chunk)
            await writer.drain()
        writer.close()

    class Paused(asyncio.Protocol):
        def __init__(self) -> None:
            self.received = 0
            self.hash = hashlib.sha256()
            self.eof = asyncio.get_running_loop().create_future()

        def connection_made(self, transport: Any) -> None:
            transport.pause_reading()

        def data_received(self, data: bytes) -> None:
            self.hash.update(data)
            self.received += len(data)

        def eof_received(self) -> None:
            self.eof.set_result(None)

    server = await siotls_asyncio.start_server(send, HOST, 0, config=SERVER)
    async with server, asyncio.timeout(40):
        transport, client = await siotls_asyncio.create_connection(
            Paused, HOST, server.sockets[0].getsockname()[1], config=CLIENT,
            server_hostname="localhost")
        tls = transport._tls
        deadline = time.monotonic() + 10
        while tls.raw_transport.is_reading() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        # the raw transport read on after the pause, then stopped: bounded
        assert not tls.raw_transport.is_reading()
        assert not transport.is_reading()
        assert client.received == 0
        assert _asyncio.READ_HIGH_WATER <= tls._paused_bytes \
            < _asyncio.READ_HIGH_WATER + _asyncio.READ_SIZE
        await asyncio.sleep(0.2)  # nothing more is read while paused
        assert tls._paused_bytes < _asyncio.READ_HIGH_WATER + _asyncio.READ_SIZE
        transport.resume_reading()
        assert tls.raw_transport.is_reading()
        await client.eof
        assert client.received == total
        assert client.hash.digest() == hashlib.sha256(chunk * (total // len(chunk))).digest()
        transport.close()
