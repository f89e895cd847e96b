"""Interoperability with OpenSSL: siotls against ``openssl s_server`` and ``s_client``.

The peers run as subprocesses on 127.0.0.1 (see ``openssl_peer``). ``-msg`` makes
openssl print every handshake message it sends (``>>>``) and receives (``<<<``),
which lets the tests check what went on the wire, e.g. that a KeyUpdate was
answered with ``update_not_requested`` (``18 00 00 01 00``).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from certs import CA, Leaf, make_ca, write_pem_files
from helpers import client_config, server_config
from openssl_peer import (
    OPENSSL,
    OpenSSLProcess,
    accept,
    connect,
    drive,
    flush,
    listener,
    openssl_version,
    read_until,
    read_until_close,
    run_client,
    run_server,
    s_client,
    s_server,
)
from siotls import RaggedEOF, TLSConnection, TLSFatalAlert, TLSPeerAlert
from siotls.core.errors import (
    CertificateRequired,
    HandshakeFailure,
    NoApplicationProtocol,
    ProtocolVersion,
    UnknownCA,
)
from siotls.iana import AlertDescription, CipherSuites, NamedGroup, SignatureScheme


def _unusable_reason() -> str | None:
    if OPENSSL is None:
        return "no openssl binary on PATH"
    version = openssl_version()
    match = re.match(r"OpenSSL (\d+)\.(\d+)\.(\d+)", version)
    if match is None or tuple(map(int, match.groups())) < (1, 1, 1):
        return f"{version}: OpenSSL >= 1.1.1 is needed for TLS 1.3"
    return None


pytestmark = [
    pytest.mark.openssl,
    pytest.mark.timeout(30),
    pytest.mark.skipif(_unusable_reason() is not None, reason=str(_unusable_reason())),
]

SUITES = {
    CipherSuites.TLS_AES_128_GCM_SHA256: "TLS_AES_128_GCM_SHA256",
    CipherSuites.TLS_AES_256_GCM_SHA384: "TLS_AES_256_GCM_SHA384",
    CipherSuites.TLS_CHACHA20_POLY1305_SHA256: "TLS_CHACHA20_POLY1305_SHA256",
}
GROUPS = {
    NamedGroup.x25519: "X25519",
    NamedGroup.secp256r1: "P-256",
    NamedGroup.secp384r1: "P-384",
    NamedGroup.secp521r1: "P-521",
    NamedGroup.x448: "X448",
}
#: Leaf key type -> the CertificateVerify scheme OpenSSL and siotls settle on.
KEY_TYPE_SCHEMES = {
    "ecdsa-p256": SignatureScheme.ecdsa_secp256r1_sha256,
    "ecdsa-p384": SignatureScheme.ecdsa_secp384r1_sha384,
    "ecdsa-p521": SignatureScheme.ecdsa_secp521r1_sha512,
    "rsa-2048": SignatureScheme.rsa_pss_rsae_sha256,
    "ed25519": SignatureScheme.ed25519,
    "ed448": SignatureScheme.ed448,
}
#: A KeyUpdate as printed by ``-msg``; the byte after ``18 00 00 01`` is request_update.
KEY_UPDATE = rb"%s TLS 1\.3, Handshake \[length 0005\], KeyUpdate\s+18 00 00 01 0%d"


def key_update(direction: bytes, requested: bool) -> bytes:
    return KEY_UPDATE % (direction, int(requested))


class PKI:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ca = make_ca()
        self.other_ca = make_ca(name="siotls openssl other CA")
        self.leaf = self.ca.issue()
        self.cert, self.key, self.cafile = write_pem_files(tmp, self.leaf, self.ca)
        _, _, self.other_cafile = write_pem_files(tmp, self.other_ca.issue(), self.other_ca)

    def files(self, leaf: Leaf, ca: CA | None = None) -> tuple[Path, Path, Path]:
        return write_pem_files(self.tmp, leaf, ca)

    def intermediates(self, leaf: Leaf) -> Path:
        """The chain without the leaf, for ``-cert_chain`` (``-cert`` reads one
        certificate from its file)."""
        path = self.tmp / f"{leaf.cert.serial_number:x}-intermediates.pem"
        path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in leaf.chain[1:]))
        return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("openssl"))


def new_client(pki: PKI, **kwargs: Any) -> TLSConnection:
    return TLSConnection(client_config(pki.ca, **kwargs), server_hostname="localhost")


def new_server(pki: PKI, leaf: Leaf | None = None, **kwargs: Any) -> TLSConnection:
    return TLSConnection(server_config(leaf or pki.leaf, **kwargs))


def echo(sock: socket.socket, conn: TLSConnection, line: bytes) -> None:
    """Send ``line`` to ``s_server -rev`` and check the reversed answer."""
    conn.send_data(line + b"\n")
    assert read_until(sock, conn, b"\n") == line[::-1] + b"\n"


def close_client(proc: OpenSSLProcess, sock: socket.socket, conn: TLSConnection) -> None:
    """close_notify both ways, then s_server (``-naccept 1``) exits.

    We close the socket first: s_server waits up to a second for the peer to close.
    Its exit also flushes the output it buffers (``-msg`` lines, for instance).
    """
    conn.close_sending_end()
    assert read_until_close(sock, conn) == b""
    assert conn.close_notify_received
    sock.close()
    assert proc.wait() == 0


S_CLIENT_VERIFY = ("-servername", "localhost", "-verify_return_error",
                   "-verify_hostname", "localhost")


# ---------------------------------------------------------------------------------------
# siotls client, openssl s_server
# ---------------------------------------------------------------------------------------
def test_openssl_version(record_property: Callable[[str, object], None]) -> None:
    version = openssl_version()
    record_property("openssl_version", version)
    print(version)
    assert version.startswith("OpenSSL")


@pytest.mark.parametrize("suite", SUITES, ids=SUITES.values())
@pytest.mark.parametrize("forced_by", ["openssl", "siotls"])
def test_client_cipher_suites(pki: PKI, suite: CipherSuites, forced_by: str) -> None:
    if forced_by == "openssl":
        server_args, client_kwargs = ["-ciphersuites", SUITES[suite]], {}
    else:
        server_args, client_kwargs = [], {"cipher_suites": [suite]}
    with s_server(pki.cert, pki.key, "-rev", "-naccept", "1", *server_args) as (proc, port), \
            connect(port) as sock:
        conn = new_client(pki, **client_kwargs)
        run_client(sock, conn)
        assert conn.nconfig.cipher_suite == suite
        assert conn.nconfig.key_exchange == NamedGroup.x25519
        assert not conn.nconfig.hello_retry_request
        assert conn.nconfig.peer_verified
        echo(sock, conn, b"hello openssl")
        echo(sock, conn, b"x" * 5000)
        close_client(proc, sock, conn)
        proc.wait_for(rb"Ciphersuite: " + SUITES[suite].encode())


def test_client_www(pki: PKI) -> None:
    """``s_server -www`` answers ``GET /`` with a status page, then closes cleanly."""
    with s_server(pki.cert, pki.key, "-www", "-naccept", "1") as (proc, port), \
            connect(port) as sock:
        conn = new_client(pki)
        run_client(sock, conn)
        conn.send_data(b"GET / HTTP/1.0\r\n\r\n")
        page = read_until_close(sock, conn)
        sock.close()
        assert proc.wait() == 0
        assert page.startswith(b"HTTP/1.0 200 ok\r\n")
        assert b"TLSv1.3" in page
        assert b"TLS_AES_128_GCM_SHA256" in page
        assert conn.close_notify_received


@pytest.mark.parametrize("group", GROUPS, ids=GROUPS.values())
def test_client_groups(pki: PKI, group: NamedGroup) -> None:
    """s_server accepts one group; siotls key-shares x25519, so the others need an HRR."""
    with s_server(pki.cert, pki.key, "-rev", "-naccept", "1", "-groups", GROUPS[group]) \
            as (proc, port), connect(port) as sock:
        conn = new_client(pki)
        run_client(sock, conn)
        assert conn.nconfig.key_exchange == group
        assert conn.nconfig.hello_retry_request == (group != NamedGroup.x25519)
        echo(sock, conn, b"group " + GROUPS[group].encode())
        close_client(proc, sock, conn)


@pytest.mark.parametrize("suite", SUITES, ids=SUITES.values())
def test_client_hello_retry_request(pki: PKI, suite: CipherSuites) -> None:
    """HRR under each suite (the transcript restarts with a message_hash of its hash)."""
    with s_server(pki.cert, pki.key, "-rev", "-naccept", "1", "-msg", "-groups", "P-256",
                  "-ciphersuites", SUITES[suite]) as (proc, port), connect(port) as sock:
        conn = new_client(pki, key_exchanges=[NamedGroup.x25519, NamedGroup.secp384r1,
                                              NamedGroup.secp256r1])
        run_client(sock, conn)
        assert conn.nconfig.hello_retry_request
        assert conn.nconfig.key_exchange == NamedGroup.secp256r1
        assert conn.nconfig.cipher_suite == suite
        echo(sock, conn, b"after a hello retry request")
        close_client(proc, sock, conn)
        assert len(re.findall(rb"<<< TLS 1\.3, Handshake \[length \w+\], ClientHello",
                              proc.output)) == 2


@pytest.mark.parametrize("key_type", KEY_TYPE_SCHEMES)
def test_client_server_key_types(pki: PKI, key_type: str) -> None:
    cert, key, _ = pki.files(pki.ca.issue(key_type=key_type))
    with s_server(cert, key, "-rev", "-naccept", "1") as (proc, port), connect(port) as sock:
        conn = new_client(pki)
        run_client(sock, conn)
        assert conn.nconfig.peer_signature_algorithm == KEY_TYPE_SCHEMES[key_type]
        assert conn.nconfig.peer_verified
        echo(sock, conn, key_type.encode())
        close_client(proc, sock, conn)


def test_client_intermediate(pki: PKI) -> None:
    leaf = pki.ca.issue(intermediate=True)
    cert, key, _ = pki.files(leaf)
    with s_server(cert, key, "-cert_chain", pki.intermediates(leaf), "-rev", "-naccept", "1") \
            as (proc, port), connect(port) as sock:
        conn = new_client(pki)
        run_client(sock, conn)
        assert conn.nconfig.peer_certificate_chain == tuple(leaf.chain_der)
        echo(sock, conn, b"through an intermediate")
        close_client(proc, sock, conn)


@pytest.mark.parametrize("options", [
    {"record_padding": lambda content_type, length: 100},
    {"max_fragment_size": 64},
    {"middlebox_compatibility": False},
], ids=["padding", "small-records", "no-middlebox"])
def test_client_record_options(pki: PKI, options: dict[str, Any]) -> None:
    with s_server(pki.cert, pki.key, "-rev", "-naccept", "1") as (proc, port), \
            connect(port) as sock:
        conn = new_client(pki, **options)
        run_client(sock, conn)
        echo(sock, conn, b"0123456789" * 100)
        close_client(proc, sock, conn)


@pytest.mark.parametrize("requested", [True, False], ids=["requested", "not-requested"])
def test_client_key_update(pki: PKI, requested: bool) -> None:
    """s_server in its default mode: what we send shows on its stdout, its stdin comes
    to us. (``-rev`` would do, but it sleeps a second after each KeyUpdate it reads.)"""
    with s_server(pki.cert, pki.key, "-naccept", "1", "-msg") as (proc, port), \
            connect(port) as sock:
        conn = new_client(pki)
        run_client(sock, conn)
        proc.wait_for(rb"CIPHER is")
        for i in range(3):
            conn.update_keys(request_peer_update=requested)
            conn.send_data(b"ping %d\n" % i)
            flush(sock, conn)
            proc.wait_for(b"ping %d" % i)
            proc.write(b"pong %d\n" % i)
            assert read_until(sock, conn, b"pong %d\n" % i) == b"pong %d\n" % i
        close_client(proc, sock, conn)
        received = re.findall(key_update(b"<<<", requested), proc.output)
        answered = re.findall(key_update(b">>>", False), proc.output)
        assert len(received) == 3
        assert len(answered) == (3 if requested else 0)


def test_client_answers_key_update(pki: PKI) -> None:
    """s_server's ``K`` command: siotls answers with update_not_requested."""
    with s_server(pki.cert, pki.key, "-naccept", "1", "-msg") as (proc, port), \
            connect(port) as sock:
        conn = new_client(pki)
        run_client(sock, conn)
        proc.wait_for(rb"CIPHER is")
        for line in (b"K", b"k"):
            start = len(proc.output)
            proc.write(line + b"\n")
            proc.wait_for(key_update(b">>>", line == b"K"), start=start)
            proc.write(b"line after " + line + b"\n")
            read_until(sock, conn, b"line after " + line + b"\n")
            conn.send_data(b"ping " + line + b"\n")
            flush(sock, conn)
            proc.wait_for(b"ping " + line, start=start)
        close_client(proc, sock, conn)
        answers = re.findall(key_update(b"<<<", False), proc.output)
        assert len(answers) == 1  # to K only


