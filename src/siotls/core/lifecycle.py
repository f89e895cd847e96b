"""The connection's lifecycle as explicit state (as h11 keeps DONE/CLOSED/ERROR
in its table), apart from the handshake's state machine (:mod:`siotls.core.state`).

Theory of operation
-------------------
Each direction has its own state, because TLS 1.3 allows half-close::

    sending:    OPEN --close_sending_end() or a fatal alert--> CLOSED
    receiving:  OPEN --the peer's close_notify--------------> CLOSE_NOTIFY
                OPEN --close_receiving_end() (transport EOF)-> EOF

``CLOSE_NOTIFY`` is final: an EOF after it is the normal end and changes
nothing; bytes after it are not TLS (``unused_data()``). ``EOF`` means the
stream ended without a close_notify, a possible truncation.

Failure is a third, overriding state: ``failure`` holds the error that ended
the connection (our fatal alert, the peer's alert, or a ragged EOF during the
handshake), and :meth:`Lifecycle.check` is the one guard every public call
goes through: once failed, every call raises
:class:`~siotls.core.errors.TLSConnectionFailed` chained to that error.
"""

from __future__ import annotations

import enum

from siotls.core.errors import TLSConnectionFailed, TLSUsageError


class Sending(enum.Enum):
    OPEN = "open"
    #: close_notify or a fatal alert was queued: nothing more goes out.
    CLOSED = "closed"


class Receiving(enum.Enum):
    OPEN = "open"
    #: The peer closed cleanly; what follows its close_notify is unused_data().
    CLOSE_NOTIFY = "close_notify"
    #: The transport ended without a close_notify.
    EOF = "eof"


class Lifecycle:
    """Where a connection is in its life; see the module docstring."""

    __slots__ = ("failure", "initiated", "receiving", "sending")

    def __init__(self) -> None:
        self.initiated = False
        self.sending = Sending.OPEN
        self.receiving = Receiving.OPEN
        self.failure: BaseException | None = None

    def check(self, *, initiated: bool = True) -> None:
        """The guard: raise if the connection failed (or, by default, was not started)."""
        if self.failure is not None:
            raise TLSConnectionFailed("the connection failed earlier") from self.failure
        if initiated and not self.initiated:
            raise TLSUsageError("call initiate_connection() first")

    def fail(self, error: BaseException) -> None:
        """Record the error that ended the connection (the first one wins)."""
        if self.failure is None:
            self.failure = error

    def sending_open(self) -> bool:
        """Whether our sending end is open (a bound method: post-handshake
        authentication asks it before answering)."""
        return self.sending is Sending.OPEN

    @property
    def usable(self) -> bool:
        """Started and not failed: the fast path's test before :meth:`check`."""
        return self.initiated and self.failure is None

    @property
    def can_receive(self) -> bool:
        return self.failure is None and self.receiving is Receiving.OPEN

    @property
    def can_send(self) -> bool:
        return self.failure is None and self.sending is Sending.OPEN
