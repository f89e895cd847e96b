"""The RFC 8448 traces replayed through :class:`TLSConnection`, the traces'
randoms and ephemeral keys injected through the configuration
(``random_bytes``, ``key_share_generator``).

How far a replay can be byte for byte
-------------------------------------
The traces' peers send things siotls does not: renegotiation_info,
session_ticket and record_size_limit (RFC 8449) in the ClientHello (and padding
in section 5's second one), FFDHE groups and SHA-1 schemes in its lists,
supported_groups and record_size_limit in EncryptedExtensions, a cookie in the
HelloRetryRequest.
And an RSA-PSS signature is randomized (its salt comes from OpenSSL's random
generator, which ``cryptography`` does not let us seed). So the transcript of a
siotls connection parts from the trace's at the first such message, and from
there on the secrets differ. The replay therefore checks:

* byte for byte, what precedes that point or does not depend on it: the
  ClientHello's random, session id, suites and every extension siotls sends
  alike (the rest is asserted to be exactly the known differences above); the
  server's ServerHello record, change_cipher_spec record and Certificate
  message; the handshake traffic secrets of a siotls server (its transcript is
  still the trace's there); the ECDHE result of a siotls client (the trace's
  handshake secret, which the transcript does not enter);
* past that point, independently of siotls (``cryptography`` and the RFC's
  keys): a siotls server's encrypted flight decrypts with the trace's server
  handshake key, its CertificateVerify verifies with the trace's certificate,
  its Finished is the HMAC under the trace's finished key; and a client
  Finished made with the trace's client keys completes the handshake.

Section 6's server certificate is ECDSA and the RFC prints no private key for
it, so section 6 is replayed on the client side only. Section 4 (resumption,
0-RTT) needs PSK support, which siotls does not have.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256

from siotls import TLSConfiguration, TLSConnection
from siotls.core import crypto
from siotls.core.config import HYBRID_KEY_EXCHANGES, SUPPORTED_KEY_EXCHANGES
from siotls.core.keyschedule import hkdf_expand_label
from siotls.core.messages import parse_certificate, parse_client_hello, parse_server_hello
from siotls.iana import CipherSuites, ExtensionType, NamedGroup
from vectors import named, records, rsa_key_numbers
from wire import split_messages, split_records

ET = ExtensionType
SUITE = crypto.CIPHER_SUITES[CipherSuites.TLS_AES_128_GCM_SHA256]
#: The trace client's suites, in its order.
TRACE_SUITES = (CipherSuites.TLS_AES_128_GCM_SHA256, CipherSuites.TLS_CHACHA20_POLY1305_SHA256,
                CipherSuites.TLS_AES_256_GCM_SHA384)
#: ClientHello extensions the trace client sends and siotls does not.
NOT_SENT = {ET.RENEGOTIATION_INFO, ET.SESSION_TICKET, ET.PADDING}
#: ClientHello extensions both send, with different lists: the trace's has
#: FFDHE groups and SHA-1 schemes; siotls sends x448 and puts PKCS#1 schemes in
#: signature_algorithms_cert, which the trace client does not send.
DIFFERENT = {ET.SUPPORTED_GROUPS, ET.SIGNATURE_ALGORITHMS}
ONLY_SIOTLS = {ET.SIGNATURE_ALGORITHMS_CERT, ET.COMPRESS_CERTIFICATE}
#: The trace's groups: no post-quantum hybrid (so the one key share is x25519's).
TRACE_GROUPS = [g for g in SUPPORTED_KEY_EXCHANGES if g not in HYBRID_KEY_EXCHANGES]


# ---------------------------------------------------------------------------
# Injection
# ---------------------------------------------------------------------------

def fixed_random(*values: bytes) -> Callable[[int], bytes]:
    """A ``random_bytes`` that returns ``values`` in order, and fails past them."""
    queue = list(values)

    def random_bytes(n: int) -> bytes:
        value = queue.pop(0)
        assert len(value) == n
        return value
    return random_bytes


def fixed_key_shares(number: int, side: str) -> Callable[[int], tuple[Any, bytes]]:
    """A ``key_share_generator`` handing out the trace's private keys of ``side``."""
    n = named(number)

    def key_share_generator(group: int) -> tuple[Any, bytes]:
        if group == NamedGroup.x25519:
            key: Any = x25519.X25519PrivateKey.from_private_bytes(n[f"{side}_x25519_private_key"])
            return key, key.public_key().public_bytes_raw()
        assert group == NamedGroup.secp256r1
        scalar = int.from_bytes(n[f"{side}_p256_private_key"], "big")
        key = ec.derive_private_key(scalar, ec.SECP256R1())
        return key, key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return key_share_generator


