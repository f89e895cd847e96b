"""siotls.compat.SSLObject as asyncio's ``sslproto`` drives it: the reads into a
buffer (a ``BufferedProtocol`` app), the handshake steps, answered as ``ssl`` does.

``read(len, buffer)`` has the connected fast path of ``read(len)``; the
in-memory test replays one sequence of reads on a compat server and on an
``ssl`` server and wants the same answers (the slow path runs at the end of
the stream); the asyncio test runs a buffered app behind the real ``sslproto``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
from pathlib import Path
from typing import Any

import pytest

from certs import make_ca, ssl_client_context, ssl_server_context, write_pem_files
from siotls import TLSConfiguration
from siotls.compat import SSLContext, SSLObject

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 10
CA = make_ca()
LEAF = CA.issue()  # localhost, 127.0.0.1, ::1


def compat_server() -> SSLContext:
    return SSLContext.from_config(TLSConfiguration(
        "server", private_key=LEAF.key_der, certificate_chain=LEAF.chain_der))


def pump(source: ssl.MemoryBIO, destination: ssl.MemoryBIO) -> None:
    if data := source.read():
        destination.write(data)


def handshake(client: ssl.SSLObject, server: ssl.SSLObject,
              bios: tuple[ssl.MemoryBIO, ...]) -> None:
    c_in, c_out, s_in, s_out = bios
    for _ in range(5):
        done = 0
        for side in (client, server):
            try:
                side.do_handshake()
                done += 1
            except ssl.SSLWantReadError:
                pass
        pump(c_out, s_in)
        pump(s_out, c_in)
        if done == 2:
            return
    raise AssertionError("the handshake did not complete")


def buffer_reads(server_context: ssl.SSLContext, client_context: ssl.SSLContext,
                 chunks: list[bytes]) -> tuple[list[Any], bytes]:
    """``read(len, buffer)`` on the server until the client's data and close_notify
    are read: the answers (want read, counts, end) and the data read."""
    bios = c_in, c_out, s_in, s_out = tuple(ssl.MemoryBIO() for _ in range(4))
    client = client_context.wrap_bio(c_in, c_out, server_hostname="localhost")
    server = server_context.wrap_bio(s_in, s_out, server_side=True)
    handshake(client, server, bios)
    answers: list[Any] = []
    data = bytearray()

    def read(size: int, buffer_size: int) -> None:
        buffer = bytearray(buffer_size)
        try:
            count = server.read(size, buffer)
        except ssl.SSLError as exc:
            answers.append(type(exc).__name__)
            return
        wanted = size if 0 < size <= buffer_size else buffer_size
        assert 0 < count <= wanted or count == 0 == len(data) - sum(map(len, chunks))
        assert buffer[count:] == bytes(buffer_size - count)  # nothing written beyond
        data.extend(buffer[:count])
        answers.append("data" if count else 0)

    read(100, 100)  # nothing yet: want read (the fast path's)
    for chunk in chunks:
        client.write(chunk)
    pump(c_out, s_in)
    sizes = [(10, 100), (0, 7), (5000, 1000), (1, 1), (20000, 40000), (40000, 40000)]
    for size, buffer_size in sizes * 4:
        if len(data) == sum(map(len, chunks)):
            break
        read(size, buffer_size)
    read(100, 100)  # all read: want read
    with pytest.raises(ssl.SSLWantReadError):
        client.unwrap()  # close_notify, the server's is awaited
    pump(c_out, s_in)
    read(100, 100)  # the end of the stream (the slow path): 0
    read(100, 100)
    return answers, bytes(data)


def test_buffer_reads_answer_as_ssl(tmp_path: Path) -> None:
    cert, key, ca = write_pem_files(tmp_path, LEAF, CA)
    chunks = [os.urandom(5000), os.urandom(20000), b"x"]
    compat, compat_data = buffer_reads(compat_server(), ssl_client_context(ca), chunks)
    reference, reference_data = buffer_reads(
        ssl_server_context(cert, key), ssl_client_context(ca), chunks)
    assert compat_data == reference_data == b"".join(chunks)
    # OpenSSL returns at most one record per read, siotls what it decrypted: the
    # number of reads may differ, not what comes before and after the data.
    for answers in (compat, reference):
        assert answers[0] == "SSLWantReadError"
        assert set(answers[1:-3]) == {"data"}
        assert answers[-3:] == ["SSLWantReadError", 0, 0]


class BufferedApp(asyncio.BufferedProtocol):
    """Reads into a small buffer (several sslproto reads per record); answers the
    SHA-256 of ``size`` bytes, then waits for the end of the stream."""

    def __init__(self, size: int, done: asyncio.Future[bytes]) -> None:
        self.size = size
        self.done = done
        self.buffer = bytearray(1000)
        self.received = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        assert isinstance(transport.get_extra_info("ssl_object"), SSLObject)

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.received += self.buffer[:nbytes]
        if len(self.received) == self.size and self.transport is not None:
            self.transport.write(hashlib.sha256(self.received).digest())

    def eof_received(self) -> bool:
        if not self.done.done():
            self.done.set_result(bytes(self.received))
        return False


def test_sslproto_buffered_app(tmp_path: Path) -> None:
    _, _, ca = write_pem_files(tmp_path, LEAF, CA)
    payload = os.urandom(100_000)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bytes] = loop.create_future()
        server = await loop.create_server(lambda: BufferedApp(len(payload), done),
                                          "127.0.0.1", 0, ssl=compat_server())
        port = server.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=ssl_client_context(ca), server_hostname="localhost")
            for start in range(0, len(payload), 7000):
                writer.write(payload[start:start + 7000])
            assert await reader.readexactly(32) == hashlib.sha256(payload).digest()
            writer.close()  # close_notify: the app's eof_received
            assert await done == payload
        finally:
            server.close()

    async def bounded() -> None:
        await asyncio.wait_for(main(), TIMEOUT)

    asyncio.run(bounded())
