"""Bad input from the peer ends in the RFC 8446 alert (section 6).

Every case feeds malformed or misplaced bytes to a connection and checks that

* the exact :class:`~siotls.core.errors.TLSFatalAlert` subclass is raised (never a
  Python error, never ``InternalError``),
* the alert is queued for the peer: a plaintext ``15 03 03 00 02 02 <desc>`` record
  before the keys, or a protected record that the real peer opens into a
  :class:`~siotls.TLSPeerAlert` with the same description,
* every later call raises :class:`~siotls.core.errors.TLSConnectionFailed`.

Server messages for a client are taken from a real siotls server and mutated:
the ServerHello record is plaintext, the encrypted flight is opened with the
server's handshake traffic secret, edited, and sealed again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from certs import make_ca
from helpers import (
    client_config,
    connected,
    default_configs,
    default_leaf,
    new_client,
    new_server,
    server_config,
)
from internals import internals
from siotls import TLSConfiguration, TLSConnection, TLSError, TLSPeerAlert
from siotls.core import crypto
from siotls.core import extensions as ext
from siotls.core.codec import Writer
from siotls.core.connection import MAX_RECORDS_WITHOUT_PROGRESS
from siotls.core.crypto import CipherSuite
from siotls.core.errors import (
    BadCertificate,
    BadRecordMac,
    CertificateRequired,
    DecodeError,
    DecryptError,
    HandshakeFailure,
    IllegalParameter,
    MissingExtension,
    ProtocolVersion,
    RecordOverflow,
    TLSConnectionFailed,
    TLSFatalAlert,
    UnexpectedMessage,
    UnsupportedExtension,
)
from siotls.core.keyschedule import KeySchedule
from siotls.core.messages import (
    DOWNGRADE_TLS11,
    DOWNGRADE_TLS12,
    HELLO_RETRY_REQUEST_RANDOM,
    Certificate,
    CertificateEntry,
    CertificateRequest,
    ClientHello,
    EncryptedExtensions,
    KeyUpdate,
    NewSessionTicket,
    ServerHello,
    parse_certificate_verify,
    parse_client_hello,
    parse_server_hello,
)
from siotls.iana import CipherSuites, ContentType, HandshakeType, NamedGroup
from siotls.iana import ExtensionType as ET
from wire import (
    Sealer,
    client_hello_with_raw_extensions,
    hs_record,
    message,
    plaintext_alert,
    raw_extensions,
    record,
    split_messages,
    split_records,
)

HT = HandshakeType
CA = make_ca()
LEAF = default_leaf()
CLIENT_LEAF = CA.issue(client=True)
CLIENT_CONFIG, SERVER_CONFIG = default_configs()
# The tests take the server's flight apart: an uncompressed Certificate (RFC 8879
# compression has its own tests in test_cert_compression.py).
SERVER_CONFIG = SERVER_CONFIG.copy(certificate_compression=())
AUTH_CLIENT_CONFIG = client_config(
    CA, private_key=CLIENT_LEAF.key_der, certificate_chain=CLIENT_LEAF.chain_der)
AUTH_SERVER_CONFIG = server_config(
    LEAF, truststore=CA.truststore(), require_peer_authentication=True)
HRR_SERVER_CONFIG = server_config(LEAF, key_exchanges=[NamedGroup.secp256r1])

SIGNATURE_ALGORITHMS = ext.encode_u16_list([0x0403, 0x0804])


# -- connections ------------------------------------------------------------------

@dataclasses.dataclass
class Exchange:
    """A real client and server, the server's first flight taken apart."""

    client: TLSConnection
    server: TLSConnection
    client_hello: bytes  # the message (no record header)
    server_flight: bytes  # as the server sent it
    server_hello: bytes  # the message
    ccs: bytes  # the dummy change_cipher_spec record
    messages: list[bytes]  # EE, [CR], Certificate, CertificateVerify, Finished
    schedule: KeySchedule  # the server's
    client_flight: bytes = b""  # CCS + [Certificate, CertificateVerify,] Finished
    client_messages: list[bytes] = dataclasses.field(default_factory=list)

    @property
    def suite(self) -> CipherSuite:
        return self.schedule.suite

    def server_sealer(self) -> Sealer:
        return Sealer(self.suite, self.schedule.server_handshake_traffic_secret)

    def client_sealer(self) -> Sealer:
        return Sealer(self.suite, self.schedule.client_handshake_traffic_secret)

    @property
    def sh_record(self) -> bytes:
        return hs_record(self.server_hello)

    def to_client(self, *messages: bytes) -> bytes:
        """ServerHello, CCS, and ``messages`` sealed under the server handshake key."""
        return self.sh_record + self.ccs + self.server_sealer().handshake(*messages)

    def client_done(self) -> None:
        """Let the client process the real server flight (the server still waits)."""
        self.client.receive_data(self.server_flight)
        assert self.client.is_post_handshake()
        self.client_flight = self.client.data_to_send()
        opener = self.client_sealer()
        stream = b"".join(opener.open(r)[1] for r in split_records(self.client_flight)[1:])
        self.client_messages = split_messages(stream)


def exchange(client_config: TLSConfiguration = CLIENT_CONFIG,
             server_config: TLSConfiguration = SERVER_CONFIG) -> Exchange:
    client = new_client(client_config)
    server = new_server(server_config)
    ch = client.data_to_send()
    server.receive_data(ch)
    flight = server.data_to_send()
    sh, ccs, *protected = split_records(flight)
    schedule = internals(server).schedule
    opener = Sealer(schedule.suite, schedule.server_handshake_traffic_secret)
    stream = b"".join(opener.open(r)[1] for r in protected)
    return Exchange(client, server, ch[5:], flight, sh[5:], ccs, split_messages(stream), schedule)


def expect_alert(conn: TLSConnection, data: bytes, error: type[TLSFatalAlert],
                 peer: TLSConnection | None = None) -> TLSFatalAlert:
    """``conn`` rejects ``data`` with ``error``, queues the alert, and stays failed.

    Without ``peer`` the alert must be a plaintext record; with one, ``peer``
    must open what ``conn`` sent into a TLSPeerAlert of the same description.
    """
    with pytest.raises(TLSError) as info:
        conn.receive_data(data)
    assert type(info.value) is error, repr(info.value)
    check_alert_sent(conn, error, peer)
    return info.value


def check_alert_sent(conn: TLSConnection, error: type[TLSFatalAlert],
                     peer: TLSConnection | None = None) -> None:
    out = conn.data_to_send()
    if peer is None:
        assert out.endswith(plaintext_alert(error.description)), out[-16:].hex()
    else:
        assert split_records(out)[-1][:5] == bytes((23, 3, 3, 0, 19)), out[-24:].hex()
        with pytest.raises(TLSPeerAlert) as info:
            peer.receive_data(out)
        assert info.value.description == error.description
    assert conn.is_failed()
    assert conn.data_to_send() == b""
    with pytest.raises(TLSConnectionFailed):
        conn.receive_data(b"\x16\x03\x03\x00\x01\x00")
    with pytest.raises(TLSConnectionFailed):
        conn.close_sending_end()
    if conn.is_post_handshake():
        with pytest.raises(TLSConnectionFailed):
            conn.send_data(b"x")
        with pytest.raises(TLSConnectionFailed):
            conn.update_keys()


# =================================================================================
# Record layer
# =================================================================================

@pytest.mark.parametrize("content_type", [0, 19, 24, 25, 99, 255])
def test_unknown_content_type(content_type: int) -> None:
    expect_alert(new_server(), bytes((content_type, 3, 3, 0, 1, 0)), UnexpectedMessage)


def test_unknown_content_type_header_alone() -> None:
    """The header is enough to reject the record: no need to wait for the body."""
    expect_alert(new_server(), bytes((99, 3, 3, 0x40, 0)), UnexpectedMessage)


def test_unknown_content_type_after_keys() -> None:
    client, server = connected()
    expect_alert(client, bytes((24, 3, 3, 0, 1, 0)), UnexpectedMessage, peer=server)


@pytest.mark.parametrize("length", [2**14 + 257, 2**16 - 1])
def test_record_overflow_from_header(length: int) -> None:
    expect_alert(new_server(), bytes((22, 3, 3)) + length.to_bytes(2, "big"), RecordOverflow)


@pytest.mark.parametrize("content_type", [20, 21, 22, 23])
def test_plaintext_record_over_2_14_before_keys(content_type: int) -> None:
    expect_alert(new_server(), record(content_type, bytes(2**14 + 1)), RecordOverflow)


def test_plaintext_record_of_2_14_is_not_an_overflow() -> None:
    # A full-size record holding the start of a (too long) message is framing-legal;
    # the message limit then rejects it.
    data = hs_record(b"\x01\x00\x40\x00" + bytes(2**14 - 4))
    server = new_server()
    server.receive_data(data)  # a 16 KiB ClientHello is allowed, the rest awaited
    assert not server.is_failed()


def test_encrypted_record_over_2_14_of_plaintext() -> None:
    ex = exchange()
    data = ex.sh_record + ex.ccs + ex.server_sealer().seal(bytes(2**14 + 1) + b"\x16")
    expect_alert(ex.client, data, RecordOverflow, peer=ex.server)


