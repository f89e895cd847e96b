"""siotls.compat and certificates (issue 9): verify_mode CERT_OPTIONAL on servers,
sni_callback / set_servername_callback, load_verify_locations failing at load
time, getpeercert() in both forms and get_verified_chain() on SSLObject and
SSLSocket, post_handshake_auth / verify_client_post_handshake; against Python's
``ssl`` (OpenSSL) on the other side."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any

import pytest

from certs import make_ca, ssl_client_context, write_pem_files
from siotls import TLSConfiguration
from siotls.compat import SSLContext
from test_compat import Pair, read_all
from test_compat_socket import HOST, TIMEOUT, Peer

pytestmark = pytest.mark.timeout(60)

CA = make_ca(name="siotls compat certs CA")
LEAF = CA.issue()  # localhost, 127.0.0.1, ::1
OTHER_CA = make_ca(name="siotls compat certs other CA")
OTHER_LEAF = OTHER_CA.issue(("other.test",))
CLIENT_LEAF = CA.issue(("siotls client",), client=True)


def compat_server(leaf: Any = LEAF, **changes: Any) -> SSLContext:
    return SSLContext.from_config(TLSConfiguration(
        "server", private_key=leaf.key_der, certificate_chain=leaf.chain_der, **changes))


class Files:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.cert, self.key, self.ca = write_pem_files(directory, LEAF, CA)
        self.client_cert, self.client_key, _ = write_pem_files(directory, CLIENT_LEAF, CA)
        _, _, self.other_ca = write_pem_files(directory, OTHER_LEAF, OTHER_CA)

    def stdlib_client(self, with_certificate: bool = False, *cas: Path) -> ssl.SSLContext:
        context = ssl_client_context(self.ca)
        for ca in cas:
            context.load_verify_locations(ca)
        if with_certificate:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return Files(tmp_path_factory.mktemp("compat-certs"))


# -- CERT_OPTIONAL and the peer's certificate -----------------------------------------


@pytest.mark.parametrize("with_certificate", [False, True])
def test_cert_optional_server(files: Files, with_certificate: bool) -> None:
    server = compat_server()
    server.load_verify_locations(files.ca)
    server.verify_mode = ssl.CERT_OPTIONAL
    assert server.config.request_peer_authentication
    assert not server.config.require_peer_authentication
    pair = Pair(files.stdlib_client(with_certificate), server)
    pair.handshake()
    if not with_certificate:
        assert pair.server.getpeercert() is None
        assert pair.server.getpeercert(binary_form=True) is None
        assert pair.server.get_verified_chain() == []
        return
    peercert = pair.server.getpeercert()
    assert peercert is not None
    assert dict(x[0] for x in peercert["subject"])["commonName"] == "siotls client"
    assert pair.server.getpeercert(binary_form=True) == CLIENT_LEAF.cert_der
    assert pair.server.get_verified_chain() == [CLIENT_LEAF.cert_der, CA.cert_der]
    assert pair.server.get_unverified_chain()[0] == CLIENT_LEAF.cert_der
    # the client side, an ssl.SSLObject of OpenSSL, agrees on the server's certificate
    assert pair.client.getpeercert(binary_form=True) == LEAF.cert_der


def test_cert_optional_from_the_configuration() -> None:
    context = compat_server(truststore=CA.truststore(), request_peer_authentication=True)
    assert context.verify_mode == ssl.CERT_OPTIONAL


def test_getpeercert_on_the_client_sslobject(files: Files) -> None:
    stdlib_server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    stdlib_server.load_cert_chain(files.cert, files.key)
    client = SSLContext.from_config(TLSConfiguration("client", truststore=CA.truststore()))
    pair = Pair(client, stdlib_server)
    pair.handshake()
    assert pair.client.getpeercert(binary_form=True) == LEAF.cert_der
    assert pair.client.getpeercert()["subjectAltName"][0] == ("DNS", "localhost")  # type: ignore[index]
    assert pair.client.get_verified_chain() == [LEAF.cert_der, CA.cert_der]


def test_getpeercert_on_sslsocket(files: Files) -> None:
    """A siotls SSLSocket server with CERT_REQUIRED, Python's ssl client with a certificate."""
    server = compat_server()
    server.load_verify_locations(files.ca)
    server.verify_mode = ssl.CERT_REQUIRED

    def serve(listener: socket.socket) -> tuple[Any, Any, list[bytes]]:
        sock, _ = listener.accept()
        with server.wrap_socket(sock, server_side=True) as tls:
            tls.settimeout(TIMEOUT)
            result = (tls.getpeercert(), tls.getpeercert(True), tls.get_verified_chain())
            tls.sendall(b"bye")
            return result

    peer = Peer(serve)
    with peer.connect() as raw, files.stdlib_client(True).wrap_socket(
            raw, server_hostname="localhost") as tls:
        received = tls.recv(3)
    peercert, der, verified = peer.join()
    assert received == b"bye"
    assert dict(x[0] for x in peercert["subject"])["commonName"] == "siotls client"
    assert der == CLIENT_LEAF.cert_der
    assert verified == [CLIENT_LEAF.cert_der, CA.cert_der]


