"""httpcore network backend whose TLS runs on siotls (what :mod:`siotls.httpx` uses).

Theory of operation
-------------------
httpcore opens connections through a *network backend*: ``connect_tcp`` gives a
plain stream, and for ``https://`` the connection calls
``stream.start_tls(ssl_context, server_hostname, timeout)`` and then asks
``stream.get_extra_info('ssl_object').selected_alpn_protocol()`` whether to
speak HTTP/2. :class:`SiotlsBackend` is httpcore's own anyio backend (so it runs
on asyncio and trio) whose streams replace ``start_tls``: it wraps the anyio
socket stream in a :class:`siotls.anyio.TLSStream` (``standard_compatible=False``,
as HTTPS peers may close without close_notify) under ``anyio.fail_after(timeout)``.
The TLS stream is an anyio byte stream that answers anyio's ``TLSAttribute``
keys, so httpcore's anyio stream serves it unchanged: reads, writes,
``get_extra_info`` (``'ssl_object'``, a :class:`~siotls.adapters._info.SSLObjectInfo`
with ``selected_alpn_protocol()``; ``'client_addr'``, ``'server_addr'``,
``'socket'``, ``'is_readable'``) and the error mapping. (That stream class,
``httpcore._backends.anyio.AnyIOStream``, is not public API: tested with httpcore 1.0.)

The siotls :class:`~siotls.TLSConfiguration` given to the backend decides
everything (trust store, hostname check, client certificate...) except ALPN:
httpcore sets the protocols it can speak (``http/1.1``, plus ``h2`` with
``http2=True``) on the ``ssl.SSLContext`` it hands to ``start_tls``, which has no
getter. Give the pool an :class:`ALPNContext` (as :func:`connection_pool` does):
it only records them. With any other context, the configuration's own ``alpn``
is offered, else ``http/1.1``. The context is otherwise ignored.

Errors, as httpcore's anyio backend maps them: a failed handshake is
``httpcore.ConnectError`` (its ``__cause__`` an ``anyio.BrokenResourceError``
whose ``__cause__`` is the :class:`~siotls.TLSError`, e.g. ``UnknownCA``; its
message starts with the alert name, e.g. ``unknown_ca: ...``), a handshake over
time ``httpcore.ConnectTimeout``; after it, ``ReadError``/``WriteError`` and
``ReadTimeout``/``WriteTimeout``. Note that ``httpcore.AsyncConnectionPool``
re-raises with ``raise exc from None``, which erases the ``ConnectError``'s
``__cause__``: from a pool (and from httpx), follow ``__context__`` instead.

Usage::

    pool = siotls.adapters._httpcore.connection_pool(config, http2=True)
    response = await pool.request("GET", "https://example.org/")
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore
from httpcore._backends.anyio import AnyIOStream  # the stream AnyIOBackend returns

from siotls.adapters._anyio import TLSStream
from siotls.core.config import TLSConfiguration

__all__ = ["ALPNContext", "SiotlsBackend", "connection_pool"]


class ALPNContext(ssl.SSLContext):
    """An ``ssl.SSLContext`` that only records what httpcore passes to
    ``set_alpn_protocols`` (it is never used to make a connection)."""

    alpn_protocols: tuple[str, ...] | None = None

    def __new__(cls) -> ALPNContext:
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        self.alpn_protocols = tuple(alpn_protocols)


class _SiotlsStream(AnyIOStream):
    """httpcore's anyio stream, with ``start_tls`` on siotls."""

    def __init__(self, stream: anyio.abc.ByteStream, backend: SiotlsBackend) -> None:
        super().__init__(stream)
        self._backend = backend

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        config = self._backend.config_for(ssl_context)
        try:
            with anyio.fail_after(timeout):
                tls = await TLSStream.wrap(self._stream, config=config, hostname=server_hostname,
                                           standard_compatible=False)
        except TimeoutError as exc:
            await anyio.aclose_forcefully(self._stream)
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream,
                OSError) as exc:
            await anyio.aclose_forcefully(self._stream)
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        except BaseException:
            await anyio.aclose_forcefully(self._stream)
            raise
        return _SiotlsStream(tls, self._backend)


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
        self._tcp = httpcore.AnyIOBackend()
        self._configs: dict[tuple[str, ...], TLSConfiguration] = {}

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
                          ) -> httpcore.AsyncNetworkStream:
        stream = await self._tcp.connect_tcp(host, port, timeout, local_address, socket_options)
        return self._upgradable(stream)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        stream = await self._tcp.connect_unix_socket(path, timeout, socket_options)
        return self._upgradable(stream)

    def _upgradable(self, stream: httpcore.AsyncNetworkStream) -> _SiotlsStream:
        assert isinstance(stream, AnyIOStream)
        return _SiotlsStream(stream._stream, self)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


def connection_pool(config: TLSConfiguration | None = None, **kwargs: Any
                    ) -> httpcore.AsyncConnectionPool:
    """``httpcore.AsyncConnectionPool(**kwargs)`` over :class:`SiotlsBackend` (with an
    :class:`ALPNContext`, so that ``http2=True`` offers ``h2``)."""
    return httpcore.AsyncConnectionPool(
        ssl_context=ALPNContext(), network_backend=SiotlsBackend(config), **kwargs)