@pytest.mark.parametrize(("server_alpn", "client_alpn", "expected"), [
    ("h2,http/1.1", [b"http/1.1", b"h2"], b"h2"),  # the server's preference wins
    ("h2,http/1.1", [b"http/1.1"], b"http/1.1"),
])
def test_client_alpn(pki: PKI, server_alpn: str, client_alpn: list[bytes],
                     expected: bytes | None) -> None:
    with s_server(pki.cert, pki.key, "-rev", "-naccept", "1", "-alpn", server_alpn) \
            as (proc, port), connect(port) as sock:
        conn = new_client(pki, alpn=client_alpn)
        run_client(sock, conn)
        assert conn.nconfig.alpn == expected
        echo(sock, conn, b"alpn")
        close_client(proc, sock, conn)


def test_client_alpn_mismatch(pki: PKI) -> None:
    """s_server refuses with no_application_protocol since OpenSSL 3.0 (1.1.1 ignored
    the extension, so the handshake went on without ALPN)."""
    with s_server(pki.cert, pki.key, "-rev", "-naccept", "1", "-alpn", "h2") as (proc, port), \
            connect(port) as sock:
        conn = new_client(pki, alpn=[b"spdy/3"])
        try:
            run_client(sock, conn)
        except TLSPeerAlert as exc:
            assert exc.description == AlertDescription.NO_APPLICATION_PROTOCOL
            assert not conn.is_post_handshake()
        else:
            assert conn.nconfig.alpn is None
            echo(sock, conn, b"no alpn")
            close_client(proc, sock, conn)


