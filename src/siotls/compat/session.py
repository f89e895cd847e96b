"""``ssl.SSLSession``'s interface over a siotls :class:`~siotls.TLSSession`.

``ssl.SSLSession`` cannot be subclassed nor built from Python, so
:class:`SSLSession` only has its attributes (``has_ticket``, ``id``, ``time``,
``timeout``, ``ticket_lifetime_hint``); code that keeps ``sslobj.session`` and
passes it back as ``session=`` (or sets ``sslobj.session``) resumes as with
``ssl``. :attr:`SSLSession.tls_session` is the siotls session underneath, which
serializes (:meth:`~siotls.TLSSession.to_bytes`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from siotls.core.session import TLSSession

__all__ = ["SSLSession", "tls_session_of"]


class SSLSession:
    """A client's resumable session, as ``ssl.SSLSession`` presents it."""

    __slots__ = ("tls_session",)

    def __init__(self, tls_session: TLSSession) -> None:
        self.tls_session = tls_session

    @property
    def has_ticket(self) -> bool:
        return True

    @property
    def id(self) -> bytes:
        """A stable 32-byte name for the session (TLS 1.3 sessions have no id)."""
        return hashlib.sha256(self.tls_session.ticket).digest()

    @property
    def time(self) -> int:
        """When the ticket arrived, in seconds since the epoch."""
        return int(self.tls_session.received_at)

    @property
    def timeout(self) -> int:
        return self.tls_session.ticket_lifetime

    @property
    def ticket_lifetime_hint(self) -> int:
        return self.tls_session.ticket_lifetime

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SSLSession):
            return NotImplemented
        return self.tls_session == other.tls_session

    def __hash__(self) -> int:
        return hash(self.tls_session.ticket)


def tls_session_of(session: Any) -> TLSSession | None:
    """The siotls session of a ``session=`` argument; TypeError as ``ssl`` for others."""
    if session is None:
        return None
    if isinstance(session, SSLSession):
        return session.tls_session
    raise TypeError("Value is not a SSLSession.")
