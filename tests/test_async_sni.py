"""Asynchronous certificate selection (``certificate_selector``, siotls.core.credentials):
the server pauses after the ClientHello (the pause point of siotls.core.earlydata) and
goes on with the chain the caller chose; in memory with the pause API, then through the
asyncio, anyio (asyncio and trio backends) and trio adapters, whose selector awaits,
against Python's ssl and ``openssl s_client -servername``."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest
import trio
from cryptography import x509

from certs import Leaf, make_ca
from helpers import flow, handshake
from openssl_peer import requires_openssl, s_client
from siotls import (
    CertificateChain,
    TicketKeys,
    TLSConfiguration,
    TLSConnection,
    TLSUsageError,
)
from siotls import anyio as siotls_anyio
from siotls import asyncio as siotls_asyncio
from siotls import trio as siotls_trio
from siotls.compat import SSLContext
from siotls.core.earlydata import PendingClientHello
from siotls.core.errors import (
    HandshakeFailure,
    InternalError,
    TLSPeerAlert,
    UnrecognizedName,
)
from siotls.iana import AlertDescription, NamedGroup, SignatureScheme

CA = make_ca()
DEFAULT = CA.issue(("localhost", "127.0.0.1"))
A = CA.issue(("a.test",))
B = CA.issue(("b.test",))
RSA = CA.issue(("rsa.test",), key_type="rsa-2048")
BOTH = CA.issue(("a.test", "b.test"))  # in no configuration: only a selector sends it
TIMEOUT = 10


def chain_of(leaf: Leaf) -> CertificateChain:
    return CertificateChain(leaf.key_der, leaf.chain_der)


BY_NAME = {"a.test": chain_of(A), "b.test": chain_of(B), "rsa.test": chain_of(RSA)}


class Selector:
    """An asynchronous selector choosing by server name, after a real await; it records
    what it was asked. ``raises``: makes what it raises instead (a fresh exception each
    time: one kept by the test would keep its traceback, and the connection, alive)."""

    def __init__(self, sleep: Any = asyncio.sleep,
                 raises: Callable[[], BaseException] | None = None) -> None:
        self.sleep = sleep
        self.raises = raises
        self.asked: list[PendingClientHello] = []

    async def __call__(self, pending: PendingClientHello) -> CertificateChain | None:
        self.asked.append(pending)
        await self.sleep(0)
        if self.raises is not None:
            raise self.raises()
        return BY_NAME.get(pending.server_name or "")


def server_config(selector: Any = None, **kwargs: Any) -> TLSConfiguration:
    return TLSConfiguration("server", private_key=DEFAULT.key_der,
                            certificate_chain=DEFAULT.chain_der, alpn=[b"h2", b"http/1.1"],
                            certificate_selector=selector or Selector(), **kwargs)


def client_config(**kwargs: Any) -> TLSConfiguration:
    return TLSConfiguration("client", truststore=CA.truststore(), alpn=[b"h2"], **kwargs)


def paused(name: str | None = "b.test", **server_kwargs: Any
           ) -> tuple[TLSConnection, TLSConnection]:
    c = TLSConnection(client_config(), server_hostname=name)
    s = TLSConnection(server_config(**server_kwargs))
    c.initiate_connection()
    s.initiate_connection()
    flow(c, s)
    return c, s


def leaf_of(conn: TLSConnection) -> bytes:
    return conn.nconfig.peer_certificate_chain[0]


# -- in memory: the pause API ----------------------------------------------------------------
def test_pause_then_resume_with_the_chosen_chain() -> None:
    c, s = paused("b.test")
    pending = s.pending_client_hello
    assert pending is not None and pending.certificate_requested
    assert (pending.server_name, pending.alpn, pending.psk_identity,
            pending.early_data_offered) == ("b.test", b"h2", None, False)
    assert SignatureScheme.ecdsa_secp256r1_sha256 in pending.signature_algorithms
    assert pending.replay_key is None  # no register question in a full handshake
    assert s.data_to_send() == b""  # nothing goes out while paused
    s.resume_client_hello(certificate_chain=chain_of(BOTH))  # the caller's choice rules
    assert s.pending_client_hello is None
    handshake(c, s)
    assert c.is_post_handshake() and leaf_of(c) == BOTH.cert_der
    assert s.nconfig.signature_algorithm == SignatureScheme.ecdsa_secp256r1_sha256


def test_resume_without_a_chain_is_the_synchronous_choice() -> None:
    c, s = paused("b.test", certificate_chains=[chain_of(A), chain_of(B)])
    s.resume_client_hello()
    handshake(c, s)
    assert leaf_of(c) == B.cert_der  # by the names in the chains, as without a selector


def test_strict_sni_refuses_an_unknown_name_with_unrecognized_name() -> None:
    c, s = paused("nowhere.test", strict_sni=True)
    with pytest.raises(UnrecognizedName):
        s.resume_client_hello(certificate_chain=None)
    assert s.is_failed()
    with pytest.raises(TLSPeerAlert) as info:
        flow(s, c)
    assert info.value.description == AlertDescription.UNRECOGNIZED_NAME


def test_failure_ends_the_handshake_with_its_alert() -> None:
    c, s = paused()
    with pytest.raises(InternalError, match="broken"):
        s.resume_client_hello(failure=InternalError("selector broken"))
    with pytest.raises(TLSPeerAlert) as info:
        flow(s, c)
    assert info.value.description == AlertDescription.INTERNAL_ERROR


def test_a_chosen_chain_that_cannot_sign_for_the_client_is_handshake_failure() -> None:
    c = TLSConnection(client_config(signature_algorithms=[SignatureScheme.ecdsa_secp256r1_sha256]),
                      server_hostname="rsa.test")
    s = TLSConnection(server_config())
    c.initiate_connection()
    s.initiate_connection()
    flow(c, s)
    with pytest.raises(HandshakeFailure):
        s.resume_client_hello(certificate_chain=BY_NAME["rsa.test"])


def test_resume_takes_only_a_certificate_chain() -> None:
    _, s = paused()
    with pytest.raises(TLSUsageError):
        s.resume_client_hello(certificate_chain=A.chain_der)  # type: ignore[arg-type]
    assert s.pending_client_hello is not None  # still paused, nothing sent


def test_no_pause_after_a_hello_retry_request_until_the_second_client_hello() -> None:
    c = TLSConnection(client_config(key_exchanges=[NamedGroup.x25519, NamedGroup.secp256r1]),
                      server_hostname="a.test")
    s = TLSConnection(server_config(key_exchanges=[NamedGroup.secp256r1]))
    c.initiate_connection()
    s.initiate_connection()
    flow(c, s)
    assert s.pending_client_hello is None and s.nconfig.hello_retry_request
    flow(s, c)
    flow(c, s)
    assert s.pending_client_hello is not None
    s.resume_client_hello(certificate_chain=BY_NAME["a.test"])
    handshake(c, s)
    assert leaf_of(c) == A.cert_der


def test_early_data_sent_during_the_pause_is_skipped() -> None:
    """A ticket this server cannot open: a full handshake, so a certificate pause, with
    the client's 0-RTT records arriving meanwhile; they are kept, then skipped."""
    other = TLSConfiguration("server", private_key=DEFAULT.key_der,
                             certificate_chain=DEFAULT.chain_der, max_early_data=1024,
                             ticket_keys=TicketKeys.generate(os.urandom))
    c = TLSConnection(client_config(), server_hostname="localhost")
    s = TLSConnection(other)
    c.initiate_connection()
    s.initiate_connection()
    handshake(c, s)
    s.send_data(b"tickets")
    flow(s, c)
    assert c.session is not None and c.session.max_early_data_size
    c = TLSConnection(client_config(), server_hostname="localhost", session=c.session,
                      early_data=b"early")
    s = TLSConnection(server_config())
    c.initiate_connection()
    s.initiate_connection()
    flow(c, s)  # the ClientHello and the 0-RTT records
    pending = s.pending_client_hello
    assert pending is not None and pending.early_data_offered and pending.psk_identity is None
    s.resume_client_hello()
    handshake(c, s)
    assert c.is_post_handshake() and not s.nconfig.session_resumed
    assert c.nconfig.early_data == s.nconfig.early_data == "rejected"
    assert c.rejected_early_data() == b"early" and leaf_of(c) == DEFAULT.cert_der


