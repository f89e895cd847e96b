"""``ssl.SSLObject`` on a siotls :class:`~siotls.TLSConnection`, over two ``MemoryBIO``.

Theory of operation
-------------------
Every call runs in :meth:`SSLObject._run`: it raises the stored failure if an
earlier call failed, runs one step, turns a siotls error into the ``ssl`` one
(:func:`siotls.compat.errors.translate`, the siotls error chained as ``__cause__``)
and, in a ``finally``, moves what the engine queued (records, alerts) to the
outgoing BIO (``do_handshake()``, once per flight under ``sslproto``, has that
inlined; with nothing new in the BIO it only wants read). A step first feeds
the engine everything the incoming BIO holds (:meth:`SSLObject._feed`: the
adapters' feed step without its EOF; the engine frames records) and moves the
decrypted application data to ``_plaintext``, which ``read()`` and
``pending()`` serve. When the step needs bytes the BIO does not hold it raises
:class:`ssl.SSLWantReadError`; at the BIO's end (``write_eof()``) without a
close_notify it raises :class:`ssl.SSLEOFError` (unless ``OP_IGNORE_UNEXPECTED_EOF``).

Once connected, ``read()`` (with or without a buffer) and ``write()`` take a
fast path (``asyncio``'s ``sslproto`` calls them twice per received chunk and
once per write): the same steps without ``_run``'s closure and the driver's
feed, ``_flush`` inlined, for data or no data yet (that want-read, the second
read of every chunk, is raised by ``read()`` itself, without a Python call);
everything else (the end of the stream, a BIO at its end) goes the slow way.
The fast paths know the engine's ``can_receive`` without asking: ``_failure``,
``_ragged_eof`` and ``_close_notify`` record the three ways it turns false, as
every engine call is made here.

What the peer sent after its close_notify is not TLS: the engine keeps it
(:meth:`~siotls.TLSConnection.unused_data`) and it goes back into the incoming
BIO, where OpenSSL would have left it (trio's ``unwrap()`` returns it from there).

The query methods (``cipher()``, ``shared_ciphers()``, ``getpeercert()``...) are
the adapters' (:mod:`siotls.adapters._info`), so every siotls stand-in for
``ssl`` answers alike.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable
from ssl import SSL_ERROR_WANT_READ, SSLWantReadError
from typing import TYPE_CHECKING, Any, Literal, Self, overload

from siotls.adapters import _driver, _info
from siotls.compat import errors
from siotls.compat.session import SSLSession, tls_session_of
from siotls.core.connection import TLSConnection
from siotls.core.errors import InternalError, RaggedEOF, TLSError

if TYPE_CHECKING:
    from _ssl import _PeerCertRetDictType
    from ssl import _PeerCertRetType

    from siotls.compat.context import SSLContext
    from siotls.core.config import TLSConfiguration
    from siotls.core.session import TLSSession

__all__ = ["SSLObject"]

#: ``len`` for read(), whose argument takes the name (ssl's signature); a call to
#: the builtin is cheaper than a ``__len__()`` method call.
_len = len


class SSLObject(ssl.SSLObject):
    """``ssl.SSLObject`` on a siotls :class:`~siotls.TLSConnection` (see the module doc).

    Made by :meth:`SSLContext.wrap_bio`; like the standard class it has no public
    constructor. :attr:`connection` is the siotls connection.
    """

    connection: TLSConnection
    _context: SSLContext

    @classmethod
    def _create_siotls(cls, context: SSLContext, config: TLSConfiguration,  # noqa: PLR0917
                       incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO, server_side: bool,
                       server_hostname: str | None, engine_hostname: str | None,
                       session: TLSSession | None = None) -> Self:
        self = cls.__new__(cls)
        self._init_siotls(context, config, incoming, outgoing, server_side, server_hostname,
                          engine_hostname, session)
        return self

    def _init_siotls(self, context: SSLContext, config: TLSConfiguration,  # noqa: PLR0917
                     incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO, server_side: bool,
                     server_hostname: str | None, engine_hostname: str | None,
                     session: TLSSession | None = None) -> None:
        self._context = context
        self._server_side = server_side
        self._server_hostname = server_hostname
        self._incoming = incoming
        self._outgoing = outgoing
        self._ignore_eof = context._ignore_eof  # options & OP_IGNORE_UNEXPECTED_EOF
        self.connection = TLSConnection(config, engine_hostname, session=session)
        self._config = config
        self._engine_hostname = engine_hostname
        self._started = False
        self._handshake_done = False
        self._plaintext = bytearray()  # decrypted, not yet read
        self._discard = False  # drop application data (during unwrap)
        self._shutdown_sent = False
        self._ragged_eof = False
        # connection.close_notify_received without a call: it turns true only in
        # receive_data(), which only this class calls, and looks right after (_feed,
        # _read_connected). With _failure and _ragged_eof (the other ways, all seen
        # in here too), it tells connection.can_receive for the fast paths.
        self._close_notify = False
        self._failure: ssl.SSLError | None = None
        self._peercert: Any = None
        self._sni_owner: Any = None  # the SSLSocket over this object, for sni_callback

    # -- attributes ---------------------------------------------------------------------------
    @property
    def context(self) -> SSLContext:
        """The :class:`SSLContext` this object was made by."""
        return self._context

    @context.setter
    def context(self, context: ssl.SSLContext) -> None:
        """Switch a server to another siotls server context (in an ``sni_callback``):
        the connection then sends that context's certificate chain."""
        from siotls.compat.context import SSLContext  # noqa: PLC0415

        if context is self._context:
            return
        if not isinstance(context, SSLContext) or not self._server_side \
                or not context._server or self._handshake_done:
            msg = ("siotls.compat switches the context of a server connection only, to "
                   "another siotls.compat server SSLContext, before the handshake completed")
            raise NotImplementedError(msg)
        self._context = context

    @property
    def server_side(self) -> bool:
        return self._server_side

    @property
    def server_hostname(self) -> str | None:
        return self._server_hostname

    @property  # type: ignore[override]  # ssl.SSLSession cannot be made from Python
    def session(self) -> SSLSession | None:
        """The newest session from the server's tickets (clients), to resume a later
        connection with (``wrap_bio(..., session=)``); ``None`` before the first ticket."""
        tls_session = self.connection.session
        return SSLSession(tls_session) if tls_session is not None else None

    @session.setter
    def session(self, session: SSLSession | None) -> None:
        tls_session = tls_session_of(session)
        if self._server_side:
            raise ValueError("Cannot set session for server-side SSLSocket.")
        if self._started:
            raise ValueError("Cannot set session after handshake.")
        self.connection = TLSConnection(self._config, self._engine_hostname,
                                        session=tls_session)

    @property
    def session_reused(self) -> bool:
        return self.connection.nconfig.session_resumed

    # -- driving the engine ---------------------------------------------------------------------
    def _flush(self) -> None:
        # Inlined in do_handshake(), read()'s and write()'s fast paths: keep them alike.
        data = self.connection.data_to_send()
        if data:
            try:  # noqa: SIM105 (contextlib.suppress: three Python calls per flush)
                self._outgoing.write(data)
            except ssl.SSLError:  # the caller closed the BIO (write_eof) after a failure
                pass

    def _run(self, step: Callable[[], Any]) -> Any:
        """Run ``step``, turning siotls errors into ``ssl`` ones; flush what is queued."""
        if self._failure is not None:
            raise errors.failed_earlier() from self._failure
        try:
            return step()
        except TLSError as exc:
            raise self._ssl_error_of(exc) from exc
        finally:
            self._flush()

    def _ssl_error_of(self, exc: TLSError) -> ssl.SSLError:
        """The ``ssl`` error for a siotls one, remembered if the connection is done for."""
        if isinstance(exc, RaggedEOF):
            self._ragged_eof = True
            error = errors.eof_error()
            if not self._handshake_done:
                self._failure = error
            return error
        self._failure = errors.translate(exc, self._server_hostname)
        return self._failure

    def _feed(self) -> None:
        """Hand the engine what the incoming BIO holds (see the module doc)."""
        if self._close_notify:  # connection.close_notify_received
            return  # what follows is not TLS: it stays in the BIO
        connection = self.connection
        data = self._incoming.read()
        if data:  # _driver.feed(connection, data), inlined: without eof, just this
            connection.receive_data(data)
        received = connection.data_to_read()
        if received and not self._discard:
            self._plaintext += received
        # (nothing fed: no close_notify either, as checked above)
        if data and connection.close_notify_received:
            self._peer_closed()

    def _peer_closed(self) -> None:
        """The engine read the peer's close_notify: what followed goes back to the BIO."""
        self._close_notify = True
        if rest := self.connection.unused_data():
            with contextlib.suppress(ssl.SSLError):  # the BIO was closed (write_eof)
                self._incoming.write(rest)

    def _at_eof(self) -> bool:
        """Whether the incoming BIO is at its end (``write_eof()``), all data consumed."""
        return self._incoming.eof

    def _receiving_end(self) -> None:
        """The incoming BIO ended: a close_notify must have come first."""
        self._ragged_eof = True
        _driver.feed(self.connection, b"", eof=True)  # RaggedEOF without a close_notify

    # -- the handshake ----------------------------------------------------------------------------
    def do_handshake(self) -> None:
        """Run the handshake; :class:`ssl.SSLWantReadError` until it completes."""
        if self._handshake_done:
            return
        # _run(step), inlined with its step and _flush (sslproto calls this once per flight)
        if self._failure is not None:
            raise errors.failed_earlier() from self._failure
        connection = self.connection
        try:
            if not self._started:
                self._started = True
                connection.initiate_connection()
            incoming = self._incoming
            # An empty BIO (sslproto's first call, at connection_made): nothing new
            # since the last step, which did not complete the handshake nor leave it
            # paused, so this one would only want read too (the checks are skipped).
            if incoming.pending or incoming.eof:
                self._feed()
                if (pending := connection.pending_client_hello) is not None:
                    # A blocking object cannot await an asynchronous strike register:
                    # 0-RTT refused, the handshake goes on (the async adapters ask it);
                    # nor an asynchronous certificate_selector: internal_error, plainly.
                    connection.resume_client_hello(early_data_ok=False, failure=InternalError(
                        "siotls.compat cannot await certificate_selector (use sni_callback)",
                        reason="certificate_selector") if pending.certificate_requested
                        else None)
                if connection.is_post_handshake():
                    self._handshake_done = True
                    return
                if incoming.eof:  # _at_eof()
                    self._receiving_end()
        except TLSError as exc:
            raise self._ssl_error_of(exc) from exc
        finally:  # _flush()
            if data := connection.data_to_send():
                try:  # noqa: SIM105 (as _flush)
                    self._outgoing.write(data)
                except ssl.SSLError:
                    pass
        error = SSLWantReadError(SSL_ERROR_WANT_READ, errors.WANT_READ)  # errors.want_read()
        error.reason = error.library = None  # type: ignore[assignment]
        raise error

    # -- data -------------------------------------------------------------------------------------
    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        """Up to ``len`` bytes of application data (into ``buffer`` when given).

        Returns ``b''`` (``0``) once the peer's close_notify is read, raises
        :class:`ssl.SSLZeroReturnError` once both sides sent theirs,
        :class:`ssl.SSLWantReadError` when no data is available yet and
        :class:`ssl.SSLEOFError` when the BIO ended without a close_notify.
        """
        if buffer is None:
            view = None
            size = len
        else:
            view = memoryview(buffer).cast("B")
            size = len if 0 < len <= view.nbytes else view.nbytes
        if self._handshake_done and self._failure is None and size > 0:
            # The fast path once connected (module doc), with or without a buffer:
            # _read's want-read case right here (sslproto's second read of every
            # chunk: no Python call), its data case in _read_connected.
            incoming = self._incoming
            if self._plaintext or incoming.pending:
                fast = self._read_connected(size)
                if fast is not None:
                    if view is None:
                        return fast
                    view[:_len(fast)] = fast
                    return _len(fast)
            elif (not self._close_notify and not incoming.eof and not self._ragged_eof
                  and not self._discard):
                error = SSLWantReadError(SSL_ERROR_WANT_READ, errors.WANT_READ)  # want_read()
                error.reason = error.library = None  # type: ignore[assignment]
                raise error
        if size < 0:  # (buffer is None: with one, size is its length at worst)
            raise ValueError("size should not be negative")
        if not self._handshake_done:
            self.do_handshake()
        data: bytes = self._run(lambda: self._read(size))
        if view is None:
            return data
        view[:_len(data)] = data
        return _len(data)

    def _wants_read(self) -> bool:
        """Whether :meth:`read` (``len > 0``) would raise :class:`ssl.SSLWantReadError`
        now: connected, nothing decrypted, nothing in the incoming BIO, which is
        not at its end, and the peer may still send (:meth:`read`'s fast
        want-read case). A blocking socket then reads first (compat.socket)."""
        incoming = self._incoming
        return (self._handshake_done and self._failure is None and not self._plaintext
                and not incoming.pending and not incoming.eof and not self._ragged_eof
                and not self._close_notify)

    def _read_connected(self, size: int) -> bytes | None:
        """:meth:`read`'s fast path once connected, with data decrypted or in the
        incoming BIO: :meth:`_read` and :meth:`_feed` (and :meth:`_run`'s error
        handling); ``None`` leaves the rest to the slow path (nothing decrypted
        after all, the end of the stream, during unwrap)."""
        plaintext = self._plaintext
        if not plaintext:
            if self._close_notify or self._ragged_eof or self._discard:
                return None
            connection = self.connection
            try:
                connection.receive_data(self._incoming.read())
                received = connection.data_to_read()
            except TLSError as exc:  # as _run
                self._failure = errors.translate(exc, self._server_hostname)
                raise self._failure from exc
            finally:  # _flush()
                if data := connection.data_to_send():
                    try:  # noqa: SIM105 (as _flush)
                        self._outgoing.write(data)
                    except ssl.SSLError:
                        pass
            if connection.close_notify_received:  # as _feed
                self._peer_closed()
            if not received:
                return None
            if len(received) <= size:
                return received
            plaintext += received
        data = bytes(plaintext[:size])
        del plaintext[:size]
        return data

    def _read(self, size: int) -> bytes:
        plaintext = self._plaintext
        if size == 0:
            return b""
        if not plaintext:
            self._feed()
        if plaintext:
            data = bytes(plaintext[:size])
            del plaintext[:size]
            return data
        if self.connection.close_notify_received:
            if self._shutdown_sent:
                raise errors.zero_return()
            return b""
        if self._ragged_eof or self._at_eof():
            if self._ignore_eof:
                return b""
            self._receiving_end()
            raise errors.eof_error()
        raise errors.want_read()

    def write(self, data: Any) -> int:
        """Encrypt ``data`` into the outgoing BIO; returns its length."""
        if (self._handshake_done and self._failure is None and not self._shutdown_sent
                and not self._ragged_eof and type(data) in (bytes, bytearray)):
            # The fast path once connected: the checks below passed, _run inlined.
            connection = self.connection
            try:
                connection.send_data(data)
            except TLSError as exc:
                self._failure = errors.translate(exc, self._server_hostname)
                raise self._failure from exc
            finally:  # _flush()
                if out := connection.data_to_send():
                    try:  # noqa: SIM105 (as _flush)
                        self._outgoing.write(out)
                    except ssl.SSLError:
                        pass
            return len(data)
        view = memoryview(data).cast("B")
        if not self._handshake_done:
            self.do_handshake()
        if self._failure is None:
            if self._shutdown_sent:
                raise errors.protocol_error("PROTOCOL_IS_SHUTDOWN", "protocol is shutdown")
            if self._ragged_eof and not self._ignore_eof:
                raise errors.eof_error()
        self._run(lambda: self.connection.send_data(view))
        return view.nbytes

    def pending(self) -> int:
        """Decrypted bytes ready for :meth:`read`."""
        return len(self._plaintext)

    def unwrap(self) -> None:
        """Send close_notify; :class:`ssl.SSLWantReadError` until the peer's arrives."""
        if not self._handshake_done and self._failure is None:
            raise errors.protocol_error("SHUTDOWN_WHILE_IN_INIT", "shutdown while in init")
        self._run(self._unwrap)

    def _unwrap(self) -> None:
        connection = self.connection
        if not self._shutdown_sent:
            self._shutdown_sent = True
            connection.close_sending_end()
        self._discard = True
        try:
            self._feed()
        finally:
            self._discard = False
        if connection.close_notify_received:
            return
        if self._ragged_eof or self._at_eof():
            if self._ignore_eof:
                return
            self._receiving_end()
            raise errors.eof_error()
        raise errors.want_read()

    # -- what was negotiated --------------------------------------------------------------------
    @overload
    def getpeercert(self, binary_form: Literal[False] = False) -> _PeerCertRetDictType | None: ...
    @overload
    def getpeercert(self, binary_form: Literal[True]) -> bytes | None: ...
    @overload
    def getpeercert(self, binary_form: bool) -> _PeerCertRetType: ...

    def getpeercert(self, binary_form: bool = False) -> Any:
        """The peer's certificate: DER, or the ``ssl`` dict (``{}`` if not verified)."""
        if not self._handshake_done:
            raise ValueError("handshake not done yet")
        if binary_form:
            return _info.peercert(self.connection, binary_form=True)
        if self._peercert is None:
            peercert = _info.peercert(self.connection)
            if self.connection.client_certificate_pending:
                return peercert  # the answer to verify_client_post_handshake() may change it
            self._peercert = peercert
        return self._peercert

    def get_unverified_chain(self) -> list[bytes]:
        """The peer's certificates as sent, leaf first, DER."""
        return list(self.connection.nconfig.peer_certificate_chain)

    def get_verified_chain(self) -> list[bytes]:
        """The verified path, leaf first, trust anchor last, DER (empty if not verified)."""
        return list(self.connection.nconfig.peer_verified_path)

    def cipher(self) -> tuple[str, str, int] | None:
        return _info.cipher(self.connection)

    def shared_ciphers(self) -> list[tuple[str, str, int]] | None:
        """Server: the suites the client offered that we support, in our order."""
        return _info.shared_ciphers(self.connection)

    def compression(self) -> str | None:
        return None

    def version(self) -> str | None:
        return _info.version(self.connection)

    def selected_alpn_protocol(self) -> str | None:
        return _info.selected_alpn_protocol(self.connection)

    def selected_npn_protocol(self) -> str | None:
        return None

    def get_channel_binding(self, cb_type: str = "tls-unique") -> bytes | None:
        """``None`` for ``tls-unique`` (undefined in TLS 1.3); ``tls-exporter`` (RFC 9266)."""
        if cb_type not in (*ssl.CHANNEL_BINDING_TYPES, "tls-exporter"):
            raise ValueError(f"{cb_type!r} channel binding type not implemented")
        binding: bytes | None = self._run(lambda: _info.channel_binding(self.connection, cb_type))
        return binding

    def verify_client_post_handshake(self) -> None:
        """Server: ask the client for its certificate after the handshake (RFC 8446 4.6.2).

        The request goes out with the next I/O; the client's answer is handled as
        data is read. ``ssl.SSLError`` when the client did not offer it.
        """
        if not self._handshake_done:
            raise ValueError("handshake not done yet")
        if not self._server_side:
            raise errors.protocol_error("NOT_SERVER", "not a server")
        if not self.connection.nconfig.post_handshake_auth:
            raise errors.protocol_error("EXTENSION_NOT_RECEIVED",
                                        "the client did not offer post-handshake authentication")
        self._peercert = None
        self._run(self.connection.request_client_certificate)


