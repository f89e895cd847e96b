"""0-RTT across a fleet: two servers ("machines") sharing the ticket keys and one
Redis strike register (a redis-server of our own on 127.0.0.1): the ClientHello
accepted by one is refused 0-RTT by the other when replayed to it, and the same
through the command line's ``--replay-store``."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio

from certs import write_pem_files
from fleet import CA, LEAF, first_session
from helpers import client_config, handshake, server_config
from redis_peer import REDIS_SERVER, RedisServer, redis_server
from siotls import TicketKeys, TLSConfiguration, TLSConnection
from siotls import asyncio as siotls_asyncio
from siotls.stores.redis import AsyncRedisStrikeRegister, RedisStrikeRegister
from test_early_data_cli import client as cli_client
from test_resumption_cli import siotls_server

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


# -- the pause point with the asynchronous Redis register, behind the asyncio adapter --------
async def fleet_of_two(url: str) -> tuple[str, bytes, int, int]:
    """Machines A and B (asyncio servers, an AsyncRedisStrikeRegister each); a 0-RTT
    connection to A, then its first flight replayed to B. A's answer (the early data
    status and data its handler saw), and each register's accepted and replayed."""
    registers = [AsyncRedisStrikeRegister(redis.asyncio.Redis.from_url(url, **TIMEOUTS))
                 for _ in range(2)]  # type: ignore[arg-type]
    configs = [server_config(LEAF, ticket_keys=KEYS, max_early_data=4096,
                             strike_register=register) for register in registers]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"%s %s\n" % (writer.get_extra_info("early_data_status").encode(),
                                   writer.get_extra_info("early_data")))
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    servers = [await siotls_asyncio.start_server(handler, "127.0.0.1", 0, config=config)
               for config in configs]
    ports = [srv.sockets[0].getsockname()[1] for srv in servers]
    session = first_session(configs[0])
    c = TLSConnection(client_config(CA), "localhost", session=session, early_data=b"POST")
    c.initiate_connection()
    flight = c.data_to_send()
    reader, writer = await asyncio.open_connection("127.0.0.1", ports[0])
    writer.write(flight)
    while not c.is_post_handshake():
        c.receive_data(await reader.read(65536))
        writer.write(c.data_to_send())
    c.send_data(b"ping\n")
    writer.write(c.data_to_send())
    answer = b""
    while not answer.endswith(b"\n"):
        c.receive_data(await reader.read(65536))
        answer += c.data_to_read()
    writer.close()
    await writer.wait_closed()

    replay_reader, replay_writer = await asyncio.open_connection("127.0.0.1", ports[1])
    replay_writer.write(flight)  # the attacker's copy, to machine B
    # B answers (a ServerHello: the ticket resumes) once Redis said "seen": no 0-RTT
    assert await replay_reader.readexactly(3) == b"\x16\x03\x03"
    replay_writer.close()
    await replay_writer.wait_closed()
    for srv in servers:
        srv.close()
        await srv.wait_closed()
    for register in registers:
        await register.client.aclose()
    await asyncio.sleep(0.1)  # the servers' connections see the EOF and close
    status, early = answer.split()
    return (status.decode(), early, registers[0].stats.accepted,
            registers[1].stats.replayed)


def test_the_adapters_ask_redis_at_the_pause_point(server: RedisServer) -> None:
    with redis.Redis.from_url(server.url, **TIMEOUTS) as admin:  # type: ignore[arg-type]
        admin.flushdb()
        admin.set(b"siotls:strike:started", repr(time.time() - 20))
    result = asyncio.run(asyncio.wait_for(fleet_of_two(server.url), 20))
    assert result == ("accepted", b"POST", 1, 1)


def test_cli_server_with_replay_store(server: RedisServer, tmp_path: Path) -> None:
    """``siotls server --replay-store redis://...``: 0-RTT waits for the fleet's start
    mark in Redis to be one --replay-window old, then is accepted."""
    with redis.Redis.from_url(server.url, **TIMEOUTS) as admin:  # type: ignore[arg-type]
        admin.flushdb()
    pem = write_pem_files(tmp_path, LEAF, CA)
    session, early = tmp_path / "session", tmp_path / "early"
    early.write_bytes(b"hello early\n")
    with siotls_server(pem, "--early-data", "1024", "--replay-window", "1",
                       "--replay-store", server.url) as (cli_server, port):
        cli_client(pem, port, "--sess-out", session, stdin=b"first\n")
        first = cli_client(pem, port, "--sess-in", session, "--early-data", early)
        time.sleep(1.1)  # the start mark, set by the first check, is now a window old
        second = cli_client(pem, port, "--sess-in", session, "--early-data", early)
        cli_server.wait_for(rb"early data: accepted 12 bytes", 15)
    assert b"siotls: early data: rejected" in first.stderr  # Redis was empty: no mark yet
    assert b"siotls: early data: accepted" in second.stderr
    assert first.stdout == second.stdout == b"hello early\n"
