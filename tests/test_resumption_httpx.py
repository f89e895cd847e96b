"""siotls.httpx resumes: a server that closes each connection after its response
makes httpx open a new connection per request, and from the second one on the
connection resumes with the tickets of the previous (server and client agree)."""

from __future__ import annotations

import asyncio
import os

import httpx

import siotls.adapters._httpcore
import siotls.httpx
from certs import make_ca
from helpers import client_config, server_config
from siotls import TicketKeys
from siotls import asyncio as siotls_asyncio

CA = make_ca()
SERVER = server_config(CA.issue(), ticket_keys=TicketKeys.generate(os.urandom),
                       alpn=[b"http/1.1"])
CLIENT = client_config(CA)
TIMEOUT = 10


async def requests_over_closing_connections(count: int) -> tuple[list[bool], list[bool]]:
    server_resumed: list[bool] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        info = writer.get_extra_info("ssl_object")
        server_resumed.append(info.session_reused)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    client_resumed = []
    server = await siotls_asyncio.start_server(handler, "127.0.0.1", 0, config=SERVER)
    async with server:
        port = server.sockets[0].getsockname()[1]
        transport = siotls.httpx.AsyncHTTPTransport(CLIENT)
        async with httpx.AsyncClient(transport=transport) as client:
            for _ in range(count):
                response = await client.get(f"https://localhost:{port}/")
                assert response.text == "ok"
                stream = response.extensions["network_stream"]
                client_resumed.append(
                    stream.get_extra_info("ssl_object").connection.nconfig.session_resumed)
    return client_resumed, server_resumed


def test_httpx_connections_to_one_origin_resume() -> None:
    client_resumed, server_resumed = asyncio.run(
        asyncio.wait_for(requests_over_closing_connections(4), TIMEOUT))
    assert server_resumed == [False, True, True, True]
    assert client_resumed == server_resumed


def test_backend_forgets_the_oldest_origins() -> None:
    backend = siotls.adapters._httpcore.SiotlsBackend(CLIENT)
    keep = []
    for number in range(siotls.adapters._httpcore.MAX_ORIGINS + 10):
        conn = siotls.TLSConnection(CLIENT, "localhost")
        keep.append(conn)
        backend.remember(("localhost", number), conn)
    origins = backend._origins
    assert len(origins) == siotls.adapters._httpcore.MAX_ORIGINS
    assert ("localhost", 0) not in origins and ("localhost", len(keep) - 1) in origins
