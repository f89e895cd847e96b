"""siotls client against siotls server, in memory: negotiation, data, closing, errors."""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from certs import make_ca
from helpers import (
    chunks,
    client_config,
    connected,
    connection_pair,
    flow,
    handshake,
    server_config,
)
from siotls import (
    InsecureWarning,
    RaggedEOF,
    TLSConfiguration,
    TLSConnection,
    TLSFatalAlert,
    TLSPeerAlert,
    TLSUsageError,
)
from siotls.errors import (
    BadCertificate,
    BadRecordMac,
    CertificateRequired,
    HandshakeFailure,
    NoApplicationProtocol,
    RecordOverflow,
    TLSConnectionFailed,
    UnexpectedMessage,
    UnknownCA,
)
from siotls.iana import AlertDescription, CipherSuites, ContentType, NamedGroup, SignatureScheme

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
MAX_RECORD = 2**14 + 256
#: TLSInnerPlaintext <= 2^14 + 1 (RFC 8446 section 5.2), plus the 16-byte AEAD tag.
MAX_PROTECTED_RECORD = 2**14 + 1 + 16


# -- helpers ---------------------------------------------------------------------------
def parse_records(wire: bytes) -> list[tuple[int, int]]:
    """``(content_type, length)`` of every record in ``wire``, which must hold whole records."""
    records = []
    pos = 0
    while pos < len(wire):
        assert len(wire) - pos >= 5, "a truncated record header"
        content_type = wire[pos]
        assert wire[pos + 1 : pos + 3] in (b"\x03\x03", b"\x03\x01"), wire[pos : pos + 5]
        length = int.from_bytes(wire[pos + 3 : pos + 5], "big")
        pos += 5 + length
        assert pos <= len(wire), "a truncated record"
        records.append((content_type, length))
    return records


def pump(client: TLSConnection, server: TLSConnection, rng: random.Random | None = None,
         max_chunk: int = 64) -> dict[str, bytes]:
    """Run the handshake with ``max_chunk``-byte random chunks; return each side's bytes."""
    wire = {"client": b"", "server": b""}
    for _ in range(10):
        moved = 0
        for name, sender, receiver in (("client", client, server), ("server", server, client)):
            data = sender.data_to_send()
            wire[name] += data
            moved += len(data)
            for chunk in chunks(data, rng, max_chunk):
                receiver.receive_data(chunk)
        if client.is_post_handshake() and server.is_post_handshake() and not moved:
            return wire
    raise AssertionError("the handshake did not complete")


def transfer(sender: TLSConnection, receiver: TLSConnection, data: bytes,
             rng: random.Random | None = None, max_chunk: int = 4096) -> None:
    """Send ``data`` in random pieces, deliver it in random chunks, check it arrived."""
    if rng is None:
        sender.send_data(data)
    else:
        for piece in chunks(data, rng, 70000):
            sender.send_data(piece)
    wire = sender.data_to_send()
    for record_type, length in parse_records(wire):
        assert record_type == ContentType.APPLICATION_DATA
        assert length <= MAX_PROTECTED_RECORD
    received = bytearray()
    for chunk in chunks(wire, rng, max_chunk):
        receiver.receive_data(chunk)
        received += receiver.data_to_read()
    assert received == data


def both_ways(client: TLSConnection, server: TLSConnection, size: int = 1000) -> None:
    transfer(client, server, random.randbytes(size))
    transfer(server, client, random.randbytes(size))


def expect_failure(receiver: TLSConnection, data: bytes, error: type[TLSFatalAlert]
                   ) -> bytes:
    """``receiver`` raises ``error`` on ``data``; return the alert it queued."""
    with pytest.raises(error):
        receiver.receive_data(data)
    alert = receiver.data_to_send()
    assert alert, "no alert was queued"
    return alert


def expect_peer_alert(receiver: TLSConnection, alert: bytes,
                      description: AlertDescription) -> None:
    with pytest.raises(TLSPeerAlert) as info:
        receiver.receive_data(alert)
    assert info.value.description == description


def hkdf_expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes((len(full),)) + full + b"\x00"
    return HKDFExpand(hashes.SHA256(), length, info).derive(secret)


def seal_record(secret: bytes, inner: bytes, seq: int) -> bytes:
    """Encrypt a TLS_AES_128_GCM_SHA256 record independently of siotls."""
    key = hkdf_expand_label(secret, b"key", 16)
    iv = int.from_bytes(hkdf_expand_label(secret, b"iv", 12), "big")
    header = b"\x17\x03\x03" + (len(inner) + 16).to_bytes(2, "big")
    return header + AESGCM(key).encrypt((iv ^ seq).to_bytes(12, "big"), inner, header)


