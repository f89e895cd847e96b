"""httpcore network backend whose TLS runs on siotls (what :mod:`siotls.httpx` uses).

Theory of operation
-------------------
httpcore opens connections through a *network backend*: ``connect_tcp`` gives a
plain stream, and for ``https://`` the connection calls
``stream.start_tls(ssl_context, server_hostname, timeout)`` and then asks
``stream.get_extra_info('ssl_object').selected_alpn_protocol()`` whether to
speak HTTP/2. :class:`SiotlsBackend` connects with anyio (so it runs on
asyncio and trio) and gives :class:`SiotlsStream`, an ``httpcore.AsyncNetworkStream``
over any anyio byte stream, written here on public httpcore and anyio
interfaces only. Its ``start_tls`` wraps the stream in a
:class:`siotls.anyio.TLSStream` (``standard_compatible=False``, as HTTPS peers
may close without close_notify) under ``anyio.fail_after(timeout)`` and returns
another :class:`SiotlsStream`, so TLS in TLS (HTTPS through an HTTPS proxy)
works. ``get_extra_info`` answers httpcore's keys from anyio's typed
attributes: ``'ssl_object'`` (a :class:`~siotls.adapters._info.SSLObjectInfo`,
with ``selected_alpn_protocol()``), ``'client_addr'``, ``'server_addr'``,
``'socket'`` and ``'is_readable'`` (a pooled connection the server closed).

The siotls :class:`~siotls.TLSConfiguration` given to the backend decides
everything (trust store, hostname check, client certificate...) except ALPN:
httpcore sets the protocols it can speak (``http/1.1``, plus ``h2`` with
``http2=True``) on the ``ssl.SSLContext`` it hands to ``start_tls``, which has no
getter. Give the pool an :class:`ALPNContext` (as :func:`connection_pool` does):
it only records them. With any other context, the configuration's own ``alpn``
is offered, else ``http/1.1``. The context is otherwise ignored.

Resumption: the backend remembers, per origin (server name and port), the last
few TLS connections it made (weakly) and the newest session their tickets gave;
a new connection to the origin offers that session (tickets arrive with the
responses, so the first connections of a burst may all be full handshakes).
At most :data:`MAX_ORIGINS` origins are remembered, the oldest forgotten first.

Errors, as httpcore's own anyio backend maps them: ``ConnectError`` and
``ConnectTimeout`` while connecting and during the handshake,
``ReadError``/``ReadTimeout`` and ``WriteError``/``WriteTimeout`` after it. When
the cause is a :class:`~siotls.TLSError` (``UnknownCA``, ``BadRecordMac``...),
it is the httpcore error's ``__cause__`` itself, with no anyio error between,
and the message starts with the alert name (``unknown_ca: ...``). Note that
``httpcore.AsyncConnectionPool`` re-raises with ``raise exc from None``, which
erases that ``__cause__`` (it stays on ``__context__``);
:class:`siotls.httpx.AsyncHTTPTransport` puts it back for httpx callers
(:func:`tls_error_of` finds it).

Usage::

    pool = siotls.adapters._httpcore.connection_pool(config, http2=True)
    response = await pool.request("GET", "https://example.org/")
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import weakref
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import anyio
import anyio.abc
import httpcore
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSAttribute

from siotls.adapters._anyio import TLSStream
from siotls.core.config import TLSConfiguration
from siotls.core.connection import TLSConnection
from siotls.core.errors import TLSError
from siotls.core.session import TLSSession

__all__ = ["ALPNContext", "SiotlsBackend", "SiotlsStream", "connection_pool", "tls_error_of"]

#: Origins whose sessions a backend keeps.
MAX_ORIGINS = 256
_Origin = tuple[str | None, int | None]

_ErrorMap = Mapping[type[BaseException], type[Exception]]
_CONNECT_ERRORS: _ErrorMap = {
    TimeoutError: httpcore.ConnectTimeout, OSError: httpcore.ConnectError,
    anyio.BrokenResourceError: httpcore.ConnectError,
    anyio.ClosedResourceError: httpcore.ConnectError, anyio.EndOfStream: httpcore.ConnectError}
_READ_ERRORS: _ErrorMap = {
    TimeoutError: httpcore.ReadTimeout, OSError: httpcore.ReadError,
    anyio.BrokenResourceError: httpcore.ReadError, anyio.ClosedResourceError: httpcore.ReadError}
_WRITE_ERRORS: _ErrorMap = {
    TimeoutError: httpcore.WriteTimeout, OSError: httpcore.WriteError,
    anyio.BrokenResourceError: httpcore.WriteError,
    anyio.ClosedResourceError: httpcore.WriteError}


#: httpcore's get_extra_info keys, as anyio typed attributes
_EXTRA_INFO: Mapping[str, Any] = {
    "ssl_object": TLSAttribute.ssl_object, "client_addr": SocketAttribute.local_address,
    "server_addr": SocketAttribute.remote_address, "socket": SocketAttribute.raw_socket}


def tls_error_of(exc: BaseException) -> TLSError | None:
    """The :class:`~siotls.TLSError` behind ``exc``, following ``__cause__`` and
    ``__context__`` (``exc`` itself included), or ``None``."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, TLSError):
            return current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return None


