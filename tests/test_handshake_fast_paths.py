"""The handshake's fast paths (issue 11) do what the slow paths they replace did.

Each test pairs a shortcut with the computation it stands for: what a configuration
precomputes (siotls.core.prepared) against encoding it afresh, the key schedule's
cached values against deriving them, the per-type key classification against
isinstance, the plain-int extension types against the IntEnum, the codec's inline
reads against their bounds.
"""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x448, x25519

from certs import make_ca
from helpers import client_config, connected_pair, new_client, server_config
from internals import internals
from siotls import TLSConfiguration, TLSNegotiatedConfiguration
from siotls.core import crypto, ocsp, prepared
from siotls.core import extensions as ext
from siotls.core.codec import Reader, Writer
from siotls.core.config import CERTIFICATE_ONLY_SIGNATURE_ALGORITHMS
from siotls.core.errors import (
    DecodeError,
    HandshakeFailure,
    IllegalParameter,
    UnsupportedCertificate,
)
from siotls.core.handshake import certificate_message
from siotls.core.keyschedule import (
    KeySchedule,
    empty_hash,
    finished_verify_data,
    hkdf_expand_label,
    traffic_keys,
)
from siotls.core.messages import ClientHello, encode_extensions, parse_client_hello
from siotls.core.record import RecordLayer
from siotls.core.server import ServerHandshake
from siotls.core.state import State
from siotls.iana import CipherSuites, ExtensionType, TLSVersion
from siotls.iana import SignatureScheme as SS
from wire import split_records

SUITE = crypto.CIPHER_SUITES[CipherSuites.TLS_AES_128_GCM_SHA256]
ET = ext.ET


def test_plain_int_extension_types_match_the_iana_enum() -> None:
    plain = {name: value for name, value in vars(ET).items() if name.isupper()}
    assert plain == {member.name: int(member) for member in ExtensionType}
    assert all(type(value) is int for value in plain.values())


def test_states_hash_by_identity_and_stay_distinct() -> None:
    assert len({hash(state) for state in State}) == len(State)
    assert {State.START: 1}[State.START] == 1
    assert State("CONNECTED") is State.CONNECTED


def _client_hello(config: TLSConfiguration, host: str | None) -> ClientHello:
    client = new_client(config, server_hostname=host)
    record = split_records(client.data_to_send())[0]
    return parse_client_hello(record[9:])  # record header, handshake header


def _slow_extensions(config: TLSConfiguration, host: str | None,
                     key_share: bytes) -> dict[int, bytes]:
    """The ClientHello's extensions as _send_client_hello encoded them per connection."""
    extensions: dict[int, bytes] = {}
    if host and not host.replace(".", "").isdigit() and ":" not in host:
        extensions[ET.SERVER_NAME] = ext.encode_server_name(host)
    extensions[ET.SUPPORTED_GROUPS] = ext.encode_u16_list(config.key_exchanges)
    extensions[ET.SIGNATURE_ALGORITHMS] = ext.encode_u16_list(config.signature_algorithms)
    extensions[ET.SIGNATURE_ALGORITHMS_CERT] = ext.encode_u16_list(
        (*config.signature_algorithms, *CERTIFICATE_ONLY_SIGNATURE_ALGORITHMS))
    extensions[ET.SUPPORTED_VERSIONS] = ext.encode_supported_versions_ch([TLSVersion.TLS_1_3])
    extensions[ET.KEY_SHARE] = key_share
    extensions[ET.PSK_KEY_EXCHANGE_MODES] = ext.encode_psk_key_exchange_modes(
        list(config.psk_key_exchange_modes))
    if config.ocsp_stapling != "off":
        extensions[ET.STATUS_REQUEST] = ocsp.encode_status_request()
    if config.alpn:
        extensions[ET.APPLICATION_LAYER_PROTOCOL_NEGOTIATION] = ext.encode_alpn(config.alpn)
    if config.record_size_limit is not None:
        extensions[ET.RECORD_SIZE_LIMIT] = ext.encode_record_size_limit(config.record_size_limit)
    if config.certificate_compression:
        from siotls.core import compression

        extensions[ET.COMPRESS_CERTIFICATE] = ext.encode_compress_certificate(
            compression.codes(config.certificate_compression))
    return extensions


