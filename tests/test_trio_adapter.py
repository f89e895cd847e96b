"""siotls.trio: TLSStream against trio's generic stream checks, trio.SSLStream and itself.

Runs on trio through anyio's pytest plugin. Every wait is bounded by
``trio.fail_after``; the network is loopback only.
"""

from __future__ import annotations

import inspect
import ssl
from collections.abc import Awaitable, Callable
from functools import partial, wraps
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import siotls.trio
from certs import make_ca, write_pem_files
from siotls import TLSConfiguration
from siotls.errors import RaggedEOF, TLSError, TLSPeerAlert
from siotls.trio import TLSListener, TLSStream

pytestmark = pytest.mark.anyio

TIMEOUT = 10
MiB = 2**20

CA = make_ca()
LEAF = CA.issue(("localhost", "127.0.0.1"))
SERVER = TLSConfiguration("server", private_key=LEAF.key_der,
                          certificate_chain=LEAF.chain_der, alpn=[b"h2", b"http/1.1"])
CLIENT = TLSConfiguration("client", truststore=CA.truststore(), alpn=[b"http/1.1"])


@pytest.fixture
def anyio_backend() -> str:
    return "trio"


@pytest.fixture(scope="module")
def ssl_contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """Python's ssl with the same CA and certificate, TLS 1.3 only, strict about EOFs."""
    cert, key, ca_file = write_pem_files(tmp_path_factory.mktemp("pem"), LEAF, CA)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(ca_file)
    for context in (server, client):
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    return server, client


def memory_pair(**kwargs: Any) -> tuple[TLSStream[Any], TLSStream[Any]]:
    a, b = trio.testing.memory_stream_pair()
    return (TLSStream(a, CLIENT, server_hostname="localhost", **kwargs),
            TLSStream(b, SERVER, **kwargs))


async def handshake(*streams: TLSStream[Any] | trio.SSLStream[Any]) -> None:
    async with trio.open_nursery() as nursery:
        for stream in streams:
            nursery.start_soon(stream.do_handshake)


async def tcp_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    async with listener:
        client = await trio.open_tcp_stream("127.0.0.1", port)
        server = await listener.accept()
    return client, server


async def echo(stream: trio.abc.Stream) -> None:
    """Echo until EOF, then close."""
    async with stream:
        while data := await stream.receive_some():
            await stream.send_all(data)


async def send_and_receive(stream: trio.abc.Stream, data: bytes) -> bytes:
    """Send ``data`` while reading ``len(data)`` bytes back (full duplex)."""
    got = bytearray()

    async def receive() -> None:
        while len(got) < len(data):
            chunk = await stream.receive_some()
            assert chunk
            got.extend(chunk)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive)
        await stream.send_all(data)
    return bytes(got)


# -- trio's generic stream checks ------------------------------------------------------------

async def test_check_half_closeable_stream_memory() -> None:
    async def maker() -> tuple[TLSStream[Any], TLSStream[Any]]:
        return memory_pair()

    async def clogged_maker() -> tuple[TLSStream[Any], TLSStream[Any]]:
        # handshake first: a receive_some that unclogs the peer would otherwise send
        # handshake bytes and get stuck itself (as in trio's own SSLStream tests)
        a, b = trio.testing.lockstep_stream_pair()
        client, server = TLSStream(a, CLIENT, server_hostname="localhost"), TLSStream(b, SERVER)
        await handshake(client, server)
        return client, server

    await trio.testing.check_half_closeable_stream(maker, clogged_maker)


async def test_check_half_closeable_stream_tcp() -> None:
    async def maker() -> tuple[TLSStream[Any], TLSStream[Any]]:
        client, server = await tcp_pair()
        return TLSStream(client, CLIENT, server_hostname="127.0.0.1"), TLSStream(server, SERVER)

    await trio.testing.check_half_closeable_stream(maker, None)


