"""The connection's lifecycle (:mod:`siotls.core.lifecycle`) seen through the
public API: each event's effect on the state queries, and the one guard that
makes every call after a failure raise :class:`TLSConnectionFailed`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from helpers import connected
from siotls import TLSConnection
from siotls.core.errors import RaggedEOF, TLSConnectionFailed, TLSPeerAlert, UnexpectedMessage
from siotls.core.lifecycle import Lifecycle, Receiving, Sending


def queries(conn: TLSConnection) -> tuple[bool, bool, bool, bool, bool]:
    return (conn.is_connected(), conn.can_send, conn.can_receive,
            conn.close_notify_received, conn.is_failed())


def test_connected(tls_pair: tuple[TLSConnection, TLSConnection]) -> None:
    client, _ = tls_pair
    assert queries(client) == (True, True, True, False, False)


def test_we_close_our_sending_side(tls_pair: tuple[TLSConnection, TLSConnection]) -> None:
    client, _ = tls_pair
    client.close_sending_end()
    client.close_sending_end()  # idempotent
    assert queries(client) == (False, False, True, False, False)
    assert client.is_post_handshake()


def test_peer_sends_close_notify_then_eof() -> None:
    client, server = connected()
    server.close_sending_end()
    client.receive_data(server.data_to_send())
    assert queries(client) == (False, True, False, True, False)
    client.close_receiving_end()  # the normal end: no RaggedEOF, the state stays
    assert queries(client) == (False, True, False, True, False)


def test_eof_without_close_notify() -> None:
    client, _ = connected()
    with pytest.raises(RaggedEOF):
        client.close_receiving_end()
    assert queries(client) == (False, True, False, False, False)  # not a failure once connected
    client.send_data(b"half-closed: we may still send")


def test_eof_during_the_handshake_fails(tls_client: TLSConnection) -> None:
    with pytest.raises(RaggedEOF):
        tls_client.close_receiving_end()
    assert tls_client.is_failed()
    with pytest.raises(TLSConnectionFailed):
        tls_client.receive_data(b"\x16")


def _calls(conn: TLSConnection) -> list[Callable[[], object]]:
    return [lambda: conn.receive_data(b"\x17\x03\x03\x00\x01x"), lambda: conn.send_data(b"x"),
            conn.update_keys, conn.close_sending_end, conn.initiate_connection,
            lambda: conn.export_keying_material(b"EXPORTER-test", b"", 16)]


@pytest.mark.parametrize("who", ["us", "peer"])
def test_every_call_after_a_failure_raises(who: str) -> None:
    client, server = connected()
    if who == "us":  # a bad record: we send an alert and fail
        with pytest.raises(UnexpectedMessage):
            client.receive_data(b"\x16\x03\x03\x00\x04\x01\x00\x00\x00")
        server_error: type[Exception] = TLSPeerAlert
        with pytest.raises(server_error):
            server.receive_data(client.data_to_send())
    else:
        with pytest.raises(UnexpectedMessage):
            server.receive_data(b"\x16\x03\x03\x00\x04\x01\x00\x00\x00")
        with pytest.raises(TLSPeerAlert):
            client.receive_data(server.data_to_send())
    assert queries(client) == (False, False, False, False, True)
    for call in _calls(client):
        with pytest.raises(TLSConnectionFailed) as caught:
            call()
        assert caught.value.__cause__ is not None
    assert client.data_to_send() == b""  # nothing more after the alert
    client.close_receiving_end()  # EOF after a failure: no second error


def test_lifecycle_guard_directly() -> None:
    life = Lifecycle()
    assert (life.sending, life.receiving, life.failure) == (Sending.OPEN, Receiving.OPEN, None)
    assert not life.usable
    life.initiated = True
    life.check()
    first, second = ValueError("first"), ValueError("second")
    life.fail(first)
    life.fail(second)
    assert life.failure is first  # the first error is the one that ended the connection
    assert not life.can_send and not life.can_receive
    with pytest.raises(TLSConnectionFailed) as caught:
        life.check(initiated=False)
    assert caught.value.__cause__ is first
