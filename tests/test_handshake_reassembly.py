"""Handshake messages cut from the records themselves (connection._receive_handshake):
several in one record, one over several records, records cut anywhere; and every
check of the path that buffers still made on the path that does not."""

from __future__ import annotations

import pytest

from helpers import connected, flow, new_server
from siotls.core.errors import DecodeError, UnexpectedMessage
from test_bad_input import exchange, expect_alert
from wire import hs_record


@pytest.mark.parametrize("cut", [1, 3, 4, 5, 37])
def test_server_flight_cut_into_records_anywhere(cut: int) -> None:
    """The ServerHello in records of ``cut`` bytes: the partial message waits,
    the last record completes it, the rest of the handshake goes on."""
    ex = exchange()
    sh = ex.server_hello
    records = b"".join(hs_record(sh[i : i + cut]) for i in range(0, len(sh), cut))
    ex.client.receive_data(records + ex.ccs + ex.server_sealer().handshake(*ex.messages))
    assert ex.client.is_post_handshake()
    assert ex.client._handshake_buffer is b""  # noqa: F632 (the shared empty buffer)


def test_several_messages_in_one_protected_record_and_one_over_two() -> None:
    ex = exchange()
    messages = b"".join(ex.messages)
    half = len(messages) // 2 + 3  # somewhere inside a message
    sealer = ex.server_sealer()
    protected = sealer.handshake(messages[:half]) + sealer.handshake(messages[half:])
    ex.client.receive_data(ex.sh_record + ex.ccs + protected)
    assert ex.client.is_post_handshake()


@pytest.mark.parametrize("extra", [b"\x08", b"\x08\x00\x00", b"\x08\x00\x00\x02\x00\x00"])
def test_bytes_after_the_server_hello_in_its_record(extra: bytes) -> None:
    """RFC 8446 5.1: a message (or its first bytes) after a key change, in the same
    record, is unexpected_message, whole or partial."""
    ex = exchange()
    expect_alert(ex.client, hs_record(ex.server_hello + extra), UnexpectedMessage,
                 peer=ex.server)


def test_bytes_after_the_server_hello_spread_over_records() -> None:
    """The ServerHello's end and the next message's start in one record."""
    ex = exchange()
    sh = ex.server_hello
    data = hs_record(sh[:10]) + hs_record(sh[10:] + b"\x08\x00")
    expect_alert(ex.client, data, UnexpectedMessage, peer=ex.server)


@pytest.mark.parametrize("first", [1, 4])
def test_a_too_long_message_is_refused_from_its_header(first: int) -> None:
    """The length is checked as soon as the 4-byte header is in, buffered or not."""
    server = new_server()
    header = b"\x01\x02\x00\x01"  # a ClientHello of 2^17 + 1 bytes
    data = hs_record(header[:first]) + hs_record(header[first:]) if first < 4 \
        else hs_record(header)
    with pytest.raises(DecodeError) as info:
        server.receive_data(data)
    assert info.value.reason == "too_long"


def test_post_handshake_messages_each_after_a_key_change() -> None:
    client, server = connected()
    for _ in range(3):
        server.update_keys()
    flow(server, client)
    client.send_data(b"after")
    flow(client, server)
    assert server.data_to_read() == b"after"
