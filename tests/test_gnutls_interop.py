"""Interoperability with GnuTLS: siotls against ``gnutls-serv`` and ``gnutls-cli``.

The peers run as subprocesses (see ``gnutls_peer``). ``-d 4`` makes GnuTLS log
its handshake: the tests read the KeyUpdate messages it sends and receives
(``sending key update (1)``, ``received TLS 1.3 key update (0)``) and whether it
saw a HelloRetryRequest from there.
"""

from __future__ import annotations

import base64
import re
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from certs import CA, Leaf, make_ca, write_pem_files
from gnutls_peer import (
    GNUTLS_CLI,
    GNUTLS_SERV,
    TIMEOUT,
    TLS13,
    GnuTLSProcess,
    accept,
    connect,
    flush,
    gnutls_cli,
    gnutls_serv,
    gnutls_version,
    listener,
    read_until,
    read_until_close,
    run_client,
    run_server,
)
from helpers import client_config, server_config
from siotls import TLSConfiguration, TLSConnection, TLSFatalAlert, TLSPeerAlert
from siotls.core.errors import (
    CertificateRequired,
    HandshakeFailure,
    ProtocolVersion,
    UnknownCA,
)
from siotls.iana import AlertDescription, CipherSuites, NamedGroup, SignatureScheme

pytestmark = [
    pytest.mark.timeout(30),
    pytest.mark.skipif(GNUTLS_SERV is None or GNUTLS_CLI is None,
                       reason="no gnutls-serv/gnutls-cli on PATH (Debian: gnutls-bin)"),
]

#: siotls suite -> the GnuTLS cipher name (priority ``+AES-128-GCM``, description).
SUITES = {
    CipherSuites.TLS_AES_128_GCM_SHA256: "AES-128-GCM",
    CipherSuites.TLS_AES_256_GCM_SHA384: "AES-256-GCM",
    CipherSuites.TLS_CHACHA20_POLY1305_SHA256: "CHACHA20-POLY1305",
}
GROUPS = {
    NamedGroup.x25519: "X25519",
    NamedGroup.secp256r1: "SECP256R1",
    NamedGroup.secp384r1: "SECP384R1",
    NamedGroup.secp521r1: "SECP521R1",
    NamedGroup.x448: "X448",
}
#: Leaf key type -> the CertificateVerify scheme GnuTLS and siotls settle on.
KEY_TYPE_SCHEMES = {
    "ecdsa-p256": SignatureScheme.ecdsa_secp256r1_sha256,
    "ecdsa-p384": SignatureScheme.ecdsa_secp384r1_sha384,
    "rsa-2048": SignatureScheme.rsa_pss_rsae_sha256,
    "ed25519": SignatureScheme.ed25519,
    "ed448": SignatureScheme.ed448,
}
DEBUG = ("-d", "4")  # handshake messages on stderr
ALERTS = ("-d", "5")  # and records, alerts included
VERIFY = ("--sni-hostname", "localhost", "--verify-hostname", "localhost")


def suite_priority(suite: CipherSuites) -> str:
    return f"{TLS13}:-CIPHER-ALL:+{SUITES[suite]}"


def group_priority(*groups: NamedGroup) -> str:
    return TLS13 + ":-GROUP-ALL" + "".join(f":+GROUP-{GROUPS[g]}" for g in groups)


def key_update(direction: str, requested: bool) -> bytes:
    """The ``-d 4`` line of a KeyUpdate GnuTLS sends or receives."""
    if direction == "sent":
        return rb"sending key update \(%d\)" % requested
    return rb"received TLS 1\.3 key update \(%d\)" % requested


def received_alert(description: AlertDescription) -> bytes:
    """The ``-d 5`` line of a fatal alert GnuTLS receives."""
    return rb"Alert\[2\|%d\] - [^\n]* - was received" % description


class PKI:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ca = make_ca()
        self.other_ca = make_ca(name="siotls gnutls other CA")
        self.leaf = self.ca.issue()
        self.cert, self.key, self.cafile = write_pem_files(tmp, self.leaf, self.ca)
        _, _, self.other_cafile = write_pem_files(tmp, self.other_ca.issue(), self.other_ca)

    def files(self, leaf: Leaf, ca: CA | None = None) -> tuple[Path, Path, Path]:
        return write_pem_files(self.tmp, leaf, ca)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("gnutls"))


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


