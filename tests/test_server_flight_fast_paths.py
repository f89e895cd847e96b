"""The server handshake's shortcuts (issue 11, srv2) equal the long ways they replace:
tickets sealed from their encoded state, NewSessionTicket encoded in one join, the
ticket key's AES-GCM kept per key, and a server's tickets sharing one record."""

from __future__ import annotations

import os
import ssl

import pytest

from certs import make_ca
from helpers import client_config, handshake, server_config
from siotls import TLSConnection
from siotls.core.codec import Writer
from siotls.core.messages import NewSessionTicket, parse_new_session_ticket
from siotls.core.tickets import (
    TicketKey,
    TicketKeys,
    TicketState,
    encode_ticket_state,
    open_ticket,
    seal_ticket,
)
from siotls.iana import CipherSuites, ContentType, HandshakeType
from wire import split_records


def _state(chain: tuple[bytes, ...] = ()) -> TicketState:
    return TicketState(CipherSuites.TLS_AES_256_GCM_SHA384, b"p" * 48, 1700000000.25,
                       1699999000.5, 7200, 0xDEADBEEF, 16384, "example.com", b"h2",
                       bool(chain), chain)


@pytest.mark.parametrize("chain", [(), (b"leaf" * 50, b"ca" * 40)])
def test_encoded_state_is_the_states_serialization(chain: tuple[bytes, ...]) -> None:
    state = _state(chain)
    encoded = encode_ticket_state(
        state.cipher_suite, state.psk, state.created_at, state.authenticated_at,
        state.ticket_lifetime, state.ticket_age_add, state.max_early_data_size,
        state.server_name, state.alpn, state.client_verified,
        state.client_certificate_chain)
    assert encoded == state.serialize()
    assert TicketState.parse(encoded) == state
    keys = TicketKeys.generate(os.urandom)
    # sealed from the bytes or from the object: both open to the same state
    assert open_ticket(keys, seal_ticket(keys, encoded, os.urandom)) == state
    assert open_ticket(keys, seal_ticket(keys, state, os.urandom)) == state


def _writer_new_session_ticket(nst: NewSessionTicket) -> bytes:
    """The encoding of NewSessionTicket.serialize before it became one join."""
    w = Writer()
    w.u32(nst.ticket_lifetime)
    w.u32(nst.ticket_age_add)
    w.opaque(1, nst.ticket_nonce)
    w.opaque(2, nst.ticket)
    body = bytes(w.buf) + len(b"".join(
        t.to_bytes(2, "big") + len(d).to_bytes(2, "big") + d
        for t, d in nst.extensions.items())).to_bytes(2, "big") + b"".join(
        t.to_bytes(2, "big") + len(d).to_bytes(2, "big") + d
        for t, d in nst.extensions.items())
    return bytes((HandshakeType.NEW_SESSION_TICKET,)) + len(body).to_bytes(3, "big") + body


@pytest.mark.parametrize("nst", [
    NewSessionTicket(3600, 1, b"", b"t", {}),
    NewSessionTicket(604800, 0xFFFFFFFF, b"\x07", b"x" * 300, {42: (16384).to_bytes(4, "big")}),
    NewSessionTicket(0, 0, b"n" * 255, b"", {}),  # what tests of bad input build
])
def test_new_session_ticket_encoding(nst: NewSessionTicket) -> None:
    data = nst.serialize()
    assert data == _writer_new_session_ticket(nst)
    if nst.ticket:
        assert parse_new_session_ticket(memoryview(data)[4:]) == nst


@pytest.mark.parametrize("nst", [
    NewSessionTicket(2**32, 1, b"", b"t", {}),
    NewSessionTicket(1, 1, b"n" * 256, b"t", {}),
    NewSessionTicket(1, 1, b"", b"t" * 2**16, {}),
])
def test_new_session_ticket_too_large_fields_raise(nst: NewSessionTicket) -> None:
    with pytest.raises(OverflowError):
        nst.serialize()


def test_the_kept_ticket_aead_follows_the_encryption_key() -> None:
    first, second = TicketKey.generate(os.urandom), TicketKey.generate(os.urandom)
    keys = TicketKeys([first])
    state = _state()
    ticket = seal_ticket(keys, state, os.urandom)
    assert ticket.startswith(first.key_id)
    assert keys.sealer() is keys.sealer()  # kept
    keys.rotate(second)
    rotated = seal_ticket(keys, state, os.urandom)
    assert rotated.startswith(second.key_id)  # sealed with the new key, not the kept one
    assert open_ticket(TicketKeys([second]), rotated) == state
    assert open_ticket(TicketKeys([first]), rotated) is None
    keys.replace([first])
    assert seal_ticket(keys, state, os.urandom).startswith(first.key_id)


def _protected_records_after_handshake(num_tickets: int) -> tuple[TLSConnection, list[bytes]]:
    ca = make_ca()
    client = TLSConnection(client_config(ca), "localhost")
    server = TLSConnection(server_config(ca.issue(), num_tickets=num_tickets))
    client.initiate_connection()
    server.initiate_connection()
    handshake(client, server)
    server.send_data(b"hello")
    return client, split_records(server.data_to_send())


@pytest.mark.parametrize("num_tickets", [1, 2, 5])
def test_tickets_share_one_record_before_the_data(num_tickets: int) -> None:
    client, records = _protected_records_after_handshake(num_tickets)
    assert len(records) == 2  # the tickets, then the application data
    for record in records:
        client.receive_data(record)
    assert len(client.session_tickets) == num_tickets
    assert client.data_to_read() == b"hello"


def test_python_ssl_client_takes_the_shared_ticket_record() -> None:
    """Python's ssl (OpenSSL) reads both tickets from the one record, then the data,
    and resumes with the ticket it kept."""
    ca = make_ca()
    leaf = ca.issue()
    config = server_config(leaf, num_tickets=2)
    context = ssl.create_default_context(cadata=ca.cert_pem.decode())
    session = None
    for round_ in range(2):
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = context.wrap_bio(incoming, outgoing, server_hostname="localhost",
                               session=session)
        server = TLSConnection(config)
        server.initiate_connection()
        for _ in range(10):  # bounded
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                server.receive_data(outgoing.read())
                incoming.write(server.data_to_send())
        server.receive_data(outgoing.read())
        server.send_data(b"hello")
        data = server.data_to_send()
        records = split_records(data)
        assert [r[0] for r in records] == [ContentType.APPLICATION_DATA] * 2
        incoming.write(data)
        assert obj.read(100) == b"hello"
        assert obj.session is not None and obj.session.has_ticket
        assert obj.session_reused == (round_ == 1)
        session = obj.session