@pytest.mark.filterwarnings("ignore::siotls.InsecureWarning")  # check_hostname=False
@pytest.mark.parametrize("kwargs", [
    {}, {"alpn": [b"h2", b"http/1.1"], "record_size_limit": 1024},
    {"ocsp_stapling": "off", "certificate_compression": []},
])
@pytest.mark.parametrize("host", ["localhost", "example.org", "127.0.0.1", "::1", None])
def test_client_hello_from_the_template_is_the_one_encoded_afresh(
        kwargs: dict[str, object], host: str | None) -> None:
    config = client_config(check_hostname=host is not None, **kwargs)
    for _ in range(2):  # the first builds the template, the second uses it
        hello = _client_hello(config, host)
        assert hello.extensions == _slow_extensions(config, host, hello.extensions[ET.KEY_SHARE])
        assert list(hello.extensions) == list(_slow_extensions(config, host, b""))


@pytest.mark.filterwarnings("ignore::siotls.InsecureWarning")
def test_the_per_host_table_is_bounded_and_stays_right() -> None:
    config = client_config(check_hostname=False)
    for n in range(prepared.MAX_ENTRIES * 2):
        host = f"host{n}.example"
        hello = _client_hello(config, host)
        assert hello.extensions[ET.SERVER_NAME] == ext.encode_server_name(host)
    template = prepared.client_hello(config)
    assert len(template._fronts) <= prepared.MAX_ENTRIES + 1
    assert prepared.client_hello(config.copy(alpn=[b"h2"])) is not template


def test_certificate_messages_are_kept_per_configuration_and_right() -> None:
    leaf = make_ca().issue()
    config = server_config(leaf)
    c1, _ = connected_pair(client_config(leaf.ca), config)
    c2, _ = connected_pair(client_config(leaf.ca), config)
    table = prepared.certificate_messages(config)
    assert len(table) == 1  # both connections sent the same message
    ((chain, algorithm, staple), message), = table.items()
    assert chain == tuple(leaf.chain_der) and staple is None
    assert message == certificate_message(b"", chain, algorithm, None)  # encoded afresh
    assert c1.nconfig.peer_certificate_chain == c2.nconfig.peer_certificate_chain == chain
    assert prepared.certificate_chains(config) is prepared.certificate_chains(config)
    assert prepared.certificate_messages(config.copy(num_tickets=1)) == {}


def test_a_certificate_with_a_context_is_not_kept() -> None:
    """Post-handshake authentication: every CertificateRequest has its own context."""
    config = server_config()
    handshake = ServerHandshake(config, RecordLayer(), TLSNegotiatedConfiguration(),
                                None)
    handshake.send_certificate(b"\x01\x02", [b"\x30\x00"], [])
    assert prepared.certificate_messages(config) == {}
    handshake.send_certificate(b"", [b"\x30\x00"], [])
    assert list(prepared.certificate_messages(config)) == [((b"\x30\x00",), None, None)]


def test_peer_keys_are_kept_per_leaf_and_still_checked() -> None:
    ca = make_ca()
    client = client_config(ca)
    first, second = ca.issue(), ca.issue(["localhost", "other.example"])
    keys = []
    for leaf in (first, second, first):
        c, _ = connected_pair(client, server_config(leaf))
        assert c.nconfig.peer_public_key == crypto.certificate_public_key(leaf.cert)[0] \
            .public_bytes(*_SPKI)
        keys.append(prepared.peer_keys(client)[leaf.cert_der][0])
    assert keys[0] is keys[2] and keys[0] is not keys[1]


def test_a_large_peer_chain_is_not_kept() -> None:
    """A peer chain over MAX_PEER_CHAIN_BYTES is used for its connection only: peers
    cannot make a configuration hold more than the bound times the entries."""
    ca = make_ca()
    client = client_config(ca)
    names = ["localhost", *(f"host-{n:04}.padding.example" for n in range(700))]
    leaf = ca.issue(names)
    assert len(leaf.cert_der) > prepared.MAX_PEER_CHAIN_BYTES
    c, s = connected_pair(client, server_config(leaf))
    assert c.nconfig.peer_certificate_chain[0] == leaf.cert_der
    c.send_data(b"ping")
    s.receive_data(c.data_to_send())
    assert s.data_to_read() == b"ping"
    assert leaf.cert_der not in prepared.peer_keys(client)


