"""anyio adapter: :class:`TLSStream`, a drop-in for ``anyio.streams.tls.TLSStream``.

Theory of operation
-------------------
:meth:`TLSStream.wrap` builds a :class:`~siotls.TLSConnection` over any anyio
byte stream and runs the handshake. Each operation is a *step*, a synchronous
function that runs the engine and returns a result, or ``None`` while it needs
more bytes from the peer. :meth:`TLSStream._run` (the shape of anyio's
``_call_sslobject_method``) drives a step to completion; its invariant:

    the step ran on everything received so far, then every byte the engine
    queued was handed to the transport, in engine order, before the result is
    returned or the transport is read again (a receive may instead leave its
    bytes to the task that is sending); the transport is read only when the
    step asked for more.

Bytes read are fed to the engine as they come; what follows the peer's
close_notify is kept by the engine (``unused_data()``), for :meth:`TLSStream.unwrap`.
A receive may have to send too (a KeyUpdate answer, an alert) while another
task sends: the engine's output is appended to ``_outgoing`` synchronously, and
whoever holds ``_send_lock`` (a fair lock, handed to the next waiter) sends it,
so records leave in order. A receive never waits for that lock: if a send holds
it, the receive leaves its bytes to the sender, which loops until
``_outgoing`` is empty. (Waiting could deadlock: the send may only finish once
the peer, itself blocked sending to us, sees us read.) Once bytes left the
engine and might not reach the transport (a failed or cancelled send), the
stream is broken: later records would not decrypt.

Errors: a close_notify is ``EndOfStream``; a TLS error is ``BrokenResourceError``
with the :class:`~siotls.TLSError` as ``__cause__`` (the alert is sent first);
an EOF without close_notify is ``BrokenResourceError`` when
``standard_compatible``, else ``EndOfStream``. Unlike anyio's own stream,
``send_eof`` works (TLS 1.3 half-close) and ``aclose`` sends close_notify
without waiting for the peer's.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from functools import partial, wraps
from ipaddress import IPv4Address, IPv6Address
from socket import AddressFamily
from typing import Any, Literal, TypeVar

import anyio
import anyio.abc
from anyio.abc import AnyByteStream
from anyio.streams.tls import TLSAttribute

from siotls.adapters import _info, _steps
from siotls.core.config import TLSConfiguration
from siotls.core.connection import TLSConnection
from siotls.core.errors import RaggedEOF, TLSError

__all__ = [
    "SiotlsAttribute",
    "TLSListener",
    "TLSStream",
    "connect",
    "create_tls_listener",
]

logger = logging.getLogger("siotls.anyio")

_T = TypeVar("_T")

class SiotlsAttribute(anyio.TypedAttributeSet):
    """siotls's own typed attributes, next to anyio's ``TLSAttribute`` ones."""

    #: the :class:`~siotls.TLSConnection`
    connection: TLSConnection = anyio.typed_attribute()
    #: the TLS exporter (RFC 8446 7.5): ``exporter(label, context, length) -> bytes``
    exporter: Callable[[bytes, bytes, int], bytes] = anyio.typed_attribute()
    #: whether the session was resumed (always ``False``: no resumption yet)
    session_resumed: bool = anyio.typed_attribute()


class TLSStream(anyio.abc.ByteStream):
    """TLS 1.3 over an anyio byte stream. Build it with :meth:`wrap`."""

    def __init__(self, transport_stream: AnyByteStream, connection: TLSConnection, *,
                 standard_compatible: bool = True) -> None:
        self.transport_stream = transport_stream
        self.standard_compatible = standard_compatible
        self.connection = connection
        self._info = _info.SSLObjectInfo(connection, connection.config.side == "server")
        self._error: BaseException | None = None
        self._closed = False
        self._incoming = b""
        self._eof = False
        self._outgoing = b""
        self._send_lock = anyio.Lock()

    @classmethod
    async def wrap(cls, transport_stream: AnyByteStream, *, config: TLSConfiguration,
                   server_side: bool | None = None, hostname: str | None = None,
                   standard_compatible: bool = True) -> TLSStream:
        """Wrap ``transport_stream`` and run the handshake.

        :param config: a client or server :class:`~siotls.TLSConfiguration`.
        :param server_side: defaults to ``config.side == 'server'`` (must agree with it).
        :param hostname: the server's name (client only): sent as SNI and checked
            against its certificate.
        :param standard_compatible: send close_notify on ``aclose``, and treat an
            EOF without one as an error; ``False`` for HTTPS-style peers.
        :raises anyio.BrokenResourceError: the handshake failed (see ``__cause__``).
        """
        if server_side is not None and server_side != (config.side == "server"):
            raise ValueError(f"server_side={server_side} but config.side={config.side!r}")
        if hostname is not None and config.side == "server":
            raise ValueError("hostname is for clients")
        connection = TLSConnection(config, server_hostname=hostname)
        connection.initiate_connection()
        stream = cls(transport_stream, connection, standard_compatible=standard_compatible)
        await stream._run(partial(_steps.handshake, stream.connection))
        return stream

    # -- the loop ---------------------------------------------------------------------
    async def _run(self, step: Callable[[], _T | None], *, defer: bool = False) -> _T:
        """Run ``step`` until it returns a result (see the invariant at the top).

        ``defer``: the receive path, which must not wait behind a blocked send.
        """
        self._check()
        while True:
            try:
                self._feed()
                result = step()
            except TLSError as exc:
                self._error = self._error or exc
                with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await self._flush(defer=defer)  # the alert, if the engine queued one
                raise anyio.BrokenResourceError(str(exc)) from exc
            await self._flush(defer=defer)
            if result is not None:
                return result
            try:
                data = await self.transport_stream.receive()
            except anyio.EndOfStream:
                self._eof = True
            except OSError as exc:
                self._error = self._error or exc
                raise anyio.BrokenResourceError(str(exc)) from exc
            else:
                self._incoming += data

    def _feed(self) -> None:
        conn = self.connection
        if self._incoming:
            # After a close_notify the engine keeps the bytes for unused_data().
            data, self._incoming = self._incoming, b""
            conn.receive_data(data)
        if self._eof and conn.can_receive:
            try:
                conn.close_receiving_end()
            except RaggedEOF:
                if self.standard_compatible or not conn.is_post_handshake():
                    raise

    async def _flush(self, *, defer: bool = False) -> None:
        """Send what the engine queued.

        With ``defer`` (the receive path), bytes are left to the task holding the
        send lock, if any, instead of waiting behind a send that may only finish
        once we read.
        """
        self._outgoing += self.connection.data_to_send()
        if not self._outgoing or (defer and self._send_lock.locked()):
            return
        try:
            async with self._send_lock:
                while self._outgoing:  # including what deferring receivers left us
                    data, self._outgoing = self._outgoing, b""
                    await self.transport_stream.send(data)
                    if defer:
                        break
        except BaseException as exc:
            self._error = self._error or exc  # records may be lost: the stream is broken
            raise

    def _check(self) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        if self._error is not None:
            raise anyio.BrokenResourceError("the TLS stream is broken") from self._error

    # -- anyio.abc.ByteStream -------------------------------------------------------------
    async def receive(self, max_bytes: int = 65536) -> bytes:
        if max_bytes < 1:
            raise ValueError("max_bytes must be a positive integer")
        data = await self._run(partial(_steps.receive, self.connection, max_bytes), defer=True)
        if not data:
            raise anyio.EndOfStream
        return data

    async def send(self, item: bytes) -> None:
        self._check()
        if not self.connection.can_send:
            raise anyio.ClosedResourceError("send_eof() was called on this stream")
        await self._run(partial(_steps.send, self.connection, item))

    async def send_eof(self) -> None:
        """Send close_notify: the peer reads EOF, and we can still receive (TLS 1.3)."""
        await self._run(partial(_steps.send_eof, self.connection))

    async def unwrap(self) -> tuple[AnyByteStream, bytes]:
        """Send close_notify, wait for the peer's, and hand back the transport.

        :return: ``(transport_stream, trailing_bytes)``, the bytes that followed the
            peer's close_notify. This stream is closed; the transport is not.
        """
        await self._run(partial(_steps.unwrap, self.connection))
        self._closed = True
        return self.transport_stream, self.connection.unused_data()

    async def aclose(self) -> None:
        """Send close_notify (if ``standard_compatible``) and close the transport,
        without waiting for the peer's close_notify."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.standard_compatible and self._error is None:
                with contextlib.suppress(
                        TLSError, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    self.connection.close_sending_end()
                    await self._flush()
        except BaseException:
            await anyio.aclose_forcefully(self.transport_stream)
            raise
        await self.transport_stream.aclose()

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
            SiotlsAttribute.session_resumed: lambda: False,
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
        return {TLSAttribute.standard_compatible: lambda: self.standard_compatible}


async def connect(
    host: str | IPv4Address | IPv6Address, port: int, *,
    config: TLSConfiguration | None = None, server_hostname: str | None = None,
    local_host: str | IPv4Address | IPv6Address | None = None,
    happy_eyeballs_delay: float = 0.25, standard_compatible: bool = True,
    handshake_timeout: float | None = None,
) -> TLSStream:
    """Connect over TCP and complete a TLS handshake.

    ``config`` defaults to a client that verifies with the system trust store
    (:func:`siotls.trust.get_truststore`); the certificate is checked against
    ``server_hostname``, which defaults to ``host``.
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
                                        standard_compatible=standard_compatible)
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
