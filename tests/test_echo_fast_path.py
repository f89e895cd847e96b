"""The connection's one-record paths (issue 11, the echo passes) against the
record layer's general ones, byte for byte: what ``send_data`` seals on its fast
path (small records take their header from a table, bytes are concatenated,
other buffers joined) is what ``RecordLayer.write`` seals, and ``receive_data``
opens it from any buffer type; what is not exactly one record, or not the
header expected, goes to the general path; ``data_to_send`` returns one record
or several, whole or in parts."""

from __future__ import annotations

import pytest

from helpers import connected
from internals import internals
from siotls import TLSConnection
from siotls.core.errors import TLSFatalAlert
from siotls.core.record import RecordLayer
from siotls.iana import ContentType

GENERAL_WRITE = RecordLayer.write


def fast_pair(monkeypatch: pytest.MonkeyPatch) -> tuple[TLSConnection, TLSConnection]:
    """A connected pair whose record layers cannot take the general paths: a record
    that goes through ``RecordLayer.write`` or ``read_records`` fails the test."""
    client, server = connected({}, {})

    def general(*args: object) -> None:
        pytest.fail("the general path was taken")

    monkeypatch.setattr(RecordLayer, "write", general)
    monkeypatch.setattr(RecordLayer, "read_records", general)
    return client, server


@pytest.mark.parametrize("size", [1, 2, 237, 238, 239, 240, 1000, 2**14])
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_the_fast_send_seals_what_the_general_write_seals(
        size: int, kind: type, monkeypatch: pytest.MonkeyPatch) -> None:
    client, server = fast_pair(monkeypatch)
    state = internals(client).write_direction
    for seq in range(3):  # and the sequence numbers advance alike
        data = bytes((seq + n) % 251 for n in range(size))
        start = state.seq
        client.send_data(kind(data))
        record = client.data_to_send()
        assert record[:5] == bytes((23, 3, 3)) + (size + 17).to_bytes(2, "big")
        assert state.seq == start + 1
        server.receive_data(kind(record))  # the fast open, of every buffer type
        assert server.data_to_read() == data
        state.seq = start  # the general write again, from the same sequence number
        GENERAL_WRITE(internals(client).records, ContentType.APPLICATION_DATA, data)
        assert client.data_to_send() == record


def test_too_large_for_one_record_and_empty_take_the_general_path() -> None:
    client, server = connected({}, {})
    client.send_data(b"")
    assert client.data_to_send() == b""
    client.send_data(bytes(2**14 + 1))
    both = client.data_to_send()
    assert len(both) == 2 * (5 + 17) + 2**14 + 1
    server.receive_data(both)
    assert server.data_to_read() == bytes(2**14 + 1)


def test_data_to_send_one_record_and_several() -> None:
    client, server = connected({}, {})
    client.send_data(b"one")
    first = client.data_to_send()
    assert client.data_to_send() == b""
    client.send_data(b"two")
    client.send_data(b"three")
    both = client.data_to_send()
    assert len(both) == 2 * 22 + 3 + 5
    server.receive_data(first)
    server.receive_data(both)
    assert server.data_to_read() == b"onetwothree"
    client.send_data(b"four")
    part = client.data_to_send(3)
    assert len(part) == 3
    server.receive_data(part + client.data_to_send())
    assert server.data_to_read() == b"four"


@pytest.mark.parametrize("size", [1, 238, 239, 2**14])
def test_the_fast_open_takes_only_its_own_header(size: int) -> None:
    """A header the fast open does not expect is declined to the general path, which
    answers it: each of these records is bad, and fails the connection."""
    client, _ = connected({}, {})
    client.send_data(bytes(size))
    record = client.data_to_send()
    for bad in (bytes((22, 3, 3)) + record[3:5], bytes((23, 3, 1)) + record[3:5],
                bytes((23, 3, 3)) + bytes(2), record[:3] + (len(record) - 6).to_bytes(2, "big")):
        _, receiver = connected({}, {})
        with pytest.raises(TLSFatalAlert):
            receiver.receive_data(bad + record[5:])
        assert receiver.is_failed()


def test_the_fast_open_declines_what_is_not_one_whole_record() -> None:
    client, server = connected({}, {})
    client.send_data(b"ab")
    record = client.data_to_send()
    server.receive_data(record[:4])  # buffered: the general path
    assert server.data_to_read() == b""
    server.receive_data(record[4:] + record[:1])  # a record and the next one's first byte
    assert server.data_to_read() == b"ab"
    assert internals(server).records.buffered == 1


def test_data_to_send_packs_handshake_messages_queued_behind_the_flag() -> None:
    """A NewSessionTicket queued by the server's first send turns the send flag off
    until it is packed: data_to_send returns it with the data, in order."""
    client, server = connected({}, {"num_tickets": 1})
    server.send_data(b"first")
    flight = server.data_to_send()
    client.receive_data(flight)
    assert client.data_to_read() == b"first"
    assert len(client.session_tickets) == 1
    server.send_data(b"second")
    client.receive_data(server.data_to_send())
    assert client.data_to_read() == b"second"


def test_data_to_send_packs_a_request_queued_after_a_fast_record() -> None:
    """A CertificateRequest queued behind a fast-path record (a handshake message
    waits to be packed: the send flag is off) leaves in the same data_to_send."""
    from test_pha import connected as pha_connected

    client, server = pha_connected()
    server.send_data(b"tickets go first")
    client.receive_data(server.data_to_send())
    server.send_data(b"fast")
    server.request_client_certificate()
    client.receive_data(server.data_to_send())
    assert client.data_to_read() == b"tickets go firstfast"
    assert client.data_to_send()  # its answer: the request came in that flush