def test_encrypted_record_fails_to_decrypt() -> None:
    ex = exchange()
    flight = bytearray(ex.server_flight)
    flight[len(ex.sh_record) + len(ex.ccs) + 10] ^= 0x01  # inside the EE record
    expect_alert(ex.client, bytes(flight), BadRecordMac, peer=ex.server)


def test_encrypted_record_with_a_tampered_header() -> None:
    ex = exchange()
    flight = bytearray(ex.server_flight)
    flight[len(ex.sh_record) + len(ex.ccs) + 2] = 0x01  # legacy_record_version: it is AAD
    expect_alert(ex.client, bytes(flight), BadRecordMac, peer=ex.server)


def test_server_rejects_a_client_record_that_fails_to_decrypt() -> None:
    ex = exchange()
    ex.client_done()
    flight = bytearray(ex.client_flight)
    flight[-1] ^= 0x80
    expect_alert(ex.server, bytes(flight), BadRecordMac, peer=ex.client)


def test_application_data_record_under_the_wrong_key_after_handshake() -> None:
    client, server = connected()
    _, other_server = connected()
    other_server.send_data(b"hello")
    expect_alert(client, other_server.data_to_send(), BadRecordMac, peer=server)


@pytest.mark.parametrize("padding", [0, 1, 100])
def test_record_holding_only_padding(padding: int) -> None:
    ex = exchange()
    data = ex.sh_record + ex.ccs + ex.server_sealer().seal(bytes(padding))
    expect_alert(ex.client, data, UnexpectedMessage, peer=ex.server)


def test_protected_change_cipher_spec() -> None:
    ex = exchange()
    sealed = ex.server_sealer().records(ContentType.CHANGE_CIPHER_SPEC, b"\x01")
    data = ex.sh_record + ex.ccs + sealed
    expect_alert(ex.client, data, UnexpectedMessage, peer=ex.server)


@pytest.mark.parametrize("inner_type", [0, 24, 99])
def test_protected_record_with_unknown_inner_type(inner_type: int) -> None:
    ex = exchange()
    data = ex.sh_record + ex.ccs + ex.server_sealer().records(inner_type, b"abc")
    expect_alert(ex.client, data, UnexpectedMessage, peer=ex.server)


@pytest.mark.parametrize("content_type", [20, 21, 22])
def test_zero_length_plaintext_record(content_type: int) -> None:
    expect_alert(new_server(), record(content_type, b""), UnexpectedMessage)


@pytest.mark.parametrize("content_type", [21, 22])
def test_zero_length_protected_record(content_type: int) -> None:
    ex = exchange()
    data = ex.sh_record + ex.ccs + ex.server_sealer().records(content_type, b"")
    expect_alert(ex.client, data, UnexpectedMessage, peer=ex.server)


def test_padded_zero_length_handshake_record() -> None:
    ex = exchange()
    data = ex.sh_record + ex.ccs + ex.server_sealer().seal(b"\x16" + bytes(20))
    expect_alert(ex.client, data, UnexpectedMessage, peer=ex.server)


@pytest.mark.parametrize("payload", [b"", b"GET / HTTP/1.1\r\n"])
def test_plaintext_application_data_to_a_fresh_server(payload: bytes) -> None:
    expect_alert(new_server(), record(ContentType.APPLICATION_DATA, payload), UnexpectedMessage)


def test_plaintext_application_data_to_a_client_waiting_for_server_hello() -> None:
    expect_alert(new_client(), record(ContentType.APPLICATION_DATA, b"hi"), UnexpectedMessage)


def test_application_data_under_handshake_keys_to_the_client() -> None:
    ex = exchange()
    sealer = ex.server_sealer()
    data = ex.to_client() + sealer.records(ContentType.APPLICATION_DATA, b"early!")
    expect_alert(ex.client, data, UnexpectedMessage, peer=ex.server)
    assert ex.client.data_to_read() == b""


def test_application_data_under_handshake_keys_to_the_server() -> None:
    ex = exchange()
    ex.client_done()
    data = ex.client_sealer().records(ContentType.APPLICATION_DATA, b"before Finished")
    expect_alert(ex.server, data, UnexpectedMessage, peer=ex.client)
    assert ex.server.data_to_read() == b""


def test_application_data_between_encrypted_flight_messages() -> None:
    ex = exchange()
    sealer = ex.server_sealer()
    data = (ex.sh_record + ex.ccs + sealer.handshake(*ex.messages[:2])
            + sealer.records(ContentType.APPLICATION_DATA, b"x")
            + sealer.handshake(*ex.messages[2:]))
    expect_alert(ex.client, data, UnexpectedMessage, peer=ex.server)
    assert ex.client.data_to_read() == b""
    assert not ex.client.is_post_handshake()


def test_plaintext_application_data_after_handshake() -> None:
    client, server = connected()
    expect_alert(client, record(ContentType.APPLICATION_DATA, b""), BadRecordMac, peer=server)


def test_plaintext_handshake_record_after_keys() -> None:
    ex = exchange()
    data = ex.sh_record + ex.ccs + hs_record(ex.messages[0])
    expect_alert(ex.client, data, UnexpectedMessage, peer=ex.server)


def test_second_change_cipher_spec() -> None:
    ex = exchange()
    expect_alert(ex.client, ex.sh_record + ex.ccs + ex.ccs, UnexpectedMessage, peer=ex.server)


def test_second_change_cipher_spec_on_the_server() -> None:
    ex = exchange()
    ex.client_done()
    ccs = split_records(ex.client_flight)[0]
    ex.server.receive_data(ccs)
    expect_alert(ex.server, ccs, UnexpectedMessage, peer=ex.client)


@pytest.mark.parametrize("payload", [b"\x02", b"\x00", b"\x01\x01"])
def test_change_cipher_spec_with_a_bad_value(payload: bytes) -> None:
    client = new_client()
    client.data_to_send()
    expect_alert(client, record(ContentType.CHANGE_CIPHER_SPEC, payload), UnexpectedMessage)


def test_change_cipher_spec_before_client_hello() -> None:
    expect_alert(new_server(), record(ContentType.CHANGE_CIPHER_SPEC, b"\x01"), UnexpectedMessage)


def test_change_cipher_spec_after_handshake() -> None:
    client, server = connected()
    expect_alert(client, record(ContentType.CHANGE_CIPHER_SPEC, b"\x01"), UnexpectedMessage,
                 peer=server)


def test_change_cipher_spec_is_dropped_in_the_window() -> None:
    """Not an error: one dummy CCS after the ClientHello (RFC 8446 section 5)."""
    client = new_client()
    client.data_to_send()
    client.receive_data(record(ContentType.CHANGE_CIPHER_SPEC, b"\x01"))
    assert not client.is_failed()


@pytest.mark.parametrize("payload", [b"\x02", b"\x02\x28\x00", b"\x02\x28\x00\x00\x00"])
def test_alert_record_of_the_wrong_size(payload: bytes) -> None:
    expect_alert(new_server(), record(ContentType.ALERT, payload), DecodeError)


def test_protected_alert_record_of_three_bytes() -> None:
    client, server = connected()
    internals(server).write_record(ContentType.ALERT, b"\x01\x00\x00")
    expect_alert(client, server.data_to_send(), DecodeError, peer=server)


# =================================================================================
# ClientHello (to the server)
# =================================================================================

def real_client_hello(config: TLSConfiguration = CLIENT_CONFIG) -> bytes:
    return new_client(config).data_to_send()[5:]


def parsed_client_hello() -> ClientHello:
    return parse_client_hello(real_client_hello()[4:])


def test_truncated_client_hello_every_length() -> None:
    msg = real_client_hello(client_config(CA, alpn=[b"h2", b"http/1.1"]))
    body = msg[4:]
    ch = parse_client_hello(body)
    # A cut right after legacy_compression_methods is a well-formed TLS 1.2 ClientHello.
    tls12_length = 2 + 32 + 1 + len(ch.legacy_session_id) + 2 + 2 * len(ch.cipher_suites) + 2
    unexpected = []
    for length in range(len(body)):
        error = ProtocolVersion if length == tls12_length else DecodeError
        server = new_server()
        try:
            expect_alert(server, hs_record(message(HT.CLIENT_HELLO, body[:length])), error)
        except AssertionError as exc:
            unexpected.append((length, exc))
    assert not unexpected, unexpected[:3]


def test_client_hello_with_trailing_bytes() -> None:
    body = real_client_hello()[4:]
    expect_alert(new_server(), hs_record(message(HT.CLIENT_HELLO, body + b"\x00")), DecodeError)


def test_client_hello_split_over_many_records_is_fine() -> None:
    msg = real_client_hello()
    server = new_server()
    server.receive_data(b"".join(hs_record(msg[i : i + 7]) for i in range(0, len(msg), 7)))
    assert server.data_to_send()


def _garbled(data: bytes, delta: int) -> bytes:
    """The first length prefix of ``data`` (1 or 2 bytes) off by ``delta``."""
    return (int.from_bytes(data[:2], "big") + delta).to_bytes(2, "big") + data[2:]


