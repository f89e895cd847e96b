"""Single-use tickets for 0-RTT (RFC 8446 8.1, ``early_data_anti_replay='ticket'``):
the strike register records a digest of the ticket for its remaining lifetime, so a
ticket carries early data at most once; a second 0-RTT attempt with it (a new
ClientHello, a fresh binder) is refused while the resumption goes on. In memory, with
an asynchronous register at the pause point, and with ``openssl s_client -sess_in
-early_data`` as the client."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from certs import write_pem_files
from helpers import flow
from openssl_peer import listener, requires_openssl
from siotls import TLSConfiguration, TLSConnection
from siotls.stores import MemoryStrikeRegister
from test_early_data import LEAF, NOW, client, clock, server, session, zero_rtt
from test_early_data_interop import EARLY, s_client_round

LIFETIME = 3600


def ticket_register(window: float = LIFETIME) -> MemoryStrikeRegister:
    """A register past its start window (the start rule is tested in test_early_data)."""
    register = MemoryStrikeRegister(window=window, clock=clock)
    register.started_at -= window
    return register


def single_use(**kwargs: Any) -> TLSConfiguration:
    kwargs.setdefault("strike_register", ticket_register())
    return server(early_data_anti_replay="ticket", ticket_lifetime=LIFETIME, **kwargs)


def test_a_ticket_carries_early_data_once() -> None:
    conf = single_use()
    sess = session(conf)
    c, s, _ = zero_rtt(sess, conf, b"first")
    assert c.nconfig.early_data == s.nconfig.early_data == "accepted"
    assert s.data_to_read_early() == b"first"
    # The same ticket again: a new ClientHello (fresh random, key share and binder).
    c, s, _ = zero_rtt(sess, conf, b"second")
    assert c.nconfig.early_data == s.nconfig.early_data == "rejected"
    assert c.is_connected() and s.is_connected()
    assert c.nconfig.session_resumed and s.nconfig.session_resumed  # resumption still works
    assert c.rejected_early_data() == b"second"  # for the caller to send again
    assert s.data_to_read_early() == b""
    assert conf.strike_register.stats.replayed == 1


def test_the_client_hello_mode_lets_a_ticket_carry_early_data_again() -> None:
    """The contrast: the default records the ClientHello, whose binder is new."""
    conf = server(ticket_lifetime=LIFETIME)
    sess = session(conf)
    for _ in range(2):
        _, s, _ = zero_rtt(sess, conf)
        assert s.nconfig.early_data == "accepted"


class SpyRegister(MemoryStrikeRegister):
    def __init__(self) -> None:
        super().__init__(window=LIFETIME, clock=clock)
        self.started_at -= LIFETIME
        self.asked: list[tuple[bytes, float]] = []

    def check_and_record(self, key: bytes, ttl: float) -> bool:
        self.asked.append((key, ttl))
        return super().check_and_record(key, ttl)


def test_the_key_is_the_tickets_digest_for_its_remaining_lifetime() -> None:
    register = SpyRegister()
    conf = single_use(strike_register=register)
    sess = session(conf)
    NOW[0] += 100
    try:
        zero_rtt(sess, conf)
    finally:
        NOW[0] -= 100
    [(key, ttl)] = register.asked
    assert key == hashlib.sha256(sess.ticket).digest()
    assert LIFETIME - 100 - 1 < ttl <= LIFETIME - 100


class AsyncRegister:
    def __init__(self) -> None:
        self.memory = ticket_register()
        self.window = self.memory.window
        self.started_at = self.memory.started_at

    def ready(self, now: float | None = None) -> bool:
        return self.memory.ready(now)

    async def check_and_record(self, key: bytes, ttl: float) -> bool:
        return self.memory.check_and_record(key, ttl)


def test_the_pause_point_asks_for_the_ticket() -> None:
    conf = single_use(strike_register=AsyncRegister())
    sess = session(conf)
    for expected in (True, False):
        c = TLSConnection(client(), "localhost", session=sess, early_data=b"x")
        s = TLSConnection(conf)
        c.initiate_connection()
        s.initiate_connection()
        flow(c, s)
        pending = s.pending_client_hello
        assert pending is not None
        assert pending.replay_key == hashlib.sha256(sess.ticket).digest()
        s.resume_client_hello(early_data_ok=pending.register.memory.check_and_record(
            pending.replay_key, pending.replay_ttl))
        assert s.nconfig.early_data == ("accepted" if expected else "rejected")


def test_configuration() -> None:
    with pytest.raises(ValueError, match="early_data_anti_replay"):
        server(early_data_anti_replay="nonce")
    with pytest.raises(ValueError, match="at least ticket_lifetime"):
        single_use(strike_register=ticket_register(window=LIFETIME - 1))
    conf = server(early_data_anti_replay="ticket", ticket_lifetime=LIFETIME,
                  strike_register=None)
    assert conf.strike_register.window == LIFETIME  # the default register, long enough
    assert server().early_data_anti_replay == "client_hello"  # the default


@requires_openssl
def test_s_client_early_data_once_per_ticket(tmp_path: Path) -> None:
    """``s_client -sess_in -early_data`` twice with the same session file: the first
    0-RTT accepted, the second refused, both resumed."""
    cert, key, cafile = write_pem_files(tmp_path, LEAF, LEAF.ca)
    del cert, key
    session_file, early_file = tmp_path / "session.pem", tmp_path / "early.txt"
    early_file.write_bytes(EARLY)
    conf = single_use()
    results = []
    with listener() as (lsock, port):
        s_client_round(lsock, port, cafile, conf, "-sess_out", session_file)
        for _ in range(2):
            conn, early, _, output = s_client_round(
                lsock, port, cafile, conf, "-sess_in", session_file, "-early_data", early_file)
            results.append((conn.nconfig.session_resumed, conn.nconfig.early_data, early,
                            b"Early data was accepted" in output))
    assert results == [(True, "accepted", EARLY, True), (True, "rejected", b"", False)]
