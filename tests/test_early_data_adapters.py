"""0-RTT and the tls-exporter channel binding (RFC 9266) through the asyncio, trio and
anyio adapters, over 127.0.0.1: a first connection gets a ticket allowing early data,
a second one sends ``early_data=`` with the session; the server sees the early data
marked as such (apart from the 1-RTT data), and both ends derive the same binding."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import anyio
import anyio.abc
import pytest
import trio

from certs import make_ca
from helpers import client_config, server_config
from siotls import TicketKeys, TLSSession
from siotls import anyio as siotls_anyio
from siotls import asyncio as siotls_asyncio
from siotls import trio as siotls_trio
from siotls.stores import MemoryStrikeRegister

CA = make_ca()
CLIENT = client_config(CA)
TIMEOUT = 10
EARLY = b"GET /early"
#: (client status, server status, early data the server saw, 1-RTT line, bindings equal)
Round = tuple[str, str, bytes, bytes, bool]
EXPECTED = [("not sent", "not sent", b"", b"ping\n", True),
            ("accepted", "accepted", EARLY, b"ping\n", True)]


def same_binding(ours: bytes | None, theirs: bytes | None) -> bool:
    return ours is not None and len(ours) == 32 and ours == theirs


def server() -> Any:
    register = MemoryStrikeRegister(window=20)
    register.started_at -= 20  # past the start rule (tested in test_early_data.py)
    return server_config(CA.issue(), ticket_keys=TicketKeys.generate(os.urandom),
                         max_early_data=1024, strike_register=register)


# -- asyncio --------------------------------------------------------------------------------
async def asyncio_rounds() -> list[Round]:
    seen: list[tuple[str, bytes, bytes, bytes | None]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        seen.append((writer.get_extra_info("early_data_status"),
                     writer.get_extra_info("early_data"), line,
                     writer.get_extra_info("channel_binding")))
        writer.write(b"answer\n")
        await writer.drain()
        writer.close()

    rounds: list[Round] = []
    srv = await siotls_asyncio.start_server(handler, "127.0.0.1", 0, config=server())
    async with srv:
        port = srv.sockets[0].getsockname()[1]
        session: TLSSession | None = None
        for _ in range(2):
            reader, writer = await siotls_asyncio.open_connection(
                "127.0.0.1", port, config=CLIENT, server_hostname="localhost",
                session=session, early_data=EARLY if session else None)
            writer.write(b"ping\n")
            assert await reader.readline() == b"answer\n"
            status, early, line, binding = seen[-1]
            rounds.append((writer.get_extra_info("early_data_status"), status, early, line,
                           same_binding(binding, writer.get_extra_info("channel_binding"))))
            session = writer.get_extra_info("ssl_object").session
            writer.close()
            await writer.wait_closed()
    return rounds


def test_asyncio_early_data() -> None:
    assert asyncio.run(asyncio.wait_for(asyncio_rounds(), TIMEOUT)) == EXPECTED


# -- trio ----------------------------------------------------------------------------------
async def trio_rounds() -> list[Round]:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    config = server()
    rounds: list[Round] = []
    session: TLSSession | None = None
    async with listener:
        for _ in range(2):
            seen: list[Any] = []

            async def serve(seen: list[Any] = seen) -> None:
                stream = siotls_trio.TLSStream(await listener.accept(), config)
                line = await stream.receive_some()
                seen.extend((stream.early_data_status, stream.early_data, line,
                             stream.get_channel_binding()))
                await stream.send_all(b"answer\n")
                await stream.aclose()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(serve)
                client = await siotls_trio.open_tls_over_tcp_stream(
                    "127.0.0.1", port, config=CLIENT, server_hostname="localhost",
                    session=session, early_data=EARLY if session else None)
                await client.send_all(b"ping\n")
                assert await client.receive_some() == b"answer\n"
                session = client.session
                assert await client.receive_some() == b""
                binding = client.get_channel_binding("tls-exporter")
                await client.aclose()
            rounds.append((client.early_data_status, *seen[:3], same_binding(seen[3], binding)))
    return rounds


def test_trio_early_data() -> None:
    async def main() -> list[Round]:
        with trio.fail_after(TIMEOUT):
            return await trio_rounds()

    assert trio.run(main) == EXPECTED


# -- anyio ---------------------------------------------------------------------------------
async def anyio_rounds() -> list[Round]:
    multi = await anyio.create_tcp_listener(local_host="127.0.0.1")
    listener = multi.listeners[0]
    assert isinstance(listener, anyio.abc.SocketListener)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    attribute = siotls_anyio.SiotlsAttribute
    config = server()
    rounds: list[Round] = []
    session: TLSSession | None = None
    async with listener:
        for _ in range(2):
            seen: list[Any] = []

            async def serve(seen: list[Any] = seen) -> None:
                stream = await siotls_anyio.TLSStream.wrap(await listener.accept(),
                                                           config=config)
                line = await stream.receive()
                seen.extend((stream.extra(attribute.early_data_status),
                             stream.extra(attribute.early_data), line,
                             stream.extra(attribute.channel_binding)))
                await stream.send(b"answer\n")
                await stream.aclose()

            async with anyio.create_task_group() as group:
                group.start_soon(serve)
                client = await siotls_anyio.connect(
                    "127.0.0.1", port, config=CLIENT, server_hostname="localhost",
                    session=session, early_data=EARLY if session else None)
                await client.send(b"ping\n")
                assert await client.receive() == b"answer\n"
                session = client.extra(attribute.session)
                with pytest.raises(anyio.EndOfStream):
                    await client.receive()
                binding = client.extra(attribute.channel_binding)
                await client.aclose()
            rounds.append((client.extra(attribute.early_data_status), *seen[:3],
                           same_binding(seen[3], binding)))
    return rounds


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_anyio_early_data(backend: str) -> None:
    async def main() -> Any:
        with anyio.fail_after(TIMEOUT):
            return await anyio_rounds()

    assert anyio.run(main, backend=backend) == EXPECTED
