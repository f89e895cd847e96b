"""Raw public keys (RFC 7250) against GnuTLS (``gnutls-serv``/``gnutls-cli
--rawpkkeyfile --rawpkfile``), both directions. The in-memory tests are in
test_raw_public_keys.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from certs import _key_der, _key_pem, generate_key, make_ca, write_pem_files
from gnutls_peer import TLS13, gnutls_cli, gnutls_serv
from openssl_peer import accept, connect, listener, read_until, run_client, run_server
from siotls import TLSConfiguration, TLSConnection
from siotls.core import rawkeys
from test_raw_public_keys import keypair, raw_server

RPK = TLS13 + ":+CTYPE-SRV-RAWPK:+CTYPE-CLI-RAWPK"
requires_gnutls = pytest.mark.skipif(
    shutil.which("gnutls-serv") is None or shutil.which("gnutls-cli") is None,
    reason="no gnutls-serv/gnutls-cli on PATH")


def _write_raw_key(tmp_path: Path, name: str, key_type: str = "ecdsa-p256"
                   ) -> tuple[Path, Path, bytes, bytes]:
    key = generate_key(key_type)
    key_file, pub_file = tmp_path / f"{name}.key", tmp_path / f"{name}.pub"
    key_file.write_bytes(_key_pem(key))
    pub_file.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key_file, pub_file, _key_der(key), rawkeys.spki_of(key)


@requires_gnutls
def test_gnutls_serv_raw_public_key(tmp_path: Path) -> None:
    """A siotls client that trusts gnutls-serv's raw key (it also has a certificate)."""
    cert_file, key_file, _ = write_pem_files(tmp_path, make_ca().issue(), make_ca())
    rpk_key, rpk_pub, _, spki = _write_raw_key(tmp_path, "server")
    with gnutls_serv(cert_file, key_file, "--rawpkkeyfile", rpk_key, "--rawpkfile", rpk_pub,
                     priority=RPK) as (_, port), connect(port) as sock:
        conn = TLSConnection(TLSConfiguration("client", peer_public_keys=[spki]),
                             server_hostname="localhost")
        run_client(sock, conn)
        assert conn.nconfig.peer_certificate_type == "raw_public_key"
        assert conn.nconfig.peer_public_key == spki
        conn.send_data(b"echo me\n")
        assert read_until(sock, conn, b"echo me\n") == b"echo me\n"


@requires_gnutls
@pytest.mark.parametrize("key_type", ["ed25519", "rsa-2048"])
def test_gnutls_cli_gets_our_raw_public_key(tmp_path: Path, key_type: str) -> None:
    """gnutls-cli sees the siotls server's raw key (and sends its own)."""
    key, spki = keypair(key_type)
    cli_key, cli_pub, _, cli_spki = _write_raw_key(tmp_path, "client")
    config = raw_server(key, peer_public_keys=[cli_spki], require_peer_authentication=True)
    with listener() as (lsock, port), \
            gnutls_cli(port, "--insecure", "--rawpkkeyfile", cli_key, "--rawpkfile", cli_pub,
                       priority=RPK) as proc, accept(lsock) as sock:
        conn = TLSConnection(config)
        run_server(sock, conn)
        proc.wait_for(b"- Certificate type: Raw Public Key")
        proc.wait_for(b"- Handshake was completed")
        assert conn.nconfig.peer_certificate_type == "raw_public_key"
        assert conn.nconfig.peer_public_key == cli_spki
        proc.write(b"hello from gnutls\n")
        assert read_until(sock, conn, b"\n") == b"hello from gnutls\n"
    assert rawkeys.normalize_spki(spki) == spki