# -- interoperability with trio.SSLStream (Python's ssl) --------------------------------

async def test_client_against_ssl_server(ssl_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
                                         ) -> None:
    a, b = trio.testing.memory_stream_pair()
    client = TLSStream(a, CLIENT, server_hostname="localhost")
    server = trio.SSLStream(b, ssl_contexts[0], server_side=True)
    payload = bytes(range(256)) * (MiB // 256)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(echo, server)
        assert await send_and_receive(client, b"hello") == b"hello"
        assert client.version() == "TLSv1.3"
        assert client.selected_alpn_protocol() is None  # the ssl server offers no ALPN
        assert client.getpeercert(binary_form=True) == LEAF.cert_der
        cert = client.getpeercert()
        assert isinstance(cert, dict)
        assert cert["subjectAltName"] == (("DNS", "localhost"), ("IP Address", "127.0.0.1"))
        cipher = client.cipher()
        assert cipher is not None and cipher[1] == "TLSv1.3"
        assert client.session_reused is False
        assert await send_and_receive(client, payload) == payload  # 1 MiB each way
        await client.aclose()


async def test_server_against_ssl_client(ssl_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
                                         ) -> None:
    a, b = trio.testing.memory_stream_pair()
    ssl_contexts[1].set_alpn_protocols(["http/1.1"])
    client = trio.SSLStream(a, ssl_contexts[1], server_hostname="localhost")
    server = TLSStream(b, SERVER)
    payload = bytes(range(251)) * (MiB // 251 + 1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(echo, server)
        assert await send_and_receive(client, payload) == payload  # 1 MiB each way
        assert client.selected_alpn_protocol() == "http/1.1"
        assert server.selected_alpn_protocol() == "http/1.1"
        assert server.getpeercert() is None  # no client certificate
        await client.aclose()


async def test_half_close_with_ssl_peer(ssl_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
                                        ) -> None:
    """TLS 1.3 half-close: our close_notify ends the peer's reading, not its sending."""
    a, b = trio.testing.memory_stream_pair()
    client = TLSStream(a, CLIENT, server_hostname="localhost")
    server = trio.SSLStream(b, ssl_contexts[0], server_side=True)

    async def peer() -> None:
        received = bytearray()
        while data := await server.receive_some():
            received += data
        await server.send_all(b"got " + bytes(received))
        await server.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer)
        await client.send_all(b"question")
        await client.send_eof()
        with pytest.raises(trio.ClosedResourceError):
            await client.send_all(b"more")
        reply = bytearray()
        while data := await client.receive_some():
            reply += data
        assert reply == b"got question"
        await client.aclose()


async def test_half_close_siotls_both_sides() -> None:
    client, server = memory_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(echo, server)
        await client.send_all(b"a" * 100_000)
        await client.send_eof()
        await client.send_eof()  # idempotent
        received = bytearray()
        while data := await client.receive_some():
            received += data
        assert received == b"a" * 100_000
    assert client.connection.close_notify_received
    await client.aclose()


# -- a local server: serve_tls_over_tcp + open_tls_over_tcp_stream ----------------------

async def test_serve_and_connect_over_tcp() -> None:
    seen: list[str | None] = []

    async def handler(stream: TLSStream[trio.SocketStream]) -> None:
        assert isinstance(stream.transport_stream, trio.SocketStream)
        await stream.do_handshake()
        seen.append(stream.selected_alpn_protocol())
        await echo(stream)

    async with trio.open_nursery() as nursery:
        serve = partial(siotls.trio.serve_tls_over_tcp, host="127.0.0.1")
        (listener,) = await nursery.start(serve, handler, 0, SERVER)
        host, port = listener.transport_listener.socket.getsockname()
        for _ in range(3):
            stream = await siotls.trio.open_tls_over_tcp_stream(
                host, port, config=CLIENT, server_hostname="localhost")
            async with stream:
                assert await send_and_receive(stream, b"ping") == b"ping"
                assert stream.server_hostname == "localhost"
        nursery.cancel_scope.cancel()
    assert seen == ["http/1.1"] * 3


async def test_open_tls_over_tcp_listeners_and_default_hostname() -> None:
    listeners = await siotls.trio.open_tls_over_tcp_listeners(0, SERVER, host="127.0.0.1")
    (listener,) = listeners
    assert isinstance(listener, TLSListener)
    port = listener.transport_listener.socket.getsockname()[1]  # type: ignore[attr-defined]
    async with listener, trio.open_nursery() as nursery:
        async def serve_one() -> None:
            await echo(await listener.accept())

        nursery.start_soon(serve_one)
        # server_hostname defaults to host: the certificate has the IP in its SAN
        stream = await siotls.trio.open_tls_over_tcp_stream("127.0.0.1", port, config=CLIENT)
        async with stream:
            assert await send_and_receive(stream, b"x" * 70_000) == b"x" * 70_000


# -- cancellation, conflicts, states ----------------------------------------------------------

async def test_cancelled_send_breaks_the_stream() -> None:
    a, b = trio.testing.lockstep_stream_pair()
    client, server = TLSStream(a, CLIENT, server_hostname="localhost"), TLSStream(b, SERVER)
    await handshake(client, server)
    with trio.move_on_after(0.05) as scope:
        await client.send_all(b"x" * 100_000)  # nobody reads: it blocks
    assert scope.cancelled_caught
    with pytest.raises(trio.BrokenResourceError):
        await client.send_all(b"y")
    with pytest.raises(trio.BrokenResourceError):
        await client.receive_some()
    await client.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await client.send_all(b"y")
    await server.aclose()


async def test_cancelled_receive_leaves_the_stream_usable() -> None:
    client, server = memory_pair()
    await handshake(client, server)
    with trio.move_on_after(0.05) as scope:
        await client.receive_some()
    assert scope.cancelled_caught
    await server.send_all(b"later")
    assert await client.receive_some() == b"later"
    await client.aclose()
    assert await server.receive_some() == b""
    await server.aclose()


async def test_cancelled_handshake_breaks_the_stream() -> None:
    client, server = memory_pair()
    with trio.move_on_after(0.05):
        await client.do_handshake()  # the server never answers
    with pytest.raises(trio.BrokenResourceError):
        await client.do_handshake()
    await client.aclose()
    await server.aclose()


async def test_busy() -> None:
    client, server = memory_pair()
    await handshake(client, server)
    with pytest.RaisesGroup(trio.BusyResourceError):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.receive_some)
            nursery.start_soon(client.receive_some)
    await client.aclose()
    await server.aclose()


