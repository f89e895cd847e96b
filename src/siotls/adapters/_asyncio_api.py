"""asyncio adapter, the entry points: asyncio's connection and server helpers with ``config=``.

Each mirrors its asyncio namesake with ``config=`` where asyncio takes ``ssl=``
and puts a :class:`~siotls.adapters._asyncio.TLSProtocol` (the read/write path,
in :mod:`siotls.adapters._asyncio`) on the raw transport; the client helpers
return once the handshake completed. ``start_tls`` upgrades a plain connection
(STARTTLS), a transport or a :class:`asyncio.StreamWriter`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

from siotls.adapters._asyncio import TLSProtocol, TLSTransport
from siotls.core.config import TLSConfiguration
from siotls.core.session import TLSSession

__all__ = [
    "connect_accepted_socket",
    "create_connection",
    "create_server",
    "create_unix_connection",
    "create_unix_server",
    "open_connection",
    "start_server",
    "start_tls",
]

STREAM_LIMIT = 2**16


def _default_client_config() -> TLSConfiguration:
    from siotls.trust import get_truststore  # noqa: PLC0415

    return TLSConfiguration("client", truststore=get_truststore())



async def _handshake(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None],
                     raw_transport: asyncio.BaseTransport) -> None:
    try:
        await waiter
    except BaseException:
        raw_transport.close()
        raise


def _protocol_factory(protocol_factory: Callable[[], asyncio.BaseProtocol],
                      config: TLSConfiguration, server_side: bool,
                      ssl_handshake_timeout: float | None,
                      ssl_shutdown_timeout: float | None) -> Callable[[], TLSProtocol]:
    def factory() -> TLSProtocol:
        return TLSProtocol(protocol_factory(), config, server_side=server_side,
                           ssl_handshake_timeout=ssl_handshake_timeout,
                           ssl_shutdown_timeout=ssl_shutdown_timeout)
    return factory


async def create_connection(
        protocol_factory: Callable[[], asyncio.BaseProtocol], host: str | None = None,
        port: int | None = None, *, config: TLSConfiguration | None = None,
        server_hostname: str | None = None, ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None, session: TLSSession | None = None,
        early_data: bytes | None = None,
        **kwargs: Any,
) -> tuple[TLSTransport, asyncio.BaseProtocol]:
    """``loop.create_connection`` with siotls; returns once the handshake completed.

    ``session`` resumes an earlier session (``get_extra_info('ssl_object').session``);
    ``early_data`` goes as 0-RTT data with it when its ticket allows
    (``get_extra_info('early_data_status')``; rejected data is not resent).
    """
    loop = asyncio.get_running_loop()
    config = config or _default_client_config()
    if server_hostname is None:
        server_hostname = host
    app_protocol = protocol_factory()
    waiter: asyncio.Future[None] = loop.create_future()
    raw_transport, tls = await loop.create_connection(
        lambda: TLSProtocol(app_protocol, config, server_side=False,
                            server_hostname=server_hostname, waiter=waiter,
                            ssl_handshake_timeout=ssl_handshake_timeout,
                            ssl_shutdown_timeout=ssl_shutdown_timeout, session=session,
                            early_data=early_data),
        host, port, **kwargs)  # type: ignore[arg-type]  # host/port may be None with sock=
    await _handshake(loop, waiter, raw_transport)
    return tls.app_transport, app_protocol


async def create_unix_connection(
        protocol_factory: Callable[[], asyncio.BaseProtocol], path: str | None = None, *,
        config: TLSConfiguration | None = None, server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None, ssl_shutdown_timeout: float | None = None,
        **kwargs: Any,
) -> tuple[TLSTransport, asyncio.BaseProtocol]:
    """``loop.create_unix_connection`` with siotls."""
    loop = asyncio.get_running_loop()
    config = config or _default_client_config()
    app_protocol = protocol_factory()
    waiter: asyncio.Future[None] = loop.create_future()
    raw_transport, tls = await loop.create_unix_connection(
        lambda: TLSProtocol(app_protocol, config, server_side=False,
                            server_hostname=server_hostname, waiter=waiter,
                            ssl_handshake_timeout=ssl_handshake_timeout,
                            ssl_shutdown_timeout=ssl_shutdown_timeout),
        path, **kwargs)
    await _handshake(loop, waiter, raw_transport)
    return tls.app_transport, app_protocol


async def connect_accepted_socket(
        protocol_factory: Callable[[], asyncio.BaseProtocol], sock: socket.socket, *,
        config: TLSConfiguration, ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
) -> tuple[TLSTransport, asyncio.BaseProtocol]:
    """``loop.connect_accepted_socket`` with siotls (server side)."""
    loop = asyncio.get_running_loop()
    app_protocol = protocol_factory()
    waiter: asyncio.Future[None] = loop.create_future()
    raw_transport, tls = await loop.connect_accepted_socket(
        lambda: TLSProtocol(app_protocol, config, waiter=waiter,
                            ssl_handshake_timeout=ssl_handshake_timeout,
                            ssl_shutdown_timeout=ssl_shutdown_timeout),
        sock)
    await _handshake(loop, waiter, raw_transport)
    return tls.app_transport, app_protocol


async def create_server(
        protocol_factory: Callable[[], asyncio.BaseProtocol], host: Any = None,
        port: int | None = None, *, config: TLSConfiguration,
        ssl_handshake_timeout: float | None = None, ssl_shutdown_timeout: float | None = None,
        **kwargs: Any,
) -> asyncio.Server:
    """``loop.create_server`` with siotls: each accepted connection runs a handshake."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        _protocol_factory(protocol_factory, config, True, ssl_handshake_timeout,
                          ssl_shutdown_timeout), host, port, **kwargs)