def new_client(pki: PKI, **kwargs: Any) -> TLSConnection:
    return TLSConnection(client_config(pki.ca, **kwargs), server_hostname="localhost")


def new_server(pki: PKI, leaf: Leaf | None = None, **kwargs: Any) -> TLSConnection:
    return TLSConnection(server_config(leaf or pki.leaf, **kwargs))


def test_gnutls_version(record_property: Callable[[str, object], None]) -> None:
    version = gnutls_version()
    record_property("gnutls_version", version)
    print(version)
    assert re.match(r"gnutls-cli \d+\.\d+", version)


# ---------------------------------------------------------------------------------------
# siotls client, gnutls-serv --echo
# ---------------------------------------------------------------------------------------
def echo(sock: socket.socket, conn: TLSConnection, line: bytes) -> None:
    """Send ``line`` to ``gnutls-serv --echo`` and check it comes back."""
    conn.send_data(line + b"\n")
    assert read_until(sock, conn, b"\n") == line + b"\n"


def close_client(sock: socket.socket, conn: TLSConnection) -> None:
    """close_notify both ways (gnutls-serv answers ours), then we close the socket.

    gnutls-serv serves the next connection: the fixture terminates it.
    """
    conn.close_sending_end()
    assert read_until_close(sock, conn) == b""
    assert conn.close_notify_received
    sock.close()


@pytest.mark.parametrize("suite", SUITES, ids=SUITES.values())
def test_client_cipher_suites(pki: PKI, suite: CipherSuites) -> None:
    with gnutls_serv(pki.cert, pki.key, priority=suite_priority(suite)) as (proc, port), \
            connect(port) as sock:
        conn = new_client(pki)
        run_client(sock, conn)
        assert conn.nconfig.cipher_suite == suite
        assert conn.nconfig.key_exchange == NamedGroup.x25519
        assert not conn.nconfig.hello_retry_request
        assert conn.nconfig.peer_verified
        echo(sock, conn, b"hello gnutls")
        echo(sock, conn, b"x" * 40000)  # several records each way
        close_client(sock, conn)
        proc.wait_for(rb"- Cipher: " + SUITES[suite].encode())
        proc.wait_for(rb"- Version: TLS1\.3")


@pytest.mark.parametrize("group", GROUPS, ids=GROUPS.values())
def test_client_groups(pki: PKI, group: NamedGroup) -> None:
    """gnutls-serv accepts one group; siotls key-shares x25519, the others need an HRR."""
    with gnutls_serv(pki.cert, pki.key, priority=group_priority(group)) as (proc, port), \
            connect(port) as sock:
        conn = new_client(pki)
        run_client(sock, conn)
        assert conn.nconfig.key_exchange == group
        assert conn.nconfig.hello_retry_request == (group != NamedGroup.x25519)
        echo(sock, conn, b"group " + GROUPS[group].encode())
        close_client(sock, conn)
        if group != NamedGroup.x25519:
            proc.wait_for(rb"Using curve: " + GROUPS[group].encode())


@pytest.mark.parametrize("suite", SUITES, ids=SUITES.values())
@pytest.mark.parametrize("middlebox", [True, False], ids=["middlebox", "no-middlebox"])
def test_client_hello_retry_request(pki: PKI, suite: CipherSuites, middlebox: bool) -> None:
    """An HRR under each suite: the transcript restarts with a message_hash."""
    priority = group_priority(NamedGroup.secp256r1) + f":-CIPHER-ALL:+{SUITES[suite]}"
    with gnutls_serv(pki.cert, pki.key, *DEBUG, priority=priority) as (proc, port), \
            connect(port) as sock:
        conn = new_client(pki, middlebox_compatibility=middlebox,
                          key_exchanges=[NamedGroup.x25519, NamedGroup.secp384r1,
                                         NamedGroup.secp256r1])
        run_client(sock, conn)
        assert conn.nconfig.hello_retry_request
        assert conn.nconfig.key_exchange == NamedGroup.secp256r1
        assert conn.nconfig.cipher_suite == suite
        echo(sock, conn, b"after a hello retry request")
        close_client(sock, conn)
        assert proc.wait_for_count(rb"CLIENT HELLO \(1\) was received", 2) == 2


