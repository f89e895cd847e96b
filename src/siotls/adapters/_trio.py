"""trio adapter: :class:`TLSStream`, a drop-in for ``trio.SSLStream`` on siotls.

Theory of operation
-------------------
A :class:`TLSStream` owns a :class:`~siotls.TLSConnection` and a transport
stream, and runs every operation through the adapters' one driver,
:class:`siotls.adapters._driver.Driver`: its docstring states the invariant,
the send lock (a ``trio.StrictFIFOLock``), the error mapping and the states
(OK, BROKEN, CLOSED: as in ``trio.SSLStream``). What is trio's own, here:

* the handshake is lazy, as in ``trio.SSLStream``: it runs once, on the first
  ``send_all``/``receive_some``/``do_handshake``, and the other callers wait
  for it (a ``trio.Event``);
* two tasks sending, or two receiving, at once get ``trio.BusyResourceError``
  (conflict detectors), as trio's streams do;
* every method is a checkpoint; a cancelled send or handshake breaks the
  stream, a cancelled receive does not; over trio's own ``SocketStream`` (full
  checkpoints themselves) the driver's fast paths skip the checkpoints that
  would only repeat the socket's (``_TRIO_SOCKET``);
* ``https_compatible`` is the ragged-EOF flag (``ragged_eof_ok`` of the
  driver): no close_notify on ``aclose``, and an EOF without close_notify is
  ``b''``, even during the handshake (``trio.SSLStream`` does the same there,
  since its handshake runs inside ``receive_some``);
* ``aclose`` sends close_notify (unless ``https_compatible``) and closes the
  transport without waiting for the peer's close_notify; a stream that never
  completed its handshake is just closed.
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import Any, Generic, NoReturn, TypeVar

import trio

from siotls.adapters import _driver, _info
from siotls.core.config import TLSConfiguration
from siotls.core.connection import TLSConnection
from siotls.core.errors import RaggedEOF
from siotls.core.session import TLSSession

__all__ = [
    "TLSListener",
    "TLSStream",
    "open_tls_over_tcp_listeners",
    "open_tls_over_tcp_stream",
    "serve_tls_over_tcp",
]

T_Stream = TypeVar("T_Stream", bound=trio.abc.Stream)

_TRIO = _driver.Framework(
    broken=trio.BrokenResourceError, closed=trio.ClosedResourceError,
    lock=trio.StrictFIFOLock, checkpoint_if_cancelled=trio.lowlevel.checkpoint_if_cancelled,
    cancel_shielded_checkpoint=trio.lowlevel.cancel_shielded_checkpoint)
#: Over trio's own ``SocketStream``, whose ``send_all`` and ``receive_some`` are full
#: checkpoints before a byte moves (``socket.send``/``recv`` start with
#: ``checkpoint_if_cancelled`` and end with ``cancel_shielded_checkpoint``): a free send
#: lock is taken with ``acquire_nowait`` (``Driver._acquire_nowait``), and a receive that can
#: only read reads at once (``Driver.receive``). Any other stream: ``_TRIO``, checked.
_TRIO_SOCKET = replace(_TRIO, would_block=trio.WouldBlock)


class _ConflictDetector:
    """Raise ``trio.BusyResourceError`` when two tasks use one side at once."""

    def __init__(self, message: str) -> None:
        self._message = message
        self._held = False

    def __enter__(self) -> None:
        if self._held:
            raise trio.BusyResourceError(self._message)
        self._held = True

    def __exit__(self, *exc_info: object) -> None:
        self._held = False


class TLSStream(trio.abc.HalfCloseableStream, Generic[T_Stream]):
    """TLS 1.3 over a trio stream, with ``trio.SSLStream``'s semantics plus ``send_eof``.

    :param transport_stream: the stream to encrypt (e.g. a ``trio.SocketStream``).
    :param config: a client or server :class:`~siotls.TLSConfiguration`.
    :param server_side: defaults to ``config.side == 'server'`` (must agree with it).
    :param server_hostname: the name to send (SNI) and check the certificate against.
    :param https_compatible: send no close_notify on ``aclose``, and take an EOF
        without close_notify as a normal end (``b''``), as HTTPS peers expect.
    :param session: a :class:`~siotls.TLSSession` to resume (client only), e.g. the
        :attr:`session` of an earlier stream.
    """

    def __init__(self, transport_stream: T_Stream, config: TLSConfiguration, *,
                 server_side: bool | None = None, server_hostname: str | None = None,
                 https_compatible: bool = False, session: TLSSession | None = None,
                 early_data: bytes | None = None) -> None:
        if server_side is not None and server_side != (config.side == "server"):
            raise ValueError(f"server_side={server_side} but config.side={config.side!r}")
        self.transport_stream: T_Stream = transport_stream
        self.connection = TLSConnection(config, server_hostname=server_hostname,
                                        session=session, early_data=early_data)
        self.connection.initiate_connection()  # queues the ClientHello; nothing is sent yet
        self._https_compatible = https_compatible
        self._info = _info.SSLObjectInfo(self.connection, config.side == "server")
        socket_stream = type(transport_stream) is trio.SocketStream
        self._driver = _driver.Driver(
            _TRIO_SOCKET if socket_stream else _TRIO, self.connection,
            receive=transport_stream.receive_some, send=transport_stream.send_all,
            ragged_eof_ok=https_compatible, receive_checkpoints=socket_stream)
        self._send_conflict = _ConflictDetector("another task is sending on this TLSStream")
        self._recv_conflict = _ConflictDetector("another task is receiving on this TLSStream")
        self._handshake_started = False
        self._handshake_done = trio.Event()

    # -- trio.abc.HalfCloseableStream -------------------------------------------------------
    async def _handshake(self, *, checkpoint: bool) -> None:
        if not self._handshake_started:
            await trio.lowlevel.checkpoint_if_cancelled()
            self._handshake_started = True
            try:
                await self._driver.run(partial(_driver.handshake, self.connection))
            except BaseException as exc:
                self._driver.break_(exc)
                raise
            finally:
                self._handshake_done.set()
        elif checkpoint or not self._handshake_done.is_set():
            await self._handshake_done.wait()
            self._driver.check()

    async def do_handshake(self) -> None:
        """Complete the handshake now (it otherwise runs on the first send or receive).

        Idempotent, and safe to call from several tasks: they all wait for the one
        handshake. Cancelling it breaks the stream.
        """
        self._driver.check()
        await self._handshake(checkpoint=True)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        with self._send_conflict:
            self._driver.check()
            if not self._handshake_done.is_set():  # else _handshake() would do nothing
                await self._handshake(checkpoint=False)
            if not self.connection.can_send:
                raise trio.ClosedResourceError("send_eof() was called on this TLSStream")
            if not data:
                await trio.lowlevel.checkpoint()
                return
            await self._driver.send(data)

    async def wait_send_all_might_not_block(self) -> None:
        with self._send_conflict:
            self._driver.check()
            async with self._driver.send_lock:
                await self.transport_stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Some decrypted bytes; ``b''`` once the peer sent close_notify (or, with
        ``https_compatible``, closed the transport)."""
        if max_bytes is not None:
            max_bytes = operator.index(max_bytes)
            if max_bytes < 1:
                raise ValueError("max_bytes must be >= 1")
        with self._recv_conflict:
            self._driver.check()
            try:
                if not self._handshake_done.is_set():  # else _handshake() would do nothing
                    await self._handshake(checkpoint=False)
            except trio.BrokenResourceError as exc:
                if self._https_compatible and isinstance(exc.__cause__, RaggedEOF):
                    await trio.lowlevel.checkpoint()
                    return b""
                raise
            return await self._driver.receive(max_bytes)

    async def send_eof(self) -> None:
        """Send close_notify: the peer reads EOF, and we can still receive (TLS 1.3)."""
        with self._send_conflict:
            self._driver.check()
            await self._handshake(checkpoint=False)
            await self._driver.run(partial(_driver.send_eof, self.connection))

    async def unwrap(self) -> tuple[T_Stream, bytes]:
        """Send close_notify, wait for the peer's, and hand back the transport.

        Returns ``(transport_stream, trailing_bytes)``: the bytes that followed the
        peer's close_notify, to be treated as the start of the plaintext protocol.
        """
        with self._recv_conflict, self._send_conflict:
            self._driver.check()
            await self._handshake(checkpoint=False)
            await self._driver.run(partial(_driver.unwrap, self.connection))
            transport, trailing = self.transport_stream, self.connection.unused_data()
            self._driver.close()
            self.transport_stream = None  # type: ignore[assignment]  # CLOSED: unused
            return transport, trailing

    async def aclose(self) -> None:
        """Send close_notify (unless ``https_compatible``), close the transport.

        Does not wait for the peer's close_notify. Idempotent; if cancelled, the
        transport is still closed (forcefully).
        """
        transport = self.transport_stream
        await self._driver.aclose(
            close_notify=not self._https_compatible, aclose_transport=transport.aclose,
            aclose_forcefully=partial(trio.aclose_forcefully, transport))

    # -- what the handshake settled (trio.SSLStream's query methods) ------------------------------
    def _settled(self) -> _info.SSLObjectInfo:
        if not self._handshake_done.is_set() or not self.connection.is_post_handshake():
            raise trio.NeedHandshakeError("call do_handshake() first")
        return self._info

    @property
    def server_side(self) -> bool:
        return self._info.server_side

    @property
    def server_hostname(self) -> str | None:
        return self.connection.server_hostname

    @property
    def config(self) -> TLSConfiguration:
        return self.connection.config

    @property
    def session_reused(self) -> bool:
        self._settled()
        return self.connection.nconfig.session_resumed

    @property
    def session(self) -> TLSSession | None:
        """The newest session received (clients: tickets come with the server's data)."""
        return self.connection.session

    def selected_alpn_protocol(self) -> str | None:
        return self._settled().selected_alpn_protocol()

    def version(self) -> str | None:
        return self._settled().version()

    def cipher(self) -> tuple[str, str, int] | None:
        return self._settled().cipher()

    def shared_ciphers(self) -> list[tuple[str, str, int]] | None:
        return self._settled().shared_ciphers()

    def getpeercert(self, binary_form: bool = False) -> dict[str, Any] | bytes | None:
        """The peer's leaf certificate: DER with ``binary_form``, else ``ssl``'s dict."""
        return self._settled().getpeercert(binary_form)

    def get_channel_binding(self, cb_type: str = "tls-exporter") -> bytes | None:
        """The channel binding: ``tls-exporter`` (RFC 9266); TLS 1.3 has no tls-unique."""
        return self._settled().get_channel_binding(cb_type)

    @property
    def early_data(self) -> bytes:
        """The 0-RTT data received (servers); it may be a replay (RFC 8470: answer 425)."""
        return self.connection.received_early_data

    @property
    def early_data_status(self) -> str:
        """0-RTT: ``'accepted'``, ``'rejected'`` or ``'not sent'`` (once handshaken)."""
        return self.connection.nconfig.early_data

    def get_unverified_chain(self) -> list[bytes]:
        """The peer's certificates as sent, leaf first, DER."""
        return self._settled().get_unverified_chain()

    def get_verified_chain(self) -> list[bytes]:
        """The verified path, leaf first, trust anchor last, DER (empty if not verified)."""
        return self._settled().get_verified_chain()

    def export_keying_material(self, label: bytes, context: bytes, length: int) -> bytes:
        self._settled()
        return self.connection.export_keying_material(label, context, length)