async def test_concurrent_do_handshake_and_need_handshake() -> None:
    client, server = memory_pair()
    with pytest.raises(trio.NeedHandshakeError):
        client.version()
    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(client.do_handshake)
        nursery.start_soon(server.do_handshake)
    await client.do_handshake()  # done: only a checkpoint
    assert client.version() == server.version() == "TLSv1.3"
    assert client.cipher() == server.cipher()
    exporter = client.export_keying_material(b"EXPORTER-test", b"", 32)
    assert exporter == server.export_keying_material(b"EXPORTER-test", b"", 32)
    assert client.server_side is False
    assert server.server_side is True
    await client.aclose()
    await server.aclose()


async def test_aclose_is_idempotent_and_does_not_wait_for_the_peer() -> None:
    client, server = memory_pair()
    await handshake(client, server)
    await client.aclose()  # the server never reads or answers: we do not wait for it
    await client.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await client.receive_some()
    assert await server.receive_some() == b""  # it was a clean close_notify
    await server.aclose()


async def test_aclose_before_handshake_just_closes() -> None:
    client, server = memory_pair()
    await client.aclose()
    with pytest.raises(trio.BrokenResourceError) as info:
        await server.receive_some()
    assert isinstance(info.value.__cause__, RaggedEOF)
    await server.aclose()


