"""OCSP stapling against real peers: ``openssl s_client -status`` reads what a siotls
server staples, a siotls client reads (and checks) what ``openssl s_server -status_file``
staples. The in-memory tests are in test_ocsp.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from certs import write_pem_files
from ocsp_responses import ocsp_response
from openssl_peer import (
    accept,
    connect,
    listener,
    requires_openssl,
    run_client,
    run_server,
    s_client,
    s_server,
)
from siotls import TLSConnection
from siotls.core.errors import BadCertificateStatusResponse
from test_ocsp import client_config, leaf, root, server_config


@requires_openssl
@pytest.mark.openssl
@pytest.mark.parametrize("status", ["good", "revoked"])
def test_openssl_s_client_status(tmp_path: Path, status: str) -> None:
    """``openssl s_client -status`` reads the response a siotls server staples."""
    _, _, ca_file = write_pem_files(tmp_path, leaf(), root())
    config = server_config(ocsp_response(leaf(), status=status))  # type: ignore[arg-type]
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", ca_file, "-status", "-servername", "localhost") as proc, \
            accept(lsock) as sock:
        run_server(sock, TLSConnection(config))
        proc.wait_for(rb"OCSP Response Status: successful")
        proc.wait_for(f"Cert Status: {status}".encode())
        proc.wait_for(rb"Verify return code: 0 \(ok\)")


@requires_openssl
@pytest.mark.openssl
def test_openssl_s_client_without_status_gets_none(tmp_path: Path) -> None:
    _, _, ca_file = write_pem_files(tmp_path, leaf(), root())
    config = server_config(ocsp_response(leaf()))
    with listener() as (lsock, port), \
            s_client(port, "-CAfile", ca_file, "-servername", "localhost") as proc, \
            accept(lsock) as sock:
        run_server(sock, TLSConnection(config))
        proc.wait_for(rb"Verify return code: 0 \(ok\)")
        assert b"OCSP response" not in proc.output


@requires_openssl
@pytest.mark.openssl
@pytest.mark.parametrize(("status", "mode"), [("good", "require"), ("revoked", "request"),
                                              ("revoked", "check")])
def test_openssl_s_server_status_file(tmp_path: Path, status: str, mode: str) -> None:
    """A siotls client reads (and checks) what ``openssl s_server -status_file`` staples."""
    cert_file, key_file, _ = write_pem_files(tmp_path, leaf(), root())
    response = ocsp_response(leaf(), status=status)  # type: ignore[arg-type]
    status_file = tmp_path / "ocsp.der"
    status_file.write_bytes(response)
    with s_server(cert_file, key_file, "-status_file", status_file) as (_, port), \
            connect(port) as sock:
        conn = TLSConnection(client_config(mode), server_hostname="localhost")
        if mode == "check":
            with pytest.raises(BadCertificateStatusResponse) as info:
                run_client(sock, conn)
            assert info.value.reason == "ocsp_revoked"
            return
        run_client(sock, conn)
        assert conn.nconfig.peer_ocsp_response == response
        assert conn.nconfig.peer_ocsp_status == status