_SPKI = (crypto.serialization.Encoding.DER,
         crypto.serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("tickets", [0, 2])
def test_a_server_without_tickets_derives_no_resumption_secret(tickets: int) -> None:
    c, s = connected_pair(client_config(), server_config(num_tickets=tickets))
    assert len(internals(c).schedule.resumption_master_secret) == 32
    assert len(internals(s).schedule.resumption_master_secret) == (32 if tickets else 0)


def test_the_transcript_hash_is_recomputed_after_each_update() -> None:
    schedule = KeySchedule(SUITE)
    messages = [b"\x01\x00\x00\x01a", b"\x02\x00\x00\x01b"]
    assert schedule.transcript_hash() == hashlib.sha256().digest()
    for n, message in enumerate(messages, 1):
        schedule.update(message)
        expected = hashlib.sha256(b"".join(messages[:n])).digest()
        assert schedule.transcript_hash() == expected
        assert schedule.transcript_hash() == expected  # from the cache
        assert schedule.transcript_hash_with(b"x") == hashlib.sha256(
            b"".join(messages[:n]) + b"x").digest()


@pytest.mark.parametrize("psk", [None, bytes(range(32))])
def test_the_derived_salt_is_the_one_derived(psk: bytes | None) -> None:
    schedule = KeySchedule(SUITE, psk)
    slow = hkdf_expand_label(SUITE, schedule.early_secret, b"derived", empty_hash(SUITE), 32)
    assert schedule._derived_from_early_secret() == slow
    assert schedule._derived_from_early_secret() == slow  # cached or not, the same
    other = KeySchedule(SUITE)
    other.use_psk(bytes(32))  # a PSK of zeros: the PSK-less early secret's bytes
    assert other.early_secret == KeySchedule(SUITE).early_secret
    assert other._derived_from_early_secret() == KeySchedule(SUITE)._derived_from_early_secret()


def test_key_kinds_per_type_match_isinstance() -> None:
    keys: list[tuple[object, str]] = [
        (x25519.X25519PrivateKey.generate(), "x25519"),
        (x448.X448PrivateKey.generate(), "x448"),
        (ec.generate_private_key(ec.SECP256R1()), "ec"),
        (ed25519.Ed25519PrivateKey.generate(), "ed25519"),
        (rsa.generate_private_key(65537, 2048), "rsa"),
        (b"\x00" * 32, "bytes"), ("not a key", "other"),
    ]
    for key, kind in keys:
        for _ in range(2):  # classified, then from the table
            assert crypto._kind(key) == kind
        public = getattr(key, "public_key", None)
        if public is not None:
            assert crypto._kind(public()) == f"{kind}-public"
    p256 = ec.generate_private_key(ec.SECP256R1())
    assert crypto.key_kind(p256) == crypto.key_kind(p256.public_key()) == ("ec", "secp256r1")
    with pytest.raises(UnsupportedCertificate):
        crypto.key_kind(x25519.X25519PrivateKey.generate())  # type: ignore[arg-type]


def test_check_allowed_fast_path_still_refuses() -> None:
    ext.check_allowed({ET.SERVER_NAME: b"", 0xFAFA: b""}, ext.EE)  # allowed, and unknown
    with pytest.raises(IllegalParameter, match="KEY_SHARE is not allowed in EE"):
        ext.check_allowed({ET.SERVER_NAME: b"", ET.KEY_SHARE: b""}, ext.EE)


def test_reader_bounds() -> None:
    r = Reader(b"\x00\x03abcd")
    outer = r.begin(2)
    assert r.bytes(2) == b"ab"
    with pytest.raises(DecodeError, match="1 trailing bytes"):
        r.finish(outer)
    with pytest.raises(DecodeError, match="needed 2 bytes, 1 remain"):
        r.u16()
    with pytest.raises(DecodeError, match="vector of 3 bytes, 1 remain"):
        Reader(b"\x03a").begin(1)
    with pytest.raises(DecodeError, match="needed 4 bytes, 2 remain"):
        Reader(b"\x00\x04ab").opaque(2)
    with pytest.raises(DecodeError, match="needed 1 bytes, 0 remain"):
        Reader(b"").u8()
    r = Reader(b"\x02\x00\x01\x05")
    with r.block(1):
        assert r.u16() == 1
    assert r.u8() == 5 and r.at_end()


def test_writer_blocks_and_extensions() -> None:
    w = Writer()
    outer = w.begin(2)
    w.opaque(1, b"abc")
    w.finish(outer, 2)
    with w.block(3):
        w.u8(7)
    assert w.getvalue() == b"\x00\x04\x03abc\x00\x00\x01\x07"
    assert encode_extensions({1: b"ab", 0xFF01: b""}) == (
        b"\x00\x0a" b"\x00\x01\x00\x02ab" b"\xff\x01\x00\x00")
    with pytest.raises(ValueError, match="do not fit"):
        encode_extensions({n: bytes(40000) for n in range(2)})


@pytest.mark.parametrize("code", list(crypto.CIPHER_SUITES))
def test_fixed_hkdf_labels_are_the_hkdf_expand_labels(code: int) -> None:
    suite = crypto.CIPHER_SUITES[code]
    secret = bytes(range(suite.hash_length))
    assert traffic_keys(suite, secret) == (
        hkdf_expand_label(suite, secret, b"key", b"", suite.key_length),
        hkdf_expand_label(suite, secret, b"iv", b"", 12))
    finished_key = hkdf_expand_label(suite, secret, b"finished", b"", suite.hash_length)
    assert finished_verify_data(suite, secret, b"th") == crypto.hmac_sha(
        suite.hash, finished_key, b"th")


def test_decoded_extensions_are_kept_only_when_good_and_bounded() -> None:
    config = server_config()
    calls: list[bytes] = []

    def decode(data: bytes) -> tuple[int, ...]:
        calls.append(data)
        return tuple(ext.decode_signature_algorithms(data))

    good = ext.encode_u16_list([0x0403, 0x0804])
    assert prepared.decoded(config, decode, good) == (0x0403, 0x0804)
    assert prepared.decoded(config, decode, bytes(good)) == (0x0403, 0x0804)
    assert calls == [good]  # the second from the table
    for _ in range(2):  # refused each time, never kept
        with pytest.raises(DecodeError):
            prepared.decoded(config, decode, b"\x00\x03\x04\x03\x08")
    assert len(calls) == 3
    for n in range(prepared.MAX_DECODED * 2):
        assert prepared.decoded(config, decode, ext.encode_u16_list([n, n + 1])) == (n, n + 1)
    assert len(config.__dict__["_prepared_decoded"]) <= prepared.MAX_DECODED
    # A long body (a peer's to choose) is decoded, never kept.
    config.__dict__["_prepared_decoded"].clear()
    long_list = list(range(prepared.MAX_DECODED_BYTES))
    assert prepared.decoded(config, decode, ext.encode_u16_list(long_list)) == tuple(long_list)
    assert not config.__dict__["_prepared_decoded"]


def test_the_server_decodes_a_repeated_client_hello_once() -> None:
    """Two connections of the same client: the second ClientHello's constant extensions
    come from the table, and the handshake is the same."""
    client, server = client_config(), server_config()
    for _ in range(2):
        c, s = connected_pair(client, server)
        assert s.nconfig.server_name == "localhost"
        assert c.nconfig.peer_signature_algorithm == s.nconfig.signature_algorithm
    table = server.__dict__["_prepared_decoded"]
    assert all(isinstance(value, tuple | str) for value in table.values())


def test_chain_choices_are_kept_and_agree_with_a_fresh_choice() -> None:
    """Same server configuration, clients with different signature algorithms: each
    gets the chain a fresh selection picks, the first time and from the table."""
    from test_certificate_selection import connect, leaf_der, leaf_for, multi_server

    server = multi_server()
    cases = [([SS.rsa_pss_rsae_sha256], "rsa-2048"), ([SS.ed25519], "ed25519"),
             ([SS.ecdsa_secp256r1_sha256], "ecdsa-p256")]
    for _ in range(2):
        for schemes, key_type in cases:
            client, _ = connect(server, signature_algorithms=schemes)
            assert leaf_der(client) == leaf_for(key_type).cert_der
    assert len(prepared.chain_choices(server)) == len(cases)
    with pytest.raises(HandshakeFailure):  # refused each time, nothing kept
        connect(server, signature_algorithms=[SS.ed448])
    assert len(prepared.chain_choices(server)) == len(cases)


def test_no_chain_choice_is_kept_with_an_sni_callback() -> None:
    from test_certificate_selection import chain_of, connect, leaf_der, leaf_for, multi_server

    answers = [[chain_of(leaf_for("ed25519"))], None]
    server = multi_server(sni_callback=lambda name: answers.pop(0))
    first, _ = connect(server)
    second, _ = connect(server)
    assert leaf_der(first) == leaf_for("ed25519").cert_der
    assert leaf_der(second) == leaf_for("ecdsa-p256").cert_der
    assert prepared.chain_choices(server) == {}


def test_key_share_encodings_are_the_structs() -> None:
    shares = [(0x001D, b"x" * 32), (0x11EC, b"y" * 1216)]
    w = Writer()
    with w.block(2):
        for group, key_exchange in shares:
            w.u16(group)
            w.opaque(2, key_exchange)
    assert ext.encode_key_share_ch(shares) == w.getvalue()
    assert ext.decode_key_share_ch(ext.encode_key_share_ch(shares)) == shares
    assert ext.decode_key_share_sh(ext.encode_key_share_sh(*shares[0])) == shares[0]