def connected_with_secret() -> tuple[TLSConnection, TLSConnection, bytes]:
    """A connected pair on TLS_AES_128_GCM_SHA256, and CLIENT_TRAFFIC_SECRET_0."""
    lines: list[str] = []
    client, server = connected(
        {"cipher_suites": [CipherSuites.TLS_AES_128_GCM_SHA256], "log_keys": True,
         "keylog": lines.append})
    secret = bytes.fromhex(next(
        line.split()[2] for line in lines if line.startswith("CLIENT_TRAFFIC_SECRET_0")))
    return client, server, secret


def open_record(secret: bytes, record: bytes, seq: int) -> bytes:
    """Decrypt a TLS_AES_128_GCM_SHA256 record independently of siotls."""
    key = hkdf_expand_label(secret, b"key", 16)
    iv = int.from_bytes(hkdf_expand_label(secret, b"iv", 12), "big")
    nonce = (iv ^ seq).to_bytes(12, "big")
    return AESGCM(key).decrypt(nonce, record[5:], record[:5])


# -- negotiation -----------------------------------------------------------------------
@pytest.mark.parametrize("group", ALL_GROUPS, ids=lambda g: g.name)
@pytest.mark.parametrize("suite", ALL_SUITES, ids=lambda s: s.name)
def test_cipher_suite_and_group(suite: CipherSuites, group: NamedGroup) -> None:
    client, server = connected({"cipher_suites": [suite], "key_exchanges": [group]})
    for conn in (client, server):
        assert conn.nconfig.cipher_suite is suite
        assert conn.nconfig.key_exchange is group
        assert not conn.nconfig.hello_retry_request
    both_ways(client, server)


@pytest.mark.parametrize("suite", ALL_SUITES, ids=lambda s: s.name)
def test_server_cipher_suite_preference_wins(suite: CipherSuites) -> None:
    others = [s for s in ALL_SUITES if s is not suite]
    client, server = connected({"cipher_suites": [*others, suite]},
                               {"cipher_suites": [suite, *others]})
    assert client.nconfig.cipher_suite is server.nconfig.cipher_suite is suite
    both_ways(client, server)


SCHEMES = [
    ("ecdsa-p256", SS.ecdsa_secp256r1_sha256),
    ("ecdsa-p384", SS.ecdsa_secp384r1_sha384),
    ("ecdsa-p521", SS.ecdsa_secp521r1_sha512),
    ("ed25519", SS.ed25519),
    ("ed448", SS.ed448),
    ("rsa-2048", SS.rsa_pss_rsae_sha256),
    ("rsa-2048", SS.rsa_pss_rsae_sha384),
    ("rsa-2048", SS.rsa_pss_rsae_sha512),
]


@pytest.mark.parametrize(("key_type", "scheme"), SCHEMES, ids=lambda v: getattr(v, "name", v))
def test_signature_scheme_forced_by_server(key_type: str, scheme: SignatureScheme) -> None:
    client, server = connected(server_kwargs={"signature_algorithms": [scheme]},
                               key_type=key_type)
    assert server.nconfig.signature_algorithm is scheme
    assert client.nconfig.peer_signature_algorithm is scheme
    assert client.nconfig.signature_algorithm is None  # no client authentication
    assert server.nconfig.peer_signature_algorithm is None
    assert client.nconfig.peer_verified
    both_ways(client, server)


@pytest.mark.parametrize("scheme", [SS.rsa_pss_rsae_sha384, SS.rsa_pss_rsae_sha512],
                         ids=lambda s: s.name)
def test_signature_scheme_restricted_by_client(scheme: SignatureScheme) -> None:
    client, server = connected({"signature_algorithms": [scheme]}, key_type="rsa-2048")
    assert server.nconfig.signature_algorithm is scheme
    assert client.nconfig.peer_signature_algorithm is scheme


def test_default_schemes_follow_server_key() -> None:
    client, _ = connected(key_type="ecdsa-p384")
    assert client.nconfig.peer_signature_algorithm is SS.ecdsa_secp384r1_sha384
    client, _ = connected(key_type="rsa-2048")
    # No RSA-PSS-SPKI key: the rsae flavour, first in our preference order.
    assert client.nconfig.peer_signature_algorithm is SS.rsa_pss_rsae_sha256