def trace_record(number: int, direction: str, index: int = 0) -> bytes:
    """The ``index``-th record ``direction`` sent in the trace."""
    sent = [r for r in records(number) if r["direction"] == direction]
    return bytes.fromhex(sent[index]["record"])


def trace_client_hello(number: int) -> bytes:
    n = named(number)
    return n["client_hello_1"] if number == 5 else n["client_hello"]


# ---------------------------------------------------------------------------
# Client side
# ---------------------------------------------------------------------------

def trace_client(number: int) -> tuple[TLSConnection, list[str]]:
    ch = parse_client_hello(memoryview(trace_client_hello(number))[4:])
    randoms = [ch.random] + ([ch.legacy_session_id] if ch.legacy_session_id else [])
    lines: list[str] = []
    with pytest.warns(UserWarning, match="does not verify"):
        config = TLSConfiguration(
            "client", cipher_suites=TRACE_SUITES, key_exchanges=TRACE_GROUPS,
            middlebox_compatibility=bool(ch.legacy_session_id),
            random_bytes=fixed_random(*randoms), key_share_generator=fixed_key_shares(number,
                                                                                      "client"),
            log_keys=True, keylog=lines.append)
    conn = TLSConnection(config, server_hostname="server")
    conn.initiate_connection()
    return conn, lines


def assert_same_client_hello(ours: bytes, trace: bytes) -> None:
    """Byte for byte in everything siotls sends alike; the differences are the known ones."""
    mine = parse_client_hello(memoryview(ours)[4:])
    theirs = parse_client_hello(memoryview(trace)[4:])
    assert mine.random == theirs.random
    assert mine.legacy_session_id == theirs.legacy_session_id
    assert mine.cipher_suites == theirs.cipher_suites
    assert mine.legacy_compression_methods == theirs.legacy_compression_methods
    common = set(mine.extensions) & set(theirs.extensions)
    for ext_type in common - DIFFERENT:
        assert mine.extensions[ext_type] == theirs.extensions[ext_type], ET(ext_type).name
    assert set(theirs.extensions) - set(mine.extensions) <= NOT_SENT
    assert set(mine.extensions) - set(theirs.extensions) <= ONLY_SIOTLS
    for ext_type in DIFFERENT:
        assert mine.extensions[ext_type] != theirs.extensions[ext_type]


@pytest.mark.parametrize("number", [3, 5, 6, 7])
def test_client_hello(number: int) -> None:
    client, _ = trace_client(number)
    out = split_records(client.data_to_send())
    assert len(out) == 1
    assert out[0][:3] == trace_record(number, "client")[:3]  # 16 03 01: content type, version
    assert_same_client_hello(out[0][5:], trace_client_hello(number))
    # The key share is the trace's: the injected key's public half.
    theirs = parse_client_hello(memoryview(trace_client_hello(number))[4:])
    assert parse_client_hello(memoryview(out[0])[9:]).extensions[ET.KEY_SHARE] \
        == theirs.extensions[ET.KEY_SHARE]


