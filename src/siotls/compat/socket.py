"""The blocking :class:`ssl.SSLSocket` of :meth:`SSLContext.wrap_socket`.

Theory of operation
-------------------
Python's :class:`ssl.SSLSocket` is a socket that hands its TLS work to an engine,
``_sslobj``, which the context makes (``SSLContext._wrap_socket``) and which reads
and writes the socket itself: OpenSSL's ``_ssl._SSLSocket``. :class:`SSLSocket`
keeps all the standard class does around that engine (the ``recv``, ``recv_into``,
``send``, ``sendall`` checks, ``makefile``, ``sendfile`` falling back to ``send``,
``accept`` wrapping the accepted socket, ``connect``, ``unwrap``,
``suppress_ragged_eofs``, ``do_handshake_on_connect``) and gets a
:class:`SocketEngine` instead: a :class:`~siotls.compat.object.SSLObject` over two
``MemoryBIO`` plus the loop OpenSSL runs on a socket (:meth:`SocketEngine._drive`):

* run the object's step; on :class:`ssl.SSLWantReadError` send what it queued,
  receive from the socket into the incoming BIO (``b''`` there: ``write_eof()``)
  and run the step again (a ``read()`` that the object says would only want
  bytes, ``SSLObject._wants_read``, takes that turn before the step);
* after the step, send what it queued; after a failure too (the alert), as far as
  the socket takes it.

The socket's timeout works as in ``_ssl``: ``None`` blocks; ``0.0`` (non-blocking)
raises :class:`ssl.SSLWantReadError` or :class:`ssl.SSLWantWriteError` where the
socket would block; a positive timeout bounds the whole operation (handshake,
read, write, shutdown) and then raises :class:`TimeoutError` (``"The read
operation timed out"``). A ``write()`` whose records the socket did not all take
keeps the rest and raises; as with OpenSSL the caller calls ``write()`` again with
the same data, which only finishes sending those records. A ``read()`` returns
its data even when the records it queued (a KeyUpdate answer) must wait.

The engine reads what the socket has (up to :data:`RECEIVE_SIZE`) where OpenSSL
reads record by record, so bytes the peer sent right behind its close_notify may
be in the incoming BIO rather than in the socket when ``unwrap()`` returns: the
unwrapped :class:`SSLSocket` serves them first from ``recv()``/``recv_into()``
(and so ``makefile()``), for protocols that go on in plaintext (FTP's CCC).

The socket I/O calls :class:`socket.socket`'s own methods on the owner (the
:class:`SSLSocket` overrides ``recv`` and ``send``), held by weak reference as
``_ssl`` holds it.

One thread may read while another writes (a common use of blocking sockets):
the engine steps run under one lock and the sending of records under another,
never held while waiting for the peer to send, so neither direction blocks the
other.
"""

from __future__ import annotations

import contextlib
import math
import select
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from siotls.compat import errors

if TYPE_CHECKING:
    from siotls.compat.object import SSLObject
    from siotls.compat.session import SSLSession
    from siotls.core.connection import TLSConnection

__all__ = ["SSLSocket", "SocketEngine"]

#: Bytes asked of the socket per receive: a few full records.
RECEIVE_SIZE = 2**16
#: What the engine answers by asking its SSLObject.
_QUERIES = frozenset((
    "getpeercert", "cipher", "shared_ciphers", "compression", "version",
    "selected_alpn_protocol", "selected_npn_protocol", "get_channel_binding",
    "get_unverified_chain", "get_verified_chain", "verify_client_post_handshake",
    "server_side", "server_hostname", "session_reused", "connection",
))