async def create_unix_server(
        protocol_factory: Callable[[], asyncio.BaseProtocol], path: str | None = None, *,
        config: TLSConfiguration, ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None, **kwargs: Any,
) -> asyncio.Server:
    """``loop.create_unix_server`` with siotls."""
    loop = asyncio.get_running_loop()
    return await loop.create_unix_server(
        _protocol_factory(protocol_factory, config, True, ssl_handshake_timeout,
                          ssl_shutdown_timeout), path, **kwargs)


async def open_connection(
        host: str | None = None, port: int | None = None, *,
        config: TLSConfiguration | None = None, server_hostname: str | None = None,
        limit: int = STREAM_LIMIT, **kwargs: Any,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """``asyncio.open_connection`` with siotls; returns once the handshake completed."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await create_connection(
        lambda: protocol, host, port, config=config, server_hostname=server_hostname, **kwargs)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


async def start_server(
        client_connected_cb: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any],
        host: Any = None, port: int | None = None, *, config: TLSConfiguration,
        limit: int = STREAM_LIMIT, **kwargs: Any,
) -> asyncio.Server:
    """``asyncio.start_server`` with siotls."""
    loop = asyncio.get_running_loop()

    def factory() -> asyncio.StreamReaderProtocol:
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        return asyncio.StreamReaderProtocol(reader, client_connected_cb, loop=loop)

    return await create_server(factory, host, port, config=config, **kwargs)


async def start_tls(
        transport: asyncio.BaseTransport | asyncio.StreamWriter, protocol: Any = None,
        config: TLSConfiguration | None = None, *, server_side: bool | None = None,
        server_hostname: str | None = None, ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
) -> TLSTransport:
    """Upgrade a plain connection to TLS (STARTTLS), like ``loop.start_tls``.

    ``transport`` is a transport (``protocol`` its protocol), or a
    :class:`asyncio.StreamWriter` (``protocol`` unused), which is upgraded
    in place as ``StreamWriter.start_tls`` does.
    """
    if config is None:
        config = _default_client_config()
    if isinstance(transport, asyncio.StreamWriter):
        writer = transport
        await writer.drain()
        # As StreamWriter.start_tls does, through the writer's private attributes.
        stream_protocol = writer._protocol  # type: ignore[attr-defined]
        new_transport = await start_tls(
            writer.transport, stream_protocol, config, server_side=server_side,
            server_hostname=server_hostname, ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout)
        writer._transport = new_transport  # type: ignore[attr-defined]
        stream_protocol._replace_writer(writer)
        return new_transport
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    tls = TLSProtocol(protocol, config, server_side=server_side,
                      server_hostname=server_hostname, waiter=waiter,
                      ssl_handshake_timeout=ssl_handshake_timeout,
                      ssl_shutdown_timeout=ssl_shutdown_timeout, call_connection_made=False)
    assert isinstance(transport, asyncio.Transport)
    transport.pause_reading()
    transport.set_protocol(tls)
    loop.call_soon(tls.connection_made, transport)
    loop.call_soon(transport.resume_reading)
    await _handshake(loop, waiter, transport)
    return tls.app_transport