@pytest.mark.parametrize("options", [
    {"record_padding": lambda content_type, length: 100},
    {"max_fragment_size": 64},
    {"middlebox_compatibility": False},
], ids=["padding", "small-records", "no-middlebox"])
def test_client_record_options(pki: PKI, options: dict[str, Any]) -> None:
    with gnutls_serv(pki.cert, pki.key) as (_, port), connect(port) as sock:
        conn = new_client(pki, **options)
        run_client(sock, conn)
        echo(sock, conn, b"0123456789" * 100)
        close_client(sock, conn)


@pytest.mark.parametrize("key_type", KEY_TYPE_SCHEMES)
def test_client_server_key_types(pki: PKI, key_type: str) -> None:
    cert, key, _ = pki.files(pki.ca.issue(key_type=key_type))
    with gnutls_serv(cert, key) as (_, port), connect(port) as sock:
        conn = new_client(pki)
        run_client(sock, conn)
        assert conn.nconfig.peer_signature_algorithm == KEY_TYPE_SCHEMES[key_type]
        assert conn.nconfig.peer_verified
        echo(sock, conn, key_type.encode())
        close_client(sock, conn)


def test_client_rsa_pss_server_certificate(pki: PKI, pss_leaf: PSSLeaf) -> None:
    """An id-RSASSA-PSS key signs with rsa_pss_pss_*, not rsa_pss_rsae_*."""
    with gnutls_serv(pss_leaf.cert, pss_leaf.key) as (_, port), connect(port) as sock:
        conn = new_client(pki)
        run_client(sock, conn)
        assert conn.nconfig.peer_signature_algorithm == SignatureScheme.rsa_pss_pss_sha256
        assert conn.nconfig.peer_verified
        echo(sock, conn, b"rsa-pss")
        close_client(sock, conn)


@pytest.mark.parametrize(("client_alpn", "expected"), [
    ([b"http/1.1", b"h2"], b"http/1.1"),  # gnutls-serv follows the client's order
    ([b"http/1.1"], b"http/1.1"),
    ([b"spdy/3"], None),  # without --alpn-fatal gnutls-serv goes on without ALPN
])
def test_client_alpn(pki: PKI, client_alpn: list[bytes], expected: bytes | None) -> None:
    with gnutls_serv(pki.cert, pki.key, "--alpn", "h2", "--alpn", "http/1.1") \
            as (proc, port), connect(port) as sock:
        conn = new_client(pki, alpn=client_alpn)
        run_client(sock, conn)
        assert conn.nconfig.alpn == expected
        echo(sock, conn, b"alpn")
        close_client(sock, conn)
        if expected is not None:
            proc.wait_for(rb"Application protocol: " + re.escape(expected))


def test_client_alpn_fatal(pki: PKI) -> None:
    with gnutls_serv(pki.cert, pki.key, "--alpn", "h2", "--alpn-fatal") as (_, port), \
            connect(port) as sock:
        conn = new_client(pki, alpn=[b"spdy/3"])
        with pytest.raises(TLSPeerAlert) as excinfo:
            run_client(sock, conn)
        assert excinfo.value.description == AlertDescription.NO_APPLICATION_PROTOCOL


@pytest.mark.parametrize(("priority", "client_kwargs"), [
    (f"{TLS13}:-CIPHER-ALL:+AES-128-CCM", {}),
    (f"{TLS13}:-CIPHER-ALL:+AES-256-GCM",
     {"cipher_suites": [CipherSuites.TLS_AES_128_GCM_SHA256]}),
    (group_priority(NamedGroup.secp256r1), {"key_exchanges": [NamedGroup.x448]}),
], ids=["ccm-only", "cipher-suite", "group"])
def test_client_nothing_in_common(pki: PKI, priority: str,
                                  client_kwargs: dict[str, Any]) -> None:
    with gnutls_serv(pki.cert, pki.key, priority=priority) as (_, port), \
            connect(port) as sock:
        conn = new_client(pki, **client_kwargs)
        with pytest.raises(TLSPeerAlert) as excinfo:
            run_client(sock, conn)
        assert excinfo.value.description == AlertDescription.HANDSHAKE_FAILURE


