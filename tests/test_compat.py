"""siotls.compat: an ssl.SSLContext subclass running siotls, against real peers.

The peers are Python's ``ssl`` (OpenSSL) and siotls itself, over ``ssl.MemoryBIO``
pairs, asyncio, trio and anyio streams on loopback, and httpx/uvicorn when they are
installed. Every wait is bounded (``asyncio.wait_for``, ``trio.fail_after``,
``anyio.fail_after``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio
import trio.testing
from anyio.abc import ByteStream, SocketStream
from anyio.streams.tls import TLSAttribute, TLSStream

from certs import make_ca, ssl_client_context, ssl_server_context, write_pem_files
from siotls import InsecureWarning, TLSConfiguration
from siotls.compat import SSLContext, SSLObject
from siotls.iana import CipherSuites

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 10
MiB = 2**20

CA = make_ca()
LEAF = CA.issue()  # localhost, 127.0.0.1, ::1
CLIENT_LEAF = CA.issue(("siotls client",), client=True)
OTHER_CA = make_ca(name="siotls compat other CA")
OTHER_LEAF = OTHER_CA.issue()


def compat_server(**changes: Any) -> SSLContext:
    return SSLContext.from_config(TLSConfiguration(
        "server", private_key=LEAF.key_der, certificate_chain=LEAF.chain_der, **changes))


def compat_client(**changes: Any) -> SSLContext:
    changes.setdefault("truststore", CA.truststore())
    return SSLContext.from_config(TLSConfiguration("client", **changes))


class PEM:
    def __init__(self, directory: Path) -> None:
        self.cert, self.key, self.ca = write_pem_files(directory, LEAF, CA)
        self.client_cert, self.client_key, _ = write_pem_files(directory, CLIENT_LEAF, CA)
        self.other_cert, self.other_key, self.other_ca = write_pem_files(
            directory, OTHER_LEAF, OTHER_CA)

    def server(self) -> ssl.SSLContext:
        return ssl_server_context(self.cert, self.key)

    def client(self) -> ssl.SSLContext:
        return ssl_client_context(self.ca)


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> PEM:
    return PEM(tmp_path_factory.mktemp("compat"))


def run_asyncio(coroutine: Coroutine[Any, Any, None]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(coroutine, TIMEOUT)

    asyncio.run(bounded())


# -- ssl.MemoryBIO pairs ------------------------------------------------------------------------
class Pair:
    """A client and a server object wired through two MemoryBIO pairs."""

    def __init__(self, client: ssl.SSLContext, server: ssl.SSLContext,
                 hostname: str | None = "localhost") -> None:
        self.c_in, self.c_out, self.s_in, self.s_out = (ssl.MemoryBIO() for _ in range(4))
        self.client = client.wrap_bio(self.c_in, self.c_out, server_hostname=hostname)
        self.server = server.wrap_bio(self.s_in, self.s_out, server_side=True)

    def pump(self) -> None:
        if data := self.c_out.read():
            self.s_in.write(data)
        if data := self.s_out.read():
            self.c_in.write(data)

    def handshake(self) -> None:
        for _ in range(5):
            done = 0
            for side in (self.client, self.server):
                try:
                    side.do_handshake()
                    done += 1
                except ssl.SSLWantReadError:
                    pass
            self.pump()
            if done == 2:
                return
        raise AssertionError("the handshake did not complete")

    def handshake_error(self, side: ssl.SSLObject) -> ssl.SSLError:
        """Run the handshake until ``side`` fails; return its error."""
        for _ in range(5):
            for obj in (self.client, self.server):
                try:
                    obj.do_handshake()
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLError as exc:
                    if obj is side:
                        return exc
            self.pump()
        raise AssertionError("no handshake error")


def read_all(obj: ssl.SSLObject) -> bytes:
    chunks = []
    while True:
        try:
            chunk = obj.read(65536)
        except ssl.SSLWantReadError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


SIDES = ["compat-stdlib", "stdlib-compat", "compat-compat"]


def contexts(kind: str, pem: PEM, **changes: Any) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(client, server) for ``'<client>-<server>'``."""
    client_kind, server_kind = kind.split("-")
    client = compat_client(**changes) if client_kind == "compat" else pem.client()
    server = compat_server(**changes) if server_kind == "compat" else pem.server()
    return client, server


