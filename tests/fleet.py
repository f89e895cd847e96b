"""What the store tests share (not a test module): a clock the test moves, and real
handshakes in memory that say whether a server resumed a session."""

from __future__ import annotations

from certs import make_ca
from helpers import client_config, flow, handshake
from siotls import TLSConfiguration, TLSConnection, TLSSession

__all__ = ["CA", "LEAF", "T0", "Clock", "connect", "first_session", "resumes"]

CA = make_ca()
LEAF = CA.issue()
T0 = 1_800_000_000.0


class Clock:
    """A clock the test moves."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def connect(server_conf: TLSConfiguration, session: TLSSession | None = None
            ) -> TLSConnection:
    """A handshake and the server's first data (which carries the tickets); the client."""
    c = TLSConnection(client_config(CA), "localhost", session=session)
    s = TLSConnection(server_conf)
    c.initiate_connection()
    s.initiate_connection()
    handshake(c, s)
    s.send_data(b"hi")
    flow(s, c)
    assert c.data_to_read() == b"hi"
    assert c.nconfig.session_resumed is s.nconfig.session_resumed
    return c


def first_session(server_conf: TLSConfiguration) -> TLSSession:
    c = connect(server_conf)
    assert c.session is not None and not c.nconfig.session_resumed
    return c.session


def resumes(server_conf: TLSConfiguration, session: TLSSession) -> bool:
    return connect(server_conf, session).nconfig.session_resumed
