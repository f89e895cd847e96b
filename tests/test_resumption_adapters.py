"""Resumption through the asyncio, trio and anyio adapters, over 127.0.0.1: a first
connection gets the server's tickets with its answer, a second one passes the
session (``session=``) and both ends report the resumption."""

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

CA = make_ca()
SERVER = server_config(CA.issue(), ticket_keys=TicketKeys.generate(os.urandom))
CLIENT = client_config(CA)
TIMEOUT = 10


# -- asyncio --------------------------------------------------------------------------------
async def asyncio_rounds() -> list[tuple[bool, bool]]:
    server_reused: list[bool] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        writer.write(b"answer to " + line)
        await writer.drain()
        server_reused.append(writer.get_extra_info("ssl_object").session_reused)
        writer.close()

    results = []
    server = await siotls_asyncio.start_server(handler, "127.0.0.1", 0, config=SERVER)
    async with server:
        port = server.sockets[0].getsockname()[1]
        session: TLSSession | None = None
        for _ in range(2):
            reader, writer = await siotls_asyncio.open_connection(
                "127.0.0.1", port, config=CLIENT, server_hostname="localhost", session=session)
            writer.write(b"ping\n")
            assert await reader.readline() == b"answer to ping\n"
            ssl_object = writer.get_extra_info("ssl_object")
            results.append(ssl_object.session_reused)
            session = ssl_object.session
            assert session is not None
            writer.close()
            await writer.wait_closed()
    return list(zip(results, server_reused, strict=True))


def test_asyncio_resumption() -> None:
    rounds = asyncio.run(asyncio.wait_for(asyncio_rounds(), TIMEOUT))
    assert rounds == [(False, False), (True, True)]


# -- trio ----------------------------------------------------------------------------------
async def trio_rounds() -> list[tuple[bool, bool]]:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    rounds = []
    session: TLSSession | None = None
    async with listener:
        for _ in range(2):
            server_reused: list[bool] = []

            async def serve(server_reused: list[bool] = server_reused) -> None:
                stream = siotls_trio.TLSStream(await listener.accept(), SERVER)
                line = await stream.receive_some()
                await stream.send_all(b"answer to " + line)
                server_reused.append(stream.session_reused)
                await stream.aclose()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(serve)
                client = await siotls_trio.open_tls_over_tcp_stream(
                    "127.0.0.1", port, config=CLIENT, server_hostname="localhost",
                    session=session)
                await client.send_all(b"ping\n")
                assert await client.receive_some() == b"answer to ping\n"
                rounds.append((client.session_reused, server_reused))
                session = client.session
                assert session is not None
                assert await client.receive_some() == b""
                await client.aclose()
    return [(client_side, server_side[0]) for client_side, server_side in rounds]


def test_trio_resumption() -> None:
    async def main() -> list[tuple[bool, bool]]:
        with trio.fail_after(TIMEOUT):
            return await trio_rounds()

    assert trio.run(main) == [(False, False), (True, True)]


# -- anyio ---------------------------------------------------------------------------------
async def anyio_rounds() -> list[tuple[bool, bool]]:
    multi = await anyio.create_tcp_listener(local_host="127.0.0.1")
    listener = multi.listeners[0]
    assert isinstance(listener, anyio.abc.SocketListener)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    attribute = siotls_anyio.SiotlsAttribute
    rounds = []
    session: TLSSession | None = None
    async with listener:
        for _ in range(2):
            server_reused: list[bool] = []

            async def serve(server_reused: list[bool] = server_reused) -> None:
                stream = await siotls_anyio.TLSStream.wrap(await listener.accept(),
                                                           config=SERVER)
                line = await stream.receive()
                await stream.send(b"answer to " + line)
                server_reused.append(stream.extra(attribute.session_resumed))
                await stream.aclose()

            async with anyio.create_task_group() as group:
                group.start_soon(serve)
                client = await siotls_anyio.connect("127.0.0.1", port, config=CLIENT,
                                                    server_hostname="localhost",
                                                    session=session)
                await client.send(b"ping\n")
                assert await client.receive() == b"answer to ping\n"
                session = client.extra(attribute.session)
                assert session is not None
                rounds.append((client.extra(attribute.session_resumed), server_reused))
                with pytest.raises(anyio.EndOfStream):
                    await client.receive()
                await client.aclose()
    return [(client_side, server_side[0]) for client_side, server_side in rounds]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_anyio_resumption(backend: str) -> None:
    async def main() -> Any:
        with anyio.fail_after(TIMEOUT):
            return await anyio_rounds()

    assert anyio.run(main, backend=backend) == [(False, False), (True, True)]
