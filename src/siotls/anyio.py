"""siotls for anyio: :class:`TLSStream`, an ``anyio.streams.tls.TLSStream`` with siotls inside.

``await siotls.anyio.connect(host, 443)`` gives a handshaken stream; anyio's
``TLSAttribute`` keys work on it. See :mod:`siotls.adapters._anyio` for how it works.
"""

from siotls.adapters._anyio import *  # noqa: F403
from siotls.adapters._anyio import __all__ as __all__  # noqa: PLC0414 (re-exported)
