"""Chains that only siotls's path builder validates (CA keys Ed25519, Ed448, RSA-PSS),
against real peers: ``openssl s_server`` on 127.0.0.1 (the siotls client verifies its
chain), and Python's ``ssl`` for mutual TLS both ways, in memory."""

from __future__ import annotations

import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certs import make_ca, write_pem_files
from openssl_peer import (
    OPENSSL,
    TIMEOUT,
    accept,
    connect,
    listener,
    requires_openssl,
    run_client,
    run_server,
    s_client,
    s_server,
)
from siotls import TLSConfiguration, TLSConnection
from siotls.core.errors import BadCertificate, UnknownCA
from siotls.iana import SignatureScheme
from siotls.pem import decode_pem_certificate_chain, decode_pem_private_key
from siotls.trust import TrustStore
from test_ssl_interop import Stdlib, pump
from test_ssl_interop import connect as stdlib_connect

pytestmark = [pytest.mark.openssl, requires_openssl]

_CA_EXTENSIONS = ("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
                  "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
_LEAF_EXTENSIONS = ("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n"
                    "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                    "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")


@dataclass
class Files:
    """PEM files of a chain: ``cert`` (leaf, intermediates), ``key``, ``ca`` (root),
    ``intermediates`` (for ``s_server -cert_chain``: ``-cert`` takes the leaf only)."""

    cert: Path
    key: Path
    ca: Path
    intermediates: Path

    def truststore(self) -> TrustStore:
        return TrustStore.from_file(self.ca)

    def config(self, side: str, **kwargs: object) -> TLSConfiguration:
        return TLSConfiguration(
            side,  # type: ignore[arg-type]
            private_key=decode_pem_private_key(self.key.read_bytes()),
            certificate_chain=decode_pem_certificate_chain(self.cert.read_bytes()),
            truststore=self.truststore(), **kwargs)  # type: ignore[arg-type]


def _openssl(tmp: Path, *args: str) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *args], cwd=tmp, check=True, capture_output=True, timeout=TIMEOUT)


def rsa_pss_files(tmp: Path) -> Files:
    """An all RSA-PSS (id-RSASSA-PSS keys) root, intermediate and leaf, made by openssl:
    ``cryptography`` cannot write such keys into certificates."""
    (tmp / "ca.ext").write_text(_CA_EXTENSIONS)
    (tmp / "leaf.ext").write_text(_LEAF_EXTENSIONS)
    (tmp / "req.cnf").write_text("[req]\ndistinguished_name=dn\n[dn]\n[v3]\n"
                                 "basicConstraints=critical,CA:TRUE\n"
                                 "keyUsage=critical,keyCertSign,cRLSign\n"
                                 "subjectKeyIdentifier=hash\n")
    for name in ("root", "inter", "leaf"):
        _openssl(tmp, "genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048",
                 "-out", f"{name}.key")
    _openssl(tmp, "req", "-new", "-x509", "-config", "req.cnf", "-key", "root.key", "-subj",
             "/O=siotls tests/CN=siotls RSA-PSS root", "-days", "30", "-extensions", "v3",
             "-out", "root.pem")
    for name, issuer, ext, subject in (
            ("inter", "root", "ca.ext", "/O=siotls tests/CN=siotls RSA-PSS intermediate"),
            ("leaf", "inter", "leaf.ext", "/O=siotls tests/CN=localhost")):
        _openssl(tmp, "req", "-new", "-config", "req.cnf", "-key", f"{name}.key", "-subj",
                 subject, "-out", f"{name}.csr")
        _openssl(tmp, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.pem",
                 "-CAkey", f"{issuer}.key", "-set_serial", "7", "-days", "30",
                 "-extfile", ext, "-out", f"{name}.pem")
    chain = tmp / "chain.pem"
    chain.write_bytes((tmp / "leaf.pem").read_bytes() + (tmp / "inter.pem").read_bytes())
    return Files(chain, tmp / "leaf.key", tmp / "root.pem", tmp / "inter.pem")


def eddsa_files(tmp: Path, key_type: str) -> Files:
    root = make_ca(key_type, f"siotls interop {key_type} root")
    leaf = root.issue(("localhost", "127.0.0.1"), key_type=key_type, client=True,
                      intermediate=True)
    intermediates = tmp / "intermediates.pem"
    intermediates.write_bytes(b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in leaf.chain[1:]))
    return Files(*write_pem_files(tmp, leaf, root), intermediates)