def test_a_selector_needs_a_server() -> None:
    with pytest.raises(ValueError, match="server settings"):
        TLSConfiguration("client", certificate_selector=Selector())


# -- the adapters await the selector, against Python's ssl -----------------------------------
def ssl_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_verify_locations(cadata=CA.cert_der)
    context.set_alpn_protocols(["h2"])
    return context


def served_leaf(der: bytes | None) -> str:
    assert der is not None
    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


async def asyncio_round(selector: Selector, name: str) -> bytes | None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    srv = await siotls_asyncio.start_server(handler, "127.0.0.1", 0,
                                            config=server_config(selector, strict_sni=True))
    async with srv:
        port = srv.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(  # Python's ssl, SNI ``name``
            "127.0.0.1", port, ssl=ssl_context(), server_hostname=name)
        leaf: bytes | None = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.write(b"ping\n")
        assert await reader.readline() == b"ping\n"
        writer.close()
        await writer.wait_closed()
    return leaf


@pytest.mark.parametrize("name", ["a.test", "b.test"])
def test_asyncio_awaits_the_selector(name: str) -> None:
    selector = Selector()
    leaf = asyncio.run(asyncio.wait_for(asyncio_round(selector, name), TIMEOUT))
    assert served_leaf(leaf) == (A if name == "a.test" else B).cert.subject.rfc4514_string()
    assert [p.server_name for p in selector.asked] == [name]