GARBLED_EXTENSIONS: list[tuple[str, int, Callable[[bytes], bytes]]] = [
    ("supported_versions +1", ET.SUPPORTED_VERSIONS, lambda d: bytes((d[0] + 1,)) + d[1:]),
    ("supported_versions odd", ET.SUPPORTED_VERSIONS, lambda d: b"\x03" + d[1:] + b"\x04"),
    ("supported_versions empty", ET.SUPPORTED_VERSIONS, lambda d: b""),
    ("supported_versions no entry", ET.SUPPORTED_VERSIONS, lambda d: b"\x00"),
    ("supported_groups +2", ET.SUPPORTED_GROUPS, lambda d: _garbled(d, 2)),
    ("supported_groups -2", ET.SUPPORTED_GROUPS, lambda d: _garbled(d, -2)),
    ("supported_groups odd", ET.SUPPORTED_GROUPS, lambda d: _garbled(d, -1)[:-1]),
    ("supported_groups empty list", ET.SUPPORTED_GROUPS, lambda d: b"\x00\x00"),
    ("signature_algorithms +1", ET.SIGNATURE_ALGORITHMS, lambda d: _garbled(d, 1)),
    ("signature_algorithms odd", ET.SIGNATURE_ALGORITHMS, lambda d: _garbled(d, -1)[:-1]),
    ("signature_algorithms trailing", ET.SIGNATURE_ALGORITHMS, lambda d: d + b"\x00"),
    ("key_share +1", ET.KEY_SHARE, lambda d: _garbled(d, 1)),
    ("key_share -1", ET.KEY_SHARE, lambda d: _garbled(d, -1)),
    ("key_share entry length", ET.KEY_SHARE, lambda d: d[:4] + _garbled(d[4:], 1)),
    ("key_share empty key", ET.KEY_SHARE, lambda d: b"\x00\x04\x00\x1d\x00\x00"),
    ("key_share truncated", ET.KEY_SHARE, lambda d: d[:5]),
    ("server_name list +1", ET.SERVER_NAME, lambda d: _garbled(d, 1)),
    ("server_name list -1", ET.SERVER_NAME, lambda d: _garbled(d, -1)),
    ("server_name host +1", ET.SERVER_NAME, lambda d: d[:3] + _garbled(d[3:], 1)),
    ("server_name empty host", ET.SERVER_NAME, lambda d: b"\x00\x03\x00\x00\x00"),
    ("server_name empty list", ET.SERVER_NAME, lambda d: b"\x00\x00"),
    ("alpn +1", ET.APPLICATION_LAYER_PROTOCOL_NEGOTIATION, lambda d: _garbled(d, 1)),
    ("alpn empty name", ET.APPLICATION_LAYER_PROTOCOL_NEGOTIATION,
     lambda d: b"\x00\x03\x00\x01x"),
    ("alpn name +1", ET.APPLICATION_LAYER_PROTOCOL_NEGOTIATION,
     lambda d: d[:2] + bytes((d[2] + 1,)) + d[3:]),
]


@pytest.mark.parametrize(("case", "ext_type", "garble"), GARBLED_EXTENSIONS,
                         ids=[case for case, _, _ in GARBLED_EXTENSIONS])
def test_garbled_extension_in_client_hello(case: str, ext_type: int,
                                           garble: Callable[[bytes], bytes]) -> None:
    msg = real_client_hello(client_config(CA, alpn=[b"h2", b"http/1.1"]))
    ch = parse_client_hello(msg[4:])
    extensions = dict(ch.extensions)
    extensions[ext_type] = garble(extensions[ext_type])
    garbled = dataclasses.replace(ch, extensions=extensions).serialize()
    server = new_server(server_config(LEAF, alpn=[b"h2"]))
    expect_alert(server, hs_record(garbled), DecodeError)


@pytest.mark.parametrize("delta", [1, -1, 100])
def test_garbled_extension_block_length(delta: int) -> None:
    msg = bytearray(real_client_hello())
    ch = parse_client_hello(msg[4:])
    start = 4 + 2 + 32 + 1 + len(ch.legacy_session_id) + 2 + 2 * len(ch.cipher_suites) + 2
    length = int.from_bytes(msg[start : start + 2], "big") + delta
    msg[start : start + 2] = length.to_bytes(2, "big")
    expect_alert(new_server(), hs_record(bytes(msg)), DecodeError)


def test_extension_length_past_the_block() -> None:
    ch = parsed_client_hello()
    pairs = list(ch.extensions.items())
    raw = client_hello_with_raw_extensions(ch, pairs)
    # The last extension's own length claims one byte more than the block holds.
    last_type, last_data = pairs[-1]
    tail = last_type.to_bytes(2, "big") + len(last_data).to_bytes(2, "big") + last_data
    assert raw.endswith(tail)
    bad_tail = last_type.to_bytes(2, "big") + (len(last_data) + 1).to_bytes(2, "big") + last_data
    expect_alert(new_server(), hs_record(raw[: -len(tail)] + bad_tail), DecodeError)


@pytest.mark.parametrize("duplicate", [ET.SUPPORTED_VERSIONS, ET.KEY_SHARE, 0x1234])
def test_duplicate_extension_in_client_hello(duplicate: int) -> None:
    ch = parsed_client_hello()
    pairs = list(ch.extensions.items())
    pairs.insert(1, (duplicate, ch.extensions.get(duplicate, b"")))
    if duplicate not in ch.extensions:
        pairs.insert(1, (duplicate, b""))
    expect_alert(new_server(), hs_record(client_hello_with_raw_extensions(ch, pairs)),
                 IllegalParameter)


def test_tls12_client_hello_without_extensions() -> None:
    ch = parsed_client_hello()
    w = Writer()
    w.u16(0x0303)
    w.bytes(ch.random)
    w.opaque(1, b"")
    w.u16_list(2, [0xC02F, 0x009C])
    w.opaque(1, b"\x00")
    expect_alert(new_server(), hs_record(message(HT.CLIENT_HELLO, bytes(w.buf))), ProtocolVersion)


def test_client_hello_without_supported_versions() -> None:
    ch = parsed_client_hello()
    extensions = {k: v for k, v in ch.extensions.items() if k != ET.SUPPORTED_VERSIONS}
    msg = dataclasses.replace(ch, extensions=extensions).serialize()
    expect_alert(new_server(), hs_record(msg), ProtocolVersion)


def test_client_hello_offering_only_tls12() -> None:
    ch = parsed_client_hello()
    extensions = dict(ch.extensions)
    extensions[ET.SUPPORTED_VERSIONS] = ext.encode_supported_versions_ch([0x0303, 0x0302])
    msg = dataclasses.replace(ch, extensions=extensions).serialize()
    expect_alert(new_server(), hs_record(msg), ProtocolVersion)


@pytest.mark.parametrize("methods", [b"\x01", b"\x00\x01", b"\x01\x00"])
def test_client_hello_compression(methods: bytes) -> None:
    ch = dataclasses.replace(parsed_client_hello(), legacy_compression_methods=methods)
    expect_alert(new_server(), hs_record(ch.serialize()), IllegalParameter)


def test_client_hello_empty_compression_methods() -> None:
    ch = dataclasses.replace(parsed_client_hello(), legacy_compression_methods=b"")
    expect_alert(new_server(), hs_record(ch.serialize()), DecodeError)


def test_client_hello_session_id_over_32_bytes() -> None:
    ch = dataclasses.replace(parsed_client_hello(), legacy_session_id=bytes(33))
    expect_alert(new_server(), hs_record(ch.serialize()), DecodeError)


def test_client_hello_without_cipher_suites() -> None:
    ch = dataclasses.replace(parsed_client_hello(), cipher_suites=[])
    expect_alert(new_server(), hs_record(ch.serialize()), DecodeError)


def test_client_hello_without_common_cipher_suite() -> None:
    ch = dataclasses.replace(parsed_client_hello(), cipher_suites=[0xC02F, 0x1305])
    expect_alert(new_server(), hs_record(ch.serialize()), HandshakeFailure)


@pytest.mark.parametrize("missing", [ET.SIGNATURE_ALGORITHMS, ET.KEY_SHARE, ET.SUPPORTED_GROUPS])
def test_client_hello_missing_extension(missing: int) -> None:
    ch = parsed_client_hello()
    extensions = {k: v for k, v in ch.extensions.items() if k != missing}
    msg = dataclasses.replace(ch, extensions=extensions).serialize()
    expect_alert(new_server(), hs_record(msg), MissingExtension)


def test_client_hello_key_share_outside_supported_groups() -> None:
    ch = parsed_client_hello()
    extensions = dict(ch.extensions)
    extensions[ET.SUPPORTED_GROUPS] = ext.encode_u16_list([NamedGroup.secp256r1])
    msg = dataclasses.replace(ch, extensions=extensions).serialize()
    expect_alert(new_server(), hs_record(msg), IllegalParameter)