def test_client_unknown_ca(pki: PKI) -> None:
    with gnutls_serv(pki.cert, pki.key, *ALERTS) as (proc, port), connect(port) as sock:
        conn = TLSConnection(client_config(pki.other_ca), server_hostname="localhost")
        with pytest.raises(UnknownCA):
            run_client(sock, conn)
        proc.wait_for(received_alert(AlertDescription.UNKNOWN_CA))


def test_client_wrong_hostname(pki: PKI) -> None:
    with gnutls_serv(pki.cert, pki.key, *ALERTS) as (proc, port), connect(port) as sock:
        conn = TLSConnection(client_config(pki.ca), server_hostname="example.com")
        with pytest.raises(TLSFatalAlert) as excinfo:
            run_client(sock, conn)
        assert conn.is_failed()
        proc.wait_for(received_alert(excinfo.value.description))


def test_client_intermediate(pki: PKI) -> None:
    leaf = pki.ca.issue(intermediate=True)
    cert, key, _ = pki.files(leaf)  # gnutls-serv sends every certificate of the file
    with gnutls_serv(cert, key) as (_, port), connect(port) as sock:
        conn = new_client(pki)
        run_client(sock, conn)
        assert conn.nconfig.peer_certificate_chain == tuple(leaf.chain_der)
        echo(sock, conn, b"through an intermediate")
        close_client(sock, conn)


def test_client_tls12_allowed(pki: PKI) -> None:
    """gnutls-serv with its default priorities (TLS 1.2 too) settles on TLS 1.3."""
    with gnutls_serv(pki.cert, pki.key, priority="NORMAL") as (proc, port), \
            connect(port) as sock:
        conn = new_client(pki)
        run_client(sock, conn)
        echo(sock, conn, b"default priorities")
        close_client(sock, conn)
        proc.wait_for(rb"- Version: TLS1\.3")


@pytest.mark.parametrize("tickets", [True, False], ids=["tickets", "noticket"])
def test_client_session_tickets(pki: PKI, tickets: bool) -> None:
    """gnutls-serv sends NewSessionTickets after the handshake, unless --noticket."""
    args = () if tickets else ("--noticket",)
    with gnutls_serv(pki.cert, pki.key, *args) as (_, port), connect(port) as sock:
        conn = new_client(pki)
        run_client(sock, conn)
        echo(sock, conn, b"tickets")  # the tickets come before the echo
        assert bool(conn.session_tickets) == tickets
        close_client(sock, conn)


@pytest.mark.parametrize("requested", [True, False], ids=["requested", "not-requested"])
def test_client_key_update(pki: PKI, requested: bool) -> None:
    """siotls updates its keys three times; gnutls-serv answers the requested ones."""
    with gnutls_serv(pki.cert, pki.key, *DEBUG) as (proc, port), connect(port) as sock:
        conn = new_client(pki)
        run_client(sock, conn)
        for i in range(3):
            conn.update_keys(request_peer_update=requested)
            echo(sock, conn, b"ping %d" % i)
        close_client(sock, conn)
        # gnutls-serv logs the KeyUpdate it receives, then its answer if requested
        assert proc.wait_for_count(key_update("received", requested), 3) == 3
        if requested:
            assert proc.wait_for_count(key_update("sent", False), 3) == 3
        else:
            assert not re.search(key_update("sent", False), proc.output)


def test_client_channel_binding(pki: PKI) -> None:
    """gnutls-serv prints the tls-exporter channel binding (RFC 9266) and the
    ``--keymatexport`` exporter value: siotls computes the same."""
    with gnutls_serv(pki.cert, pki.key, "--keymatexport", "EXPERIMENTAL-siotls",
                     "--keymatexportsize", "20") as (proc, port), connect(port) as sock:
        conn = new_client(pki)
        run_client(sock, conn)
        echo(sock, conn, b"exporter")
        binding = proc.wait_for(rb"'tls-exporter': ([0-9a-f]{64})").group(1).decode()
        assert conn.export_keying_material(b"EXPORTER-Channel-Binding", b"", 32).hex() == \
            binding
        keymat = proc.wait_for(rb"Key material: ([0-9A-Fa-f]{40})").group(1).decode()
        assert conn.export_keying_material(b"EXPERIMENTAL-siotls", b"", 20).hex() == \
            keymat.lower()
        close_client(sock, conn)