@pytest.mark.parametrize("kind", SIDES)
def test_bio_data_and_close(pem: PEM, kind: str) -> None:
    client, server = contexts(kind, pem)
    pair = Pair(client, server)
    compat = pair.client if kind.startswith("compat") else pair.server
    assert isinstance(compat, SSLObject)
    assert isinstance(compat, ssl.SSLObject)
    assert compat.cipher() is None and compat.version() is None
    with pytest.raises(ValueError, match="handshake not done"):
        compat.getpeercert()
    pair.handshake()

    for obj in (pair.client, pair.server):
        assert obj.version() == "TLSv1.3"
        assert obj.cipher() == pair.client.cipher()
        assert obj.compression() is None
        assert obj.selected_alpn_protocol() is None
        assert obj.session_reused is False
    assert pair.client.getpeercert() == ssl._ssl._test_decode_cert(str(pem.cert))  # type: ignore[attr-defined]
    assert pair.client.getpeercert(binary_form=True) == LEAF.cert_der
    assert pair.server.getpeercert() is None
    assert pair.client.shared_ciphers() is None
    assert (pair.client.cipher() or ("",))[0] in [c[0] for c in pair.server.shared_ciphers() or ()]
    assert compat.get_channel_binding() is None  # tls-unique: undefined in TLS 1.3

    data = os.urandom(MiB)
    assert pair.client.write(data) == MiB
    assert pair.server.write(memoryview(data[::-1])) == MiB
    pair.pump()
    assert read_all(pair.server) == data
    assert pair.client.pending() == 0
    assert pair.client.read(3) == data[::-1][:3]
    assert pair.client.pending() > 0
    buffer = bytearray(10)
    assert pair.client.read(4, buffer) == 4 and buffer[:4] == data[::-1][3:7]
    assert pair.client.read(buffer=buffer) == 10 and buffer == data[::-1][7:17]
    assert read_all(pair.client) == data[::-1][17:]
    with pytest.raises(ssl.SSLWantReadError):
        pair.client.read()

    # The server closes: close_notify, then bytes that are not TLS any more.
    with pytest.raises(ssl.SSLWantReadError):
        pair.server.unwrap()
    pair.pump()
    pair.c_in.write(b"plaintext after close_notify")
    assert pair.client.read() == b""
    assert pair.client.read(10, bytearray(10)) == 0
    assert pair.client.write(b"half-closed") == 11  # TLS 1.3 half-close, as ssl allows
    assert pair.client.unwrap() is None
    assert pair.c_in.read() == b"plaintext after close_notify"  # left in the BIO
    with pytest.raises(ssl.SSLZeroReturnError):
        pair.client.read()
    with pytest.raises(ssl.SSLError) as info:
        pair.client.write(b"x")
    assert info.value.reason == "PROTOCOL_IS_SHUTDOWN"
    pair.pump()
    assert pair.server.read() == b"half-closed"
    assert pair.server.unwrap() is None


def test_shared_ciphers_from_the_engine() -> None:
    """The suites the client offered (nconfig) that we support, in our order, as ssl does."""
    offered = [CipherSuites.TLS_CHACHA20_POLY1305_SHA256, CipherSuites.TLS_AES_128_GCM_SHA256]
    pair = Pair(compat_client(cipher_suites=offered), compat_server())
    pair.handshake()
    assert pair.server.connection.nconfig.peer_cipher_suites == tuple(offered)
    assert [name for name, _, _ in pair.server.shared_ciphers() or ()] == [
        "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"]
    assert pair.client.shared_ciphers() is None


def test_bio_exporter_and_alpn() -> None:
    pair = Pair(compat_client(alpn=[b"h2", b"http/1.1"]),
                compat_server(alpn=[b"http/1.1", b"h2"]))
    pair.handshake()
    assert pair.client.selected_alpn_protocol() == "http/1.1"
    assert pair.server.selected_alpn_protocol() == "http/1.1"
    binding = pair.client.get_channel_binding("tls-exporter")
    assert binding is not None and len(binding) == 32
    assert binding == pair.server.get_channel_binding("tls-exporter")
    with pytest.raises(ValueError, match="not implemented"):
        pair.client.get_channel_binding("tls-server-end-point")
    assert pair.client.get_unverified_chain() == LEAF.chain_der