@pytest.mark.parametrize("share", [bytes(32), bytes(31), b"\x04" + bytes(64)])
def test_client_hello_bad_key_share(share: bytes) -> None:
    ch = parsed_client_hello()
    extensions = dict(ch.extensions)
    extensions[ET.KEY_SHARE] = ext.encode_key_share_ch([(NamedGroup.x25519, share)])
    msg = dataclasses.replace(ch, extensions=extensions).serialize()
    expect_alert(new_server(), hs_record(msg), IllegalParameter)


def test_client_hello_two_shares_for_one_group() -> None:
    ch = parsed_client_hello()
    group, share = ext.decode_key_share_ch(ch.extensions[ET.KEY_SHARE])[0]
    extensions = dict(ch.extensions)
    extensions[ET.KEY_SHARE] = ext.encode_key_share_ch([(group, share), (group, share)])
    msg = dataclasses.replace(ch, extensions=extensions).serialize()
    expect_alert(new_server(), hs_record(msg), IllegalParameter)


def test_client_hello_pre_shared_key_not_last() -> None:
    ch = parsed_client_hello()
    extensions = {ET.PRE_SHARED_KEY: b"\x00\x00\x00\x00", **ch.extensions}
    msg = dataclasses.replace(ch, extensions=extensions).serialize()
    expect_alert(new_server(), hs_record(msg), IllegalParameter)


@pytest.mark.parametrize("ext_type", [ET.OID_FILTERS])
def test_client_hello_extension_of_another_message(ext_type: int) -> None:
    ch = parsed_client_hello()
    msg = dataclasses.replace(ch, extensions={**ch.extensions, ext_type: b"\x00\x00"}).serialize()
    expect_alert(new_server(), hs_record(msg), IllegalParameter)


def test_client_hello_non_ascii_server_name() -> None:
    ch = parsed_client_hello()
    extensions = dict(ch.extensions)
    extensions[ET.SERVER_NAME] = b"\x00\x06\x00\x00\x03\xff\xfe\xfd"
    msg = dataclasses.replace(ch, extensions=extensions).serialize()
    expect_alert(new_server(), hs_record(msg), IllegalParameter)


def test_client_hello_too_long() -> None:
    """A handshake message header over the limit is rejected before the body arrives."""
    expect_alert(new_server(), hs_record(b"\x01\x02\x00\x01"), DecodeError)


def test_client_hello_spanning_the_key_change() -> None:
    """ClientHello + the start of the next message in one plaintext record."""
    client = new_client()
    msg = client.data_to_send()[5:]
    server = new_server()
    expect_alert(server, hs_record(msg + b"\x14\x00"), UnexpectedMessage, peer=client)


def test_client_hello_then_a_plaintext_handshake_record() -> None:
    client = new_client()
    msg = client.data_to_send()[5:]
    server = new_server()
    data = hs_record(msg) + hs_record(b"\x14\x00\x00\x20" + bytes(32))
    expect_alert(server, data, UnexpectedMessage, peer=client)


# =================================================================================
# ServerHello and HelloRetryRequest (to the client)
# =================================================================================

def server_hello_parts() -> tuple[TLSConnection, TLSConnection, ServerHello]:
    ex = exchange()
    return ex.client, ex.server, parse_server_hello(ex.server_hello[4:])


def test_truncated_server_hello_every_length() -> None:
    ex = exchange()
    body = ex.server_hello[4:]
    sh = parse_server_hello(body)
    # A cut right after legacy_compression_method reads as a TLS 1.2 ServerHello.
    tls12_length = 2 + 32 + 1 + len(sh.legacy_session_id_echo) + 2 + 1
    unexpected = []
    for length in range(len(body)):
        error = ProtocolVersion if length == tls12_length else DecodeError
        try:
            expect_alert(new_client(), hs_record(message(HT.SERVER_HELLO, body[:length])), error)
        except AssertionError as exc:
            unexpected.append((length, exc))
    assert not unexpected, unexpected[:3]


def test_server_hello_with_trailing_bytes() -> None:
    ex = exchange()
    data = hs_record(message(HT.SERVER_HELLO, ex.server_hello[4:] + b"\x00"))
    expect_alert(ex.client, data, DecodeError)


def _sh(client: TLSConnection, sh: ServerHello, **changes: Any) -> bytes:
    return hs_record(dataclasses.replace(sh, **changes).serialize())


def test_server_hello_selecting_tls12_in_supported_versions() -> None:
    client, _, sh = server_hello_parts()
    extensions = {**sh.extensions, ET.SUPPORTED_VERSIONS: b"\x03\x03"}
    expect_alert(client, _sh(client, sh, extensions=extensions), IllegalParameter)


def test_server_hello_selecting_an_unknown_version() -> None:
    client, _, sh = server_hello_parts()
    extensions = {**sh.extensions, ET.SUPPORTED_VERSIONS: b"\x7f\x1c"}
    expect_alert(client, _sh(client, sh, extensions=extensions), IllegalParameter)


@pytest.mark.parametrize("sentinel", [DOWNGRADE_TLS12, DOWNGRADE_TLS11])
def test_server_hello_downgrade_sentinel(sentinel: bytes) -> None:
    client, _, sh = server_hello_parts()
    extensions = {k: v for k, v in sh.extensions.items() if k != ET.SUPPORTED_VERSIONS}
    data = _sh(client, sh, random=sh.random[:24] + sentinel, extensions=extensions)
    expect_alert(client, data, IllegalParameter)


def test_server_hello_tls12_without_sentinel() -> None:
    client, _, sh = server_hello_parts()
    expect_alert(client, _sh(client, sh, extensions={}), ProtocolVersion)


def test_server_hello_legacy_version_not_tls12() -> None:
    client, _, sh = server_hello_parts()
    expect_alert(client, _sh(client, sh, legacy_version=0x0304), IllegalParameter)


@pytest.mark.parametrize("suite", [0x1303, 0x1304, 0xC02F, 0x0000])
def test_server_hello_suite_not_offered(suite: int) -> None:
    ex = exchange(client_config(CA, cipher_suites=[CipherSuites.TLS_AES_128_GCM_SHA256,
                                                    CipherSuites.TLS_AES_256_GCM_SHA384]))
    sh = parse_server_hello(ex.server_hello[4:])
    expect_alert(ex.client, _sh(ex.client, sh, cipher_suite=suite), IllegalParameter)


@pytest.mark.parametrize("group", [NamedGroup.secp256r1, NamedGroup.x448, 0x1234])
def test_server_hello_key_share_for_a_group_not_shared(group: int) -> None:
    client, _, sh = server_hello_parts()
    share = ext.encode_key_share_sh(group, b"\x04" + bytes(64))
    extensions = {**sh.extensions, ET.KEY_SHARE: share}
    expect_alert(client, _sh(client, sh, extensions=extensions), IllegalParameter)


@pytest.mark.parametrize("share", [bytes(32), bytes(33), b"\x01"])
def test_server_hello_bad_key_share(share: bytes) -> None:
    client, _, sh = server_hello_parts()
    extensions = {**sh.extensions, ET.KEY_SHARE: ext.encode_key_share_sh(NamedGroup.x25519, share)}
    expect_alert(client, _sh(client, sh, extensions=extensions), IllegalParameter)


def test_server_hello_garbled_key_share() -> None:
    client, _, sh = server_hello_parts()
    extensions = {**sh.extensions, ET.KEY_SHARE: sh.extensions[ET.KEY_SHARE] + b"\x00"}
    expect_alert(client, _sh(client, sh, extensions=extensions), DecodeError)


def test_server_hello_without_key_share() -> None:
    client, _, sh = server_hello_parts()
    extensions = {k: v for k, v in sh.extensions.items() if k != ET.KEY_SHARE}
    expect_alert(client, _sh(client, sh, extensions=extensions), MissingExtension)


@pytest.mark.parametrize("echo", [b"", bytes(32), b"\x01"])
def test_server_hello_session_id_echo_mismatch(echo: bytes) -> None:
    client, _, sh = server_hello_parts()
    expect_alert(client, _sh(client, sh, legacy_session_id_echo=echo), IllegalParameter)


@pytest.mark.parametrize("method", [1, 255])
def test_server_hello_compression(method: int) -> None:
    client, _, sh = server_hello_parts()
    expect_alert(client, _sh(client, sh, legacy_compression_method=method), IllegalParameter)


def test_server_hello_duplicate_extension() -> None:
    client, _, sh = server_hello_parts()
    w = Writer()
    w.u16(sh.legacy_version)
    w.bytes(sh.random)
    w.opaque(1, sh.legacy_session_id_echo)
    w.u16(sh.cipher_suite)
    w.u8(0)
    pairs = [*sh.extensions.items(), (ET.SUPPORTED_VERSIONS, b"\x03\x04")]
    data = hs_record(message(HT.SERVER_HELLO, bytes(w.buf) + raw_extensions(pairs)))
    expect_alert(client, data, IllegalParameter)


@pytest.mark.parametrize("ext_type", [ET.SERVER_NAME, ET.SUPPORTED_GROUPS,
                                      ET.SIGNATURE_ALGORITHMS, ET.PSK_KEY_EXCHANGE_MODES,
                                      ET.APPLICATION_LAYER_PROTOCOL_NEGOTIATION, ET.COOKIE])