class TLSListener(trio.abc.Listener[TLSStream[T_Stream]]):
    """Wraps each accepted stream in a server :class:`TLSStream` (not handshaken yet:
    the handshake runs in the handler's task, on its first call)."""

    def __init__(self, transport_listener: trio.abc.Listener[T_Stream],
                 config: TLSConfiguration, *, https_compatible: bool = False) -> None:
        if config.side != "server":
            raise ValueError("TLSListener needs a server configuration")
        self.transport_listener = transport_listener
        self.config = config
        self._https_compatible = https_compatible

    async def accept(self) -> TLSStream[T_Stream]:
        transport = await self.transport_listener.accept()
        return TLSStream(transport, self.config, https_compatible=self._https_compatible)

    async def aclose(self) -> None:
        await self.transport_listener.aclose()


def _default_client_config() -> TLSConfiguration:
    from siotls.trust import get_truststore  # noqa: PLC0415

    return TLSConfiguration("client", truststore=get_truststore())


async def open_tls_over_tcp_stream(
    host: str | bytes, port: int, *, config: TLSConfiguration | None = None,
    server_hostname: str | None = None, https_compatible: bool = False,
    happy_eyeballs_delay: float | None = 0.25, session: TLSSession | None = None,
    early_data: bytes | None = None,
) -> TLSStream[trio.SocketStream]:
    """Connect over TCP and wrap in a client :class:`TLSStream` (the handshake runs
    on first use). ``config`` defaults to a client verifying with the system trust
    store; ``server_hostname`` defaults to ``host``; ``session`` resumes."""
    if isinstance(host, bytes):
        host = host.decode("ascii")
    config = config if config is not None else _default_client_config()
    tcp = await trio.open_tcp_stream(host, port, happy_eyeballs_delay=happy_eyeballs_delay)
    return TLSStream(tcp, config, server_hostname=server_hostname or host,
                     https_compatible=https_compatible, session=session,
                     early_data=early_data)


