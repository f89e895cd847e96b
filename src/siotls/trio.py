"""siotls for trio: :class:`TLSStream`, a ``trio.SSLStream`` with siotls inside.

``siotls.trio.open_tls_over_tcp_stream(host, 443)`` and friends mirror trio's
``open_ssl_over_tcp_*`` helpers. See :mod:`siotls.adapters._trio` for how it works.
"""

from siotls.adapters._trio import *  # noqa: F403
from siotls.adapters._trio import __all__ as __all__  # noqa: PLC0414 (re-exported)