@pytest.mark.parametrize("kind", ["compat-stdlib", "stdlib-compat"])
def test_bio_ragged_eof(pem: PEM, kind: str) -> None:
    pair = Pair(*contexts(kind, pem))
    pair.handshake()
    compat, peer, compat_in = ((pair.client, pair.server, pair.c_in) if kind[0] == "c"
                               else (pair.server, pair.client, pair.s_in))
    peer.write(b"last words")
    pair.pump()
    compat_in.write_eof()
    assert compat.read() == b"last words"
    for _ in range(2):
        with pytest.raises(ssl.SSLEOFError) as info:
            compat.read()
        assert info.value.reason == "UNEXPECTED_EOF_WHILE_READING"
        assert "UNEXPECTED_EOF_WHILE_READING" in (info.value.strerror or "")
    with pytest.raises(ssl.SSLEOFError):
        compat.write(b"x")


def test_bio_eof_during_handshake_and_ignore_option(pem: PEM) -> None:
    pair = Pair(compat_client(), pem.server())
    with pytest.raises(ssl.SSLWantReadError):
        pair.client.do_handshake()
    pair.c_in.write_eof()
    with pytest.raises(ssl.SSLEOFError):
        pair.client.do_handshake()
    with pytest.raises(ssl.SSLSyscallError):  # failed for good, as with ssl
        pair.client.do_handshake()

    client = compat_client()
    client.options |= ssl.OP_IGNORE_UNEXPECTED_EOF
    pair = Pair(client, pem.server())
    pair.handshake()
    pair.c_in.write_eof()
    assert pair.client.read() == b""


def test_bio_wrong_hostname(pem: PEM) -> None:
    pair = Pair(compat_client(), pem.server(), hostname="example.org")
    error = pair.handshake_error(pair.client)
    assert isinstance(error, ssl.SSLCertVerificationError)
    assert isinstance(error, ssl.CertificateError)
    assert error.verify_code == 62
    assert error.verify_message == "Hostname mismatch, certificate is not valid for 'example.org'."
    assert error.reason == "CERTIFICATE_VERIFY_FAILED"
    pair.pump()
    with pytest.raises(ssl.SSLError, match="SSLV3_ALERT_BAD_CERTIFICATE"):
        pair.server.do_handshake()
    with pytest.raises(ssl.SSLSyscallError):
        pair.client.read()

    pair = Pair(compat_client(), pem.server(), hostname="127.0.0.2")
    error = pair.handshake_error(pair.client)
    assert isinstance(error, ssl.SSLCertVerificationError)
    assert error.verify_code == 64

    pair = Pair(compat_client(), pem.server(), hostname="bücher.example")
    assert pair.client.server_hostname == "xn--bcher-kva.example"  # IDNA, as ssl does
    error = pair.handshake_error(pair.client)
    assert isinstance(error, ssl.SSLCertVerificationError)
    assert error.verify_code == 62


def test_bio_unknown_ca(pem: PEM) -> None:
    pair = Pair(compat_client(truststore=OTHER_CA.truststore()), pem.server())
    error = pair.handshake_error(pair.client)
    assert isinstance(error, ssl.SSLCertVerificationError)
    assert error.verify_code == 20
    # The other way: ssl refuses siotls's certificate, siotls sees the alert.
    stdlib = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    stdlib.load_verify_locations(pem.other_ca)
    pair = Pair(stdlib, compat_server())
    error = pair.handshake_error(pair.server)
    assert type(error) is ssl.SSLError
    assert error.reason == "TLSV1_ALERT_UNKNOWN_CA"
    assert error.library == "SSL"
    assert "tlsv1 alert unknown ca" in str(error)


def test_bio_not_tls() -> None:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = compat_server().wrap_bio(incoming, outgoing, server_side=True)
    incoming.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    with pytest.raises(ssl.SSLError) as info:
        server.do_handshake()
    assert info.value.reason == "UNEXPECTED_MESSAGE"
    assert outgoing.pending  # the alert


