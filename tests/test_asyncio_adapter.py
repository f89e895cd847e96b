"""The native asyncio adapter (``siotls.asyncio``) over real sockets on 127.0.0.1.

Every test runs on pytest-asyncio's loop (a fresh one per test, see
``[tool.pytest.ini_options]``), bounded by ``asyncio.timeout`` (:func:`bounded`),
and fails if anything reached the loop's exception handler (:func:`loop_errors`).
Peers are siotls on both sides, or siotls against asyncio's own ``ssl=``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import hashlib
import os
import resource
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from certs import make_ca, write_pem_files
from helpers import client_config, server_config
from siotls import TLSConnection
from siotls import asyncio as siotls_asyncio
from siotls.core.errors import BadCertificate, TLSFatalAlert, TLSPeerAlert
from siotls.iana import AlertDescription

pytestmark = pytest.mark.timeout(90)

HOST = "127.0.0.1"
TestFunction = Callable[..., Awaitable[None]]
MiB = 2**20


# -- fixtures and helpers ----------------------------------------------------------------

@pytest.fixture(scope="module")
def ca():
    return make_ca()


@pytest.fixture(scope="module")
def leaf(ca):
    return ca.issue(("localhost", "127.0.0.1"))


@pytest.fixture(scope="module")
def sconf(leaf):
    return server_config(leaf, alpn=[b"h2", b"http/1.1"])


@pytest.fixture(scope="module")
def cconf(ca):
    return client_config(ca, alpn=[b"http/1.1"])


@pytest.fixture
def pem_files(tmp_path, leaf, ca):
    return write_pem_files(tmp_path, leaf, ca)


@pytest.fixture
def ssl_server_ctx(pem_files):
    cert_file, key_file, _ = pem_files
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert_file, key_file)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


@pytest.fixture
def ssl_client_ctx(pem_files):
    _, _, ca_file = pem_files
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


@pytest_asyncio.fixture(autouse=True)
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Fail the test if anything reached the loop's exception handler (an exception
    in a callback, a protocol error asyncio logged)."""
    errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    yield errors
    loop.set_exception_handler(None)
    assert not errors, errors


def bounded(timeout: float = 30.0) -> Callable[[TestFunction], TestFunction]:
    """Run the test under ``asyncio.timeout(timeout)``, on pytest-asyncio's loop."""
    def decorate(test: TestFunction) -> TestFunction:
        @functools.wraps(test)
        async def bounded_test(*args: Any, **kwargs: Any) -> None:
            async with asyncio.timeout(timeout):
                await test(*args, **kwargs)

        return pytest.mark.asyncio(bounded_test)  # type: ignore[return-value]

    return decorate


def port_of(server: asyncio.Server) -> int:
    return server.sockets[0].getsockname()[1]


async def echo_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(2**16):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def echo_exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        payload: bytes, chunk: int = 2**16) -> bytes:
    """Send ``payload`` while reading the echo back (so that neither side stalls)."""
    async def send() -> None:
        for i in range(0, len(payload), chunk):
            writer.write(payload[i : i + chunk])
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        received = await reader.readexactly(len(payload))
    finally:
        await sender
    return received


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        await asyncio.wait_for(writer.wait_closed(), 5)


def payload_of(size: int) -> bytes:
    return os.urandom(size)


def check_client_info(writer: asyncio.StreamWriter) -> None:
    """The ``get_extra_info`` keys asyncio's ssl transports give, on a siotls client."""
    assert writer.get_extra_info("peername")[0] == HOST
    assert writer.get_extra_info("sockname")[0] == HOST
    assert writer.get_extra_info("socket") is not None
    assert writer.get_extra_info("sslcontext")
    ssl_object = writer.get_extra_info("ssl_object")
    assert ssl_object.selected_alpn_protocol() == "http/1.1"
    assert ssl_object.version() == "TLSv1.3"
    assert ssl_object.server_side is False
    peercert = writer.get_extra_info("peercert")
    assert isinstance(peercert, dict)
    assert (("commonName", "localhost"),) in peercert["subject"]
    assert ("DNS", "localhost") in peercert["subjectAltName"]
    name, version, bits = writer.get_extra_info("cipher")
    assert name.startswith("TLS_") and version == "TLSv1.3" and bits >= 128
    assert writer.get_extra_info("compression") is None
    conn = writer.get_extra_info("siotls")
    assert isinstance(conn, TLSConnection) and conn.is_connected()
    assert writer.get_extra_info("no such key", "default") == "default"


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


