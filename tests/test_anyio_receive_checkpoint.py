"""siotls.anyio's receive: the driver's fast path (``Driver.receive``), where the
transport's receive is the cancellation point instead of a ``checkpoint_if_cancelled``
first, and the slow path it mirrors, on both anyio backends.

Either way a cancelled receive raises before it consumes or sends a byte: these tests
cancel each path and check that nothing was lost and the stream still works.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import anyio
import anyio.abc
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.stapled import StapledByteStream

from siotls.adapters import _anyio
from siotls.anyio import TLSStream
from test_anyio_adapter import siotls_pair, tcp_pair

pytestmark = pytest.mark.anyio

TIMEOUT = 15


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Checks:
    """Counts the driver's ``checkpoint_if_cancelled`` calls (the slow path's check)."""

    def __init__(self, stream: TLSStream) -> None:
        self.count = 0
        framework = stream._driver.framework
        original = framework.checkpoint_if_cancelled

        async def counted() -> None:
            self.count += 1
            await original()

        stream._driver.framework = replace(framework, checkpoint_if_cancelled=counted)


async def test_socket_streams_take_the_fast_path() -> None:
    with anyio.fail_after(TIMEOUT):
        async with siotls_pair() as (client, server):
            assert server._driver.receive_checkpoints
            checks = Checks(server)
            await client.send(b"one")
            assert await server.receive() == b"one"  # first receive: slow path
            assert checks.count == 1
            for word in (b"two", b"three"):  # drained: fast path
                await client.send(word)
                assert await server.receive() == word
            assert checks.count == 1
            await client.send(b"four")
            assert await server.receive(2) == b"fo"  # fast path, max_bytes reached
            assert await server.receive() == b"ur"  # maybe more waiting: slow path
            assert checks.count == 2


async def test_cancelled_fast_receive_loses_nothing() -> None:
    with anyio.fail_after(TIMEOUT):
        async with siotls_pair() as (client, server):
            await client.send(b"warm")
            assert await server.receive() == b"warm"
            checks = Checks(server)
            await client.send(b"waiting")  # sent, maybe not yet received
            with anyio.CancelScope() as scope:
                scope.cancel()
                await server.receive()
            assert scope.cancelled_caught and checks.count == 0
            assert await server.receive() == b"waiting"
            with anyio.move_on_after(0.2) as scope:  # cancelled while blocked
                await server.receive()
            assert scope.cancelled_caught
            await client.send(b"after")
            assert await server.receive() == b"after"
            assert checks.count == 0


async def test_queued_output_takes_the_slow_path() -> None:
    """A KeyUpdate queued by the caller: the receive checks first, so a cancelled one
    sends nothing and breaks nothing; the next operation sends it."""
    with anyio.fail_after(TIMEOUT):
        async with siotls_pair() as (client, server):
            await client.send(b"warm")
            assert await server.receive() == b"warm"
            checks = Checks(server)
            server.connection.update_keys(request_peer_update=True)
            with anyio.CancelScope() as scope:
                scope.cancel()
                await server.receive()
            assert scope.cancelled_caught and checks.count == 1
            await server.send(b"new keys")
            assert await client.receive() == b"new keys"
            await client.send(b"answered")
            assert await server.receive() == b"answered"


async def test_other_transports_take_the_slow_path() -> None:
    async with tcp_pair() as (a, b):
        assert _anyio._receive_checkpoints(a)
        assert not _anyio._receive_checkpoints(StapledByteStream(a, b))
        buffered: Any = BufferedByteReceiveStream(b)
        assert not _anyio._receive_checkpoints(buffered)

        class Custom(anyio.abc.SocketStream):  # the caller's own: not trusted to checkpoint
            receive = send = send_eof = aclose = None  # type: ignore[assignment]

        assert not _anyio._receive_checkpoints(Custom())