CLIENT_CERT_ARGS = ("--require-client-cert", "--verify-client-cert")


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "rsa-2048", "ed25519"])
def test_client_certificate(pki: PKI, key_type: str) -> None:
    leaf = pki.ca.issue(key_type=key_type, client=True)
    with gnutls_serv(pki.cert, pki.key, *CLIENT_CERT_ARGS, "--x509cafile", pki.cafile) \
            as (proc, port), connect(port) as sock:
        conn = new_client(pki, private_key=leaf.key_der, certificate_chain=leaf.chain_der)
        run_client(sock, conn)
        assert conn.nconfig.signature_algorithm == KEY_TYPE_SCHEMES[key_type]
        echo(sock, conn, b"authenticated")
        close_client(sock, conn)
        proc.wait_for(rb"The certificate is trusted")


def test_client_rsa_pss_client_certificate(pki: PKI, pss_leaf: PSSLeaf) -> None:
    with gnutls_serv(pki.cert, pki.key, *CLIENT_CERT_ARGS, "--x509cafile", pki.cafile) \
            as (proc, port), connect(port) as sock:
        conn = new_client(pki, private_key=pss_leaf.key_der,
                          certificate_chain=[pss_leaf.cert_der])
        run_client(sock, conn)
        assert conn.nconfig.signature_algorithm == SignatureScheme.rsa_pss_pss_sha256
        echo(sock, conn, b"authenticated")
        close_client(sock, conn)
        proc.wait_for(rb"The certificate is trusted")


def test_client_certificate_missing(pki: PKI) -> None:
    """TLS 1.3: the client finishes first, then reads gnutls-serv's alert."""
    with gnutls_serv(pki.cert, pki.key, *CLIENT_CERT_ARGS, "--x509cafile", pki.cafile) \
            as (_, port), connect(port) as sock:
        conn = new_client(pki)
        with pytest.raises(TLSPeerAlert) as excinfo:
            run_client(sock, conn)
            conn.send_data(b"no certificate\n")
            read_until(sock, conn, b"\n")
        assert excinfo.value.description == AlertDescription.CERTIFICATE_REQUIRED


def test_client_certificate_unknown_ca(pki: PKI) -> None:
    leaf = pki.other_ca.issue(client=True)
    with gnutls_serv(pki.cert, pki.key, *CLIENT_CERT_ARGS, "--x509cafile", pki.cafile) \
            as (_, port), connect(port) as sock:
        conn = new_client(pki, private_key=leaf.key_der, certificate_chain=leaf.chain_der)
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
def talk(proc: GnuTLSProcess, sock: socket.socket, conn: TLSConnection, line: bytes) -> None:
    """One line from gnutls-cli to siotls, and an answer back.

    The line must not start with ``^``: with ``--inline-commands`` it may be a command.
    """
    assert not line.startswith(b"^")
    start = len(proc.output)
    proc.write(line + b"\n")
    read_until(sock, conn, line + b"\n")
    conn.send_data(b"answer to " + line + b"\n")
    flush(sock, conn)
    proc.wait_for(rb"answer to " + re.escape(line), start=start)


def close_server(proc: GnuTLSProcess, sock: socket.socket, conn: TLSConnection) -> None:
    """gnutls-cli sends close_notify at the end of its stdin; we answer, it exits 0."""
    proc.close_stdin()
    read_until_close(sock, conn)
    assert conn.close_notify_received
    conn.close_sending_end()
    flush(sock, conn)
    sock.close()
    assert proc.wait() == 0


@pytest.mark.parametrize("suite", SUITES, ids=SUITES.values())
def test_server_cipher_suites(pki: PKI, suite: CipherSuites) -> None:
    with listener() as (lsock, port), \
            gnutls_cli(port, "--x509cafile", pki.cafile, *VERIFY,
                       priority=suite_priority(suite)) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        run_server(sock, conn)
        assert conn.nconfig.cipher_suite == suite
        assert conn.nconfig.server_name == "localhost"
        assert conn.nconfig.key_exchange == NamedGroup.x25519
        assert not conn.nconfig.hello_retry_request
        talk(proc, sock, conn, b"hello siotls")
        talk(proc, sock, conn, b"0" * 5000)
        close_server(proc, sock, conn)
        assert b"- Status: The certificate is trusted." in proc.output
        assert b"(TLS1.3-X.509)-(ECDHE-X25519)-(ECDSA-SECP256R1-SHA256)-(%s)" % \
            SUITES[suite].encode() in proc.output


