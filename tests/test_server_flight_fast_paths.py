"""The server handshake's shortcuts (issue 11, srv2) equal the long ways they replace:
tickets sealed from their encoded state, NewSessionTicket encoded in one join, the
ticket key's AES-GCM kept per key, the ClientHello and key_share decoded in one frame;
real clients (Python's ssl, gnutls-cli) take the tickets and resume."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from certs import make_ca
from gnutls_peer import gnutls_cli
from helpers import client_config, handshake, server_config
from openssl_peer import accept, flush, listener, run_server
from peers import GNUTLS, PKI, pki_server
from siotls import TLSConnection
from siotls.core import extensions as ext
from siotls.core.codec import Writer
from siotls.core.errors import DecodeError, IllegalParameter, TLSFatalAlert
from siotls.core.messages import (
    NewSessionTicket,
    parse_client_hello,
    parse_new_session_ticket,
)
from siotls.core.tickets import (
    TicketKey,
    TicketKeys,
    TicketState,
    encode_ticket_state,
    open_ticket,
    seal_ticket,
)
from siotls.iana import CipherSuites, ContentType, HandshakeType, NamedGroup
from test_hello_parsers_equivalence import old_decode_key_share_ch, old_parse_client_hello
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
def test_a_record_per_ticket_before_the_data(num_tickets: int) -> None:
    """As OpenSSL sends them: gnutls-cli fails its post-handshake authentication when
    a CertificateRequest and tickets share a record (tests/test_pha_interop.py)."""
    client, records = _protected_records_after_handshake(num_tickets)
    assert len(records) == num_tickets + 1  # the tickets, then the application data
    for record in records:
        client.receive_data(record)
    assert len(client.session_tickets) == num_tickets
    assert client.data_to_read() == b"hello"


def test_python_ssl_client_takes_the_tickets() -> None:
    """Python's ssl (OpenSSL) reads both tickets, then the data, and resumes with the
    ticket it kept."""
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
        assert [r[0] for r in records] == [ContentType.APPLICATION_DATA] * (3 - round_)
        incoming.write(data)
        assert obj.read(100) == b"hello"
        assert obj.session is not None and obj.session.has_ticket
        assert obj.session_reused == (round_ == 1)
        session = obj.session


# -- ClientHello and key_share: one-frame parsers against the Reader's reads ----------

def _outcome(function: Callable[[bytes], object], data: bytes) -> object:
    try:
        return function(data)
    except TLSFatalAlert as exc:
        return type(exc)


def _variants(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    """``data`` cut at every length, then with bytes changed, inserted or removed."""
    out = [data[:n] for n in range(len(data) + 1)]
    for _ in range(count):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(mutated) or 1)
            kind = rng.random()
            if kind < 0.6 and mutated:
                mutated[pos] = rng.randrange(256)
            elif kind < 0.8:
                mutated.insert(pos, rng.randrange(256))
            elif mutated:
                del mutated[pos]
        out.append(bytes(mutated))
    return out


def _client_hellos() -> list[bytes]:
    """Bodies of real ClientHellos: siotls's, with several suites and a session id
    (middlebox compatibility), and Python ssl's (OpenSSL: 30-odd suites)."""
    bodies = []
    for kwargs in ({}, {"cipher_suites": list(CipherSuites)[:3]}):
        client = TLSConnection(client_config(**kwargs), "localhost")
        client.initiate_connection()
        bodies.append(client.data_to_send()[9:])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="x.test")
    with contextlib.suppress(ssl.SSLWantReadError):
        obj.do_handshake()
    bodies.append(outgoing.read()[9:])
    return bodies


