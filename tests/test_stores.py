"""siotls.stores without Redis: the in-memory strike register (RFC 8446 8.1-8.3) and the
ticket keys kept in sync from a key file (test_stores_redis.py has the Redis forms)."""

from __future__ import annotations

import os
import stat
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from fleet import CA, LEAF, T0, Clock, first_session, resumes
from helpers import client_config, server_config
from siotls import TicketKeys, TLSConnection, TLSUsageError
from siotls.core import psk
from siotls.core.messages import parse_client_hello
from siotls.iana import ExtensionType
from siotls.stores import (
    KeyFileSource,
    MemoryStrikeRegister,
    StrikeRegister,
    TicketKeySource,
    ask,
)
from siotls.stores.strikes import DEFAULT_WINDOW, MEMORY_BYTES_PER_ENTRY
from siotls.tickets import read_key_file, rotate_key_file


def ready_register(**kwargs: float) -> tuple[MemoryStrikeRegister, Clock]:
    """A register one window old: 0-RTT can be accepted."""
    clock = Clock()
    register = MemoryStrikeRegister(clock=clock, **kwargs)  # type: ignore[arg-type]
    clock.now += register.window
    return register, clock


# -- the strike register in memory -------------------------------------------------------

def test_first_use_accepted_replay_refused() -> None:
    register, _ = ready_register()
    assert isinstance(register, StrikeRegister)
    assert register.check_and_record(b"binder-1", 10) is True
    assert register.check_and_record(b"binder-1", 10) is False
    assert register.check_and_record(b"binder-2", 10) is True
    assert (register.stats.accepted, register.stats.replayed) == (2, 1)


def test_key_expires_after_its_ttl_and_not_before() -> None:
    register, clock = ready_register()
    assert register.check_and_record(b"k", 5)
    clock.now += 4.999
    assert not register.check_and_record(b"k", 5)
    clock.now += 0.001
    assert register.check_and_record(b"k", 5)  # out of its window: new again
    assert len(register) == 1


def test_no_zero_rtt_while_the_window_overlaps_the_start() -> None:
    """RFC 8446 8.2: a fresh register cannot know what was sent before it started."""
    clock = Clock()
    register = MemoryStrikeRegister(window=20, clock=clock)
    assert register.started_at == T0
    assert not register.ready()
    assert not register.check_and_record(b"early", 20)
    assert register.stats.not_ready == 1
    clock.now += 19.9
    assert not register.ready() and register.ready(T0 + 20)
    assert not register.check_and_record(b"later", 1)
    clock.now = T0 + 20
    assert register.ready()
    assert register.check_and_record(b"now", 1)
    # a key seen while not ready was recorded all the same: its replay is a replay
    register2 = MemoryStrikeRegister(window=20, clock=clock)
    assert not register2.check_and_record(b"x", 20)
    clock.now += 20 - 1e-3
    assert not register2.check_and_record(b"x", 20)
    assert register2.stats.replayed == 1


def test_full_register_fails_closed_and_forgets_nothing() -> None:
    register, clock = ready_register(max_entries=3)
    for key in (b"a", b"b", b"c"):
        assert register.check_and_record(key, 10)
    assert not register.check_and_record(b"d", 10)  # full: 0-RTT refused
    assert register.stats.unavailable == 1
    for key in (b"a", b"b", b"c", b"d"):  # the recorded keys are still replays
        assert not register.check_and_record(key, 10)
    assert register.stats.unavailable == 2  # d: refused again, still not recorded
    clock.now += 10
    assert register.check_and_record(b"d", 10)  # expired entries made room
    assert len(register) == 1


def test_entries_expire_in_ttl_order_not_insertion_order() -> None:
    register, clock = ready_register(max_entries=2)
    assert register.check_and_record(b"long", 20)
    assert register.check_and_record(b"short", 1)
    clock.now += 1
    assert register.check_and_record(b"new", 5)  # "short" made room, "long" stays
    assert not register.check_and_record(b"long", 20)


@pytest.mark.parametrize(("key", "ttl"), [
    (b"", 1.0), (bytes(256), 1.0), ("text", 1.0), (b"k", DEFAULT_WINDOW + 1),
    (b"k", float("nan")),
])
def test_misuse_is_a_usage_error(key: bytes, ttl: float) -> None:
    register, _ = ready_register()
    with pytest.raises(TLSUsageError):
        register.check_and_record(key, ttl)
    assert len(register) == 0


def test_nothing_left_of_the_window_refuses_without_recording() -> None:
    register, _ = ready_register()
    assert not register.check_and_record(b"k", 0)
    assert not register.check_and_record(b"k", -3)
    assert len(register) == 0
    assert register.check_and_record(b"k", 1)


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="window"):
        MemoryStrikeRegister(window=0)
    with pytest.raises(ValueError, match="max_entries"):
        MemoryStrikeRegister(max_entries=0)


