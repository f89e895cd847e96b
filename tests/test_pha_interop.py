"""Post-handshake client authentication against real peers: ``openssl s_client
-enable_pha``, ``openssl s_server`` (its interactive ``c`` command) and ``gnutls-cli
--post-handshake-auth``. The in-memory tests are in test_pha.py; Python's ssl on
either side: tests/test_compat_certs.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from certs import write_pem_files
from gnutls_peer import gnutls_cli
from internals import internals
from openssl_peer import (
    accept,
    connect,
    drive,
    listener,
    read_until,
    requires_openssl,
    run_client,
    run_server,
    s_client,
    s_server,
)
from siotls import TLSConnection
from siotls.core.errors import (
    TLSUsageError,
)
from test_pha import client_config, client_leaf, root, server_config


@requires_openssl
@pytest.mark.openssl
def test_openssl_s_client_enable_pha(tmp_path: Path) -> None:
    """``openssl s_client -enable_pha -cert`` answers a siotls server's request."""
    cert_file, key_file, ca_file = write_pem_files(tmp_path, client_leaf(), root())
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", ca_file, "-servername", "localhost", "-enable_pha",
                     "-cert", cert_file, "-key", key_file) as proc, \
            accept(lsock) as sock:
        conn = TLSConnection(server_config())
        run_server(sock, conn)
        assert conn.nconfig.post_handshake_auth
        assert conn.nconfig.peer_certificate_chain == ()
        conn.request_client_certificate()
        conn.send_data(b"who are you?\n")
        drive(sock, conn, lambda: True)  # flushes
        proc.wait_for(b"who are you?")
        drive(sock, conn, lambda: not conn.client_certificate_pending)
        assert conn.nconfig.peer_verified
        assert conn.nconfig.peer_certificate_chain[0] == client_leaf().cert_der
        proc.write(b"data after\n")
        assert read_until(sock, conn, b"data after\n").endswith(b"data after\n")


@requires_openssl
@pytest.mark.openssl
def test_openssl_s_client_without_pha_is_not_asked(tmp_path: Path) -> None:
    cert_file, key_file, ca_file = write_pem_files(tmp_path, client_leaf(), root())
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", ca_file, "-servername", "localhost",
                     "-cert", cert_file, "-key", key_file) as proc, \
            accept(lsock) as sock:
        conn = TLSConnection(server_config())
        run_server(sock, conn)
        proc.wait_for(rb"Verify return code: 0 \(ok\)")
        assert not conn.nconfig.post_handshake_auth
        with pytest.raises(TLSUsageError):
            conn.request_client_certificate()


@requires_openssl
@pytest.mark.openssl
def test_openssl_s_server_requests_after_the_handshake(tmp_path: Path) -> None:
    """``openssl s_server``'s ``c`` command asks; the siotls client answers by itself."""
    cert_file, key_file, ca_file = write_pem_files(tmp_path, root().issue(("localhost",)), root())
    with s_server(cert_file, key_file, "-CAfile", ca_file) as (proc, port), \
            connect(port) as sock:
        conn = TLSConnection(client_config(), server_hostname="localhost")
        run_client(sock, conn)
        proc.wait_for(b"CIPHER is")
        proc.write(b"c\n")
        drive(sock, conn, lambda: internals(conn).handshake.pha.answered == 1)
        conn.send_data(b"pong\n")
        drive(sock, conn, lambda: True)  # flushes
        proc.wait_for(b"pong")
        proc.wait_for(rb"depth=0 O = siotls tests, CN = client\.test\s+verify return:1")
        assert conn.is_connected()


@pytest.mark.skipif(shutil.which("gnutls-cli") is None, reason="no gnutls-cli on PATH")
def test_gnutls_cli_post_handshake_auth(tmp_path: Path) -> None:
    """``gnutls-cli --post-handshake-auth`` answers a siotls server's request."""
    cert_file, key_file, ca_file = write_pem_files(tmp_path, client_leaf(), root())
    with listener() as (lsock, port), \
            gnutls_cli(port, "--x509cafile", ca_file, "--sni-hostname", "localhost",
                       "--verify-hostname", "localhost", "--post-handshake-auth",
                       "--x509certfile", cert_file, "--x509keyfile", key_file) as proc, \
            accept(lsock) as sock:
        conn = TLSConnection(server_config())
        run_server(sock, conn)
        assert conn.nconfig.post_handshake_auth
        conn.request_client_certificate()
        conn.send_data(b"who are you?\n")
        drive(sock, conn, lambda: True)  # flushes
        proc.wait_for(b"who are you?")
        proc.write(b"me\n")
        assert read_until(sock, conn, b"me\n").endswith(b"me\n")
        assert not conn.client_certificate_pending
        assert conn.nconfig.peer_certificate_chain[0] == client_leaf().cert_der
