"""The adapters expose the peer's chain (issue 9): asyncio's ``get_extra_info``
(``peercert``, ``ssl_object`` with ``get_verified_chain()``, ``siotls``) and
trio's ``TLSStream``, with mutual TLS, siotls on both sides over 127.0.0.1 /
in-memory trio streams."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import trio
import trio.testing

from certs import make_ca
from siotls import TLSConfiguration
from siotls import asyncio as siotls_asyncio
from siotls import trio as siotls_trio

pytestmark = pytest.mark.timeout(60)

CA = make_ca(name="siotls adapters certs CA")
LEAF = CA.issue()
CLIENT_LEAF = CA.issue(("siotls adapter client",), client=True)


def configs() -> tuple[TLSConfiguration, TLSConfiguration]:
    client = TLSConfiguration("client", truststore=CA.truststore(),
                              private_key=CLIENT_LEAF.key_der,
                              certificate_chain=CLIENT_LEAF.chain_der)
    server = TLSConfiguration("server", private_key=LEAF.key_der,
                              certificate_chain=LEAF.chain_der, truststore=CA.truststore(),
                              require_peer_authentication=True)
    return client, server


def test_asyncio_extra_info_peer_chain() -> None:
    client_config, server_config = configs()
    seen: dict[str, Any] = {}

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["peercert"] = writer.get_extra_info("peercert")
        seen["verified"] = writer.get_extra_info("ssl_object").get_verified_chain()
        seen["sent"] = writer.get_extra_info("ssl_object").get_unverified_chain()
        seen["nconfig"] = writer.get_extra_info("siotls").nconfig
        writer.write(await reader.readexactly(2))
        await writer.drain()
        writer.close()

    async def main() -> None:
        server = await siotls_asyncio.start_server(handler, "127.0.0.1", 0, config=server_config)
        async with server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await siotls_asyncio.open_connection(
                "127.0.0.1", port, config=client_config, server_hostname="localhost")
            assert writer.get_extra_info("ssl_object").get_verified_chain() == [
                LEAF.cert_der, CA.cert_der]
            writer.write(b"hi")
            assert await reader.readexactly(2) == b"hi"
            writer.close()

    asyncio.run(asyncio.wait_for(main(), 20))
    assert dict(x[0] for x in seen["peercert"]["subject"])["commonName"] == \
        "siotls adapter client"
    assert seen["verified"] == [CLIENT_LEAF.cert_der, CA.cert_der]
    assert seen["sent"] == CLIENT_LEAF.chain_der
    assert seen["nconfig"].peer_verified


def test_trio_stream_peer_chain() -> None:
    client_config, server_config = configs()

    async def main() -> None:
        left, right = trio.testing.memory_stream_pair()
        client = siotls_trio.TLSStream(left, client_config, server_hostname="localhost")
        server = siotls_trio.TLSStream(right, server_config)
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.do_handshake)
                nursery.start_soon(server.do_handshake)
        assert server.getpeercert(binary_form=True) == CLIENT_LEAF.cert_der
        assert server.get_verified_chain() == [CLIENT_LEAF.cert_der, CA.cert_der]
        assert client.get_verified_chain() == [LEAF.cert_der, CA.cert_der]
        assert client.get_unverified_chain() == LEAF.chain_der

    trio.run(main)
