"""Several chains: the server's choice by signature algorithms and server name (SNI),
optional client certificates, certificate_authorities and the client's choice
(siotls.core.credentials); in memory, with ``openssl s_client`` and Python's ssl."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from certs import CA, Leaf, make_ca, write_pem_files
from helpers import flow, handshake
from openssl_peer import accept, listener, requires_openssl, run_server, s_client
from siotls import CertificateChain, InsecureWarning, TLSConfiguration, TLSConnection
from siotls.core import credentials
from siotls.core.errors import DecodeError, HandshakeFailure, TLSPeerAlert, UnrecognizedName
from siotls.iana import AlertDescription, SignatureScheme
from siotls.trust import TrustStore
from test_ssl_interop import Stdlib, pump

SS = SignatureScheme
KEY_TYPES = ("ecdsa-p256", "rsa-2048", "ed25519")


def root(key_type: str) -> CA:
    return make_ca(key_type, f"siotls selection root ({key_type})")


def chain_of(leaf: Leaf) -> CertificateChain:
    return CertificateChain(leaf.key_der, leaf.chain_der)


def leaf_for(key_type: str, *names: str) -> Leaf:
    return root(key_type).issue(names or ("localhost", "127.0.0.1"), key_type=key_type,
                                client=True)


def all_roots() -> TrustStore:
    return TrustStore([root(key_type).cert_der for key_type in KEY_TYPES])


def multi_server(**kwargs: Any) -> TLSConfiguration:
    """ECDSA (the default), then RSA, then Ed25519 chains for localhost."""
    default = leaf_for("ecdsa-p256")
    return TLSConfiguration(
        "server", private_key=default.key_der, certificate_chain=default.chain_der,
        certificate_chains=[chain_of(leaf_for("rsa-2048")), chain_of(leaf_for("ed25519"))],
        **kwargs)


def connect(server_config: TLSConfiguration, server_hostname: str | None = "localhost",
            **client_kwargs: Any) -> tuple[TLSConnection, TLSConnection]:
    client_kwargs.setdefault("truststore", all_roots())
    client = TLSConnection(TLSConfiguration("client", **client_kwargs),
                           server_hostname=server_hostname)
    server = TLSConnection(server_config)
    client.initiate_connection()
    server.initiate_connection()
    handshake(client, server)
    return client, server


def leaf_der(conn: TLSConnection) -> bytes:
    return conn.nconfig.peer_certificate_chain[0]


# ------------------------------------------------------------- by signature algorithms


@pytest.mark.parametrize(("schemes", "key_type"), [
    ([SS.ecdsa_secp256r1_sha256], "ecdsa-p256"),
    ([SS.rsa_pss_rsae_sha256], "rsa-2048"),
    ([SS.ed25519], "ed25519"),
    ([SS.ed448, SS.rsa_pss_rsae_sha384, SS.ed25519], "rsa-2048"),
    (list(TLSConfiguration("client", truststore=all_roots()).signature_algorithms),
     "ecdsa-p256"),
])
def test_chain_by_signature_algorithms(schemes: list[SS], key_type: str) -> None:
    client, _ = connect(multi_server(), signature_algorithms=schemes)
    assert leaf_der(client) == leaf_for(key_type).cert_der
    assert client.nconfig.peer_signature_algorithm in schemes


def test_no_chain_for_the_signature_algorithms() -> None:
    client = TLSConnection(TLSConfiguration("client", truststore=all_roots(),
                                            signature_algorithms=[SS.ed448]),
                           server_hostname="localhost")
    server = TLSConnection(multi_server())
    client.initiate_connection()
    server.initiate_connection()
    with pytest.raises(HandshakeFailure):
        flow(client, server)
    with pytest.raises(TLSPeerAlert) as info:
        flow(server, client)
    assert info.value.description == AlertDescription.HANDSHAKE_FAILURE


def test_signature_algorithms_cert_prefers_a_matching_chain() -> None:
    """Two ECDSA leaves, one under an RSA CA: a client that only takes ECDSA signatures
    in certificates gets the other, though the RSA-signed chain comes first."""
    under_rsa = root("rsa-2048").issue(("localhost",), key_type="ecdsa-p256")
    under_ecdsa = root("ecdsa-p256").issue(("localhost",), key_type="ecdsa-p256")
    chains = [chain_of(under_rsa), chain_of(under_ecdsa)]
    offered = [SS.ecdsa_secp256r1_sha256]
    chain, scheme = credentials.select_server_chain(
        chains, [SS.ecdsa_secp256r1_sha256], server_name=None, offered=offered,
        offered_cert=offered)
    assert chain is chains[1]
    assert scheme == SS.ecdsa_secp256r1_sha256
    # nothing matches signature_algorithms_cert: the first usable chain all the same
    chain, _ = credentials.select_server_chain(
        chains[:1], [SS.ecdsa_secp256r1_sha256], server_name=None, offered=offered,
        offered_cert=[SS.ed25519])
    assert chain is chains[0]


# ---------------------------------------------------------------------------------- SNI


def sni_server(**kwargs: Any) -> TLSConfiguration:
    default = leaf_for("ecdsa-p256", "default.test")
    return TLSConfiguration(
        "server", private_key=default.key_der, certificate_chain=default.chain_der,
        certificate_chains=[chain_of(leaf_for("ecdsa-p256", "a.test")),
                            chain_of(leaf_for("ecdsa-p256", "*.b.test"))], **kwargs)


@pytest.mark.parametrize(("name", "expected"), [
    ("a.test", "a.test"), ("A.Test", "a.test"), ("x.b.test", "*.b.test"),
    ("default.test", "default.test"),
])
def test_chain_by_server_name(name: str, expected: str) -> None:
    client, server = connect(sni_server(), server_hostname=name)
    assert leaf_der(client) == leaf_for("ecdsa-p256", expected).cert_der
    assert server.nconfig.server_name == name


@pytest.mark.parametrize("name", ["other.test", "b.test", "x.y.b.test"])
def test_unknown_server_name_gets_the_default_chain(name: str) -> None:
    with pytest.warns(InsecureWarning):
        config = TLSConfiguration("client", truststore=all_roots(), check_hostname=False)
    client = TLSConnection(config, server_hostname=name)
    server = TLSConnection(sni_server())
    client.initiate_connection()
    server.initiate_connection()
    handshake(client, server)
    assert leaf_der(client) == leaf_for("ecdsa-p256", "default.test").cert_der


def test_strict_sni() -> None:
    client = TLSConnection(TLSConfiguration("client", truststore=all_roots()),
                           server_hostname="other.test")
    server = TLSConnection(sni_server(strict_sni=True))
    client.initiate_connection()
    server.initiate_connection()
    with pytest.raises(UnrecognizedName) as info:
        flow(client, server)
    assert info.value.reason == "unrecognized_name"
    with pytest.raises(TLSPeerAlert) as peer:
        flow(server, client)
    assert peer.value.description == AlertDescription.UNRECOGNIZED_NAME
    # no SNI at all (an IP address is not sent): the default chain, even when strict
    with pytest.warns(InsecureWarning):
        client, _ = connect(sni_server(strict_sni=True), server_hostname="127.0.0.1",
                            check_hostname=False)
    assert leaf_der(client) == leaf_for("ecdsa-p256", "default.test").cert_der


def test_sni_callback_and_mapping() -> None:
    special = chain_of(leaf_for("ed25519", "special.test"))
    seen = []

    def callback(name: str | None) -> list[CertificateChain] | None:
        seen.append(name)
        return [special] if name == "special.test" else None

    client, _ = connect(sni_server(sni_callback=callback), server_hostname="special.test")
    assert leaf_der(client) == leaf_for("ed25519", "special.test").cert_der
    # None: no opinion, the names in the certificates decide
    client, _ = connect(sni_server(sni_callback=callback), server_hostname="a.test")
    assert leaf_der(client) == leaf_for("ecdsa-p256", "a.test").cert_der
    assert seen == ["special.test", "a.test"]
    mapping = {"special.test": [special]}
    client, _ = connect(sni_server(sni_callback=mapping.get), server_hostname="special.test")
    assert leaf_der(client) == leaf_for("ed25519", "special.test").cert_der


# ------------------------------------------------------------------ client certificates


def mtls_server(*, required: bool, trusted: str = "ecdsa-p256") -> TLSConfiguration:
    leaf = leaf_for("ecdsa-p256")
    return TLSConfiguration(
        "server", private_key=leaf.key_der, certificate_chain=leaf.chain_der,
        truststore=root(trusted).truststore(),
        require_peer_authentication=required, request_peer_authentication=not required)


def test_optional_client_certificate_none_sent() -> None:
    client, server = connect(mtls_server(required=False))
    assert server.is_post_handshake()
    assert not server.nconfig.peer_verified
    assert server.nconfig.peer_certificate_chain == ()
    client.send_data(b"anonymous")
    flow(client, server)
    assert server.data_to_read() == b"anonymous"


def test_optional_client_certificate_sent_and_verified() -> None:
    leaf = leaf_for("ecdsa-p256")
    _, server = connect(mtls_server(required=False), private_key=leaf.key_der,
                             certificate_chain=leaf.chain_der)
    assert server.nconfig.peer_verified
    assert server.nconfig.peer_certificate_chain == tuple(leaf.chain_der)


def test_certificate_authorities_and_the_client_choice() -> None:
    """The request names the server's CA; the client sends its chain from that CA,
    whichever of its chains comes first."""
    from_rsa, from_ed25519 = leaf_for("rsa-2048"), leaf_for("ed25519")
    for trusted, expected in (("ed25519", from_ed25519), ("rsa-2048", from_rsa)):
        _, server = connect(
            mtls_server(required=True, trusted=trusted), private_key=from_rsa.key_der,
            certificate_chain=from_rsa.chain_der, certificate_chains=[chain_of(from_ed25519)])
        assert server.nconfig.peer_certificate_chain == tuple(expected.chain_der)


def test_certificate_authorities_codec() -> None:
    truststore = all_roots()
    data = credentials.encode_certificate_authorities(truststore)
    assert data is not None
    assert credentials.decode_certificate_authorities(data) == [
        root(key_type).cert.subject.public_bytes() for key_type in KEY_TYPES]
    big = TrustStore([make_ca(name=f"siotls CA {i}").cert_der
                      for i in range(credentials.MAX_AUTHORITIES + 1)])
    assert credentials.encode_certificate_authorities(big) is None


@pytest.mark.parametrize("data", [b"", b"\x00\x00", b"\x00\x02\x00\x00", b"\x00\x03\x00\x05a",
                                  b"\x00\x03\x00\x01a\x00"])
def test_certificate_authorities_malformed(data: bytes) -> None:
    with pytest.raises(DecodeError):
        credentials.decode_certificate_authorities(data)


def test_certificate_chain_checks() -> None:
    leaf, other = leaf_for("ecdsa-p256"), leaf_for("ed25519")
    with pytest.raises(ValueError, match="does not match"):
        CertificateChain(other.key_der, leaf.chain_der)
    with pytest.raises(ValueError, match="at least one"):
        CertificateChain(leaf.key_der, [])
    with pytest.raises(ValueError, match="certificate_chains holds"):
        TLSConfiguration("server", private_key=leaf.key_der, certificate_chain=leaf.chain_der,
                         certificate_chains=[(leaf.key_der, leaf.chain_der)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="server settings"):
        TLSConfiguration("client", truststore=all_roots(), strict_sni=True)


# ------------------------------------------------------------------------------ real peers


@requires_openssl
@pytest.mark.openssl
@pytest.mark.parametrize(("sigalgs", "key_type", "name"), [
    ("ECDSA+SHA256", "ecdsa-p256", "localhost"),
    ("rsa_pss_rsae_sha256", "rsa-2048", "localhost"),
    ("ed25519", "ed25519", "localhost"),
    ("ed25519:ECDSA+SHA256", "ecdsa-p256", "localhost"),  # the first chain that fits
    ("ECDSA+SHA256", "ecdsa-p256", "a.test"),
    ("ECDSA+SHA256", "ecdsa-p256", "x.b.test"),
])
def test_openssl_client_gets_the_matching_chain(tmp_path: Path, sigalgs: str, key_type: str,
                                                name: str) -> None:
    """``s_client -sigalgs`` and ``-servername`` choose among the siotls server's chains."""
    chains = [chain_of(leaf_for(k)) for k in KEY_TYPES[1:]]
    chains += [chain_of(leaf_for("ecdsa-p256", "a.test")),
               chain_of(leaf_for("ecdsa-p256", "*.b.test"))]
    default = leaf_for("ecdsa-p256")
    config = TLSConfiguration("server", private_key=default.key_der,
                              certificate_chain=default.chain_der, certificate_chains=chains)
    expected = leaf_for(key_type) if name == "localhost" else \
        leaf_for("ecdsa-p256", "*.b.test" if name.endswith("b.test") else name)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(b"".join(root(k).cert_pem for k in KEY_TYPES))
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", ca_file, "-verify_return_error", "-verify_hostname",
                     name, "-servername", name, "-sigalgs", sigalgs) as proc, \
            accept(lsock) as sock:
        conn = TLSConnection(config)
        run_server(sock, conn)
        proc.wait_for(rb"Verify return code: 0 \(ok\)")
        assert conn.nconfig.server_name == name
        expected_subject = expected.cert.subject.rfc4514_string().split(",")[0]  # CN=...
        proc.wait_for(rb"subject=.*CN\s*=\s*" + expected_subject[3:].replace("*", r"\*")
                      .encode())