def test_server_hello_with_a_recognized_extension_of_another_message(ext_type: int) -> None:
    """RFC 8446 4.2: a recognized extension in the wrong message is illegal_parameter."""
    client, _, sh = server_hello_parts()
    expect_alert(client, _sh(client, sh, extensions={**sh.extensions, ext_type: b""}),
                 IllegalParameter)


@pytest.mark.parametrize("ext_type", [ET.PRE_SHARED_KEY, 0x1234, 0xFAFA])
def test_server_hello_with_an_extension_never_offered(ext_type: int) -> None:
    """RFC 8446 4.2: an extension response that was never requested: unsupported_extension."""
    client, _, sh = server_hello_parts()
    expect_alert(client, _sh(client, sh, extensions={**sh.extensions, ext_type: b"\x00\x00"}),
                 UnsupportedExtension)


def test_server_hello_to_the_server() -> None:
    ex = exchange()
    expect_alert(new_server(), hs_record(ex.server_hello), UnexpectedMessage)


def test_server_hello_spanning_the_key_change() -> None:
    ex = exchange()
    data = hs_record(ex.server_hello + ex.messages[0][:3])
    expect_alert(ex.client, data, UnexpectedMessage, peer=ex.server)


def test_second_server_hello() -> None:
    ex = exchange()
    data = ex.sh_record + ex.ccs + ex.server_sealer().handshake(ex.server_hello)
    expect_alert(ex.client, data, UnexpectedMessage, peer=ex.server)


# -- HelloRetryRequest -------------------------------------------------------------

def hrr(client_hello: bytes, **extensions: bytes) -> bytes:
    ch = parse_client_hello(client_hello[4:])
    exts = {ET.SUPPORTED_VERSIONS: b"\x03\x04"}
    exts.update({ET[name.upper()]: value for name, value in extensions.items()})
    return ServerHello(HELLO_RETRY_REQUEST_RANDOM, ch.legacy_session_id,
                       CipherSuites.TLS_AES_128_GCM_SHA256, exts).serialize()


def test_real_hello_retry_request_twice() -> None:
    client = new_client()
    server = new_server(HRR_SERVER_CONFIG)
    server.receive_data(client.data_to_send())
    hrr_records = server.data_to_send()
    client.receive_data(hrr_records)
    assert client.data_to_send()  # ClientHello2
    hrr_record = split_records(hrr_records)[0]
    expect_alert(client, hrr_record, UnexpectedMessage)


def test_crafted_hello_retry_request_twice() -> None:
    client = new_client()
    ch = client.data_to_send()[5:]
    client.receive_data(hs_record(hrr(ch, key_share=b"\x00\x17")))
    client.data_to_send()
    expect_alert(client, hs_record(hrr(ch, key_share=b"\x00\x18")), UnexpectedMessage)


def test_hello_retry_request_that_changes_nothing() -> None:
    client = new_client()
    ch = client.data_to_send()[5:]
    expect_alert(client, hs_record(hrr(ch)), IllegalParameter)


def test_hello_retry_request_for_the_group_already_shared() -> None:
    client = new_client()
    ch = client.data_to_send()[5:]
    expect_alert(client, hs_record(hrr(ch, key_share=b"\x00\x1d")), IllegalParameter)


@pytest.mark.parametrize("group", [b"\x12\x34", b"\x00\x17"])
def test_hello_retry_request_for_a_group_not_offered(group: bytes) -> None:
    client = new_client(client_config(CA, key_exchanges=[NamedGroup.x25519, NamedGroup.x448]))
    ch = client.data_to_send()[5:]
    expect_alert(client, hs_record(hrr(ch, key_share=group)), IllegalParameter)


@pytest.mark.parametrize(("name", "value"), [("key_share", b"\x00"), ("key_share", b"\x00\x17\x00"),
                                              ("cookie", b""), ("cookie", b"\x00\x00"),
                                              ("cookie", b"\x00\x05abc")])
def test_hello_retry_request_garbled_extension(name: str, value: bytes) -> None:
    client = new_client()
    ch = client.data_to_send()[5:]
    expect_alert(client, hs_record(hrr(ch, **{name: value})), DecodeError)


@pytest.mark.parametrize("ext_type", [ET.SERVER_NAME, ET.SUPPORTED_GROUPS, ET.PRE_SHARED_KEY])
def test_hello_retry_request_with_an_extension_of_another_message(ext_type: int) -> None:
    client = new_client()
    ch = client.data_to_send()[5:]
    msg = parse_server_hello(hrr(ch, key_share=b"\x00\x17")[4:])
    data = _sh(client, msg, extensions={**msg.extensions, ext_type: b""})
    expect_alert(client, data, IllegalParameter)


def test_hello_retry_request_with_a_suite_not_offered() -> None:
    client = new_client(client_config(CA, cipher_suites=[CipherSuites.TLS_AES_128_GCM_SHA256]))
    ch = client.data_to_send()[5:]
    msg = parse_server_hello(hrr(ch, key_share=b"\x00\x17")[4:])
    expect_alert(client, _sh(client, msg, cipher_suite=0x1302), IllegalParameter)


def test_hello_retry_request_session_id_echo_mismatch() -> None:
    client = new_client()
    ch = client.data_to_send()[5:]
    msg = parse_server_hello(hrr(ch, key_share=b"\x00\x17")[4:])
    expect_alert(client, _sh(client, msg, legacy_session_id_echo=b""), IllegalParameter)


def test_hello_retry_request_with_an_extension_never_offered() -> None:
    client = new_client()
    ch = client.data_to_send()[5:]
    msg = parse_server_hello(hrr(ch, key_share=b"\x00\x17")[4:])
    data = _sh(client, msg, extensions={**msg.extensions, 0x1234: b""})
    expect_alert(client, data, UnsupportedExtension)


def test_server_hello_after_hrr_changes_the_suite() -> None:
    client = new_client()
    server = new_server(HRR_SERVER_CONFIG)
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())
    sh_record = split_records(server.data_to_send())[0]
    sh = parse_server_hello(sh_record[9:])
    expect_alert(client, _sh(client, sh, cipher_suite=0x1302), IllegalParameter)


def test_server_hello_after_hrr_uses_the_old_group() -> None:
    client = new_client()
    server = new_server(HRR_SERVER_CONFIG)
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    client.data_to_send()
    ex = exchange()  # a ServerHello key-sharing x25519, the group of ClientHello1
    sh = parse_server_hello(ex.server_hello[4:])
    ch2 = internals(client).handshake.client_hello
    assert ch2 is not None
    expect_alert(client, _sh(client, sh, legacy_session_id_echo=ch2.legacy_session_id),
                 IllegalParameter)


def test_second_client_hello_unchanged() -> None:
    client = new_client()
    ch1 = client.data_to_send()
    server = new_server(HRR_SERVER_CONFIG)
    server.receive_data(ch1)
    assert server.data_to_send()
    expect_alert(server, ch1, IllegalParameter)


def test_second_client_hello_with_another_random() -> None:
    client = new_client()
    server = new_server(HRR_SERVER_CONFIG)
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    _, ch2_record = split_records(client.data_to_send())
    ch2 = parse_client_hello(ch2_record[9:])
    expect_alert(server, hs_record(dataclasses.replace(ch2, random=bytes(32)).serialize()),
                 IllegalParameter)


# =================================================================================
# Out-of-order messages
# =================================================================================

def nst() -> bytes:
    return NewSessionTicket(3600, 1, b"", b"ticket", {}).serialize()


def cr() -> bytes:
    return CertificateRequest(b"", {ET.SIGNATURE_ALGORITHMS: SIGNATURE_ALGORITHMS}).serialize()


EE, CERT, CV, FIN = range(4)
# (what the client received before, what comes next); None stands for CertificateRequest
CLIENT_ORDER_CASES: list[tuple[str, list[int | None], str]] = [
    ("WAIT_EE", [], "Finished"), ("WAIT_EE", [], "Certificate"),
    ("WAIT_EE", [], "CertificateVerify"), ("WAIT_EE", [], "CertificateRequest"),
    ("WAIT_EE", [], "ServerHello"), ("WAIT_EE", [], "ClientHello"),
    ("WAIT_EE", [], "NewSessionTicket"), ("WAIT_EE", [], "KeyUpdate"),
    ("WAIT_EE", [], "EndOfEarlyData"), ("WAIT_EE", [], "unknown"),
    ("WAIT_CERT_CR", [EE], "EncryptedExtensions"), ("WAIT_CERT_CR", [EE], "CertificateVerify"),
    ("WAIT_CERT_CR", [EE], "Finished"), ("WAIT_CERT_CR", [EE], "NewSessionTicket"),
    ("WAIT_CERT_CR", [EE], "KeyUpdate"), ("WAIT_CERT_CR", [EE], "ServerHello"),
    ("WAIT_CERT", [EE, None], "CertificateRequest"), ("WAIT_CERT", [EE, None], "Finished"),
    ("WAIT_CERT", [EE, None], "CertificateVerify"),
    ("WAIT_CV", [EE, CERT], "Certificate"), ("WAIT_CV", [EE, CERT], "Finished"),
    ("WAIT_CV", [EE, CERT], "CertificateRequest"), ("WAIT_CV", [EE, CERT], "EncryptedExtensions"),
    ("WAIT_FINISHED", [EE, CERT, CV], "CertificateVerify"),
    ("WAIT_FINISHED", [EE, CERT, CV], "Certificate"),
    ("WAIT_FINISHED", [EE, CERT, CV], "EncryptedExtensions"),
    ("WAIT_FINISHED", [EE, CERT, CV], "KeyUpdate"),
    ("WAIT_FINISHED", [EE, CERT, CV], "NewSessionTicket"),
]


