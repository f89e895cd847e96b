"""The driver's send operation (``Driver.send``): ``run(partial(send, conn, data))``
written out as its one turn, and the slow path it keeps, ``run`` itself, when a receive
left something to feed (here the accepted ragged EOF of a non standard-compatible
stream), on both anyio backends and trio. Errors and states are the same either way."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
import trio

from siotls.adapters import _driver
from test_adapter_driver import AnyioFlaky, anyio_pair
from test_anyio_adapter import siotls_pair
from test_trio_adapter import handshake, memory_pair

pytestmark = pytest.mark.anyio

TIMEOUT = 10


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Runs:
    """Counts the driver's ``run`` calls for a send step (the slow path)."""

    def __init__(self, driver: _driver.Driver) -> None:
        self.count = 0
        original = driver.run

        async def counted(step: Any, **kwargs: Any) -> Any:
            if getattr(step, "func", None) is _driver.send:
                self.count += 1
            return await original(step, **kwargs)

        driver.run = counted  # type: ignore[method-assign]


async def test_sends_take_the_unrolled_turn() -> None:
    with anyio.fail_after(TIMEOUT):
        async with siotls_pair() as (client, server):
            runs = Runs(client._driver)
            for word in (b"one", b"two", b""):
                await client.send(word)
            assert await server.receive() == b"onetwo"
            assert runs.count == 0


async def test_after_an_accepted_ragged_eof_the_send_runs_the_step() -> None:
    """The peer closed its transport's writing side without close_notify: accepted
    (standard_compatible=False), the EOF stays to feed, so the send goes through
    run(), which feeds it again (a no-op now) and sends."""
    with anyio.fail_after(TIMEOUT):
        async with siotls_pair(standard_compatible=False) as (client, server):
            await client.transport_stream.send_eof()  # FIN, no close_notify
            with pytest.raises(anyio.EndOfStream):
                await server.receive()
            assert server._driver._eof
            runs = Runs(server._driver)
            await server.send(b"still open")
            assert runs.count == 1
            assert await client.receive() == b"still open"


async def test_transport_error_on_the_unrolled_send_breaks_the_stream() -> None:
    with anyio.fail_after(TIMEOUT):
        client, server, flaky = await anyio_pair()
        assert isinstance(flaky, AnyioFlaky)
        flaky.error = BrokenPipeError("broken by the test")
        with pytest.raises(anyio.BrokenResourceError) as info:
            await client.send(b"x")
        assert info.value.__cause__ is flaky.error
        with pytest.raises(anyio.BrokenResourceError):  # and it stays broken
            await client.send(b"y")
        await client.aclose()
        await server.aclose()


async def test_send_after_send_eof_and_cancelled_send(anyio_backend: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with siotls_pair() as (client, server):
            with anyio.CancelScope() as scope:
                scope.cancel()
                await client.send(b"never")  # the check first: nothing sealed
            assert scope.cancelled_caught
            await client.send(b"kept")
            assert await server.receive() == b"kept"
            await client.send_eof()
            with pytest.raises(anyio.ClosedResourceError):
                await client.send(b"late")


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_trio_send_all_over_memory_streams(anyio_backend: str) -> None:
    with trio.fail_after(TIMEOUT):
        client, server = memory_pair()
        await handshake(client, server)
        runs = Runs(client._driver)
        await client.send_all(b"through the turn")
        assert await server.receive_some() == b"through the turn"
        assert runs.count == 0