# -- echo, both sides and against asyncio's ssl -----------------------------------------

@bounded()
async def test_echo_siotls_both_sides(sconf, cconf):
    server_info: dict[str, Any] = {}

    async def handler(reader, writer):
        server_info["ssl_object"] = writer.get_extra_info("ssl_object")
        server_info["peercert"] = writer.get_extra_info("peercert")
        server_info["peername"] = writer.get_extra_info("peername")
        await echo_handler(reader, writer)

    server = await siotls_asyncio.start_server(handler, HOST, 0, config=sconf)
    async with server:
        reader, writer = await siotls_asyncio.open_connection(
            HOST, port_of(server), config=cconf, server_hostname="localhost")
        check_client_info(writer)
        payload = payload_of(MiB)
        assert await echo_exchange(reader, writer, payload) == payload
        assert await echo_exchange(reader, writer, b"x") == b"x"
        await close(writer)
    assert server_info["ssl_object"].server_side is True
    assert server_info["ssl_object"].selected_alpn_protocol() == "http/1.1"
    assert server_info["peercert"] is None  # no client certificate
    assert server_info["peername"][0] == HOST



@bounded()
async def test_siotls_server_stdlib_client(sconf, ssl_client_ctx):
    server = await siotls_asyncio.start_server(echo_handler, HOST, 0, config=sconf)
    async with server:
        reader, writer = await asyncio.open_connection(
            HOST, port_of(server), ssl=ssl_client_ctx, server_hostname="localhost")
        assert writer.get_extra_info("ssl_object").version() == "TLSv1.3"
        assert writer.get_extra_info("ssl_object").selected_alpn_protocol() == "http/1.1"
        payload = payload_of(MiB)
        assert await echo_exchange(reader, writer, payload) == payload
        await close(writer)



@bounded()
async def test_siotls_client_stdlib_server(ssl_server_ctx, cconf):
    server = await asyncio.start_server(echo_handler, HOST, 0, ssl=ssl_server_ctx)
    async with server:
        reader, writer = await siotls_asyncio.open_connection(
            HOST, port_of(server), config=cconf, server_hostname="localhost")
        check_client_info(writer)
        payload = payload_of(MiB)
        assert await echo_exchange(reader, writer, payload) == payload
        await close(writer)



# -- half-close ----------------------------------------------------------------------------

@bounded()
async def test_half_close(sconf, cconf):
    """The client sends close_notify (write_eof) and still reads the server's reply."""
    seen: dict[str, Any] = {}

    async def handler(reader, writer):
        request = await reader.read()  # up to EOF, i.e. the client's close_notify
        seen["close_notify"] = writer.get_extra_info("siotls").close_notify_received
        writer.write(b"got %d bytes" % len(request))
        await writer.drain()
        writer.close()

    server = await siotls_asyncio.start_server(handler, HOST, 0, config=sconf)
    async with server:
        reader, writer = await siotls_asyncio.open_connection(
            HOST, port_of(server), config=cconf, server_hostname="localhost")
        assert writer.can_write_eof()
        writer.write(b"a" * 100_000)
        writer.write_eof()
        with pytest.raises(RuntimeError):
            writer.write(b"more")  # our sending side is closed
        assert await reader.read() == b"got 100000 bytes"
        assert writer.get_extra_info("siotls").close_notify_received
        await close(writer)
    assert seen["close_notify"] is True



# -- flow control ----------------------------------------------------------------------------