@pytest.mark.parametrize(("client_kwargs", "server_kwargs"), [
    ({"cipher_suites": [CipherSuites.TLS_AES_128_GCM_SHA256]},
     {"cipher_suites": [CipherSuites.TLS_AES_256_GCM_SHA384]}),
    ({"key_exchanges": [NamedGroup.x25519]}, {"key_exchanges": [NamedGroup.x448]}),
    ({}, {"signature_algorithms": [SS.ecdsa_secp384r1_sha384]}),  # the key is P-256
    ({"signature_algorithms": [SS.ed25519]}, {}),
], ids=["suite", "group", "server-scheme-vs-key", "client-scheme"])
def test_nothing_in_common(client_kwargs: dict[str, Any], server_kwargs: dict[str, Any]
                           ) -> None:
    client, server = connection_pair(client_kwargs, server_kwargs)
    alert = expect_failure(server, client.data_to_send(), HandshakeFailure)
    expect_peer_alert(client, alert, AlertDescription.HANDSHAKE_FAILURE)
    assert not client.is_post_handshake()


@pytest.mark.parametrize("middlebox", [True, False], ids=["middlebox", "no-middlebox"])
def test_hello_retry_request(middlebox: bool) -> None:
    client, server = connection_pair(
        {"key_exchanges": [NamedGroup.x25519, NamedGroup.secp256r1],
         "middlebox_compatibility": middlebox},
        {"key_exchanges": [NamedGroup.secp256r1]})
    wire = pump(client, server)
    for conn in (client, server):
        assert conn.nconfig.hello_retry_request
        assert conn.nconfig.key_exchange is NamedGroup.secp256r1
    both_ways(client, server)
    # Middlebox compatibility: exactly one dummy change_cipher_spec each way, else none.
    for side in ("client", "server"):
        ccs = [r for r in parse_records(wire[side]) if r[0] == ContentType.CHANGE_CIPHER_SPEC]
        assert len(ccs) == (1 if middlebox else 0), side


@pytest.mark.parametrize("middlebox", [True, False], ids=["middlebox", "no-middlebox"])
def test_change_cipher_spec_without_hello_retry(middlebox: bool) -> None:
    client, server = connection_pair({"middlebox_compatibility": middlebox})
    wire = pump(client, server)
    assert not client.nconfig.hello_retry_request
    assert not server.nconfig.hello_retry_request
    for side in ("client", "server"):
        ccs = [r for r in parse_records(wire[side]) if r[0] == ContentType.CHANGE_CIPHER_SPEC]
        assert len(ccs) == (1 if middlebox else 0), side


def test_server_name() -> None:
    client, server = connected()
    assert server.nconfig.server_name == "localhost"
    assert client.nconfig.server_name == "localhost"
    # An IP literal is checked against the certificate but not sent as SNI.
    client, server = connected(server_hostname="127.0.0.1")
    assert server.nconfig.server_name is None
    assert client.nconfig.peer_verified


# -- chunking and bulk data -----------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("max_chunk", [1, 7, 64])
@pytest.mark.parametrize("scenario", ["plain", "hrr", "client-auth"])
def test_handshake_random_chunks(seed: int, max_chunk: int, scenario: str) -> None:
    ca = make_ca()
    client_kwargs: dict[str, Any] = {}
    server_kwargs: dict[str, Any] = {}
    if scenario == "hrr":
        client_kwargs["key_exchanges"] = [NamedGroup.x25519, NamedGroup.secp384r1]
        server_kwargs["key_exchanges"] = [NamedGroup.secp384r1]
    if scenario == "client-auth":
        leaf = ca.issue(client=True)
        client_kwargs.update(private_key=leaf.key_der, certificate_chain=leaf.chain_der)
        server_kwargs.update(require_peer_authentication=True, truststore=ca.truststore())
    client, server = connection_pair(client_kwargs, server_kwargs)
    rng = random.Random(seed)
    pump(client, server, rng, max_chunk)
    assert client.is_connected()
    assert server.is_connected()
    assert server.nconfig.hello_retry_request == (scenario == "hrr")
    assert bool(server.nconfig.peer_certificate_chain) == (scenario == "client-auth")
    transfer(client, server, rng.randbytes(3000), rng, max_chunk)
    transfer(server, client, rng.randbytes(3000), rng, max_chunk)


@pytest.mark.parametrize("seed", range(2))
def test_one_mebibyte_each_way(seed: int) -> None:
    client, server = connected()
    rng = random.Random(seed)
    for sender, receiver in ((client, server), (server, client)):
        data = rng.randbytes(2**20)
        transfer(sender, receiver, data, rng, max_chunk=5000)