def named_message(ex: Exchange, name: str, client_hello: bytes | None = None) -> bytes:
    table = {
        "EncryptedExtensions": lambda: ex.messages[EE],
        "Certificate": lambda: ex.messages[CERT],
        "CertificateVerify": lambda: ex.messages[CV],
        "Finished": lambda: ex.messages[FIN],
        "CertificateRequest": cr,
        "ServerHello": lambda: ex.server_hello,
        "ClientHello": lambda: client_hello or ex.client_hello,
        "NewSessionTicket": nst,
        "KeyUpdate": lambda: KeyUpdate(0).serialize(),
        "EndOfEarlyData": lambda: message(HT.END_OF_EARLY_DATA, b""),
        "unknown": lambda: message(99, b"\x00"),
    }
    return table[name]()


@pytest.mark.parametrize(("state", "before", "name"), CLIENT_ORDER_CASES,
                         ids=[f"{s}-{n}" for s, _, n in CLIENT_ORDER_CASES])
def test_client_out_of_order(state: str, before: list[int | None], name: str) -> None:
    ex = exchange()
    prefix = [cr() if i is None else ex.messages[i] for i in before]
    ex.client.receive_data(ex.to_client(*prefix))
    assert internals(ex.client).state.name == state
    sealer = ex.server_sealer()
    sealer.seq = len(prefix)
    expect_alert(ex.client, sealer.handshake(named_message(ex, name)), UnexpectedMessage,
                 peer=ex.server)


@pytest.mark.parametrize("name", ["EncryptedExtensions", "Certificate", "CertificateVerify",
                                  "Finished", "NewSessionTicket", "KeyUpdate",
                                  "CertificateRequest", "ClientHello", "unknown"])
def test_client_out_of_order_in_wait_sh(name: str) -> None:
    ex = exchange()
    expect_alert(ex.client, hs_record(named_message(ex, name)), UnexpectedMessage)


@pytest.mark.parametrize("name", ["EncryptedExtensions", "Certificate", "CertificateVerify",
                                  "Finished", "ServerHello", "ClientHello", "CertificateRequest",
                                  "EndOfEarlyData", "unknown"])
def test_client_out_of_order_when_connected(name: str) -> None:
    ex = exchange()
    ex.client_done()
    ex.server.receive_data(ex.client_flight)
    assert ex.server.is_connected()
    internals(ex.server).write_record(ContentType.HANDSHAKE, named_message(ex, name))
    expect_alert(ex.client, ex.server.data_to_send(), UnexpectedMessage, peer=ex.server)


SERVER_START_CASES = ["ServerHello", "EncryptedExtensions", "Certificate", "CertificateVerify",
                      "Finished", "NewSessionTicket", "KeyUpdate", "CertificateRequest",
                      "EndOfEarlyData", "unknown"]


@pytest.mark.parametrize("name", SERVER_START_CASES)
def test_server_out_of_order_in_start(name: str) -> None:
    ex = exchange()
    expect_alert(new_server(), hs_record(named_message(ex, name)), UnexpectedMessage)


@pytest.mark.parametrize("name", ["ClientHello", "ServerHello", "EncryptedExtensions",
                                  "Certificate", "CertificateVerify", "NewSessionTicket",
                                  "KeyUpdate", "CertificateRequest", "EndOfEarlyData", "unknown"])
def test_server_out_of_order_in_wait_finished(name: str) -> None:
    ex = exchange()
    ex.client_done()
    expect_alert(ex.server, ex.client_sealer().handshake(named_message(ex, name)),
                 UnexpectedMessage, peer=ex.client)


def auth_exchange() -> Exchange:
    ex = exchange(AUTH_CLIENT_CONFIG, AUTH_SERVER_CONFIG)
    ex.client_done()
    return ex


@pytest.mark.parametrize(("before", "name"), [
    (0, "Finished"), (0, "CertificateVerify"), (0, "ClientHello"), (0, "KeyUpdate"),
    (1, "Finished"), (1, "Certificate"), (1, "KeyUpdate"),
    (2, "Certificate"), (2, "CertificateVerify"),
])
def test_server_out_of_order_with_client_authentication(before: int, name: str) -> None:
    ex = auth_exchange()
    cert, cv, fin = ex.client_messages
    table = {"Finished": fin, "CertificateVerify": cv, "Certificate": cert,
             "ClientHello": ex.client_hello, "KeyUpdate": KeyUpdate(0).serialize()}
    sealer = ex.client_sealer()
    ex.server.receive_data(sealer.handshake(*ex.client_messages[:before]))
    assert internals(ex.server).state.name == ["WAIT_CERT", "WAIT_CV", "WAIT_FINISHED"][before]
    expect_alert(ex.server, sealer.handshake(table[name]), UnexpectedMessage, peer=ex.client)


@pytest.mark.parametrize("name", ["ClientHello", "Certificate", "CertificateVerify", "Finished",
                                  "NewSessionTicket", "EncryptedExtensions", "ServerHello",
                                  "EndOfEarlyData", "unknown"])
def test_server_out_of_order_when_connected(name: str) -> None:
    ex = exchange()
    ex.client_done()
    ex.server.receive_data(ex.client_flight)
    assert ex.server.is_connected()
    internals(ex.client).write_record(ContentType.HANDSHAKE, named_message(ex, name))
    expect_alert(ex.server, ex.client.data_to_send(), UnexpectedMessage, peer=ex.client)


# =================================================================================
# The server's encrypted flight (to the client)
# =================================================================================

def test_wrong_server_finished() -> None:
    ex = exchange()
    fin = bytearray(ex.messages[FIN])
    fin[-1] ^= 1
    data = ex.to_client(*ex.messages[:FIN], bytes(fin))
    expect_alert(ex.client, data, DecryptError, peer=ex.server)
    assert not ex.client.is_post_handshake()


@pytest.mark.parametrize("delta", [-1, 1])
def test_server_finished_of_the_wrong_length(delta: int) -> None:
    ex = exchange()
    body = ex.messages[FIN][4:]
    body = body[:-1] if delta < 0 else body + b"\x00"
    data = ex.to_client(*ex.messages[:FIN], message(HT.FINISHED, body))
    expect_alert(ex.client, data, DecodeError, peer=ex.server)


def test_no_application_data_released_after_a_wrong_server_finished() -> None:
    ex = exchange()
    fin = bytearray(ex.messages[FIN])
    fin[-1] ^= 1
    app = Sealer(ex.suite, ex.schedule.server_application_traffic_secret)
    data = (ex.to_client(*ex.messages[:FIN], bytes(fin))
            + app.records(ContentType.APPLICATION_DATA, b"0.5-RTT data"))
    expect_alert(ex.client, data, DecryptError, peer=ex.server)
    assert ex.client.data_to_read() == b""


def test_bad_certificate_verify_signature() -> None:
    ex = exchange()
    cv = bytearray(ex.messages[CV])
    cv[-1] ^= 1  # the last byte of the ECDSA s value: the DER still parses
    data = ex.to_client(*ex.messages[:CV], bytes(cv), ex.messages[FIN])
    expect_alert(ex.client, data, DecryptError, peer=ex.server)


def test_certificate_verify_signature_that_does_not_parse() -> None:
    ex = exchange()
    cv = parse_certificate_verify(ex.messages[CV][4:])
    bad = message(HT.CERTIFICATE_VERIFY, cv.algorithm.to_bytes(2, "big") + b"\x00\x03abc")
    expect_alert(ex.client, ex.to_client(*ex.messages[:CV], bad), DecryptError, peer=ex.server)


