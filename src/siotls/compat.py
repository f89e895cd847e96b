"""A drop-in :class:`ssl.SSLContext` whose connections run on siotls.

Code written for the standard library's ``ssl`` module takes a context
wherever it accepts ``ssl=``, ``ssl_context=`` or ``verify=`` and calls its
:meth:`~ssl.SSLContext.wrap_bio`. :class:`SSLContext` is a real subclass of
:class:`ssl.SSLContext` (so it passes the ``isinstance`` checks of
``loop.start_tls``, uvicorn, aiohttp, anyio...), built from a siotls
configuration::

    ctx = siotls.compat.SSLContext.from_config(TLSConfiguration("server", ...))
    await asyncio.start_server(handler, "127.0.0.1", 8443, ssl=ctx)

Its ``wrap_bio()`` returns a :class:`SSLObject` (a subclass of
:class:`ssl.SSLObject`) that drives a :class:`~siotls.TLSConnection` from and
to the caller's :class:`ssl.MemoryBIO` pair. Tested with asyncio
(``create_server``, ``open_connection``, ``start_server``, ``loop.start_tls``),
``trio.SSLStream``, anyio's ``TLSStream`` (asyncio and trio backends), and
httpx/uvicorn.

Supported :class:`SSLObject` calls, with the standard library's behaviour:
``do_handshake``, ``read(len, buffer)``, ``write``, ``unwrap``, ``pending``,
``getpeercert(binary_form)`` (the dict only for a verified certificate, ``{}``
otherwise, as ``ssl`` does), ``cipher``, ``shared_ciphers``, ``compression``
(``None``), ``version`` (``'TLSv1.3'``), ``selected_alpn_protocol``,
``selected_npn_protocol`` (``None``), ``get_channel_binding`` (``None`` for
``'tls-unique'``, undefined in TLS 1.3 (RFC 9266); ``'tls-exporter'`` is
supported in addition), ``get_unverified_chain`` (``get_verified_chain`` raises
:class:`NotImplementedError`: siotls does not keep the path), and the attributes
``context``, ``server_side``, ``server_hostname``, ``session`` (``None``) and
``session_reused`` (``False``). The errors are the standard library's classes:
:class:`ssl.SSLWantReadError` (more data needed), :class:`ssl.SSLZeroReturnError`,
:class:`ssl.SSLEOFError` (the incoming BIO ended without a close_notify),
:class:`ssl.SSLCertVerificationError` (the peer's certificate was refused, with
``verify_code`` and ``verify_message``), :class:`ssl.SSLError` (any other
alert, sent or received; ``reason`` uses OpenSSL's names, e.g.
``TLSV1_ALERT_UNKNOWN_CA``) and :class:`ssl.SSLSyscallError` for calls after a
failure. The siotls exception is chained as ``__cause__``. Two deliberate
differences: application data that arrives during ``unwrap()`` is dropped rather
than failing with ``APPLICATION_DATA_AFTER_CLOSE_NOTIFY``, and no session ticket is
sent or used.

Context settings map to the siotls configuration: ``load_cert_chain``,
``load_verify_locations``, ``load_default_certs``/``set_default_verify_paths``
(:func:`siotls.trust.get_truststore`), ``verify_mode`` (``CERT_NONE`` on a client
turns verification off, with an :class:`~siotls.InsecureWarning`;
``CERT_REQUIRED`` on a server asks for a client certificate), ``check_hostname``
(off with verification on: the chain is checked for any name, SNI is still sent),
``set_alpn_protocols``, ``set_ecdh_curve``,
``keylog_filename``, ``options`` (``OP_IGNORE_UNEXPECTED_EOF`` and
``OP_ENABLE_MIDDLEBOX_COMPAT`` are honoured, the others only concern TLS 1.2 and
older), ``minimum_version``/``maximum_version`` (anything that still allows TLS
1.3) and ``set_ciphers`` (it never applied to TLS 1.3 suites). What siotls cannot
do raises :class:`NotImplementedError`: ``wrap_socket``, ``CERT_OPTIONAL`` on a
server, ``sni_callback``, ``load_dh_params``, ``set_npn_protocols``,
``post_handshake_auth``, ``hostname_checks_common_name``, session tickets, CRL
flags, and turning TLS 1.3 off.

What it costs, compared with the native adapters: the ``ssl.SSLContext`` base
class allocates an OpenSSL ``SSL_CTX`` that is never used; every byte is copied
through the two ``MemoryBIO`` objects (the records are framed here, one
``receive_data`` call per record, so that undecrypted bytes stay in the BIO for
the caller's flow control and after a close_notify); and anyio runs ``wrap_bio``
of any context whose type is not exactly ``ssl.SSLContext`` in a worker thread, a
thread hop per connection. The libraries above the shim keep their own limits
(asyncio waits up to 30 s for the peer's close_notify, no half-close, ...): the
native adapters lift those.

:func:`certificate_dict` turns a DER certificate into the ``getpeercert()`` dict.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import ssl
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn, Self, overload

from siotls.adapters._info import certificate_dict
from siotls.core.config import InsecureWarning, TLSConfiguration
from siotls.core.connection import TLSConnection
from siotls.core.errors import (
    BadCertificate,
    CertificateExpired,
    CertificateRequired,
    CertificateRevoked,
    CertificateUnknown,
    RaggedEOF,
    TLSConnectionFailed,
    TLSError,
    TLSFatalAlert,
    TLSPeerAlert,
    UnknownCA,
    UnsupportedCertificate,
)
from siotls.iana import AlertDescription, CipherSuites, NamedGroup
from siotls.pem import decode_pem_certificate_chain, decode_pem_private_key

if TYPE_CHECKING:
    from _ssl import _PasswordType, _PeerCertRetDictType
    from ssl import _PeerCertRetType

    from siotls.trust import TrustStore

__all__ = ["SSLContext", "SSLObject"]

_CIPHER_BITS = {
    CipherSuites.TLS_AES_128_GCM_SHA256: 128,
    CipherSuites.TLS_AES_256_GCM_SHA384: 256,
    CipherSuites.TLS_CHACHA20_POLY1305_SHA256: 256,
}
_CIPHER_DETAILS = {  # symmetric cipher, "Enc=" column of OpenSSL's description
    CipherSuites.TLS_AES_128_GCM_SHA256: ("aes-128-gcm", "AESGCM(128)"),
    CipherSuites.TLS_AES_256_GCM_SHA384: ("aes-256-gcm", "AESGCM(256)"),
    CipherSuites.TLS_CHACHA20_POLY1305_SHA256: ("chacha20-poly1305", "CHACHA20/POLY1305(256)"),
}
#: set_ecdh_curve() names (OpenSSL's) -> siotls groups.
_CURVES = {
    "prime256v1": NamedGroup.secp256r1, "secp256r1": NamedGroup.secp256r1,
    "p-256": NamedGroup.secp256r1, "secp384r1": NamedGroup.secp384r1,
    "p-384": NamedGroup.secp384r1, "secp521r1": NamedGroup.secp521r1,
    "p-521": NamedGroup.secp521r1, "x25519": NamedGroup.x25519, "x448": NamedGroup.x448,
}
_RECORD_TYPES = frozenset((20, 21, 22, 23))
_MAX_RECORD = 2**14 + 256
_HEADER = 5
#: Alerts OpenSSL names SSLV3_ALERT_* and TLSV13_ALERT_* (the others are TLSV1_ALERT_*).
_SSLV3_ALERTS = frozenset((10, 20, 30, 40, 41, 42, 43, 44, 45, 46, 47))
_TLSV13_ALERTS = frozenset((109, 116))
_CERTIFICATE_ERRORS = (BadCertificate, CertificateExpired, CertificateRevoked,
                       CertificateUnknown, UnknownCA, UnsupportedCertificate)
_HONOURED_VERIFY_FLAGS = ssl.VERIFY_X509_TRUSTED_FIRST | ssl.VERIFY_X509_STRICT


def _ssl_error(cls: type[ssl.SSLError], errno: int, message: str,
               reason: str | None = None, library: str | None = None) -> Any:  # the cls
    """An ``ssl`` exception shaped like the ones ``_ssl.c`` raises."""
    error = cls(errno, message)
    error.reason = reason  # type: ignore[assignment]  # None when OpenSSL has none
    error.library = library  # type: ignore[assignment]
    return error


def _want_read() -> ssl.SSLWantReadError:
    error: ssl.SSLWantReadError = _ssl_error(
        ssl.SSLWantReadError, ssl.SSL_ERROR_WANT_READ,
        "The operation did not complete (read) (siotls)")
    return error


def _eof_error() -> ssl.SSLEOFError:
    error: ssl.SSLEOFError = _ssl_error(
        ssl.SSLEOFError, ssl.SSL_ERROR_EOF,
        "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol (siotls)",
        "UNEXPECTED_EOF_WHILE_READING", "SSL")
    return error


def _protocol_error(reason: str, text: str) -> ssl.SSLError:
    error: ssl.SSLError = _ssl_error(
        ssl.SSLError, ssl.SSL_ERROR_SSL, f"[SSL: {reason}] {text} (siotls)", reason, "SSL")
    return error


def _alert_reason(description: int) -> tuple[str, str]:
    """OpenSSL's reason code and text for a received alert."""
    try:
        name = AlertDescription(description).name
    except ValueError:
        return f"TLS_ALERT_{description}", f"tls alert {description}"
    name = name.replace("USER_CANCELED", "USER_CANCELLED")
    prefix = ("SSLV3" if description in _SSLV3_ALERTS
              else "TLSV13" if description in _TLSV13_ALERTS else "TLSV1")
    return f"{prefix}_ALERT_{name}", f"{prefix} alert {name.replace('_', ' ')}".lower()