def test_bio_client_certificates(pem: PEM) -> None:
    server = compat_server()
    server.load_verify_locations(pem.ca)
    server.verify_mode = ssl.CERT_REQUIRED
    assert server.config.require_peer_authentication
    # ssl as the client, with and without a certificate.
    stdlib = pem.client()
    stdlib.load_cert_chain(pem.client_cert, pem.client_key)
    pair = Pair(stdlib, server)
    pair.handshake()
    peercert = pair.server.getpeercert()
    assert peercert is not None
    assert peercert["subject"] == ((("organizationName", "siotls tests"),),
                                   (("commonName", "siotls client"),))
    pair = Pair(pem.client(), server)
    error = pair.handshake_error(pair.server)
    assert error.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE"
    pair.pump()  # TLS 1.3: the client finished its handshake before the server checked
    with pytest.raises(ssl.SSLError, match="TLSV13_ALERT_CERTIFICATE_REQUIRED"):
        pair.client.read()
    # siotls as the client, its certificate loaded from PEM files.
    client = compat_client()
    client.load_cert_chain(pem.client_cert, pem.client_key)
    stdlib_server = pem.server()
    stdlib_server.load_verify_locations(pem.ca)
    stdlib_server.verify_mode = ssl.CERT_REQUIRED
    pair = Pair(client, stdlib_server)
    pair.handshake()
    pair.client.write(b"ping")
    pair.pump()
    assert pair.server.read() == b"ping"
    assert (pair.server.getpeercert() or {})["subject"][1] == (("commonName", "siotls client"),)