def _ready(sock: socket.socket, write: bool, timeout: float) -> bool:
    """Wait until ``sock`` can be written (read) or ``timeout`` seconds passed."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLOUT if write else select.POLLIN)
        return bool(poller.poll(math.ceil(timeout * 1000)))
    readers, writers = ([], [sock]) if write else ([sock], [])
    return any(select.select(readers, writers, [], timeout))


class SocketEngine:
    """The ``_sslobj`` of a :class:`SSLSocket`: an SSLObject driven over the socket."""

    def __init__(self, obj: SSLObject, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO,
                 sock: socket.socket) -> None:
        self._object = obj
        self._incoming = incoming
        self._outgoing = outgoing
        self._socket = weakref.ref(sock)
        self._unsent = b""  # records the socket did not take yet
        self._written: int | None = None  # the size of a write() whose records are unsent
        self._step_lock = threading.Lock()  # the SSLObject and its engine
        self._send_lock = threading.Lock()  # the order of the records on the socket

    def __getattr__(self, name: str) -> Any:
        if name in _QUERIES:
            return getattr(self._object, name)
        raise AttributeError(name)

    @property
    def context(self) -> ssl.SSLContext:
        return self._object.context

    @context.setter
    def context(self, context: ssl.SSLContext) -> None:
        self._object.context = context

    @property
    def session(self) -> SSLSession | None:
        return self._object.session

    @session.setter
    def session(self, session: SSLSession | None) -> None:
        self._object.session = session

    # -- the loop -------------------------------------------------------------------------------
    def _owner(self) -> socket.socket:
        sock = self._socket()
        if sock is None:
            raise ValueError("Underlying socket has been closed.")
        return sock

    @staticmethod
    def _deadline(sock: socket.socket) -> float | None:
        timeout = sock.gettimeout()
        return time.monotonic() + timeout if timeout else None

    def _drive(self, step: Callable[[], Any], what: str | None,
               deadline: float | None, flush: bool = True) -> Any:
        """Run ``step`` until it has its bytes (see the module doc).

        ``flush``: the queued records must be sent before returning (else they
        wait, in non-blocking mode, for the next call).
        """
        sock = self._owner()
        while True:
            try:
                with self._step_lock:
                    result = step()
            except ssl.SSLWantReadError:
                self._send(sock, deadline, what)
                self._receive(sock, deadline, what)
                continue
            except ssl.SSLError:
                with contextlib.suppress(OSError, ssl.SSLError):  # the alert, if it can go
                    self._send(sock, deadline, what)
                raise
            if flush:
                self._send(sock, deadline, what)
            else:
                try:  # noqa: SIM105 (contextlib.suppress: three Python calls per read/write)
                    self._send(sock, deadline, what)
                except (ssl.SSLWantWriteError, TimeoutError):
                    pass
            return result

    @staticmethod
    def _wait(sock: socket.socket, deadline: float | None, what: str, write: bool) -> None:
        if deadline is None:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not _ready(sock, write, remaining):
            raise TimeoutError(f"The {what} operation timed out")

    def _send(self, sock: socket.socket, deadline: float | None, what: str | None) -> None:
        """Send the unsent records and what the outgoing BIO holds."""
        if not self._unsent and not self._outgoing.pending:
            return  # nothing: a reader does not wait for a writer's lock
        with self._send_lock:
            data = self._unsent + self._outgoing.read() if self._unsent else self._outgoing.read()
            view = memoryview(data)
            try:
                while view:
                    self._wait(sock, deadline, what or "write", write=True)
                    try:
                        sent = socket.socket.send(sock, view)
                    except (BlockingIOError, InterruptedError):
                        if sock.gettimeout() == 0:
                            raise errors.want_write() from None
                        continue
                    view = view[sent:]
            finally:
                self._unsent = bytes(view)

    def _receive(self, sock: socket.socket, deadline: float | None, what: str | None) -> None:
        """Move what the socket has (at least a byte, or its EOF) to the incoming BIO."""
        if self._incoming.eof:  # cannot happen: the SSLObject raised at the BIO's end
            raise errors.eof_error()
        while True:
            self._wait(sock, deadline, what or "read", write=False)
            try:
                data = socket.socket.recv(sock, RECEIVE_SIZE)
            except (BlockingIOError, InterruptedError):
                if sock.gettimeout() == 0:
                    raise errors.want_read() from None
                continue
            break
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()

    # -- what ssl.SSLSocket calls -------------------------------------------------------------
    def do_handshake(self) -> None:
        deadline = self._deadline(self._owner())
        self._drive(self._object.do_handshake, "handshake", deadline)

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        sock = self._owner()
        deadline = self._deadline(sock)
        if len > 0 and self._object._wants_read():
            # _drive's first turn when the step would only raise SSLWantReadError
            # (a reply not read yet, the common case): send, receive, then the step.
            self._send(sock, deadline, None)
            self._receive(sock, deadline, None)
        return self._drive(lambda: self._object.read(len, buffer), None, deadline, flush=False)

    def write(self, data: Any) -> int:
        sock = self._owner()
        deadline = self._deadline(sock)
        if self._written is not None:  # the same data again: finish its records
            self._send(sock, deadline, None)
            written, self._written = self._written, None
            return written
        if self._unsent:
            self._send(sock, deadline, None)
        size: int = self._drive(lambda: self._object.write(data), None, deadline, flush=False)
        self._written = size
        self._send(sock, deadline, None)
        self._written = None
        return size

    def pending(self) -> int:
        return self._object.pending()

    def take_unread(self) -> bytes:
        """The bytes received after the peer's close_notify (see the module doc)."""
        return self._incoming.read()

    def shutdown(self) -> socket.socket:
        """Send close_notify and wait for the peer's; the socket, now without TLS."""
        sock = self._owner()
        self._drive(self._object.unwrap, None, self._deadline(sock))
        return sock


class SSLSocket(ssl.SSLSocket):
    """:class:`ssl.SSLSocket` running siotls, made by :meth:`SSLContext.wrap_socket`.

    Every method of the standard class works as documented there (see the
    module doc for the engine underneath); :attr:`connection` is the siotls
    connection.
    """

    _unread = b""  # after unwrap(): what followed the peer's close_notify

    @property
    def connection(self) -> TLSConnection | None:
        """The siotls :class:`~siotls.TLSConnection` (``None`` once unwrapped or closed)."""
        engine: SocketEngine | None = getattr(self, "_sslobj", None)
        return None if engine is None else engine.connection

    def get_unverified_chain(self) -> list[bytes]:
        """The peer's certificates as sent, leaf first, DER."""
        engine: SocketEngine | None = getattr(self, "_sslobj", None)
        return [] if engine is None else engine.get_unverified_chain()

    def get_verified_chain(self) -> list[bytes]:
        """The verified path, leaf first, trust anchor last, DER (empty if not verified)."""
        engine: SocketEngine | None = getattr(self, "_sslobj", None)
        return [] if engine is None else engine.get_verified_chain()

    def unwrap(self) -> socket.socket:
        engine: SocketEngine | None = getattr(self, "_sslobj", None)
        sock = super().unwrap()
        if engine is not None:
            self._unread = engine.take_unread()
        return sock

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        if self._unread and getattr(self, "_sslobj", None) is None and not flags:
            data, self._unread = self._unread[:buflen], self._unread[buflen:]
            return data
        return super().recv(buflen, flags)

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        if self._unread and getattr(self, "_sslobj", None) is None and not flags:
            view = memoryview(buffer).cast("B")
            size = min(nbytes or view.nbytes, view.nbytes, len(self._unread))
            view[:size] = self._unread[:size]
            self._unread = self._unread[size:]
            return size
        return super().recv_into(buffer, nbytes, flags)
