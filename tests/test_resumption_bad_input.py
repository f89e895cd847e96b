"""Bad PSK and ticket input from the peer: the RFC 8446 alert and its TLSFatalAlert
subclass, or (for tickets we cannot use) a full handshake without any error.

Resumption ClientHellos come from a real siotls client holding a session and are
edited before the server sees them; ServerHellos come from a real siotls server
and are edited before the client sees them.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from certs import make_ca
from helpers import client_config, handshake, new_session, server_config
from siotls import TicketKeys, TLSConnection
from siotls.core import extensions as ext
from siotls.core import psk
from siotls.core.errors import (
    DecodeError,
    DecryptError,
    IllegalParameter,
    MissingExtension,
    TLSConnectionFailed,
    TLSFatalAlert,
    UnexpectedMessage,
)
from siotls.core.messages import (
    ClientHello,
    NewSessionTicket,
    ServerHello,
    parse_client_hello,
    parse_server_hello,
)
from siotls.iana import CipherSuites, PskKeyExchangeMode
from siotls.iana import ExtensionType as ET
from wire import Sealer, hs_record, plaintext_alert, split_records

CA = make_ca()
SERVER_CONFIG = server_config(CA.issue(), ticket_keys=TicketKeys.generate(random.randbytes))
CLIENT_CONFIG = client_config(CA)


SESSION = new_session(CLIENT_CONFIG, SERVER_CONFIG)


def resuming_client(config: object = CLIENT_CONFIG) -> tuple[TLSConnection, ClientHello]:
    c = TLSConnection(config, "localhost", session=SESSION)  # type: ignore[arg-type]
    c.initiate_connection()
    data = c.data_to_send()
    return c, parse_client_hello(split_records(data)[0][9:])


def new_server() -> TLSConnection:
    s = TLSConnection(SERVER_CONFIG)
    s.initiate_connection()
    return s


def expect_alert(conn: TLSConnection, data: bytes, error: type[TLSFatalAlert]) -> None:
    with pytest.raises(TLSFatalAlert) as info:
        conn.receive_data(data)
    assert type(info.value) is error, repr(info.value)
    assert conn.data_to_send().endswith(plaintext_alert(error.description)[-2:]) or \
        conn.is_failed()
    with pytest.raises(TLSConnectionFailed):
        conn.receive_data(b"\x16")


def with_psk_extension(ch: ClientHello, data: bytes) -> bytes:
    exts = {k: v for k, v in ch.extensions.items() if k != ET.PRE_SHARED_KEY}
    exts[ET.PRE_SHARED_KEY] = data
    return hs_record(dataclasses.replace(ch, extensions=exts).serialize())


# -- the server reading pre_shared_key ------------------------------------------------------

def test_pre_shared_key_not_last() -> None:
    _, ch = resuming_client()
    exts = dict(ch.extensions)
    psk_data = exts.pop(ET.PRE_SHARED_KEY)
    exts = {ET.PRE_SHARED_KEY: psk_data, **exts}
    data = hs_record(dataclasses.replace(ch, extensions=exts).serialize())
    expect_alert(new_server(), data, IllegalParameter)


def test_more_binders_than_identities() -> None:
    _, ch = resuming_client()
    identities, binders = psk.decode_offered_psks(ch.extensions[ET.PRE_SHARED_KEY])
    data = with_psk_extension(ch, psk.encode_offered_psks(identities, binders * 2))
    expect_alert(new_server(), data, IllegalParameter)


def test_more_identities_than_binders() -> None:
    _, ch = resuming_client()
    identities, binders = psk.decode_offered_psks(ch.extensions[ET.PRE_SHARED_KEY])
    data = with_psk_extension(ch, psk.encode_offered_psks(identities * 2, binders))
    expect_alert(new_server(), data, IllegalParameter)


@pytest.mark.parametrize("position", [0, 15, 31])
def test_wrong_binder(position: int) -> None:
    c, _ = resuming_client()
    raw = bytearray(c._handshake.client_hello_raw)  # type: ignore[union-attr]
    raw[len(raw) - 32 + position] ^= 0x80
    server = new_server()
    with pytest.raises(DecryptError) as info:
        server.receive_data(hs_record(bytes(raw)))
    assert info.value.reason == "bad_binder"
    assert server.data_to_send() == plaintext_alert(DecryptError.description)


def test_binder_of_another_client_hello() -> None:
    """The binder covers the whole ClientHello: change the random, the binder fails."""
    _, ch = resuming_client()
    changed = dataclasses.replace(ch, random=bytes(32))
    expect_alert(new_server(), hs_record(changed.serialize()), DecryptError)


def test_psk_without_psk_key_exchange_modes() -> None:
    _, ch = resuming_client()
    exts = {k: v for k, v in ch.extensions.items() if k != ET.PSK_KEY_EXCHANGE_MODES}
    data = hs_record(dataclasses.replace(ch, extensions=exts).serialize())
    expect_alert(new_server(), data, MissingExtension)


@pytest.mark.parametrize("value", [
    b"", b"\x00", b"\x00\x00\x00\x00",                       # short, empty lists
    b"\x00\x07\x00\x01x\x00\x00\x00\x00\x00\x00",             # no binders
    b"\x00\x07\x00\x01x\x00\x00\x00\x00\x00\x21\x1f" + bytes(32),  # binder of 31 bytes
    b"\x00\x07\x00\x00x\x00\x00\x00\x00",                    # an empty identity
])
def test_malformed_offered_psks(value: bytes) -> None:
    _, ch = resuming_client()
    expect_alert(new_server(), with_psk_extension(ch, value), DecodeError)


def test_psk_key_exchange_modes_empty() -> None:
    _, ch = resuming_client()
    exts = dict(ch.extensions)
    exts[ET.PSK_KEY_EXCHANGE_MODES] = b"\x00"
    exts[ET.PRE_SHARED_KEY] = exts.pop(ET.PRE_SHARED_KEY)
    expect_alert(new_server(), hs_record(dataclasses.replace(ch, extensions=exts).serialize()),
                 DecodeError)


def test_only_unknown_modes_means_a_full_handshake() -> None:
    """No mode in common: the PSKs are ignored (RFC 8446 4.2.9), not an error."""
    _, ch = resuming_client()
    exts = dict(ch.extensions)
    exts[ET.PSK_KEY_EXCHANGE_MODES] = ext.encode_psk_key_exchange_modes([7])
    exts[ET.PRE_SHARED_KEY] = exts.pop(ET.PRE_SHARED_KEY)
    server = new_server()
    server.receive_data(hs_record(dataclasses.replace(ch, extensions=exts).serialize()))
    assert not server.nconfig.session_resumed and server.nconfig.signature_algorithm


def test_psk_ke_only_client_and_dhe_only_server() -> None:
    _, ch = resuming_client()
    exts = dict(ch.extensions)
    exts[ET.PSK_KEY_EXCHANGE_MODES] = ext.encode_psk_key_exchange_modes(
        [PskKeyExchangeMode.psk_ke])
    exts[ET.PRE_SHARED_KEY] = exts.pop(ET.PRE_SHARED_KEY)
    server = new_server()
    server.receive_data(hs_record(dataclasses.replace(ch, extensions=exts).serialize()))
    assert not server.nconfig.session_resumed


def test_fuzzed_pre_shared_key_never_escapes_as_a_python_error() -> None:
    _, ch = resuming_client()
    original = ch.extensions[ET.PRE_SHARED_KEY]
    rng = random.Random(8446)
    for _ in range(300):
        value = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(value))
            value[position] = rng.randrange(256)
        if rng.random() < 0.3:
            value = value[: rng.randrange(len(value))]
        server = new_server()
        try:
            server.receive_data(with_psk_extension(ch, bytes(value)))
        except TLSFatalAlert as exc:
            assert exc.description in (IllegalParameter.description, DecodeError.description,
                                       DecryptError.description)
        else:  # resumed only if the ticket and its binder survived (the age is not checked)
            if server.nconfig.session_resumed:
                identities, binders = psk.decode_offered_psks(bytes(value))
                assert identities[0][0] == SESSION.ticket
                assert binders[0] == psk.decode_offered_psks(original)[1][0]


# -- the client reading the server's choice ---------------------------------------------------

def server_answer() -> tuple[TLSConnection, ServerHello, bytes]:
    """A resuming client, and the real server's ServerHello (message and its record)."""
    c, _ = resuming_client()
    server = new_server()
    server.receive_data(hs_record(c._handshake.client_hello_raw))  # type: ignore[union-attr]
    sh_record = split_records(server.data_to_send())[0]
    return c, parse_server_hello(sh_record[9:]), sh_record