def test_client_unknown_ca(pki: PKI) -> None:
    with s_server(pki.cert, pki.key, "-rev", "-naccept", "1") as (proc, port), \
            connect(port) as sock:
        conn = TLSConnection(client_config(pki.other_ca), server_hostname="localhost")
        with pytest.raises(UnknownCA):
            run_client(sock, conn)
        proc.wait_for(rb"alert unknown ca")


def test_client_wrong_hostname(pki: PKI) -> None:
    with s_server(pki.cert, pki.key, "-rev", "-naccept", "1") as (proc, port), \
            connect(port) as sock:
        conn = TLSConnection(client_config(pki.ca), server_hostname="example.com")
        with pytest.raises(TLSFatalAlert):
            run_client(sock, conn)
        assert conn.is_failed()
        proc.wait_for(rb"SSL alert number \d+|alert \w+")


def test_client_certificate(pki: PKI) -> None:
    leaf = pki.ca.issue(client=True)
    with s_server(pki.cert, pki.key, "-rev", "-naccept", "1", "-Verify", "1",
                  "-CAfile", pki.cafile, "-verify_return_error") as (proc, port), \
            connect(port) as sock:
        conn = new_client(pki, private_key=leaf.key_der, certificate_chain=leaf.chain_der)
        run_client(sock, conn)
        echo(sock, conn, b"authenticated")
        close_client(proc, sock, conn)
        proc.wait_for(rb"verify return:1")