@contextlib.contextmanager
def _mapped(errors: _ErrorMap) -> Iterator[None]:
    """Raise httpcore's error for what the stream raised (from the TLS error, if any)."""
    try:
        yield
    except Exception as exc:
        for source, target in errors.items():
            if isinstance(exc, source):
                tls_error = tls_error_of(exc)
                message = str(tls_error or exc) or type(exc).__name__
                raise target(message) from (tls_error or exc)
        raise


def _is_readable(sock: socket.socket | None) -> bool:
    """Whether a read would not block (data or EOF): an idle pooled connection
    that is readable was closed by the server. No socket counts as readable."""
    if sock is None or sock.fileno() < 0:
        return True
    poll = select.poll()
    poll.register(sock, select.POLLIN)
    return bool(poll.poll(0))


class ALPNContext(ssl.SSLContext):
    """An ``ssl.SSLContext`` that only records what httpcore passes to
    ``set_alpn_protocols`` (it is never used to make a connection)."""

    alpn_protocols: tuple[str, ...] | None = None

    def __new__(cls) -> ALPNContext:
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        self.alpn_protocols = tuple(alpn_protocols)


class SiotlsStream(httpcore.AsyncNetworkStream):
    """An ``httpcore.AsyncNetworkStream`` over an anyio byte stream, TLS on siotls."""

    def __init__(self, stream: anyio.abc.ByteStream, backend: SiotlsBackend) -> None:
        self.stream = stream
        self._backend = backend

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _mapped(_READ_ERRORS), anyio.fail_after(timeout):
            try:
                return await self.stream.receive(max_bytes)
            except anyio.EndOfStream:
                return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            with _mapped(_WRITE_ERRORS), anyio.fail_after(timeout):
                await self.stream.send(buffer)

    async def aclose(self) -> None:
        await self.stream.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> SiotlsStream:
        backend = self._backend
        config = backend.config_for(ssl_context)
        origin = (server_hostname, self._extra(SocketAttribute.remote_port))
        try:
            with _mapped(_CONNECT_ERRORS), anyio.fail_after(timeout):
                tls = await TLSStream.wrap(self.stream, config=config, hostname=server_hostname,
                                           standard_compatible=False,
                                           session=backend.session_for(origin))
        except BaseException:
            await anyio.aclose_forcefully(self.stream)
            raise
        backend.remember(origin, tls.connection)
        return SiotlsStream(tls, backend)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return _is_readable(self._extra(SocketAttribute.raw_socket))
        attribute = _EXTRA_INFO.get(info)
        return None if attribute is None else self._extra(attribute)

    def _extra(self, attribute: Any) -> Any:
        return self.stream.extra(attribute, None)  # noqa: S610 (anyio, not Django)