# -- the context's settings -----------------------------------------------------------------------
def test_context_basics() -> None:
    server, client = compat_server(), compat_client()
    assert isinstance(server, ssl.SSLContext)
    assert server.protocol == ssl.PROTOCOL_TLS_SERVER
    assert client.protocol == ssl.PROTOCOL_TLS_CLIENT
    assert client.verify_mode == ssl.CERT_REQUIRED and client.check_hostname
    assert server.verify_mode == ssl.CERT_NONE and not server.check_hostname
    assert SSLContext(client.config).config == client.config
    with pytest.raises(TypeError):
        SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # type: ignore[arg-type]
    bio = ssl.MemoryBIO
    with pytest.raises(ValueError, match="server socket with a PROTOCOL_TLS_CLIENT"):
        client.wrap_bio(bio(), bio(), server_side=True)
    with pytest.raises(ValueError, match="client socket with a PROTOCOL_TLS_SERVER"):
        server.wrap_bio(bio(), bio())
    with pytest.raises(ValueError, match="check_hostname requires server_hostname"):
        client.wrap_bio(bio(), bio())
    assert client.wrap_bio(bio(), bio(), False, b"localhost").server_hostname == "localhost"
    with pytest.raises(ValueError, match="check_hostname requires"), socket.socket() as sock:
        client.wrap_socket(sock)
    assert [c["name"] for c in client.get_ciphers()] == [
        "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]
    assert client.cert_store_stats()["x509_ca"] == 1
    assert client.get_ca_certs(binary_form=True) == [CA.cert_der]
    assert client.get_ca_certs()[0]["subject"][1] == (("commonName", "siotls test CA"),)
    client.set_ciphers("ECDHE+AESGCM")  # TLS 1.2 ciphers: never applied to TLS 1.3
    client.minimum_version = ssl.TLSVersion.TLSv1_2
    client.maximum_version = ssl.TLSVersion.MAXIMUM_SUPPORTED
    assert client.minimum_version == client.maximum_version == ssl.TLSVersion.TLSv1_3
    client.set_ecdh_curve("prime256v1")
    assert list(client.config.key_exchanges) == [0x0017]
    client.set_alpn_protocols(["h2", "http/1.1"])
    assert client.config.alpn == (b"h2", b"http/1.1")
    client.options &= ~ssl.OP_ENABLE_MIDDLEBOX_COMPAT
    assert not client.config.middlebox_compatibility


def test_context_unsupported_settings() -> None:
    server, client = compat_server(), compat_client()
    unsupported: list[Callable[[], object]] = [
        lambda: client.set_npn_protocols(["http/1.1"]),
        lambda: server.load_dh_params("dh.pem"),
        lambda: setattr(client, "options", client.options | ssl.OP_NO_TLSv1_3),
        lambda: setattr(client, "maximum_version", ssl.TLSVersion.TLSv1_2),
        lambda: setattr(client, "hostname_checks_common_name", True),
        lambda: setattr(client, "verify_flags", ssl.VERIFY_CRL_CHECK_LEAF),
        lambda: setattr(server, "num_tickets", 17),  # sessions: test_resumption_compat.py
    ]
    for call in unsupported:
        with pytest.raises(NotImplementedError):
            call()


def test_context_load_cert_chain_and_verify_locations(pem: PEM) -> None:
    # A server made with the other CA's certificate, switched to LEAF from PEM files.
    server = SSLContext.from_config(TLSConfiguration(
        "server", private_key=OTHER_LEAF.key_der, certificate_chain=OTHER_LEAF.chain_der))
    server.load_cert_chain(str(pem.cert), str(pem.key))
    assert list(server.config.certificate_chain) == LEAF.chain_der
    with pytest.raises(ssl.SSLError):
        server.load_cert_chain(pem.cert, pem.other_key)  # the key does not match
    # A client trusting the other CA, then LEAF's CA, as a file, PEM text and DER.
    for source in ("cafile", "cadata-pem", "cadata-der"):
        client = compat_client(truststore=OTHER_CA.truststore())
        pair = Pair(client, server)
        assert isinstance(pair.handshake_error(pair.client), ssl.SSLCertVerificationError)
        if source == "cafile":
            client.load_verify_locations(pem.ca)
        elif source == "cadata-pem":
            client.load_verify_locations(cadata=pem.ca.read_text())
        else:
            client.load_verify_locations(cadata=OTHER_CA.cert_der + CA.cert_der)
        assert client.cert_store_stats()["x509_ca"] == 2
        Pair(client, server).handshake()


def test_context_no_verification(pem: PEM) -> None:
    client = compat_client()
    with pytest.raises(ValueError, match="check_hostname is enabled"):
        client.verify_mode = ssl.CERT_NONE
    client.check_hostname = False
    with pytest.warns(InsecureWarning):
        client.verify_mode = ssl.CERT_NONE
    assert client.config.truststore is None
    other = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    other.load_cert_chain(pem.other_cert, pem.other_key)
    pair = Pair(client, other, hostname="example.org")
    pair.handshake()
    assert pair.client.getpeercert() == {}  # not verified: an empty dict, as ssl
    assert pair.client.getpeercert(True) == OTHER_LEAF.cert_der
    client.check_hostname = True  # turns verification back on, as ssl does
    assert client.verify_mode == ssl.CERT_REQUIRED
    assert client.config.truststore is not None


def test_context_check_hostname_off(pem: PEM) -> None:
    client = compat_client()
    client.check_hostname = False
    pair = Pair(client, pem.server(), hostname="example.org")
    pair.handshake()  # chain verified, the name not checked
    assert pair.client.getpeercert()
    client = compat_client(truststore=OTHER_CA.truststore())
    client.check_hostname = False
    pair = Pair(client, pem.server(), hostname="localhost")
    assert isinstance(pair.handshake_error(pair.client), ssl.SSLCertVerificationError)


def test_context_keylog(tmp_path: Path) -> None:
    client = compat_client()
    client.keylog_filename = str(tmp_path / "keys.log")
    Pair(client, compat_server()).handshake()
    lines = (tmp_path / "keys.log").read_text().splitlines()
    assert any(line.startswith("CLIENT_TRAFFIC_SECRET_0 ") for line in lines)


# -- asyncio ------------------------------------------------------------------------------------
async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = os.urandom(MiB)

    async def send() -> None:
        writer.write(data)
        await writer.drain()

    sender = asyncio.ensure_future(send())
    assert await reader.readexactly(MiB) == data
    await sender
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize("kind", SIDES)
def test_asyncio_streams(pem: PEM, kind: str) -> None:
    client, server = contexts(kind, pem)
    seen: list[Any] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer.get_extra_info("ssl_object"))
        await echo(reader, writer)

    async def main() -> None:
        listener = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=server)
        port = listener.sockets[0].getsockname()[1]
        async with listener:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client, server_hostname="localhost")
            assert writer.get_extra_info("cipher")[1] == "TLSv1.3"
            assert writer.get_extra_info("peercert")["subjectAltName"][0] == ("DNS", "localhost")
            assert writer.get_extra_info("sslcontext") is client
            await exchange(reader, writer)
        assert seen[0].version() == "TLSv1.3"
        assert isinstance(seen[0], SSLObject) == kind.endswith("compat")

    run_asyncio(main())


