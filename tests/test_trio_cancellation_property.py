"""Issue 11, fourth review: siotls.trio over trio's own SocketStream (loopback TCP),
where the driver's fast paths run (``Driver.receive`` reading at once,
``Driver.send`` with the send lock taken by ``acquire_nowait``), driven by random
sequences of sends and receives in both directions, some in an already-cancelled
scope, some cut short by a short timeout, and key updates in between.

Cancellation semantics: a cancelled receive loses nothing; a send cancelled
before it started raises ``trio.Cancelled`` with nothing sent and the stream
intact. At the end, each side reads exactly what the other's completed sends
sent, in order.
"""

from __future__ import annotations

from typing import Any

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siotls.trio import TLSStream
from test_trio_adapter import CLIENT, SERVER, handshake, tcp_pair

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

OP = st.one_of(
    st.tuples(st.just("send"), st.integers(1, 40_000), st.sampled_from(["", "", "pre"])),
    st.tuples(st.just("recv"), st.integers(1, 70_000), st.sampled_from(["", "pre", "short"])),
    st.tuples(st.just("update"), st.just(0), st.just("")),
)


async def _scenario(ops: list[tuple[bool, tuple[str, int, str]]]) -> None:
    a, b = await tcp_pair()
    client = TLSStream(a, CLIENT, server_hostname="localhost")
    server = TLSStream(b, SERVER)
    with trio.fail_after(20):
        await handshake(client, server)
        streams: dict[bool, TLSStream[Any]] = {True: client, False: server}
        sent = {True: bytearray(), False: bytearray()}
        got = {True: bytearray(), False: bytearray()}
        counter = 0
        for from_client, (op, size, mode) in ops:
            me = streams[from_client]
            if op == "send":
                if len(sent[from_client]) - len(got[not from_client]) + size > 100_000:
                    continue  # unread bytes stay well within the loopback's buffers
                counter += 1
                data = bytes((counter % 256,)) * size
                with trio.CancelScope() as scope:
                    if mode == "pre":
                        scope.cancel()
                    await me.send_all(data)
                if scope.cancelled_caught:
                    assert mode == "pre"
                else:
                    sent[from_client] += data
            elif op == "recv":
                outstanding = len(sent[not from_client]) - len(got[from_client])
                if outstanding <= 0 and mode != "short":
                    continue  # it would wait forever
                with trio.CancelScope() as scope:
                    if mode == "pre":
                        scope.cancel()
                    elif mode == "short":
                        scope.deadline = trio.current_time() + 0.005
                    got[from_client] += await me.receive_some(size)
            else:
                me.connection.update_keys(request_peer_update=True)
        # the end: each side reads what the other sent, then both close
        for key in (True, False):
            while len(got[key]) < len(sent[not key]):
                got[key] += await streams[key].receive_some()
            assert bytes(got[key]) == bytes(sent[not key])
        await client.aclose()
        await server.aclose()


@SETTINGS
@given(st.lists(st.tuples(st.booleans(), OP), min_size=1, max_size=12))
def test_cancelled_operations_lose_nothing(ops: list[tuple[bool, tuple[str, int, str]]]
                                           ) -> None:
    trio.run(_scenario, ops)