@pytest.fixture(scope="module", params=["ed25519", "ed448", "rsa-pss"])
def files(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Files:
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "rsa-pss":
        return rsa_pss_files(tmp)
    return eddsa_files(tmp, request.param)


def test_rsa_pss_files_have_pss_keys(tmp_path: Path) -> None:
    files = rsa_pss_files(tmp_path)
    for pem in (files.ca.read_bytes(), files.cert.read_bytes()):
        for cert in x509.load_pem_x509_certificates(pem):
            assert cert.public_key_algorithm_oid == x509.oid.PublicKeyAlgorithmOID.RSASSA_PSS


# -------------------------------------------------------------------------- openssl s_server


def test_siotls_client_verifies_openssl_server(files: Files) -> None:
    with s_server(files.cert, files.key, "-cert_chain", files.intermediates, "-naccept", "1"
                  ) as (proc, port), connect(port) as sock:
        conn = TLSConnection(TLSConfiguration("client", truststore=files.truststore()),
                             server_hostname="localhost")
        run_client(sock, conn)
        assert conn.nconfig.peer_verified
        assert conn.nconfig.peer_chain_validator == "pathbuilder"
        assert len(conn.nconfig.peer_certificate_chain) == 2
        conn.send_data(b"hello s_server\n")
        sock.sendall(conn.data_to_send())
        proc.wait_for(rb"hello s_server")
    if "rsa-pss" in str(files.key.parent.name):
        assert conn.nconfig.peer_signature_algorithm == SignatureScheme.rsa_pss_pss_sha256


@pytest.mark.parametrize(("server_name", "reason", "alert"), [
    ("other.test", "hostname_mismatch", b"bad certificate"),
    ("127.0.0.2", "ip_mismatch", b"bad certificate"),
    (None, "unknown_issuer", b"unknown ca"),
])
def test_siotls_client_refuses_openssl_server(files: Files, server_name: str | None,
                                              reason: str, alert: bytes) -> None:
    """The refusal reaches s_server as the alert, and siotls raises it with the reason."""
    truststore = files.truststore()
    if server_name is None:  # trust another root
        server_name, truststore = "localhost", make_ca("ed25519", "siotls stranger").truststore()
    with s_server(files.cert, files.key, "-cert_chain", files.intermediates, "-naccept", "1"
                  ) as (proc, port), connect(port) as sock:
        conn = TLSConnection(TLSConfiguration("client", truststore=truststore),
                             server_hostname=server_name)
        expected = UnknownCA if reason == "unknown_issuer" else BadCertificate
        with pytest.raises(expected) as info:
            run_client(sock, conn)
        assert info.value.reason == reason
        proc.wait_for(rb"alert " + alert)


def test_openssl_client_certificate(files: Files) -> None:
    """``s_server -Verify`` asks for and verifies the siotls client's chain."""
    with s_server(files.cert, files.key, "-cert_chain", files.intermediates, "-naccept", "1",
                  "-Verify", "2", "-CAfile",
                  files.ca, "-verify_return_error") as (proc, port), \
            connect(port) as sock:
        conn = TLSConnection(files.config("client"), server_hostname="localhost")
        run_client(sock, conn)
        conn.send_data(b"hello from a verified client\n")
        sock.sendall(conn.data_to_send())
        proc.wait_for(rb"hello from a verified client")
        assert b"verify error" not in proc.output
        proc.wait_for(rb"subject=.*CN\s*=\s*localhost")


# ------------------------------------------------------------------ Python's ssl, mutual TLS


def _stdlib(files: Files, *, server_side: bool) -> Stdlib:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(files.cert, files.key)
    ctx.load_verify_locations(files.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return Stdlib(ctx, server_side=server_side,
                  server_hostname=None if server_side else "localhost")


def _leaf_subject(peer: Stdlib) -> str:
    der = peer.obj.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


def test_mutual_tls_siotls_client_stdlib_server(files: Files) -> None:
    peer = _stdlib(files, server_side=True)
    conn = TLSConnection(files.config("client"), server_hostname="localhost")
    stdlib_connect(conn, peer)
    assert conn.nconfig.peer_chain_validator == "pathbuilder"
    assert "CN=localhost" in _leaf_subject(peer)  # ssl verified our certificate
    conn.send_data(b"ping")
    pump(conn, peer)
    assert peer.take_received() == b"ping"


def test_mutual_tls_stdlib_client_siotls_server(files: Files) -> None:
    peer = _stdlib(files, server_side=False)
    conn = TLSConnection(files.config("server", require_peer_authentication=True))
    conn.initiate_connection()
    pump(conn, peer)
    assert peer.handshake_done
    pump(conn, peer)  # the client's second flight
    assert conn.is_post_handshake()
    assert conn.nconfig.peer_verified
    assert conn.nconfig.peer_chain_validator == "pathbuilder"
    assert list(conn.nconfig.peer_certificate_chain) == decode_pem_certificate_chain(
        files.cert.read_bytes())  # the chain ssl sent
    peer.write_all(b"pong")
    pump(conn, peer)
    assert conn.data_to_read() == b"pong"


def test_stdlib_client_refused_by_siotls_server(files: Files, tmp_path: Path) -> None:
    """A client certificate from another root: siotls sends unknown_ca, ssl sees it."""
    stranger = make_ca("ed25519", "siotls stranger").issue(client=True)
    cert, key, _ = write_pem_files(tmp_path, stranger)
    peer = _stdlib(Files(cert, key, files.ca, files.intermediates), server_side=False)
    conn = TLSConnection(files.config("server", require_peer_authentication=True))
    conn.initiate_connection()
    with pytest.raises(UnknownCA) as info:
        pump(conn, peer)
        pump(conn, peer)
    assert info.value.reason == "unknown_issuer"
    peer.incoming.write(conn.data_to_send())
    with pytest.raises(ssl.SSLError, match=r"UNKNOWN_CA|unknown ca"):
        peer.obj.read(100)



def test_openssl_client_certificate_verified_by_siotls_server(files: Files) -> None:
    """``s_client -cert`` with the chain; the siotls server requires and verifies it."""
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", files.ca, "-verify_return_error", "-cert", files.cert,
                     "-key", files.key, "-cert_chain", files.intermediates) as proc, \
            accept(lsock) as sock:
        conn = TLSConnection(files.config("server", require_peer_authentication=True))
        run_server(sock, conn)
        assert conn.nconfig.peer_verified
        assert conn.nconfig.peer_chain_validator == "pathbuilder"
        assert conn.nconfig.peer_verified_path[-1] == decode_pem_certificate_chain(
            files.ca.read_bytes())[0]
        proc.wait_for(rb"Verify return code: 0 \(ok\)")