@pytest.mark.parametrize("kind", SIDES)
def test_asyncio_start_tls(pem: PEM, kind: str) -> None:
    """STARTTLS: a plain-text exchange, then ``StreamWriter.start_tls`` (``loop.start_tls``)."""
    client, server = contexts(kind, pem)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.readline() == b"STARTTLS\r\n"
        writer.write(b"220 go ahead\r\n")
        await writer.drain()
        await writer.start_tls(server)
        await echo(reader, writer)

    async def main() -> None:
        listener = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        async with listener:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"STARTTLS\r\n")
            assert await reader.readline() == b"220 go ahead\r\n"
            await writer.start_tls(client, server_hostname="localhost")
            assert writer.get_extra_info("ssl_object").version() == "TLSv1.3"
            await exchange(reader, writer)

    run_asyncio(main())


def test_asyncio_errors(pem: PEM) -> None:
    async def main() -> None:
        listener = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=pem.server())
        port = listener.sockets[0].getsockname()[1]
        async with listener:
            with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
                await asyncio.open_connection("127.0.0.1", port, ssl=compat_client(),
                                              server_hostname="example.org")
        # A server that wants a client certificate and sends its alert (asyncio's own
        # SSL transport would drop it), driven by hand with ssl.SSLObject.
        strict = pem.server()
        strict.load_verify_locations(pem.ca)
        strict.verify_mode = ssl.CERT_REQUIRED

        async def alerting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            server = strict.wrap_bio(incoming, outgoing, server_side=True)
            while True:
                try:
                    server.do_handshake()
                except ssl.SSLWantReadError:
                    writer.write(outgoing.read())
                    incoming.write(await reader.read(65536))
                except ssl.SSLError:
                    writer.write(outgoing.read())
                    await writer.drain()
                    writer.close()
                    return

        listener = await asyncio.start_server(alerting, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        async with listener:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=compat_client(), server_hostname="localhost")
            with pytest.raises(ssl.SSLError) as info:
                await reader.read(10)
            assert info.value.reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED"
            writer.close()

    run_asyncio(main())


# -- trio ------------------------------------------------------------------------------------------
async def trio_exchange(client: trio.SSLStream[Any], server: trio.SSLStream[Any]) -> None:
    data = os.urandom(MiB)

    async def pipe(sender: trio.SSLStream[Any], receiver: trio.SSLStream[Any],
                   payload: bytes) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender.send_all, payload)
            received = bytearray()
            while len(received) < len(payload):
                received += await receiver.receive_some()
            assert received == payload

    async with trio.open_nursery() as nursery:
        nursery.start_soon(pipe, client, server, data)
        nursery.start_soon(pipe, server, client, data[::-1])


@pytest.mark.parametrize("kind", SIDES)
def test_trio_memory_streams(pem: PEM, kind: str) -> None:
    client_context, server_context = contexts(kind, pem, alpn=[b"http/1.1"])
    for context in (client_context, server_context):
        context.set_alpn_protocols(["http/1.1"])

    async def main() -> None:
        with trio.fail_after(TIMEOUT):
            left, right = trio.testing.memory_stream_pair()
            client = trio.SSLStream(left, client_context, server_hostname="localhost")
            server = trio.SSLStream(right, server_context, server_side=True)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.do_handshake)
                nursery.start_soon(server.do_handshake)
            assert client.selected_alpn_protocol() == server.selected_alpn_protocol() == "http/1.1"
            assert client.version() == "TLSv1.3"
            await trio_exchange(client, server)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.aclose)
                nursery.start_soon(server.aclose)

    trio.run(main)