def test_client_certificate_required(pki: PKI) -> None:
    """TLS 1.3: the client finishes first, then reads s_server's certificate_required."""
    with s_server(pki.cert, pki.key, "-rev", "-naccept", "1", "-Verify", "1",
                  "-CAfile", pki.cafile) as (proc, port), connect(port) as sock:
        conn = new_client(pki)
        run_client(sock, conn)
        conn.send_data(b"no certificate\n")
        with pytest.raises(TLSPeerAlert) as excinfo:
            read_until(sock, conn, b"\n")
        assert excinfo.value.description == AlertDescription.CERTIFICATE_REQUIRED
        proc.wait_for(rb"peer did not return a certificate")


EXPORTER_LABEL = "EXPERIMENTAL-siotls-interop"
KEYMAT_ARGS = ("-keymatexport", EXPORTER_LABEL, "-keymatexportlen", "32")
KEYMAT = rb"Keying material: ([0-9A-F]{64})"


def read_keylog(path: Path) -> set[str]:
    return {line for line in path.read_text().splitlines() if line and line[0] != "#"}


@pytest.mark.parametrize("suite", SUITES, ids=SUITES.values())
def test_client_secrets_match(pki: PKI, tmp_path: Path, suite: CipherSuites) -> None:
    """The SSLKEYLOGFILE lines and an exporter value are the same on both sides."""
    keylog = tmp_path / "keylog.txt"
    lines: list[str] = []
    with s_server(pki.cert, pki.key, "-naccept", "1", "-keylogfile", keylog, *KEYMAT_ARGS,
                  "-ciphersuites", SUITES[suite]) as (proc, port), connect(port) as sock:
        conn = new_client(pki, log_keys=True, keylog=lines.append)
        run_client(sock, conn)
        keymat = proc.wait_for(KEYMAT).group(1).decode()
        assert conn.export_keying_material(EXPORTER_LABEL.encode(), b"", 32).hex() == \
            keymat.lower()
        close_client(proc, sock, conn)
    assert len(lines) == 5
    assert set(lines) == read_keylog(keylog)


def test_client_large_transfer(pki: PKI) -> None:
    """100 kB each way; s_server pads its records to 512-byte blocks and cuts its
    records at 512 bytes. (Digits only: s_server takes some stdin lines as commands.)"""
    line = b"0123456789" * 99 + b"\n"
    with s_server(pki.cert, pki.key, "-naccept", "1", "-record_padding", "512",
                  "-max_send_frag", "512") as (proc, port), connect(port) as sock:
        conn = new_client(pki)
        run_client(sock, conn)
        proc.wait_for(rb"CIPHER is")
        proc.write(line * 100)
        assert read_until(sock, conn, line * 100) == line * 100
        conn.send_data(b"9876543210" * 10000 + b"end of the upload\n")
        flush(sock, conn)
        proc.wait_for(rb"end of the upload")
        assert proc.output.count(b"9876543210") == 10000
        close_client(proc, sock, conn)


def test_client_ip_address(pki: PKI) -> None:
    """An IP address is verified against the iPAddress SAN (and sent as no SNI)."""
    with s_server(pki.cert, pki.key, "-rev", "-naccept", "1") as (proc, port), \
            connect(port) as sock:
        conn = TLSConnection(client_config(pki.ca), server_hostname="127.0.0.1")
        run_client(sock, conn)
        assert conn.nconfig.peer_verified
        echo(sock, conn, b"by address")
        close_client(proc, sock, conn)


@pytest.mark.parametrize(("server_args", "client_kwargs"), [
    (("-ciphersuites", "TLS_AES_256_GCM_SHA384"),
     {"cipher_suites": [CipherSuites.TLS_AES_128_GCM_SHA256]}),
    (("-groups", "P-256"), {"key_exchanges": [NamedGroup.x448]}),
], ids=["cipher-suite", "group"])
def test_client_nothing_in_common(pki: PKI, server_args: tuple[str, ...],
                                  client_kwargs: dict[str, Any]) -> None:
    with s_server(pki.cert, pki.key, "-rev", "-naccept", "1", *server_args) as (proc, port), \
            connect(port) as sock:
        conn = new_client(pki, **client_kwargs)
        with pytest.raises(TLSPeerAlert) as excinfo:
            run_client(sock, conn)
        assert excinfo.value.description == AlertDescription.HANDSHAKE_FAILURE
        proc.wait_for(rb"no shared cipher|no suitable key share")


