"""siotls: a sans-IO TLS 1.3 implementation (RFC 8446) on ``cryptography``.

The public names: :class:`TLSConfiguration`, :class:`TLSConnection`,
:class:`TLSSession`, :class:`TicketKeys` / :class:`TicketKey`, :class:`ExternalPSK`,
:class:`TLSError` and its subclasses (in :mod:`siotls.errors`), and the
modules :mod:`siotls.crypto`, :mod:`siotls.trust`, :mod:`siotls.pem`,
:mod:`siotls.iana`.
"""

from siotls import crypto, errors, iana
from siotls.core.config import InsecureWarning, TLSConfiguration, TLSNegotiatedConfiguration
from siotls.core.connection import TLSConnection
from siotls.core.errors import RaggedEOF, TLSError, TLSFatalAlert, TLSPeerAlert, TLSUsageError
from siotls.core.psk import ExternalPSK
from siotls.core.session import TLSSession
from siotls.core.tickets import TicketKey, TicketKeys

__version__ = "0.1.0"

__all__ = [
    "ExternalPSK",
    "InsecureWarning",
    "RaggedEOF",
    "TLSConfiguration",
    "TLSConnection",
    "TLSError",
    "TLSFatalAlert",
    "TLSNegotiatedConfiguration",
    "TLSPeerAlert",
    "TLSSession",
    "TLSUsageError",
    "TicketKey",
    "TicketKeys",
    "__version__",
    "crypto",
    "errors",
    "iana",
]
