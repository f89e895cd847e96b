"""0-RTT across a fleet: two servers ("machines") sharing the ticket keys and one
Redis strike register (a redis-server of our own on 127.0.0.1): the ClientHello
accepted by one is refused 0-RTT by the other when replayed to it, and the same
through the command line's ``--replay-store``."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import redis

from fleet import CA, LEAF, first_session
from helpers import client_config, handshake, server_config
from redis_peer import REDIS_SERVER, RedisServer, redis_server
from siotls import TicketKeys, TLSConfiguration, TLSConnection
from siotls.stores.redis import RedisStrikeRegister

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")
TIMEOUTS = {"socket_timeout": 5, "socket_connect_timeout": 5}
KEYS = TicketKeys.generate(os.urandom)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running


def machine(url: str) -> TLSConfiguration:
    """A server of the fleet: its own Redis client, the fleet's keys and register."""
    client = redis.Redis.from_url(url, **TIMEOUTS)  # type: ignore[arg-type]
    return server_config(LEAF, ticket_keys=KEYS, max_early_data=4096,
                         strike_register=RedisStrikeRegister(client))


def test_replay_to_another_machine_is_refused(server: RedisServer) -> None:
    with redis.Redis.from_url(server.url, **TIMEOUTS) as admin:  # type: ignore[arg-type]
        admin.flushdb()
        admin.set(b"siotls:strike:started", repr(time.time() - 20))  # Redis ran for long
    a, b = machine(server.url), machine(server.url)
    session = first_session(a)
    assert session.max_early_data_size == 4096
    c = TLSConnection(client_config(CA), "localhost", session=session, early_data=b"POST /pay")
    s = TLSConnection(a)
    c.initiate_connection()
    s.initiate_connection()
    flight = c.data_to_send()
    s.receive_data(flight)
    handshake(c, s)
    assert s.nconfig.early_data == c.nconfig.early_data == "accepted"
    assert s.data_to_read_early() == b"POST /pay"

    replayed = TLSConnection(b)  # the attacker sends the same flight to machine B
    replayed.initiate_connection()
    replayed.receive_data(flight)
    assert replayed.nconfig.session_resumed  # B opens the ticket: the keys are shared
    assert replayed.nconfig.early_data == "rejected"
    assert replayed.data_to_read_early() == b""
    assert b.strike_register.stats.replayed == 1


def test_unreachable_redis_refuses_0rtt_not_the_connection() -> None:
    from gnutls_peer import free_port

    conf = machine(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    session = first_session(conf)
    c = TLSConnection(client_config(CA), "localhost", session=session, early_data=b"x")
    s = TLSConnection(conf)
    c.initiate_connection()
    s.initiate_connection()
    handshake(c, s)
    assert s.nconfig.session_resumed and s.nconfig.early_data == "rejected"
    assert c.rejected_early_data() == b"x"
