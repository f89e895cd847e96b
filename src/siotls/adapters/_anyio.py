"""anyio adapter: :class:`TLSStream`, a drop-in for ``anyio.streams.tls.TLSStream``.

Theory of operation
-------------------
:meth:`TLSStream.wrap` builds a :class:`~siotls.TLSConnection` over any anyio
byte stream and runs the handshake before it returns, as anyio's own
``TLSStream.wrap`` does. Every operation then goes through the adapters' one
driver, :class:`siotls.adapters._driver.Driver`: its docstring states the
invariant, the send lock (an ``anyio.Lock``, fair), the error mapping and the
states. What is anyio's own, here:

* a close_notify is ``EndOfStream`` (anyio's streams raise it instead of
  returning ``b''``; the driver takes the transport's as its EOF);
* ``standard_compatible`` is the ragged-EOF flag, the opposite of the driver's
  ``ragged_eof_ok``: when true (the default), ``aclose`` sends close_notify and
  an EOF without one is ``BrokenResourceError``; when false (HTTPS peers), no
  close_notify is sent and such an EOF is ``EndOfStream``. During the
  handshake, run by ``wrap``, an EOF is always an error;
* anyio's streams have no conflict detection: concurrent receives are the
  caller's business (the send side is serialized by the driver's lock);
* unlike anyio's own stream, ``send_eof`` works (TLS 1.3 half-close) and
  ``aclose`` does not wait for the peer's close_notify;
* :class:`TLSListener` forwards the wrapped listener's typed attributes
  (``SocketAttribute.local_port`` and the rest) beside the TLS ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial, wraps
from ipaddress import IPv4Address, IPv6Address
from socket import AddressFamily
from typing import Any, Literal

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.abc import AnyByteStream
from anyio.streams.tls import TLSAttribute

from siotls.adapters import _driver, _info
from siotls.core.config import TLSConfiguration
from siotls.core.connection import TLSConnection
from siotls.core.session import TLSSession

__all__ = [
    "SiotlsAttribute",
    "TLSListener",
    "TLSStream",
    "connect",
    "create_tls_listener",
]

logger = logging.getLogger("siotls.anyio")

#: The send lock takes no trip through the event loop when it is free
#: (``fast_acquire``; the driver even takes it with ``acquire_nowait``, ``would_block``):
#: Driver.run still checkpoints once per operation.
_ANYIO = _driver.Framework(
    broken=anyio.BrokenResourceError, closed=anyio.ClosedResourceError,
    lock=partial(anyio.Lock, fast_acquire=True),
    checkpoint_if_cancelled=anyio.lowlevel.checkpoint_if_cancelled,
    cancel_shielded_checkpoint=anyio.lowlevel.cancel_shielded_checkpoint,
    end_of_stream=(anyio.EndOfStream,), would_block=anyio.WouldBlock)


def _framework() -> _driver.Framework:
    """:data:`_ANYIO` with the running backend's checkpoints bound directly.

    ``anyio.lowlevel.checkpoint_if_cancelled()`` is ``await get_async_backend()
    .checkpoint_if_cancelled()``: the backend is looked up (sniffio, a dict) at every
    call, twice per echo and side. It is looked up once here, per stream; the same
    functions run. Outside an event loop, or should anyio's internals move, the
    public functions are kept.
    """
    try:
        from anyio._core._eventloop import get_async_backend  # noqa: PLC0415

        backend = get_async_backend()
    except Exception:  # noqa: BLE001 (no loop running, or anyio changed: the public path)
        return _ANYIO
    framework = _BOUND.get(backend)
    if framework is None:
        framework = _BOUND[backend] = replace(
            _ANYIO, checkpoint_if_cancelled=backend.checkpoint_if_cancelled,
            cancel_shielded_checkpoint=backend.cancel_shielded_checkpoint)
    return framework


_BOUND: dict[type, _driver.Framework] = {}  # one per anyio backend (asyncio, trio)


def _receive_checkpoints(transport: AnyByteStream) -> bool:
    """Whether ``transport.receive()`` is a cancellation point that takes nothing when
    it raises (:meth:`_driver.Driver.receive`'s fast path): anyio's own socket streams,
    TCP and UNIX, whose ``receive`` checkpoints (asyncio) or awaits trio's ``recv``
    (trio) before it takes a byte. Any other stream (buffered, stapled, memory, the
    caller's) may return without one: the driver checks first."""
    return (isinstance(transport, anyio.abc.SocketStream)
            and type(transport).__module__ in _ANYIO_BACKENDS)


_ANYIO_BACKENDS = frozenset({"anyio._backends._asyncio", "anyio._backends._trio"})


class SiotlsAttribute(anyio.TypedAttributeSet):
    """siotls's own typed attributes, next to anyio's ``TLSAttribute`` ones."""

    #: the :class:`~siotls.TLSConnection`
    connection: TLSConnection = anyio.typed_attribute()
    #: the TLS exporter (RFC 8446 7.5): ``exporter(label, context, length) -> bytes``
    exporter: Callable[[bytes, bytes, int], bytes] = anyio.typed_attribute()
    #: whether the session was resumed (``wrap(..., session=...)`` accepted by the server)
    session_resumed: bool = anyio.typed_attribute()
    #: the newest :class:`~siotls.TLSSession` received (clients), to resume a later connection
    session: TLSSession | None = anyio.typed_attribute()
    #: the tls-exporter channel binding (RFC 9266): 32 bytes
    channel_binding: bytes | None = anyio.typed_attribute()
    #: the 0-RTT data received (servers); it may be a replay (RFC 8470: answer 425)
    early_data: bytes = anyio.typed_attribute()
    #: 0-RTT: ``'accepted'``, ``'rejected'`` or ``'not sent'``
    early_data_status: str = anyio.typed_attribute()


class TLSStream(anyio.abc.ByteStream):
    """TLS 1.3 over an anyio byte stream. Build it with :meth:`wrap`."""

    def __init__(self, transport_stream: AnyByteStream, connection: TLSConnection, *,
                 standard_compatible: bool = True) -> None:
        self.transport_stream = transport_stream
        self.standard_compatible = standard_compatible
        self.connection = connection
        self._info = _info.SSLObjectInfo(connection, connection.config.side == "server")
        self._driver = _driver.Driver(
            _framework(), connection, receive=transport_stream.receive, send=transport_stream.send,
            ragged_eof_ok=not standard_compatible,
            receive_checkpoints=_receive_checkpoints(transport_stream))

    @classmethod
    async def wrap(cls, transport_stream: AnyByteStream, *, config: TLSConfiguration,
                   server_side: bool | None = None, hostname: str | None = None,
                   standard_compatible: bool = True, session: TLSSession | None = None,
                   early_data: bytes | None = None) -> TLSStream:
        """Wrap ``transport_stream`` and run the handshake.

        :param config: a client or server :class:`~siotls.TLSConfiguration`.
        :param server_side: defaults to ``config.side == 'server'`` (must agree with it).
        :param hostname: the server's name (client only): sent as SNI and checked
            against its certificate.
        :param standard_compatible: send close_notify on ``aclose``, and treat an
            EOF without one as an error; ``False`` for HTTPS-style peers.
        :param session: a :class:`~siotls.TLSSession` to resume (client only).
        :param early_data: bytes to send as 0-RTT data with ``session`` when its ticket
            allows it (client only); see ``SiotlsAttribute.early_data_status``.
        :raises anyio.BrokenResourceError: the handshake failed (see ``__cause__``).
        """
        if server_side is not None and server_side != (config.side == "server"):
            raise ValueError(f"server_side={server_side} but config.side={config.side!r}")
        if hostname is not None and config.side == "server":
            raise ValueError("hostname is for clients")
        connection = TLSConnection(config, server_hostname=hostname, session=session,
                                   early_data=early_data)
        connection.initiate_connection()
        stream = cls(transport_stream, connection, standard_compatible=standard_compatible)
        await stream._driver.run(partial(_driver.handshake, stream.connection))
        return stream

    # -- anyio.abc.ByteStream -------------------------------------------------------------
    async def receive(self, max_bytes: int = 65536) -> bytes:
        if max_bytes < 1:
            raise ValueError("max_bytes must be a positive integer")
        data = await self._driver.receive(max_bytes)
        if not data:
            raise anyio.EndOfStream
        return data

    async def send(self, item: bytes) -> None:
        self._driver.check()
        if not self.connection.can_send:
            raise anyio.ClosedResourceError("send_eof() was called on this stream")
        await self._driver.send(item)

    async def send_eof(self) -> None:
        """Send close_notify: the peer reads EOF, and we can still receive (TLS 1.3)."""
        await self._driver.run(partial(_driver.send_eof, self.connection))

    async def unwrap(self) -> tuple[AnyByteStream, bytes]:
        """Send close_notify, wait for the peer's, and hand back the transport.

        :return: ``(transport_stream, trailing_bytes)``, the bytes that followed the
            peer's close_notify. This stream is closed; the transport is not.
        """
        await self._driver.run(partial(_driver.unwrap, self.connection))
        self._driver.close()
        return self.transport_stream, self.connection.unused_data()

    async def aclose(self) -> None:
        """Send close_notify (if ``standard_compatible``) and close the transport,
        without waiting for the peer's close_notify."""
        transport = self.transport_stream
        await self._driver.aclose(
            close_notify=self.standard_compatible, aclose_transport=transport.aclose,
            aclose_forcefully=partial(anyio.aclose_forcefully, transport))

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        info, conn = self._info, self.connection
        return {
            **self.transport_stream.extra_attributes,
            TLSAttribute.alpn_protocol: info.selected_alpn_protocol,
            TLSAttribute.cipher: info.cipher,
            TLSAttribute.peer_certificate: lambda: info.getpeercert(False),
            TLSAttribute.peer_certificate_binary: lambda: info.getpeercert(True),
            TLSAttribute.server_side: lambda: info.server_side,
            TLSAttribute.shared_ciphers: (
                lambda: info.shared_ciphers() if info.server_side else None),
            TLSAttribute.ssl_object: lambda: info,
            TLSAttribute.standard_compatible: lambda: self.standard_compatible,
            TLSAttribute.tls_version: info.version,
            SiotlsAttribute.connection: lambda: conn,
            SiotlsAttribute.exporter: lambda: conn.export_keying_material,
            SiotlsAttribute.session_resumed: lambda: conn.nconfig.session_resumed,
            SiotlsAttribute.session: lambda: conn.session,
            SiotlsAttribute.channel_binding: lambda: _info.channel_binding(conn, "tls-exporter"),
            SiotlsAttribute.early_data: lambda: conn.received_early_data,
            SiotlsAttribute.early_data_status: lambda: conn.nconfig.early_data,
        }


class TLSListener(anyio.abc.Listener[TLSStream]):
    """Wraps another listener; runs the handshake of each connection in its handler
    task (under ``handshake_timeout``), then calls the handler with the TLS stream.

    A failed handshake goes to :meth:`handle_handshake_error`.
    """

    def __init__(self, listener: anyio.abc.Listener[Any], config: TLSConfiguration, *,
                 standard_compatible: bool = True,
                 handshake_timeout: float | None = None) -> None:
        if config.side != "server":
            raise ValueError("TLSListener needs a server configuration")
        self.listener = listener
        self.config = config
        self.standard_compatible = standard_compatible
        self.handshake_timeout = handshake_timeout

    @staticmethod
    async def handle_handshake_error(exc: BaseException, stream: AnyByteStream) -> None:
        """Close ``stream``, log ``exc`` (unless a cancellation), and re-raise
        cancellations and other ``BaseException`` instances."""
        await anyio.aclose_forcefully(stream)
        cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
        if not cancelled:
            logger.error("Error during TLS handshake: %s", exc, exc_info=exc)
        if cancelled or not isinstance(exc, Exception):
            raise exc

    async def serve(self, handler: Callable[[TLSStream], Any],
                    task_group: anyio.abc.TaskGroup | None = None) -> None:
        @wraps(handler)
        async def handshake_then_handle(stream: AnyByteStream) -> None:
            try:
                with anyio.fail_after(self.handshake_timeout):
                    tls = await TLSStream.wrap(
                        stream, config=self.config, standard_compatible=self.standard_compatible)
            except BaseException as exc:  # noqa: BLE001 (it decides what to re-raise)
                await self.handle_handshake_error(exc, stream)
            else:
                await handler(tls)

        await self.listener.serve(handshake_then_handle, task_group)

    async def aclose(self) -> None:
        await self.listener.aclose()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        return {
            **self.listener.extra_attributes,  # SocketAttribute.local_port and the rest
            TLSAttribute.standard_compatible: lambda: self.standard_compatible,
        }


async def connect(
    host: str | IPv4Address | IPv6Address, port: int, *,
    config: TLSConfiguration | None = None, server_hostname: str | None = None,
    local_host: str | IPv4Address | IPv6Address | None = None,
    happy_eyeballs_delay: float = 0.25, standard_compatible: bool = True,
    handshake_timeout: float | None = None, session: TLSSession | None = None,
    early_data: bytes | None = None,
) -> TLSStream:
    """Connect over TCP and complete a TLS handshake.

    ``config`` defaults to a client that verifies with the system trust store
    (:func:`siotls.trust.get_truststore`); the certificate is checked against
    ``server_hostname``, which defaults to ``host``. ``session`` resumes an
    earlier session (``stream.extra(SiotlsAttribute.session)``).
    """
    if config is None:
        from siotls.trust import get_truststore  # noqa: PLC0415

        config = TLSConfiguration("client", truststore=get_truststore())
    transport = await anyio.connect_tcp(host, port, local_host=local_host,
                                        happy_eyeballs_delay=happy_eyeballs_delay)
    try:
        with anyio.fail_after(handshake_timeout):
            return await TLSStream.wrap(transport, config=config,
                                        hostname=server_hostname or str(host),
                                        standard_compatible=standard_compatible,
                                        session=session, early_data=early_data)
    except BaseException:
        await anyio.aclose_forcefully(transport)
        raise


async def create_tls_listener(
    config: TLSConfiguration, *, local_host: str | IPv4Address | IPv6Address | None = None,
    local_port: int = 0,
    family: Literal[AddressFamily.AF_UNSPEC, AddressFamily.AF_INET, AddressFamily.AF_INET6]
    = AddressFamily.AF_UNSPEC,
    backlog: int = 65536, reuse_port: bool = False, standard_compatible: bool = True,
    handshake_timeout: float | None = None,
) -> TLSListener:
    """``anyio.create_tcp_listener`` wrapped in a :class:`TLSListener`."""
    listener = await anyio.create_tcp_listener(
        local_host=local_host, local_port=local_port, family=family, backlog=backlog,
        reuse_port=reuse_port)
    return TLSListener(listener, config, standard_compatible=standard_compatible,
                       handshake_timeout=handshake_timeout)