def test_trio_generic_stream_checks() -> None:
    """trio's own conformance checks, run on trio.SSLStream over siotls on both sides."""

    async def make(clogged: bool) -> tuple[trio.SSLStream[Any], trio.SSLStream[Any]]:
        pair = (trio.testing.lockstep_stream_pair if clogged
                else trio.testing.memory_stream_pair)
        left, right = pair()
        client = trio.SSLStream(left, compat_client(), server_hostname="localhost")
        server = trio.SSLStream(right, compat_server(), server_side=True)
        return client, server

    async def stream_maker() -> tuple[trio.SSLStream[Any], trio.SSLStream[Any]]:
        return await make(False)

    async def clogged_stream_maker() -> tuple[trio.SSLStream[Any], trio.SSLStream[Any]]:
        client, server = await make(True)
        async with trio.open_nursery() as nursery:  # clogged: handshake now
            nursery.start_soon(client.do_handshake)
            nursery.start_soon(server.do_handshake)
        return client, server

    async def main() -> None:
        with trio.fail_after(2 * TIMEOUT):
            await trio.testing.check_two_way_stream(stream_maker, clogged_stream_maker)

    trio.run(main)


@pytest.mark.parametrize("kind", ["compat-stdlib", "stdlib-compat"])
def test_trio_tcp(pem: PEM, kind: str) -> None:
    client_context, server_context = contexts(kind, pem)

    async def handler(stream: trio.SSLStream[Any]) -> None:
        async with stream:
            while data := await stream.receive_some():
                await stream.send_all(data)

    async def main() -> None:
        with trio.fail_after(TIMEOUT):
            async with trio.open_nursery() as nursery:
                listeners = await nursery.start(partial(
                    trio.serve_ssl_over_tcp, handler, 0, server_context, host="127.0.0.1"))
                port = listeners[0].transport_listener.socket.getsockname()[1]
                stream = await trio.open_ssl_over_tcp_stream(
                    "127.0.0.1", port, ssl_context=client_context)  # an IP address SAN
                data = os.urandom(MiB)
                async with stream:
                    async with trio.open_nursery() as inner:
                        inner.start_soon(stream.send_all, data)
                        received = bytearray()
                        while len(received) < MiB:
                            received += await stream.receive_some()
                    assert received == data
                    assert stream.getpeercert()["subject"][1] == (("commonName", "localhost"),)
                nursery.cancel_scope.cancel()

    trio.run(main)


def test_trio_wrong_hostname() -> None:
    async def main() -> None:
        with trio.fail_after(TIMEOUT):
            left, right = trio.testing.memory_stream_pair()
            client = trio.SSLStream(left, compat_client(), server_hostname="example.org")
            server = trio.SSLStream(right, compat_server(), server_side=True)
            errors: list[BaseException] = []

            async def handshake(stream: trio.SSLStream[Any]) -> None:
                try:
                    await stream.do_handshake()
                except trio.BrokenResourceError as exc:
                    errors.append(exc.__cause__ or exc)
                    await stream.aclose()  # trio does not send the alert: an EOF

            async with trio.open_nursery() as nursery:
                nursery.start_soon(handshake, client)
                nursery.start_soon(handshake, server)
            assert isinstance(errors[0], ssl.SSLCertVerificationError)  # the client
            assert "Hostname mismatch" in str(errors[0])
            assert isinstance(errors[1], ssl.SSLEOFError)  # the server

    trio.run(main)


