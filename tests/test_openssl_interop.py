"""Interoperability with OpenSSL: what only ``openssl s_server`` / ``s_client`` can do.

The scenarios every peer runs are in ``test_interop.py``; here are those that
need OpenSSL's own features: ``-www``, its interactive commands (``K``, ``k``),
``-keylogfile`` and ``-keymatexport``, ``-record_padding`` and ``-max_send_frag``,
``-no_middlebox``, ``-sigalgs``. ``-msg`` makes openssl print every handshake
message it sends (``>>>``) and receives (``<<<``), which lets the tests check what
went on the wire, e.g. that a KeyUpdate was answered with ``update_not_requested``
(``18 00 00 01 00``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openssl_peer import (
    S_CLIENT_VERIFY,
    accept,
    connect,
    flush,
    listener,
    read_until,
    read_until_close,
    run_client,
    run_server,
    s_client,
    s_server,
)
from peers import OPENSSL, PKI, pki, pki_client, pki_server
from siotls import TLSPeerAlert
from siotls.iana import AlertDescription, CipherSuites, NamedGroup, SignatureScheme

__all__ = ["pki"]  # a fixture

pytestmark = [
    pytest.mark.openssl,
    pytest.mark.timeout(30),
    pytest.mark.skipif(OPENSSL.unusable is not None, reason=str(OPENSSL.unusable)),
]

SUITES = OPENSSL.suites
echo, close_client = OPENSSL.echo, OPENSSL.close_client
talk, close_server = OPENSSL.talk, OPENSSL.close_server


def key_update(direction: bytes, requested: bool) -> bytes:
    """A KeyUpdate in ``-msg`` output, ``>>>`` sent or ``<<<`` received."""
    return OPENSSL.key_update_logged(sent=direction == b">>>", requested=requested)




# ---------------------------------------------------------------------------------------
# siotls client, openssl s_server
# ---------------------------------------------------------------------------------------


def test_client_www(pki: PKI) -> None:
    """``s_server -www`` answers ``GET /`` with a status page, then closes cleanly."""
    with s_server(pki.cert, pki.key, "-www", "-naccept", "1") as (proc, port), \
            connect(port) as sock:
        conn = pki_client(pki)
        run_client(sock, conn)
        conn.send_data(b"GET / HTTP/1.0\r\n\r\n")
        page = read_until_close(sock, conn)
        sock.close()
        assert proc.wait() == 0
        assert page.startswith(b"HTTP/1.0 200 ok\r\n")
        assert b"TLSv1.3" in page
        assert b"TLS_AES_128_GCM_SHA256" in page
        assert conn.close_notify_received


@pytest.mark.parametrize("requested", [True, False], ids=["requested", "not-requested"])
def test_client_key_update(pki: PKI, requested: bool) -> None:
    """s_server in its default mode: what we send shows on its stdout, its stdin comes
    to us. (``-rev`` would do, but it sleeps a second after each KeyUpdate it reads.)"""
    with s_server(pki.cert, pki.key, "-naccept", "1", "-msg") as (proc, port), \
            connect(port) as sock:
        conn = pki_client(pki)
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
        conn = pki_client(pki)
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
        conn = pki_client(pki, log_keys=True, keylog=lines.append)
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
        conn = pki_client(pki)
        run_client(sock, conn)
        proc.wait_for(rb"CIPHER is")
        proc.write(line * 100)
        assert read_until(sock, conn, line * 100) == line * 100
        conn.send_data(b"9876543210" * 10000 + b"end of the upload\n")
        flush(sock, conn)
        proc.wait_for(rb"end of the upload")
        assert proc.output.count(b"9876543210") == 10000
        close_client(proc, sock, conn)


def test_client_tls12_server(pki: PKI) -> None:
    """s_server limited to TLS 1.2 shares no cipher suite with a TLS 1.3 ClientHello."""
    with s_server(pki.cert, pki.key, "-tls1_2", "-naccept", "1", tls13=False) \
            as (proc, port), connect(port) as sock:
        conn = pki_client(pki)
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
        conn = pki_client(pki, **options)
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


def test_client_fragmented_handshake(pki: PKI) -> None:
    """Both sides cut records small: Certificate messages span several records."""
    server_leaf = pki.ca.issue(key_type="rsa-2048", intermediate=True)
    client_leaf = pki.ca.issue(key_type="rsa-2048", client=True, intermediate=True)
    cert, key, _ = pki.files(server_leaf)
    with s_server(cert, key, "-cert_chain", pki.intermediates(server_leaf), "-rev", "-naccept", "1",
                  "-max_send_frag", "512", "-Verify", "1", "-CAfile", pki.cafile,
                  "-verify_return_error") as (proc, port), connect(port) as sock:
        conn = pki_client(pki, max_fragment_size=64, private_key=client_leaf.key_der,
                          certificate_chain=client_leaf.chain_der)
        run_client(sock, conn)
        assert conn.nconfig.peer_certificate_chain == tuple(server_leaf.chain_der)
        echo(sock, conn, b"fragmented")
        close_client(proc, sock, conn)


# ---------------------------------------------------------------------------------------
# siotls server, openssl s_client
# ---------------------------------------------------------------------------------------


def test_server_no_middlebox(pki: PKI) -> None:
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY, "-no_middlebox") as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki)
        run_server(sock, conn)
        talk(proc, sock, conn, b"no middlebox")
        close_server(proc, sock, conn)


@pytest.mark.parametrize("suite", SUITES, ids=SUITES.values())
def test_server_secrets_match(pki: PKI, tmp_path: Path, suite: CipherSuites) -> None:
    keylog = tmp_path / "keylog.txt"
    lines: list[str] = []
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY, "-keylogfile", keylog,
                     *KEYMAT_ARGS, "-ciphersuites", SUITES[suite]) as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki, log_keys=True, keylog=lines.append)
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
        conn = pki_server(pki)
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
        conn = pki_server(pki, leaf)
        run_server(sock, conn)
        assert conn.nconfig.signature_algorithm == expected
        talk(proc, sock, conn, b"rsa")
        close_server(proc, sock, conn)
        assert b"Peer signature type: RSA-PSS" in proc.output


def test_server_no_middlebox_hello_retry_request(pki: PKI) -> None:
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY, "-msg", "-no_middlebox",
                     "-groups", "X25519:P-384") as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki, key_exchanges=[NamedGroup.secp384r1])
        run_server(sock, conn)
        assert conn.nconfig.hello_retry_request
        talk(proc, sock, conn, b"no middlebox")
        close_server(proc, sock, conn)
        assert b"ChangeCipherSpec" not in proc.output


def test_server_fragmented_client_certificate(pki: PKI) -> None:
    """s_client cuts its records at 512 bytes: its Certificate spans several."""
    leaf = pki.ca.issue(key_type="rsa-2048", client=True, intermediate=True)
    cert, key, _ = pki.files(leaf)
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", pki.cafile, *S_CLIENT_VERIFY, "-cert", cert,
                     "-cert_chain", pki.intermediates(leaf), "-key", key,
                     "-max_send_frag", "512") as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki, truststore=pki.ca.truststore(),
                          require_peer_authentication=True)
        run_server(sock, conn)
        assert conn.nconfig.peer_verified
        assert conn.nconfig.peer_certificate_chain == tuple(leaf.chain_der)
        talk(proc, sock, conn, b"fragmented")
        close_server(proc, sock, conn)
