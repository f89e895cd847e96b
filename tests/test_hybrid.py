"""Post-quantum hybrid key exchange (draft-ietf-tls-ecdhe-mlkem) in the engine.

Known answers from fixed keys (the X25519 half from RFC 7748 section 6.1, the
ML-KEM keys from seeds), malformed shares of every wrong length on both sides,
the default offer (two shares, one X25519 key), the server's choice (its own
order, never a needless HelloRetryRequest) and 1-byte feeds of the 1.6 KB
ClientHello. The real peers are in test_pyopenssl_interop.py and the browser tests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import random

import pytest
from cryptography.hazmat.primitives.asymmetric import x25519

from helpers import client_config, connection_pair, handshake, server_config
from siotls import TLSConfiguration, TLSConnection
from siotls.core import config as config_module
from siotls.core import crypto
from siotls.core import extensions as ext
from siotls.core.client import key_share_groups
from siotls.core.config import SUPPORTED_KEY_EXCHANGES
from siotls.core.errors import IllegalParameter, InternalError
from siotls.core.messages import parse_client_hello, parse_server_hello
from siotls.iana import ExtensionType as ET
from siotls.iana import NamedGroup as NG
from wire import hs_record

HYBRIDS = [NG.X25519MLKEM768, NG.SecP256r1MLKEM768, NG.SecP384r1MLKEM1024]
#: RFC 7748 section 6.1.
ALICE_PRIVATE = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
ALICE_PUBLIC = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
BOB_PRIVATE = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
BOB_PUBLIC = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
X25519_SHARED = bytes.fromhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
SEED = bytes(range(64))
#: SHA-256 of the ML-KEM encapsulation key made from SEED, and the secret its
#: key decapsulates from the ciphertext ``bytes(i % 251 for i in range(n))``
#: (an implicit rejection, deterministic by FIPS 203).
KEM_KAT = {
    "MLKEM768": ("0b7934c83125c788995e2ba6bd761e33046b3e40571be53e023309a29f398cc9",
                 "40836b47c11eca445d775d88f44c49f26fa7982f83987eee501f01f5a52eacd3"),
    "MLKEM1024": ("c7b8fa0aa471d5ae18922d6ccad5b31e1d84f92ae723abfd13747018740a8530",
                  "62705ed6242a0619d1d9d626e0778456f25e96972680a1c60f46e84338c38391"),
}
SHARE_LENGTHS = {  # group: (client share, server share, secret)
    NG.X25519MLKEM768: (1184 + 32, 1088 + 32, 64),
    NG.SecP256r1MLKEM768: (65 + 1184, 65 + 1088, 64),
    NG.SecP384r1MLKEM1024: (97 + 1568, 97 + 1568, 80),
}

pytestmark = pytest.mark.skipif(not crypto.mlkem_supported(), reason="no ML-KEM in cryptography")


def pattern(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


# -- known answers ----------------------------------------------------------------

def test_x25519mlkem768_known_answer() -> None:
    alice = x25519.X25519PrivateKey.from_private_bytes(ALICE_PRIVATE)
    private, share = crypto.generate_key_share(NG.X25519MLKEM768, reuse=alice, kem_seed=SEED)
    # ML-KEM first, then X25519.
    assert len(share) == 1184 + 32
    assert hashlib.sha256(share[:1184]).hexdigest() == KEM_KAT["MLKEM768"][0]
    assert share[1184:] == ALICE_PUBLIC
    secret = crypto.key_exchange(NG.X25519MLKEM768, private, pattern(1088) + BOB_PUBLIC)
    assert secret == bytes.fromhex(KEM_KAT["MLKEM768"][1]) + X25519_SHARED


@pytest.mark.parametrize("group", [NG.SecP256r1MLKEM768, NG.SecP384r1MLKEM1024])
def test_nist_hybrid_known_answer(group: NG) -> None:
    hybrid = crypto.HYBRIDS[group]
    private, share = crypto.generate_key_share(group, kem_seed=SEED)
    assert isinstance(private, crypto.HybridPrivate)
    ecdh_length = SHARE_LENGTHS[group][0] - hybrid.encapsulation_key_length
    # ECDH first (an uncompressed point), then ML-KEM.
    assert share[0] == 4 and len(share) == SHARE_LENGTHS[group][0]
    assert hashlib.sha256(share[ecdh_length:]).hexdigest() == KEM_KAT[hybrid.kem_name][0]
    # The server side, through our own code: its ECDH point first, its ciphertext after.
    server_share, server_secret = crypto.server_key_exchange(group, share)
    assert len(server_share) == SHARE_LENGTHS[group][1]
    assert len(server_secret) == SHARE_LENGTHS[group][2]
    assert crypto.key_exchange(group, private, server_share) == server_secret
    # The ML-KEM secret is the second half, and it is what the KEM key decapsulates.
    kem_secret = private.kem.decapsulate(server_share[ecdh_length:])
    assert server_secret[-32:] == kem_secret


def test_x25519mlkem768_server_secret_order() -> None:
    alice = x25519.X25519PrivateKey.from_private_bytes(ALICE_PRIVATE)
    private, share = crypto.generate_key_share(NG.X25519MLKEM768, reuse=alice, kem_seed=SEED)
    server_share, secret = crypto.server_key_exchange(NG.X25519MLKEM768, share)
    assert private.kem.decapsulate(server_share[:1088]) == secret[:32]  # type: ignore[union-attr]
    server_x25519 = x25519.X25519PublicKey.from_public_bytes(server_share[1088:])
    assert alice.exchange(server_x25519) == secret[32:]


def test_shares_reuse_one_x25519_key() -> None:
    shares = crypto.generate_key_shares([NG.X25519MLKEM768, NG.x25519])
    assert shares[NG.X25519MLKEM768][1][1184:] == shares[NG.x25519][1]
    hybrid_private = shares[NG.X25519MLKEM768][0]
    assert isinstance(hybrid_private, crypto.HybridPrivate)
    assert hybrid_private.ecdh is shares[NG.x25519][0]


def test_fresh_keys_each_time() -> None:
    one = crypto.generate_key_shares([NG.X25519MLKEM768, NG.x25519])
    two = crypto.generate_key_shares([NG.X25519MLKEM768, NG.x25519])
    assert one[NG.X25519MLKEM768][1] != two[NG.X25519MLKEM768][1]


def test_hybrid_keys_come_from_the_configuration() -> None:
    """The key_share_generator makes the client's hybrid key (the x25519 share reuses
    its X25519 half) and the server's ECDH half; known keys, known shares."""
    asked: list[tuple[str, int]] = []
    alice = x25519.X25519PrivateKey.from_private_bytes(ALICE_PRIVATE)
    bob = x25519.X25519PrivateKey.from_private_bytes(BOB_PRIVATE)

    def client_keys(group: int) -> tuple[object, bytes]:
        asked.append(("client", group))
        return crypto.generate_key_share(group, reuse=alice, kem_seed=SEED)

    def server_keys(group: int) -> tuple[object, bytes]:
        asked.append(("server", group))
        return crypto.generate_key_share(group, reuse=bob)

    client = TLSConnection(client_config(key_share_generator=client_keys),
                           server_hostname="localhost")
    server = TLSConnection(server_config(key_share_generator=server_keys))
    client.initiate_connection()
    server.initiate_connection()
    hello = client.data_to_send()
    shares = dict(ext.decode_key_share_ch(parse_client_hello(hello[9:]).extensions[ET.KEY_SHARE]))
    assert hashlib.sha256(shares[NG.X25519MLKEM768][:1184]).hexdigest() == KEM_KAT["MLKEM768"][0]
    assert shares[NG.X25519MLKEM768][1184:] == shares[NG.x25519] == ALICE_PUBLIC
    server.receive_data(hello)
    flight = server.data_to_send()
    sh = parse_server_hello(flight[9 : 5 + int.from_bytes(flight[3:5], "big")])
    assert ext.decode_key_share_sh(sh.extensions[ET.KEY_SHARE])[1][1088:] == BOB_PUBLIC
    assert asked == [("client", NG.X25519MLKEM768), ("server", NG.x25519)]
    client.receive_data(flight)
    server.receive_data(client.data_to_send())
    assert client.is_connected() and server.is_connected()