def _verify_details(exc: TLSFatalAlert, server_hostname: str | None) -> tuple[int, str]:
    """An OpenSSL X509_V_ERR code and message for a refused certificate."""
    message = str(exc)
    if isinstance(exc, BadCertificate) and (
            "did not match the server name" in message
            or "no matching subjectAltName" in str(exc.__cause__)):
        if server_hostname is not None and _is_ip(server_hostname):
            return 64, f"IP address mismatch, certificate is not valid for {server_hostname!r}."
        return 62, f"Hostname mismatch, certificate is not valid for {server_hostname!r}."
    if isinstance(exc, UnknownCA):
        return 20, "unable to get local issuer certificate"
    if isinstance(exc, CertificateExpired):
        return 10, "certificate has expired or is not yet valid"
    if isinstance(exc, CertificateRevoked):
        return 23, "certificate revoked"
    return 1, message


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# -- the object ---------------------------------------------------------------------------------
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
                       server_hostname: str | None, engine_hostname: str | None) -> Self:
        self = cls.__new__(cls)
        self._init_siotls(context, config, incoming, outgoing, server_side, server_hostname,
                          engine_hostname)
        return self

    def _init_siotls(self, context: SSLContext, config: TLSConfiguration,  # noqa: PLR0917
                     incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO, server_side: bool,
                     server_hostname: str | None, engine_hostname: str | None) -> None:
        self._context = context
        self._server_side = server_side
        self._server_hostname = server_hostname
        self._incoming = incoming
        self._outgoing = outgoing
        self._ignore_eof = bool(context.options & ssl.OP_IGNORE_UNEXPECTED_EOF)
        self.connection = TLSConnection(config, engine_hostname)
        self._started = False
        self._handshake_done = False
        self._partial = bytearray()  # an incomplete record read from ``incoming``
        self._plaintext = bytearray()  # decrypted, not yet read
        self._discard = False  # drop application data (during unwrap)
        self._shutdown_sent = False
        self._ragged_eof = False
        self._failure: ssl.SSLError | None = None
        self._client_hello: bytearray | None = bytearray() if server_side else None
        self._client_suites: frozenset[int] | None = None
        self._peercert: dict[str, Any] | None = None

    # -- attributes ---------------------------------------------------------------------------
    @property
    def context(self) -> SSLContext:
        """The :class:`SSLContext` this object was made by."""
        return self._context

    @context.setter
    def context(self, context: ssl.SSLContext) -> None:
        if context is not self._context:
            msg = "siotls.compat cannot switch the context of a connection (SNI callbacks)"
            raise NotImplementedError(msg)

    @property
    def server_side(self) -> bool:
        return self._server_side

    @property
    def server_hostname(self) -> str | None:
        return self._server_hostname

    @property
    def session(self) -> ssl.SSLSession | None:
        """Always ``None``: siotls.compat neither saves nor resumes sessions."""
        return None

    @session.setter
    def session(self, session: ssl.SSLSession | None) -> None:
        if session is not None:
            msg = "siotls.compat does not resume sessions"
            raise NotImplementedError(msg)

    @property
    def session_reused(self) -> bool:
        return False

    # -- driving the engine ---------------------------------------------------------------------
    def _flush(self) -> None:
        data = self.connection.data_to_send()
        if data:
            # ssl.SSLError: the caller closed the BIO (write_eof) after a failure
            with contextlib.suppress(ssl.SSLError):
                self._outgoing.write(data)

    def _run(self, step: Callable[[], Any]) -> Any:
        """Run ``step``, turning siotls errors into ``ssl`` ones; flush what is queued."""
        if self._failure is not None:
            error = _ssl_error(ssl.SSLSyscallError, ssl.SSL_ERROR_SYSCALL,
                               "Some I/O error occurred (siotls: the connection failed earlier)")
            raise error from self._failure
        try:
            return step()
        except RaggedEOF as exc:
            self._ragged_eof = True
            error = _eof_error()
            if not self._handshake_done:
                self._failure = error
            raise error from exc
        except TLSError as exc:
            self._failure = self._translate(exc)
            raise self._failure from exc
        finally:
            self._flush()

    def _translate(self, exc: TLSError) -> ssl.SSLError:
        if isinstance(exc, TLSPeerAlert):
            reason, text = _alert_reason(exc.description)
            return _protocol_error(reason, text)
        if isinstance(exc, _CERTIFICATE_ERRORS):
            code, message = _verify_details(exc, self._server_hostname)
            error: ssl.SSLCertVerificationError = _ssl_error(
                ssl.SSLCertVerificationError, ssl.SSL_ERROR_SSL,
                f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message} "
                f"(siotls: {exc})", "CERTIFICATE_VERIFY_FAILED", "SSL")
            error.verify_code = code
            error.verify_message = message
            return error
        if isinstance(exc, CertificateRequired):
            return _protocol_error("PEER_DID_NOT_RETURN_A_CERTIFICATE",
                                   f"peer did not return a certificate: {exc}")
        if isinstance(exc, TLSFatalAlert):
            return _protocol_error(exc.description.name, str(exc))
        if isinstance(exc, TLSConnectionFailed):
            failed: ssl.SSLSyscallError = _ssl_error(
                ssl.SSLSyscallError, ssl.SSL_ERROR_SYSCALL,
                f"Some I/O error occurred (siotls: {exc})")
            return failed
        return _protocol_error("SIOTLS_ERROR", f"{type(exc).__name__}: {exc}")

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self.connection.initiate_connection()

    def _feed(self, done: Callable[[], bool]) -> None:
        """Hand the complete records of the incoming BIO to the engine until ``done()``.

        One record at a time, so that what is not needed yet (and whatever follows
        the peer's close_notify) stays in the BIO, as OpenSSL leaves it.
        """
        connection = self.connection
        incoming = self._incoming
        partial = self._partial
        while not done() and not connection.close_notify_received:
            if len(partial) < _HEADER:
                partial += incoming.read(_HEADER - len(partial))
                if len(partial) < _HEADER:
                    return
            length = partial[3] << 8 | partial[4]
            if partial[0] in _RECORD_TYPES and length <= _MAX_RECORD:
                missing = _HEADER + length - len(partial)
                if missing:
                    partial += incoming.read(missing)
                    if len(partial) < _HEADER + length:
                        return
            # else: a bad header, for the engine to refuse
            record = bytes(partial)
            partial.clear()
            if self._client_hello is not None:
                self._sniff_client_hello(record)
            connection.receive_data(record)
            data = connection.data_to_read()
            if data and not self._discard:
                self._plaintext += data

    def _at_eof(self) -> bool:
        """Whether the incoming BIO is at its end (``write_eof()``), all data consumed."""
        return self._incoming.eof

    def _receiving_end(self) -> None:
        """The incoming BIO ended: a close_notify must have come first."""
        self._ragged_eof = True
        self.connection.close_receiving_end()  # raises RaggedEOF without a close_notify

    def _sniff_client_hello(self, record: bytes) -> None:
        """Note the cipher suites a client offers (for ``shared_ciphers()``)."""
        buffer = self._client_hello
        assert buffer is not None
        if record[0] != 22:
            self._client_hello = None
            return
        buffer += record[_HEADER:]
        if len(buffer) < 4 or len(buffer) < 4 + int.from_bytes(buffer[1:4], "big"):
            return
        self._client_hello = None
        try:
            position = 4 + 2 + 32
            position += 1 + buffer[position]  # legacy_session_id
            size = int.from_bytes(buffer[position:position + 2], "big")
            suites = buffer[position + 2:position + 2 + size]
            self._client_suites = frozenset(
                int.from_bytes(suites[i:i + 2], "big") for i in range(0, len(suites) - 1, 2))
        except IndexError:  # malformed: the engine says why
            pass

    # -- the handshake ----------------------------------------------------------------------------
    def do_handshake(self) -> None:
        """Run the handshake; :class:`ssl.SSLWantReadError` until it completes."""
        if self._handshake_done:
            return
        self._run(self._do_handshake)

    def _do_handshake(self) -> None:
        connection = self.connection
        self._start()
        self._feed(connection.is_post_handshake)
        if connection.is_post_handshake():
            self._handshake_done = True
            return
        if self._at_eof():
            self._receiving_end()
        raise _want_read()

    # -- data -------------------------------------------------------------------------------------
    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        """Up to ``len`` bytes of application data (into ``buffer`` when given).

        Returns ``b''`` (``0``) once the peer's close_notify is read, raises
        :class:`ssl.SSLZeroReturnError` once both sides sent theirs,
        :class:`ssl.SSLWantReadError` when no data is available yet and
        :class:`ssl.SSLEOFError` when the BIO ended without a close_notify.
        """
        if buffer is not None:
            view = memoryview(buffer).cast("B")
            size = len if 0 < len <= view.nbytes else view.nbytes
        else:
            if len < 0:
                raise ValueError("size should not be negative")
            view = None
            size = len
        if not self._handshake_done:
            self.do_handshake()
        data: bytes = self._run(lambda: self._read(size))
        if view is None:
            return data
        view[:data.__len__()] = data
        return data.__len__()

    def _read(self, size: int) -> bytes:
        plaintext = self._plaintext
        if size == 0:
            return b""
        if not plaintext:
            self._feed(lambda: bool(plaintext))
        if plaintext:
            data = bytes(plaintext[:size])
            del plaintext[:size]
            return data
        if self.connection.close_notify_received:
            if self._shutdown_sent:
                raise _ssl_error(ssl.SSLZeroReturnError, ssl.SSL_ERROR_ZERO_RETURN,
                                 "TLS/SSL connection has been closed (EOF) (siotls)")
            return b""
        if self._ragged_eof or self._at_eof():
            if self._ignore_eof:
                return b""
            self._receiving_end()
            raise _eof_error()
        raise _want_read()

    def write(self, data: Any) -> int:
        """Encrypt ``data`` into the outgoing BIO; returns its length."""
        view = memoryview(data).cast("B")
        if not self._handshake_done:
            self.do_handshake()
        if self._failure is None:
            if self._shutdown_sent:
                raise _protocol_error("PROTOCOL_IS_SHUTDOWN", "protocol is shutdown")
            if self._ragged_eof and not self._ignore_eof:
                raise _ssl_error(ssl.SSLEOFError, ssl.SSL_ERROR_EOF,
                                 "EOF occurred in violation of protocol (siotls)")
        self._run(lambda: self.connection.send_data(view))
        return view.nbytes

    def pending(self) -> int:
        """Decrypted bytes ready for :meth:`read`."""
        return self._plaintext.__len__()

    def unwrap(self) -> None:
        """Send close_notify; :class:`ssl.SSLWantReadError` until the peer's arrives."""
        if not self._handshake_done and self._failure is None:
            raise _protocol_error("SHUTDOWN_WHILE_IN_INIT", "shutdown while in init")
        self._run(self._unwrap)

    def _unwrap(self) -> None:
        connection = self.connection
        if not self._shutdown_sent:
            self._shutdown_sent = True
            connection.close_sending_end()
        self._discard = True
        try:
            self._feed(lambda: False)
        finally:
            self._discard = False
        if connection.close_notify_received:
            return
        if self._ragged_eof or self._at_eof():
            if self._ignore_eof:
                return
            self._receiving_end()
            raise _eof_error()
        raise _want_read()

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
        chain = self.connection.nconfig.peer_certificate_chain
        if not chain:
            return None
        if binary_form:
            return chain[0]
        if not self.connection.nconfig.peer_verified:
            return {}
        if self._peercert is None:
            self._peercert = certificate_dict(chain[0])
        return self._peercert

    def get_unverified_chain(self) -> list[bytes]:
        """The peer's certificates as sent, leaf first, DER."""
        return list(self.connection.nconfig.peer_certificate_chain)

    def get_verified_chain(self) -> list[bytes]:
        msg = "siotls does not keep the verified path; see get_unverified_chain()"
        raise NotImplementedError(msg)

    def cipher(self) -> tuple[str, str, int] | None:
        suite = self.connection.nconfig.cipher_suite
        if suite is None or not self._handshake_done:
            return None
        return suite.name, "TLSv1.3", _CIPHER_BITS.get(suite, 0)

    def shared_ciphers(self) -> list[tuple[str, str, int]] | None:
        """Server: the suites the client offered that we support, in our order."""
        if not self._server_side or not self._handshake_done:
            return None
        offered = self._client_suites
        return [(CipherSuites(suite).name, "TLSv1.3", _CIPHER_BITS.get(CipherSuites(suite), 0))
                for suite in self.connection.config.cipher_suites
                if offered is None or suite in offered]

    def compression(self) -> str | None:
        return None

    def version(self) -> str | None:
        return "TLSv1.3" if self._handshake_done else None

    def selected_alpn_protocol(self) -> str | None:
        alpn = self.connection.nconfig.alpn
        if alpn is None or not self._handshake_done:
            return None
        return alpn.decode("ascii", "replace")

    def selected_npn_protocol(self) -> str | None:
        return None

    def get_channel_binding(self, cb_type: str = "tls-unique") -> bytes | None:
        """``None`` for ``tls-unique`` (undefined in TLS 1.3); ``tls-exporter`` (RFC 9266)."""
        if cb_type == "tls-exporter":
            if not self._handshake_done:
                return None
            return self.connection.export_keying_material(b"EXPORTER-Channel-Binding", b"", 32)
        if cb_type not in ssl.CHANNEL_BINDING_TYPES:
            raise ValueError(f"{cb_type!r} channel binding type not implemented")
        return None

    def verify_client_post_handshake(self) -> None:
        msg = "siotls does not do post-handshake client authentication"
        raise NotImplementedError(msg)


