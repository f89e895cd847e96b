"""The adapters' one driver (``siotls.adapters._driver``): its feed step, and the
behaviour trio and anyio share through it (the same error mapping in both)."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.abc
import pytest
import trio
import trio.testing

from certs import make_ca
from helpers import client_config, connection_pair, handshake, server_config
from siotls import RaggedEOF
from siotls.adapters import _driver
from siotls.anyio import TLSStream as AnyioTLSStream
from siotls.trio import TLSStream as TrioTLSStream

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

CA = make_ca()
SERVER = server_config(CA.issue(("localhost",)))
CLIENT = client_config(CA)
TIMEOUT = 10


# -- the feed step ----------------------------------------------------------------------------

@pytest.mark.parametrize("ragged_eof_ok", [False, True])
def test_feed_eof_during_the_handshake_is_always_ragged(ragged_eof_ok: bool) -> None:
    client, _ = connection_pair()
    with pytest.raises(RaggedEOF, match="during the handshake"):
        _driver.feed(client, b"", eof=True, ragged_eof_ok=ragged_eof_ok)
    assert client.is_failed()


@pytest.mark.parametrize("ragged_eof_ok", [False, True])
def test_feed_eof_after_the_handshake(ragged_eof_ok: bool) -> None:
    client, server = connection_pair()
    handshake(client, server)
    server.send_data(b"last words")
    data = server.data_to_send()
    if ragged_eof_ok:
        _driver.feed(client, data, eof=True, ragged_eof_ok=True)
    else:
        with pytest.raises(RaggedEOF):
            _driver.feed(client, data, eof=True)
    assert client.data_to_read() == b"last words"  # kept either way
    assert not client.can_receive and not client.close_notify_received


def test_feed_eof_after_close_notify_is_the_normal_end() -> None:
    client, server = connection_pair()
    handshake(client, server)
    server.close_sending_end()
    _driver.feed(client, server.data_to_send() + b"plaintext after", eof=True)
    assert client.close_notify_received
    assert client.unused_data() == b"plaintext after"


# -- the same transport error mapping in trio and anyio ----------------------------------------

class TrioFlaky(trio.abc.Stream):
    """A trio stream over another, raising ``error`` once armed."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.error: OSError | None = None

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.error:
            raise self.error
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self.error:
            raise self.error
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


class AnyioFlaky(anyio.abc.ByteStream):
    """An anyio byte stream over another, raising ``error`` once armed."""

    def __init__(self, inner: anyio.abc.ByteStream) -> None:
        self.inner = inner
        self.error: OSError | None = None

    async def send(self, item: bytes) -> None:
        if self.error:
            raise self.error
        await self.inner.send(item)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if self.error:
            raise self.error
        return await self.inner.receive(max_bytes)

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def trio_pair() -> tuple[Any, Any, TrioFlaky]:
    a, b = trio.testing.memory_stream_pair()
    flaky = TrioFlaky(a)
    client = TrioTLSStream(flaky, CLIENT, server_hostname="localhost")
    server = TrioTLSStream(b, SERVER)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.do_handshake)
        nursery.start_soon(server.do_handshake)
    return client, server, flaky


async def anyio_pair() -> tuple[Any, Any, AnyioFlaky]:
    a_send, b_receive = anyio.create_memory_object_stream[bytes](100)
    b_send, a_receive = anyio.create_memory_object_stream[bytes](100)
    from anyio.streams.stapled import StapledObjectStream

    class Bytes(anyio.abc.ByteStream):
        def __init__(self, objects: StapledObjectStream[bytes]) -> None:
            self.objects = objects

        async def send(self, item: bytes) -> None:
            await self.objects.send(bytes(item))

        async def receive(self, max_bytes: int = 65536) -> bytes:
            return await self.objects.receive()

        async def send_eof(self) -> None:
            await self.objects.send_eof()

        async def aclose(self) -> None:
            await self.objects.aclose()

    flaky = AnyioFlaky(Bytes(StapledObjectStream(a_send, a_receive)))
    streams: dict[str, Any] = {}

    async def wrap(name: str, transport: anyio.abc.ByteStream, **kwargs: Any) -> None:
        streams[name] = await AnyioTLSStream.wrap(transport, **kwargs)

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: wrap("client", flaky, config=CLIENT, hostname="localhost"))
        tg.start_soon(lambda: wrap("server", Bytes(StapledObjectStream(b_send, b_receive)),
                                   config=SERVER))
    return streams["client"], streams["server"], flaky


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_trio_transport_oserror_is_broken_resource(anyio_backend: str) -> None:
    with trio.fail_after(TIMEOUT):
        client, _, flaky = await trio_pair()
        flaky.error = ConnectionResetError("reset by the test")
        with pytest.raises(trio.BrokenResourceError) as info:
            await client.receive_some()
        assert info.value.__cause__ is flaky.error
        with pytest.raises(trio.BrokenResourceError):  # and it stays broken
            await client.send_all(b"x")


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_trio_send_oserror_is_broken_resource(anyio_backend: str) -> None:
    with trio.fail_after(TIMEOUT):
        client, _, flaky = await trio_pair()
        flaky.error = BrokenPipeError("broken by the test")
        with pytest.raises(trio.BrokenResourceError) as info:
            await client.send_all(b"x")
        assert info.value.__cause__ is flaky.error


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_anyio_transport_oserror_is_broken_resource(anyio_backend: str) -> None:
    with anyio.fail_after(TIMEOUT):
        client, server, flaky = await anyio_pair()
        flaky.error = ConnectionResetError("reset by the test")
        with pytest.raises(anyio.BrokenResourceError) as info:
            await client.receive()
        assert info.value.__cause__ is flaky.error
        with pytest.raises(anyio.BrokenResourceError):  # and it stays broken
            await client.send(b"x")
        await client.aclose()
        await server.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_anyio_send_oserror_is_broken_resource(anyio_backend: str) -> None:
    with anyio.fail_after(TIMEOUT):
        client, server, flaky = await anyio_pair()
        flaky.error = BrokenPipeError("broken by the test")
        with pytest.raises(anyio.BrokenResourceError) as info:
            await client.send(b"x")
        assert info.value.__cause__ is flaky.error
        await client.aclose()
        await server.aclose()
