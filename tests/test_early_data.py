"""0-RTT early data, siotls with siotls (RFC 8446 2.3, 4.2.10, 4.5, 8): accepted,
refused by configuration, replayed (refused by the strike register), out of the
freshness window, after a HelloRetryRequest, too much, EndOfEarlyData out of place."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from certs import make_ca
from helpers import client_config, flow, handshake, new_session, server_config
from siotls import TicketKeys, TLSConfiguration, TLSConnection, TLSSession, TLSUsageError
from siotls.core import crypto
from siotls.core.errors import BadRecordMac, UnexpectedMessage
from siotls.core.keyschedule import KeySchedule
from siotls.iana import CipherSuites, NamedGroup
from siotls.stores import MemoryStrikeRegister
from vectors import named

CA = make_ca()
LEAF = CA.issue()
KEYS = TicketKeys.generate(os.urandom)
NOW = [time.time()]


def clock() -> float:
    return NOW[0]


def ready_register() -> MemoryStrikeRegister:
    """A register past its start window (the start rule is tested on its own)."""
    register = MemoryStrikeRegister(window=20, clock=clock)
    register.started_at -= 20
    return register


def server(**kwargs: Any) -> TLSConfiguration:
    kwargs.setdefault("ticket_keys", KEYS)
    kwargs.setdefault("max_early_data", 1024)
    if kwargs["max_early_data"]:
        kwargs.setdefault("strike_register", ready_register())
    return server_config(LEAF, clock=clock, **kwargs)


def client(**kwargs: Any) -> TLSConfiguration:
    kwargs.setdefault("clock", clock)
    return client_config(CA, **kwargs)


def session(server_conf: TLSConfiguration | None = None) -> TLSSession:
    return new_session(client(), server_conf or server())


def zero_rtt(sess: TLSSession, server_conf: TLSConfiguration, data: bytes = b"GET / early",
             client_conf: TLSConfiguration | None = None
             ) -> tuple[TLSConnection, TLSConnection, bytes]:
    """A resumed connection sending ``data`` as early data; the ClientHello flight too."""
    c = TLSConnection(client_conf or client(), "localhost", session=sess, early_data=data)
    s = TLSConnection(server_conf)
    c.initiate_connection()
    s.initiate_connection()
    first_flight = c.data_to_send()
    s.receive_data(first_flight)
    handshake(c, s)
    return c, s, first_flight


def test_client_early_traffic_secret_is_rfc8448s() -> None:
    """RFC 8448 section 4: the early key from the PSK over the ClientHello."""
    n = named(4)
    schedule = KeySchedule(crypto.CIPHER_SUITES[CipherSuites.TLS_AES_128_GCM_SHA256])
    schedule.use_psk(n["psk"])
    schedule.update(n["client_hello"])
    schedule.enter_early()
    assert schedule.client_early_traffic_secret == n["client_early_traffic_secret"]
    assert schedule.early_exporter_master_secret == n["early_exporter_master_secret"]


def test_tickets_carry_max_early_data() -> None:
    assert session().max_early_data_size == 1024
    assert session(server(max_early_data=0)).max_early_data_size == 0


def test_early_data_accepted() -> None:
    conf = server()
    c, s, _ = zero_rtt(session(conf), conf)
    assert c.nconfig.early_data == s.nconfig.early_data == "accepted"
    assert c.nconfig.session_resumed and s.nconfig.session_resumed
    assert s.data_to_read_early() == b"GET / early"
    assert s.data_to_read() == b""  # apart from the 1-RTT data
    assert c.rejected_early_data() == b""
    c.send_data(b"late")
    flow(c, s)
    assert s.data_to_read() == b"late"
    assert c.export_keying_material(b"x", b"", 16) == s.export_keying_material(b"x", b"", 16)


def test_send_early_data_before_the_server_hello() -> None:
    conf = server()
    c = TLSConnection(client(), "localhost", session=session(conf), early_data=b"a")
    s = TLSConnection(conf)
    c.initiate_connection()
    c.send_early_data(b"bc")
    with pytest.raises(TLSUsageError):
        c.send_early_data(b"x" * 1024)  # over the ticket's max_early_data_size
    s.initiate_connection()
    handshake(c, s)
    assert s.data_to_read_early() == b"abc"
    with pytest.raises(TLSUsageError):
        c.send_early_data(b"more")


def test_early_data_refused_by_a_server_not_configured_for_it() -> None:
    sess = session()
    c, s, _ = zero_rtt(sess, server(max_early_data=0))
    assert c.nconfig.early_data == s.nconfig.early_data == "rejected"
    assert c.nconfig.session_resumed  # the ticket still resumes
    assert s.data_to_read_early() == b""
    assert c.rejected_early_data() == b"GET / early"  # for the caller to send again
    c.send_data(c.rejected_early_data())
    flow(c, s)
    assert s.data_to_read() == b"GET / early"


def test_no_early_data_without_a_ticket_allowing_it() -> None:
    sess = session(server(max_early_data=0))
    c, s, _ = zero_rtt(sess, server())
    assert c.nconfig.early_data == s.nconfig.early_data == "not sent"
    assert c.rejected_early_data() == b"GET / early"


def test_a_replayed_client_hello_gets_no_early_data() -> None:
    conf = server()
    sess = session(conf)
    _, s, flight = zero_rtt(sess, conf)
    assert s.data_to_read_early() == b"GET / early"
    replay = TLSConnection(conf)
    replay.initiate_connection()
    replay.receive_data(flight)  # the attacker's copy: same ClientHello, same 0-RTT records
    assert replay.nconfig.early_data == "rejected"
    assert replay.nconfig.session_resumed  # 1-RTT resumption, which the attacker cannot finish
    assert replay.data_to_read_early() == b""
    assert conf.strike_register.stats.replayed == 1


def test_a_second_connection_with_the_same_ticket_sends_early_data_again() -> None:
    conf = server()
    sess = session(conf)
    for _ in range(2):  # each ClientHello has its own binder
        _, s, _ = zero_rtt(sess, conf)
        assert s.nconfig.early_data == "accepted"


def test_ticket_age_outside_the_window_refuses_0rtt_only() -> None:
    conf = server()
    sess = session(conf)
    c = TLSConnection(client(clock=lambda: NOW[0] + 30), "localhost", session=sess,
                      early_data=b"late hello")  # the client's clock runs 30 s ahead
    s = TLSConnection(conf)
    c.initiate_connection()
    s.initiate_connection()
    handshake(c, s)
    assert s.nconfig.early_data == c.nconfig.early_data == "rejected"
    assert s.nconfig.session_resumed
    assert c.rejected_early_data() == b"late hello"


def test_no_0rtt_while_the_register_is_younger_than_its_window() -> None:
    conf = server(strike_register=MemoryStrikeRegister(window=20, clock=clock))
    _c, s, _ = zero_rtt(session(conf), conf)
    assert s.nconfig.early_data == "rejected" and s.nconfig.session_resumed


def test_default_register_is_in_memory() -> None:
    conf = server_config(LEAF, max_early_data=10)
    assert isinstance(conf.strike_register, MemoryStrikeRegister)
    assert server_config(LEAF).strike_register is None


def test_a_register_too_short_for_the_freshness_window_is_refused() -> None:
    with pytest.raises(ValueError, match="twice early_data_freshness"):
        server(strike_register=MemoryStrikeRegister(window=10, clock=clock))


def test_early_data_rejected_after_a_hello_retry_request() -> None:
    conf = server(key_exchanges=[NamedGroup.secp256r1])
    sess = session(conf)
    c, s, _ = zero_rtt(sess, conf)
    assert s.nconfig.hello_retry_request
    assert c.nconfig.early_data == "rejected"
    assert c.rejected_early_data() == b"GET / early"
    assert s.data_to_read_early() == b""


def test_too_much_early_data_is_unexpected_message() -> None:
    big = server(max_early_data=2000)
    sess = session(big)
    small = server(max_early_data=100)
    with pytest.raises(UnexpectedMessage) as info:
        zero_rtt(sess, small, data=b"x" * 1500)
    assert info.value.reason == "too_much_early_data"


def test_end_of_early_data_absent_fails() -> None:
    conf = server()
    c = TLSConnection(client(), "localhost", session=session(conf), early_data=b"e")
    s = TLSConnection(conf)
    c.initiate_connection()
    s.initiate_connection()
    flow(c, s)
    flow(s, c)
    c_flight = bytearray(c.data_to_send())
    # drop the EndOfEarlyData record (the first record of the client's second flight)
    length = int.from_bytes(c_flight[3:5], "big")
    with pytest.raises(BadRecordMac):
        s.receive_data(bytes(c_flight[5 + length:]))


def test_end_of_early_data_out_of_place() -> None:
    conf = server(max_early_data=0)
    _c, s, _ = zero_rtt(session(conf), conf)
    with pytest.raises(UnexpectedMessage):
        s._handshake.handle(5, memoryview(b""), b"\x05\x00\x00\x00")


def test_usage_errors() -> None:
    with pytest.raises(TLSUsageError):
        TLSConnection(server(), early_data=b"x")
    c = TLSConnection(client(), "localhost", early_data=b"x")  # no session: not offered
    c.initiate_connection()
    with pytest.raises(TLSUsageError):
        c.send_early_data(b"y")
    with pytest.raises(ValueError, match="max_early_data"):
        server(max_early_data=-1)


def test_refused_early_data_is_skipped_up_to_the_tickets_limit() -> None:
    """A server that refuses 0-RTT (its register not ready: just restarted) skips as much
    refused early data as its tickets allow, past the 64 KiB floor."""
    big = 200_000
    sess = session(server(max_early_data=big))
    restarted = server(max_early_data=big,
                       strike_register=MemoryStrikeRegister(window=20, clock=clock))
    data = os.urandom(150_000)
    c, s, _ = zero_rtt(sess, restarted, data=data)
    assert s.nconfig.early_data == "rejected" and s.nconfig.session_resumed
    assert c.rejected_early_data() == data
