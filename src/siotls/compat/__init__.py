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
to the caller's :class:`ssl.MemoryBIO` pair, and its ``wrap_socket()`` a blocking
:class:`SSLSocket` (a subclass of :class:`ssl.SSLSocket`) for synchronous code:
``http.client``, ``urllib.request``, requests/urllib3, httpx's ``Client``,
``smtplib`` and ``imaplib`` STARTTLS, ``socketserver``/``http.server``. Tested with asyncio
(``create_server``, ``open_connection``, ``start_server``, ``loop.start_tls``),
``trio.SSLStream``, anyio's ``TLSStream`` (asyncio and trio backends), and
httpx/uvicorn; the sockets with the blocking clients above and Python's ``ssl``.

Supported :class:`SSLObject` calls, with the standard library's behaviour:
``do_handshake``, ``read(len, buffer)``, ``write``, ``unwrap``, ``pending``,
``getpeercert(binary_form)`` (the dict only for a verified certificate, ``{}``
otherwise, as ``ssl`` does), ``cipher``, ``shared_ciphers``, ``compression``
(``None``), ``version`` (``'TLSv1.3'``), ``selected_alpn_protocol``,
``selected_npn_protocol`` (``None``), ``get_channel_binding`` (``None`` for
``'tls-unique'``, undefined in TLS 1.3 (RFC 9266); ``'tls-exporter'`` is
supported in addition), ``get_unverified_chain`` (``get_verified_chain`` raises
:class:`NotImplementedError`: siotls does not keep the path), and the attributes
``context``, ``server_side``, ``server_hostname``, ``session`` (a
:class:`SSLSession` once the server's tickets arrived; give it back as
``session=`` to ``wrap_bio``/``wrap_socket``, or set it before the handshake, to
resume) and ``session_reused``. The errors are the standard library's classes:
:class:`ssl.SSLWantReadError` (more data needed), :class:`ssl.SSLZeroReturnError`,
:class:`ssl.SSLEOFError` (the incoming BIO ended without a close_notify),
:class:`ssl.SSLCertVerificationError` (the peer's certificate was refused, with
``verify_code`` and ``verify_message``), :class:`ssl.SSLError` (any other
alert, sent or received; ``reason`` uses OpenSSL's names, e.g.
``TLSV1_ALERT_UNKNOWN_CA``) and :class:`ssl.SSLSyscallError` for calls after a
failure (:mod:`siotls.compat.errors` maps them). The siotls exception is chained
as ``__cause__``. Two deliberate differences: application data that arrives
during ``unwrap()`` is dropped rather than failing with
``APPLICATION_DATA_AFTER_CLOSE_NOTIFY``, and sessions are :class:`SSLSession`
objects (``ssl.SSLSession`` cannot be made from Python) that only siotls
contexts take.

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
1.3), ``num_tickets`` (servers, 0 to 16) and ``set_ciphers`` (it never applied
to TLS 1.3 suites). What siotls cannot do raises :class:`NotImplementedError`:
``load_dh_params``, ``set_npn_protocols``, ``hostname_checks_common_name``, CRL
flags, and turning TLS 1.3 off. ``CERT_OPTIONAL`` on a server, ``sni_callback``
(:mod:`siotls.compat.sni`) and ``post_handshake_auth`` work.

What it costs, compared with the native adapters: the ``ssl.SSLContext`` base
class allocates an OpenSSL ``SSL_CTX`` that is never used; every byte is copied
through the two ``MemoryBIO`` objects; and anyio runs ``wrap_bio``
of any context whose type is not exactly ``ssl.SSLContext`` in a worker thread, a
thread hop per connection. The libraries above the shim keep their own limits
(asyncio waits up to 30 s for the peer's close_notify, no half-close, ...): the
native adapters lift those.

:func:`certificate_dict` turns a DER certificate into the ``getpeercert()`` dict.

=================  ==============================================================
context.py         :class:`SSLContext`: ``ssl`` settings -> a siotls configuration
object.py          :class:`SSLObject`: the engine over two ``MemoryBIO``
socket.py          :class:`SSLSocket`: the blocking socket of ``wrap_socket()``
errors.py          siotls errors -> ``ssl`` exceptions and X509_V_ERR codes
session.py         :class:`SSLSession`: ``ssl.SSLSession``'s attributes over a TLSSession
=================  ==============================================================
"""

from siotls.adapters._info import certificate_dict
from siotls.compat.context import SSLContext
from siotls.compat.object import SSLObject
from siotls.compat.session import SSLSession
from siotls.compat.socket import SSLSocket

__all__ = ["SSLContext", "SSLObject", "SSLSession", "SSLSocket", "certificate_dict"]
