"""Interoperability with Python's ``ssl`` (OpenSSL), in process, over MemoryBIOs."""

from __future__ import annotations

import random
import ssl
from pathlib import Path
from typing import Any

import pytest

from certs import Leaf, make_ca, write_pem_files
from helpers import chunks, client_config, server_config
from siotls import TLSConnection, TLSPeerAlert
from siotls.core.client import key_share_groups
from siotls.errors import BadCertificate, CertificateRequired, NoApplicationProtocol, UnknownCA
from siotls.iana import AlertDescription, CipherSuites, NamedGroup, SignatureScheme

SS = SignatureScheme
ALL_SUITES = [
    CipherSuites.TLS_AES_128_GCM_SHA256,
    CipherSuites.TLS_AES_256_GCM_SHA384,
    CipherSuites.TLS_CHACHA20_POLY1305_SHA256,
]
ALL_GROUPS = [
    NamedGroup.x25519,
    NamedGroup.secp256r1,
    NamedGroup.secp384r1,
    NamedGroup.secp521r1,
    NamedGroup.x448,
]
#: Key types of the server certificate, with the scheme each one signs with by default.
KEY_TYPES = [
    ("ecdsa-p256", SS.ecdsa_secp256r1_sha256),
    ("ecdsa-p384", SS.ecdsa_secp384r1_sha384),
    ("ed25519", SS.ed25519),
    ("rsa-2048", SS.rsa_pss_rsae_sha256),
]
MAX_STEPS = 200


# -- the stdlib peer ------------------------------------------------------------------------
class Stdlib:
    """An ``ssl.SSLObject`` over two MemoryBIOs."""

    def __init__(self, ctx: ssl.SSLContext, server_side: bool,
                 server_hostname: str | None = None) -> None:
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.incoming, self.outgoing, server_side=server_side,
                                server_hostname=server_hostname)
        self.handshake_done = False
        self.received = bytearray()
        self.close_notify_received = False

    def step(self) -> None:
        """Progress the handshake, then read everything available."""
        if not self.handshake_done:
            try:
                self.obj.do_handshake()
            except ssl.SSLWantReadError:
                return
            self.handshake_done = True
        while not self.close_notify_received:
            try:
                data = self.obj.read(2**17)
            except ssl.SSLWantReadError:
                return
            except ssl.SSLZeroReturnError:
                self.close_notify_received = True
                return
            if not data:  # SSLObject.read() returns b'' after a close_notify
                self.close_notify_received = True
                return
            self.received += data

    def write_all(self, data: bytes) -> None:
        view = memoryview(data)
        for _ in range(MAX_STEPS):
            if not view:
                return
            view = view[self.obj.write(view):]
        raise AssertionError("ssl did not take the data")

    def take_received(self) -> bytes:
        data = bytes(self.received)
        self.received.clear()
        return data


def pump(conn: TLSConnection, peer: Stdlib, rng: random.Random | None = None,
         max_chunk: int = 4096) -> None:
    """Move bytes both ways until neither side has anything to say (bounded)."""
    for _ in range(MAX_STEPS):
        moved = 0
        data = conn.data_to_send()
        if data:
            moved += len(data)
            for chunk in chunks(data, rng, max_chunk):
                peer.incoming.write(chunk)
                if rng is not None:
                    peer.step()
        peer.step()
        data = peer.outgoing.read()
        if data:
            moved += len(data)
            for chunk in chunks(data, rng, max_chunk):
                conn.receive_data(chunk)
        if not moved:
            return
    raise AssertionError("the connection did not settle")


def connect(conn: TLSConnection, peer: Stdlib, rng: random.Random | None = None) -> None:
    conn.initiate_connection()
    pump(conn, peer, rng)
    assert conn.is_connected()
    assert peer.handshake_done
    assert peer.obj.version() == "TLSv1.3"