class PausingClient(asyncio.Protocol):
    """Pauses reading as soon as connected; collects what it reads."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.hash = hashlib.sha256()
        self.received = 0
        self.eof = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport
        transport.pause_reading()
        assert not transport.is_reading()

    def data_received(self, data):
        self.hash.update(data)
        self.received += len(data)

    def eof_received(self):
        if not self.eof.done():
            self.eof.set_result(None)

    def connection_lost(self, exc):
        if not self.eof.done():
            self.eof.set_result(None)


def socket_buffers_max() -> int:
    """The most the kernel may buffer on a loopback connection (both ends)."""
    total = 0
    for name in ("tcp_rmem", "tcp_wmem"):
        try:
            total += int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[2])
        except (OSError, IndexError, ValueError):
            total += 8 * MiB
    return total


@bounded(40)
async def test_flow_control_slow_reader(sconf, cconf):
    # More than the socket buffers can hold, so that the server must stall.
    total = max(32 * MiB, socket_buffers_max() + 4 * MiB) // 2**16 * 2**16
    chunk = payload_of(2**16)
    state = {"sent": 0, "in_drain": False, "writer": None}

    async def handler(reader, writer):
        state["writer"] = writer
        while state["sent"] < total:
            writer.write(chunk)
            state["sent"] += len(chunk)
            state["in_drain"] = True
            await writer.drain()
            state["in_drain"] = False
        writer.close()

    server = await siotls_asyncio.start_server(handler, HOST, 0, config=sconf)
    async with server:
        transport, client = await siotls_asyncio.create_connection(
            PausingClient, HOST, port_of(server), config=cconf,
            server_hostname="localhost")
        # Wait for the server to stall: it is blocked in drain() ...
        last, stalled_since = -1, time.monotonic()
        while time.monotonic() - stalled_since < 0.3:
            await asyncio.sleep(0.05)
            if state["sent"] != last:
                last, stalled_since = state["sent"], time.monotonic()
        assert state["in_drain"]
        assert state["sent"] < total
        assert client.received == 0
        # ... because its raw transport's buffer is above the high-water mark,
        # which paused the application's writing (pause_writing forwarded).
        server_writer = state["writer"]
        high = server_writer.transport.get_write_buffer_limits()[1]
        assert server_writer.transport.get_write_buffer_size() > high
        assert server_writer._protocol._paused  # FlowControlMixin's flag

        transport.resume_reading()
        assert transport.is_reading()
        await asyncio.wait_for(client.eof, 20)
        assert client.received == total
        expected = hashlib.sha256()
        for _ in range(total // len(chunk)):
            expected.update(chunk)
        assert client.hash.digest() == expected.digest()
        transport.close()



# -- BufferedProtocol -------------------------------------------------------------------------

class BufferedClient(asyncio.BufferedProtocol):
    def __init__(self, expected: int) -> None:
        self.buffer = bytearray(1000)  # small: delivery must loop over get_buffer()
        self.data = bytearray()
        self.calls = 0
        self.expected = expected
        self.done = asyncio.get_running_loop().create_future()

    def get_buffer(self, sizehint):
        assert sizehint > 0
        return self.buffer

    def buffer_updated(self, nbytes):
        self.calls += 1
        self.data += self.buffer[:nbytes]
        if len(self.data) >= self.expected and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_exception(ConnectionError("lost"))


@bounded()
async def test_buffered_protocol(sconf, cconf):
    payload = payload_of(200_000)

    server = await siotls_asyncio.start_server(echo_handler, HOST, 0, config=sconf)
    async with server:
        transport, protocol = await siotls_asyncio.create_connection(
            lambda: BufferedClient(len(payload)), HOST, port_of(server), config=cconf,
            server_hostname="localhost")
        transport.write(payload)
        await asyncio.wait_for(protocol.done, 10)
        assert bytes(protocol.data) == payload
        assert protocol.calls >= len(payload) // 1000
        transport.close()



# -- timeouts -------------------------------------------------------------------------------

@bounded()
async def test_client_handshake_timeout(cconf):
    async def silent(reader, writer):
        await reader.read()  # never answers
        writer.close()

    server = await asyncio.start_server(silent, HOST, 0)
    async with server:
        start = time.monotonic()
        with pytest.raises(ConnectionAbortedError, match="TLS handshake"):
            await siotls_asyncio.open_connection(
                HOST, port_of(server), config=cconf, server_hostname="localhost",
                ssl_handshake_timeout=0.5)
        assert 0.4 < time.monotonic() - start < 3



@bounded()
async def test_server_handshake_timeout(sconf, cconf):
    handled = []

    async def handler(reader, writer):
        handled.append(writer)
        await echo_handler(reader, writer)

    server = await siotls_asyncio.start_server(
        handler, HOST, 0, config=sconf, ssl_handshake_timeout=0.5)
    async with server:
        reader, writer = await asyncio.open_connection(HOST, port_of(server))  # plain TCP
        start = time.monotonic()
        try:
            data = await asyncio.wait_for(reader.read(), 5)
        except ConnectionResetError:
            data = b""
        assert data == b""  # the server dropped us, having sent nothing
        assert 0.4 < time.monotonic() - start < 3
        writer.close()
        # It still serves others.
        reader, writer = await siotls_asyncio.open_connection(
            HOST, port_of(server), config=cconf, server_hostname="localhost")
        assert await echo_exchange(reader, writer, b"ping") == b"ping"
        await close(writer)
    assert len(handled) == 1



# -- abort and vanishing peers ------------------------------------------------------------------

@bounded()
async def test_abort(sconf, cconf):
    """abort() drops the socket at once, no close_notify: the siotls peer reads EOF.

    What the peer sees, as defined by the adapter: a truncation after the
    handshake (RaggedEOF) is delivered to the application as a plain EOF,
    ``reader.read()`` returns ``b''`` and ``connection_lost(None)`` follows; the
    application tells it from a clean close by ``close_notify_received`` being
    False on the connection (``get_extra_info('siotls')``).
    """
    seen: dict[str, Any] = {}

    async def handler(reader, writer):
        try:
            seen["data"] = await reader.read()
        except Exception as exc:
            seen["error"] = exc
        seen["close_notify"] = writer.get_extra_info("siotls").close_notify_received
        writer.close()
        seen["done"] = True

    server = await siotls_asyncio.start_server(handler, HOST, 0, config=sconf)
    async with server:
        # A clean close, for comparison.
        _, writer = await siotls_asyncio.open_connection(
            HOST, port_of(server), config=cconf, server_hostname="localhost")
        writer.write(b"hello")
        await writer.drain()
        await close(writer)
        while "done" not in seen:
            await asyncio.sleep(0.01)
        assert seen == {"data": b"hello", "close_notify": True, "done": True}
        seen.clear()

        _, writer = await siotls_asyncio.open_connection(
            HOST, port_of(server), config=cconf, server_hostname="localhost")
        writer.write(b"hello")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.transport.abort()
        assert writer.transport.is_closing()
        writer.write(b"after abort")  # dropped, as by asyncio's transports
        await asyncio.wait_for(writer.wait_closed(), 5)
        while "done" not in seen:
            await asyncio.sleep(0.01)
        assert seen == {"data": b"hello", "close_notify": False, "done": True}



@bounded()
async def test_write_to_vanished_peer(sconf, cconf):
    """A server writing to a client that went away: write() never raises, drain()
    raises a ConnectionError (as with asyncio's ssl), not a RuntimeError."""
    outcome = []

    async def handler(reader, writer):
        await reader.readexactly(5)
        await reader.read()  # the client's abort: a (ragged) EOF
        try:
            for _ in range(200):
                writer.write(b"x" * 1000)
                await writer.drain()
                await asyncio.sleep(0.005)
        except Exception as exc:
            outcome.append(exc)
        writer.close()

    server = await siotls_asyncio.start_server(handler, HOST, 0, config=sconf)
    async with server:
        _, writer = await siotls_asyncio.open_connection(
            HOST, port_of(server), config=cconf, server_hostname="localhost")
        writer.write(b"hello")
        await writer.drain()
        writer.transport.abort()
        while not outcome:
            await asyncio.sleep(0.01)
    assert isinstance(outcome[0], ConnectionError), outcome



@bounded()
async def test_peer_vanishes_mid_handshake(sconf, cconf):
    client = TLSConnection(cconf, server_hostname="localhost")
    client.initiate_connection()
    client_hello = client.data_to_send()

    server = await siotls_asyncio.start_server(echo_handler, HOST, 0, config=sconf)
    async with server:
        for _ in range(3):
            reader, writer = await asyncio.open_connection(HOST, port_of(server))
            writer.write(client_hello[: len(client_hello) // 2])
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        # Garbage instead of a ClientHello: the server answers with an alert.
        reader, writer = await asyncio.open_connection(HOST, port_of(server))
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        alert = await asyncio.wait_for(reader.read(), 5)
        assert alert.startswith(b"\x15\x03\x03\x00\x02\x02")  # a fatal alert record
        writer.close()
        await asyncio.sleep(0.05)
        reader, writer = await siotls_asyncio.open_connection(
            HOST, port_of(server), config=cconf, server_hostname="localhost")
        assert await echo_exchange(reader, writer, b"still alive") == b"still alive"
        await close(writer)



# -- failed handshakes --------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def accepting(sconf):
    """A listener whose first connection siotls serves with ``sconf``
    (``connect_accepted_socket``): its port, and the task serving it."""
    loop = asyncio.get_running_loop()
    listener = socket.create_server((HOST, 0))
    listener.setblocking(False)
    with listener:
        async def serve():
            sock, _ = await loop.sock_accept(listener)
            return await siotls_asyncio.connect_accepted_socket(
                asyncio.Protocol, sock, config=sconf)

        yield listener.getsockname()[1], asyncio.create_task(serve())


@bounded()
async def test_wrong_hostname(sconf, cconf):
    """The client's BadCertificate surfaces from open_connection; the server's peer
    alert from connect_accepted_socket."""
    async with accepting(sconf) as (port, server_task):
        with pytest.raises(BadCertificate) as client_error:
            await siotls_asyncio.open_connection(
                HOST, port, config=cconf,
                server_hostname="not-this-host.example")
        assert isinstance(client_error.value, TLSFatalAlert)
        assert "bad_certificate" in str(client_error.value)
        with pytest.raises(TLSPeerAlert) as server_error:
            await asyncio.wait_for(server_task, 5)
        assert server_error.value.description == AlertDescription.BAD_CERTIFICATE
        assert "bad_certificate" in str(server_error.value)



@bounded()
async def test_stdlib_client_rejects_siotls_server(sconf, tmp_path):
    """Python's ssl client with another CA fails; the siotls server sees its alert.

    (A blocking ``ssl`` socket in a thread: asyncio's ssl aborts the socket
    without flushing OpenSSL's alert, so over asyncio the server sees a bare EOF.)
    """
    other_ca_file = tmp_path / "other-ca.pem"
    other_ca_file.write_bytes(make_ca(name="another CA").cert_pem)
    ctx = ssl.create_default_context(cafile=str(other_ca_file))

    def blocking_client(port: int) -> None:
        with socket.create_connection((HOST, port), timeout=5) as sock:
            ctx.wrap_socket(sock, server_hostname="localhost")

    async with accepting(sconf) as (port, server_task):
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.to_thread(blocking_client, port)
        with pytest.raises(TLSPeerAlert) as server_error:
            await asyncio.wait_for(server_task, 5)
        assert server_error.value.description == AlertDescription.UNKNOWN_CA



# -- many connections ---------------------------------------------------------------------------

@bounded(60)
async def test_500_concurrent_connections(sconf, cconf):
    count = 500
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * count + 100  # client + server socket each, and slack
    if soft < wanted and (hard == resource.RLIM_INFINITY or hard >= wanted):
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    parallel = max(10, min(count, (soft - 100) // 3))

    gc.collect()
    baseline_fds = fd_count()
    baseline_tasks = asyncio.all_tasks()  # this test's task
    semaphore = asyncio.Semaphore(parallel)
    handled = []

    async def handler(reader, writer):
        handled.append(writer.get_extra_info("siotls").is_post_handshake())
        await echo_handler(reader, writer)

    server = await siotls_asyncio.start_server(
        handler, HOST, 0, config=sconf, backlog=1024)
    port = port_of(server)

    async def client(i: int) -> None:
        async with semaphore:
            reader, writer = await siotls_asyncio.open_connection(
                HOST, port, config=cconf, server_hostname="localhost")
            for j in range(3):
                message = f"client {i} message {j}\n".encode()
                writer.write(message)
                assert await reader.readline() == message
            writer.close()
            await writer.wait_closed()

    start = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(count)))
    elapsed = time.monotonic() - start
    server.close()
    await server.wait_closed()
    # Let the server's side of the last connections finish closing.
    for _ in range(100):
        if asyncio.all_tasks() == baseline_tasks and fd_count() <= baseline_fds:
            break
        await asyncio.sleep(0.02)
    assert handled == [True] * count
    assert asyncio.all_tasks() == baseline_tasks
    gc.collect()
    leaked = [o for o in gc.get_objects()
              if isinstance(o, (siotls_asyncio.TLSProtocol, siotls_asyncio.TLSTransport,
                                asyncio.Transport))]
    assert leaked == []
    assert fd_count() == baseline_fds

    assert elapsed < 60


# -- STARTTLS ----------------------------------------------------------------------------------

async def plain_starttls_server_handler(reader, writer, upgrade):
    """Plain-text line, STARTTLS/OK, ``await upgrade(writer)``, then echo."""
    assert await reader.readline() == b"HELLO\r\n"
    writer.write(b"HI\r\n")
    assert await reader.readline() == b"STARTTLS\r\n"
    writer.write(b"OK\r\n")
    await upgrade(writer)
    await echo_handler(reader, writer)


async def plain_starttls_client(port, upgrade):
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(b"HELLO\r\n")
    assert await reader.readline() == b"HI\r\n"
    writer.write(b"STARTTLS\r\n")
    assert await reader.readline() == b"OK\r\n"
    await upgrade(writer)
    payload = payload_of(300_000)
    assert await echo_exchange(reader, writer, payload) == payload
    return reader, writer


async def starttls_round(server_upgrade, client_upgrade):
    """A plain-text server and client that switch to TLS with these upgrades, echo a
    payload, and close."""
    server = await asyncio.start_server(
        lambda r, w: plain_starttls_server_handler(r, w, server_upgrade), HOST, 0)
    async with server:
        _, writer = await plain_starttls_client(port_of(server), client_upgrade)
        await close(writer)


@bounded()
async def test_starttls_streams_siotls_both_sides(sconf, cconf):
    async def server_upgrade(writer):
        transport = await siotls_asyncio.start_tls(writer, config=sconf, server_side=True)
        assert writer.transport is transport
        assert writer.get_extra_info("ssl_object").server_side

    async def client_upgrade(writer):
        transport = await siotls_asyncio.start_tls(
            writer, config=cconf, server_side=False, server_hostname="localhost")
        assert isinstance(transport, siotls_asyncio.TLSTransport)
        check_client_info(writer)

    await starttls_round(server_upgrade, client_upgrade)



class StartTLSServerProtocol(asyncio.Protocol):
    """A plain protocol that upgrades itself with the transport form of start_tls."""

    def __init__(self, config) -> None:
        self.config = config
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.tls = False
        self.upgrade: asyncio.Task | None = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if self.tls:
            self.transport.write(data)  # echo
            return
        self.buffer += data
        while b"\r\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            if line == b"HELLO":
                self.transport.write(b"HI\r\n")
            elif line == b"STARTTLS":
                assert not self.buffer
                self.transport.write(b"OK\r\n")
                self.transport.pause_reading()
                self.upgrade = asyncio.create_task(self._upgrade())

    async def _upgrade(self):
        self.transport = await siotls_asyncio.start_tls(
            self.transport, self, self.config, server_side=True)
        self.tls = True

    def eof_received(self):
        return False


@bounded()
async def test_starttls_transport_form(sconf, cconf):
    protocols: list[StartTLSServerProtocol] = []

    def factory():
        protocols.append(StartTLSServerProtocol(sconf))
        return protocols[-1]

    async def client_upgrade(writer):
        await siotls_asyncio.start_tls(writer, config=cconf, server_hostname="localhost")

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, HOST, 0)
    async with server:
        _, writer = await plain_starttls_client(port_of(server), client_upgrade)
        await close(writer)
    assert isinstance(protocols[0].transport, siotls_asyncio.TLSTransport)
    assert protocols[0].transport.get_protocol() is protocols[0]



@bounded()
async def test_starttls_stdlib_server_siotls_client(ssl_server_ctx, cconf):
    async def server_upgrade(writer):
        await writer.start_tls(ssl_server_ctx)  # asyncio's own, with ssl

    async def client_upgrade(writer):
        await siotls_asyncio.start_tls(writer, config=cconf, server_hostname="localhost")
        check_client_info(writer)

    await starttls_round(server_upgrade, client_upgrade)



@bounded()
async def test_starttls_siotls_server_stdlib_client(sconf, ssl_client_ctx):
    async def server_upgrade(writer):
        await siotls_asyncio.start_tls(writer, config=sconf, server_side=True)

    async def client_upgrade(writer):
        await writer.start_tls(ssl_client_ctx, server_hostname="localhost")
        assert writer.get_extra_info("ssl_object").version() == "TLSv1.3"

    await starttls_round(server_upgrade, client_upgrade)



# -- unix sockets ------------------------------------------------------------------------------

class CollectingClient(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.lost = asyncio.get_running_loop().create_future()

    def data_received(self, data):
        self.data += data

    def connection_lost(self, exc):
        self.lost.set_result(exc)


class UnixEchoServer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data.upper())

    def eof_received(self):
        self.transport.write(b"BYE")
        return False  # the transport closes: close_notify back


@bounded()
async def test_unix_sockets(sconf, cconf, tmp_path: Path):
    path = str(tmp_path / "tls.sock")

    server = await siotls_asyncio.create_unix_server(UnixEchoServer, path, config=sconf)
    async with server:
        transport, client = await siotls_asyncio.create_unix_connection(
            CollectingClient, path, config=cconf, server_hostname="localhost")
        assert transport.get_extra_info("ssl_object").version() == "TLSv1.3"
        transport.write(b"hello over unix")
        transport.write_eof()
        assert await asyncio.wait_for(client.lost, 5) is None
        assert client.data == b"HELLO OVER UNIXBYE"