def test_bad_certificate_verify_signature_by_monkeypatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server signs, then a byte of its signature is corrupted."""
    scheme = crypto.SIGNATURE_SCHEMES[0x0403]
    original = type(scheme).sign

    def corrupt_sign(self: Any, key: Any, data: bytes) -> bytes:
        signature = bytearray(original(self, key, data))
        signature[-1] ^= 0x55
        return bytes(signature)

    client = new_client()
    server = new_server()
    monkeypatch.setattr(type(scheme), "sign", corrupt_sign)
    server.receive_data(client.data_to_send())
    monkeypatch.undo()
    expect_alert(client, server.data_to_send(), DecryptError, peer=server)


@pytest.mark.parametrize(("algorithm", "error"), [
    (0x0807, IllegalParameter),  # ed25519: offered, but not the certificate's key
    (0x0503, IllegalParameter),  # ecdsa_secp384r1_sha384: the wrong curve
    (0x0401, IllegalParameter),  # rsa_pkcs1_sha256: never offered for CertificateVerify
    (0x1234, IllegalParameter),  # unknown
])
def test_certificate_verify_with_the_wrong_scheme(algorithm: int,
                                                  error: type[TLSFatalAlert]) -> None:
    ex = exchange()
    cv = parse_certificate_verify(ex.messages[CV][4:])
    bad = message(HT.CERTIFICATE_VERIFY,
                  algorithm.to_bytes(2, "big") + len(cv.signature).to_bytes(2, "big")
                  + cv.signature)
    expect_alert(ex.client, ex.to_client(*ex.messages[:CV], bad), error, peer=ex.server)


def test_empty_certificate_list_from_the_server() -> None:
    ex = exchange()
    empty = Certificate(b"", []).serialize()
    expect_alert(ex.client, ex.to_client(ex.messages[EE], empty), DecodeError, peer=ex.server)


def test_server_certificate_with_a_context() -> None:
    ex = exchange()
    cert = bytearray(ex.messages[CERT])
    # context<0..255> is the first byte of the body: give it one byte
    body = b"\x01\x00" + bytes(cert[5:])
    bad = message(HT.CERTIFICATE, body)
    expect_alert(ex.client, ex.to_client(ex.messages[EE], bad), IllegalParameter, peer=ex.server)


@pytest.mark.parametrize("cert_data", [b"\x30\x03\x02\x01\x00", b"not DER at all"])
def test_server_certificate_that_does_not_parse(cert_data: bytes) -> None:
    ex = exchange()
    bad = Certificate(b"", [CertificateEntry(cert_data)]).serialize()
    expect_alert(ex.client, ex.to_client(ex.messages[EE], bad), BadCertificate, peer=ex.server)


def test_server_certificate_entry_of_zero_bytes() -> None:
    ex = exchange()
    bad = message(HT.CERTIFICATE, b"\x00\x00\x00\x05\x00\x00\x00\x00\x00")
    expect_alert(ex.client, ex.to_client(ex.messages[EE], bad), DecodeError, peer=ex.server)


def test_server_certificate_with_garbled_lengths() -> None:
    ex = exchange()
    body = bytearray(ex.messages[CERT][4:])
    body[3] ^= 0x01  # the certificate_list length
    bad = message(HT.CERTIFICATE, bytes(body))
    expect_alert(ex.client, ex.to_client(ex.messages[EE], bad), DecodeError, peer=ex.server)


def test_server_certificate_with_an_extension_never_offered() -> None:
    ex = exchange()
    bad = Certificate(b"", [CertificateEntry(LEAF.cert_der, {0x1234: b""})]).serialize()
    expect_alert(ex.client, ex.to_client(ex.messages[EE], bad), UnsupportedExtension,
                 peer=ex.server)


def test_server_certificate_with_an_extension_of_another_message() -> None:
    ex = exchange()
    bad = Certificate(b"", [CertificateEntry(LEAF.cert_der, {ET.KEY_SHARE: b""})]).serialize()
    expect_alert(ex.client, ex.to_client(ex.messages[EE], bad), IllegalParameter,
                 peer=ex.server)


@pytest.mark.parametrize(("extensions", "error"), [
    ({ET.KEY_SHARE: b""}, IllegalParameter),
    ({ET.SIGNATURE_ALGORITHMS: SIGNATURE_ALGORITHMS}, IllegalParameter),
    ({ET.PSK_KEY_EXCHANGE_MODES: b"\x01\x01"}, IllegalParameter),
    ({ET.SUPPORTED_VERSIONS: b"\x03\x04"}, IllegalParameter),
    ({ET.COOKIE: b"\x00\x01x"}, IllegalParameter),
    ({ET.APPLICATION_LAYER_PROTOCOL_NEGOTIATION: ext.encode_alpn([b"h2"])},
     UnsupportedExtension),
    ({0x1234: b""}, UnsupportedExtension),
    ({ET.SERVER_NAME: b"\x00"}, DecodeError),
    ({ET.SUPPORTED_GROUPS: b"\x00\x03\x00\x1d\x00"}, DecodeError),
])
def test_bad_encrypted_extensions(extensions: dict[int, bytes],
                                  error: type[TLSFatalAlert]) -> None:
    ex = exchange()
    ee = EncryptedExtensions(extensions).serialize()
    expect_alert(ex.client, ex.to_client(ee), error, peer=ex.server)


@pytest.mark.parametrize(("alpn", "error"), [
    ([b"spdy/1"], IllegalParameter),
    ([b"h2", b"http/1.1"], IllegalParameter),
    ([], DecodeError),
])
def test_bad_alpn_in_encrypted_extensions(alpn: list[bytes], error: type[TLSFatalAlert]) -> None:
    ex = exchange(client_config(CA, alpn=[b"h2", b"http/1.1"]))
    ee = EncryptedExtensions({ET.APPLICATION_LAYER_PROTOCOL_NEGOTIATION:
                              ext.encode_alpn(alpn)}).serialize()
    expect_alert(ex.client, ex.to_client(ee), error, peer=ex.server)


def test_encrypted_extensions_duplicate_extension() -> None:
    ex = exchange()
    body = raw_extensions([(ET.SERVER_NAME, b""), (ET.SERVER_NAME, b"")])
    ee = message(HT.ENCRYPTED_EXTENSIONS, body)
    expect_alert(ex.client, ex.to_client(ee), IllegalParameter, peer=ex.server)


def test_encrypted_extensions_too_long() -> None:
    ex = exchange()
    data = ex.to_client(b"\x08\x01\x00\x01")
    expect_alert(ex.client, data, DecodeError, peer=ex.server)


def test_certificate_too_long() -> None:
    ex = exchange()
    data = ex.to_client(ex.messages[EE], b"\x0b\x04\x00\x01")
    expect_alert(ex.client, data, DecodeError, peer=ex.server)


@pytest.mark.parametrize(("request_msg", "error"), [
    (CertificateRequest(b"\x01", {ET.SIGNATURE_ALGORITHMS: SIGNATURE_ALGORITHMS}),
     IllegalParameter),
    (CertificateRequest(b"", {ET.SUPPORTED_GROUPS: b"\x00\x02\x00\x1d"}), IllegalParameter),
    (CertificateRequest(b"", {0x1234: b""}), MissingExtension),
    (CertificateRequest(b"", {ET.SIGNATURE_ALGORITHMS: b"\x00\x01\x04"}), DecodeError),
])
def test_bad_certificate_request(request_msg: CertificateRequest,
                                 error: type[TLSFatalAlert]) -> None:
    ex = exchange()
    data = ex.to_client(ex.messages[EE], request_msg.serialize())
    expect_alert(ex.client, data, error, peer=ex.server)


def test_certificate_request_without_extensions() -> None:
    ex = exchange()
    data = ex.to_client(ex.messages[EE], message(HT.CERTIFICATE_REQUEST, b"\x00\x00\x00"))
    expect_alert(ex.client, data, DecodeError, peer=ex.server)


def test_finished_spanning_the_key_change() -> None:
    ex = exchange()
    sealer = ex.server_sealer()
    data = (ex.sh_record + ex.ccs + sealer.handshake(*ex.messages[:FIN])
            + sealer.handshake(ex.messages[FIN] + b"\x04\x00"))
    expect_alert(ex.client, data, UnexpectedMessage, peer=ex.server)


# =================================================================================
# The client's second flight (to the server)
# =================================================================================

def test_wrong_client_finished() -> None:
    ex = exchange()
    ex.client_done()
    fin = bytearray(ex.client_messages[0])
    fin[-1] ^= 1
    expect_alert(ex.server, ex.client_sealer().handshake(bytes(fin)), DecryptError,
                 peer=ex.client)
    assert not ex.server.is_post_handshake()


def test_wrong_client_finished_by_monkeypatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """KeySchedule.finished returns garbage for the client's own Finished only."""
    ex = exchange()
    server_schedule = ex.schedule
    client_key = server_schedule.client_handshake_traffic_secret
    original = KeySchedule.finished

    def finished(self: KeySchedule, base_key: bytes) -> bytes:
        verify_data = original(self, base_key)
        if self is not server_schedule and base_key == client_key:
            return bytes(len(verify_data))
        return verify_data

    monkeypatch.setattr(KeySchedule, "finished", finished)
    ex.client.receive_data(ex.server_flight)
    assert ex.client.is_post_handshake()
    expect_alert(ex.server, ex.client.data_to_send(), DecryptError, peer=ex.client)


def test_no_application_data_released_after_a_wrong_client_finished() -> None:
    ex = exchange()
    ex.client_done()
    fin = bytearray(ex.client_messages[0])
    fin[-1] ^= 1
    ex.client.send_data(b"secret request")
    app_data = ex.client.data_to_send()
    data = ex.client_sealer().handshake(bytes(fin)) + app_data
    expect_alert(ex.server, data, DecryptError, peer=ex.client)
    assert ex.server.data_to_read() == b""