# -- malformed shares -------------------------------------------------------------

@pytest.mark.parametrize("group", HYBRIDS)
def test_server_rejects_client_share_of_every_wrong_length(group: NG) -> None:
    good = SHARE_LENGTHS[group][0]
    for length in range(1, good + 2):
        if length == good:
            continue
        with pytest.raises(IllegalParameter) as info:
            crypto.server_key_exchange(group, pattern(length))
        assert info.value.reason == "bad_key_share"


@pytest.mark.parametrize("group", HYBRIDS)
def test_client_rejects_server_share_of_every_wrong_length(group: NG) -> None:
    private, _ = crypto.generate_key_share(group)
    good = SHARE_LENGTHS[group][1]
    for length in range(1, good + 2):
        if length == good:
            continue
        with pytest.raises(IllegalParameter):
            crypto.key_exchange(group, private, pattern(length))


def _bad_encapsulation_key(group: NG) -> bytes:
    """A share whose encapsulation key holds a coefficient of 3329 (FIPS 203 7.2)."""
    _, share = crypto.generate_key_share(group)
    hybrid = crypto.HYBRIDS[group]
    ek_start = len(share) - hybrid.encapsulation_key_length if hybrid.ecdh_first else 0
    out = bytearray(share)
    out[ek_start], out[ek_start + 1] = 0x01, (out[ek_start + 1] & 0xF0) | 0x0D
    return bytes(out)


