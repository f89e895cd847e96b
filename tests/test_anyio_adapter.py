"""siotls.anyio on asyncio and trio: against anyio's own TLSStream (Python's ssl) and itself.

Loopback TCP only; every test runs under ``anyio.fail_after``.
"""

from __future__ import annotations

import inspect
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import wraps
from typing import Any

import anyio
import anyio.abc
import pytest
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSAttribute
from anyio.streams.tls import TLSStream as SSLStream

import siotls.anyio
from certs import make_ca, write_pem_files
from siotls import TLSConfiguration
from siotls.anyio import SiotlsAttribute, TLSListener, TLSStream
from siotls.core.connection import TLSConnection
from siotls.errors import RaggedEOF, TLSError

pytestmark = pytest.mark.anyio

TIMEOUT = 15
MiB = 2**20

CA = make_ca()
LEAF = CA.issue(("localhost", "127.0.0.1"))
SERVER = TLSConfiguration("server", private_key=LEAF.key_der,
                          certificate_chain=LEAF.chain_der, alpn=[b"h2", b"http/1.1"])
CLIENT = TLSConfiguration("client", truststore=CA.truststore(), alpn=[b"h2"])


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def ssl_contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """Python's ssl with the same CA and certificate, TLS 1.3 only, strict about EOFs."""
    cert, key, ca_file = write_pem_files(tmp_path_factory.mktemp("pem"), LEAF, CA)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    server.set_alpn_protocols(["http/1.1"])
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(ca_file)
    client.set_alpn_protocols(["http/1.1"])
    for context in (server, client):
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    return server, client


@asynccontextmanager
async def tcp_pair() -> AsyncIterator[tuple[anyio.abc.SocketStream, anyio.abc.SocketStream]]:
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        (socket_listener,) = listener.listeners
        port = socket_listener.extra(SocketAttribute.local_port)
        client = await anyio.connect_tcp("127.0.0.1", port)
        server = await socket_listener.accept()  # type: ignore[attr-defined]
    async with client, server:
        yield client, server


@asynccontextmanager
async def siotls_pair(**kwargs: Any) -> AsyncIterator[tuple[TLSStream, TLSStream]]:
    """A handshaken siotls client and server over loopback TCP."""
    async with tcp_pair() as (a, b):
        streams: dict[str, TLSStream] = {}

        async def wrap(name: str, transport: anyio.abc.SocketStream, **kw: Any) -> None:
            streams[name] = await TLSStream.wrap(transport, **kw, **kwargs)

        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: wrap("client", a, config=CLIENT, hostname="localhost"))
            tg.start_soon(lambda: wrap("server", b, config=SERVER))
        yield streams["client"], streams["server"]


async def echo(stream: anyio.abc.ByteStream) -> None:
    """Echo until EndOfStream, then close."""
    async with stream:
        async for data in stream:
            await stream.send(data)


async def send_and_receive(stream: anyio.abc.ByteStream, data: bytes) -> bytes:
    """Send ``data`` while reading ``len(data)`` bytes back (full duplex)."""
    got = bytearray()

    async def receive() -> None:
        while len(got) < len(data):
            got.extend(await stream.receive())

    async with anyio.create_task_group() as tg:
        tg.start_soon(receive)
        await stream.send(data)
    return bytes(got)


async def receive_all(stream: anyio.abc.ByteStream) -> bytes:
    got = bytearray()
    async for data in stream:
        got += data
    return bytes(got)


# -- against anyio's own TLSStream (Python's ssl) ------------------------------------------------