def sh_with(sh: ServerHello, **changes: object) -> bytes:
    return hs_record(dataclasses.replace(sh, **changes).serialize())  # type: ignore[arg-type]


@pytest.mark.parametrize("index", [1, 2, 0xFFFF])
def test_selected_identity_out_of_range(index: int) -> None:
    c, sh, _ = server_answer()
    exts = {**sh.extensions, ET.PRE_SHARED_KEY: index.to_bytes(2, "big")}
    expect_alert(c, sh_with(sh, extensions=exts), IllegalParameter)


def test_selected_identity_malformed() -> None:
    c, sh, _ = server_answer()
    exts = {**sh.extensions, ET.PRE_SHARED_KEY: b"\x00"}
    expect_alert(c, sh_with(sh, extensions=exts), DecodeError)


def test_server_selects_a_suite_of_another_hash() -> None:
    c, sh, _ = server_answer()
    expect_alert(c, sh_with(sh, cipher_suite=CipherSuites.TLS_AES_256_GCM_SHA384),
                 IllegalParameter)


def test_psk_server_hello_without_key_share_when_psk_ke_was_not_offered() -> None:
    c, sh, _ = server_answer()
    exts = {k: v for k, v in sh.extensions.items() if k != ET.KEY_SHARE}
    expect_alert(c, sh_with(sh, extensions=exts), IllegalParameter)