def test_data_to_send_size() -> None:
    client, server = connected()
    client.send_data(b"a" * 50000)
    received = bytearray()
    while True:
        piece = client.data_to_send(1000)
        if not piece:
            break
        assert len(piece) <= 1000
        server.receive_data(piece)
        received += server.data_to_read()
    assert received == b"a" * 50000


def test_data_to_read_size() -> None:
    client, server = connected()
    client.send_data(b"0123456789")
    flow(client, server)
    assert server.data_to_read(3) == b"012"
    assert server.data_to_read(4) == b"3456"
    assert server.data_to_read(100) == b"789"
    assert server.data_to_read() == b""


def test_data_in_the_same_flight_as_finished() -> None:
    """The client's first data may ride with its Finished."""
    client, server = connection_pair()
    flow(client, server)
    with pytest.raises(TLSUsageError):  # no 0.5-RTT data: the server waits for Finished
        server.send_data(b"0.5-RTT")
    flow(server, client)
    assert client.is_post_handshake()
    assert not server.is_post_handshake()
    client.send_data(b"client data")
    flow(client, server)  # Finished and data in one go
    assert server.is_post_handshake()
    assert server.data_to_read() == b"client data"
    both_ways(client, server)


# -- closing ----------------------------------------------------------------------------
def test_half_close() -> None:
    client, server = connected()
    client.send_data(b"request")
    client.close_sending_end()
    assert not client.is_connected()
    assert not client.can_send
    with pytest.raises(TLSUsageError):
        client.send_data(b"more")
    with pytest.raises(TLSUsageError):
        client.update_keys()
    client.close_sending_end()  # idempotent
    wire = client.data_to_send()
    assert [r[0] for r in parse_records(wire)] == [ContentType.APPLICATION_DATA] * 2
    server.receive_data(wire)
    assert server.data_to_read() == b"request"
    assert server.close_notify_received
    assert not server.is_connected()
    assert server.can_send
    assert not client.close_notify_received
    # The server still talks, the client still listens.
    transfer(server, client, b"response" * 5000)
    server.update_keys(request_peer_update=True)  # the client cannot answer: no error
    transfer(server, client, b"after the key update")
    assert client.data_to_send() == b""
    server.close_sending_end()
    flow(server, client)
    assert client.close_notify_received
    assert not server.can_send
    for conn in (client, server):
        assert conn.is_post_handshake()
        assert not conn.is_connected()
        conn.close_receiving_end()  # after close_notify: a clean end, no RaggedEOF
    with pytest.raises(TLSUsageError):
        server.send_data(b"too late")


def test_data_after_close_notify_is_ignored() -> None:
    client, server = connected()
    client.close_sending_end()
    close_notify = client.data_to_send()
    server.receive_data(close_notify)
    server.receive_data(b"anything at all")  # ignored, no error
    assert server.data_to_read() == b""


def test_ragged_eof_keeps_data() -> None:
    client, server = connected()
    server.send_data(b"possibly truncated")
    flow(server, client)
    with pytest.raises(RaggedEOF):
        client.close_receiving_end()
    assert client.data_to_read() == b"possibly truncated"
    assert not client.is_connected()
    # The sending side still works after the ragged EOF.
    transfer(client, server, b"still sending")


def test_no_ragged_eof_after_close_notify() -> None:
    client, server = connected()
    server.send_data(b"complete")
    server.close_sending_end()
    flow(server, client)
    client.close_receiving_end()
    assert client.data_to_read() == b"complete"


def test_ragged_eof_during_handshake_fails_the_connection() -> None:
    client, server = connection_pair()
    flow(client, server)
    with pytest.raises(RaggedEOF):
        client.close_receiving_end()
    with pytest.raises(TLSConnectionFailed):
        client.receive_data(server.data_to_send())


# -- key updates ---------------------------------------------------------------------------
@pytest.mark.parametrize("request_peer_update", [True, False])
@pytest.mark.parametrize("who", ["client", "server"])
def test_key_update(who: str, request_peer_update: bool) -> None:
    client, server = connected()
    updater, peer = (client, server) if who == "client" else (server, client)
    updater.update_keys(request_peer_update)
    wire = updater.data_to_send()
    assert [r[0] for r in parse_records(wire)] == [ContentType.APPLICATION_DATA]
    peer.receive_data(wire)
    answer = peer.data_to_send()
    # The peer answers a request with its own KeyUpdate, and only then.
    assert len(parse_records(answer)) == (1 if request_peer_update else 0)
    updater.receive_data(answer)
    assert updater.data_to_send() == b""
    both_ways(client, server)