@pytest.mark.parametrize("group", GROUPS, ids=GROUPS.values())
def test_server_groups(pki: PKI, group: NamedGroup) -> None:
    with listener() as (lsock, port), \
            gnutls_cli(port, "--x509cafile", pki.cafile, *VERIFY,
                       priority=group_priority(group)) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        run_server(sock, conn)
        assert conn.nconfig.key_exchange == group
        assert not conn.nconfig.hello_retry_request
        talk(proc, sock, conn, b"group")
        close_server(proc, sock, conn)
        assert b"-(ECDHE-%s)-" % GROUPS[group].encode() in proc.output


@pytest.mark.parametrize("suite", SUITES, ids=SUITES.values())
def test_server_hello_retry_request(pki: PKI, suite: CipherSuites) -> None:
    """gnutls-cli key-shares X25519 only (``--single-key-share``); siotls wants P-384."""
    priority = group_priority(NamedGroup.x25519, NamedGroup.secp384r1) + \
        f":-CIPHER-ALL:+{SUITES[suite]}"
    with listener() as (lsock, port), \
            gnutls_cli(port, "--x509cafile", pki.cafile, *VERIFY, *DEBUG,
                       "--single-key-share", priority=priority) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, key_exchanges=[NamedGroup.secp384r1])
        run_server(sock, conn)
        assert conn.nconfig.hello_retry_request
        assert conn.nconfig.key_exchange == NamedGroup.secp384r1
        assert conn.nconfig.cipher_suite == suite
        talk(proc, sock, conn, b"after a hello retry request")
        close_server(proc, sock, conn)
        assert re.search(rb"HELLO RETRY REQUEST \(\d+\) was received", proc.output)
        assert b"-(ECDHE-SECP384R1)-" in proc.output


@pytest.mark.parametrize("key_type", KEY_TYPE_SCHEMES)
def test_server_key_types(pki: PKI, key_type: str) -> None:
    leaf = pki.ca.issue(key_type=key_type)
    with listener() as (lsock, port), \
            gnutls_cli(port, "--x509cafile", pki.cafile, *VERIFY) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, leaf)
        run_server(sock, conn)
        assert conn.nconfig.signature_algorithm == KEY_TYPE_SCHEMES[key_type]
        talk(proc, sock, conn, b"the " + key_type.encode())
        close_server(proc, sock, conn)
        assert b"- Status: The certificate is trusted." in proc.output


def test_server_rsa_pss_certificate(pki: PKI, pss_leaf: PSSLeaf) -> None:
    with listener() as (lsock, port), \
            gnutls_cli(port, "--x509cafile", pki.cafile, *VERIFY) as proc, \
            accept(lsock) as sock:
        conn = TLSConnection(TLSConfiguration("server", private_key=pss_leaf.key_der,
                                              certificate_chain=[pss_leaf.cert_der]))
        run_server(sock, conn)
        assert conn.nconfig.signature_algorithm == SignatureScheme.rsa_pss_pss_sha256
        talk(proc, sock, conn, b"rsa-pss")
        close_server(proc, sock, conn)
        assert b"- Status: The certificate is trusted." in proc.output
        assert b"-(RSA-PSS-SHA256)-" in proc.output


@pytest.mark.parametrize("verify", [("--verify-hostname", "example.com"), ()],
                         ids=["wrong-hostname", "unknown-ca"])
def test_server_certificate_rejected(pki: PKI, verify: tuple[str, ...]) -> None:
    """gnutls-cli refuses our certificate with a bad_certificate alert and exits 1."""
    cafile = pki.cafile if verify else pki.other_cafile
    with listener() as (lsock, port), \
            gnutls_cli(port, "--x509cafile", cafile, "--sni-hostname", "localhost",
                       *(verify or VERIFY[2:])) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        with pytest.raises(TLSPeerAlert) as excinfo:
            run_server(sock, conn)
        assert excinfo.value.description == AlertDescription.BAD_CERTIFICATE
        sock.close()
        assert proc.wait() != 0
        assert b"- Status: The certificate is NOT trusted." in proc.output