@pytest.mark.parametrize("key_type", KEY_TYPE_SCHEMES)
def test_client_certificate_key_types(pki: PKI, key_type: str) -> None:
    leaf = pki.ca.issue(key_type=key_type, client=True)
    with s_server(pki.cert, pki.key, "-naccept", "1", "-msg", "-Verify", "1",
                  "-CAfile", pki.cafile, "-verify_return_error") as (proc, port), \
            connect(port) as sock:
        conn = new_client(pki, private_key=leaf.key_der, certificate_chain=leaf.chain_der)
        run_client(sock, conn)
        assert conn.nconfig.signature_algorithm == KEY_TYPE_SCHEMES[key_type]
        proc.wait_for(rb"CIPHER is")
        conn.send_data(b"signed with " + key_type.encode() + b"\n")
        flush(sock, conn)
        proc.wait_for(b"signed with " + key_type.encode())
        close_client(proc, sock, conn)
        assert b"verify return:1" in proc.output
        assert b"<<< TLS 1.3, Handshake [length" in proc.output


def test_client_tls12_server(pki: PKI) -> None:
    """s_server limited to TLS 1.2 shares no cipher suite with a TLS 1.3 ClientHello."""
    with s_server(pki.cert, pki.key, "-tls1_2", "-naccept", "1", tls13=False) \
            as (proc, port), connect(port) as sock:
        conn = new_client(pki)
        with pytest.raises(TLSPeerAlert) as excinfo:
            run_client(sock, conn)
        assert excinfo.value.description in {AlertDescription.HANDSHAKE_FAILURE,
                                             AlertDescription.PROTOCOL_VERSION}
        assert not conn.is_post_handshake()
        proc.wait_for(rb"no shared cipher|unsupported protocol")


@pytest.mark.parametrize("side", ["siotls", "openssl", "both"])
def test_client_no_middlebox_hello_retry_request(pki: PKI, side: str) -> None:
    """No dummy change_cipher_spec on either or both sides, through an HRR."""
    server_args = ("-no_middlebox",) if side in {"openssl", "both"} else ()
    options = {"middlebox_compatibility": False} if side in {"siotls", "both"} else {}
    with s_server(pki.cert, pki.key, "-rev", "-naccept", "1", "-msg", "-groups", "P-384",
                  *server_args) as (proc, port), connect(port) as sock:
        conn = new_client(pki, **options)
        run_client(sock, conn)
        assert conn.nconfig.hello_retry_request
        echo(sock, conn, b"no middlebox")
        close_client(proc, sock, conn)
        # s_server in compatibility mode sends its CCS after the HRR, even to a client
        # that is not (empty legacy_session_id): siotls must drop it
        sent_ccs = b">>> TLS 1.3, ChangeCipherSpec" in proc.output
        assert sent_ccs == (side == "siotls")
        received_ccs = re.search(rb"<<< TLS 1\.2, RecordHeader \[length 0005\]\s+14 03 03",
                                 proc.output) is not None
        assert received_ccs == (side == "openssl")


def test_client_ragged_eof(pki: PKI) -> None:
    """s_server dies: the transport ends without a close_notify."""
    with s_server(pki.cert, pki.key, "-naccept", "1") as (proc, port), connect(port) as sock:
        conn = new_client(pki)
        run_client(sock, conn)
        proc.wait_for(rb"CIPHER is")
        proc.write(b"0 last words\n")
        assert read_until(sock, conn, b"last words\n") == b"0 last words\n"
        proc.kill()
        with pytest.raises(RaggedEOF):
            drive(sock, conn, lambda: False)
        assert not conn.close_notify_received


def test_client_fragmented_handshake(pki: PKI) -> None:
    """Both sides cut records small: Certificate messages span several records."""
    server_leaf = pki.ca.issue(key_type="rsa-2048", intermediate=True)
    client_leaf = pki.ca.issue(key_type="rsa-2048", client=True, intermediate=True)
    cert, key, _ = pki.files(server_leaf)
    with s_server(cert, key, "-cert_chain", pki.intermediates(server_leaf), "-rev", "-naccept", "1",
                  "-max_send_frag", "512", "-Verify", "1", "-CAfile", pki.cafile,
                  "-verify_return_error") as (proc, port), connect(port) as sock:
        conn = new_client(pki, max_fragment_size=64, private_key=client_leaf.key_der,
                          certificate_chain=client_leaf.chain_der)
        run_client(sock, conn)
        assert conn.nconfig.peer_certificate_chain == tuple(server_leaf.chain_der)
        echo(sock, conn, b"fragmented")
        close_client(proc, sock, conn)


# ---------------------------------------------------------------------------------------
# siotls server, openssl s_client
# ---------------------------------------------------------------------------------------
def talk(proc: OpenSSLProcess, sock: socket.socket, conn: TLSConnection, line: bytes) -> None:
    """One line from s_client to siotls, and an answer back.

    The line must not start with k, K, Q or R: s_client would take it as a command.
    """
    assert line[:1] not in b"kKQR"
    start = len(proc.output)
    proc.write(line + b"\n")
    read_until(sock, conn, line + b"\n")
    conn.send_data(b"answer to " + line + b"\n")
    flush(sock, conn)
    proc.wait_for(rb"answer to " + re.escape(line), start=start)