def test_key_update_really_changes_the_key() -> None:
    client, server, secret0 = connected_with_secret()
    client.update_keys(request_peer_update=False)
    key_update = client.data_to_send()
    assert open_record(secret0, key_update, 0) == b"\x18\x00\x00\x01\x00\x16"
    server.receive_data(key_update)
    client.send_data(b"under the new key")
    record = client.data_to_send()
    secret1 = hkdf_expand_label(secret0, b"traffic upd", 32)
    assert open_record(secret1, record, 0) == b"under the new key\x17"
    with pytest.raises(InvalidTag):
        open_record(secret0, record, 1)
    server.receive_data(record)
    assert server.data_to_read() == b"under the new key"


def test_many_key_updates() -> None:
    client, server = connected()
    rng = random.Random(5)
    for i in range(200):
        updater = client if rng.random() < 0.5 else server
        updater.update_keys(request_peer_update=bool(i % 3))
        flow(client, server)
        flow(server, client)
        flow(client, server)
        both_ways(client, server, size=rng.randint(1, 3000))


def test_simultaneous_key_updates() -> None:
    client, server = connected()
    client.update_keys(True)
    server.update_keys(True)
    client.send_data(b"c")
    server.send_data(b"s")
    to_server, to_client = client.data_to_send(), server.data_to_send()
    server.receive_data(to_server)
    client.receive_data(to_client)
    assert server.data_to_read() == b"c"
    assert client.data_to_read() == b"s"
    for _ in range(3):
        flow(client, server)
        flow(server, client)
    both_ways(client, server)


# -- ALPN ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("client_alpn", "server_alpn", "expected"), [
    ([b"h2", b"http/1.1"], [b"http/1.1", b"h2"], b"http/1.1"),  # the server's order wins
    ([b"h2", b"http/1.1"], [b"h2"], b"h2"),
    (None, [b"h2"], None),
    ([b"h2"], None, None),
    (None, None, None),
])
def test_alpn(client_alpn: list[bytes] | None, server_alpn: list[bytes] | None,
              expected: bytes | None) -> None:
    client, server = connected({"alpn": client_alpn}, {"alpn": server_alpn})
    assert client.nconfig.alpn == expected
    assert server.nconfig.alpn == expected


def test_alpn_no_overlap() -> None:
    client, server = connection_pair({"alpn": [b"h2"]}, {"alpn": [b"http/1.1"]})
    alert = expect_failure(server, client.data_to_send(), NoApplicationProtocol)
    expect_peer_alert(client, alert, AlertDescription.NO_APPLICATION_PROTOCOL)


# -- authentication ------------------------------------------------------------------------
@pytest.mark.parametrize(("key_type", "scheme"), [
    ("ecdsa-p256", SS.ecdsa_secp256r1_sha256),
    ("ed25519", SS.ed25519),
])
def test_client_authentication(key_type: str, scheme: SignatureScheme) -> None:
    ca = make_ca()
    leaf = ca.issue(key_type=key_type, client=True)
    client, server = connected(
        {"private_key": leaf.key_der, "certificate_chain": leaf.chain_der},
        {"require_peer_authentication": True, "truststore": ca.truststore()})
    assert server.nconfig.peer_certificate_chain == tuple(leaf.chain_der)
    assert server.nconfig.peer_verified
    assert server.nconfig.peer_signature_algorithm is scheme
    assert client.nconfig.signature_algorithm is scheme
    both_ways(client, server)


def test_client_certificate_not_requested_is_not_sent() -> None:
    leaf = make_ca().issue(client=True)
    client, server = connected({"private_key": leaf.key_der, "certificate_chain": leaf.chain_der})
    assert server.nconfig.peer_certificate_chain == ()
    assert client.nconfig.signature_algorithm is None


def _client_auth_failure(client_kwargs: dict[str, Any], error: type[TLSFatalAlert],
                         description: AlertDescription,
                         server_kwargs: dict[str, Any] | None = None) -> None:
    ca = make_ca()
    client, server = connection_pair(
        client_kwargs, {"require_peer_authentication": True, "truststore": ca.truststore(),
                        **(server_kwargs or {})})
    flow(client, server)
    flow(server, client)
    assert client.is_post_handshake()  # the client only learns later
    alert = expect_failure(server, client.data_to_send(), error)
    assert not server.is_post_handshake()
    expect_peer_alert(client, alert, description)
    with pytest.raises(TLSConnectionFailed):
        client.send_data(b"x")


