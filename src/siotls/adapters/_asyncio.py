"""asyncio adapter: siotls where asyncio takes ``ssl=``.

Theory of operation
-------------------
:class:`TLSProtocol` is the protocol of the raw socket transport. It owns a
:class:`~siotls.TLSConnection` and wraps the application's protocol, to which
it hands a :class:`TLSTransport` once the handshake completed, exactly like
asyncio's own ``sslproto.SSLProtocol``:

* raw bytes in: a buffered protocol, as ``sslproto``: the socket is read
  (``recv_into``) into one preallocated buffer of :data:`READ_SIZE` bytes per
  thread (:func:`_read_buffer`, taken in ``connection_made``, in the loop's
  thread), shared by the thread's connections because
  ``get_buffer``/``buffer_updated`` run back to back and the engine keeps no
  reference to what ``receive_data`` was given once it returned (it copies a
  partial record); during the handshake a copy is fed all the same, to keep
  the pause point's and the parsers' bytes out of the shared buffer. Then the
  engine's ``receive_data`` (in ``try``) -> flush ``conn.data_to_send()`` to
  the raw transport (also on error, so alerts and KeyUpdate answers always
  leave) -> hand ``conn.data_to_read()`` to the app, unless the app paused
  reading;
* flow control of reading, as ``sslproto``: when the app pauses reading, the
  raw transport keeps reading and the engine keeps decrypting (KeyUpdates and
  alerts are handled on time) until :data:`READ_HIGH_WATER` bytes came in since
  the pause; only then is the raw transport paused (a pause per app pause
  costs two ``epoll_ctl`` calls and a wake-up; a bulk reader pauses several
  times per megabyte). The app's resume resumes it;
* app ``write`` -> ``conn.send_data`` -> flush: ciphertext goes straight into
  the raw transport's buffer, one ``write`` per app write (the records of a
  write, and whatever the engine queued before, leave joined), so the raw
  transport's write flow control is the app's (``pause_writing``/
  ``resume_writing`` are forwarded);
* ``write_eof`` sends close_notify and keeps reading (TLS 1.3 half-close);
  ``close`` sends close_notify and closes the socket without waiting for the
  peer's; a received close_notify is the app's ``eof_received``, and so is an
  EOF without one after the handshake (``feed(..., ragged_eof_ok=True)``), as
  asyncio's ``ssl=`` transports report it; during the handshake it is a
  ``ConnectionResetError``, as there.

Every accepted or connected TCP socket gets TCP_NODELAY (see :func:`_set_nodelay`).

The invariant: after every event (bytes in, app write, close) whatever the
connection queued has been written to the raw transport.

The helpers with asyncio's signatures (``open_connection``, ``start_server``,
``start_tls``...) are in :mod:`siotls.adapters._asyncio_api`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Iterable
from typing import Any

from siotls.adapters import _driver, _info
from siotls.core.config import TLSConfiguration
from siotls.core.connection import TLSConnection
from siotls.core.errors import RaggedEOF, TLSError, TLSUsageError
from siotls.core.session import TLSSession

__all__ = ["TLSProtocol", "TLSTransport"]

logger = logging.getLogger("siotls.asyncio")

HANDSHAKE_TIMEOUT = 60.0
#: Bytes asked of the socket per read: ``sslproto``'s ``max_size`` (four full records).
READ_SIZE = 256 * 1024
#: Ciphertext read while the app has paused reading before the raw transport is
#: paused too: ``sslproto``'s FLOW_CONTROL_HIGH_WATER_SSL_READ (256 KiB).
READ_HIGH_WATER = 256 * 1024
#: As asyncio.constants: warn from the 5th write() dropped on a closed transport.
LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5


_buffers = threading.local()


def _read_buffer() -> memoryview:
    """This thread's read buffer (see the theory at the top)."""
    try:
        view: memoryview = _buffers.view
    except AttributeError:
        view = _buffers.view = memoryview(bytearray(READ_SIZE))
    return view