@pytest.mark.parametrize("command", [b"^rekey^", b"^rekey1^"])
def test_server_key_update_from_gnutls(pki: PKI, command: bytes) -> None:
    """``^rekey^`` requests an update (siotls answers), ``^rekey1^`` does not."""
    requested = command == b"^rekey^"
    with listener() as (lsock, port), \
            gnutls_cli(port, "--x509cafile", pki.cafile, *VERIFY, *DEBUG,
                       "--inline-commands") as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        run_server(sock, conn)
        talk(proc, sock, conn, b"before")
        for i in range(3):
            start = len(proc.output)
            proc.write(command + b"\n")
            proc.wait_for(rb"- Rekey was completed", start=start)
            talk(proc, sock, conn, b"after %d" % i)  # our answer comes after our KeyUpdate
        close_server(proc, sock, conn)
        sent = re.findall(key_update("sent", requested), proc.output)
        answers = re.findall(key_update("received", False), proc.output)
        assert len(sent) == 3
        assert len(answers) == (3 if requested else 0)


def test_server_key_update_to_gnutls(pki: PKI) -> None:
    with listener() as (lsock, port), \
            gnutls_cli(port, "--x509cafile", pki.cafile, *VERIFY, *DEBUG) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        run_server(sock, conn)
        talk(proc, sock, conn, b"before")
        conn.update_keys(request_peer_update=True)
        flush(sock, conn)
        proc.wait_for(key_update("received", True))
        talk(proc, sock, conn, b"after the update")  # gnutls-cli answers before its data
        proc.wait_for(key_update("sent", False))
        conn.update_keys(request_peer_update=False)
        talk(proc, sock, conn, b"after the second update")
        close_server(proc, sock, conn)
        assert len(re.findall(key_update("received", False), proc.output)) == 1


@pytest.mark.parametrize(("server_alpn", "client_alpn", "expected"), [
    ([b"http/1.1", b"h2"], ["h2", "http/1.1"], b"http/1.1"),  # the server's order wins
    ([b"h2"], ["h2", "http/1.1"], b"h2"),
    (None, ["h2"], None),
])
def test_server_alpn(pki: PKI, server_alpn: list[bytes] | None, client_alpn: list[str],
                     expected: bytes | None) -> None:
    alpn_args = [arg for name in client_alpn for arg in ("--alpn", name)]
    with listener() as (lsock, port), \
            gnutls_cli(port, "--x509cafile", pki.cafile, *VERIFY, *alpn_args) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, alpn=server_alpn)
        run_server(sock, conn)
        assert conn.nconfig.alpn == expected
        talk(proc, sock, conn, b"alpn")
        close_server(proc, sock, conn)
        if expected is None:
            assert b"Application protocol" not in proc.output
        else:
            assert b"- Application protocol: " + expected in proc.output


def test_server_intermediate(pki: PKI) -> None:
    leaf = pki.ca.issue(intermediate=True)
    with listener() as (lsock, port), \
            gnutls_cli(port, "--x509cafile", pki.cafile, *VERIFY) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, leaf)
        run_server(sock, conn)
        talk(proc, sock, conn, b"through an intermediate")
        close_server(proc, sock, conn)
        assert b"- Got a certificate list of 2 certificates." in proc.output
        assert b"- Status: The certificate is trusted." in proc.output


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
            gnutls_cli(port, "--x509cafile", pki.cafile, *VERIFY, *args,
                       priority="NORMAL") as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
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
            gnutls_cli(port, "--x509cafile", pki.cafile, *VERIFY,
                       "--keymatexport", "EXPERIMENTAL-siotls",
                       "--keymatexportsize", "32") as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        run_server(sock, conn)
        keymat = proc.wait_for(rb"Key material: ([0-9A-Fa-f]{64})").group(1).decode()
        assert conn.export_keying_material(b"EXPERIMENTAL-siotls", b"", 32).hex() == \
            keymat.lower()
        talk(proc, sock, conn, b"exporter")
        close_server(proc, sock, conn)


