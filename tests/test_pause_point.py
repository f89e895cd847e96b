"""The pause point (RFC 8446 8, siotls.core.earlydata): a server whose strike register
is asynchronous stops after the ClientHello, exposes what it parsed, keeps the bytes
that arrive meanwhile, and goes on when the caller answers; in memory here, through
the adapters (asyncio, trio, anyio) with a real asynchronous register below."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from typing import Any

import anyio
import pytest
import trio

from certs import make_ca
from helpers import client_config, handshake, new_session, server_config
from siotls import TicketKeys, TLSConnection, TLSUsageError
from siotls import anyio as siotls_anyio
from siotls import asyncio as siotls_asyncio
from siotls import trio as siotls_trio
from siotls.compat import SSLContext
from siotls.stores import MemoryStrikeRegister

CA = make_ca()
LEAF = CA.issue()
KEYS = TicketKeys.generate(os.urandom)
TIMEOUT = 10


class AsyncRegister:
    """An asynchronous register (as Redis's) over a memory one, counting the questions."""

    def __init__(self) -> None:
        self.memory = MemoryStrikeRegister(window=20)
        self.memory.started_at -= 20
        self.window = self.memory.window
        self.started_at = self.memory.started_at
        self.asked: list[tuple[bytes, float]] = []

    def ready(self, now: float | None = None) -> bool:
        return self.memory.ready(now)

    async def check_and_record(self, key: bytes, ttl: float) -> bool:
        self.asked.append((key, ttl))
        return self.memory.check_and_record(key, ttl)


def server(register: AsyncRegister | None = None, **kwargs: Any) -> Any:
    return server_config(LEAF, ticket_keys=KEYS, max_early_data=1024,
                         strike_register=register or AsyncRegister(), alpn=[b"h2"], **kwargs)


def client() -> Any:
    return client_config(CA, alpn=[b"h2"])


SESSION = new_session(client(), server())


@pytest.mark.parametrize("answer", [True, False])
def test_pause_and_resume(answer: bool) -> None:
    register = AsyncRegister()
    c = TLSConnection(client(), "localhost", session=SESSION, early_data=b"early")
    s = TLSConnection(server(register))
    c.initiate_connection()
    s.initiate_connection()
    flight = c.data_to_send()  # ClientHello, change_cipher_spec, 0-RTT records
    cut = 5 + int.from_bytes(flight[3:5], "big") + 3
    s.receive_data(flight[:cut])  # the ClientHello and the start of the next record
    pending = s.pending_client_hello
    assert pending is not None
    assert (pending.server_name, pending.alpn, pending.early_data_offered) \
        == ("localhost", b"h2", True)
    assert pending.psk_identity == SESSION.ticket
    assert 0 < pending.replay_ttl <= 20 and len(pending.replay_key) == 32  # the binder
    assert pending.register is s.config.strike_register
    assert s.data_to_send() == b""  # nothing goes out while paused
    s.receive_data(flight[cut:])  # the rest meanwhile: kept, not read yet
    assert s.data_to_read_early() == b""
    s.resume_client_hello(early_data_ok=answer)
    assert s.pending_client_hello is None
    handshake(c, s)
    expected = "accepted" if answer else "rejected"
    assert s.nconfig.early_data == c.nconfig.early_data == expected
    assert s.data_to_read_early() == (b"early" if answer else b"")
    assert register.asked == []  # the engine never asks an asynchronous register


def test_no_pause_without_early_data_or_with_a_failed_check() -> None:
    for early, session_ in ((None, SESSION), (b"x", None)):
        c = TLSConnection(client(), "localhost", session=session_, early_data=early)
        s = TLSConnection(server())
        c.initiate_connection()
        s.initiate_connection()
        handshake(c, s)
        assert s.pending_client_hello is None
    # a ticket age far off: refused before any question
    c = TLSConnection(client_config(CA, alpn=[b"h2"], clock=lambda: SESSION.received_at + 60),
                      "localhost", session=SESSION, early_data=b"x")
    s = TLSConnection(server())
    c.initiate_connection()
    s.initiate_connection()
    s.receive_data(c.data_to_send())
    assert s.pending_client_hello is None
    handshake(c, s)
    assert s.nconfig.early_data == "rejected"


def test_resume_without_a_pause_is_a_usage_error() -> None:
    s = TLSConnection(server())
    s.initiate_connection()
    with pytest.raises(TLSUsageError):
        s.resume_client_hello(early_data_ok=True)


# -- the adapters answer the pause themselves -----------------------------------------------
ACCEPTED = ("accepted", b"early")


async def asyncio_rounds(register: AsyncRegister) -> list[tuple[str, bytes]]:
    seen: list[tuple[str, bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        seen.append((writer.get_extra_info("early_data_status"),
                     writer.get_extra_info("early_data")))
        writer.write(b"ok\n")
        await writer.drain()
        writer.close()

    srv = await siotls_asyncio.start_server(handler, "127.0.0.1", 0, config=server(register))
    async with srv:
        port = srv.sockets[0].getsockname()[1]
        for _ in range(2):
            reader, writer = await siotls_asyncio.open_connection(
                "127.0.0.1", port, config=client(), server_hostname="localhost",
                session=SESSION, early_data=b"early")
            writer.write(b"ping\n")
            assert await reader.readline() == b"ok\n"
            writer.close()
            await writer.wait_closed()
    return seen


def test_asyncio_answers_the_pause() -> None:
    register = AsyncRegister()
    rounds = asyncio.run(asyncio.wait_for(asyncio_rounds(register), TIMEOUT))
    assert rounds == [ACCEPTED, ACCEPTED]  # each ClientHello its own binder
    assert len(register.asked) == 2
    assert register.asked[0][0] != register.asked[1][0]


async def anyio_round(register: AsyncRegister) -> tuple[str, bytes]:
    multi = await anyio.create_tcp_listener(local_host="127.0.0.1")
    listener = multi.listeners[0]
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    attribute = siotls_anyio.SiotlsAttribute
    seen: list[tuple[str, bytes]] = []
    async with listener:
        async def serve() -> None:
            stream = await siotls_anyio.TLSStream.wrap(await listener.accept(),
                                                       config=server(register))
            await stream.receive()
            seen.append((stream.extra(attribute.early_data_status),
                         stream.extra(attribute.early_data)))
            await stream.send(b"ok\n")
            await stream.aclose()

        async with anyio.create_task_group() as group:
            group.start_soon(serve)
            stream = await siotls_anyio.connect("127.0.0.1", port, config=client(),
                                                server_hostname="localhost",
                                                session=SESSION, early_data=b"early")
            await stream.send(b"ping\n")
            assert await stream.receive() == b"ok\n"
            await stream.aclose()
    return seen[0]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_anyio_answers_the_pause(backend: str) -> None:
    register = AsyncRegister()

    async def main() -> tuple[str, bytes]:
        with anyio.fail_after(TIMEOUT):
            return await anyio_round(register)

    assert anyio.run(main, backend=backend) == ACCEPTED
    assert len(register.asked) == 1


def test_trio_answers_the_pause() -> None:
    register = AsyncRegister()

    async def serve_and_connect() -> tuple[str, bytes]:
        listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
        port = listener.socket.getsockname()[1]
        seen: list[tuple[str, bytes]] = []
        async with listener:
            async def serve() -> None:
                stream = siotls_trio.TLSStream(await listener.accept(), server(register))
                await stream.receive_some()
                seen.append((stream.early_data_status, stream.early_data))
                await stream.send_all(b"ok\n")
                await stream.aclose()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(serve)
                stream = await siotls_trio.open_tls_over_tcp_stream(
                    "127.0.0.1", port, config=client(), server_hostname="localhost",
                    session=SESSION, early_data=b"early")
                await stream.send_all(b"ping\n")
                assert await stream.receive_some() == b"ok\n"
                await stream.aclose()
        return seen[0]

    async def main() -> tuple[str, bytes]:
        with trio.fail_after(TIMEOUT):
            return await serve_and_connect()

    assert trio.run(main) == ACCEPTED
    assert len(register.asked) == 1


def test_compat_refuses_0rtt_with_an_asynchronous_register() -> None:
    """siotls.compat is blocking: it cannot await the register, so it refuses 0-RTT
    and the handshake goes on (rather than waiting forever)."""
    register = AsyncRegister()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    sslobj = SSLContext.from_config(server(register)).wrap_bio(
        incoming, outgoing, server_side=True)
    c = TLSConnection(client(), "localhost", session=SESSION, early_data=b"early")
    c.initiate_connection()
    for _ in range(6):
        incoming.write(c.data_to_send())
        with contextlib.suppress(ssl.SSLWantReadError):
            sslobj.do_handshake()
        if data := outgoing.read():
            c.receive_data(data)
        if c.is_post_handshake() and sslobj.connection.is_post_handshake():
            break
    incoming.write(c.data_to_send())
    sslobj.do_handshake()
    assert c.nconfig.early_data == "rejected" and c.nconfig.session_resumed
    assert register.asked == []
