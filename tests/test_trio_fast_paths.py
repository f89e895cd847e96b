"""siotls.trio over trio's own SocketStream: the driver's two fast paths (a receive
that can only read reads at once, ``Driver.receive``; a free send lock is taken with
``acquire_nowait``, ``Driver._acquire_nowait``) and the slow paths they mirror (any other
transport; output queued; a held lock).

Either way every operation stays a checkpoint, a cancelled receive loses nothing and
a cancelled send raises before a byte left, or breaks the stream after.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
import trio
import trio.testing

from siotls.adapters import _trio
from siotls.errors import RaggedEOF
from siotls.trio import TLSStream
from test_trio_adapter import CLIENT, SERVER, handshake, memory_pair, tcp_pair

pytestmark = pytest.mark.anyio

TIMEOUT = 10


@pytest.fixture
def anyio_backend() -> str:
    return "trio"


@asynccontextmanager
async def socket_pair() -> AsyncIterator[tuple[TLSStream[Any], TLSStream[Any]]]:
    a, b = await tcp_pair()
    client = TLSStream(a, CLIENT, server_hostname="localhost")
    server = TLSStream(b, SERVER)
    await handshake(client, server)
    try:
        yield client, server
    finally:
        await client.aclose()
        await server.aclose()


class Checks:
    """Counts the driver's ``checkpoint_if_cancelled`` calls (the slow path's check)."""

    def __init__(self, stream: TLSStream[Any]) -> None:
        self.count = 0
        framework = stream._driver.framework
        original = framework.checkpoint_if_cancelled

        async def counted() -> None:
            self.count += 1
            await original()

        stream._driver.framework = replace(framework, checkpoint_if_cancelled=counted)


class CountingLock:
    """The driver's send lock, with each way of taking it counted."""

    def __init__(self, stream: TLSStream[Any]) -> None:
        self.lock = stream._driver.send_lock
        self.nowait_taken = self.nowait_refused = self.waited = 0
        stream._driver.send_lock = self  # type: ignore[assignment]

    def locked(self) -> bool:
        return self.lock.locked()

    def acquire_nowait(self) -> None:
        try:
            self.lock.acquire_nowait()
        except trio.WouldBlock:
            self.nowait_refused += 1
            raise
        self.nowait_taken += 1

    async def acquire(self) -> None:
        self.waited += 1
        await self.lock.acquire()

    def release(self) -> None:
        self.lock.release()


async def test_only_socket_streams_take_the_fast_paths() -> None:
    with trio.fail_after(TIMEOUT):
        async with socket_pair() as (client, _server):
            assert client._driver.receive_checkpoints
            assert client._driver.framework is _trio._TRIO_SOCKET
        client, _server = memory_pair()
        assert not client._driver.receive_checkpoints
        assert client._driver.framework is _trio._TRIO
        assert client._driver.framework.would_block is None


async def test_fast_receive_skips_the_check_and_is_still_a_checkpoint() -> None:
    with trio.fail_after(TIMEOUT):
        async with socket_pair() as (client, server):
            checks = Checks(server)
            await client.send_all(b"one")
            assert await server.receive_some() == b"one"  # first receive: slow path
            assert checks.count == 1
            for word in (b"two", b"three"):  # drained: fast path
                await client.send_all(word)
                with trio.testing.assert_checkpoints():
                    assert await server.receive_some() == word
            assert checks.count == 1
            await client.send_all(b"four")
            assert await server.receive_some(2) == b"fo"  # fast, max_bytes reached
            assert await server.receive_some() == b"ur"  # plaintext waiting: slow path
            assert checks.count == 2


async def test_memory_streams_take_the_slow_receive() -> None:
    with trio.fail_after(TIMEOUT):
        client, server = memory_pair()
        await handshake(client, server)
        checks = Checks(server)
        for word in (b"one", b"two"):
            await client.send_all(word)
            assert await server.receive_some() == word
        assert checks.count == 2


async def test_cancelled_fast_receive_loses_nothing() -> None:
    with trio.fail_after(TIMEOUT):
        async with socket_pair() as (client, server):
            await client.send_all(b"warm")
            assert await server.receive_some() == b"warm"
            checks = Checks(server)
            await client.send_all(b"waiting")  # sent, maybe not yet received
            with trio.CancelScope() as scope:
                scope.cancel()
                await server.receive_some()
            assert scope.cancelled_caught and checks.count == 0
            assert await server.receive_some() == b"waiting"
            with trio.move_on_after(0.2) as scope:  # cancelled while blocked
                await server.receive_some()
            assert scope.cancelled_caught
            await client.send_all(b"after")
            assert await server.receive_some() == b"after"
            assert checks.count == 0


async def test_queued_output_takes_the_slow_receive() -> None:
    """A KeyUpdate queued by the caller: the receive checks first, so a cancelled one
    sends nothing and breaks nothing; the next operation sends it."""
    with trio.fail_after(TIMEOUT):
        async with socket_pair() as (client, server):
            await client.send_all(b"warm")
            assert await server.receive_some() == b"warm"
            checks = Checks(server)
            server.connection.update_keys(request_peer_update=True)
            with trio.CancelScope() as scope:
                scope.cancel()
                await server.receive_some()
            assert scope.cancelled_caught and checks.count == 1
            await server.send_all(b"new keys")
            assert await client.receive_some() == b"new keys"
            await client.send_all(b"answered")
            assert await server.receive_some() == b"answered"