def close_server(proc: OpenSSLProcess, sock: socket.socket, conn: TLSConnection) -> None:
    """s_client sends close_notify at the end of its stdin, then exits 0."""
    proc.close_stdin()
    read_until_close(sock, conn)
    assert conn.close_notify_received
    conn.close_sending_end()
    flush(sock, conn)
    sock.close()  # s_client waits up to 0.5 s for us to close first
    assert proc.wait() == 0


@pytest.mark.parametrize("suite", SUITES, ids=SUITES.values())
def test_server_cipher_suites(pki: PKI, suite: CipherSuites) -> None:
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY,
                     "-ciphersuites", SUITES[suite]) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        run_server(sock, conn)
        assert conn.nconfig.cipher_suite == suite
        assert conn.nconfig.server_name == "localhost"
        assert not conn.nconfig.hello_retry_request
        # s_client 3.0 has no ML-KEM: its x25519 share, though we prefer the hybrids.
        assert conn.nconfig.key_exchange == NamedGroup.x25519
        talk(proc, sock, conn, b"hello siotls")
        talk(proc, sock, conn, b"0" * 5000)
        close_server(proc, sock, conn)
        text = proc.output
        assert b"New, TLSv1.3, Cipher is " + SUITES[suite].encode() in text
        assert b"Verify return code: 0 (ok)" in text


@pytest.mark.parametrize("group", GROUPS, ids=GROUPS.values())
def test_server_groups(pki: PKI, group: NamedGroup) -> None:
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY,
                     "-groups", GROUPS[group]) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        run_server(sock, conn)
        assert conn.nconfig.key_exchange == group
        assert not conn.nconfig.hello_retry_request
        talk(proc, sock, conn, b"group")
        close_server(proc, sock, conn)


@pytest.mark.parametrize("suite", SUITES, ids=SUITES.values())
def test_server_hello_retry_request(pki: PKI, suite: CipherSuites) -> None:
    """s_client key-shares its first group only: X25519, which siotls refuses."""
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY, "-msg",
                     "-groups", "X25519:P-384", "-ciphersuites", SUITES[suite]) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, key_exchanges=[NamedGroup.secp384r1])
        run_server(sock, conn)
        assert conn.nconfig.hello_retry_request
        assert conn.nconfig.key_exchange == NamedGroup.secp384r1
        assert conn.nconfig.cipher_suite == suite
        talk(proc, sock, conn, b"after a hello retry request")
        close_server(proc, sock, conn)
        assert len(re.findall(rb">>> TLS 1\.3, Handshake \[length \w+\], ClientHello",
                              proc.output)) == 2
        assert b"secp384r1" in proc.output  # "Server Temp Key: ECDH, secp384r1, 384 bits"


@pytest.mark.parametrize("key_type", KEY_TYPE_SCHEMES)
def test_server_key_types(pki: PKI, key_type: str) -> None:
    leaf = pki.ca.issue(key_type=key_type)
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, leaf)
        run_server(sock, conn)
        assert conn.nconfig.signature_algorithm == KEY_TYPE_SCHEMES[key_type]
        talk(proc, sock, conn, b"the " + key_type.encode())
        close_server(proc, sock, conn)
        assert b"Verify return code: 0 (ok)" in proc.output


def test_server_intermediate(pki: PKI) -> None:
    leaf = pki.ca.issue(intermediate=True)
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, leaf)
        run_server(sock, conn)
        talk(proc, sock, conn, b"through an intermediate")
        close_server(proc, sock, conn)
        assert b"Verify return code: 0 (ok)" in proc.output


def test_server_no_middlebox(pki: PKI) -> None:
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY, "-no_middlebox") as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        run_server(sock, conn)
        talk(proc, sock, conn, b"no middlebox")
        close_server(proc, sock, conn)


def test_server_large_transfer(pki: PKI) -> None:
    """Many records both ways (digits only: a stdin read starting with k, K, Q or R
    would be an s_client command)."""
    line = b"0123456789" * 99 + b"\n"
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        run_server(sock, conn)
        proc.write(line * 100)
        data = read_until(sock, conn, line * 100)
        assert data == line * 100
        conn.send_data(b"9876543210" * 20000 + b"end of the big answer\n")
        flush(sock, conn)
        proc.wait_for(rb"end of the big answer")
        assert proc.output.count(b"9876543210") == 20000
        close_server(proc, sock, conn)


@pytest.mark.parametrize("command", [b"k", b"K"])
def test_server_key_update_from_s_client(pki: PKI, command: bytes) -> None:
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY, "-msg") as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        run_server(sock, conn)
        talk(proc, sock, conn, b"before")
        for _ in range(3):
            start = len(proc.output)
            proc.write(command + b"\n")
            proc.wait_for(rb"KEYUPDATE", start=start)
            talk(proc, sock, conn, b"after " + command)
        close_server(proc, sock, conn)
        sent = re.findall(key_update(b">>>", command == b"K"), proc.output)
        answers = re.findall(key_update(b"<<<", False), proc.output)
        assert len(sent) == 3
        assert len(answers) == (3 if command == b"K" else 0)