# -- the context ----------------------------------------------------------------------------------
def _not_implemented(what: str) -> NoReturn:
    raise NotImplementedError(f"siotls.compat.SSLContext: {what}")


class SSLContext(ssl.SSLContext):
    """An :class:`ssl.SSLContext` whose ``wrap_bio()`` runs siotls (see the module doc).

    Build it with :meth:`from_config` (or ``SSLContext(config)``): the side of
    ``config`` gives the protocol, ``PROTOCOL_TLS_CLIENT`` or ``PROTOCOL_TLS_SERVER``.
    :attr:`config` is the configuration connections use, the settings applied.
    """

    def __new__(cls, config: TLSConfiguration, *args: Any, **kwargs: Any) -> Self:
        if not isinstance(config, TLSConfiguration):
            msg = ("siotls.compat.SSLContext takes a siotls TLSConfiguration, "
                   f"not {type(config).__name__}")
            raise TypeError(msg)
        protocol = (ssl.PROTOCOL_TLS_SERVER if config.side == "server"
                    else ssl.PROTOCOL_TLS_CLIENT)
        self = super().__new__(cls, protocol)
        self._setup(config)
        return self

    @classmethod
    def from_config(cls, config: TLSConfiguration) -> Self:
        """A context for ``config.side`` whose connections use ``config``."""
        return cls(config)

    def _setup(self, config: TLSConfiguration) -> None:
        self._base = config
        self._config: TLSConfiguration | None = config
        self._config_problem = ""
        self._server = config.side == "server"
        truststore = config.truststore
        self._cas: list[bytes] = list(truststore.certificates) if truststore else []
        self._stores: list[TrustStore] = [truststore] if truststore else []
        if self._server:
            self._verify_mode = (ssl.CERT_REQUIRED if config.require_peer_authentication
                                 else ssl.CERT_NONE)
        else:
            self._verify_mode = ssl.CERT_REQUIRED if truststore is not None else ssl.CERT_NONE
        self._check_hostname = not self._server and truststore is not None
        self._alpn = config.alpn
        self._chain = tuple(config.certificate_chain)
        self._key = config.private_key
        self._key_exchanges = tuple(config.key_exchanges)
        self._middlebox = config.middlebox_compatibility
        self._keylog_filename: str | None = None
        options = ssl.Options(super().options)
        if config.middlebox_compatibility:
            options |= ssl.OP_ENABLE_MIDDLEBOX_COMPAT
        else:
            options &= ~ssl.OP_ENABLE_MIDDLEBOX_COMPAT
        self._options = options
        self._verify_flags = ssl.VerifyFlags.VERIFY_X509_TRUSTED_FIRST

    # -- the siotls configuration ------------------------------------------------------------------
    @property
    def config(self) -> TLSConfiguration:
        """The configuration of new connections (raises ValueError if incomplete)."""
        if self._config is None:
            raise ValueError(self._config_problem)
        return self._config

    def _truststore(self) -> TrustStore | None:
        from cryptography.utils import CryptographyDeprecationWarning  # noqa: PLC0415

        from siotls.trust import TrustStore  # noqa: PLC0415

        cas = tuple(self._cas)
        if not cas:
            return None
        for store in self._stores:
            if store.certificates == cas:
                return store
        with warnings.catch_warnings():  # odd system CAs (as get_truststore does)
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            store = TrustStore(cas)
        self._stores = [*self._stores[-1:], store]
        return store

    def _changes(self) -> dict[str, Any]:
        changes: dict[str, Any] = {
            "alpn": self._alpn, "certificate_chain": self._chain, "private_key": self._key,
            "key_exchanges": self._key_exchanges, "middlebox_compatibility": self._middlebox,
        }
        truststore = self._truststore()
        if self._server:
            changes["truststore"] = truststore
            changes["require_peer_authentication"] = self._verify_mode == ssl.CERT_REQUIRED
            changes["num_tickets"] = 0  # num_tickets says 0: no compat session support yet
        elif self._verify_mode == ssl.CERT_NONE:
            changes["truststore"] = None
        else:
            if truststore is None:
                msg = ("verify_mode is CERT_REQUIRED but no CA certificate is loaded: call "
                       "load_verify_locations() or load_default_certs()")
                raise ValueError(msg)
            changes["truststore"] = truststore
        if self._keylog_filename is not None:
            path = self._keylog_filename

            def keylog(line: str) -> None:
                with open(path, "a") as file:
                    file.write(line + "\n")

            changes["log_keys"] = True
            changes["keylog"] = keylog
        return changes

    def _rebuild(self) -> None:
        """Apply the settings to the configuration (a problem is raised by wrap_bio)."""
        try:
            changes = self._changes()
            with warnings.catch_warnings():  # the setters warn themselves
                warnings.simplefilter("ignore", InsecureWarning)
                self._config = self._base.copy(**changes)
        except ValueError as exc:
            self._config = None
            self._config_problem = f"siotls.compat.SSLContext: {exc}"

    # -- wrapping --------------------------------------------------------------------------------
    def wrap_bio(self, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO,
                 server_side: bool = False, server_hostname: str | bytes | None = None,
                 session: ssl.SSLSession | None = None) -> SSLObject:
        """A :class:`SSLObject` reading ``incoming`` and writing ``outgoing``."""
        if session is not None:
            _not_implemented("session resumption (session=)")
        if server_side and not self._server:
            raise ValueError("Cannot create a server socket with a PROTOCOL_TLS_CLIENT context")
        if not server_side and self._server:
            raise ValueError("Cannot create a client socket with a PROTOCOL_TLS_SERVER context")
        if isinstance(server_hostname, bytes | bytearray):
            server_hostname = bytes(server_hostname).decode("ascii")
        if server_hostname and not server_hostname.isascii():
            server_hostname = server_hostname.encode("idna").decode("ascii")  # as ssl does
        server_hostname = server_hostname or None
        config = self.config
        engine_hostname = None
        if not server_side:
            if server_hostname is None and self._check_hostname:
                raise ValueError("check_hostname requires server_hostname")
            engine_hostname = server_hostname
            if config.truststore is not None and not self._check_hostname:
                # The chain is still verified, for any name; SNI is still sent.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", InsecureWarning)  # ssl does not warn
                    config = config.copy(check_hostname=False)
        return SSLObject._create_siotls(self, config, incoming, outgoing, server_side,
                                        server_hostname, engine_hostname)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> NoReturn:
        _not_implemented("wrap_socket() is not supported, only wrap_bio() (asyncio, trio, "
                         "anyio...); use the siotls adapters for blocking sockets")

    # -- certificates and trust ------------------------------------------------------------------
    def load_cert_chain(self, certfile: Any, keyfile: Any = None,
                        password: _PasswordType | None = None) -> None:
        """Our certificate chain (PEM, leaf first) and private key (PEM)."""
        cert_data = Path(os.fsdecode(certfile)).read_bytes()
        key_data = Path(os.fsdecode(keyfile)).read_bytes() if keyfile is not None else cert_data
        if callable(password):
            password = password()
        if isinstance(password, str):
            password = password.encode()
        try:
            chain = decode_pem_certificate_chain(cert_data)
            key = decode_pem_private_key(key_data, bytes(password) if password else None)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InsecureWarning)
                # checks that the key matches the certificate
                self._base.copy(certificate_chain=chain, private_key=key)
        except ValueError as exc:
            raise _protocol_error("PEM_LIB", str(exc)) from exc
        self._chain = tuple(chain)
        self._key = key
        self._rebuild()

    def load_verify_locations(self, cafile: Any = None, capath: Any = None,
                              cadata: Any = None) -> None:
        """Add CA certificates: a PEM file, a directory of PEM files, PEM text or DER bytes."""
        if cafile is None and capath is None and cadata is None:
            raise TypeError("cafile, capath and cadata cannot be all omitted")
        found: list[bytes] = []
        try:
            if cafile is not None:
                found += decode_pem_certificate_chain(Path(os.fsdecode(cafile)).read_bytes())
            if capath is not None:
                for entry in sorted(Path(os.fsdecode(capath)).iterdir()):
                    if entry.is_file():
                        data = entry.read_bytes()
                        if b"-----BEGIN CERTIFICATE-----" in data:
                            found += decode_pem_certificate_chain(data)
            if isinstance(cadata, str):
                found += decode_pem_certificate_chain(cadata)
            elif cadata is not None:
                found += _split_der(bytes(cadata))
        except ValueError as exc:
            raise _protocol_error("PEM_LIB", str(exc)) from exc
        self._add_cas(found)

    def _add_cas(self, certificates: Iterable[bytes]) -> None:
        for der in certificates:
            if der not in self._cas:
                self._cas.append(der)
        self._rebuild()

    def load_default_certs(self, purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH) -> None:
        """Add the system's CAs (:func:`siotls.trust.get_truststore`)."""
        self.set_default_verify_paths()

    def set_default_verify_paths(self) -> None:
        from siotls.trust import get_truststore  # noqa: PLC0415

        system = get_truststore()
        if not self._cas:
            self._stores.append(system)
        self._add_cas(system.certificates)

    def cert_store_stats(self) -> dict[str, int]:
        return {"x509": len(self._cas), "crl": 0, "x509_ca": len(self._cas)}

    def get_ca_certs(self, binary_form: bool = False) -> Any:
        if binary_form:
            return list(self._cas)
        return [certificate_dict(der) for der in self._cas]

    # -- verification -----------------------------------------------------------------------------
    @property
    def verify_mode(self) -> ssl.VerifyMode:
        return ssl.VerifyMode(self._verify_mode)

    @verify_mode.setter
    def verify_mode(self, value: int) -> None:
        mode = ssl.VerifyMode(value)
        if mode == ssl.CERT_NONE and self._check_hostname:
            raise ValueError(
                "Cannot set verify_mode to CERT_NONE when check_hostname is enabled.")
        if self._server and mode == ssl.CERT_OPTIONAL:
            _not_implemented("CERT_OPTIONAL on a server (siotls either requires a client "
                             "certificate or does not ask for one)")
        if not self._server and mode == ssl.CERT_NONE and self._verify_mode != ssl.CERT_NONE:
            warnings.warn("verify_mode = CERT_NONE: the server's certificate is not verified",
                          InsecureWarning, stacklevel=2)
        self._verify_mode = mode  # CERT_OPTIONAL on a client: verified, as with OpenSSL
        self._rebuild()

    @property
    def check_hostname(self) -> bool:
        return self._check_hostname

    @check_hostname.setter
    def check_hostname(self, value: bool) -> None:
        value = bool(value)
        if value and self._verify_mode == ssl.CERT_NONE:
            self._verify_mode = ssl.CERT_REQUIRED  # as ssl does
        self._check_hostname = value
        self._rebuild()

    @property
    def verify_flags(self) -> ssl.VerifyFlags:
        return self._verify_flags

    @verify_flags.setter
    def verify_flags(self, value: int) -> None:
        flags = ssl.VerifyFlags(value)
        if flags & ~_HONOURED_VERIFY_FLAGS:
            _not_implemented(f"verify_flags {flags!r} (only VERIFY_X509_STRICT, which "
                             "siotls always applies, and VERIFY_X509_TRUSTED_FIRST)")
        self._verify_flags = flags

    @property
    def hostname_checks_common_name(self) -> bool:
        return False

    @hostname_checks_common_name.setter
    def hostname_checks_common_name(self, value: bool) -> None:
        if value:
            _not_implemented("hostname_checks_common_name (siotls only reads subjectAltName)")

    @property
    def post_handshake_auth(self) -> bool:
        return False

    @post_handshake_auth.setter
    def post_handshake_auth(self, value: bool) -> None:
        if value:
            _not_implemented("post_handshake_auth")

    # -- protocol settings ----------------------------------------------------------------------
    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        """Offer (client) or accept (server) these ALPN protocols, in order of preference."""
        protocols = [protocol.encode("ascii") for protocol in alpn_protocols]
        if any(not 0 < len(protocol) < 256 for protocol in protocols):
            raise ssl.SSLError("ALPN protocols must be 1 to 255 in length")
        self._alpn = tuple(dict.fromkeys(protocols)) or None
        self._rebuild()

    def set_npn_protocols(self, npn_protocols: Iterable[str]) -> NoReturn:
        _not_implemented("NPN does not exist in TLS 1.3; use set_alpn_protocols()")

    def set_ciphers(self, cipherlist: str, /) -> None:
        """Checked like ``ssl`` does; as with OpenSSL it does not touch the TLS 1.3 suites."""
        super().set_ciphers(cipherlist)

    def get_ciphers(self) -> Any:
        """The TLS 1.3 suites of :attr:`config`, as ``ssl`` describes them."""
        result = []
        for suite in map(CipherSuites, self.config.cipher_suites):
            bits = _CIPHER_BITS.get(suite, 0)
            symmetric, enc = _CIPHER_DETAILS.get(suite, ("", ""))
            result.append({
                "id": 0x03000000 | suite, "name": suite.name, "protocol": "TLSv1.3",
                "description": f"{suite.name:<30} TLSv1.3 Kx=any      Au=any   "
                               f"Enc={enc:<22} Mac=AEAD",
                "strength_bits": bits, "alg_bits": bits, "aead": True,
                "symmetric": symmetric, "digest": None, "kea": "kx-any", "auth": "auth-any",
            })
        return result

    def set_ecdh_curve(self, name: str, /) -> None:
        """Use one key exchange group (an OpenSSL curve name, e.g. ``prime256v1``)."""
        group = _CURVES.get(name.lower())
        if group is None:
            raise ValueError(f"unknown elliptic curve name {name!r}")
        self._key_exchanges = (group,)
        self._rebuild()

    def load_dh_params(self, path: str, /) -> NoReturn:
        _not_implemented("finite-field Diffie-Hellman (load_dh_params)")

    @property
    def options(self) -> ssl.Options:
        return self._options

    @options.setter
    def options(self, value: int) -> None:
        options = ssl.Options(value)
        if options & ssl.OP_NO_TLSv1_3:
            _not_implemented("OP_NO_TLSv1_3: siotls only speaks TLS 1.3")
        self._options = options
        self._middlebox = bool(options & ssl.OP_ENABLE_MIDDLEBOX_COMPAT)
        self._rebuild()

    @property  # type: ignore[override]  # ssl.SSLContext returns a TLSVersion too
    def minimum_version(self) -> ssl.TLSVersion:
        return ssl.TLSVersion.TLSv1_3

    @minimum_version.setter
    def minimum_version(self, value: ssl.TLSVersion) -> None:
        if value not in (ssl.TLSVersion.MINIMUM_SUPPORTED, ssl.TLSVersion.MAXIMUM_SUPPORTED) \
                and value > ssl.TLSVersion.TLSv1_3:
            _not_implemented(f"minimum_version {value!r}")

    @property  # type: ignore[override]  # ssl.SSLContext returns a TLSVersion too
    def maximum_version(self) -> ssl.TLSVersion:
        return ssl.TLSVersion.TLSv1_3

    @maximum_version.setter
    def maximum_version(self, value: ssl.TLSVersion) -> None:
        if value != ssl.TLSVersion.MAXIMUM_SUPPORTED and value < ssl.TLSVersion.TLSv1_3:
            _not_implemented(f"maximum_version {value!r}: siotls only speaks TLS 1.3")

    @property
    def num_tickets(self) -> int:
        return 0

    @num_tickets.setter
    def num_tickets(self, value: int) -> None:
        if not self._server:
            raise ValueError("SSLContext is not a server context.")
        if value:
            _not_implemented("session tickets (num_tickets)")

    @property
    def sni_callback(self) -> None:
        return None

    @sni_callback.setter
    def sni_callback(self, value: object) -> None:
        if value is not None:
            _not_implemented("sni_callback / set_servername_callback")

    def set_servername_callback(self, server_name_callback: Any) -> None:
        self.sni_callback = server_name_callback

    @property  # type: ignore[override]  # None when unset, as in ssl
    def keylog_filename(self) -> str | None:
        return self._keylog_filename

    @keylog_filename.setter
    def keylog_filename(self, value: Any) -> None:
        self._keylog_filename = None if value is None else os.fsdecode(value)
        self._rebuild()


def _split_der(data: bytes) -> list[bytes]:
    """Concatenated DER certificates (``cadata`` bytes) -> a list."""
    certificates = []
    while data:
        if len(data) < 2 or data[0] != 0x30:
            raise ValueError("cadata does not hold DER certificates")
        length = data[1]
        header = 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[2:2 + count], "big")
            header += count
        end = header + length
        if end > len(data):
            raise ValueError("cadata holds a truncated DER certificate")
        certificates.append(data[:end])
        data = data[end:]
    return certificates