def _set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Set TCP_NODELAY, as asyncio's own transports do, on any TCP socket.

    asyncio sets it only on sockets whose ``proto`` is IPPROTO_TCP, which misses
    those made with ``proto=0`` (``socket.create_server``, then handed over as
    ``sock=``). Without it, a response sent as two records (headers, body) waits
    for the peer's delayed ACK: about 40 ms.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6) \
            and sock.type == socket.SOCK_STREAM:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class TLSTransport(asyncio.Transport):
    """The transport the application sees: plaintext in, plaintext out."""

    _start_tls_compatible = True

    def __init__(self, tls: TLSProtocol) -> None:
        super().__init__()
        self._tls = tls
        self._closed = False
        self._dropped_writes = 0

    # -- writing ----------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expecting a bytes-like instance, got {type(data).__name__}")
        if self._closed:
            # Like asyncio's own transports (socket and ssl=): after close(), abort() or
            # the loss of the connection, writes are dropped (the loss shows in drain()
            # and connection_lost()). Raising here broke servers writing to a client
            # that had gone away, which only expect ConnectionError from drain().
            self._dropped_writes += 1
            if self._dropped_writes >= LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("%r: write() on a closed transport, data dropped", self._tls)
            return
        if data:
            self._tls.send(data)

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(list_of_data))

    def write_eof(self) -> None:
        """Send close_notify; the peer can still send (TLS 1.3 half-close)."""
        self._tls.send_eof()

    def can_write_eof(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        raw = self._tls.raw_transport
        return raw.get_write_buffer_size() if raw is not None else 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        raw = self._tls.raw_transport
        return raw.get_write_buffer_limits() if raw is not None else (0, 0)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        raw = self._tls.raw_transport
        if raw is not None:
            raw.set_write_buffer_limits(high, low)

    # -- reading ----------------------------------------------------------
    def is_reading(self) -> bool:
        return not self._tls.app_paused_reading

    def pause_reading(self) -> None:
        self._tls.pause_reading()

    def resume_reading(self) -> None:
        self._tls.resume_reading()

    # -- closing ----------------------------------------------------------
    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Send close_notify and close the socket; the peer's close_notify is not awaited."""
        if not self._closed:
            self._closed = True
            self._tls.close()

    def abort(self) -> None:
        self._closed = True
        self._tls.abort()

    # -- protocol and info --------------------------------------------------
    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._tls.set_app_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._tls.app_protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._tls.get_extra_info(name, default)


class TLSProtocol(asyncio.BufferedProtocol):
    """The raw socket's protocol: runs TLS and drives the application protocol."""

    def __init__(self, app_protocol: asyncio.BaseProtocol, config: TLSConfiguration, *,
                 server_side: bool | None = None, server_hostname: str | None = None,
                 waiter: asyncio.Future[None] | None = None,
                 ssl_handshake_timeout: float | None = None,
                 ssl_shutdown_timeout: float | None = None,
                 call_connection_made: bool = True, session: TLSSession | None = None,
                 early_data: bytes | None = None) -> None:
        if server_side is None:
            server_side = config.side == "server"
        if server_side != (config.side == "server"):
            raise ValueError(f"server_side={server_side} with a {config.side} configuration")
        self.config = config
        self.server_side = server_side
        self.conn = TLSConnection(config, server_hostname=None if server_side else server_hostname,
                                  session=session, early_data=early_data)
        self.app_protocol = app_protocol
        self.app_transport = TLSTransport(self)
        self.raw_transport: asyncio.Transport | None = None
        self.app_paused_reading = False
        #: the strike register's question, while the server is paused after a ClientHello
        self._pause_task: asyncio.Task[None] | None = None
        self._waiter = waiter
        self._handshake_timeout = ssl_handshake_timeout or HANDSHAKE_TIMEOUT
        self._handshake_timer: asyncio.TimerHandle | None = None
        self._app_connected = False  # app.connection_made() was called
        self._app_eof = False  # app.eof_received() was called
        self._call_connection_made = call_connection_made
        self._error: Exception | None = None
        self._buffered_app = isinstance(app_protocol, asyncio.BufferedProtocol)
        self._writing_paused = False
        self._read_view = _read_buffer()
        self._raw_paused = False  # we paused the raw transport (flow control)
        self._paused_bytes = 0  # read since the app paused reading

    def set_app_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.app_protocol = protocol
        self._buffered_app = isinstance(protocol, asyncio.BufferedProtocol)

    # -- raw transport events ----------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.raw_transport = transport
        # The buffer of the thread that runs the loop (the protocol may have been made
        # in another one): the loop calls connection_made before any get_buffer.
        self._read_view = _read_buffer()
        _set_nodelay(transport)
        loop = asyncio.get_running_loop()
        self._handshake_timer = loop.call_later(self._handshake_timeout, self._handshake_timed_out)
        try:
            self.conn.initiate_connection()
        finally:
            self._flush()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_view

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` arrived in the read buffer (see the theory at the top)."""
        if self._app_connected and not self.app_paused_reading:
            # The fast path of the connected state: data_received() and _progress()
            # below with what cannot happen any more (handshake, pause point) left out.
            conn = self.conn
            try:
                conn.receive_data(self._read_view[:nbytes])
            except TLSError as exc:
                self._fatal(exc)
                return
            out = conn.data_to_send()  # a KeyUpdate answer, a NewSessionTicket...
            if out:
                self._write_raw(out)
            data = conn.data_to_read()  # _deliver(), inlined
            if data:
                if self._buffered_app:
                    self._deliver_buffered(data)
                else:
                    self.app_protocol.data_received(data)  # type: ignore[attr-defined]
            if not conn.can_receive:
                self._deliver()  # the end of the stream
            return
        self.data_received(self._read_view[:nbytes])

    def data_received(self, data: bytes | bytearray | memoryview) -> None:
        """Bytes from the raw transport (``buffer_updated``, or a transport that
        calls ``data_received`` on any protocol)."""
        conn = self.conn
        if conn.is_failed():
            return
        if not conn.is_post_handshake() and isinstance(data, memoryview):
            data = data.tobytes()  # the handshake keeps nothing of the shared buffer
        if self.app_paused_reading:
            self._paused_bytes += len(data)
            if self._paused_bytes >= READ_HIGH_WATER:
                self._pause_raw_reading()
        try:
            _driver.feed(conn, data)
        except TLSError as exc:
            self._fatal(exc)
            return
        finally:
            self._flush()
        if conn.pending_client_hello is not None and self._pause_task is None:
            self._pause_task = asyncio.get_running_loop().create_task(self._answer_pause())
        self._progress()

    async def _answer_pause(self) -> None:
        """The pause point: ask the register or the selector, then let the handshake go on."""
        answer = await _driver.answer_pause(self.conn)
        self._pause_task = None
        if self.raw_transport is None or self.conn.is_failed():
            return
        try:
            self.conn.resume_client_hello(**answer)
        except TLSError as exc:
            self._fatal(exc)
            return
        finally:
            self._flush()
        self._progress()

    def eof_received(self) -> bool | None:
        # ragged_eof_ok: asyncio's ssl= transports report an EOF without
        # close_notify after the handshake as a plain eof_received(), so do we.
        try:
            _driver.feed(self.conn, b"", eof=True, ragged_eof_ok=True)
        except RaggedEOF as exc:  # during the handshake
            self._fatal(ConnectionResetError(f"the peer closed the connection: {exc}"))
            return False
        if not self.conn.close_notify_received and self._error is None:
            logger.debug("%r: the transport closed without a close_notify", self)
            self._error = RaggedEOF("the transport closed without a close_notify")
        self._progress()
        return True  # we decide when to close: see _deliver

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_handshake_timer()
        self.raw_transport = None
        self.app_transport._closed = True
        error: Exception | None = exc if isinstance(exc, Exception) else None
        if error is None and self._error is not None and not isinstance(self._error, RaggedEOF):
            error = self._error
        if self._app_connected:
            self._app_connected = False
            asyncio.get_running_loop().call_soon(self.app_protocol.connection_lost, error)
        self._wake_waiter(error or ConnectionResetError("the connection was lost"))

    def pause_writing(self) -> None:
        # Remembered, so the app hears of a pause that began during the handshake
        # and pause/resume stay balanced (StreamReaderProtocol asserts they are).
        self._writing_paused = True
        if self._app_connected:
            self.app_protocol.pause_writing()

    def resume_writing(self) -> None:
        was_paused, self._writing_paused = self._writing_paused, False
        if self._app_connected and was_paused:
            self.app_protocol.resume_writing()

    # -- driving the application -----------------------------------------------
    def _progress(self) -> None:
        """After bytes came in: complete the handshake, deliver data and EOF."""
        if not self._app_connected:
            if not self.conn.is_post_handshake() or self.raw_transport is None:
                return
            self._cancel_handshake_timer()
            self._app_connected = True
            if self._call_connection_made:
                self.app_protocol.connection_made(self.app_transport)
            if self._writing_paused:
                self.app_protocol.pause_writing()
            self._wake_waiter(None)
        if not self.app_paused_reading:
            self._deliver()

    def _deliver(self) -> None:
        conn = self.conn
        # One data_to_read() takes all the engine holds; nothing the app does while
        # it handles the data adds to it (bytes come in from the event loop only).
        if not self.app_paused_reading and self._app_connected:
            data = conn.data_to_read()
            if data:
                if self._buffered_app:
                    self._deliver_buffered(data)
                else:
                    self.app_protocol.data_received(data)  # type: ignore[attr-defined]
        if (not conn.can_receive and not self._app_eof and self._app_connected
                and not self.app_paused_reading):
            self._app_eof = True
            if isinstance(self.app_protocol, asyncio.StreamReaderProtocol):
                # StreamReaderProtocol.eof_received() returns False (close!) when the
                # transport has an 'sslcontext', because asyncio's ssl cannot half-close.
                # TLS 1.3 can: keep the StreamWriter usable after the peer's close_notify,
                # as over plain TCP (the application closes it when done).
                self.app_protocol._over_ssl = False  # type: ignore[attr-defined]
            keep_open = self.app_protocol.eof_received()  # type: ignore[attr-defined]
            if not keep_open:
                self.app_transport.close()

    def _deliver_buffered(self, data: bytes) -> None:
        protocol: asyncio.BufferedProtocol = self.app_protocol  # type: ignore[assignment]
        view = memoryview(data)
        while view:
            buffer = memoryview(protocol.get_buffer(len(view)))
            n = min(len(buffer), len(view))
            if not n:
                raise RuntimeError("get_buffer() returned an empty buffer")
            buffer[:n] = view[:n]
            protocol.buffer_updated(n)
            view = view[n:]

    def pause_reading(self) -> None:
        """The app pauses: the raw transport reads on up to READ_HIGH_WATER bytes."""
        if not self.app_paused_reading:
            self.app_paused_reading = True
            self._paused_bytes = 0

    def resume_reading(self) -> None:
        if not self.app_paused_reading:
            return
        self.app_paused_reading = False
        if self._raw_paused:
            self._raw_paused = False
            if self.raw_transport is not None and not self.raw_transport.is_closing():
                self.raw_transport.resume_reading()
        asyncio.get_running_loop().call_soon(self._resume_delivery)

    def _pause_raw_reading(self) -> None:
        raw = self.raw_transport
        if not self._raw_paused and raw is not None and raw.is_reading():
            self._raw_paused = True
            raw.pause_reading()

    def _resume_delivery(self) -> None:
        if self._app_connected:
            self._deliver()

    # -- application requests ----------------------------------------------------
    def send(self, data: bytes | bytearray | memoryview) -> None:
        conn = self.conn
        try:
            conn.send_data(data)  # checks first that sending is allowed
        except TLSError as exc:
            if conn.is_failed():
                self._flush()  # the alert, if the engine queued one
                raise ConnectionResetError("the TLS connection failed") from (self._error or exc)
            if isinstance(exc, TLSUsageError):
                raise RuntimeError("cannot write after write_eof() or close()") from None
            raise
        out = conn.data_to_send()
        raw = self.raw_transport  # _write_raw(), inlined
        if out and raw is not None and not raw.is_closing():
            raw.write(out)

    def send_eof(self) -> None:
        if not self.conn.is_failed():
            self.conn.close_sending_end()
            self._flush()

    def close(self) -> None:
        if not self.conn.is_failed():
            try:
                self.conn.close_sending_end()
            finally:
                self._flush()
        if self.raw_transport is not None:
            self.raw_transport.close()

    def abort(self) -> None:
        if self.raw_transport is not None:
            self.raw_transport.abort()

    # -- helpers -------------------------------------------------------------------
    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self._write_raw(data)

    def _write_raw(self, data: bytes) -> None:
        raw = self.raw_transport
        if raw is not None and not raw.is_closing():
            raw.write(data)

    def _fatal(self, exc: Exception) -> None:
        """The connection failed: tell whoever waits, close the socket."""
        self._error = exc
        self._cancel_handshake_timer()
        if not self._app_connected:
            logger.debug("%r: TLS handshake failed: %s", self, exc)
        self._wake_waiter(exc)
        if self.raw_transport is not None:
            self._flush()
            self.raw_transport.close()

    def _handshake_timed_out(self) -> None:
        self._handshake_timer = None
        if not self.conn.is_post_handshake():
            exc = ConnectionAbortedError(
                f"TLS handshake is taking longer than {self._handshake_timeout} seconds: aborting")
            self._error = exc
            self._wake_waiter(exc)
            if self.raw_transport is not None:
                self.raw_transport.abort()

    def _cancel_handshake_timer(self) -> None:
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None

    def _waiter_pending(self) -> bool:
        return self._waiter is not None and not self._waiter.done()

    def _wake_waiter(self, exc: BaseException | None) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        conn = self.conn
        if name == "sslcontext":
            return self.config
        if name == "siotls":
            return conn
        if name == "ssl_object":
            return _info.SSLObjectInfo(conn, self.server_side)
        if name == "peercert":
            return _info.peercert(conn)
        if name == "cipher":
            return _info.cipher(conn)
        if name == "compression":
            return None
        if name == "channel_binding":  # RFC 9266 tls-exporter, once connected
            return _info.channel_binding(conn, "tls-exporter")
        if name == "early_data":  # 0-RTT data received (server): may be a replay
            return conn.received_early_data
        if name == "early_data_status":  # 'accepted', 'rejected' or 'not sent'
            return conn.nconfig.early_data
        if self.raw_transport is not None:
            return self.raw_transport.get_extra_info(name, default)
        return default

    def __repr__(self) -> str:
        side = "server" if self.server_side else "client"
        return f"<siotls.asyncio.TLSProtocol {side}>"
