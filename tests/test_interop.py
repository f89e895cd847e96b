"""Interoperability with real TLS stacks, every scenario once per peer (``peers``).

siotls as a client against the peer's echo server (``openssl s_server -rev``,
``gnutls-serv --echo``) and as a server for the peer's client (``openssl
s_client``, ``gnutls-cli``), on 127.0.0.1. The peers run as subprocesses; with
``log=True`` they log the handshake (``-msg``, ``-d 5``), which lets the tests
check what went on the wire: a KeyUpdate and its answer, the alerts, a second
ClientHello. What only one peer can do is in ``test_openssl_interop.py`` and
``test_gnutls_interop.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from helpers import client_config
from openssl_peer import (
    accept,
    connect,
    drive,
    flush,
    listener,
    read_until,
    run_client,
    run_server,
)
from peers import PKI, SUITES, Peer, by_peer, per_peer, pki, pki_client, pki_server
from siotls import RaggedEOF, TLSConnection, TLSFatalAlert, TLSPeerAlert
from siotls.core.errors import (
    CertificateRequired,
    HandshakeFailure,
    NoApplicationProtocol,
    ProtocolVersion,
    UnknownCA,
)
from siotls.iana import AlertDescription, CipherSuites, NamedGroup

__all__ = ["pki"]  # a fixture

pytestmark = [pytest.mark.timeout(30)]

GROUPS = [NamedGroup.x25519, NamedGroup.secp256r1, NamedGroup.secp384r1,
          NamedGroup.secp521r1, NamedGroup.x448]


def name(value: Any) -> str:
    return str(getattr(value, "name", value))


@by_peer
def test_peer_version(peer: Peer, record_property: Callable[[str, object], None]) -> None:
    version = peer.version()
    record_property(f"{peer.name}_version", version)
    print(version)
    assert re.match(r"OpenSSL \d|gnutls-cli \d+\.\d+", version)


# ---------------------------------------------------------------------------------------
# siotls client, peer server
# ---------------------------------------------------------------------------------------
@by_peer
@pytest.mark.parametrize("suite", SUITES, ids=name)
@pytest.mark.parametrize("forced_by", ["peer", "siotls"])
def test_client_cipher_suites(peer: Peer, pki: PKI, suite: CipherSuites, forced_by: str
                              ) -> None:
    server_suites, client_kwargs = ([suite], {}) if forced_by == "peer" else \
        ([], {"cipher_suites": [suite]})
    with peer.server(pki, suites=server_suites) as (proc, port), connect(port) as sock:
        conn = pki_client(pki, **client_kwargs)
        run_client(sock, conn)
        assert conn.nconfig.cipher_suite == suite
        assert conn.nconfig.key_exchange == NamedGroup.x25519
        assert not conn.nconfig.hello_retry_request
        assert conn.nconfig.peer_verified
        peer.echo(sock, conn, b"hello " + peer.name.encode())
        peer.echo(sock, conn, b"x" * peer.longest_line)  # several records each way for gnutls
        peer.close_client(proc, sock, conn)
        for pattern in peer.server_negotiated(suite):
            proc.wait_for(pattern)


@by_peer
@pytest.mark.parametrize("group", GROUPS, ids=name)
def test_client_groups(peer: Peer, pki: PKI, group: NamedGroup) -> None:
    """The peer accepts one group; siotls key-shares x25519, the others need an HRR."""
    with peer.server(pki, groups=[group], log=True) as (proc, port), connect(port) as sock:
        conn = pki_client(pki)
        run_client(sock, conn)
        assert conn.nconfig.key_exchange == group
        assert conn.nconfig.hello_retry_request == (group != NamedGroup.x25519)
        peer.echo(sock, conn, b"group " + peer.groups[group].encode())
        peer.close_client(proc, sock, conn)
        hellos = 1 if group == NamedGroup.x25519 else 2
        assert proc.wait_for_count(peer.client_hello_received, hellos) == hellos


@by_peer
@pytest.mark.parametrize("suite", SUITES, ids=name)
@pytest.mark.parametrize("middlebox", [True, False], ids=["middlebox", "no-middlebox"])
def test_client_hello_retry_request(peer: Peer, pki: PKI, suite: CipherSuites,
                                    middlebox: bool) -> None:
    """An HRR under each suite: the transcript restarts with a message_hash."""
    with peer.server(pki, suites=[suite], groups=[NamedGroup.secp256r1], log=True) \
            as (proc, port), connect(port) as sock:
        conn = pki_client(pki, middlebox_compatibility=middlebox,
                          key_exchanges=[NamedGroup.x25519, NamedGroup.secp384r1,
                                         NamedGroup.secp256r1])
        run_client(sock, conn)
        assert conn.nconfig.hello_retry_request
        assert conn.nconfig.key_exchange == NamedGroup.secp256r1
        assert conn.nconfig.cipher_suite == suite
        peer.echo(sock, conn, b"after a hello retry request")
        peer.close_client(proc, sock, conn)
        assert proc.wait_for_count(peer.client_hello_received, 2) == 2


@pytest.mark.parametrize(("peer", "key_type"), per_peer(lambda peer: peer.key_types))
def test_client_server_key_types(peer: Peer, pki: PKI, key_type: str) -> None:
    with peer.server(pki, pki.ca.issue(key_type=key_type)) as (proc, port), \
            connect(port) as sock:
        conn = pki_client(pki)
        run_client(sock, conn)
        assert conn.nconfig.peer_signature_algorithm == peer.key_types[key_type]
        assert conn.nconfig.peer_verified
        peer.echo(sock, conn, key_type.encode())
        peer.close_client(proc, sock, conn)


@by_peer
def test_client_intermediate(peer: Peer, pki: PKI) -> None:
    leaf = pki.ca.issue(intermediate=True)
    with peer.server(pki, leaf) as (proc, port), connect(port) as sock:
        conn = pki_client(pki)
        run_client(sock, conn)
        assert conn.nconfig.peer_certificate_chain == tuple(leaf.chain_der)
        peer.echo(sock, conn, b"through an intermediate")
        peer.close_client(proc, sock, conn)


@by_peer
@pytest.mark.parametrize("options", [
    {"record_padding": lambda content_type, length: 100},
    {"max_fragment_size": 64},
    {"middlebox_compatibility": False},
], ids=["padding", "small-records", "no-middlebox"])
def test_client_record_options(peer: Peer, pki: PKI, options: dict[str, Any]) -> None:
    with peer.server(pki) as (proc, port), connect(port) as sock:
        conn = pki_client(pki, **options)
        run_client(sock, conn)
        peer.echo(sock, conn, b"0123456789" * 100)
        peer.close_client(proc, sock, conn)


H2, HTTP11, SPDY = b"h2", b"http/1.1", b"spdy/3"


def alpn_cases(peer: Peer) -> list[tuple[list[bytes], bytes | None]]:
    """(client ALPN, expected) with a peer server offering h2 then http/1.1."""
    if peer.name == "openssl":  # the server's preference wins
        return [([HTTP11, H2], H2), ([HTTP11], HTTP11)]
    # gnutls-serv follows the client's order; without --alpn-fatal it goes on without ALPN
    return [([HTTP11, H2], HTTP11), ([HTTP11], HTTP11), ([SPDY], None)]


@pytest.mark.parametrize(("peer", "client_alpn", "expected"),
                         per_peer(alpn_cases, ids=lambda case: b",".join(case[0]).decode()))
def test_client_alpn(peer: Peer, pki: PKI, client_alpn: list[bytes],
                     expected: bytes | None) -> None:
    with peer.server(pki, alpn=[H2, HTTP11]) as (proc, port), connect(port) as sock:
        conn = pki_client(pki, alpn=client_alpn)
        run_client(sock, conn)
        assert conn.nconfig.alpn == expected
        peer.echo(sock, conn, b"alpn")
        peer.close_client(proc, sock, conn)
        if expected is not None:
            proc.wait_for(re.escape(expected))


@by_peer
def test_client_alpn_refused(peer: Peer, pki: PKI) -> None:
    """No protocol in common: the peer refuses (OpenSSL since 3.0, GnuTLS with
    ``--alpn-fatal``)."""
    with peer.server(pki, alpn=[H2], refuse_alpn=True) as (_, port), connect(port) as sock:
        conn = pki_client(pki, alpn=[SPDY])
        with pytest.raises(TLSPeerAlert) as excinfo:
            run_client(sock, conn)
        assert excinfo.value.description == AlertDescription.NO_APPLICATION_PROTOCOL
        assert not conn.is_post_handshake()


@by_peer
def test_client_unknown_ca(peer: Peer, pki: PKI) -> None:
    with peer.server(pki, log=True) as (proc, port), connect(port) as sock:
        conn = TLSConnection(client_config(pki.other_ca), server_hostname="localhost")
        with pytest.raises(UnknownCA):
            run_client(sock, conn)
        proc.wait_for(peer.alert_received(AlertDescription.UNKNOWN_CA))


@by_peer
def test_client_wrong_hostname(peer: Peer, pki: PKI) -> None:
    with peer.server(pki, log=True) as (proc, port), connect(port) as sock:
        conn = TLSConnection(client_config(pki.ca), server_hostname="example.com")
        with pytest.raises(TLSFatalAlert) as excinfo:
            run_client(sock, conn)
        assert conn.is_failed()
        proc.wait_for(peer.alert_received(excinfo.value.description))


@by_peer
def test_client_ip_address(peer: Peer, pki: PKI) -> None:
    """An IP address is verified against the iPAddress SAN (and sent as no SNI)."""
    with peer.server(pki) as (proc, port), connect(port) as sock:
        conn = TLSConnection(client_config(pki.ca), server_hostname="127.0.0.1")
        run_client(sock, conn)
        assert conn.nconfig.peer_verified
        peer.echo(sock, conn, b"by address")
        peer.close_client(proc, sock, conn)


@pytest.mark.parametrize(("peer", "key_type"), per_peer(lambda peer: peer.key_types))
def test_client_certificate(peer: Peer, pki: PKI, key_type: str) -> None:
    leaf = pki.ca.issue(key_type=key_type, client=True)
    with peer.server(pki, client_ca=pki.cafile, log=True) as (proc, port), \
            connect(port) as sock:
        conn = pki_client(pki, private_key=leaf.key_der, certificate_chain=leaf.chain_der)
        run_client(sock, conn)
        assert conn.nconfig.signature_algorithm == peer.key_types[key_type]
        peer.echo(sock, conn, b"authenticated")
        peer.close_client(proc, sock, conn)
        proc.wait_for(rb"verify return:1|The certificate is trusted")


@by_peer
def test_client_certificate_required(peer: Peer, pki: PKI) -> None:
    """TLS 1.3: the client finishes first, then reads the peer's certificate_required."""
    with peer.server(pki, client_ca=pki.cafile, log=True) as (proc, port), \
            connect(port) as sock:
        conn = pki_client(pki)
        with pytest.raises(TLSPeerAlert) as excinfo:
            run_client(sock, conn)
            peer.echo(sock, conn, b"no certificate")
        assert excinfo.value.description == AlertDescription.CERTIFICATE_REQUIRED
        proc.wait_for(peer.no_client_certificate)