# -- sni_callback -------------------------------------------------------------------------


def test_sni_callback_switches_the_certificate(files: Files) -> None:
    server = compat_server()
    other = compat_server(OTHER_LEAF)
    calls: list[tuple[Any, Any, Any]] = []

    def callback(obj: Any, server_name: str | None, context: Any) -> None:
        calls.append((obj, server_name, context))
        if server_name == "other.test":
            obj.context = other

    server.sni_callback = callback
    assert server.sni_callback is callback
    for name, leaf in (("other.test", OTHER_LEAF), ("localhost", LEAF)):
        pair = Pair(files.stdlib_client(False, files.other_ca), server, hostname=name)
        pair.handshake()
        assert pair.client.getpeercert(binary_form=True) == leaf.cert_der
        assert calls[-1] == (pair.server, name, server)
        assert pair.server.context is (other if leaf is OTHER_LEAF else server)
    # set_servername_callback is the same setting
    server.set_servername_callback(None)
    assert server.sni_callback is None


def test_sni_callback_refuses(files: Files) -> None:
    server = compat_server()
    server.sni_callback = lambda obj, name, ctx: ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
    pair = Pair(files.stdlib_client(), server)
    error = pair.handshake_error(pair.client)
    assert error.reason in ("TLSV1_ALERT_UNRECOGNIZED_NAME", "TLSV1_UNRECOGNIZED_NAME")

    def broken(obj: Any, name: str | None, ctx: Any) -> None:
        raise RuntimeError("the application's bug")

    server.sni_callback = broken
    pair = Pair(files.stdlib_client(), server)
    error = pair.handshake_error(pair.server)
    assert isinstance(error.__cause__.__cause__, RuntimeError)  # type: ignore[union-attr]
    assert pair.handshake_error(pair.client).reason == "SSLV3_ALERT_HANDSHAKE_FAILURE"


def test_sni_callback_gets_the_sslsocket(files: Files) -> None:
    server = compat_server()
    seen: list[Any] = []
    server.sni_callback = lambda obj, name, ctx: seen.append((obj, name))

    def serve(listener: socket.socket) -> Any:
        sock, _ = listener.accept()
        with server.wrap_socket(sock, server_side=True) as tls:
            tls.sendall(b"ok")
            return tls

    peer = Peer(serve)
    with peer.connect() as raw, files.stdlib_client().wrap_socket(
            raw, server_hostname="localhost") as tls:
        assert tls.recv(2) == b"ok"
    served = peer.join()
    assert seen == [(served, "localhost")]


def test_sni_callback_settings() -> None:
    client = SSLContext.from_config(TLSConfiguration("client", truststore=CA.truststore()))
    with pytest.raises(ValueError, match="TLS_CLIENT"):
        client.sni_callback = lambda *args: None
    with pytest.raises(TypeError):
        compat_server().sni_callback = "not callable"


# -- load_verify_locations ------------------------------------------------------------------