@pytest.mark.parametrize(("raises", "alert"), [
    (lambda: RuntimeError("database down"), "internal error"),
    (lambda: UnrecognizedName("not ours", reason="unrecognized_name"), "unrecognized name"),
])
def test_asyncio_selector_raising_is_an_alert(raises: Callable[[], BaseException], alert: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ssl.SSLError, match=alert):
        asyncio.run(asyncio.wait_for(asyncio_round(Selector(raises=raises), "a.test"),
                                     TIMEOUT))
    if alert == "internal error":
        assert "certificate_selector failed" in caplog.text


def test_asyncio_strict_refusal_is_unrecognized_name() -> None:
    with pytest.raises(ssl.SSLError, match="unrecognized name"):
        asyncio.run(asyncio.wait_for(asyncio_round(Selector(), "nowhere.test"), TIMEOUT))


async def anyio_round(name: str, selector: Selector) -> bytes | None:
    multi = await anyio.create_tcp_listener(local_host="127.0.0.1")
    listener = multi.listeners[0]
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener:
        async def serve() -> None:
            stream = await siotls_anyio.TLSStream.wrap(await listener.accept(),
                                                       config=server_config(selector))
            await stream.send(await stream.receive())
            await stream.aclose()

        async with anyio.create_task_group() as group:
            group.start_soon(serve)
            client = await anyio.connect_tcp("127.0.0.1", port, tls=True,  # Python's ssl
                                             ssl_context=ssl_context(), tls_hostname=name)
            async with client:
                await client.send(b"ping")
                assert await client.receive() == b"ping"
                leaf: bytes | None = client.extra(
                    anyio.streams.tls.TLSAttribute.peer_certificate_binary)
    return leaf


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_anyio_awaits_the_selector(backend: str) -> None:
    selector = Selector(anyio.sleep)

    async def main() -> bytes | None:
        with anyio.fail_after(TIMEOUT):
            return await anyio_round("b.test", selector)

    leaf = anyio.run(main, backend=backend)
    assert served_leaf(leaf) == B.cert.subject.rfc4514_string()
    assert len(selector.asked) == 1


def test_trio_awaits_the_selector() -> None:
    selector = Selector(trio.sleep)

    async def serve_and_connect() -> bytes | None:
        listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
        port = listener.socket.getsockname()[1]
        async with listener:
            async def serve() -> None:
                stream = siotls_trio.TLSStream(await listener.accept(), server_config(selector))
                await stream.send_all(await stream.receive_some())
                await stream.aclose()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(serve)
                client = trio.SSLStream(  # Python's ssl
                    await trio.open_tcp_stream("127.0.0.1", port), ssl_context(),
                    server_hostname="a.test")
                await client.send_all(b"ping")
                assert await client.receive_some() == b"ping"
                leaf: bytes | None = client.getpeercert(binary_form=True)
                await client.aclose()
        return leaf

    async def main() -> bytes | None:
        with trio.fail_after(TIMEOUT):
            return await serve_and_connect()

    assert served_leaf(trio.run(main)) == A.cert.subject.rfc4514_string()


@requires_openssl
def test_openssl_s_client_servername(tmp_path: Path) -> None:
    """``openssl s_client -servername b.test`` against the asyncio adapter."""
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(CA.cert_pem)
    selector = Selector()

    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1)
            writer.close()

        srv = await siotls_asyncio.start_server(handler, "127.0.0.1", 0,
                                                config=server_config(selector))
        async with srv:
            port = srv.sockets[0].getsockname()[1]
            with s_client(port, "-CAfile", ca_file, "-verify_return_error",
                          "-verify_hostname", "b.test", "-servername", "b.test") as proc:
                await asyncio.to_thread(proc.wait_for, rb"Verify return code: 0 \(ok\)")
                await asyncio.to_thread(proc.wait_for, rb"subject=.*CN\s*=\s*b\.test")

    asyncio.run(asyncio.wait_for(main(), TIMEOUT * 2))
    assert [p.server_name for p in selector.asked] == ["b.test"]


def test_compat_cannot_await_a_selector() -> None:
    """siotls.compat is blocking: a selector it cannot await fails the handshake with
    internal_error and says why (rather than ignoring the selector)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    sslobj = SSLContext.from_config(server_config()).wrap_bio(
        incoming, outgoing, server_side=True)
    c = TLSConnection(client_config(), server_hostname="a.test")
    c.initiate_connection()
    incoming.write(c.data_to_send())
    with pytest.raises(ssl.SSLError, match="cannot await certificate_selector"):
        sslobj.do_handshake()
    with pytest.raises(TLSPeerAlert) as info:
        c.receive_data(outgoing.read())
    assert info.value.description == AlertDescription.INTERNAL_ERROR