@pytest.mark.parametrize("group", HYBRIDS)
def test_server_runs_the_encapsulation_key_check(group: NG) -> None:
    with pytest.raises(IllegalParameter):
        crypto.server_key_exchange(group, _bad_encapsulation_key(group))


def test_other_decapsulation_failures_are_internal_error() -> None:
    class BrokenKEM:
        def decapsulate(self, ciphertext: bytes) -> bytes:
            raise ValueError("an OpenSSL failure")

    ecdh = x25519.X25519PrivateKey.from_private_bytes(ALICE_PRIVATE)
    private = crypto.HybridPrivate(BrokenKEM(), ecdh)
    with pytest.raises(InternalError):
        crypto.key_exchange(NG.X25519MLKEM768, private, pattern(1088) + BOB_PUBLIC)


def test_hybrid_with_an_all_zero_x25519_half() -> None:
    _, share = crypto.generate_key_share(NG.X25519MLKEM768)
    with pytest.raises(IllegalParameter):
        crypto.server_key_exchange(NG.X25519MLKEM768, share[:1184] + bytes(32))
    private, _ = crypto.generate_key_share(NG.X25519MLKEM768)
    with pytest.raises(IllegalParameter):
        crypto.key_exchange(NG.X25519MLKEM768, private, pattern(1088) + bytes(32))


@pytest.mark.parametrize("group", [NG.SecP256r1MLKEM768, NG.SecP384r1MLKEM1024])
def test_hybrid_with_an_ec_point_off_the_curve(group: NG) -> None:
    _, share = crypto.generate_key_share(group)
    ecdh_length = SHARE_LENGTHS[group][0] - crypto.HYBRIDS[group].encapsulation_key_length
    bad = b"\x04" + b"\x01" * (ecdh_length - 1) + share[ecdh_length:]
    with pytest.raises(IllegalParameter):
        crypto.server_key_exchange(group, bad)


def _client_hello_with_share(group: NG, share: bytes) -> bytes:
    client = TLSConnection(client_config(key_exchanges=[group]), server_hostname="localhost")
    client.initiate_connection()
    ch = parse_client_hello(client.data_to_send()[9:])
    extensions = dict(ch.extensions)
    extensions[ET.KEY_SHARE] = ext.encode_key_share_ch([(group, share)])
    return dataclasses.replace(ch, extensions=extensions).serialize()


