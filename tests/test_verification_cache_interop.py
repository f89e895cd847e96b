"""The verification cache (siotls.core.verifycache) against real peers: OpenSSL and
GnuTLS servers and clients, connections that come back with the same chain (a
cache hit), with another chain for the same name, and with the same chain for
another name."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import client_config, server_config
from openssl_peer import accept, connect, listener, run_client, run_server
from peers import PKI, Peer, by_peer, pki
from siotls import TLSConfiguration, TLSConnection
from siotls.core import certificates
from siotls.core.certificates import VerifiedPath
from siotls.core.errors import BadCertificate

__all__ = ["pki"]  # a fixture

pytestmark = [pytest.mark.timeout(60)]


@pytest.fixture
def purposes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The purpose of every full verification (a cache miss) during the test."""
    calls: list[str] = []
    full = certificates._verify

    def counting(*args: Any) -> VerifiedPath:
        calls.append(args[3])
        return full(*args)

    monkeypatch.setattr(certificates, "_verify", counting)
    return calls


def _connect(peer: Peer, pki: PKI, config: TLSConfiguration, leaf: Any,
             server_hostname: str = "localhost") -> TLSConnection:
    """One connection to the peer server with ``leaf``: handshake, a line, close."""
    with peer.server(pki, leaf) as (proc, port), connect(port) as sock:
        conn = TLSConnection(config, server_hostname=server_hostname)
        run_client(sock, conn)
        peer.echo(sock, conn, b"through the cache")
        peer.close_client(proc, sock, conn)
    return conn


@by_peer
def test_client_reconnects(peer: Peer, pki: PKI, purposes: list[str]) -> None:
    leaf = pki.ca.issue(intermediate=True)
    config = client_config(pki.ca)  # one configuration: one trust store, one cache
    for _ in range(3):
        conn = _connect(peer, pki, config, leaf)
        assert conn.nconfig.peer_verified_path == (*leaf.chain_der, pki.ca.cert_der)
        assert conn.nconfig.peer_chain_validator == "webpki"
    assert purposes == ["server"]  # the first connection only
    # The same name, another certificate: a new key, verified in full.
    conn = _connect(peer, pki, config, pki.leaf)
    assert conn.nconfig.peer_verified_path == (pki.leaf.cert_der, pki.ca.cert_der)
    assert purposes == ["server", "server"]


@by_peer
def test_cached_chain_for_another_name(peer: Peer, pki: PKI, purposes: list[str]) -> None:
    """A chain cached for ``localhost`` is checked in full for another name, and refused."""
    leaf = pki.ca.issue(("localhost",))
    config = client_config(pki.ca)
    _connect(peer, pki, config, leaf)
    with peer.server(pki, leaf) as (_, port), connect(port) as sock:
        conn = TLSConnection(config, server_hostname="other.test")
        with pytest.raises(BadCertificate) as info:
            run_client(sock, conn)
    assert info.value.reason == "hostname_mismatch"
    assert purposes == ["server", "server"]


@by_peer
def test_server_sees_the_same_client_certificate_again(peer: Peer, pki: PKI,
                                                       purposes: list[str]) -> None:
    leaf = pki.ca.issue(client=True)
    cert, key, _ = pki.files(leaf)
    config = server_config(pki.leaf, truststore=pki.ca.truststore(),
                           require_peer_authentication=True)
    for _ in range(2):
        with listener() as (lsock, port), peer.client(port, pki.cafile, cert=(cert, key)) \
                as proc, accept(lsock) as sock:
            conn = TLSConnection(config)
            run_server(sock, conn)
            assert conn.nconfig.peer_verified
            assert conn.nconfig.peer_verified_path[0] == leaf.cert_der
            peer.talk(proc, sock, conn, b"client certificate, cached")
            peer.close_server(proc, sock, conn)
    assert purposes == ["client"]