def client_mismatches(peer: Peer) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Name -> (peer server options, siotls client options) with nothing in common."""
    cases: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "cipher-suite": ({"suites": [CipherSuites.TLS_AES_256_GCM_SHA384]},
                         {"cipher_suites": [CipherSuites.TLS_AES_128_GCM_SHA256]}),
        "group": ({"groups": [NamedGroup.secp256r1]}, {"key_exchanges": [NamedGroup.x448]}),
    }
    cases["ccm-only"] = (peer.ccm_only, {})
    return cases


@pytest.mark.parametrize(("peer", "case"), per_peer(client_mismatches))
def test_client_nothing_in_common(peer: Peer, pki: PKI, case: str) -> None:
    server_options, client_kwargs = client_mismatches(peer)[case]
    with peer.server(pki, log=True, **server_options) as (proc, port), \
            connect(port) as sock:
        conn = pki_client(pki, **client_kwargs)
        with pytest.raises(TLSPeerAlert) as excinfo:
            run_client(sock, conn)
        assert excinfo.value.description == AlertDescription.HANDSHAKE_FAILURE
        proc.wait_for(peer.nothing_in_common)


@by_peer
def test_client_ragged_eof(peer: Peer, pki: PKI) -> None:
    """The peer server dies: the transport ends without a close_notify."""
    with peer.server(pki) as (proc, port), connect(port) as sock:
        conn = pki_client(pki)
        run_client(sock, conn)
        peer.echo(sock, conn, b"last words")
        proc.kill()
        with pytest.raises(RaggedEOF):
            drive(sock, conn, lambda: False)
        assert not conn.close_notify_received


# ---------------------------------------------------------------------------------------
# siotls server, peer client
# ---------------------------------------------------------------------------------------
@by_peer
@pytest.mark.parametrize("suite", SUITES, ids=name)
def test_server_cipher_suites(peer: Peer, pki: PKI, suite: CipherSuites) -> None:
    with listener() as (lsock, port), peer.client(port, pki.cafile, suites=[suite]) as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki)
        run_server(sock, conn)
        assert conn.nconfig.cipher_suite == suite
        assert conn.nconfig.server_name == "localhost"
        assert conn.nconfig.key_exchange == NamedGroup.x25519
        assert not conn.nconfig.hello_retry_request
        peer.talk(proc, sock, conn, b"hello siotls")
        peer.talk(proc, sock, conn, b"0" * 5000)
        peer.close_server(proc, sock, conn)
        assert re.search(peer.trusted, proc.output)
        assert re.search(peer.client_negotiated(suite), proc.output)


@by_peer
@pytest.mark.parametrize("group", GROUPS, ids=name)
def test_server_groups(peer: Peer, pki: PKI, group: NamedGroup) -> None:
    with listener() as (lsock, port), peer.client(port, pki.cafile, groups=[group]) as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki)
        run_server(sock, conn)
        assert conn.nconfig.key_exchange == group
        assert not conn.nconfig.hello_retry_request
        peer.talk(proc, sock, conn, b"group")
        peer.close_server(proc, sock, conn)
        suite = CipherSuites.TLS_AES_128_GCM_SHA256
        assert re.search(peer.client_negotiated(suite, group), proc.output)


@by_peer
@pytest.mark.parametrize("suite", SUITES, ids=name)
def test_server_hello_retry_request(peer: Peer, pki: PKI, suite: CipherSuites) -> None:
    """The peer key-shares X25519 only; siotls wants P-384."""
    with listener() as (lsock, port), \
            peer.client(port, pki.cafile, suites=[suite], log=True,
                        groups=[NamedGroup.x25519, NamedGroup.secp384r1],
                        args=peer.single_key_share) as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki, key_exchanges=[NamedGroup.secp384r1])
        run_server(sock, conn)
        assert conn.nconfig.hello_retry_request
        assert conn.nconfig.key_exchange == NamedGroup.secp384r1
        assert conn.nconfig.cipher_suite == suite
        peer.talk(proc, sock, conn, b"after a hello retry request")
        peer.close_server(proc, sock, conn)
        pattern, count = peer.hello_retry_request_seen
        assert proc.wait_for_count(pattern, count) == count
        assert re.search(peer.client_negotiated(suite, NamedGroup.secp384r1), proc.output)


@pytest.mark.parametrize(("peer", "key_type"), per_peer(lambda peer: peer.key_types))
def test_server_key_types(peer: Peer, pki: PKI, key_type: str) -> None:
    leaf = pki.ca.issue(key_type=key_type)
    with listener() as (lsock, port), peer.client(port, pki.cafile) as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki, leaf)
        run_server(sock, conn)
        assert conn.nconfig.signature_algorithm == peer.key_types[key_type]
        peer.talk(proc, sock, conn, b"the " + key_type.encode())
        peer.close_server(proc, sock, conn)
        assert re.search(peer.trusted, proc.output)


@by_peer
def test_server_intermediate(peer: Peer, pki: PKI) -> None:
    leaf = pki.ca.issue(intermediate=True)
    with listener() as (lsock, port), peer.client(port, pki.cafile) as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki, leaf)
        run_server(sock, conn)
        peer.talk(proc, sock, conn, b"through an intermediate")
        peer.close_server(proc, sock, conn)
        assert re.search(peer.trusted, proc.output)
        assert re.search(peer.chain_received(2), proc.output)


@by_peer
def test_server_large_transfer(peer: Peer, pki: PKI) -> None:
    """Many records both ways (digits only: no line is a command)."""
    line = b"0123456789" * 99 + b"\n"
    with listener() as (lsock, port), peer.client(port, pki.cafile) as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki)
        run_server(sock, conn)
        proc.write(line * 100)
        assert read_until(sock, conn, line * 100) == line * 100
        conn.send_data(b"9876543210" * 20000 + b"end of the big answer\n")
        flush(sock, conn)
        proc.wait_for(rb"end of the big answer")
        assert proc.output.count(b"9876543210") == 20000
        peer.close_server(proc, sock, conn)


@by_peer
@pytest.mark.parametrize("requested", [True, False], ids=["requested", "not-requested"])
def test_server_key_update_from_peer(peer: Peer, pki: PKI, requested: bool) -> None:
    """The peer updates its keys three times; siotls answers the requested updates."""
    with listener() as (lsock, port), \
            peer.client(port, pki.cafile, log=True, commands=True) as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki)
        run_server(sock, conn)
        peer.talk(proc, sock, conn, b"before")
        for i in range(3):
            start = len(proc.output)
            proc.write(peer.key_update_command(requested) + b"\n")
            proc.wait_for(peer.key_update_done, start=start)
            peer.talk(proc, sock, conn, b"after %d" % i)  # our answer precedes our data
        peer.close_server(proc, sock, conn)
        sent = re.findall(peer.key_update_logged(sent=True, requested=requested), proc.output)
        answers = re.findall(peer.key_update_logged(sent=False, requested=False), proc.output)
        assert len(sent) == 3
        assert len(answers) == (3 if requested else 0)


@by_peer
def test_server_key_update_to_peer(peer: Peer, pki: PKI) -> None:
    with listener() as (lsock, port), peer.client(port, pki.cafile, log=True) as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki)
        run_server(sock, conn)
        peer.talk(proc, sock, conn, b"before")
        conn.update_keys(request_peer_update=True)
        flush(sock, conn)
        proc.wait_for(peer.key_update_logged(sent=False, requested=True))
        peer.talk(proc, sock, conn, b"after the update")  # the peer answers before its data
        proc.wait_for(peer.key_update_logged(sent=True, requested=False))
        conn.update_keys(request_peer_update=False)
        peer.talk(proc, sock, conn, b"after the second update")
        peer.close_server(proc, sock, conn)
        received = re.findall(peer.key_update_logged(sent=False, requested=False), proc.output)
        assert len(received) == 1


@by_peer
@pytest.mark.parametrize(("server_alpn", "client_alpn", "expected"), [
    ([HTTP11, H2], [H2, HTTP11], HTTP11),  # the server's preference wins
    ([H2], [H2, HTTP11], H2),
    (None, [H2], None),
], ids=["server-order", "h2", "server-without-alpn"])
def test_server_alpn(peer: Peer, pki: PKI, server_alpn: list[bytes] | None,
                     client_alpn: list[bytes], expected: bytes | None) -> None:
    with listener() as (lsock, port), peer.client(port, pki.cafile, alpn=client_alpn) \
            as proc, accept(lsock) as sock:
        conn = pki_server(pki, alpn=server_alpn)
        run_server(sock, conn)
        assert conn.nconfig.alpn == expected
        peer.talk(proc, sock, conn, b"alpn")
        peer.close_server(proc, sock, conn)
        assert re.search(peer.alpn_negotiated(expected), proc.output)


@by_peer
@pytest.mark.parametrize("reason", ["unknown-ca", "wrong-hostname"])
def test_server_certificate_rejected(peer: Peer, pki: PKI, reason: str) -> None:
    """The peer client refuses our certificate with an alert and exits 1."""
    cafile = pki.other_cafile if reason == "unknown-ca" else pki.cafile
    hostname = "example.com" if reason == "wrong-hostname" else "localhost"
    with listener() as (lsock, port), peer.client(port, cafile, hostname=hostname) as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki)
        with pytest.raises(TLSPeerAlert) as excinfo:
            run_server(sock, conn)
        assert excinfo.value.description == peer.rejects_certificate_with[reason]
        sock.close()
        assert proc.wait() != 0
        assert re.search(peer.untrusted, proc.output)


@pytest.mark.parametrize(("peer", "key_type"), per_peer(lambda peer: peer.key_types))
def test_server_client_certificate(peer: Peer, pki: PKI, key_type: str) -> None:
    leaf = pki.ca.issue(key_type=key_type, client=True)
    cert, key, _ = pki.files(leaf)
    with listener() as (lsock, port), peer.client(port, pki.cafile, cert=(cert, key)) \
            as proc, accept(lsock) as sock:
        conn = pki_server(pki, truststore=pki.ca.truststore(),
                          require_peer_authentication=True)
        run_server(sock, conn)
        assert conn.nconfig.peer_verified
        # OpenSSL completes the chain from its -CAfile store, root included
        chain = conn.nconfig.peer_certificate_chain
        assert chain[:len(leaf.chain_der)] == tuple(leaf.chain_der)
        assert conn.nconfig.peer_signature_algorithm == peer.key_types[key_type]
        peer.talk(proc, sock, conn, b"signed with " + key_type.encode())
        peer.close_server(proc, sock, conn)


@by_peer
def test_server_client_certificate_unknown_ca(peer: Peer, pki: PKI) -> None:
    leaf = pki.other_ca.issue(client=True)
    cert, key, _ = pki.files(leaf)
    with listener() as (lsock, port), \
            peer.client(port, pki.cafile, cert=(cert, key), log=True) as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki, truststore=pki.ca.truststore(),
                          require_peer_authentication=True)
        with pytest.raises(UnknownCA):
            run_server(sock, conn)
        sock.close()
        proc.wait_for(peer.alert_received(AlertDescription.UNKNOWN_CA))


@by_peer
def test_server_ignores_unknown_key_share(peer: Peer, pki: PKI) -> None:
    """The peer key-shares ffdhe2048 (which siotls lacks): HRR to X25519. (OpenSSL 3.5
    key-shares X25519MLKEM768 by default, another group siotls must skip.)"""
    with listener() as (lsock, port), \
            peer.client(port, pki.cafile, groups=[NamedGroup.ffdhe2048, NamedGroup.x25519],
                        args=peer.single_key_share) as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki)
        run_server(sock, conn)
        assert conn.nconfig.hello_retry_request
        assert conn.nconfig.key_exchange == NamedGroup.x25519
        peer.talk(proc, sock, conn, b"after ffdhe")
        peer.close_server(proc, sock, conn)


@by_peer
def test_server_cipher_suite_preference(peer: Peer, pki: PKI) -> None:
    """The server's order wins over the client's."""
    suites = [CipherSuites.TLS_CHACHA20_POLY1305_SHA256, CipherSuites.TLS_AES_128_GCM_SHA256]
    with listener() as (lsock, port), peer.client(port, pki.cafile, suites=suites) as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki)
        run_server(sock, conn)
        assert conn.nconfig.cipher_suite == CipherSuites.TLS_AES_128_GCM_SHA256
        peer.talk(proc, sock, conn, b"preference")
        peer.close_server(proc, sock, conn)


@by_peer
def test_server_ragged_eof(peer: Peer, pki: PKI) -> None:
    """The peer client dies: the transport ends without a close_notify."""
    with listener() as (lsock, port), peer.client(port, pki.cafile) as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki)
        run_server(sock, conn)
        peer.talk(proc, sock, conn, b"last words")
        proc.kill()
        with pytest.raises(RaggedEOF):
            drive(sock, conn, lambda: False)
        assert not conn.close_notify_received


def server_refusals(peer: Peer) -> dict[str, tuple[dict[str, Any], dict[str, Any],
                                                   type[TLSFatalAlert]]]:
    """Name -> (peer client options, siotls server options, what the server raises)."""
    client_certificate = {"truststore": True, "require_peer_authentication": True}
    return {
        "cipher-suite": ({"suites": [CipherSuites.TLS_AES_256_GCM_SHA384]},
                         {"cipher_suites": [CipherSuites.TLS_AES_128_GCM_SHA256]},
                         HandshakeFailure),
        "group": ({"groups": [NamedGroup.secp256r1]}, {"key_exchanges": [NamedGroup.x448]},
                  HandshakeFailure),
        "ffdhe-only": ({"groups": [NamedGroup.ffdhe2048]}, {}, HandshakeFailure),
        "ccm-only": (peer.ccm_only, {}, HandshakeFailure),
        "signature-algorithm": (peer.sigalgs_p256_cannot_sign, {}, HandshakeFailure),
        "tls12-client": (peer.tls12_only, {}, ProtocolVersion),
        "alpn-mismatch": ({"alpn": [HTTP11]}, {"alpn": [H2]}, NoApplicationProtocol),
        "client-certificate-missing": ({}, client_certificate, CertificateRequired),
    }


@pytest.mark.parametrize(("peer", "case"), per_peer(server_refusals))
def test_server_refuses(peer: Peer, pki: PKI, case: str) -> None:
    """siotls refuses the peer client's hello (or its missing certificate) with the
    alert that says why; the peer reports that alert and exits 1."""
    client_options, server_kwargs, error = server_refusals(peer)[case]
    if server_kwargs.get("truststore"):
        server_kwargs = server_kwargs | {"truststore": pki.ca.truststore()}
    with listener() as (lsock, port), \
            peer.client(port, pki.cafile, log=True, **client_options) as proc, \
            accept(lsock) as sock:
        conn = pki_server(pki, **server_kwargs)
        with pytest.raises(error):
            run_server(sock, conn)
        sock.close()
        assert proc.wait() != 0
        assert re.search(peer.alert_received(error.description), proc.output)