def test_client_hello_parser_decides_as_the_reader() -> None:
    rng = random.Random(8446)
    for body in _client_hellos():
        assert parse_client_hello(body) == old_parse_client_hello(body)
        assert parse_client_hello(memoryview(body)) == old_parse_client_hello(body)
        for variant in _variants(body, rng, 400):
            assert _outcome(parse_client_hello, variant) == \
                _outcome(old_parse_client_hello, variant), variant.hex()
    # extensions: a type twice, an empty block, none (TLS 1.2), a block one byte off
    base = _client_hellos()[0]
    ch = old_parse_client_hello(base)
    head = base[: len(base) - sum(4 + len(v) for v in ch.extensions.values()) - 2]
    twice = b"\x00\x2b\x00\x00" * 2
    for tail in (b"", b"\x00\x00", len(twice).to_bytes(2, "big") + twice,
                 b"\x00\x05" + twice[:4], b"\x00\x03" + twice[:4], b"\x00"):
        assert _outcome(parse_client_hello, head + tail) == \
            _outcome(old_parse_client_hello, head + tail), tail.hex()
    assert _outcome(parse_client_hello, head + b"\x00\x08" + twice) is IllegalParameter


def test_key_share_decoder_decides_as_the_reader() -> None:
    rng = random.Random(7250)
    entries = [(NamedGroup.x25519, b"k" * 32), (NamedGroup.secp256r1, b"p" * 65),
               (NamedGroup.x448, b"x" * 56)]
    for shares in ([], entries[:1], entries, [entries[0], entries[0]]):
        data = ext.encode_key_share_ch(shares)
        assert _outcome(ext.decode_key_share_ch, data) == _outcome(old_decode_key_share_ch, data)
        for variant in _variants(data, rng, 300):
            assert _outcome(ext.decode_key_share_ch, variant) == \
                _outcome(old_decode_key_share_ch, variant), variant.hex()
    empty_share = b"\x00\x04\x00\x1d\x00\x00"
    assert _outcome(ext.decode_key_share_ch, empty_share) is DecodeError


@pytest.mark.parametrize(("changes", "expected"), [
    ({"legacy_session_id": b"s" * 32}, None),
    ({"legacy_session_id": b"s" * 33}, DecodeError),
    ({"cipher_suites": []}, DecodeError),
    ({"cipher_suites": [0x1301] * 300}, None),
    ({"legacy_compression_methods": b""}, DecodeError),
    ({"legacy_compression_methods": b"\x00\x01"}, None),  # parsed; the server refuses it
])
def test_client_hello_fields_bounds(changes: dict[str, object], expected: type | None) -> None:
    ch = dataclasses.replace(old_parse_client_hello(_client_hellos()[0]), **changes)
    body = ch.serialize()[4:]
    outcome = _outcome(parse_client_hello, body)
    assert outcome == _outcome(old_parse_client_hello, body)
    assert outcome == (ch if expected is None else expected)


@pytest.mark.timeout(30)
@pytest.mark.skipif(GNUTLS.unusable is not None, reason=str(GNUTLS.unusable))
def test_gnutls_cli_resumes_with_a_sealed_ticket(tmp_path: Path) -> None:
    """gnutls-cli --resume takes a ticket sealed from its encoded state by the kept
    AES-GCM, then resumes with it on its second connection."""
    pki = PKI(tmp_path)
    keys = TicketKeys.generate(os.urandom)
    with listener() as (lsock, port), gnutls_cli(
            port, "--x509cafile", pki.cafile, "--resume", "--sni-hostname", "localhost",
            "--verify-hostname", "localhost") as proc:
        for round_, line in enumerate((b"first", b"second")):
            with accept(lsock) as sock:
                conn = pki_server(pki, ticket_keys=keys, num_tickets=2)
                run_server(sock, conn)
                assert conn.nconfig.session_resumed == (round_ == 1)
                conn.send_data(line + b"\n")  # after the tickets
                flush(sock, conn)
                if round_:  # gnutls-cli's stdout is block-buffered: flushed as it exits
                    proc.close_stdin()
                    proc.wait_for(line)
            # round 0: closed, gnutls-cli reconnects with the ticket it read
        proc.wait_for(rb"\*\*\* This is a resumed session")