def test_client_authentication_without_certificate() -> None:
    _client_auth_failure({}, CertificateRequired, AlertDescription.CERTIFICATE_REQUIRED)


def test_client_authentication_untrusted_certificate() -> None:
    # The CertificateRequest names the server's CAs (certificate_authorities): a siotls
    # client with a certificate from another CA sends none. (Sent anyway, the server
    # refuses it with unknown_ca: tests/test_pki_matrix.py.)
    leaf = make_ca(name="siotls other client CA").issue(client=True)
    _client_auth_failure({"private_key": leaf.key_der, "certificate_chain": leaf.chain_der},
                         CertificateRequired, AlertDescription.CERTIFICATE_REQUIRED)


def test_client_certificate_the_server_cannot_verify_is_not_sent() -> None:
    # The server accepts ECDSA P-256 signatures only: the ed25519 client sends no certificate.
    leaf = make_ca().issue(key_type="ed25519", client=True)
    _client_auth_failure({"private_key": leaf.key_der, "certificate_chain": leaf.chain_der},
                         CertificateRequired, AlertDescription.CERTIFICATE_REQUIRED,
                         {"signature_algorithms": [SS.ecdsa_secp256r1_sha256]})


def test_wrong_hostname() -> None:
    client, server = connection_pair(server_hostname="example.com")
    flow(client, server)
    alert = expect_failure(client, server.data_to_send(), BadCertificate)
    expect_peer_alert(server, alert, AlertDescription.BAD_CERTIFICATE)
    assert not client.nconfig.peer_verified


def test_untrusted_ca() -> None:
    ca = make_ca()
    other = make_ca(name="siotls untrusted CA")
    client = TLSConnection(client_config(ca), server_hostname="localhost")
    server = TLSConnection(server_config(other.issue()))
    client.initiate_connection()
    server.initiate_connection()
    flow(client, server)
    alert = expect_failure(client, server.data_to_send(), UnknownCA)
    expect_peer_alert(server, alert, AlertDescription.UNKNOWN_CA)


def test_no_truststore_is_insecure_but_works() -> None:
    with pytest.warns(InsecureWarning) as record:
        config = TLSConfiguration("client")
    assert record[0].filename == __file__  # blames the caller, not siotls
    client = TLSConnection(config, server_hostname="example.com")  # not the cert's name
    server = TLSConnection(server_config(make_ca(name="siotls untrusted CA").issue()))
    client.initiate_connection()
    server.initiate_connection()
    handshake(client, server)
    assert client.is_connected()
    assert not client.nconfig.peer_verified
    assert client.nconfig.peer_certificate_chain  # still recorded
    both_ways(client, server)


def test_truststore_emits_no_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", InsecureWarning)
        client_config()


# -- record sizes --------------------------------------------------------------------------
def test_record_padding() -> None:
    calls: list[tuple[int, int]] = []

    def pad(content_type: int, length: int) -> int:
        calls.append((content_type, length))
        return 200

    client, server = connection_pair({"record_padding": pad})
    unpadded_client, unpadded_server = connection_pair()
    handshake(unpadded_client, unpadded_server)
    wire = pump(client, server)
    assert ContentType.HANDSHAKE in {c for c, _ in calls}
    # The client's protected handshake records (Finished) grew by the padding.
    protected = [n for t, n in parse_records(wire["client"]) if t == ContentType.APPLICATION_DATA]
    assert protected
    assert all(n >= 200 for n in protected)
    calls.clear()
    client.send_data(b"hello")
    wire_data = client.data_to_send()
    assert calls == [(ContentType.APPLICATION_DATA, 5)]
    assert parse_records(wire_data) == [(ContentType.APPLICATION_DATA, 5 + 1 + 200 + 16)]
    server.receive_data(wire_data)
    assert server.data_to_read() == b"hello"
    both_ways(client, server, 20000)


@pytest.mark.parametrize("padding", [2**14, 2**16, 2**14 - 10])
def test_record_padding_is_capped(padding: int) -> None:
    client, server = connected({"record_padding": lambda content_type, length: padding})
    for size in (1, 100, 2**14 - 1, 2**14, 3 * 2**14 + 5):
        data = random.randbytes(size)
        client.send_data(data)
        wire = client.data_to_send()
        for _, length in parse_records(wire):
            assert length <= MAX_PROTECTED_RECORD <= MAX_RECORD
        server.receive_data(wire)
        assert server.data_to_read() == data
    client.close_sending_end()
    flow(client, server)
    assert server.close_notify_received