# -- anyio -----------------------------------------------------------------------------------------
@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def anyio_pair(client_context: ssl.SSLContext, server_context: ssl.SSLContext,
                     ) -> tuple[TLSStream, TLSStream, Callable[[], Any]]:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    accepted: list[ByteStream] = []

    async def accept() -> None:
        accepted.append(await listener.listeners[0].accept())  # type: ignore[attr-defined]

    async with anyio.create_task_group() as group:
        group.start_soon(accept)
        raw: SocketStream = await anyio.connect_tcp("127.0.0.1", port)
    results: list[TLSStream] = []

    async def wrap_server() -> None:
        results.append(await TLSStream.wrap(accepted[0], server_side=True,
                                            ssl_context=server_context))

    client_error = None
    async with anyio.create_task_group() as group:
        group.start_soon(wrap_server)
        try:
            client = await TLSStream.wrap(raw, hostname="localhost", ssl_context=client_context)
        except ssl.SSLError as exc:
            client_error = exc
            group.cancel_scope.cancel()
    if client_error is not None:
        await raw.aclose()
        await accepted[0].aclose()
        await listener.aclose()
        raise client_error
    return client, results[0], listener.aclose


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["compat-stdlib", "stdlib-compat"])
async def test_anyio_tls_stream(pem: PEM, kind: str) -> None:
    client_context, server_context = contexts(kind, pem)
    for context in (client_context, server_context):
        context.set_alpn_protocols(["h2", "http/1.1"])
    with anyio.fail_after(TIMEOUT):
        client, server, close_listener = await anyio_pair(client_context, server_context)
        for stream in (client, server):
            assert stream.extra(TLSAttribute.tls_version) == "TLSv1.3"
            assert stream.extra(TLSAttribute.alpn_protocol) == "h2"
            assert stream.extra(TLSAttribute.cipher)[1] == "TLSv1.3"
        assert client.extra(TLSAttribute.peer_certificate)["subject"][1] == (
            ("commonName", "localhost"),)
        assert client.extra(TLSAttribute.peer_certificate_binary) == LEAF.cert_der
        assert server.extra(TLSAttribute.shared_ciphers)

        data = os.urandom(MiB)

        async def echo_back() -> None:
            received = 0
            while received < MiB:
                chunk = await server.receive()
                received += len(chunk)
                await server.send(chunk)

        received = bytearray()
        async with anyio.create_task_group() as group:
            group.start_soon(echo_back)
            group.start_soon(client.send, data)
            while len(received) < MiB:
                received += await client.receive()
        assert received == data
        async with anyio.create_task_group() as group:
            group.start_soon(client.aclose)
            group.start_soon(server.aclose)
        await close_listener()


@pytest.mark.anyio
async def test_anyio_connect_tcp_and_errors(pem: PEM) -> None:
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(ssl.SSLCertVerificationError):
            await anyio_pair(compat_client(truststore=OTHER_CA.truststore()), pem.server())

        async def handler(stream: SocketStream) -> None:
            async with stream:
                tls = await TLSStream.wrap(stream, server_side=True, ssl_context=compat_server())
                await tls.send(await tls.receive())
                await tls.aclose()

        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as group:
            group.start_soon(listener.serve, handler)
            async with await anyio.connect_tcp("127.0.0.1", port, ssl_context=pem.client(),
                                               tls_hostname="localhost") as stream:
                await stream.send(b"ping")
                assert await stream.receive() == b"ping"
            group.cancel_scope.cancel()


# -- httpx and uvicorn ---------------------------------------------------------------------------
async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    body = f"{scope['scheme']} {scope['path']}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


async def serve_uvicorn(**config: Any) -> tuple[Any, asyncio.Task[None], int]:
    uvicorn = pytest.importorskip("uvicorn")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(asgi_app, log_level="warning", lifespan="off",
                                           **config))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, sock.getsockname()[1]


def test_uvicorn_compat_server_httpx_client(pem: PEM) -> None:
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("uvicorn")

    async def main() -> None:
        context = compat_server()
        server, task, port = await serve_uvicorn(
            ssl_context_factory=lambda config, default: context)
        try:
            async with httpx.AsyncClient(verify=pem.client()) as client:
                response = await client.get(f"https://localhost:{port}/hello")
            assert response.status_code == 200
            assert response.text == "https /hello"
        finally:
            server.should_exit = True
            await task

    run_asyncio(main())


def test_httpx_compat_client_uvicorn_stdlib_server(pem: PEM) -> None:
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("uvicorn")

    async def main() -> None:
        server, task, port = await serve_uvicorn(ssl_certfile=str(pem.cert),
                                                 ssl_keyfile=str(pem.key))
        try:
            context = compat_client()
            async with httpx.AsyncClient(verify=context) as client:
                response = await client.get(f"https://localhost:{port}/compat")
                stream = response.extensions["network_stream"]
                ssl_object = stream.get_extra_info("ssl_object")
            assert response.text == "https /compat"
            assert isinstance(ssl_object, SSLObject)
            assert context.config.alpn == (b"http/1.1",)  # httpcore's set_alpn_protocols()
            assert ssl_object.selected_alpn_protocol() in (None, "http/1.1")
            untrusting = compat_client(truststore=OTHER_CA.truststore())
            async with httpx.AsyncClient(verify=untrusting) as client:
                with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
                    await client.get(f"https://127.0.0.1:{port}/")
        finally:
            server.should_exit = True
            await task

    run_asyncio(main())
