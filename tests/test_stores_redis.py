"""siotls.stores.redis against a real redis-server of our own (127.0.0.1, a free port, no
persistence): the strike register shared by a fleet and the ticket keys rotated through
Redis, with the blocking and the asyncio clients."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio

from certs import write_pem_files
from fleet import CA, LEAF, Clock, first_session, resumes
from helpers import server_config
from openssl_peer import (
    accept,
    listener,
    requires_openssl,
    run_server,
    s_client,
    serve_ping,
)
from redis_peer import REDIS_SERVER, RedisServer, redis_server
from siotls import TLSConfiguration, TLSConnection
from siotls.stores import AsyncStrikeRegister, AsyncTicketKeySource, TicketKeySource, ask
from siotls.stores.keys import key_to_bytes
from siotls.stores.redis import (
    AsyncRedisStrikeRegister,
    AsyncRedisTicketKeySource,
    RedisStrikeRegister,
    RedisTicketKeySource,
)

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")
TIMEOUTS = {"socket_timeout": 5, "socket_connect_timeout": 5}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running


@pytest.fixture
def client(server: RedisServer) -> Iterator[redis.Redis]:
    """A client of the module's server, emptied for each test."""
    with redis.Redis.from_url(server.url, **TIMEOUTS) as c:
        c.flushdb()
        yield c


def register(client: redis.Redis, clock: Clock, **kwargs: object) -> RedisStrikeRegister:
    return RedisStrikeRegister(client, clock=clock, **kwargs)  # type: ignore[arg-type]


def started(client: redis.Redis, clock: Clock) -> Clock:
    """Make the register's start mark one window old (as if Redis had run for long)."""
    client.set(b"siotls:strike:started", repr(clock.now - 20))
    return clock


# -- the package ---------------------------------------------------------------------------