# -- errors ---------------------------------------------------------------------------------------

async def test_untrusted_certificate() -> None:
    other = TLSConfiguration("client", truststore=make_ca(name="another CA").truststore())
    a, b = trio.testing.memory_stream_pair()
    client, server = TLSStream(a, other, server_hostname="localhost"), TLSStream(b, SERVER)
    errors: list[BaseException] = []

    async def run(stream: TLSStream[Any]) -> None:
        try:
            await stream.do_handshake()
        except trio.BrokenResourceError as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run, client)
        nursery.start_soon(run, server)
    assert len(errors) == 2
    causes = {type(e.__cause__) for e in errors}
    assert TLSPeerAlert in causes  # the server got our alert
    assert all(isinstance(e.__cause__, TLSError) for e in errors)
    with pytest.raises(trio.BrokenResourceError):
        await client.send_all(b"x")
    await client.aclose()
    await server.aclose()


async def test_ragged_eof() -> None:
    client, server = memory_pair()
    await handshake(client, server)
    await server.send_all(b"data")
    await server.transport_stream.aclose()  # no close_notify
    assert await client.receive_some() == b"data"
    with pytest.raises(trio.BrokenResourceError) as info:
        await client.receive_some()
    assert isinstance(info.value.__cause__, RaggedEOF)
    await client.aclose()


async def test_https_compatible() -> None:
    client, server = memory_pair(https_compatible=True)
    await handshake(client, server)
    await server.send_all(b"data")
    await server.aclose()  # https_compatible: no close_notify
    assert not client.connection.close_notify_received
    assert await client.receive_some() == b"data"
    assert await client.receive_some() == b""  # the ragged EOF reads as an EOF
    assert await client.receive_some() == b""
    await client.aclose()


async def test_https_compatible_eof_during_handshake() -> None:
    a, b = trio.testing.memory_stream_pair()
    server = TLSStream(b, SERVER, https_compatible=True)
    await a.aclose()
    assert await server.receive_some() == b""
    with pytest.raises(trio.BrokenResourceError):  # the handshake did fail
        await server.send_all(b"x")
    await server.aclose()


async def test_not_tls() -> None:
    a, b = trio.testing.memory_stream_pair()
    server = TLSStream(b, SERVER)
    await a.send_all(b"GET / HTTP/1.1\r\n\r\n")
    with pytest.raises(trio.BrokenResourceError) as info:
        await server.receive_some()
    assert isinstance(info.value.__cause__, TLSError)
    assert await a.receive_some() == b"\x15\x03\x03\x00\x02\x02\x0a"  # unexpected_message
    await server.aclose()


async def test_argument_checks() -> None:
    a, _ = trio.testing.memory_stream_pair()
    with pytest.raises(ValueError, match="server_side"):
        TLSStream(a, CLIENT, server_side=True)
    with pytest.raises(ValueError, match="server"):
        TLSListener(None, CLIENT)  # type: ignore[arg-type]


# -- unwrap, KeyUpdate -----------------------------------------------------------------------------

async def test_unwrap_returns_trailing_plaintext() -> None:
    client, server = memory_pair()
    await handshake(client, server)

    async def server_side() -> None:
        # close_notify and the first plaintext bytes in one transport write
        server.connection.close_sending_end()
        await server.transport_stream.send_all(server.connection.data_to_send() + b"PLAIN")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(server_side)
        transport, trailing = await client.unwrap()
    assert trailing == b"PLAIN"
    assert client.transport_stream is None
    await transport.send_all(b"clear")
    with pytest.raises(trio.ClosedResourceError):
        await client.send_all(b"x")
    await transport.aclose()