@pytest.mark.parametrize("group", HYBRIDS)
@pytest.mark.parametrize("case", ["short", "long", "bad_key"])
def test_server_answers_a_malformed_hybrid_share_with_illegal_parameter(
        group: NG, case: str) -> None:
    good = SHARE_LENGTHS[group][0]
    share = {"short": pattern(good - 1), "long": pattern(good + 1),
             "bad_key": _bad_encapsulation_key(group)}[case]
    server = TLSConnection(server_config(key_exchanges=[group]))
    server.initiate_connection()
    with pytest.raises(IllegalParameter):
        server.receive_data(hs_record(_client_hello_with_share(group, share)))
    assert server.data_to_send() == bytes((21, 3, 3, 0, 2, 2, 47))


@pytest.mark.parametrize("delta", [-1, 1])
def test_client_answers_a_bad_ciphertext_length_with_illegal_parameter(delta: int) -> None:
    client, server = connection_pair()
    server.receive_data(client.data_to_send())
    flight = server.data_to_send()
    sh_length = int.from_bytes(flight[3:5], "big")
    sh = parse_server_hello(flight[9 : 5 + sh_length])
    group, share = ext.decode_key_share_sh(sh.extensions[ET.KEY_SHARE])
    assert group == NG.X25519MLKEM768
    bad_share = pattern(1088 + delta) + share[1088:]
    extensions = {**sh.extensions, ET.KEY_SHARE: ext.encode_key_share_sh(group, bad_share)}
    with pytest.raises(IllegalParameter):
        client.receive_data(hs_record(dataclasses.replace(sh, extensions=extensions).serialize()))


# -- negotiation --------------------------------------------------------------------

def test_default_client_hello_shares_the_hybrid_and_x25519() -> None:
    client = TLSConnection(client_config(), server_hostname="localhost")
    client.initiate_connection()
    data = client.data_to_send()
    ch = parse_client_hello(data[9:])
    shares = ext.decode_key_share_ch(ch.extensions[ET.KEY_SHARE])
    assert [g for g, _ in shares] == [NG.X25519MLKEM768, NG.x25519]
    assert shares[0][1][1184:] == shares[1][1]  # one X25519 key for both
    groups = ext.decode_supported_groups(ch.extensions[ET.SUPPORTED_GROUPS])
    assert groups == list(SUPPORTED_KEY_EXCHANGES)
    assert 1460 < len(data) < 1800  # past one Ethernet TCP segment


@pytest.mark.parametrize(("groups", "expected"), [
    ([NG.X25519MLKEM768, NG.SecP256r1MLKEM768, NG.secp256r1, NG.x25519],
     [NG.X25519MLKEM768, NG.secp256r1]),
    ([NG.SecP384r1MLKEM1024], [NG.SecP384r1MLKEM1024]),
    ([NG.x25519, NG.X25519MLKEM768], [NG.x25519]),
])
def test_key_share_groups(groups: list[NG], expected: list[NG]) -> None:
    assert key_share_groups(groups) == expected


@pytest.mark.parametrize("group", HYBRIDS)
def test_each_hybrid_end_to_end(group: NG) -> None:
    client, server = connection_pair({"key_exchanges": [group]})
    handshake(client, server)
    assert client.nconfig.key_exchange == server.nconfig.key_exchange == group
    assert not server.nconfig.hello_retry_request
    assert client.export_keying_material(b"x", b"", 32) == server.export_keying_material(
        b"x", b"", 32)


def test_default_negotiates_x25519mlkem768_without_hello_retry() -> None:
    client, server = connection_pair()
    handshake(client, server)
    assert server.nconfig.key_exchange == NG.X25519MLKEM768
    assert not client.nconfig.hello_retry_request