class SiotlsBackend(httpcore.AsyncNetworkBackend):
    """httpcore's anyio backend with TLS on siotls.

    :param config: a client :class:`~siotls.TLSConfiguration`; defaults to one that
        verifies with the system trust store (:func:`siotls.trust.get_truststore`).
        Its ``alpn`` is replaced by the protocols httpcore asks for (see above).
    """

    def __init__(self, config: TLSConfiguration | None = None) -> None:
        if config is None:
            from siotls.trust import get_truststore  # noqa: PLC0415

            config = TLSConfiguration("client", truststore=get_truststore())
        if config.side != "client":
            raise ValueError("SiotlsBackend needs a client configuration")
        self.config = config
        self._configs: dict[tuple[str, ...], TLSConfiguration] = {}
        #: per origin: recent connections (weakly), and the newest session they gave
        self._origins: dict[_Origin, tuple[deque[weakref.ref[TLSConnection]],
                                           list[TLSSession | None]]] = {}

    def session_for(self, origin: _Origin) -> TLSSession | None:
        """The newest session the origin's connections received, to resume with."""
        entry = self._origins.get(origin)
        if entry is None:
            return None
        connections, newest = entry
        for ref in reversed(connections):
            conn = ref()
            session = conn.session if conn is not None else None
            if session is not None:
                if newest[0] is None or session.received_at >= newest[0].received_at:
                    newest[0] = session
                break
        return newest[0]

    def remember(self, origin: _Origin, connection: TLSConnection) -> None:
        entry = self._origins.pop(origin, None)  # re-inserted last: the newest origin
        if entry is None:
            entry = (deque(maxlen=4), [None])
            while len(self._origins) >= MAX_ORIGINS:
                del self._origins[next(iter(self._origins))]
        entry[0].append(weakref.ref(connection))
        self._origins[origin] = entry

    def config_for(self, ssl_context: ssl.SSLContext) -> TLSConfiguration:
        """The configuration for one connection: ours, with the ALPN protocols that
        httpcore set on ``ssl_context`` when it is an :class:`ALPNContext`."""
        if isinstance(ssl_context, ALPNContext) and ssl_context.alpn_protocols:
            return self._with_alpn(ssl_context.alpn_protocols)
        return self.config if self.config.alpn else self._with_alpn(("http/1.1",))

    def _with_alpn(self, protocols: tuple[str, ...]) -> TLSConfiguration:
        config = self._configs.get(protocols)
        if config is None:  # copy() validates again: once per protocol list
            config = self.config.copy(alpn=[p.encode("ascii") for p in protocols])
            self._configs[protocols] = config
        return config

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> SiotlsStream:
        with _mapped(_CONNECT_ERRORS), anyio.fail_after(timeout):
            stream = await anyio.connect_tcp(host, port, local_host=local_address)
        return self._stream(stream, socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                                  ) -> SiotlsStream:
        with _mapped(_CONNECT_ERRORS), anyio.fail_after(timeout):
            stream = await anyio.connect_unix(path)
        return self._stream(stream, socket_options)

    def _stream(self, stream: anyio.abc.SocketStream,
                socket_options: Iterable[httpcore.SOCKET_OPTION] | None) -> SiotlsStream:
        sock = stream.extra(SocketAttribute.raw_socket)  # noqa: S610 (anyio's, not Django's)
        # TCP_NODELAY is set already, by asyncio or trio.
        for option in socket_options or ():
            sock.setsockopt(*option)
        return SiotlsStream(stream, self)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


def connection_pool(config: TLSConfiguration | None = None, **kwargs: Any
                    ) -> httpcore.AsyncConnectionPool:
    """``httpcore.AsyncConnectionPool(**kwargs)`` over :class:`SiotlsBackend` (with an
    :class:`ALPNContext`, so that ``http2=True`` offers ``h2``)."""
    return httpcore.AsyncConnectionPool(
        ssl_context=ALPNContext(), network_backend=SiotlsBackend(config), **kwargs)