def test_client_finished_spanning_the_key_change() -> None:
    ex = exchange()
    ex.client_done()
    data = ex.client_sealer().handshake(ex.client_messages[0] + b"\x18\x00")
    expect_alert(ex.server, data, UnexpectedMessage, peer=ex.client)


def test_bad_client_certificate_verify_signature() -> None:
    ex = auth_exchange()
    cert, cv, fin = ex.client_messages
    bad = bytearray(cv)
    bad[-1] ^= 1
    data = ex.client_sealer().handshake(cert, bytes(bad), fin)
    expect_alert(ex.server, data, DecryptError, peer=ex.client)


def test_empty_client_certificate_when_required() -> None:
    ex = auth_exchange()
    empty = Certificate(b"", []).serialize()
    expect_alert(ex.server, ex.client_sealer().handshake(empty), CertificateRequired,
                 peer=ex.client)


def test_client_certificate_that_does_not_parse() -> None:
    ex = auth_exchange()
    bad = Certificate(b"", [CertificateEntry(b"\x30\x00")]).serialize()
    expect_alert(ex.server, ex.client_sealer().handshake(bad), BadCertificate, peer=ex.client)


def test_client_certificate_with_an_extension() -> None:
    ex = auth_exchange()
    bad = Certificate(b"", [CertificateEntry(CLIENT_LEAF.cert_der, {0x1234: b""})]).serialize()
    expect_alert(ex.server, ex.client_sealer().handshake(bad), UnsupportedExtension,
                 peer=ex.client)


def test_client_certificate_with_a_context() -> None:
    ex = auth_exchange()
    bad = Certificate(b"\x01", []).serialize()
    expect_alert(ex.server, ex.client_sealer().handshake(bad), IllegalParameter, peer=ex.client)


# =================================================================================
# After the handshake
# =================================================================================

@pytest.mark.parametrize("request_update", [2, 5, 255])
def test_key_update_with_a_bad_request(request_update: int) -> None:
    client, server = connected()
    internals(server).write_record(
        ContentType.HANDSHAKE, bytes((HT.KEY_UPDATE, 0, 0, 1, request_update)))
    expect_alert(client, server.data_to_send(), IllegalParameter, peer=server)


@pytest.mark.parametrize("body", [b"", b"\x00\x00"])
def test_key_update_of_the_wrong_length(body: bytes) -> None:
    client, server = connected()
    internals(server).write_record(ContentType.HANDSHAKE, message(HT.KEY_UPDATE, body))
    expect_alert(client, server.data_to_send(), DecodeError, peer=server)


def test_key_update_spanning_the_key_change() -> None:
    client, server = connected()
    internals(server).write_record(ContentType.HANDSHAKE, KeyUpdate(0).serialize() + b"\x18\x00")
    expect_alert(client, server.data_to_send(), UnexpectedMessage, peer=server)


def test_too_many_key_updates_without_data() -> None:
    client, server = connected()
    for _ in range(MAX_RECORDS_WITHOUT_PROGRESS):
        server.update_keys(request_peer_update=False)
    client.receive_data(server.data_to_send())
    assert not client.is_failed()
    server.update_keys(request_peer_update=False)
    expect_alert(client, server.data_to_send(), UnexpectedMessage, peer=server)


def test_key_updates_with_data_in_between_are_fine() -> None:
    client, server = connected()
    for _ in range(2 * MAX_RECORDS_WITHOUT_PROGRESS):
        server.update_keys(request_peer_update=False)
        server.send_data(b"x")
    client.receive_data(server.data_to_send())
    assert client.data_to_read() == b"x" * 2 * MAX_RECORDS_WITHOUT_PROGRESS


def test_too_many_empty_application_data_records() -> None:
    client, server = connected()
    for _ in range(MAX_RECORDS_WITHOUT_PROGRESS + 1):
        internals(server).write_record(ContentType.APPLICATION_DATA, b"")
    expect_alert(client, server.data_to_send(), UnexpectedMessage, peer=server)


def test_too_many_new_session_tickets() -> None:
    client, server = connected()
    for _ in range(MAX_RECORDS_WITHOUT_PROGRESS + 1):
        internals(server).write_record(ContentType.HANDSHAKE, nst())
    expect_alert(client, server.data_to_send(), UnexpectedMessage, peer=server)


def test_new_session_ticket_to_the_server() -> None:
    client, server = connected()
    internals(client).write_record(ContentType.HANDSHAKE, nst())
    expect_alert(server, client.data_to_send(), UnexpectedMessage, peer=client)


@pytest.mark.parametrize(("ticket", "error"), [
    (NewSessionTicket(3600, 1, b"", b"", {}).serialize(), DecodeError),
    (NewSessionTicket(604801, 1, b"", b"t", {}).serialize(), IllegalParameter),
    (NewSessionTicket(3600, 1, b"", b"t", {ET.KEY_SHARE: b""}).serialize(), IllegalParameter),
    (NewSessionTicket(3600, 1, b"", b"t", {ET.EARLY_DATA: b"\x00"}).serialize(), DecodeError),
    (NewSessionTicket(3600, 1, b"", b"t", {}).serialize()[:-1], DecodeError),
])
def test_bad_new_session_ticket(ticket: bytes, error: type[TLSFatalAlert]) -> None:
    client, server = connected()
    if ticket[1:4] != (len(ticket) - 4).to_bytes(3, "big"):
        ticket = message(ticket[0], ticket[4:])
    internals(server).write_record(ContentType.HANDSHAKE, ticket)
    expect_alert(client, server.data_to_send(), error, peer=server)


def test_post_handshake_certificate_request_without_post_handshake_auth() -> None:
    client, server = connected()
    internals(server).write_record(ContentType.HANDSHAKE, cr())
    expect_alert(client, server.data_to_send(), UnexpectedMessage, peer=server)


def test_peer_alert_then_every_call_fails() -> None:
    client, server = connected()
    internals(server).write_record(ContentType.ALERT, b"\x02\x28")
    with pytest.raises(TLSPeerAlert) as info:
        client.receive_data(server.data_to_send())
    assert info.value.description == 40
    assert client.data_to_send() == b""  # nothing is sent back
    with pytest.raises(TLSConnectionFailed):
        client.receive_data(b"\x17")
    with pytest.raises(TLSConnectionFailed):
        client.send_data(b"x")


# =================================================================================
# Interleaving (RFC 8446 section 5.1)
# =================================================================================
# "Handshake messages MUST NOT be interleaved with other record types. That is, if a
# handshake message is split over two or more records, there MUST NOT be any other
# records between them." siotls keeps the partial message buffered and accepts the
# other record.

INTERLEAVING_REASON = (
    "BUG: a record of another content type between two fragments of one handshake "
    "message is accepted (RFC 8446 5.1); expected unexpected_message")


def test_application_data_inside_a_fragmented_handshake_message() -> None:
    client, server = connected()
    internals(server).write_record(ContentType.HANDSHAKE, b"\x18\x00")
    internals(server).write_record(ContentType.APPLICATION_DATA, b"data")
    internals(server).write_record(ContentType.HANDSHAKE, b"\x00\x01\x00")
    expect_alert(client, server.data_to_send(), UnexpectedMessage, peer=server)


def test_alert_inside_a_fragmented_handshake_message() -> None:
    client, server = connected()
    internals(server).write_record(ContentType.HANDSHAKE, b"\x18\x00")
    internals(server).write_record(ContentType.ALERT, b"\x01\x5a")  # warning user_canceled
    internals(server).write_record(ContentType.HANDSHAKE, b"\x00\x01\x00")
    expect_alert(client, server.data_to_send(), UnexpectedMessage, peer=server)


def test_change_cipher_spec_inside_a_fragmented_server_hello() -> None:
    ex = exchange()
    sh = ex.server_hello
    expect_alert(ex.client, hs_record(sh[:10]) + ex.ccs + hs_record(sh[10:]), UnexpectedMessage)


# =================================================================================
# Unprotected alerts after the handshake
# =================================================================================
# Once both sides have their traffic keys every record is protected (RFC 8446 5);
# a plaintext alert after the handshake is forged. siotls takes it as genuine: a
# plaintext close_notify makes the stream look cleanly closed (the truncation
# attack close_notify exists to stop, RFC 8446 6.1), a plaintext fatal alert kills
# the connection as if the peer had sent it.

PLAINTEXT_ALERT_REASON = (
    "BUG: an unprotected alert record after the handshake is accepted as the peer's "
    "(a forged close_notify truncates the stream undetected); expected unexpected_message")


@pytest.mark.parametrize("to_client", [True, False])
def test_unprotected_close_notify_after_handshake(to_client: bool) -> None:
    client, server = connected()
    receiver, sender = (client, server) if to_client else (server, client)
    sender.send_data(b"the first half of the data")
    receiver.receive_data(sender.data_to_send())
    expect_alert(receiver, plaintext_alert(0)[:5] + b"\x01\x00", UnexpectedMessage, peer=sender)
    assert not receiver.close_notify_received


def test_unprotected_fatal_alert_after_handshake() -> None:
    client, server = connected()
    expect_alert(client, plaintext_alert(40), UnexpectedMessage, peer=server)