def test_the_stores_package_needs_no_redis_and_the_core_not_the_stores() -> None:
    code = ("import sys, siotls, siotls.stores\n"
            "assert 'redis' not in sys.modules, 'redis imported'\n"
            "import siotls.stores.redis\n"
            "assert 'redis' in sys.modules\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
    core = Path(__file__).resolve().parent.parent / "src" / "siotls" / "core"
    assert not [p.name for p in core.glob("*.py") if "siotls.stores" in p.read_text()]


# -- the strike register ------------------------------------------------------------------

def test_first_use_accepted_replay_refused(client: redis.Redis) -> None:
    clock = started(client, Clock(time.time()))
    strikes = register(client, clock)
    assert strikes.check_and_record(b"binder-1", 10)
    assert not strikes.check_and_record(b"binder-1", 10)
    assert strikes.check_and_record(b"binder-2", 10)
    assert (strikes.stats.accepted, strikes.stats.replayed) == (2, 1)
    assert 9000 < client.pttl(b"siotls:strike:k:binder-1") <= 10000  # SET ... NX PX


def test_replay_to_another_machine_is_refused(client: redis.Redis, server: RedisServer
                                              ) -> None:
    clock = started(client, Clock(time.time()))
    with redis.Redis.from_url(server.url, **TIMEOUTS) as other_client:
        a, b = register(client, clock), register(other_client, clock)
        assert a.check_and_record(b"hello", 10)
        assert not b.check_and_record(b"hello", 10)  # the ClientHello sent to B too
        assert b.check_and_record(b"other", 10)
        assert not a.check_and_record(b"other", 10)


def test_key_expires_in_redis(client: redis.Redis) -> None:
    clock = started(client, Clock(time.time()))
    strikes = register(client, clock)
    assert strikes.check_and_record(b"k", 0.2)
    assert not strikes.check_and_record(b"k", 0.2)
    deadline = time.monotonic() + 5
    while client.exists(b"siotls:strike:k:k") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert strikes.check_and_record(b"k", 0.2)


def test_start_rule_follows_the_redis_start_mark(client: redis.Redis) -> None:
    """The first check on an empty Redis starts its window; a server started later
    uses Redis's mark, not its own start; a Redis emptied (restarted) waits again."""
    clock = Clock(time.time())
    a = register(client, clock)
    assert a.ready()  # unknown yet: only Redis can say
    assert not a.check_and_record(b"first", 20)
    assert a.started_at == clock.now and not a.ready()
    assert a.stats.not_ready == 1
    clock.now += 20
    b = register(client, clock)  # a server started just now
    assert b.check_and_record(b"second", 20)
    assert not b.check_and_record(b"first", 20)  # recorded while not ready
    client.flushdb()  # Redis restarted without persistence: the strikes are gone
    assert not b.check_and_record(b"second", 20)
    assert b.started_at == clock.now and b.stats.not_ready == 1


def test_racing_machines_accept_a_key_once(client: redis.Redis, server: RedisServer) -> None:
    clock = started(client, Clock(time.time()))
    answers: list[bool] = []
    barrier = threading.Barrier(6)

    def machine() -> None:
        with redis.Redis.from_url(server.url, **TIMEOUTS) as own:
            strikes = register(own, clock)
            barrier.wait(timeout=10)
            answers.extend(strikes.check_and_record(b"race-%d" % n, 10) for n in range(50))

    threads = [threading.Thread(target=machine) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers.count(True) == 50 and answers.count(False) == 5 * 50


def test_redis_down_fails_closed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with redis_server(tmp_path) as own:
        c = redis.Redis.from_url(own.url, socket_timeout=2, socket_connect_timeout=2)
        clock = started(c, Clock(time.time()))
        strikes = register(c, clock)
        assert strikes.check_and_record(b"before", 10)
        assert strikes.last_error is None
        own.stop()
        with caplog.at_level("WARNING", logger="siotls.stores"):
            assert not strikes.check_and_record(b"after", 10)
            assert not strikes.check_and_record(b"again", 10)
        assert strikes.stats.unavailable == 2
        assert isinstance(strikes.last_error, redis.ConnectionError)
        assert len(caplog.records) == 1  # once per outage, not once per handshake
        assert "0-RTT refused" in caplog.records[0].getMessage()
        c.close()


def test_redis_restarted_empty_waits_a_window(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """A real restart without persistence: the strikes are gone, so is the start mark,
    and the fleet waits a window before 0-RTT again (RFC 8446 8.2)."""
    clock = Clock(time.time())
    with redis_server(tmp_path) as own:
        c = redis.Redis.from_url(own.url, socket_timeout=2, socket_connect_timeout=2)
        strikes = register(c, started(c, clock))
        assert strikes.check_and_record(b"seen", 20)
        port = own.port
    with caplog.at_level("WARNING", logger="siotls.stores"):
        assert not strikes.check_and_record(b"during", 20)  # down: refused
        with redis_server(tmp_path, port) as again:
            assert again.port == port
            assert not strikes.check_and_record(b"seen", 20)  # forgotten, but not ready
            assert strikes.started_at == clock.now and strikes.last_error is None
            clock.now += 20
            assert strikes.check_and_record(b"after", 20)
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "strike register unavailable", "strike register available again"]
    assert strikes.stats.not_ready == 1 and strikes.stats.unavailable == 1
    c.close()


def test_malformed_start_mark_fails_closed(client: redis.Redis) -> None:
    client.set(b"siotls:strike:started", b"yesterday")
    strikes = register(client, Clock(time.time()))
    assert not strikes.check_and_record(b"k", 10)
    assert strikes.stats.unavailable == 1 and isinstance(strikes.last_error, ValueError)


def test_prefix_and_client_checks(client: redis.Redis, server: RedisServer) -> None:
    clock = Clock(time.time())
    client.set(b"app1:started", repr(clock.now - 20))
    strikes = register(client, clock, prefix=b"app1:")
    assert strikes.check_and_record(b"k", 10)
    assert client.exists(b"app1:k:k")
    with redis.Redis.from_url(server.url, decode_responses=True) as text, \
            pytest.raises(ValueError, match="decode_responses"):
        RedisStrikeRegister(text)


@pytest.mark.asyncio
async def test_async_register(client: redis.Redis, server: RedisServer) -> None:
    clock = started(client, Clock(time.time()))
    async with redis.asyncio.Redis.from_url(server.url, **TIMEOUTS) as aclient:
        strikes = AsyncRedisStrikeRegister(aclient, clock=clock)
        assert isinstance(strikes, AsyncStrikeRegister)
        assert await strikes.check_and_record(b"k", 10)
        assert not await strikes.check_and_record(b"k", 10)
        assert await ask(strikes, b"k2", 10)
        assert not await ask(strikes, b"k2", 10)
        assert not register(client, clock).check_and_record(b"k", 10)  # shared with sync


@pytest.mark.asyncio
async def test_async_register_redis_down_fails_closed(tmp_path: Path) -> None:
    with redis_server(tmp_path) as own:
        aclient = redis.asyncio.Redis.from_url(own.url, socket_timeout=2,
                                               socket_connect_timeout=2)
        try:
            strikes = AsyncRedisStrikeRegister(aclient, clock=Clock(time.time() + 20))
            assert not await strikes.check_and_record(b"first", 10)  # not ready: new mark
            own.stop()
            assert not await strikes.check_and_record(b"k", 10)
            assert strikes.stats.unavailable == 1
        finally:
            await aclient.aclose()


# -- ticket keys through Redis ----------------------------------------------------------------

def test_rotation_through_redis_seen_by_two_servers(client: redis.Redis, server: RedisServer
                                                    ) -> None:
    """A ticket sealed by server A opens on server B once both refreshed; a key leaves
    the window ``keep`` rotations after it was made."""
    with redis.Redis.from_url(server.url, **TIMEOUTS) as other:
        a = RedisTicketKeySource.load(client, keep=3)
        b = RedisTicketKeySource.load(other, keep=3)
        assert isinstance(a, TicketKeySource)
        assert a.keys.keys == b.keys.keys and len(a.keys.keys) == 1  # A made it, B read it
        server_a = server_config(LEAF, ticket_keys=a.keys)
        server_b = server_config(CA.issue(), ticket_keys=b.keys)
        old = first_session(server_a)
        assert resumes(server_b, old)
        fresh = a.rotate()
        assert fresh is not None and a.keys.encryption_key() == fresh
        session = first_session(server_a)
        assert session.ticket[:16] == fresh.key_id
        assert not resumes(server_b, session)  # B has not refreshed yet: full handshake
        assert b.refresh() and not b.refresh()
        assert resumes(server_b, session) and resumes(server_b, old)
        for _ in range(2):
            b.rotate()
        assert a.refresh() and a.keys.keys == b.keys.keys and len(a.keys.keys) == 3
        assert client.llen(b"siotls:ticket-keys") == 3
        assert not resumes(server_a, old) and not resumes(server_b, old)
        assert resumes(server_a, session)  # two rotations old: still in the window


def test_rotate_older_than_rotates_once_per_period(client: redis.Redis, server: RedisServer
                                                   ) -> None:
    clock = Clock(time.time())
    with redis.Redis.from_url(server.url, **TIMEOUTS) as other:
        a = RedisTicketKeySource.load(client, clock=clock)
        b = RedisTicketKeySource.load(other, clock=clock)
        clock.now += 3600
        assert a.rotate(older_than=3600) is not None
        assert b.rotate(older_than=3600) is None  # A did it for the fleet
        assert b.keys.keys == a.keys.keys
        clock.now += 3599
        assert a.rotate(older_than=3600) is None
        clock.now += 1
        assert b.rotate(older_than=3600) is not None
        assert len(b.keys.keys) == 3


def test_malformed_or_unreachable_store_keeps_the_keys(tmp_path: Path) -> None:
    with redis_server(tmp_path) as own:
        c = redis.Redis.from_url(own.url, socket_timeout=2, socket_connect_timeout=2)
        source = RedisTicketKeySource.load(c)
        keys = source.keys.keys
        c.lpush(b"siotls:ticket-keys", b"short")
        with pytest.raises(ValueError, match="48 bytes"):
            source.refresh()
        assert source.keys.keys == keys
        own.stop()
        with pytest.raises(redis.ConnectionError):
            source.refresh()
        assert source.keys.keys == keys
        c.close()


def test_keys_stored_as_key_id_and_secret(client: redis.Redis) -> None:
    source = RedisTicketKeySource.load(client, name=b"fleet:keys", keep=2)
    assert client.lrange(b"fleet:keys", 0, -1) == [key_to_bytes(source.keys.keys[0])]
    source.rotate(keep=1)
    assert client.lrange(b"fleet:keys", 0, -1) == [key_to_bytes(source.keys.keys[0])]
    assert source.keys.keep == 1
    with pytest.raises(ValueError, match="keep"):
        source.rotate(keep=0)


@pytest.mark.asyncio
async def test_async_key_source(client: redis.Redis, server: RedisServer) -> None:
    async with redis.asyncio.Redis.from_url(server.url, **TIMEOUTS) as aclient:
        a = await AsyncRedisTicketKeySource.load(aclient)
        assert isinstance(a, AsyncTicketKeySource)
        b = RedisTicketKeySource.load(client)
        assert a.keys.keys == b.keys.keys
        fresh = await a.rotate()
        assert fresh is not None
        assert b.refresh() and b.keys.encryption_key() == fresh
        b.rotate()
        assert await a.refresh() and a.keys.keys == b.keys.keys


def s_client_round(lsock: socket.socket, port: int, config: TLSConfiguration, cafile: Path,
                   *args: str | Path) -> tuple[TLSConnection, bytes]:
    """``openssl s_client`` against a siotls server of ``config``: a line each way (the
    tickets go with the answer), closed cleanly; the server and s_client's output."""
    with s_client(port, "-CAfile", cafile, "-servername", "localhost",
                  "-verify_return_error", *args) as proc, accept(lsock) as sock:
        conn = TLSConnection(config)
        run_server(sock, conn)
        serve_ping(proc, sock, conn)
        return conn, proc.output


@requires_openssl
def test_openssl_client_resumes_on_another_machine(client: redis.Redis, server: RedisServer,
                                                   tmp_path: Path) -> None:
    """openssl s_client gets a ticket from machine A after A rotated the fleet's keys,
    and resumes with it on machine B once B refreshed from Redis."""
    cafile = write_pem_files(tmp_path, LEAF, CA)[2]
    session_file = tmp_path / "session.pem"
    with redis.Redis.from_url(server.url, **TIMEOUTS) as other, \
            listener() as (lsock_a, port_a), listener() as (lsock_b, port_b):
        a = RedisTicketKeySource.load(client)
        b = RedisTicketKeySource.load(other)
        machine_a = server_config(LEAF, ticket_keys=a.keys)
        machine_b = server_config(CA.issue(), ticket_keys=b.keys)
        a.rotate()
        first, output = s_client_round(lsock_a, port_a, machine_a, cafile,
                                       "-sess_out", session_file)
        assert b"New, TLSv1.3" in output and not first.nconfig.session_resumed
        _, output = s_client_round(lsock_b, port_b, machine_b, cafile, "-sess_in", session_file)
        assert b"New, TLSv1.3" in output  # B has not loaded A's new key yet
        assert b.refresh()
        second, output = s_client_round(lsock_b, port_b, machine_b, cafile,
                                        "-sess_in", session_file)
        assert b"Reused, TLSv1.3" in output and second.nconfig.session_resumed