@pytest.mark.parametrize("content", [
    b"",
    b"no certificate here\n",
    b"-----BEGIN CERTIFICATE-----\nMIIBaaaa\n-----END CERTIFICATE-----\n",
])
def test_load_verify_locations_fails_at_load_time(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_bytes(content)
    stdlib = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with pytest.raises(ssl.SSLError):
        stdlib.load_verify_locations(bad)  # what ssl does
    context = SSLContext.from_config(TLSConfiguration("client", truststore=CA.truststore()))
    with pytest.raises(ssl.SSLError):
        context.load_verify_locations(bad)
    with pytest.raises(ssl.SSLError):
        context.load_verify_locations(cadata=b"\x30\x03\x02\x01\x01")
    assert context.config.truststore is not None  # the context is still usable
    assert context.cert_store_stats()["x509_ca"] == 1


# -- post-handshake authentication ----------------------------------------------------------


def ask_after_handshake(pair: Pair, question: bytes, answer: bytes) -> None:
    """The server asks for the client's certificate after the handshake; ``question``
    (with the CertificateRequest) and ``answer`` (after the client's Certificate) go
    through."""
    pair.server.verify_client_post_handshake()
    pair.server.write(question)
    pair.pump()
    assert read_all(pair.client) == question
    pair.client.write(answer)
    pair.pump()
    assert read_all(pair.server) == answer


def test_post_handshake_auth_compat_both_sides(files: Files) -> None:
    """siotls.compat client (post_handshake_auth) and server (verify_client_post_handshake)."""
    client = SSLContext.from_config(TLSConfiguration("client", truststore=CA.truststore()))
    client.load_cert_chain(files.client_cert, files.client_key)
    client.post_handshake_auth = True
    assert client.config.post_handshake_auth
    server = compat_server(truststore=CA.truststore())
    pair = Pair(client, server)
    pair.handshake()
    assert pair.server.getpeercert() is None
    ask_after_handshake(pair, b"now", b"here")
    assert pair.server.getpeercert(binary_form=True) == CLIENT_LEAF.cert_der
    assert pair.server.get_verified_chain()[-1] == CA.cert_der


def test_post_handshake_auth_with_python_ssl_client(files: Files) -> None:
    stdlib = files.stdlib_client(True)
    stdlib.post_handshake_auth = True
    server = compat_server(truststore=CA.truststore())
    pair = Pair(stdlib, server)
    pair.handshake()
    ask_after_handshake(pair, b"who?", b"me")
    assert pair.server.getpeercert(binary_form=True) == CLIENT_LEAF.cert_der


def test_verify_client_post_handshake_without_the_offer(files: Files) -> None:
    server = compat_server(truststore=CA.truststore())
    pair = Pair(files.stdlib_client(True), server)
    pair.handshake()
    with pytest.raises(ssl.SSLError, match="EXTENSION_NOT_RECEIVED"):
        pair.server.verify_client_post_handshake()


def test_python_ssl_server_asks_a_siotls_client(files: Files) -> None:
    """Python's ssl server (OpenSSL) with post_handshake_auth asks after the handshake."""
    stdlib = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=files.ca)
    stdlib.load_cert_chain(files.cert, files.key)
    stdlib.verify_mode = ssl.CERT_REQUIRED
    stdlib.post_handshake_auth = True
    client = SSLContext.from_config(TLSConfiguration(
        "client", truststore=CA.truststore(), private_key=CLIENT_LEAF.key_der,
        certificate_chain=CLIENT_LEAF.chain_der, post_handshake_auth=True))
    pair = Pair(client, stdlib)
    pair.handshake()
    assert pair.server.getpeercert() is None
    ask_after_handshake(pair, b"x", b"y")
    assert pair.server.getpeercert(binary_form=True) == CLIENT_LEAF.cert_der
    assert HOST


def test_post_handshake_auth_on_sslsocket(files: Files) -> None:
    """A siotls SSLSocket server asks a Python ssl client after the handshake, then reads."""
    server = compat_server(truststore=CA.truststore())

    def serve(listener: socket.socket) -> tuple[Any, Any]:
        sock, _ = listener.accept()
        with server.wrap_socket(sock, server_side=True) as tls:
            tls.settimeout(TIMEOUT)
            before = tls.getpeercert(True)
            tls.verify_client_post_handshake()
            tls.sendall(b"go")
            assert tls.recv(4) == b"done"  # the answer came before this data
            return before, tls.getpeercert(True)

    peer = Peer(serve)
    stdlib = files.stdlib_client(True)
    stdlib.post_handshake_auth = True
    with peer.connect() as raw, stdlib.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.recv(2) == b"go"
        tls.sendall(b"done")
        before, after = peer.join()
    assert before is None
    assert after == CLIENT_LEAF.cert_der