async def open_tls_over_tcp_listeners(
    port: int, config: TLSConfiguration, *, host: str | bytes | None = None,
    https_compatible: bool = False, backlog: int | None = None,
) -> list[TLSListener[trio.SocketStream]]:
    """``trio.open_tcp_listeners`` wrapped in :class:`TLSListener`."""
    listeners = await trio.open_tcp_listeners(port, host=host, backlog=backlog)
    return [TLSListener(listener, config, https_compatible=https_compatible)
            for listener in listeners]


async def serve_tls_over_tcp(
    handler: Callable[[TLSStream[trio.SocketStream]], Awaitable[object]],
    port: int, config: TLSConfiguration, *, host: str | bytes | None = None,
    https_compatible: bool = False, backlog: int | None = None,
    handler_nursery: trio.Nursery | None = None,
    task_status: trio.TaskStatus[list[TLSListener[trio.SocketStream]]]
    = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Serve TLS over TCP forever, like ``trio.serve_ssl_over_tcp`` (use with
    ``nursery.start`` to get the listeners, e.g. to learn the port)."""
    listeners = await open_tls_over_tcp_listeners(
        port, config, host=host, https_compatible=https_compatible, backlog=backlog)
    await trio.serve_listeners(handler, listeners, handler_nursery=handler_nursery,
                               task_status=task_status)
