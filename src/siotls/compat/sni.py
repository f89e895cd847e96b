"""``SSLContext.sni_callback`` / ``set_servername_callback`` on siotls.

Theory of operation
-------------------
Python's ``ssl`` calls ``callback(ssl_object, server_name, context)`` once the
ClientHello is in, before the server answers: ``ssl_object`` is the
:class:`~ssl.SSLObject` (for ``wrap_bio``) or the :class:`~ssl.SSLSocket` (for
``wrap_socket``), ``server_name`` the SNI host name (an A-label) or ``None``,
``context`` the server's context. The callback may set ``ssl_object.context``
to another server context, to serve *its* certificate; it returns ``None``, or
an ``ssl.ALERT_DESCRIPTION_*`` number to refuse the connection with that alert.

siotls calls a configuration's ``sni_callback(server_name)`` at the same point
(:mod:`siotls.core.credentials`), for the chains to choose from. Each wrapped
server connection gets its own copy of the configuration whose callback calls
the ``ssl``-style one with the connection's object, then answers with the
chains (``all_certificate_chains``) of the context the object holds *after*
the call: switching context switches the certificate, as with OpenSSL. The other
settings of that context do not apply to the connection under way (as OpenSSL
keeps most of the first context's). An exception in the callback refuses the
connection with handshake_failure, as ``ssl`` does.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from siotls.compat.object import SSLObject
from siotls.core.errors import ALERT_ERRORS, HandshakeFailure
from siotls.iana import AlertDescription

if TYPE_CHECKING:
    from siotls.compat.context import SSLContext
    from siotls.core.config import TLSConfiguration
    from siotls.core.credentials import CertificateChain

__all__ = ["wrap_with_callback"]


class _Bridge:
    """The per-connection siotls ``sni_callback``, calling the ``ssl``-style one."""

    def __init__(self, context: SSLContext) -> None:
        self.context = context
        self.obj: SSLObject | None = None

    def __call__(self, server_name: str | None) -> Sequence[CertificateChain] | None:
        obj = self.obj
        assert obj is not None
        target: Any = getattr(obj, "_sni_owner", None) or obj
        try:
            result = self.context.sni_callback(target, server_name, self.context)
        except Exception as exc:
            msg = f"the sni_callback raised {type(exc).__name__}: {exc}"
            raise HandshakeFailure(msg, reason="sni_callback") from exc
        if result is not None:
            try:
                description = AlertDescription(result)
            except ValueError:
                description = AlertDescription.HANDSHAKE_FAILURE
            error = ALERT_ERRORS.get(description, HandshakeFailure)
            raise error(f"the sni_callback refused server name {server_name!r}",
                        reason="sni_callback")
        chosen = obj.context
        if chosen is self.context:
            return None  # no opinion: choose among this context's chains by name
        return chosen.config.all_certificate_chains


def wrap_with_callback(context: SSLContext, config: TLSConfiguration,
                       incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO) -> SSLObject:
    """A server :class:`SSLObject` whose configuration calls ``context.sni_callback``."""
    bridge = _Bridge(context)
    obj = SSLObject._create_siotls(
        context, config.copy(sni_callback=bridge), incoming, outgoing, True, None, None)
    bridge.obj = obj
    return obj
