"""siotls.anyio's send lock: the driver's fast path (a free lock taken with
``acquire_nowait``) and its slow path (a held lock: wait in line), on both anyio backends.

The fast path mirrors ``anyio.Lock(fast_acquire=True).acquire()`` minus its
``checkpoint_if_cancelled`` (``_driver.Driver._acquire_nowait``): these tests check that
both paths run, that records leave in order, that the lock is released on every
exit (a cancelled send included) and that cancellation still lands where it did.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from siotls.adapters import _anyio
from siotls.anyio import TLSStream
from test_anyio_adapter import siotls_pair

pytestmark = pytest.mark.anyio

TIMEOUT = 15


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class CountingLock:
    """The driver's send lock, with the calls to each way of taking it counted."""

    def __init__(self, lock: Any) -> None:
        self.lock = lock
        self.nowait_taken = self.nowait_refused = self.waited = 0

    def locked(self) -> bool:
        return bool(self.lock.locked())

    def acquire_nowait(self) -> None:
        try:
            self.lock.acquire_nowait()
        except anyio.WouldBlock:
            self.nowait_refused += 1
            raise
        self.nowait_taken += 1

    async def acquire(self) -> None:
        self.waited += 1
        await self.lock.acquire()

    def release(self) -> None:
        self.lock.release()

    async def __aenter__(self) -> None:  # the Protocol's; the driver does not use it
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()


def count_lock(stream: TLSStream) -> CountingLock:
    lock = CountingLock(stream._driver.send_lock)
    stream._driver.send_lock = lock
    return lock


async def receive_exactly(stream: TLSStream, size: int) -> bytes:
    got = bytearray()
    while len(got) < size:
        got += await stream.receive()
    return bytes(got)


async def test_free_lock_is_taken_without_waiting() -> None:
    with anyio.fail_after(TIMEOUT):
        async with siotls_pair() as (client, server):
            lock = count_lock(client)
            for i in range(3):
                await client.send(b"ping %d" % i)
                assert await receive_exactly(server, 6) == b"ping %d" % i
            assert (lock.nowait_taken, lock.nowait_refused, lock.waited) == (3, 0, 0)
            assert not lock.locked()


async def test_held_lock_waits_in_line_and_records_keep_their_order() -> None:
    """Three senders of 1 MiB each at once: the transport blocks the first, the others
    find the lock held (the slow path); every message arrives whole, in some order."""
    size = 2**20
    messages = [bytes([i]) * size for i in range(3)]
    with anyio.fail_after(TIMEOUT):
        async with siotls_pair() as (client, server):
            lock = count_lock(client)
            received = b""

            async def read_all() -> None:
                nonlocal received
                received = await receive_exactly(server, size * len(messages))

            async with anyio.create_task_group() as tg:
                tg.start_soon(read_all)
                async with anyio.create_task_group() as senders:
                    for message in messages:
                        senders.start_soon(client.send, message)
            assert sorted(received[i:i + size] for i in range(0, len(received), size)) == messages
            assert lock.nowait_refused >= 1 and lock.waited == lock.nowait_refused
            assert not lock.locked()


async def test_cancelled_before_the_send_sends_nothing_and_keeps_the_stream() -> None:
    with anyio.fail_after(TIMEOUT):
        async with siotls_pair() as (client, server):
            lock = count_lock(client)
            with anyio.CancelScope() as scope:
                scope.cancel()
                await client.send(b"never")
            assert scope.cancelled_caught
            assert lock.nowait_taken == 0 and not lock.locked()
            await client.send(b"after")
            assert await receive_exactly(server, 5) == b"after"


async def test_send_cancelled_in_the_transport_releases_the_lock() -> None:
    """A send cancelled while the transport is blocked (nobody reads): the stream is
    broken (a record may be lost) and the lock is free again, so the next send raises
    at once instead of waiting forever."""
    with anyio.fail_after(TIMEOUT):
        async with siotls_pair() as (client, _server):
            lock = count_lock(client)
            with anyio.move_on_after(0.5) as scope:
                while True:  # until the socket buffers fill up
                    await client.send(b"x" * 2**16)
            assert scope.cancelled_caught
            assert lock.nowait_taken >= 1 and not lock.locked()
            with pytest.raises(anyio.BrokenResourceError):
                await client.send(b"more")


# -- the checkpoints, bound to the running backend once per stream (_anyio._framework) --------

def test_framework_outside_a_loop_keeps_the_public_checkpoints() -> None:
    assert _anyio._framework() is _anyio._ANYIO


async def test_framework_binds_the_running_backends_checkpoints(anyio_backend: str) -> None:
    framework = _anyio._framework()
    assert framework is _anyio._framework()  # one per backend
    module = getattr(framework.checkpoint_if_cancelled, "__module__", "")
    assert module == f"anyio._backends._{anyio_backend}"
    assert framework.broken is anyio.BrokenResourceError


async def test_cancelled_receive_with_plaintext_waiting_keeps_it() -> None:
    """The bound checkpoint_if_cancelled is still a cancellation point: a receive in a
    cancelled scope raises and leaves the plaintext already decrypted for the next one."""
    with anyio.fail_after(TIMEOUT):
        async with siotls_pair() as (client, server):
            await client.send(b"kept")
            assert await server.receive(1) == b"k"  # the rest waits in the engine
            with anyio.CancelScope() as scope:
                scope.cancel()
                await server.receive()
            assert scope.cancelled_caught
            assert await receive_exactly(server, 3) == b"ept"