def test_server_key_update_to_s_client(pki: PKI) -> None:
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY, "-msg") as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        run_server(sock, conn)
        talk(proc, sock, conn, b"before")
        conn.update_keys(request_peer_update=True)
        flush(sock, conn)
        proc.wait_for(key_update(b"<<<", True))
        talk(proc, sock, conn, b"after the update")  # s_client answers before its data
        proc.wait_for(key_update(b">>>", False))
        conn.update_keys(request_peer_update=False)
        talk(proc, sock, conn, b"after the second update")
        close_server(proc, sock, conn)


@pytest.mark.parametrize(("server_alpn", "client_alpn", "expected"), [
    ([b"http/1.1", b"h2"], "h2,http/1.1", b"http/1.1"),  # the server's preference wins
    ([b"h2"], "h2,http/1.1", b"h2"),
    (None, "h2", None),
])
def test_server_alpn(pki: PKI, server_alpn: list[bytes] | None, client_alpn: str,
                     expected: bytes | None) -> None:
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY,
                     "-alpn", client_alpn) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, alpn=server_alpn)
        run_server(sock, conn)
        assert conn.nconfig.alpn == expected
        talk(proc, sock, conn, b"alpn")
        close_server(proc, sock, conn)
        if expected is None:
            assert b"No ALPN negotiated" in proc.output
        else:
            assert b"ALPN protocol: " + expected in proc.output


def test_server_alpn_mismatch(pki: PKI) -> None:
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY,
                     "-alpn", "http/1.1") as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, alpn=[b"h2"])
        with pytest.raises(NoApplicationProtocol):
            run_server(sock, conn)
        sock.close()
        assert proc.wait() != 0
        assert b"no application protocol" in proc.output


def test_server_unknown_ca(pki: PKI) -> None:
    """s_client with another CA: it reports a verify error and sends unknown_ca."""
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.other_cafile, *S_CLIENT_VERIFY) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        with pytest.raises(TLSPeerAlert) as excinfo:
            run_server(sock, conn)
        assert excinfo.value.description == AlertDescription.UNKNOWN_CA
        sock.close()
        assert proc.wait() != 0
        assert re.search(rb"verify error:num=\d+:unable to get local issuer certificate",
                         proc.output)


def test_server_client_certificate(pki: PKI) -> None:
    leaf = pki.ca.issue(client=True)
    cert, key, _ = pki.files(leaf)
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY,
                     "-cert", cert, "-key", key) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, truststore=pki.ca.truststore(),
                          require_peer_authentication=True)
        run_server(sock, conn)
        assert conn.nconfig.peer_verified
        # OpenSSL completes the chain from its -CAfile store, root included
        assert conn.nconfig.peer_certificate_chain[0] == leaf.cert_der
        talk(proc, sock, conn, b"authenticated")
        close_server(proc, sock, conn)


def test_server_client_certificate_missing(pki: PKI) -> None:
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, truststore=pki.ca.truststore(),
                          require_peer_authentication=True)
        with pytest.raises(CertificateRequired):
            run_server(sock, conn)
        proc.wait_for(rb"certificate required")


def test_server_client_certificate_unknown_ca(pki: PKI) -> None:
    leaf = pki.other_ca.issue(client=True)
    cert, key, _ = pki.files(leaf)
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY,
                     "-cert", cert, "-key", key) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, truststore=pki.ca.truststore(),
                          require_peer_authentication=True)
        with pytest.raises(UnknownCA):
            run_server(sock, conn)
        proc.wait_for(rb"alert unknown ca")


@pytest.mark.parametrize("key_type", KEY_TYPE_SCHEMES)
def test_server_client_certificate_key_types(pki: PKI, key_type: str) -> None:
    leaf = pki.ca.issue(key_type=key_type, client=True)
    cert, key, _ = pki.files(leaf)
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY,
                     "-cert", cert, "-key", key) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, truststore=pki.ca.truststore(),
                          require_peer_authentication=True)
        run_server(sock, conn)
        assert conn.nconfig.peer_verified
        assert conn.nconfig.peer_signature_algorithm == KEY_TYPE_SCHEMES[key_type]
        talk(proc, sock, conn, b"signed with " + key_type.encode())
        close_server(proc, sock, conn)


@pytest.mark.parametrize("suite", SUITES, ids=SUITES.values())
def test_server_secrets_match(pki: PKI, tmp_path: Path, suite: CipherSuites) -> None:
    keylog = tmp_path / "keylog.txt"
    lines: list[str] = []
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY, "-keylogfile", keylog,
                     *KEYMAT_ARGS, "-ciphersuites", SUITES[suite]) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, log_keys=True, keylog=lines.append)
        run_server(sock, conn)
        keymat = proc.wait_for(KEYMAT).group(1).decode()
        assert conn.export_keying_material(EXPORTER_LABEL.encode(), b"", 32).hex() == \
            keymat.lower()
        talk(proc, sock, conn, b"secrets")
        close_server(proc, sock, conn)
    assert len(lines) == 5
    assert set(lines) == read_keylog(keylog)