def test_inner_plaintext_limit_on_receipt() -> None:
    client, server, secret = connected_with_secret()
    # content + type + padding = 2^14 + 1: the largest legal TLSInnerPlaintext.
    server.receive_data(seal_record(secret, b"hi\x17" + bytes(2**14 + 1 - 3), 0))
    assert server.data_to_read() == b"hi"
    alert = expect_failure(server, seal_record(secret, b"hi\x17" + bytes(2**14 + 2 - 3), 1),
                           RecordOverflow)
    expect_peer_alert(client, alert, AlertDescription.RECORD_OVERFLOW)


def test_only_padding_is_unexpected() -> None:
    client, server, secret = connected_with_secret()
    alert = expect_failure(server, seal_record(secret, bytes(20), 0), UnexpectedMessage)
    expect_peer_alert(client, alert, AlertDescription.UNEXPECTED_MESSAGE)


def test_plaintext_alert_after_handshake_is_unexpected() -> None:
    client, server = connected()
    plaintext_alert = bytes((ContentType.ALERT, 3, 3, 0, 2, 2, AlertDescription.BAD_CERTIFICATE))
    alert = expect_failure(server, plaintext_alert, UnexpectedMessage)
    expect_peer_alert(client, alert, AlertDescription.UNEXPECTED_MESSAGE)


@pytest.mark.parametrize("seed", range(3))
def test_random_padding_both_sides(seed: int) -> None:
    rng = random.Random(seed)

    def pad(content_type: int, length: int) -> int:
        return rng.choice((0, 1, 17, 255, 2**14))

    client, server = connection_pair({"record_padding": pad}, {"record_padding": pad})
    pump(client, server, rng, 300)
    transfer(client, server, rng.randbytes(100000), rng, 3000)
    transfer(server, client, rng.randbytes(100000), rng, 3000)
    client.update_keys()
    flow(client, server, rng)
    flow(server, client, rng)
    both_ways(client, server)


