"""siotls for asyncio: ``siotls.asyncio.open_connection(host, port, config=...)`` and friends.

See :mod:`siotls.adapters._asyncio` for how it works (the helpers are in
:mod:`siotls.adapters._asyncio_api`).
"""

from siotls.adapters._asyncio import TLSProtocol, TLSTransport
from siotls.adapters._asyncio_api import (
    connect_accepted_socket,
    create_connection,
    create_server,
    create_unix_connection,
    create_unix_server,
    open_connection,
    start_server,
    start_tls,
)

__all__ = [
    "TLSProtocol",
    "TLSTransport",
    "connect_accepted_socket",
    "create_connection",
    "create_server",
    "create_unix_connection",
    "create_unix_server",
    "open_connection",
    "start_server",
    "start_tls",
]
