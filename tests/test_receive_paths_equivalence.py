"""Issue 11, fourth review: the connection's one-record fast paths decide as the
general path does.

``receive_data`` given exactly one protected record opens it inline (the fast
path); the same bytes given in other cuttings go through the record layer's
``read_records``. After a real handshake, hypothesis builds a stream of records
sealed under the peer's real application key (any inner content type, content
around the small-header table's and the record_size_limit's bounds, padding),
sometimes mutated (a byte changed, a record cut short) or mixed with arbitrary
bytes, and feeds it to three connections of identical history: a record per
call (fast path), a byte per call, and all at once. The outcome must be the
same (the same exception class and reason, the same plaintext released, the
same state and queued output), only TLSError subclasses may escape, and after a
fatal alert the alert is queued and the connection stays failed. Headers at the
length bounds and other legacy_record_versions are checked both ways too.

The send side: ``send_data`` of any size under a peer's record_size_limit
(fast path for one record's worth, general otherwise) with the key's usage
limit close: every record fits the peer's limit, a KeyUpdate comes before the
limit, and the peer reads everything in order (a reused sequence number would
fail to decrypt).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from helpers import client_config, connected_pair, flow, server_config
from internals import internals
from siotls import TLSConnection
from siotls.core.errors import (
    BadRecordMac,
    RecordOverflow,
    TLSConnectionFailed,
    TLSError,
    TLSFatalAlert,
    TLSPeerAlert,
)
from siotls.iana import ContentType, HandshakeType
from wire import Sealer, message, split_records

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

#: Both sides accept records of at most 64 bytes of inner plaintext (RFC 8449).
LIMITED = (client_config(record_size_limit=64), server_config(record_size_limit=64))
DEFAULT = (client_config(), server_config())

#: Content lengths around the bounds: the small-header table (a record under 256
#: bytes: content + type + tag < 256 - 17...), record_size_limit 64, 2^14.
LENGTHS = st.one_of(st.integers(0, 40),
                    st.sampled_from([62, 63, 64, 65, 237, 238, 239, 240, 255, 300,
                                     4079, 4080, 4100, 16383, 16384, 16385]))

CONTENT = st.one_of(
    st.tuples(st.just(23), LENGTHS.map(lambda n: b"a" * n)),
    st.tuples(st.just(21), st.sampled_from([b"\x01\x00", b"\x02\x14", b"\x01\x5a", b"\x01",
                                            b"\x01\x00\x00"])),
    st.tuples(st.just(22), st.sampled_from([
        message(HandshakeType.KEY_UPDATE, b"\x00"), message(HandshakeType.KEY_UPDATE, b"\x01"),
        message(HandshakeType.KEY_UPDATE, b"\x02"), message(HandshakeType.FINISHED, bytes(32)),
        message(HandshakeType.KEY_UPDATE, b"\x00")[:3]])),
    st.tuples(st.sampled_from([0, 20, 24, 255]), st.binary(max_size=8)),
)

MUTATION = st.one_of(
    st.none(), st.none(), st.none(),
    st.tuples(st.just("set"), st.integers(0, 400), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 400)),
)

ITEM = st.one_of(
    st.tuples(st.just("sealed"), CONTENT, st.sampled_from([0, 0, 0, 1, 5, 300]), MUTATION),
    st.tuples(st.just("sealed"), CONTENT, st.just(0), st.none()),
    st.tuples(st.just("raw"), st.binary(max_size=30)),
)


def _pair(limited: bool) -> tuple[TLSConnection, TLSConnection]:
    client, server = connected_pair(*(LIMITED if limited else DEFAULT))
    assert client.is_connected() and server.is_connected()
    return client, server


def _receiver_and_sealer(limited: bool, to_client: bool) -> tuple[TLSConnection, Sealer]:
    client, server = _pair(limited)
    schedule = internals(server).schedule
    receiver, secret = ((client, schedule.server_application_traffic_secret) if to_client
                        else (server, schedule.client_application_traffic_secret))
    sealer = Sealer(schedule.suite, secret)
    sealer.seq = internals(receiver).read_direction.seq
    return receiver, sealer


def _build(items: list[tuple], sealer: Sealer) -> list[bytes]:  # type: ignore[type-arg]
    out = []
    for item in items:
        if item[0] == "raw":
            out.append(item[1])
            continue
        _, (content_type, content), padding, mutation = item
        record = bytearray(sealer.seal(content + bytes((content_type,)) + bytes(padding)))
        if mutation is not None and mutation[0] == "set":
            pos = mutation[1] % len(record)  # a change, whatever this pair's key made
            record[pos] = mutation[2] if record[pos] != mutation[2] else mutation[2] ^ 1
        elif mutation is not None:
            del record[mutation[1] % len(record):]
        out.append(bytes(record))
    return out


def _feed(receiver: TLSConnection, chunks: list[bytes]) -> tuple[object, ...]:
    received = bytearray()
    error: TLSError | None = None
    for chunk in chunks:
        try:
            receiver.receive_data(chunk)
        except TLSError as exc:  # anything else escapes and fails the test
            error = exc
            break
        finally:
            received += receiver.data_to_read()
    queued = receiver.data_to_send()
    if isinstance(error, TLSFatalAlert):
        assert queued, "a fatal alert must be queued for the peer"
        assert split_records(queued)[-1][:3] == bytes((ContentType.APPLICATION_DATA, 3, 3))
    if isinstance(error, TLSFatalAlert | TLSPeerAlert):  # failed: and stays so
        try:
            receiver.receive_data(b"\x17\x03\x03\x00\x01\x00")
        except TLSConnectionFailed:
            pass
        else:
            raise AssertionError("a failed connection took more data")
        assert not receiver.can_receive
    return (type(error), getattr(error, "reason", None), bytes(received), len(queued),
            receiver.can_receive, receiver.close_notify_received, receiver.is_connected(),
            len(receiver.unused_data()))  # sealed under each pair's own key


@settings(SETTINGS, max_examples=150)
@given(st.lists(ITEM, min_size=1, max_size=6), st.booleans(), st.booleans())
@example(items=[("sealed", (23, b"a" * 63), 0, None), ("sealed", (23, b"a" * 64), 0, None)],
         to_client=True, limited=True)
@example(items=[("sealed", (23, b"a" * 16384), 0, None), ("sealed", (23, b"a" * 16385), 0, None)],
         to_client=False, limited=False)
@example(items=[("sealed", (23, b"a" * 60), 4, None), ("sealed", (23, b"a" * 60), 5, None)],
         to_client=False, limited=True)
@example(items=[("sealed", (22, message(HandshakeType.KEY_UPDATE, b"\x01")), 0, None),
          ("sealed", (23, b"after"), 0, None)], to_client=True, limited=False)
def test_receive_whole_bytewise_and_at_once_agree(items: list[tuple],  # type: ignore[type-arg]
                                                  to_client: bool, limited: bool) -> None:
    outcomes = []
    for cut in ("records", "bytes", "once"):
        receiver, sealer = _receiver_and_sealer(limited, to_client)
        records = _build(items, sealer)
        stream = b"".join(records)
        chunks = (records if cut == "records"
                  else [stream[i : i + 1] for i in range(len(stream))] if cut == "bytes"
                  else [stream])
        outcomes.append(_feed(receiver, chunks))
    assert outcomes[0] == outcomes[1] == outcomes[2]


@SETTINGS
@given(st.lists(st.integers(0, 300), min_size=1, max_size=12), st.integers(3, 8),
       st.booleans(), st.sampled_from([bytes, bytearray, memoryview]))
def test_send_keeps_limits_and_order(sizes: list[int], limit: int, to_client: bool,
                                     kind: type) -> None:
    client, server = _pair(limited=True)
    sender, receiver = (server, client) if to_client else (client, server)
    flow(sender, receiver)  # the tickets, if any
    # A long-lived connection: the key's usage limit a few records away, on both sides.
    direction = internals(sender).write_direction
    assert direction.suite is not None
    usage_limit = direction.suite.usage_limit
    direction.seq = internals(receiver).read_direction.seq = usage_limit - limit
    sent = bytearray()
    for i, size in enumerate(sizes):
        data = bytes((i % 256,)) * size
        sender.send_data(kind(data))
        sent += data
        wire = sender.data_to_send()
        for record in split_records(wire):
            assert len(record) - 5 <= 64 + 16  # the peer's record_size_limit, plus the tag
        receiver.receive_data(wire)
        assert internals(sender).write_direction.seq < usage_limit
        flow(receiver, sender)  # the peer's KeyUpdate answers
    assert receiver.data_to_read() == bytes(sent)
    if sum(map(bool, sizes)) > limit:
        assert internals(sender).write_direction.seq < usage_limit - limit  # a KeyUpdate


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 255, 256, 16640, 16641, 65535])
def test_header_bounds_whole_and_bytewise(length: int) -> None:
    """A protected record's header with any length, the body not a valid ciphertext:
    bad_record_mac up to 2^14 + 256 bytes, record_overflow past it, both ways."""
    record = bytes((23, 3, 3)) + length.to_bytes(2, "big") + bytes(length)
    outcomes = []
    for chunks in ([record], [record[i : i + 1] for i in range(len(record))]):
        receiver, _ = _receiver_and_sealer(limited=False, to_client=True)
        outcomes.append(_feed(receiver, chunks))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] is (BadRecordMac if length <= 16640 else RecordOverflow)


@pytest.mark.parametrize("version", [b"\x03\x03", b"\x03\x01", b"\x00\x00"])
def test_legacy_record_version_ignored_both_ways(version: bytes) -> None:
    """RFC 8446 5.1: legacy_record_version is ignored (the fast path declines a header
    other than 0x0303; the general path opens it the same)."""
    outcomes = []
    for bytewise in (False, True):
        receiver, sealer = _receiver_and_sealer(limited=False, to_client=False)
        inner = b"hello\x17"
        header = b"\x17" + version + (len(inner) + 16).to_bytes(2, "big")
        record = header + sealer.aead.encrypt(sealer._nonce(), inner, header)
        chunks = [record[i : i + 1] for i in range(len(record))] if bytewise else [record]
        outcomes.append(_feed(receiver, chunks))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][:3] == (type(None), None, b"hello")