async def test_client_against_ssl_server(ssl_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
                                         ) -> None:
    async with tcp_pair() as (a, b), anyio.create_task_group() as tg:
        async def serve() -> None:
            await echo(await SSLStream.wrap(b, server_side=True, ssl_context=ssl_contexts[0]))

        tg.start_soon(serve)
        client = await TLSStream.wrap(a, config=CLIENT.copy(alpn=[b"http/1.1"]),
                                      hostname="localhost")
        payload = bytes(range(256)) * (MiB // 256)
        assert await send_and_receive(client, payload) == payload  # 1 MiB each way
        assert client.extra(TLSAttribute.alpn_protocol) == "http/1.1"
        assert client.extra(TLSAttribute.peer_certificate_binary) == LEAF.cert_der
        await client.aclose()


async def test_server_against_ssl_client(ssl_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
                                         ) -> None:
    async with tcp_pair() as (a, b), anyio.create_task_group() as tg:
        async def serve() -> None:
            server = await TLSStream.wrap(b, config=SERVER)
            assert server.extra(TLSAttribute.alpn_protocol) == "http/1.1"
            await echo(server)

        tg.start_soon(serve)
        client = await SSLStream.wrap(a, hostname="localhost", ssl_context=ssl_contexts[1])
        payload = bytes(range(251)) * (MiB // 251 + 1)
        assert await send_and_receive(client, payload) == payload  # 1 MiB each way
        assert client.extra(TLSAttribute.tls_version) == "TLSv1.3"
        await client.aclose()  # anyio's unwrap waits for our close_notify: it comes


async def test_half_close_against_ssl_server(ssl_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
                                             ) -> None:
    async with tcp_pair() as (a, b), anyio.create_task_group() as tg:
        async def serve() -> None:
            server = await SSLStream.wrap(b, server_side=True, ssl_context=ssl_contexts[0])
            question = await receive_all(server)  # up to our close_notify
            await server.send(b"got " + question)
            await server.aclose()

        tg.start_soon(serve)
        client = await TLSStream.wrap(a, config=CLIENT, hostname="localhost")
        await client.send(b"question")
        await client.send_eof()
        with pytest.raises(anyio.ClosedResourceError):
            await client.send(b"more")
        assert await receive_all(client) == b"got question"
        await client.aclose()


async def test_half_close_siotls_both_sides() -> None:
    async with siotls_pair() as (client, server):
        await client.send(b"a" * 200_000)
        await client.send_eof()
        await client.send_eof()  # idempotent
        assert await receive_all(server) == b"a" * 200_000
        await server.send(b"still open")
        await server.send_eof()
        assert await receive_all(client) == b"still open"
        with pytest.raises(anyio.EndOfStream):
            await client.receive()


# -- attributes ------------------------------------------------------------------------------

async def test_typed_attributes() -> None:
    async with siotls_pair() as (client, server):
        for stream, server_side in ((client, False), (server, True)):
            assert stream.extra(TLSAttribute.alpn_protocol) == "h2"
            assert stream.extra(TLSAttribute.tls_version) == "TLSv1.3"
            name, version, bits = stream.extra(TLSAttribute.cipher)
            assert name.startswith("TLS_") and version == "TLSv1.3" and bits >= 128
            assert stream.extra(TLSAttribute.server_side) is server_side
            assert stream.extra(TLSAttribute.standard_compatible) is True
            ssl_object = stream.extra(TLSAttribute.ssl_object)
            assert ssl_object.selected_alpn_protocol() == "h2"
            assert ssl_object.version() == "TLSv1.3"
            assert ssl_object.cipher() == stream.extra(TLSAttribute.cipher)
            assert isinstance(stream.extra(SiotlsAttribute.connection), TLSConnection)
            assert stream.extra(SiotlsAttribute.session_resumed) is False
            # the transport's attributes pass through
            assert stream.extra(SocketAttribute.remote_address)[0] == "127.0.0.1"
        assert client.extra(TLSAttribute.shared_ciphers) is None
        assert client.extra(TLSAttribute.cipher) in server.extra(TLSAttribute.shared_ciphers)
        assert client.extra(TLSAttribute.peer_certificate_binary) == LEAF.cert_der
        cert = client.extra(TLSAttribute.peer_certificate)
        assert cert is not None
        assert cert["subjectAltName"] == (("DNS", "localhost"), ("IP Address", "127.0.0.1"))
        assert server.extra(TLSAttribute.peer_certificate) is None  # no client certificate
        assert server.extra(TLSAttribute.peer_certificate_binary) is None
        exporter = client.extra(SiotlsAttribute.exporter)
        assert exporter(b"EXPORTER-test", b"ctx", 32) == server.extra(SiotlsAttribute.exporter)(
            b"EXPORTER-test", b"ctx", 32)
        with pytest.raises(anyio.TypedAttributeLookupError):
            client.extra(TLSAttribute.channel_binding_tls_unique)  # undefined for TLS 1.3


# -- connect() and the listener ----------------------------------------------------------------

@asynccontextmanager
async def echo_server(**kwargs: Any) -> AsyncIterator[tuple[TLSListener, int]]:
    listener = await siotls.anyio.create_tls_listener(SERVER, local_host="127.0.0.1", **kwargs)
    port = listener.extra(SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, echo)
        yield listener, port
        tg.cancel_scope.cancel()


async def test_connect() -> None:
    async with echo_server() as (_, port):
        stream = await siotls.anyio.connect("127.0.0.1", port, config=CLIENT,
                                             server_hostname="localhost")
        async with stream:
            assert await send_and_receive(stream, b"ping") == b"ping"
            assert stream.connection.server_hostname == "localhost"
        # the host name defaults to the host: the certificate has the IP in its SAN
        async with await siotls.anyio.connect("127.0.0.1", port, config=CLIENT) as stream:
            assert await send_and_receive(stream, b"pong") == b"pong"


async def test_connect_wrong_hostname() -> None:
    async with echo_server() as (_, port):
        with pytest.raises(anyio.BrokenResourceError) as info:
            await siotls.anyio.connect("127.0.0.1", port, config=CLIENT,
                                       server_hostname="example.com")
        assert isinstance(info.value.__cause__, TLSError)


async def test_listener_serves_200_ssl_clients(
        ssl_contexts: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    answers: list[bytes] = []
    async with echo_server(handshake_timeout=TIMEOUT) as (_, port):
        async def client(i: int) -> None:
            stream = await anyio.connect_tcp("127.0.0.1", port, ssl_context=ssl_contexts[1],
                                             tls_hostname="localhost")
            async with stream:
                message = b"client %d" % i
                await stream.send(message)
                answer = bytearray()
                while len(answer) < len(message):
                    answer += await stream.receive()
                answers.append(bytes(answer))

        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as tg:
                for i in range(200):
                    tg.start_soon(client, i)
    assert sorted(answers) == sorted(b"client %d" % i for i in range(200))


async def test_listener_handshake_errors_are_handled(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, "siotls.anyio")
    async with echo_server(handshake_timeout=0.5) as (_, port):
        # not TLS: the handshake fails, the listener logs it and goes on
        async with await anyio.connect_tcp("127.0.0.1", port) as raw:
            await raw.send(b"GET / HTTP/1.1\r\n\r\n")
            assert (await raw.receive())[:1] == b"\x15"  # an alert
        # silent client: the handshake times out
        async with await anyio.connect_tcp("127.0.0.1", port) as raw:
            with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                await raw.receive()
        # and the listener still serves
        async with await siotls.anyio.connect("127.0.0.1", port, config=CLIENT) as stream:
            assert await send_and_receive(stream, b"ok") == b"ok"
    messages = [r for r in caplog.records if r.name == "siotls.anyio"]
    assert len(messages) == 2
    assert isinstance(messages[0].exc_info[1], anyio.BrokenResourceError)  # type: ignore[index]
    assert isinstance(messages[1].exc_info[1], TimeoutError)  # type: ignore[index]


# -- errors ------------------------------------------------------------------------------------

async def test_untrusted_certificate() -> None:
    other = TLSConfiguration("client", truststore=make_ca(name="another CA").truststore())
    async with tcp_pair() as (a, b), anyio.create_task_group() as tg:
        errors: list[BaseException] = []

        async def wrap(**kwargs: Any) -> None:
            try:
                await TLSStream.wrap(**kwargs)
            except anyio.BrokenResourceError as exc:
                errors.append(exc)

        tg.start_soon(lambda: wrap(transport_stream=a, config=other, hostname="localhost"))
        tg.start_soon(lambda: wrap(transport_stream=b, config=SERVER))
    assert len(errors) == 2
    assert all(isinstance(exc.__cause__, TLSError) for exc in errors)


async def test_close_notify_is_end_of_stream() -> None:
    async with siotls_pair() as (client, server):
        await server.send(b"bye")
        await server.aclose()
        assert await client.receive() == b"bye"
        for _ in range(2):
            with pytest.raises(anyio.EndOfStream):
                await client.receive()
        await client.send(b"the peer may still read")  # TLS 1.3 half-close; TCP is gone
        await client.aclose()
        with pytest.raises(anyio.ClosedResourceError):
            await client.receive()
        with pytest.raises(anyio.ClosedResourceError):
            await client.send(b"x")


@pytest.mark.parametrize("standard_compatible", [True, False])
async def test_ragged_eof(standard_compatible: bool) -> None:
    async with siotls_pair(standard_compatible=standard_compatible) as (client, server):
        await server.send(b"data")
        await server.transport_stream.aclose()  # no close_notify
        assert await client.receive() == b"data"
        if standard_compatible:
            with pytest.raises(anyio.BrokenResourceError) as info:
                await client.receive()
            assert isinstance(info.value.__cause__, RaggedEOF)
        else:
            with pytest.raises(anyio.EndOfStream):
                await client.receive()
        await client.aclose()


async def test_standard_compatible_false_sends_no_close_notify() -> None:
    async with siotls_pair(standard_compatible=False) as (client, server):
        await client.aclose()
        with pytest.raises(anyio.EndOfStream):
            await server.receive()
        assert not server.connection.close_notify_received


async def test_argument_checks() -> None:
    async with tcp_pair() as (a, _):
        with pytest.raises(ValueError, match="server_side"):
            await TLSStream.wrap(a, config=CLIENT, server_side=True)
        with pytest.raises(ValueError, match="hostname"):
            await TLSStream.wrap(a, config=SERVER, hostname="localhost")
        with pytest.raises(ValueError, match="server"):
            TLSListener(None, CLIENT)  # type: ignore[arg-type]
    async with siotls_pair() as (client, _):
        with pytest.raises(ValueError, match="positive"):
            await client.receive(0)


async def test_unwrap_returns_trailing_plaintext() -> None:
    async with siotls_pair() as (client, server):
        # close_notify and the first plaintext bytes in one transport write
        server.connection.close_sending_end()
        await server.transport_stream.send(server.connection.data_to_send() + b"PLAIN")
        transport, trailing = await client.unwrap()
        assert trailing == b"PLAIN"
        await transport.send(b"clear")
        with pytest.raises(anyio.ClosedResourceError):
            await client.send(b"x")
        await client.aclose()  # the transport is not ours any more: it stays open
        # the server unwraps too: our close_notify, then the plaintext
        server_transport, received = await server.unwrap()
        while len(received) < len(b"clear"):
            received += await server_transport.receive()
        assert received == b"clear"


async def test_key_update_is_answered_by_receive() -> None:
    """The server asks for a KeyUpdate in the middle of the client's 1 MiB send: the
    client's receive task answers while its send task holds the send lock, without
    waiting for that lock (test_trio_adapter shows the deadlock that would cause)."""
    async with siotls_pair() as (client, server), anyio.create_task_group() as tg:
        async def echo_asking_for_key_update() -> None:
            first = await server.receive()
            server.connection.update_keys(request_peer_update=True)
            await server.send(first)
            await echo(server)

        tg.start_soon(echo_asking_for_key_update)
        payload = bytes(range(256)) * (MiB // 256)
        for _ in range(2):  # the second round uses the keys updated by the first
            assert await send_and_receive(client, payload) == payload
        client.connection.update_keys(request_peer_update=True)  # and the other way
        assert await send_and_receive(client, payload) == payload
        await client.aclose()


async def test_default_config_uses_the_system_trust_store() -> None:
    async with echo_server() as (_, port):
        with pytest.raises(anyio.BrokenResourceError) as info:  # our test CA is not in it
            await siotls.anyio.connect("127.0.0.1", port)
        assert isinstance(info.value.__cause__, TLSError)


def _bounded(test: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    @wraps(test)
    async def bounded(*args: Any, **kwargs: Any) -> None:
        with anyio.fail_after(TIMEOUT):
            await test(*args, **kwargs)

    return bounded


# Every test above runs under anyio.fail_after(TIMEOUT).
for _name, _test in list(globals().items()):
    if _name.startswith("test_") and inspect.iscoroutinefunction(_test):
        globals()[_name] = _bounded(_test)