def test_server_large_transfer(pki: PKI) -> None:
    line = b"0123456789" * 99 + b"\n"
    with listener() as (lsock, port), \
            gnutls_cli(port, "--x509cafile", pki.cafile, *VERIFY) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        run_server(sock, conn)
        proc.write(line * 100)
        assert read_until(sock, conn, line * 100) == line * 100
        conn.send_data(b"9876543210" * 20000 + b"end of the big answer\n")
        flush(sock, conn)
        proc.wait_for(rb"end of the big answer")
        assert proc.output.count(b"9876543210") == 20000
        close_server(proc, sock, conn)


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "rsa-2048", "ed25519"])
def test_server_client_certificate(pki: PKI, key_type: str) -> None:
    leaf = pki.ca.issue(key_type=key_type, client=True)
    cert, key, _ = pki.files(leaf)
    with listener() as (lsock, port), \
            gnutls_cli(port, "--x509cafile", pki.cafile, *VERIFY,
                       "--x509certfile", cert, "--x509keyfile", key) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, truststore=pki.ca.truststore(),
                          require_peer_authentication=True)
        run_server(sock, conn)
        assert conn.nconfig.peer_verified
        assert conn.nconfig.peer_certificate_chain == tuple(leaf.chain_der)
        assert conn.nconfig.peer_signature_algorithm == KEY_TYPE_SCHEMES[key_type]
        talk(proc, sock, conn, b"authenticated")
        close_server(proc, sock, conn)
        assert b"- Successfully sent 1 certificate(s) to server." in proc.output


def test_server_client_certificate_missing(pki: PKI) -> None:
    with listener() as (lsock, port), \
            gnutls_cli(port, "--x509cafile", pki.cafile, *VERIFY, *ALERTS) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, truststore=pki.ca.truststore(),
                          require_peer_authentication=True)
        with pytest.raises(CertificateRequired):
            run_server(sock, conn)
        sock.close()
        assert proc.wait() != 0
        assert re.search(received_alert(AlertDescription.CERTIFICATE_REQUIRED), proc.output)


@pytest.mark.parametrize("priority", [
    f"{TLS13}:-CIPHER-ALL:+AES-128-CCM",  # TLS_AES_128_CCM_SHA256
    f"{TLS13}:-GROUP-ALL:+GROUP-FFDHE2048",
    f"{TLS13}:-SIGN-ALL:+SIGN-RSA-PSS-RSAE-SHA256",  # our P-256 key cannot sign that
], ids=["cipher-suite", "group", "signature-algorithm"])
def test_server_nothing_in_common(pki: PKI, priority: str) -> None:
    with listener() as (lsock, port), \
            gnutls_cli(port, "--x509cafile", pki.cafile, *VERIFY, *ALERTS,
                       priority=priority) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        with pytest.raises(HandshakeFailure):
            run_server(sock, conn)
        sock.close()
        assert proc.wait() != 0
        assert re.search(received_alert(AlertDescription.HANDSHAKE_FAILURE), proc.output)


def test_server_ignores_unknown_key_share(pki: PKI) -> None:
    """gnutls-cli key-shares ffdhe2048 only (which siotls lacks): HRR to X25519."""
    with listener() as (lsock, port), \
            gnutls_cli(port, "--x509cafile", pki.cafile, *VERIFY, "--single-key-share",
                       priority=f"{TLS13}:-GROUP-ALL:+GROUP-FFDHE2048:+GROUP-X25519") \
            as proc, accept(lsock) as sock:
        conn = new_server(pki)
        run_server(sock, conn)
        assert conn.nconfig.hello_retry_request
        assert conn.nconfig.key_exchange == NamedGroup.x25519
        talk(proc, sock, conn, b"after ffdhe")
        close_server(proc, sock, conn)


def test_server_tls12_client(pki: PKI) -> None:
    with listener() as (lsock, port), \
            gnutls_cli(port, "--x509cafile", pki.cafile, *VERIFY, *ALERTS,
                       priority="NORMAL:-VERS-ALL:+VERS-TLS1.2") as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        with pytest.raises(ProtocolVersion):
            run_server(sock, conn)
        sock.close()
        assert proc.wait() != 0
        assert re.search(received_alert(AlertDescription.PROTOCOL_VERSION), proc.output)