def test_server_peer_record_options(pki: PKI) -> None:
    """s_client pads its records to 512-byte blocks and cuts them at 512 bytes."""
    line = b"0123456789" * 99 + b"\n"
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY, "-record_padding", "512",
                     "-max_send_frag", "512") as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        run_server(sock, conn)
        proc.write(line * 50)
        assert read_until(sock, conn, line * 50) == line * 50
        close_server(proc, sock, conn)


@pytest.mark.parametrize("sigalg", ["RSA-PSS+SHA256", "RSA-PSS+SHA384", "RSA-PSS+SHA512"])
def test_server_rsa_sigalgs(pki: PKI, sigalg: str) -> None:
    leaf = pki.ca.issue(key_type="rsa-2048")
    expected = SignatureScheme[f"rsa_pss_rsae_sha{sigalg[-3:]}"]
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY, "-sigalgs", sigalg) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, leaf)
        run_server(sock, conn)
        assert conn.nconfig.signature_algorithm == expected
        talk(proc, sock, conn, b"rsa")
        close_server(proc, sock, conn)
        assert b"Peer signature type: RSA-PSS" in proc.output


@pytest.mark.parametrize(("client_args", "server_kwargs"), [
    (("-ciphersuites", "TLS_AES_256_GCM_SHA384"),
     {"cipher_suites": [CipherSuites.TLS_AES_128_GCM_SHA256]}),
    (("-groups", "P-256"), {"key_exchanges": [NamedGroup.x448]}),
    (("-groups", "ffdhe2048"), {}),
    (("-sigalgs", "ECDSA+SHA384"), {}),  # our P-256 key cannot sign that
], ids=["cipher-suite", "group", "ffdhe-only", "signature-algorithm"])
def test_server_nothing_in_common(pki: PKI, client_args: tuple[str, ...],
                                  server_kwargs: dict[str, Any]) -> None:
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY, *client_args) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, **server_kwargs)
        with pytest.raises(HandshakeFailure):
            run_server(sock, conn)
        sock.close()
        assert proc.wait() != 0
        assert b"alert handshake failure" in proc.output


def test_server_tls12_client(pki: PKI) -> None:
    with listener() as (lsock, port), \
            s_client(port, "-tls1_2", "-CAfile", pki.cafile, *S_CLIENT_VERIFY,
                     tls13=False) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        with pytest.raises(ProtocolVersion):
            run_server(sock, conn)
        sock.close()
        assert proc.wait() != 0
        assert b"alert protocol version" in proc.output


def test_server_no_middlebox_hello_retry_request(pki: PKI) -> None:
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY, "-msg", "-no_middlebox",
                     "-groups", "X25519:P-384") as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, key_exchanges=[NamedGroup.secp384r1])
        run_server(sock, conn)
        assert conn.nconfig.hello_retry_request
        talk(proc, sock, conn, b"no middlebox")
        close_server(proc, sock, conn)
        assert b"ChangeCipherSpec" not in proc.output


def test_server_ragged_eof(pki: PKI) -> None:
    """s_client dies: the transport ends without a close_notify."""
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY) as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        run_server(sock, conn)
        talk(proc, sock, conn, b"last words")
        proc.kill()
        with pytest.raises(RaggedEOF):
            drive(sock, conn, lambda: False)
        assert not conn.close_notify_received


def test_server_ignores_unknown_key_share(pki: PKI) -> None:
    """s_client key-shares ffdhe2048 (which siotls lacks): HRR to X25519. (OpenSSL 3.5
    key-shares X25519MLKEM768 by default, another group siotls must skip.)"""
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY,
                     "-groups", "ffdhe2048:X25519") as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        run_server(sock, conn)
        assert conn.nconfig.hello_retry_request
        assert conn.nconfig.key_exchange == NamedGroup.x25519
        talk(proc, sock, conn, b"after ffdhe")
        close_server(proc, sock, conn)


def test_server_cipher_suite_preference(pki: PKI) -> None:
    """The server's order wins over s_client's."""
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY, "-ciphersuites",
                     "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256") as proc, \
            accept(lsock) as sock:
        conn = new_server(pki)
        run_server(sock, conn)
        assert conn.nconfig.cipher_suite == CipherSuites.TLS_AES_128_GCM_SHA256
        talk(proc, sock, conn, b"preference")
        close_server(proc, sock, conn)


def test_server_fragmented_client_certificate(pki: PKI) -> None:
    """s_client cuts its records at 512 bytes: its Certificate spans several."""
    leaf = pki.ca.issue(key_type="rsa-2048", client=True, intermediate=True)
    cert, key, _ = pki.files(leaf)
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY, "-cert", cert,
                     "-cert_chain", pki.intermediates(leaf), "-key", key,
                     "-max_send_frag", "512") as proc, \
            accept(lsock) as sock:
        conn = new_server(pki, truststore=pki.ca.truststore(),
                          require_peer_authentication=True)
        run_server(sock, conn)
        assert conn.nconfig.peer_verified
        assert conn.nconfig.peer_certificate_chain == tuple(leaf.chain_der)
        talk(proc, sock, conn, b"fragmented")
        close_server(proc, sock, conn)