def test_python_ssl_client_server_name_and_signature_algorithms(tmp_path: Path) -> None:
    """Python's ssl with server_hostname='a.test' gets (and verifies) the a.test chain."""
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(b"".join(root(k).cert_pem for k in KEY_TYPES))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(ca_file)
    peer = Stdlib(ctx, server_side=False, server_hostname="x.b.test")
    conn = TLSConnection(sni_server())
    conn.initiate_connection()
    pump(conn, peer)
    assert peer.handshake_done
    assert peer.obj.getpeercert(binary_form=True) == leaf_for("ecdsa-p256", "*.b.test").cert_der


def test_python_ssl_client_certificate_optional(tmp_path: Path) -> None:
    """An ssl client without a certificate connects to a server that only asks."""
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(root("ecdsa-p256").cert_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(ca_file)
    peer = Stdlib(ctx, server_side=False, server_hostname="localhost")
    conn = TLSConnection(mtls_server(required=False))
    conn.initiate_connection()
    pump(conn, peer)
    pump(conn, peer)
    assert conn.is_post_handshake() and peer.handshake_done
    assert not conn.nconfig.peer_verified
    # and with one, verified
    cert, key, _ = write_pem_files(tmp_path, leaf_for("ecdsa-p256"))
    ctx.load_cert_chain(cert, key)
    peer = Stdlib(ctx, server_side=False, server_hostname="localhost")
    conn = TLSConnection(mtls_server(required=False))
    conn.initiate_connection()
    pump(conn, peer)
    pump(conn, peer)
    assert conn.nconfig.peer_verified


def test_peer_chain_exposed() -> None:
    """nconfig: the chain as received (DER, parsed) and the verified path."""
    root_ca = root("ed25519")
    server_leaf = root_ca.issue(("localhost",), key_type="ed25519", intermediate=True)
    client_leaf = leaf_for("ecdsa-p256")
    config = TLSConfiguration(
        "server", private_key=server_leaf.key_der, certificate_chain=server_leaf.chain_der,
        truststore=root("ecdsa-p256").truststore(), require_peer_authentication=True)
    client, server = connect(config, private_key=client_leaf.key_der,
                             certificate_chain=client_leaf.chain_der)
    assert client.nconfig.peer_certificate_chain == tuple(server_leaf.chain_der)
    assert client.nconfig.peer_certificates == tuple(server_leaf.chain)
    assert client.nconfig.peer_verified_path == (*server_leaf.chain_der, root_ca.cert_der)
    assert client.nconfig.peer_chain_validator == "pathbuilder"
    assert server.nconfig.peer_certificates[0] == client_leaf.cert
    assert server.nconfig.peer_verified_path == (
        *client_leaf.chain_der, root("ecdsa-p256").cert_der)
    assert server.nconfig.peer_chain_validator == "webpki"