@pytest.mark.parametrize("max_fragment_size", [64, 512, 2**14])
def test_max_fragment_size(max_fragment_size: int) -> None:
    kwargs = {"max_fragment_size": max_fragment_size}
    client, server = connection_pair(kwargs, kwargs)
    wire = pump(client, server)
    for side in ("client", "server"):
        for content_type, length in parse_records(wire[side]):
            if content_type == ContentType.APPLICATION_DATA:
                assert length <= max_fragment_size + 1 + 16, side
            else:
                assert length <= max_fragment_size, side
    data = random.randbytes(40000)
    client.send_data(data)
    records = client.data_to_send()
    lengths = [n for _, n in parse_records(records)]
    assert all(n <= max_fragment_size + 17 for n in lengths)
    assert len(lengths) == -(-len(data) // max_fragment_size)
    server.receive_data(records)
    assert server.data_to_read() == data


# -- API misuse -----------------------------------------------------------------------------
def test_send_data_before_handshake() -> None:
    client = TLSConnection(client_config(), server_hostname="localhost")
    with pytest.raises(TLSUsageError):
        client.send_data(b"x")
    client.initiate_connection()
    assert client.data_to_send()  # the ClientHello
    with pytest.raises(TLSUsageError):
        client.send_data(b"x")
    assert client.data_to_send() == b""
    with pytest.raises(TLSUsageError):
        client.update_keys()
    assert client.data_to_send() == b""
    with pytest.raises(TLSUsageError):
        client.export_keying_material(b"label", b"", 32)


def test_initiate_twice() -> None:
    client, server = connection_pair()
    client.data_to_send()
    for conn in (client, server):
        with pytest.raises(TLSUsageError):
            conn.initiate_connection()
    assert client.data_to_send() == b""  # no second ClientHello


def test_receive_data_before_initiate() -> None:
    client, server = connection_pair()
    fresh_server = TLSConnection(server.config)
    with pytest.raises(TLSUsageError):
        fresh_server.receive_data(client.data_to_send())
    assert fresh_server.data_to_send() == b""


def test_server_hostname_on_a_server() -> None:
    with pytest.raises(TLSUsageError):
        TLSConnection(server_config(), server_hostname="localhost")


def test_usage_errors_are_not_failures() -> None:
    client, server = connection_pair()
    with pytest.raises(TLSUsageError):
        client.send_data(b"x")
    handshake(client, server)
    both_ways(client, server)


# -- failures -------------------------------------------------------------------------------
def _assert_dead(conn: TLSConnection) -> None:
    calls: list[Callable[[], object]] = [
        lambda: conn.receive_data(b"\x17\x03\x03\x00\x01\x00"),
        lambda: conn.send_data(b"data"),
        conn.update_keys,
        lambda: conn.update_keys(False),
        conn.close_sending_end,
    ]
    for call in calls:
        with pytest.raises(TLSConnectionFailed):
            call()
    assert not conn.is_connected()
    assert not conn.can_send
    assert conn.data_to_send() == b""


def test_fatal_error_during_handshake() -> None:
    client, server = connection_pair()
    assert client.data_to_send()  # the ClientHello, lost
    alert = expect_failure(server, b"\x99\x03\x03\x00\x01\x00", UnexpectedMessage)
    assert parse_records(alert) == [(ContentType.ALERT, 2)]
    assert alert[5:] == bytes((2, AlertDescription.UNEXPECTED_MESSAGE))
    _assert_dead(server)
    expect_peer_alert(client, alert, AlertDescription.UNEXPECTED_MESSAGE)
    _assert_dead(client)


def test_fatal_error_after_handshake() -> None:
    client, server = connected()
    client.send_data(b"secret")
    record = bytearray(client.data_to_send())
    record[-1] ^= 1  # break the tag
    alert = expect_failure(server, bytes(record), BadRecordMac)
    _assert_dead(server)
    expect_peer_alert(client, alert, AlertDescription.BAD_RECORD_MAC)
    _assert_dead(client)


def test_exporter_after_fatal_error() -> None:
    client, server = connected()
    client.send_data(b"secret")
    record = bytearray(client.data_to_send())
    record[-1] ^= 1
    expect_failure(server, bytes(record), BadRecordMac)
    with pytest.raises(TLSConnectionFailed):
        server.export_keying_material(b"EXPORTER-test", b"", 32)


# -- exporter ---------------------------------------------------------------------------------
@pytest.mark.parametrize("suite", ALL_SUITES, ids=lambda s: s.name)
def test_exporter(suite: CipherSuites) -> None:
    client, server = connected({"cipher_suites": [suite]})
    label = b"EXPORTER-Channel-Binding"
    for length in (1, 32, 48, 100):
        key = client.export_keying_material(label, b"", length)
        assert len(key) == length
        assert key == server.export_keying_material(label, b"", length)
    reference = client.export_keying_material(label, b"", 32)
    assert reference != client.export_keying_material(label, b"context", 32)
    assert reference != client.export_keying_material(b"EXPORTER-other", b"", 32)
    assert (client.export_keying_material(label, b"context", 32)
            == server.export_keying_material(label, b"context", 32))
    # Another connection: another secret.
    other_client, _ = connected({"cipher_suites": [suite]})
    assert other_client.export_keying_material(label, b"", 32) != reference
    # Key updates do not change the exporter secret.
    client.update_keys()
    flow(client, server)
    flow(server, client)
    assert client.export_keying_material(label, b"", 32) == reference


def test_keylog_lines_agree() -> None:
    client_lines: list[str] = []
    server_lines: list[str] = []
    connected({"log_keys": True, "keylog": client_lines.append},
              {"log_keys": True, "keylog": server_lines.append})
    assert sorted(client_lines) == sorted(server_lines)
    labels = {line.split()[0] for line in client_lines}
    assert labels == {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                      "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET"}
    assert len({line.split()[1] for line in client_lines}) == 1  # one client_random


def test_bytes_after_close_notify_are_kept_for_unused_data() -> None:
    """What follows the peer's close_notify is not TLS: unused_data() hands it back."""
    client, server = connected()
    assert server.unused_data() == b""
    client.send_data(b"last words")
    client.close_sending_end()
    server.receive_data(client.data_to_send() + b"PLAIN")
    server.receive_data(b"TEXT")
    assert server.data_to_read() == b"last words"
    assert server.close_notify_received
    assert server.unused_data() == b"PLAINTEXT"
    assert server.unused_data() == b""


def test_data_to_read_in_small_pieces() -> None:
    client, server = connected()
    payload = bytes(range(256)) * 1000
    for start in range(0, len(payload), 5000):
        client.send_data(payload[start : start + 5000])
    server.receive_data(client.data_to_send())
    pieces = []
    while piece := server.data_to_read(777):
        assert len(piece) <= 777
        pieces.append(piece)
    assert b"".join(pieces) == payload
    assert server.data_to_read(0) == b""
