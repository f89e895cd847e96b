"""httpx over siotls: :class:`AsyncHTTPTransport`, an ``httpx.AsyncHTTPTransport``
whose TLS runs on siotls.

Usage::

    config = siotls.TLSConfiguration("client", truststore=siotls.trust.get_truststore())
    transport = siotls.httpx.AsyncHTTPTransport(config, http2=True)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get("https://example.org/")

It works on asyncio and trio (anyio underneath). Connections to an origin
resume the TLS session of the previous ones (:doc:`/resumption`). ``response.extensions
['network_stream'].get_extra_info('ssl_object')`` is a
:class:`~siotls.adapters._info.SSLObjectInfo`; ``.connection`` is the
:class:`~siotls.TLSConnection`.

Theory of operation
-------------------
httpx's ``AsyncHTTPTransport`` converts requests and responses and maps
httpcore's errors onto its own, all around an httpcore connection pool kept in
``self._pool``. This subclass builds that pool only, over
:class:`siotls.adapters._httpcore.SiotlsBackend`, and inherits the rest
(``handle_async_request``, ``aclose``, the async context manager). The siotls
configuration replaces httpx's ``verify=``, ``cert=`` and ``trust_env=``
(``SSL_CERT_FILE`` is not read); ALPN follows ``http1``/``http2``.

Errors: a failed handshake is ``httpx.ConnectError`` (message
``'<alert>: <reason>'``, e.g. ``'unknown_ca: ...'``), a TLS error later
``httpx.ReadError``/``WriteError``; either way the :class:`~siotls.TLSError`
itself is its ``__cause__``::

    try:
        await client.get(url)
    except httpx.ConnectError as exc:
        if isinstance(exc.__cause__, siotls.TLSError): ...

(httpcore's pool re-raises ``from None``, which erases the chain, and httpx
chains its own error to httpcore's: :meth:`AsyncHTTPTransport.handle_async_request`
raises httpx's error again from the TLS error; the original stays on
``__context__``.) Proxies are not supported (use httpx's own transport with
``verify=siotls.compat.SSLContext``). httpcore is used through its public API
only (``AsyncConnectionPool``, ``AsyncNetworkBackend``/``AsyncNetworkStream``).
"""

from __future__ import annotations

from collections.abc import Iterable

import httpcore
import httpx

from siotls.adapters._httpcore import SiotlsBackend, connection_pool, tls_error_of
from siotls.core.config import TLSConfiguration

__all__ = ["AsyncHTTPTransport", "SiotlsBackend"]

#: httpx's default limits (``httpx.Limits`` is not exported with them).
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20,
                              keepalive_expiry=5.0)


class AsyncHTTPTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` with TLS on siotls.

    The parameters other than ``config`` are httpx's.

    :param config: a client :class:`~siotls.TLSConfiguration` (its ``alpn`` is
        replaced); defaults to verifying with the system trust store.
    """

    def __init__(  # the parent's __init__ would only build a pool on Python's ssl
        self, config: TLSConfiguration | None = None, *, http1: bool = True,
        http2: bool = False, limits: httpx.Limits = DEFAULT_LIMITS,
        uds: str | None = None, local_address: str | None = None, retries: int = 0,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> None:
        self._pool = connection_pool(
            config,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=http1, http2=http2, uds=uds, local_address=local_address,
            retries=retries, socket_options=socket_options)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """httpx's, with the :class:`~siotls.TLSError` as the ``__cause__`` of its errors."""
        try:
            return await super().handle_async_request(request)
        except httpx.TransportError as exc:
            tls_error = tls_error_of(exc)
            if tls_error is None or exc.__cause__ is tls_error:
                raise
            raise type(exc)(str(exc), request=request) from tls_error