async def test_unwrap_both_sides() -> None:
    client, server = memory_pair()
    await handshake(client, server)
    results: dict[str, tuple[trio.abc.Stream, bytes]] = {}

    async def unwrap(name: str, stream: TLSStream[Any]) -> None:
        results[name] = await stream.unwrap()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(unwrap, "client", client)
        nursery.start_soon(unwrap, "server", server)
    assert results["client"][1] == results["server"][1] == b""
    await results["client"][0].send_all(b"plain")
    assert await results["server"][0].receive_some() == b"plain"


async def test_key_update_is_answered_by_receive() -> None:
    client, server = memory_pair()
    await handshake(client, server)
    client.connection.update_keys(request_peer_update=True)
    await client.send_all(b"after the update")  # flushes the KeyUpdate first
    assert await server.receive_some() == b"after the update"  # queues the answer
    await server.send_all(b"answer")
    assert await client.receive_some() == b"answer"
    payload = b"z" * 300_000
    async with trio.open_nursery() as nursery:
        nursery.start_soon(echo, server)
        assert await send_and_receive(client, payload) == payload
        await client.aclose()


async def test_key_update_request_while_sending() -> None:
    """The client must answer a KeyUpdate from its receive task while its send task is
    blocked in a 1 MiB send: the answer is left to the sender, not waited for."""
    a, b = await tcp_pair()
    client, server = TLSStream(a, CLIENT, server_hostname="localhost"), TLSStream(b, SERVER)
    await handshake(client, server)

    async def echo_asking_for_key_update() -> None:
        first = await server.receive_some()
        server.connection.update_keys(request_peer_update=True)
        await server.send_all(first)
        await echo(server)

    payload = bytes(range(256)) * (MiB // 256)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(echo_asking_for_key_update)
        for _ in range(2):  # the second round uses the keys updated by the first
            assert await send_and_receive(client, payload) == payload
        await client.aclose()


async def test_default_config_uses_the_system_trust_store() -> None:
    listener = (await siotls.trio.open_tls_over_tcp_listeners(0, SERVER, host="127.0.0.1"))[0]
    port = listener.transport_listener.socket.getsockname()[1]  # type: ignore[attr-defined]
    async with listener, trio.open_nursery() as nursery:
        async def serve_one() -> None:
            async with await listener.accept() as stream:
                with pytest.raises(trio.BrokenResourceError):
                    await stream.do_handshake()

        nursery.start_soon(serve_one)
        stream = await siotls.trio.open_tls_over_tcp_stream("127.0.0.1", port)
        assert stream.config.truststore is not None
        with pytest.raises(trio.BrokenResourceError) as info:  # our test CA is not in it
            await stream.do_handshake()
        assert isinstance(info.value.__cause__, TLSError)
        await stream.aclose()


async def test_large_single_send_tcp() -> None:
    """1 MiB in one send_all each way over real TCP (socket buffers fill up)."""
    a, b = await tcp_pair()
    client, server = TLSStream(a, CLIENT, server_hostname="localhost"), TLSStream(b, SERVER)
    payload = b"\x01\x02" * (MiB // 2)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(echo, server)
        assert await send_and_receive(client, payload) == payload
        await client.aclose()


async def test_module_alias() -> None:
    assert siotls.trio.TLSStream is TLSStream
    assert set(siotls.trio.__all__) == {
        "TLSListener", "TLSStream", "open_tls_over_tcp_listeners", "open_tls_over_tcp_stream",
        "serve_tls_over_tcp"}
    assert Path(siotls.trio.__file__).name == "trio.py"


def _bounded(test: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    @wraps(test)
    async def bounded(*args: Any, **kwargs: Any) -> None:
        with trio.fail_after(TIMEOUT):
            await test(*args, **kwargs)

    return bounded


# Every test above runs under trio.fail_after(TIMEOUT).
for _name, _test in list(globals().items()):
    if _name.startswith("test_") and inspect.iscoroutinefunction(_test):
        globals()[_name] = _bounded(_test)
