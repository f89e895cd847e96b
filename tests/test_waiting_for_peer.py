"""TLSConnection.waiting_for_peer: true exactly when only the peer's bytes can move the
connection on (it can receive, holds no plaintext to read and nothing to send, is not
paused); the stream adapters' driver reads the transport at once then
(``Driver.receive``). Each condition is turned false on its own here."""

from __future__ import annotations

import pytest

from helpers import connected, flow, handshake, new_client, new_server
from siotls import TLSConnection
from siotls.errors import TLSError
from test_pause_point import SESSION, client, server


def test_a_new_client_has_its_hello_to_send() -> None:
    client = new_client()
    assert not client.waiting_for_peer  # the ClientHello is queued
    client.data_to_send()
    assert client.waiting_for_peer
    server = new_server()
    assert server.waiting_for_peer  # it waits for a ClientHello


def test_connected_and_drained() -> None:
    client, server = connected()
    assert client.waiting_for_peer and server.waiting_for_peer
    client.send_data(b"ping")
    assert not client.waiting_for_peer  # a record to send
    flow(client, server)
    assert client.waiting_for_peer
    assert not server.waiting_for_peer  # plaintext to read
    assert server.data_to_read(2) == b"pi"
    assert not server.waiting_for_peer
    assert server.data_to_read() == b"ng"
    assert server.waiting_for_peer


def test_a_handshake_message_to_pack() -> None:
    client, server = connected()
    server.update_keys(request_peer_update=True)  # a KeyUpdate queued
    assert not server.waiting_for_peer
    flow(server, client)
    assert server.waiting_for_peer
    assert not client.waiting_for_peer  # its KeyUpdate answer
    flow(client, server)
    assert client.waiting_for_peer and server.waiting_for_peer


def test_closed_or_failed_receiving_side() -> None:
    client, server = connected()
    client.close_sending_end()
    flow(client, server)
    assert not server.can_receive
    assert not server.waiting_for_peer  # after close_notify nothing more will come
    client, server = connected()
    with pytest.raises(TLSError):
        server.receive_data(b"\x17\x03\x03\x00\x05" + bytes(5))  # too short to open
    assert server.is_failed()
    server.data_to_send()  # the alert
    assert not server.waiting_for_peer


def test_paused_server() -> None:
    c = TLSConnection(client(), "localhost", session=SESSION, early_data=b"early")
    s = TLSConnection(server())
    c.initiate_connection()
    s.initiate_connection()
    s.receive_data(c.data_to_send())
    assert s.pending_client_hello is not None
    assert s.data_to_send() == b""
    assert not s.waiting_for_peer  # paused: the caller must answer first
    s.resume_client_hello(early_data_ok=True)
    assert not s.waiting_for_peer  # its flight to send
    handshake(c, s)
    assert s.data_to_read_early() == b"early"
    assert s.waiting_for_peer