def test_certificate_in_a_psk_handshake_is_unexpected() -> None:
    c, _ = resuming_client()
    server = new_server()
    server.receive_data(hs_record(c._handshake.client_hello_raw))  # type: ignore[union-attr]
    flight = server.data_to_send()
    sh, ccs, *protected = split_records(flight)
    schedule = server._handshake.schedule
    assert schedule is not None
    opener = Sealer(schedule.suite, schedule.server_handshake_traffic_secret)
    ee = opener.open(protected[0])[1]
    ee_only = ee[: 4 + int.from_bytes(ee[1:4], "big")]
    certificate = bytes((11, 0, 0, 4, 0, 0, 0, 0))  # an empty Certificate
    sealer = Sealer(schedule.suite, schedule.server_handshake_traffic_secret)
    with pytest.raises(UnexpectedMessage):
        c.receive_data(sh + ccs + sealer.handshake(ee_only, certificate))


def test_empty_ticket_in_new_session_ticket() -> None:
    c = TLSConnection(CLIENT_CONFIG, "localhost")
    s = TLSConnection(SERVER_CONFIG.copy(num_tickets=0))
    c.initiate_connection()
    s.initiate_connection()
    handshake(c, s)
    body = NewSessionTicket(3600, 1, b"", b"x", {}).serialize()
    body = body[:-5] + b"\x00\x00" + body[-2:]  # ticket<1..2^16-1> of length 0
    body = body[:3] + bytes((len(body) - 4,)) + body[4:]
    s._records.write(22, body)
    with pytest.raises(DecodeError):
        c.receive_data(s.data_to_send())


def test_zero_lifetime_ticket_is_discarded() -> None:
    c = TLSConnection(CLIENT_CONFIG, "localhost")
    s = TLSConnection(SERVER_CONFIG.copy(num_tickets=0))
    c.initiate_connection()
    s.initiate_connection()
    handshake(c, s)
    s._records.write(22, NewSessionTicket(0, 1, b"", b"ticket", {}).serialize())
    c.receive_data(s.data_to_send())
    assert c.session_tickets == [] and c.is_connected()


def test_session_of_a_sha384_suite_not_offered_to_sha256_only_client() -> None:
    session384 = dataclasses.replace(SESSION, cipher_suite=CipherSuites.TLS_AES_256_GCM_SHA384)
    conf = client_config(CA, cipher_suites=[CipherSuites.TLS_AES_128_GCM_SHA256])
    c = TLSConnection(conf, "localhost", session=session384)
    c.initiate_connection()
    ch = parse_client_hello(c.data_to_send()[9:])
    assert ET.PRE_SHARED_KEY not in ch.extensions
