"""Interoperability with GnuTLS: what only ``gnutls-serv`` / ``gnutls-cli`` can do.

The scenarios every peer runs are in ``test_interop.py``; here are those that
need GnuTLS' own features: RSA-PSS keys made by ``certtool``, session tickets,
the channel binding and exporter it prints, client options siotls ignores. With
``log=True`` (``-d 5``) GnuTLS logs its handshake: the tests read the KeyUpdate
messages it sends and receives (``sending key update (1)``, ``received TLS 1.3
key update (0)``).
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from gnutls_peer import gnutls_serv
from openssl_peer import (
    TIMEOUT,
    accept,
    connect,
    flush,
    listener,
    read_until,
    run_client,
    run_server,
)
from peers import GNUTLS, PKI, pki, pki_client, pki_server
from siotls import TLSConfiguration, TLSConnection, TLSPeerAlert
from siotls.iana import AlertDescription, SignatureScheme

__all__ = ["pki"]  # a fixture

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(GNUTLS.unusable is not None, reason=str(GNUTLS.unusable)),
]

echo, close_client = GNUTLS.echo, GNUTLS.close_client
talk, close_server = GNUTLS.talk, GNUTLS.close_server


CERTTOOL = shutil.which("certtool")
PSS_TEMPLATE = """\
cn = localhost
dns_name = localhost
ip_address = 127.0.0.1
tls_www_server
tls_www_client
signing_key
expiration_days = 30
"""


def pem_to_der(pem: bytes) -> bytes:
    """The DER of the first PEM block (``cryptography`` would turn an RSA-PSS key
    into an rsaEncryption one)."""
    body = pem.split(b"-----BEGIN ", 1)[1].split(b"-----END ", 1)[0]
    return base64.b64decode(b"".join(body.splitlines()[1:]))


class PSSLeaf:
    """An id-RSASSA-PSS leaf made by certtool (``certs`` cannot), signed by pki.ca."""

    def __init__(self, pki: PKI) -> None:
        assert CERTTOOL is not None
        tmp = pki.tmp
        self.key, self.cert = tmp / "pss-key.pem", tmp / "pss-cert.pem"
        ca_key, ca_cert, template = tmp / "ca-key.pem", tmp / "ca-cert.pem", tmp / "pss.tmpl"
        ca_key.write_bytes(pki.ca.key.private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        ca_cert.write_bytes(pki.ca.cert_pem)
        template.write_text(PSS_TEMPLATE)
        for args in (
            ["--generate-privkey", "--key-type", "rsa-pss", "--bits", "2048",
             "--outfile", self.key],
            ["--generate-certificate", "--load-privkey", self.key, "--load-ca-certificate",
             ca_cert, "--load-ca-privkey", ca_key, "--template", template,
             "--outfile", self.cert],
        ):
            subprocess.run([CERTTOOL, *map(str, args)], capture_output=True, check=True,
                           timeout=TIMEOUT)
        self.key_der = pem_to_der(self.key.read_bytes())
        self.cert_der = pem_to_der(self.cert.read_bytes())


@pytest.fixture(scope="module")
def pss_leaf(pki: PKI) -> PSSLeaf:
    if CERTTOOL is None:
        pytest.skip("no certtool on PATH")
    return PSSLeaf(pki)


# ---------------------------------------------------------------------------------------
# siotls client, gnutls-serv --echo
# ---------------------------------------------------------------------------------------
def test_client_rsa_pss_server_certificate(pki: PKI, pss_leaf: PSSLeaf) -> None:
    """An id-RSASSA-PSS key signs with rsa_pss_pss_*, not rsa_pss_rsae_*."""
    with gnutls_serv(pss_leaf.cert, pss_leaf.key) as (proc, port), connect(port) as sock:
        conn = pki_client(pki)
        run_client(sock, conn)
        assert conn.nconfig.peer_signature_algorithm == SignatureScheme.rsa_pss_pss_sha256
        assert conn.nconfig.peer_verified
        echo(sock, conn, b"rsa-pss")
        close_client(proc, sock, conn)


def test_client_tls12_allowed(pki: PKI) -> None:
    """gnutls-serv with its default priorities (TLS 1.2 too) settles on TLS 1.3."""
    with GNUTLS.server(pki, priority="NORMAL") as (proc, port), connect(port) as sock:
        conn = pki_client(pki)
        run_client(sock, conn)
        echo(sock, conn, b"default priorities")
        close_client(proc, sock, conn)
        proc.wait_for(rb"- Version: TLS1\.3")


@pytest.mark.parametrize("tickets", [True, False], ids=["tickets", "noticket"])
def test_client_session_tickets(pki: PKI, tickets: bool) -> None:
    """gnutls-serv sends NewSessionTickets after the handshake, unless --noticket."""
    args = () if tickets else ("--noticket",)
    with GNUTLS.server(pki, args=args) as (proc, port), connect(port) as sock:
        conn = pki_client(pki)
        run_client(sock, conn)
        echo(sock, conn, b"tickets")  # the tickets come before the echo
        assert bool(conn.session_tickets) == tickets
        close_client(proc, sock, conn)


@pytest.mark.parametrize("requested", [True, False], ids=["requested", "not-requested"])
def test_client_key_update(pki: PKI, requested: bool) -> None:
    """siotls updates its keys three times; gnutls-serv answers the requested ones."""
    with GNUTLS.server(pki, log=True) as (proc, port), connect(port) as sock:
        conn = pki_client(pki)
        run_client(sock, conn)
        for i in range(3):
            conn.update_keys(request_peer_update=requested)
            echo(sock, conn, b"ping %d" % i)
        close_client(proc, sock, conn)
        # gnutls-serv logs the KeyUpdate it receives, then its answer if requested
        received = GNUTLS.key_update_logged(sent=False, requested=requested)
        answer = GNUTLS.key_update_logged(sent=True, requested=False)
        assert proc.wait_for_count(received, 3) == 3
        if requested:
            assert proc.wait_for_count(answer, 3) == 3
        else:
            assert not re.search(answer, proc.output)


def test_client_channel_binding(pki: PKI) -> None:
    """gnutls-serv prints the tls-exporter channel binding (RFC 9266) and the
    ``--keymatexport`` exporter value: siotls computes the same."""
    with GNUTLS.server(pki, args=("--keymatexport", "EXPERIMENTAL-siotls",
                                  "--keymatexportsize", "20")) as (proc, port), \
            connect(port) as sock:
        conn = pki_client(pki)
        run_client(sock, conn)
        echo(sock, conn, b"exporter")
        binding = proc.wait_for(rb"'tls-exporter': ([0-9a-f]{64})").group(1).decode()
        assert conn.export_keying_material(b"EXPORTER-Channel-Binding", b"", 32).hex() == \
            binding
        keymat = proc.wait_for(rb"Key material: ([0-9A-Fa-f]{40})").group(1).decode()
        assert conn.export_keying_material(b"EXPERIMENTAL-siotls", b"", 20).hex() == \
            keymat.lower()
        close_client(proc, sock, conn)


def test_client_rsa_pss_client_certificate(pki: PKI, pss_leaf: PSSLeaf) -> None:
    with GNUTLS.server(pki, client_ca=pki.cafile) as (proc, port), connect(port) as sock:
        conn = pki_client(pki, private_key=pss_leaf.key_der,
                          certificate_chain=[pss_leaf.cert_der])
        run_client(sock, conn)
        assert conn.nconfig.signature_algorithm == SignatureScheme.rsa_pss_pss_sha256
        echo(sock, conn, b"authenticated")
        close_client(proc, sock, conn)
        proc.wait_for(rb"The certificate is trusted")


def test_client_certificate_unknown_ca(pki: PKI) -> None:
    leaf = pki.other_ca.issue(client=True)
    with GNUTLS.server(pki, client_ca=pki.cafile) as (_, port), connect(port) as sock:
        conn = pki_client(pki, private_key=leaf.key_der, certificate_chain=leaf.chain_der)
        with pytest.raises(TLSPeerAlert) as excinfo:
            run_client(sock, conn)
            conn.send_data(b"untrusted\n")
            read_until(sock, conn, b"\n")
        # gnutls-serv lists its CA in certificate_authorities: siotls keeps a chain from
        # another CA to itself (an empty Certificate), and GnuTLS requires one.
        assert excinfo.value.description == AlertDescription.CERTIFICATE_REQUIRED


# ---------------------------------------------------------------------------------------
# siotls server, gnutls-cli
# ---------------------------------------------------------------------------------------
def test_server_rsa_pss_certificate(pki: PKI, pss_leaf: PSSLeaf) -> None:
    with listener() as (lsock, port), \
            GNUTLS.client(port, pki.cafile) as proc, \
            accept(lsock) as sock:
        conn = TLSConnection(TLSConfiguration("server", private_key=pss_leaf.key_der,
                                              certificate_chain=[pss_leaf.cert_der]))
        run_server(sock, conn)
        assert conn.nconfig.signature_algorithm == SignatureScheme.rsa_pss_pss_sha256
        talk(proc, sock, conn, b"rsa-pss")
        close_server(proc, sock, conn)
        assert b"- Status: The certificate is trusted." in proc.output
        assert b"-(RSA-PSS-SHA256)-" in proc.output


@pytest.mark.parametrize("args", [
    ("--disable-sni",),
    ("--recordsize", "512"),
    ("--post-handshake-auth",),
    ("--compress-cert", "zlib"),
    ("--heartbeat",),
], ids=["no-sni", "record-size-limit", "post-handshake-auth", "compress-cert", "heartbeat"])
def test_server_client_options(pki: PKI, args: tuple[str, ...]) -> None:
    """Client options siotls does not implement: ignored extensions.

    No SNI (the name is still verified); record_size_limit (RFC 8449), which siotls
    does not negotiate, so our full-size records remain fine (gnutls-cli then still
    cuts its own records at 512 bytes and drops the rest of each stdin read: we
    write short lines only); post_handshake_auth; compress_certificate (RFC 8879);
    heartbeat (RFC 6520)."""
    with listener() as (lsock, port), \
            GNUTLS.client(port, pki.cafile, args=args, priority="NORMAL") as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki)
        run_server(sock, conn)
        assert conn.nconfig.server_name == (None if "--disable-sni" in args else "localhost")
        talk(proc, sock, conn, b"0123456789" * 40)
        conn.send_data(b"9876543210" * 5000 + b"end of the answer\n")
        flush(sock, conn)
        proc.wait_for(rb"end of the answer")
        close_server(proc, sock, conn)
        assert proc.output.count(b"9876543210") == 5000
        assert b"(TLS1.3-X.509)" in proc.output


def test_server_exporter(pki: PKI) -> None:
    with listener() as (lsock, port), \
            GNUTLS.client(port, pki.cafile, args=("--keymatexport", "EXPERIMENTAL-siotls",
                                                  "--keymatexportsize", "32")) as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki)
        run_server(sock, conn)
        keymat = proc.wait_for(rb"Key material: ([0-9A-Fa-f]{64})").group(1).decode()
        assert conn.export_keying_material(b"EXPERIMENTAL-siotls", b"", 32).hex() == \
            keymat.lower()
        talk(proc, sock, conn, b"exporter")
        close_server(proc, sock, conn)


