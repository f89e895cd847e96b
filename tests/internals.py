"""The one place the tests reach inside a :class:`TLSConnection`.

Some tests must do what no public call does: write a record as if the engine
had sent it (to play a misbehaving peer under the real keys), read the key
schedule or the handshake state, or move a record counter. They do it through
:func:`internals`, so that a change of the connection's private layout is
fixed here once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from siotls import TLSConnection
    from siotls.core.client import ClientHandshake
    from siotls.core.keyschedule import KeySchedule
    from siotls.core.record import RecordLayer
    from siotls.core.record import _Direction as Direction
    from siotls.core.server import ServerHandshake
    from siotls.core.state import State


class Internals:
    """What a test may read or do inside one connection."""

    def __init__(self, conn: TLSConnection) -> None:
        self._conn = conn

    @property
    def records(self) -> RecordLayer:
        return self._conn._records

    @property
    def handshake(self) -> ClientHandshake | ServerHandshake:
        return self._conn._handshake

    @property
    def state(self) -> State:
        return self.handshake.state

    @property
    def schedule(self) -> KeySchedule:
        schedule = self.handshake.schedule
        assert schedule is not None, "no key schedule yet"
        return schedule

    @property
    def write_direction(self) -> Direction:
        """The record layer's sending direction (key, IV, sequence number)."""
        return self.records.write_state

    @property
    def read_direction(self) -> Direction:
        return self.records.read_state

    def write_record(self, content_type: int, payload: bytes) -> None:
        """Queue a record under the current write key, as if the engine had sent it."""
        self.records.write(content_type, payload)


def internals(conn: TLSConnection) -> Internals:
    return Internals(conn)