@pytest.mark.asyncio
async def test_an_async_adapter_asks_a_memory_register() -> None:
    register, _ = ready_register()
    assert await ask(register, b"k", 10)
    assert not await ask(register, b"k", 10)


def test_threads_racing_on_one_key_accept_it_once() -> None:
    register, _ = ready_register()
    barrier = threading.Barrier(8)
    answers: list[bool] = []

    def worker() -> None:
        barrier.wait(timeout=10)
        for n in range(200):
            answers.append(register.check_and_record(b"shared-%d" % n, 10))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert answers.count(True) == 200 and answers.count(False) == 7 * 200


def test_documented_memory_per_entry_holds() -> None:
    """MEMORY_BYTES_PER_ENTRY is what the docs promise: 32-byte keys (a SHA-256 binder)."""
    register, _ = ready_register(max_entries=20_000)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(20_000):
            register.check_and_record(os.urandom(32), 10)  # the key counts: it is kept
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(register) == 20_000
    assert used / 20_000 <= MEMORY_BYTES_PER_ENTRY


def test_the_binder_of_a_real_client_hello_as_the_key() -> None:
    """What the engine will record (8.2): the binder of the first identity. A replayed
    ClientHello carries the same binder; a new ClientHello with the same ticket does not."""
    session = first_session(server_config(LEAF, ticket_keys=TicketKeys.generate(os.urandom)))

    def binder(hello: bytes) -> bytes:
        ch = parse_client_hello(hello[9:])
        _, binders = psk.decode_offered_psks(ch.extensions[ExtensionType.PRE_SHARED_KEY])
        return bytes(binders[0])

    hellos = []
    for _ in range(2):
        c = TLSConnection(client_config(CA), "localhost", session=session)
        c.initiate_connection()
        hellos.append(c.data_to_send())
    register, _ = ready_register()
    assert register.check_and_record(binder(hellos[0]), 10)
    assert not register.check_and_record(binder(hellos[0]), 10)  # the replay
    assert register.check_and_record(binder(hellos[1]), 10)  # the client's next connection


# -- ticket keys from a key file ----------------------------------------------------------

def test_key_file_source_creates_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    source = KeyFileSource(path)
    assert isinstance(source, TicketKeySource)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(source.keys.keys) == read_key_file(path)
    assert not source.refresh()  # unchanged: not even re-read
    with pytest.raises(FileNotFoundError):
        KeyFileSource(tmp_path / "missing", create=False)


def test_two_servers_follow_one_key_file(tmp_path: Path) -> None:
    """A rotates the file, B notices (mtime/inode) and opens A's new tickets; after keep
    rotations the oldest key has left both."""
    path = tmp_path / "keys"
    a, b = KeyFileSource(path, keep=2), KeyFileSource(path, keep=2)
    server_a = server_config(LEAF, ticket_keys=a.keys)
    server_b = server_config(CA.issue(), ticket_keys=b.keys)
    old = first_session(server_a)
    new_key = a.rotate()
    assert a.keys.encryption_key() == new_key
    assert b.keys.encryption_key() != new_key
    assert b.refresh() and b.keys.encryption_key() == new_key
    assert not b.refresh()
    session = first_session(server_a)
    assert session.ticket[:16] == new_key.key_id
    assert resumes(server_b, session) and resumes(server_b, old)
    rotate_key_file(path, keep=2)  # the command line, say: both servers reload
    assert a.refresh() and b.refresh()
    assert len(b.keys.keys) == 2
    assert not resumes(server_b, old)  # its key left the file
    assert resumes(server_b, session)


def test_key_file_rewritten_in_place_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    source = KeyFileSource(path)
    first = source.keys.keys
    other = KeyFileSource(tmp_path / "other")
    before = path.stat()
    content = (tmp_path / "other").read_bytes()
    path.write_bytes(content)  # same inode, same size: only the mtime tells
    deadline = time.monotonic() + 5
    while path.stat().st_mtime_ns == before.st_mtime_ns and time.monotonic() < deadline:
        time.sleep(0.01)  # a file system with coarse timestamps: write again, later
        path.write_bytes(content)
    assert path.stat().st_ino == before.st_ino and path.stat().st_size == before.st_size
    assert source.refresh()
    assert source.keys.keys == other.keys.keys != first


def test_malformed_key_file_keeps_the_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    source = KeyFileSource(path)
    keys = source.keys.keys
    path.write_text("not a key\n")
    with pytest.raises(ValueError, match="line 1"):
        source.refresh()
    assert source.keys.keys == keys
    path.unlink()
    with pytest.raises(FileNotFoundError):
        source.refresh()
    assert source.keys.keys == keys