async def test_free_lock_is_taken_without_waiting_and_send_is_a_checkpoint() -> None:
    with trio.fail_after(TIMEOUT):
        async with socket_pair() as (client, server):
            lock = CountingLock(client)
            for i in range(3):
                with trio.testing.assert_checkpoints():
                    await client.send_all(b"ping %d" % i)
                assert await server.receive_some() == b"ping %d" % i
            assert (lock.nowait_taken, lock.nowait_refused, lock.waited) == (3, 0, 0)
            assert not lock.locked()


async def test_memory_streams_always_acquire() -> None:
    with trio.fail_after(TIMEOUT):
        client, server = memory_pair()
        await handshake(client, server)
        lock = CountingLock(client)
        await client.send_all(b"ping")
        assert await server.receive_some() == b"ping"
        assert (lock.nowait_taken, lock.waited) == (0, 1)


async def test_held_lock_waits_in_line() -> None:
    """The lock held elsewhere (as by a receive sending a KeyUpdate answer): the send
    waits for it, then sends its record and what was queued meanwhile, in engine order."""
    with trio.fail_after(TIMEOUT):
        async with socket_pair() as (client, server):
            lock = CountingLock(client)
            await lock.lock.acquire()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.send_all, b"second")
                await trio.testing.wait_all_tasks_blocked()
                assert lock.nowait_refused == 1 and lock.waited == 1
                client.connection.send_data(b" after")  # sealed while the sender waits
                client._driver._outgoing += client.connection.data_to_send()
                lock.lock.release()
            got = b""
            while len(got) < 12:
                got += await server.receive_some()
            assert got == b"second after"
            assert not lock.locked()


async def test_cancelled_before_the_send_sends_nothing_and_keeps_the_stream() -> None:
    with trio.fail_after(TIMEOUT):
        async with socket_pair() as (client, server):
            lock = CountingLock(client)
            with trio.CancelScope() as scope:
                scope.cancel()
                await client.send_all(b"never")
            assert scope.cancelled_caught
            assert lock.nowait_taken == 0 and not lock.locked()
            await client.send_all(b"after")
            assert await server.receive_some() == b"after"


async def test_send_cancelled_in_the_transport_releases_the_lock() -> None:
    with trio.fail_after(TIMEOUT):
        async with socket_pair() as (client, _server):
            lock = CountingLock(client)
            with trio.move_on_after(0.5) as scope:
                while True:  # until the socket buffers fill up
                    await client.send_all(b"x" * 2**16)
            assert scope.cancelled_caught
            assert lock.nowait_taken >= 1 and not lock.locked()
            with pytest.raises(trio.BrokenResourceError):
                await client.send_all(b"more")


@pytest.mark.parametrize("transport", ["socket", "memory"])
async def test_receive_sends_what_it_queued_before_returning(transport: str) -> None:
    """The receive path skips its flush only when the engine has nothing to send
    (``conn.waiting_for_peer``): a KeyUpdate answer made by a receive leaves before
    that receive returns, with no later operation to carry it."""
    with trio.fail_after(TIMEOUT):
        async with contextlib.AsyncExitStack() as stack:
            if transport == "socket":
                client, server = await stack.enter_async_context(socket_pair())
            else:
                client, server = memory_pair()
                await handshake(client, server)
            for _ in range(2):  # the second time on the fast path (socket)
                client.connection.update_keys(request_peer_update=True)
                await client.send_all(b"x")
                assert await server.receive_some() == b"x"
                raw = b""
                with trio.move_on_after(2):  # the answer is on the wire already
                    raw = await client.transport_stream.receive_some()
                    client.connection.receive_data(raw)  # it opens: the peer's KeyUpdate
                assert raw.startswith(b"\x17\x03\x03")
                assert client.connection.data_to_read() == b""


async def test_fast_receive_maps_transport_errors_and_eof() -> None:
    """The fast path's read is run()'s: a reset is BrokenResourceError and the stream
    stays broken; an EOF without close_notify is a RaggedEOF, as on the slow path."""
    with trio.fail_after(TIMEOUT):
        async with socket_pair() as (client, server):
            await client.send_all(b"warm")
            assert await server.receive_some() == b"warm"  # drained: next is fast
            checks = Checks(server)
            sock = client.transport_stream.socket
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # an RST
            with pytest.raises(trio.BrokenResourceError):
                await server.receive_some()
            assert checks.count == 0
            with pytest.raises(trio.BrokenResourceError):
                await server.send_all(b"x")
        async with socket_pair() as (client, server):
            await client.send_all(b"warm")
            assert await server.receive_some() == b"warm"
            await client.transport_stream.send_eof()  # EOF, no close_notify
            with pytest.raises(trio.BrokenResourceError) as info:
                await server.receive_some()
            assert isinstance(info.value.__cause__, RaggedEOF)
