"""The one-record paths of the record layer (issue 11, the echo pass) against the
general ones, byte for byte: what ``write_application_record`` seals (small
records take their header from a table, bytes are concatenated, other buffers
joined) is what ``write`` seals; ``data_to_send`` returns one record or several,
whole or in parts."""

from __future__ import annotations

import pytest

from helpers import connected
from siotls.core import crypto
from siotls.core.record import RecordLayer
from siotls.iana import CipherSuites, ContentType

SECRET = bytes(range(32))
SUITE = crypto.CIPHER_SUITES[CipherSuites.TLS_AES_128_GCM_SHA256]


def layer() -> RecordLayer:
    records = RecordLayer()
    records.set_write_key(SUITE, SECRET)
    records.set_read_key(SUITE, SECRET)
    return records


@pytest.mark.parametrize("size", [1, 2, 237, 238, 239, 240, 1000, 2**14])
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_the_fast_write_seals_what_the_general_write_seals(size: int, kind: type) -> None:
    fast, general = layer(), layer()
    for seq in range(3):  # and the sequence numbers advance alike
        data = bytes((seq + n) % 251 for n in range(size))
        assert fast.write_application_record(kind(data))
        general.write(ContentType.APPLICATION_DATA, data)
        record = fast.flush()
        assert record == general.flush()
        assert record[:5] == bytes((23, 3, 3)) + (size + 17).to_bytes(2, "big")
        opened = fast.open_application_record(record)
        assert opened == data


def test_too_large_for_one_record_is_declined() -> None:
    records = layer()
    assert not records.write_application_record(bytes(2**14 + 1))
    assert not records.write_application_record(b"")
    assert records.flush() == b""


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
    sender = layer()
    sender.write(ContentType.APPLICATION_DATA, bytes(size))
    record = sender.flush()
    for bad in (bytes((22, 3, 3)) + record[3:5], bytes((23, 3, 1)) + record[3:5],
                record[:3] + (len(record) - 4).to_bytes(2, "big"),
                record[:3] + (len(record) - 6).to_bytes(2, "big")):
        receiver = layer()
        assert receiver.open_application_record(bad + record[5:]) is None  # declined
        assert receiver._read.seq == 0  # nothing consumed
    for kind in (bytes, bytearray, memoryview):
        assert layer().open_application_record(kind(record)) == bytes(size)
    assert layer().open_application_record(record[:4]) is None
    assert layer().open_application_record(record + b"\x17") is None

