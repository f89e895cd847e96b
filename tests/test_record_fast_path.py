"""The per-record fast paths of TLSConnection and RecordLayer (issue 11).

``receive_data`` with exactly one protected record, and ``send_data`` with data
that fits one record, skip the general code behind two flags
(``TLSConnection._update_fast_paths``). These tests check that the flags are
false whenever a state they sum up says so (each transition that can falsify
them), and that a record delivered whole (fast path) and the same bytes
delivered one byte at a time (always the general path) end the same way: same
data, same alert, same reason.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from helpers import connected, connection_pair, handshake
from internals import internals
from siotls import TLSConnection
from siotls.core.errors import (
    BadRecordMac,
    RaggedEOF,
    RecordOverflow,
    TLSConnectionFailed,
    TLSFatalAlert,
    TLSUsageError,
    UnexpectedMessage,
)
from siotls.core.lifecycle import Receiving, Sending
from siotls.core.state import State
from siotls.iana import AlertDescription, AlertLevel, ContentType, HandshakeType
from test_early_data import server as early_server
from test_early_data import session as early_session
from test_early_data import zero_rtt
from wire import Sealer, message, split_records


def assert_flags_sound(conn: TLSConnection) -> None:
    """A true flag only where its fast path does what the general path would."""
    life, handshake_ = conn._life, conn._handshake
    usable = (life.initiated and life.failure is None and handshake_.state is State.CONNECTED
              and handshake_.pending is None)
    if conn._send_fast:
        assert usable and life.sending is Sending.OPEN and not handshake_.tickets_due
    if conn._receive_fast:
        assert usable and life.receiving is Receiving.OPEN and not conn._handshake_buffer


def peer_sealer(sender: TLSConnection) -> Sealer:
    """Seals records as ``sender`` would, with its current write key (a misbehaving peer)."""
    schedule = internals(sender).schedule
    secret = (schedule.client_application_traffic_secret if sender.config.side == "client"
              else schedule.server_application_traffic_secret)
    sealer = Sealer(schedule.suite, secret)
    sealer.seq = internals(sender).write_direction.seq
    return sealer


def outcome(receiver: TLSConnection, chunks: list[bytes]) -> tuple[object, ...]:
    """What receiving ``chunks`` did: the error (class, reason), data read, lifecycle."""
    error: tuple[object, ...] = ()
    try:
        for chunk in chunks:
            receiver.receive_data(chunk)
    except TLSFatalAlert as exc:
        error = (type(exc), exc.reason)
    except TLSUsageError as exc:
        error = (type(exc),)
    assert_flags_sound(receiver)
    return (error, receiver.data_to_read(), receiver.is_failed(), receiver.close_notify_received,
            receiver.data_to_send()[:2] if receiver.is_failed() else b"")


def whole_and_bytewise(make_record: Callable[[TLSConnection], bytes]) -> None:
    """The record ``make_record`` builds for a fresh pair: delivered whole to one
    server, one byte at a time to another; both must end the same way."""
    results = []
    for bytewise in (False, True):
        client, server = connected()
        server.send_data(b"tickets")  # the server's fast send path on from here
        handshake(client, server)
        client.data_to_read()
        record = make_record(client)
        chunks = [record[i : i + 1] for i in range(len(record))] if bytewise else [record]
        results.append(outcome(server, chunks))
    assert results[0] == results[1]


# -- the flags, transition by transition -------------------------------------------
def test_flags_are_on_once_connected_and_off_before() -> None:
    client, server = connection_pair()
    for conn in (client, server):
        assert not conn._send_fast and not conn._receive_fast
    handshake(client, server)
    assert client._send_fast and client._receive_fast
    assert server._receive_fast
    assert not server._send_fast  # its NewSessionTickets are due: the general path sends them
    server.send_data(b"a")
    assert server._send_fast
    records = split_records(server.data_to_send())
    assert len(records) == 3  # two tickets first, then the data
    for record in records:
        client.receive_data(record)
    assert client.data_to_read() == b"a"
    assert len(client.session_tickets) == 2
    for conn in (client, server):
        assert_flags_sound(conn)


def test_close_sending_end_turns_the_send_flag_off() -> None:
    client, server = connected()
    client.close_sending_end()
    assert not client._send_fast
    assert client._receive_fast  # half-close: reading goes on
    with pytest.raises(TLSUsageError):
        client.send_data(b"x")
    server.send_data(b"still readable")
    client.receive_data(server.data_to_send())
    assert client.data_to_read() == b"still readable"


def test_the_peer_close_notify_turns_the_receive_flag_off() -> None:
    client, server = connected()
    client.close_sending_end()
    close_notify = client.data_to_send()
    assert len(split_records(close_notify)) == 1  # one record: the fast path opens it
    server.receive_data(close_notify)
    assert server.close_notify_received
    assert not server._receive_fast
    server.receive_data(b"not TLS any more")
    assert server.unused_data() == b"not TLS any more"
    assert_flags_sound(server)


def test_close_receiving_end_turns_the_receive_flag_off() -> None:
    client, server = connected()
    client.send_data(b"x")
    record = client.data_to_send()
    with pytest.raises(RaggedEOF):  # no close_notify
        server.close_receiving_end()
    assert not server._receive_fast
    with pytest.raises(TLSUsageError):
        server.receive_data(record)


def test_a_failure_on_the_fast_path_turns_both_flags_off() -> None:
    client, server = connected()
    client.send_data(b"x")
    record = bytearray(client.data_to_send())
    record[-1] ^= 1  # the tag
    with pytest.raises(BadRecordMac):
        server.receive_data(bytes(record))
    assert not server._send_fast and not server._receive_fast
    assert len(split_records(server.data_to_send())) == 1  # the alert, protected
    with pytest.raises(TLSConnectionFailed):
        server.receive_data(record)
    with pytest.raises(TLSConnectionFailed):
        server.send_data(b"y")


def test_a_peer_alert_on_the_fast_path_turns_both_flags_off() -> None:
    client, server = connected()
    internals(client).write_record(ContentType.ALERT, bytes(
        (AlertLevel.FATAL, AlertDescription.HANDSHAKE_FAILURE)))
    with pytest.raises(Exception, match="handshake_failure"):
        server.receive_data(client.data_to_send())
    assert not server._send_fast and not server._receive_fast
    with pytest.raises(TLSConnectionFailed):
        server.send_data(b"y")


def test_a_half_read_handshake_message_turns_the_receive_flag_off() -> None:
    """RFC 8446 5.1: no record between the records of one handshake message."""
    client, server = connected()
    key_update = message(HandshakeType.KEY_UPDATE, b"\x00")
    internals(client).write_record(ContentType.HANDSHAKE, key_update[:2])
    server.receive_data(client.data_to_send())  # opened by the fast path, buffered
    assert not server._receive_fast
    client.send_data(b"x")
    with pytest.raises(UnexpectedMessage):
        server.receive_data(client.data_to_send())


def test_post_handshake_messages_on_the_fast_path() -> None:
    client, server = connected()
    for _ in range(3):
        client.update_keys(request_peer_update=True)
        client.send_data(b"after")
        for record in split_records(client.data_to_send()):
            server.receive_data(record)  # one record each: the fast path
        assert server.data_to_read() == b"after"
        for record in split_records(server.data_to_send()):
            client.receive_data(record)
        server.send_data(b"back")
        client.receive_data(server.data_to_send())
        assert client.data_to_read() == b"back"
        for conn in (client, server):
            assert conn._send_fast and conn._receive_fast


def test_a_key_update_due_leaves_the_send_fast_path() -> None:
    """RFC 8446 5.5: the fast path declines near the usage limit; the general path
    updates the key before the record that would reach it."""
    client, server = connected()
    write = internals(client).write_direction
    limit = internals(client).records.write_usage_limit
    write.seq = limit - 1
    internals(server).read_direction.seq = limit - 1
    old_iv = write.iv
    client.send_data(b"x")  # fits one record, yet the key is updated first
    assert write.iv != old_iv
    for record in split_records(client.data_to_send()):
        server.receive_data(record)
    assert server.data_to_read() == b"x"


def test_the_read_sequence_number_does_not_wrap_on_the_fast_path() -> None:
    client, server = connected()
    internals(server).read_direction.seq = 2**64 - 1
    client.send_data(b"x")
    with pytest.raises(UnexpectedMessage):
        server.receive_data(client.data_to_send())


def test_empty_records_are_bounded_on_the_fast_path() -> None:
    client, server = connected()
    sealer = peer_sealer(client)
    with pytest.raises(UnexpectedMessage):
        for _ in range(100):
            server.receive_data(sealer.records(ContentType.APPLICATION_DATA, b""))
    assert server.is_failed()


def test_the_fast_path_after_rejected_early_data() -> None:
    """A server that skipped rejected 0-RTT records (trial decryption) reads on the
    fast path only once nothing is left to skip."""
    c, s, _ = zero_rtt(early_session(), early_server(max_early_data=0))
    assert s.nconfig.early_data == "rejected"
    assert internals(s).records.skip_budget == 0
    assert_flags_sound(s)
    c.send_data(b"after")
    s.receive_data(c.data_to_send())
    assert s.data_to_read() == b"after"
    assert s._receive_fast


def test_partial_data_to_send_keeps_the_rest_first() -> None:
    client, server = connected()
    client.send_data(b"first")
    client.send_data(b"second")
    wire = client.data_to_send(7)
    assert len(wire) == 7
    client.send_data(b"third")
    wire += client.data_to_send(10)
    wire += client.data_to_send()
    server.receive_data(wire)
    assert server.data_to_read() == b"firstsecondthird"


# -- whole (fast) and byte by byte (general): the same end ------------------------------
def test_whole_and_bytewise_agree_on_valid_records() -> None:
    whole_and_bytewise(lambda c: peer_sealer(c).records(ContentType.APPLICATION_DATA, b"x"))
    whole_and_bytewise(lambda c: peer_sealer(c).seal(b"padded\x17" + bytes(30)))
    whole_and_bytewise(lambda c: peer_sealer(c).seal(b"\x17" + bytes(30)))  # empty, padded
    whole_and_bytewise(lambda c: peer_sealer(c).records(ContentType.APPLICATION_DATA,
                                                        bytes(2**14)))
    whole_and_bytewise(lambda c: peer_sealer(c).handshake(
        message(HandshakeType.KEY_UPDATE, b"\x00")))
    whole_and_bytewise(lambda c: peer_sealer(c).records(
        ContentType.ALERT, bytes((AlertLevel.WARNING, AlertDescription.CLOSE_NOTIFY))))


def legacy_version_record(conn: TLSConnection) -> bytes:
    """A record whose header says 0x0301 (the reader ignores the legacy version)."""
    sealer = peer_sealer(conn)
    inner = b"old version\x17"
    header = bytes((23, 3, 1)) + (len(inner) + 16).to_bytes(2, "big")
    return header + sealer.aead.encrypt(sealer._nonce(), inner, header)


def test_whole_and_bytewise_agree_on_unusual_headers() -> None:
    whole_and_bytewise(legacy_version_record)
    whole_and_bytewise(lambda c: bytes((0x99, 3, 3, 0, 1, 0)))  # unknown content type
    whole_and_bytewise(lambda c: bytes((23, 3, 3, 0x48, 0x01)) + bytes(0x4801))  # too long
    whole_and_bytewise(lambda c: bytes((22, 3, 3, 0, 4)) + message(HandshakeType.KEY_UPDATE,
                                                                   b"\x00")[:4])
    whole_and_bytewise(lambda c: bytes((23, 3, 3, 0, 0)))  # empty ciphertext


@pytest.mark.parametrize("inner", [
    b"", b"\x00" * 20, b"x\x16", b"x\x15", b"x\x14", b"x\x99", b"\x15", b"\x16",
    b"x" * 2**14 + b"\x17\x00", b"x" * (2**14 + 1) + b"\x17",
])
def test_whole_and_bytewise_agree_on_odd_inner_plaintexts(inner: bytes) -> None:
    whole_and_bytewise(lambda c: peer_sealer(c).seal(inner))


def test_whole_and_bytewise_agree_on_record_size_limit() -> None:
    results = []
    for bytewise in (False, True):
        client, server = connected({}, {"record_size_limit": 100})
        record = peer_sealer(client).seal(b"x" * 100 + b"\x17")  # 101 > 100
        chunks = [record[i : i + 1] for i in range(len(record))] if bytewise else [record]
        results.append(outcome(server, chunks))
    assert results[0] == results[1]
    assert results[0][0] == (RecordOverflow, "record_size_limit")


def test_whole_and_bytewise_agree_on_corrupted_records() -> None:
    rng = random.Random(11)
    for _ in range(40):
        position, flip = rng.randrange(5 + 2 + 16), rng.randrange(1, 256)

        def corrupted(conn: TLSConnection, position: int = position, flip: int = flip) -> bytes:
            record = bytearray(peer_sealer(conn).records(ContentType.APPLICATION_DATA, b"xy"))
            record[position % len(record)] ^= flip
            return bytes(record)

        whole_and_bytewise(corrupted)


# -- memory: an idle connection holds its buffers and certificates once ---------------
def test_idle_buffers_are_shared_and_certificates_kept_once() -> None:
    client, server = connected()
    client.send_data(b"x")
    server.receive_data(client.data_to_send())
    assert server.data_to_read() == b"x"
    for conn in (client, server):
        records = internals(conn).records
        assert records._inbuf is b""  # noqa: F632 (the shared empty buffer, on purpose)
        assert records._handshake_out is b""  # noqa: F632
        assert conn._handshake_buffer is b""  # noqa: F632
    nconfig = client.nconfig
    assert nconfig.peer_verified_path[0] is nconfig.peer_certificate_chain[0]
    truststore = client.config.truststore
    assert truststore is not None
    assert any(nconfig.peer_verified_path[-1] is der for der in truststore.certificates)


def test_idle_handshakes_refuse_unasked_authentication_messages() -> None:
    """At CONNECTED a Certificate or CertificateVerify nobody asked for (no
    post-handshake CertificateRequest) is refused, not handled by the handshake's
    own handler for that message."""
    for msg_type in (HandshakeType.CERTIFICATE, HandshakeType.CERTIFICATE_VERIFY):
        client, server = connected()
        internals(client).write_record(ContentType.HANDSHAKE, message(msg_type, b"\x00" * 8))
        with pytest.raises(UnexpectedMessage):
            server.receive_data(client.data_to_send())