def ssl_context(server_side: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def configure(ctx: ssl.SSLContext, options: dict[str, Any]) -> None:
    """Set context attributes; a callable value is called with the context instead."""
    for name, value in options.items():
        if callable(value):
            value(ctx)
        else:
            setattr(ctx, name, value)


def stdlib_server(tmp_path: Path, leaf: Leaf | None = None, **options: Any) -> Stdlib:
    leaf = leaf or make_ca().issue()
    cert_file, key_file, _ = write_pem_files(tmp_path, leaf)
    ctx = ssl_context(server_side=True)
    ctx.load_cert_chain(cert_file, key_file)
    configure(ctx, options)
    return Stdlib(ctx, server_side=True)


def stdlib_client(tmp_path: Path, hostname: str = "localhost", ca_leaf: Leaf | None = None,
                  **options: Any) -> Stdlib:
    leaf = ca_leaf or make_ca().issue()
    _, _, ca_file = write_pem_files(tmp_path, leaf)
    ctx = ssl_context(server_side=False)
    ctx.load_verify_locations(ca_file)
    assert ctx.check_hostname
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    configure(ctx, options)
    return Stdlib(ctx, server_side=False, server_hostname=hostname)


def siotls_client(**kwargs: Any) -> TLSConnection:
    return TLSConnection(client_config(make_ca(), **kwargs), server_hostname="localhost")


def siotls_server(leaf: Leaf | None = None, **kwargs: Any) -> TLSConnection:
    return TLSConnection(server_config(leaf or make_ca().issue(), **kwargs))


def pair(tmp_path: Path, siotls_side: str, siotls_kwargs: dict[str, Any] | None = None,
         stdlib_options: dict[str, Any] | None = None) -> tuple[TLSConnection, Stdlib]:
    """A connected (siotls, stdlib) pair; ``siotls_side`` is 'client' or 'server'."""
    siotls_kwargs = siotls_kwargs or {}
    stdlib_options = stdlib_options or {}
    if siotls_side == "client":
        conn, peer = siotls_client(**siotls_kwargs), stdlib_server(tmp_path, **stdlib_options)
    else:
        conn, peer = siotls_server(**siotls_kwargs), stdlib_client(tmp_path, **stdlib_options)
    connect(conn, peer)
    return conn, peer


def exchange(conn: TLSConnection, peer: Stdlib, size: int = 1000,
             rng: random.Random | None = None) -> None:
    """Data from siotls to ssl, then from ssl to siotls; check both arrived intact."""
    rng_data = rng or random.Random(size)
    data = rng_data.randbytes(size)
    if rng is None:
        conn.send_data(data)
    else:
        for piece in chunks(data, rng, 70000):
            conn.send_data(piece)
    pump(conn, peer, rng)
    assert peer.take_received() == data
    data = rng_data.randbytes(size)
    peer.write_all(data)
    received = bytearray()
    for _ in range(MAX_STEPS):
        pump(conn, peer, rng)
        received += conn.data_to_read()
        if len(received) >= len(data):
            break
    assert received == data


SIDES = pytest.mark.parametrize("side", ["client", "server"],
                                ids=["siotls-client", "siotls-server"])


# -- handshake and certificates ---------------------------------------------------------
@pytest.mark.parametrize(("key_type", "scheme"), KEY_TYPES, ids=[k for k, _ in KEY_TYPES])
def test_siotls_client_verifies_stdlib_server(tmp_path: Path, key_type: str,
                                              scheme: SignatureScheme) -> None:
    leaf = make_ca().issue(key_type=key_type)
    conn, peer = siotls_client(), stdlib_server(tmp_path, leaf)
    connect(conn, peer)
    assert conn.nconfig.peer_verified
    assert conn.nconfig.peer_certificate_chain == tuple(leaf.chain_der)
    assert conn.nconfig.peer_signature_algorithm is scheme
    assert peer.obj.cipher()[0] == conn.nconfig.cipher_suite.name
    assert conn.session_tickets  # OpenSSL sends NewSessionTickets after the handshake
    exchange(conn, peer)


@pytest.mark.parametrize(("key_type", "scheme"), KEY_TYPES, ids=[k for k, _ in KEY_TYPES])
def test_stdlib_client_verifies_siotls_server(tmp_path: Path, key_type: str,
                                              scheme: SignatureScheme) -> None:
    leaf = make_ca().issue(key_type=key_type)
    conn, peer = siotls_server(leaf), stdlib_client(tmp_path, ca_leaf=leaf)
    connect(conn, peer)
    assert conn.nconfig.signature_algorithm is scheme
    assert conn.nconfig.server_name == "localhost"
    assert peer.obj.getpeercert(binary_form=True) == leaf.cert_der
    assert peer.obj.cipher()[0] == conn.nconfig.cipher_suite.name
    exchange(conn, peer)


def test_stdlib_client_rejects_wrong_hostname(tmp_path: Path) -> None:
    conn, peer = siotls_server(), stdlib_client(tmp_path, hostname="example.com")
    conn.initiate_connection()
    with pytest.raises(ssl.SSLCertVerificationError):
        pump(conn, peer)
    with pytest.raises(TLSPeerAlert) as info:
        conn.receive_data(peer.outgoing.read())
    assert info.value.description == AlertDescription.BAD_CERTIFICATE
    assert not conn.is_post_handshake()


@pytest.mark.parametrize(("hostname", "untrusted", "error", "reason"), [
    ("example.com", False, BadCertificate, "SSLV3_ALERT_BAD_CERTIFICATE"),
    ("localhost", True, UnknownCA, "TLSV1_ALERT_UNKNOWN_CA"),
])
def test_siotls_client_rejects_stdlib_server(tmp_path: Path, hostname: str, untrusted: bool,
                                             error: type[Exception], reason: str) -> None:
    ca = make_ca(name="siotls untrusted CA") if untrusted else make_ca()
    peer = stdlib_server(tmp_path, ca.issue())
    conn = TLSConnection(client_config(make_ca()), server_hostname=hostname)
    conn.initiate_connection()
    with pytest.raises(error):
        pump(conn, peer)
    peer.incoming.write(conn.data_to_send())
    with pytest.raises(ssl.SSLError) as info:
        peer.step()
    assert info.value.reason == reason


@pytest.mark.parametrize("hostname", ["127.0.0.1", "::1"])
def test_ip_address_hostnames(tmp_path: Path, hostname: str) -> None:
    leaf = make_ca().issue()
    conn, peer = siotls_server(leaf), stdlib_client(tmp_path, hostname=hostname)
    connect(conn, peer)
    assert conn.nconfig.server_name is None  # no SNI for an IP address
    exchange(conn, peer)
    conn = TLSConnection(client_config(make_ca()), server_hostname=hostname)
    peer = stdlib_server(tmp_path, leaf)
    connect(conn, peer)
    assert conn.nconfig.peer_verified
    exchange(conn, peer)


def test_stdlib_client_offering_post_handshake_auth(tmp_path: Path) -> None:
    conn, peer = pair(tmp_path, "server", {}, {"post_handshake_auth": True})
    exchange(conn, peer)


@SIDES
def test_data_in_the_flight_of_the_client_finished(tmp_path: Path, side: str) -> None:
    """The client's first data travels with its Finished."""
    if side == "client":
        conn, peer = siotls_client(), stdlib_server(tmp_path)
        conn.initiate_connection()
        peer.incoming.write(conn.data_to_send())
        peer.step()
        conn.receive_data(peer.outgoing.read())
        assert conn.is_post_handshake()
        conn.send_data(b"with Finished")
        peer.incoming.write(conn.data_to_send())
        peer.step()
        assert peer.handshake_done
        assert peer.take_received() == b"with Finished"
    else:
        conn, peer = siotls_server(), stdlib_client(tmp_path)
        conn.initiate_connection()
        peer.step()
        conn.receive_data(peer.outgoing.read())
        peer.incoming.write(conn.data_to_send())
        peer.step()
        assert peer.handshake_done
        peer.write_all(b"with Finished")
        conn.receive_data(peer.outgoing.read())
        assert conn.is_connected()
        assert conn.data_to_read() == b"with Finished"
    pump(conn, peer)
    exchange(conn, peer)


@pytest.mark.parametrize("middlebox", [True, False], ids=["middlebox", "no-middlebox"])
def test_hello_retry_request_stdlib_server(tmp_path: Path, middlebox: bool) -> None:
    conn = siotls_client(middlebox_compatibility=middlebox)
    # Our key shares (X25519MLKEM768 and x25519) do not include P-256.
    assert NamedGroup.secp256r1 not in key_share_groups(conn.config.key_exchanges)
    peer = stdlib_server(tmp_path, set_ecdh_curve=lambda ctx: ctx.set_ecdh_curve("prime256v1"))
    connect(conn, peer)
    assert conn.nconfig.hello_retry_request
    assert conn.nconfig.key_exchange is NamedGroup.secp256r1
    exchange(conn, peer)


def test_hello_retry_request_stdlib_client(tmp_path: Path) -> None:
    # OpenSSL key-shares x25519 only: the server asks for P-384.
    conn, peer = pair(tmp_path, "server", {"key_exchanges": [NamedGroup.secp384r1]})
    assert conn.nconfig.hello_retry_request
    assert conn.nconfig.key_exchange is NamedGroup.secp384r1
    exchange(conn, peer)


def test_no_hello_retry_by_default(tmp_path: Path) -> None:
    conn, _ = pair(tmp_path, "server")
    assert not conn.nconfig.hello_retry_request
    assert conn.nconfig.key_exchange is NamedGroup.x25519
    conn, _ = pair(tmp_path, "client")
    assert not conn.nconfig.hello_retry_request
    # Python's ssl (OpenSSL 3.0, no ML-KEM) takes our x25519 share, not the hybrid.
    assert conn.nconfig.key_exchange is NamedGroup.x25519


@SIDES
@pytest.mark.parametrize("suite", ALL_SUITES, ids=lambda s: s.name)
def test_cipher_suites(tmp_path: Path, side: str, suite: CipherSuites) -> None:
    conn, peer = pair(tmp_path, side, {"cipher_suites": [suite]})
    assert conn.nconfig.cipher_suite is suite
    assert peer.obj.cipher()[0] == suite.name
    exchange(conn, peer, 5000)


@SIDES
@pytest.mark.parametrize("group", ALL_GROUPS, ids=lambda g: g.name)
def test_groups(tmp_path: Path, side: str, group: NamedGroup) -> None:
    conn, peer = pair(tmp_path, side, {"key_exchanges": [group]})
    assert conn.nconfig.key_exchange is group
    # OpenSSL's client key-shares x25519 only: the other groups take a HelloRetryRequest.
    assert conn.nconfig.hello_retry_request == (side == "server" and group != NamedGroup.x25519)
    exchange(conn, peer)


# -- data --------------------------------------------------------------------------------
@SIDES
def test_one_mebibyte_each_way(tmp_path: Path, side: str) -> None:
    conn, peer = pair(tmp_path, side)
    exchange(conn, peer, 2**20, random.Random(7))


@SIDES
def test_random_chunks_handshake(tmp_path: Path, side: str) -> None:
    rng = random.Random(3)
    if side == "client":
        conn, peer = siotls_client(), stdlib_server(tmp_path)
    else:
        conn, peer = siotls_server(), stdlib_client(tmp_path)
    conn.initiate_connection()
    pump(conn, peer, rng, max_chunk=16)
    assert conn.is_connected()
    assert peer.handshake_done
    exchange(conn, peer, 20000, rng)


@SIDES
def test_record_padding_accepted(tmp_path: Path, side: str) -> None:
    # Maximal padding: OpenSSL refuses a TLSInnerPlaintext above 2^14 + 1 bytes.
    conn, peer = pair(tmp_path, side, {"record_padding": lambda content_type, length: 2**16})
    exchange(conn, peer, 3 * 2**14 + 3)
    conn.close_sending_end()
    pump(conn, peer)
    assert peer.close_notify_received


@SIDES
def test_small_fragments(tmp_path: Path, side: str) -> None:
    conn, peer = pair(tmp_path, side, {"max_fragment_size": 64})
    exchange(conn, peer, 5000)


@SIDES
def test_alpn(tmp_path: Path, side: str) -> None:
    conn, peer = pair(tmp_path, side, {"alpn": [b"http/1.1", b"h2"]},
                      {"set_alpn": lambda ctx: ctx.set_alpn_protocols(["h2", "http/1.1"])})
    # The server's preference wins.
    expected = "http/1.1" if side == "server" else "h2"
    assert conn.nconfig.alpn == expected.encode()
    assert peer.obj.selected_alpn_protocol() == expected
    exchange(conn, peer)


@SIDES
def test_alpn_offered_by_one_side_only(tmp_path: Path, side: str) -> None:
    conn, peer = pair(tmp_path, side, {"alpn": [b"h2"]})
    assert conn.nconfig.alpn is None
    assert peer.obj.selected_alpn_protocol() is None
    conn, peer = pair(tmp_path, side, {},
                      {"set_alpn": lambda ctx: ctx.set_alpn_protocols(["h2"])})
    assert conn.nconfig.alpn is None
    assert peer.obj.selected_alpn_protocol() is None


def test_alpn_no_overlap_siotls_server(tmp_path: Path) -> None:
    conn = siotls_server(alpn=[b"http/1.1"])
    peer = stdlib_client(tmp_path, set_alpn=lambda ctx: ctx.set_alpn_protocols(["h2"]))
    conn.initiate_connection()
    with pytest.raises(NoApplicationProtocol):
        pump(conn, peer)
    peer.incoming.write(conn.data_to_send())
    with pytest.raises(ssl.SSLError, match=r"(?i)no.application.protocol"):
        peer.step()


# -- closing --------------------------------------------------------------------------------
@SIDES
def test_siotls_closes_first(tmp_path: Path, side: str) -> None:
    conn, peer = pair(tmp_path, side)
    conn.send_data(b"last words")
    conn.close_sending_end()
    pump(conn, peer)
    assert peer.take_received() == b"last words"
    assert peer.close_notify_received
    # Half-closed: ssl may still write before it answers the close_notify.
    peer.write_all(b"answer")
    pump(conn, peer)
    assert conn.data_to_read() == b"answer"
    assert not conn.close_notify_received
    peer.obj.unwrap()  # our close_notify arrived: ssl completes the shutdown
    pump(conn, peer)
    assert conn.close_notify_received
    conn.close_receiving_end()  # no RaggedEOF


@SIDES
def test_stdlib_closes_first(tmp_path: Path, side: str) -> None:
    conn, peer = pair(tmp_path, side)
    peer.write_all(b"bye")
    with pytest.raises(ssl.SSLWantReadError):
        peer.obj.unwrap()  # close_notify sent, waits for ours
    pump(conn, peer)
    assert conn.data_to_read() == b"bye"
    assert conn.close_notify_received
    assert not conn.is_connected()
    assert conn.can_send  # (OpenSSL refuses data once it called unwrap())
    conn.close_sending_end()
    peer.incoming.write(conn.data_to_send())
    peer.obj.unwrap()  # completes now
    conn.close_receiving_end()


# -- key updates -----------------------------------------------------------------------------
@SIDES
@pytest.mark.parametrize("request_peer_update", [True, False])
def test_key_update_from_siotls(tmp_path: Path, side: str, request_peer_update: bool) -> None:
    conn, peer = pair(tmp_path, side)
    exchange(conn, peer)
    for _ in range(3):
        conn.update_keys(request_peer_update)
        conn.send_data(b"after the update")
        peer.incoming.write(conn.data_to_send())
        peer.step()
        assert peer.take_received() == b"after the update"
        # ssl answers a requested update with its own KeyUpdate, before its next data.
        peer.write_all(b"ssl after the update")
        wire = peer.outgoing.read()
        records = 0
        pos = 0
        while pos < len(wire):
            pos += 5 + int.from_bytes(wire[pos + 3 : pos + 5], "big")
            records += 1
        assert records == (2 if request_peer_update else 1)
        conn.receive_data(wire)
        assert conn.data_to_read() == b"ssl after the update"
        assert conn.data_to_send() == b""  # nothing to answer
    exchange(conn, peer, 50000)


# -- key log ----------------------------------------------------------------------------------
@SIDES
def test_keylog_matches_stdlib(tmp_path: Path, side: str) -> None:
    lines: list[str] = []
    keylog = tmp_path / "keys.log"
    conn, peer = pair(tmp_path, side, {"log_keys": True, "keylog": lines.append},
                      {"keylog_filename": str(keylog)})
    exchange(conn, peer)
    stdlib_lines = {line for line in keylog.read_text().splitlines()
                    if line and not line.startswith("#")}
    assert len(lines) == 5
    assert set(lines) == stdlib_lines


# -- client authentication --------------------------------------------------------------------
@pytest.mark.parametrize(("key_type", "scheme"), [
    ("ecdsa-p256", SS.ecdsa_secp256r1_sha256),
    ("ed25519", SS.ed25519),
])
def test_stdlib_server_authenticates_siotls_client(tmp_path: Path, key_type: str,
                                                   scheme: SignatureScheme) -> None:
    ca = make_ca()
    client_leaf = ca.issue(key_type=key_type, client=True)
    _, _, ca_file = write_pem_files(tmp_path, client_leaf)

    def require_client_cert(ctx: ssl.SSLContext) -> None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(ca_file)

    conn, peer = pair(tmp_path, "client",
                      {"private_key": client_leaf.key_der,
                       "certificate_chain": client_leaf.chain_der},
                      {"require": require_client_cert})
    assert conn.nconfig.signature_algorithm is scheme
    assert peer.obj.getpeercert(binary_form=True) == client_leaf.cert_der
    exchange(conn, peer)


def test_stdlib_server_requires_a_client_certificate(tmp_path: Path) -> None:
    ca_file = write_pem_files(tmp_path, make_ca().issue())[2]

    def require_client_cert(ctx: ssl.SSLContext) -> None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(ca_file)

    conn, peer = siotls_client(), stdlib_server(tmp_path, require=require_client_cert)
    conn.initiate_connection()
    with pytest.raises(ssl.SSLError, match="PEER_DID_NOT_RETURN_A_CERTIFICATE"):
        pump(conn, peer)
    with pytest.raises(TLSPeerAlert) as info:
        conn.receive_data(peer.outgoing.read())
    assert info.value.description == AlertDescription.CERTIFICATE_REQUIRED


def test_siotls_server_authenticates_stdlib_client(tmp_path: Path) -> None:
    ca = make_ca()
    client_leaf = ca.issue(client=True)
    cert_file, key_file, _ = write_pem_files(tmp_path, client_leaf)
    conn, peer = pair(tmp_path, "server",
                      {"require_peer_authentication": True, "truststore": ca.truststore()},
                      {"cert": lambda ctx: ctx.load_cert_chain(cert_file, key_file)})
    assert conn.nconfig.peer_verified
    # OpenSSL completes the chain from its verify store: leaf, then the root.
    assert conn.nconfig.peer_certificate_chain[0] == client_leaf.cert_der
    assert conn.nconfig.peer_signature_algorithm is SS.ecdsa_secp256r1_sha256
    exchange(conn, peer)


def test_siotls_server_requires_a_client_certificate(tmp_path: Path) -> None:
    conn = siotls_server(require_peer_authentication=True, truststore=make_ca().truststore())
    peer = stdlib_client(tmp_path)
    conn.initiate_connection()
    with pytest.raises(CertificateRequired):
        pump(conn, peer)
    assert peer.handshake_done  # the TLS 1.3 client finished before the server complained
    peer.incoming.write(conn.data_to_send())
    with pytest.raises(ssl.SSLError, match="CERTIFICATE_REQUIRED"):
        peer.step()