def test_server_prefers_its_own_order_over_the_client_key_share_order() -> None:
    # The client shares x25519 first and the hybrid second: the server takes the hybrid.
    client = TLSConnection(client_config(key_exchanges=[NG.x25519, NG.X25519MLKEM768]),
                           server_hostname="localhost")
    client.initiate_connection()
    ch = parse_client_hello(client.data_to_send()[9:])
    shares = crypto.generate_key_shares([NG.x25519, NG.X25519MLKEM768])
    extensions = {**ch.extensions, ET.KEY_SHARE: ext.encode_key_share_ch(
        [(group, public) for group, (_, public) in shares.items()])}
    server = TLSConnection(server_config())
    server.initiate_connection()
    server.receive_data(hs_record(dataclasses.replace(ch, extensions=extensions).serialize()))
    assert server.nconfig.key_exchange == NG.X25519MLKEM768
    assert not server.nconfig.hello_retry_request


def test_server_takes_x25519_rather_than_asking_for_a_hybrid() -> None:
    # An x25519-only share: no HelloRetryRequest, though the hybrid is supported.
    client, server = connection_pair({"key_exchanges": [NG.x25519, NG.X25519MLKEM768]})
    handshake(client, server)
    assert server.nconfig.key_exchange == NG.x25519
    assert not server.nconfig.hello_retry_request


def test_hello_retry_request_into_a_hybrid() -> None:
    client, server = connection_pair(
        {"key_exchanges": [NG.x25519, NG.SecP256r1MLKEM768]},
        {"key_exchanges": [NG.SecP256r1MLKEM768]})
    handshake(client, server)
    assert client.nconfig.hello_retry_request
    assert client.nconfig.key_exchange == server.nconfig.key_exchange == NG.SecP256r1MLKEM768


def test_hello_retry_request_out_of_a_hybrid() -> None:
    client, server = connection_pair({}, {"key_exchanges": [NG.secp384r1]})
    handshake(client, server)
    assert client.nconfig.hello_retry_request
    assert server.nconfig.key_exchange == NG.secp384r1


@pytest.mark.parametrize("receiver", ["server", "client"])
def test_one_byte_feeds(receiver: str) -> None:
    client, server = connection_pair()
    hello = client.data_to_send()
    assert len(hello) > 1460
    for i in range(len(hello)):
        server.receive_data(hello[i : i + 1])
    flight = server.data_to_send()
    if receiver == "client":
        for i in range(len(flight)):
            client.receive_data(flight[i : i + 1])
    else:
        client.receive_data(flight)
    server.receive_data(client.data_to_send())
    assert client.is_connected() and server.is_connected()
    assert server.nconfig.key_exchange == NG.X25519MLKEM768


def test_random_chunking() -> None:
    rng = random.Random(10)
    for _ in range(5):
        client, server = connection_pair()
        handshake(client, server, rng)
        assert server.nconfig.key_exchange == NG.X25519MLKEM768


# -- without ML-KEM -------------------------------------------------------------------

def test_without_mlkem_the_hybrids_leave_the_defaults(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(crypto, "mlkem_supported", lambda: False)
    config_module._say_mlkem_unavailable.cache_clear()
    with caplog.at_level(logging.WARNING, logger="siotls"):
        config = server_config()
        server_config()  # said once per process
    assert not set(HYBRIDS) & set(config.key_exchanges)
    assert config.key_exchanges[0] == NG.x25519
    assert caplog.text.count("no ML-KEM") == 1
    with pytest.raises(ValueError, match="no ML-KEM"):
        TLSConfiguration("server", key_exchanges=[NG.X25519MLKEM768],
                         private_key=config.private_key,
                         certificate_chain=config.certificate_chain)
    # The classical groups alone still work.
    client = TLSConnection(client_config(), server_hostname="localhost")
    assert client.config.key_exchanges[0] == NG.x25519


def test_a_share_the_server_does_not_support_is_skipped() -> None:
    client, server = connection_pair({"key_exchanges": [NG.X25519MLKEM768, NG.x25519]},
                                     {"key_exchanges": [NG.x25519]})
    handshake(client, server)
    assert server.nconfig.key_exchange == NG.x25519
    assert not server.nconfig.hello_retry_request