@pytest.mark.parametrize("number", [3, 6, 7])
def test_client_takes_the_trace_server_hello(number: int) -> None:
    """Fed the trace's ServerHello, the client's ECDHE gives the trace's handshake
    secret: its handshake traffic secrets are that secret expanded over our transcript."""
    n = named(number)
    client, lines = trace_client(number)
    ours = split_records(client.data_to_send())[0][5:]
    client.receive_data(trace_record(number, "server"))
    assert client.data_to_send() == b""
    transcript = hashlib.sha256(ours + n["server_hello"]).digest()
    logged = {line.split()[0]: line.split()[1:] for line in lines}
    for label, side in (("SERVER_HANDSHAKE_TRAFFIC_SECRET", b"s"),
                        ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", b"c")):
        expected = hkdf_expand_label(SUITE, n["handshake_secret"], side + b" hs traffic",
                                     transcript, 32)
        assert logged[label] == [n["client_hello"][6:38].hex(), expected.hex()]
    assert not client.is_post_handshake()


def test_client_answers_the_trace_hello_retry_request() -> None:
    """Section 5: the trace's HelloRetryRequest (P-256, a cookie) gets a second
    ClientHello with the same random, the trace's P-256 share and the cookie echoed."""
    n = named(5)
    client, _ = trace_client(5)
    client.data_to_send()
    client.receive_data(trace_record(5, "server"))
    out = split_records(client.data_to_send())
    assert len(out) == 1  # no change_cipher_spec: the trace has no middlebox compatibility
    assert_same_client_hello(out[0][5:], n["client_hello_2"])
    mine = parse_client_hello(memoryview(out[0])[9:])
    theirs = parse_client_hello(memoryview(n["client_hello_2"])[4:])
    assert mine.extensions[ET.KEY_SHARE] == theirs.extensions[ET.KEY_SHARE]
    assert mine.extensions[ET.COOKIE] == theirs.extensions[ET.COOKIE]
    client.receive_data(trace_record(5, "server", 1))  # the trace's ServerHello
    assert client.nconfig.key_exchange == NamedGroup.secp256r1
    assert client.nconfig.hello_retry_request


# ---------------------------------------------------------------------------
# Server side
# ---------------------------------------------------------------------------

def _server_key() -> rsa.RSAPrivateKey:
    k = rsa_key_numbers()
    public = rsa.RSAPublicNumbers(k["public_exponent"], k["modulus"])
    return rsa.RSAPrivateNumbers(k["prime1"], k["prime2"], k["private_exponent"], k["exponent1"],
                                 k["exponent2"], k["coefficient"], public).private_key()


def trace_server(number: int, **changes: Any) -> tuple[TLSConnection, list[str]]:
    n = named(number)
    chain = [entry.cert_data for entry in
             parse_certificate(memoryview(n["server_certificate"])[4:]).certificate_list]
    key = _server_key().private_bytes(serialization.Encoding.DER,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    random = parse_server_hello(memoryview(n["server_hello"])[4:]).random
    lines: list[str] = []
    config = TLSConfiguration(
        "server", private_key=key, certificate_chain=chain,
        random_bytes=fixed_random(random), key_share_generator=fixed_key_shares(number, "server"),
        log_keys=True, keylog=lines.append, **changes)
    conn = TLSConnection(config)
    conn.initiate_connection()
    return conn, lines


def aead_open(key: bytes, iv: bytes, seq: int, record: bytes) -> tuple[bytes, int]:
    """(content, inner content type) of a protected record, by ``cryptography`` alone."""
    nonce = (int.from_bytes(iv, "big") ^ seq).to_bytes(12, "big")
    inner = AESGCM(key).decrypt(nonce, record[5:], record[:5]).rstrip(b"\x00")
    return inner[:-1], inner[-1]


def aead_seal(key: bytes, iv: bytes, seq: int, content: bytes, content_type: int) -> bytes:
    nonce = (int.from_bytes(iv, "big") ^ seq).to_bytes(12, "big")
    inner = content + bytes((content_type,))
    header = b"\x17\x03\x03" + (len(inner) + 16).to_bytes(2, "big")
    return header + AESGCM(key).encrypt(nonce, inner, header)


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    h = hmac.HMAC(key, SHA256())
    h.update(data)
    return h.finalize()


@pytest.mark.parametrize("number", [3, 7])
def test_server_replay(number: int) -> None:
    n = named(number)
    server, lines = trace_server(number)
    server.receive_data(trace_record(number, "client"))
    out = split_records(server.data_to_send())
    # Byte for byte: ServerHello, and (section 7) the dummy change_cipher_spec.
    plaintext = 2 if number == 7 else 1
    assert out[:plaintext] == [trace_record(number, "server", i) for i in range(plaintext)]
    assert len(out) == plaintext + 1
    # The handshake secrets are the trace's: the transcript is still the trace's.
    logged = {line.split()[0]: line.split()[1:] for line in lines}
    client_random = n["client_hello"][6:38].hex()
    assert logged["SERVER_HANDSHAKE_TRAFFIC_SECRET"] == [
        client_random, n["server_handshake_traffic_secret"].hex()]
    assert logged["CLIENT_HANDSHAKE_TRAFFIC_SECRET"] == [
        client_random, n["client_handshake_traffic_secret"].hex()]

    # The encrypted flight opens with the trace's key: EE, the trace's Certificate, CV, Finished.
    flight, content_type = aead_open(
        n["server_handshake_write_key"], n["server_handshake_write_iv"], 0, out[plaintext])
    assert content_type == 22
    ee, certificate, certificate_verify, finished = split_messages(flight)
    # record_size_limit (2^14 + 1, as the trace's) and server_name.
    assert ee == bytes.fromhex("0800000c" "000a" "001c00024001" "00000000")
    assert certificate == n["server_certificate"]
    transcript = n["client_hello"] + n["server_hello"] + ee + certificate
    content = (b"\x20" * 64 + b"TLS 1.3, server CertificateVerify\x00"
               + hashlib.sha256(transcript).digest())
    assert certificate_verify[:8] == bytes.fromhex("0f000084" "0804" "0080")
    leaf = x509.load_der_x509_certificate(parse_certificate(
        memoryview(certificate)[4:]).certificate_list[0].cert_data)
    public_key = leaf.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(certificate_verify[8:], content,
                      padding.PSS(padding.MGF1(SHA256()), 32), SHA256())
    transcript += certificate_verify
    assert finished == b"\x14\x00\x00\x20" + hmac_sha256(
        n["server_finished_key"], hashlib.sha256(transcript).digest())
    transcript += finished

    # The client's Finished, made with the trace's client keys, completes the handshake.
    if number == 7:
        server.receive_data(trace_record(7, "client", 1))  # its change_cipher_spec
    client_finished = b"\x14\x00\x00\x20" + hmac_sha256(
        n["client_finished_key"], hashlib.sha256(transcript).digest())
    server.receive_data(aead_seal(n["client_handshake_write_key"],
                                  n["client_handshake_write_iv"], 0, client_finished, 22))
    assert server.is_connected()
    assert server.data_to_send() == b""


def test_server_replay_hello_retry_request() -> None:
    """Section 5: a server preferring P-256 answers the trace's first ClientHello
    with a HelloRetryRequest (without the trace's cookie: siotls keeps its state),
    then the trace's second ClientHello with the trace's ServerHello, byte for byte."""
    n = named(5)
    server, _ = trace_server(5, key_exchanges=[NamedGroup.secp256r1])
    server.receive_data(trace_record(5, "client"))
    hrr = split_records(server.data_to_send())
    assert len(hrr) == 1
    sent = parse_server_hello(memoryview(hrr[0])[9:])
    theirs = parse_server_hello(memoryview(n["hello_retry_request"])[4:])
    assert sent.is_hello_retry_request
    assert sent.random == theirs.random
    assert sent.cipher_suite == theirs.cipher_suite
    assert sent.extensions[ET.KEY_SHARE] == theirs.extensions[ET.KEY_SHARE] == b"\x00\x17"
    assert sent.extensions[ET.SUPPORTED_VERSIONS] == theirs.extensions[ET.SUPPORTED_VERSIONS]
    assert set(theirs.extensions) - set(sent.extensions) == {ET.COOKIE}
    server.receive_data(trace_record(5, "client", 1))
    out = split_records(server.data_to_send())
    assert out[0] == trace_record(5, "server", 1)
    assert server.nconfig.key_exchange == NamedGroup.secp256r1
