"""The conformance gaps a TLS 1.3 test suite found in the siotls server.

* a ClientHello of legacy_version 0x0300 or less is protocol_version (RFC 8446 D.5);
* a handshake message over our bound (or a Finished of the wrong size) is decode_error;
* 0-RTT offered with a HelloRetryRequest: the first flight's early data is
  skipped, early data after the second ClientHello is bad_record_mac (4.2.10);
* the second ClientHello may change only what RFC 8446 4.1.2 allows.
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from helpers import client_config, server_config
from siotls import TLSConnection
from siotls.core import extensions as ext
from siotls.core.errors import (
    BadRecordMac,
    DecodeError,
    IllegalParameter,
    ProtocolVersion,
    TLSFatalAlert,
)
from siotls.core.messages import ClientHello, parse_client_hello
from siotls.iana import AlertDescription, ContentType, NamedGroup
from siotls.iana import ExtensionType as ET
from siotls.iana import HandshakeType as HT
from wire import Sealer, hs_record, message, plaintext_alert, record

SERVER_CONFIG = server_config()
#: A server that wants secp384r1, which our default client does not key-share.
HRR_SERVER_CONFIG = SERVER_CONFIG.copy(key_exchanges=[NamedGroup.secp384r1])


def new_client() -> TLSConnection:
    client = TLSConnection(client_config(), server_hostname="localhost")
    client.initiate_connection()
    return client


def new_server(config: object = SERVER_CONFIG) -> TLSConnection:
    server = TLSConnection(config)  # type: ignore[arg-type]
    server.initiate_connection()
    return server


def client_hello_message(data: bytes) -> ClientHello:
    """The ClientHello in the first handshake record of ``data`` (after a dummy CCS)."""
    if data[0] == ContentType.CHANGE_CIPHER_SPEC:
        data = data[6:]
    assert data[0] == ContentType.HANDSHAKE
    return parse_client_hello(data[9 : 5 + int.from_bytes(data[3:5], "big")])


def expect(conn: TLSConnection, data: bytes, error: type[TLSFatalAlert]) -> None:
    with pytest.raises(TLSFatalAlert) as info:
        conn.receive_data(data)
    assert type(info.value) is error, repr(info.value)
    assert conn.is_failed()


# -- legacy_version ---------------------------------------------------------------------

@pytest.mark.parametrize("version", [0x0000, 0x0102, 0x0200, 0x0300])
def test_ssl3_or_older_legacy_version_is_protocol_version(version: int) -> None:
    ch = client_hello_message(new_client().data_to_send())
    assert ET.SUPPORTED_VERSIONS in ch.extensions  # TLS 1.3 is offered all the same
    server = new_server()
    expect(server, hs_record(dataclasses.replace(ch, legacy_version=version).serialize()),
           ProtocolVersion)
    assert server.data_to_send() == plaintext_alert(AlertDescription.PROTOCOL_VERSION)


def test_tls10_legacy_version_with_supported_versions_is_accepted() -> None:
    ch = client_hello_message(new_client().data_to_send())
    server = new_server()
    server.receive_data(hs_record(dataclasses.replace(ch, legacy_version=0x0301).serialize()))
    assert server.data_to_send()[0] == ContentType.HANDSHAKE


# -- over-long handshake messages ----------------------------------------------------------

def _server_after_flight() -> tuple[TLSConnection, Sealer]:
    client = new_client()
    server = new_server()
    server.receive_data(client.data_to_send())
    server.data_to_send()
    schedule = server._handshake.key_schedule
    return server, Sealer(schedule.suite, schedule.client_handshake_traffic_secret)


@pytest.mark.parametrize("length", [33, 31, 2**16 + 1, 2**24 - 1])
def test_finished_of_the_wrong_length_is_decode_error(length: int) -> None:
    server, sealer = _server_after_flight()
    # The header says ``length``; the body is cut short where the bound is exceeded.
    body = bytes(min(length, 64))
    msg = bytes((HT.FINISHED,)) + length.to_bytes(3, "big") + body
    if length == len(body):
        msg = message(HT.FINISHED, body)
    expect(server, sealer.handshake(msg), DecodeError)


@pytest.mark.parametrize("msg_type", [HT.CLIENT_HELLO, HT.CERTIFICATE, HT.KEY_UPDATE])
def test_handshake_header_over_the_bound_is_decode_error(msg_type: int) -> None:
    server = new_server()
    expect(server, hs_record(bytes((msg_type, 0xFF, 0xFF, 0xFF))), DecodeError)
    assert server.data_to_send() == plaintext_alert(AlertDescription.DECODE_ERROR)


# -- 0-RTT with a HelloRetryRequest --------------------------------------------------------

def _hello_with_early_data(data: bytes) -> bytes:
    ch = client_hello_message(data)
    extensions = {**ch.extensions, ET.EARLY_DATA: b""}
    return hs_record(dataclasses.replace(ch, extensions=extensions).serialize())


def _early_data_then_hello_retry() -> tuple[TLSConnection, TLSConnection]:
    client = new_client()
    server = new_server(HRR_SERVER_CONFIG)
    server.receive_data(_hello_with_early_data(client.data_to_send()))
    # The first flight's 0-RTT records (keys we never derive) are skipped.
    for _ in range(3):
        server.receive_data(record(ContentType.APPLICATION_DATA, os.urandom(200)))
    hrr = server.data_to_send()
    assert server.nconfig.hello_retry_request and not server.is_failed()
    client.receive_data(hrr)
    return client, server


def test_early_data_before_the_second_client_hello_is_skipped() -> None:
    client, server = _early_data_then_hello_retry()
    server.receive_data(client.data_to_send())  # ClientHello2, without early_data
    assert server.nconfig.key_exchange == NamedGroup.secp384r1
    assert not server.is_failed()


def test_early_data_after_the_second_client_hello_is_bad_record_mac() -> None:
    client, server = _early_data_then_hello_retry()
    server.receive_data(client.data_to_send())
    server.data_to_send()
    # A record under a key the server does not have (the client's 0-RTT key).
    expect(server, record(ContentType.APPLICATION_DATA, os.urandom(100)), BadRecordMac)


def test_unprotected_application_data_after_the_second_client_hello() -> None:
    client, server = _early_data_then_hello_retry()
    server.receive_data(client.data_to_send())
    server.data_to_send()
    expect(server, record(ContentType.APPLICATION_DATA, b""), BadRecordMac)


def test_early_data_in_the_second_client_hello_is_illegal_parameter() -> None:
    client, server = _early_data_then_hello_retry()
    expect(server, _hello_with_early_data(client.data_to_send()), IllegalParameter)


def test_too_much_early_data_before_the_second_client_hello() -> None:
    client = new_client()
    server = new_server(HRR_SERVER_CONFIG)
    server.receive_data(_hello_with_early_data(client.data_to_send()))
    with pytest.raises(TLSFatalAlert):
        for _ in range(10):
            server.receive_data(record(ContentType.APPLICATION_DATA, bytes(2**14)))


# -- what the second ClientHello may change (RFC 8446 4.1.2) -------------------------------

def _second_hello() -> tuple[TLSConnection, ClientHello]:
    client = new_client()
    server = new_server(HRR_SERVER_CONFIG)
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    return server, client_hello_message(client.data_to_send())


CHANGES = {
    "supported_groups": lambda e: {**e, ET.SUPPORTED_GROUPS: ext.encode_u16_list([0x17, 0x18])},
    "alpn_added": lambda e: {**e, ET.APPLICATION_LAYER_PROTOCOL_NEGOTIATION:
                             ext.encode_alpn([b"h2"])},
    "server_name": lambda e: {**e, ET.SERVER_NAME: ext.encode_server_name("example.com")},
    "signature_algorithms": lambda e: {**e, ET.SIGNATURE_ALGORITHMS:
                                       ext.encode_u16_list([0x0403])},
    "extension_removed": lambda e: {k: v for k, v in e.items()
                                    if k != ET.SIGNATURE_ALGORITHMS_CERT},
    "unknown_added": lambda e: {**e, 0x7A7A: b""},
}


@pytest.mark.parametrize("change", CHANGES)
def test_second_client_hello_changing_an_extension(change: str) -> None:
    server, ch = _second_hello()
    changed = dataclasses.replace(ch, extensions=CHANGES[change](ch.extensions))
    expect(server, hs_record(changed.serialize()), IllegalParameter)


@pytest.mark.parametrize("field", ["legacy_version", "legacy_compression_methods", "random"])
def test_second_client_hello_changing_a_field(field: str) -> None:
    server, ch = _second_hello()
    value = {"legacy_version": 0x0301, "legacy_compression_methods": b"\x01\x00",
             "random": os.urandom(32)}[field]
    expect(server, hs_record(dataclasses.replace(ch, **{field: value}).serialize()),
           IllegalParameter)


def test_second_client_hello_may_add_padding() -> None:
    server, ch = _second_hello()
    padded = dataclasses.replace(ch, extensions={**ch.extensions, ET.PADDING: bytes(100)})
    server.receive_data(hs_record(padded.serialize()))
    assert not server.is_failed()
    assert server.nconfig.key_exchange == NamedGroup.secp384r1
