"""siotls: a sans-IO TLS 1.3 implementation (RFC 8446) on ``cryptography``.

The public names: :class:`TLSConfiguration`, :class:`TLSConnection`,
:class:`CertificateChain`,
:class:`TLSError` and its subclasses (in :mod:`siotls.errors`), and the
modules :mod:`siotls.crypto`, :mod:`siotls.trust`, :mod:`siotls.pem`,
:mod:`siotls.iana`.
"""

from siotls import crypto, errors, iana
from siotls.core.config import InsecureWarning, TLSConfiguration, TLSNegotiatedConfiguration
from siotls.core.connection import TLSConnection
from siotls.core.credentials import CertificateChain
from siotls.core.errors import RaggedEOF, TLSError, TLSFatalAlert, TLSPeerAlert, TLSUsageError

__version__ = "0.1.0"

__all__ = [
    "CertificateChain",
    "InsecureWarning",
    "RaggedEOF",
    "TLSConfiguration",
    "TLSConnection",
    "TLSError",
    "TLSFatalAlert",
    "TLSNegotiatedConfiguration",
    "TLSPeerAlert",
    "TLSUsageError",
    "__version__",
    "crypto",
    "errors",
    "iana",
]
