"""The synchronous steps the trio and anyio adapters drive.

Each step runs the engine once and returns a result, or ``None`` while it needs
more bytes from the peer; the adapter's retry loop feeds it what the transport
gives and flushes what the engine queued, until the step returns a result.
"""

from __future__ import annotations

from siotls.core.connection import TLSConnection
from siotls.core.errors import RaggedEOF


def handshake(conn: TLSConnection) -> bool | None:
    return True if conn.is_post_handshake() else None


def receive(conn: TLSConnection, max_bytes: int | None) -> bytes | None:
    """Some application data; ``b''`` once the peer can send no more."""
    data = conn.data_to_read(max_bytes)
    return data if data or not conn.can_receive else None


def send(conn: TLSConnection, data: bytes | bytearray | memoryview) -> bool:
    conn.send_data(data)
    return True


def send_eof(conn: TLSConnection) -> bool:
    conn.close_sending_end()
    return True


def unwrap(conn: TLSConnection) -> bool | None:
    """Send close_notify and wait for the peer's; application data is discarded."""
    conn.close_sending_end()
    conn.data_to_read()
    if conn.close_notify_received:
        return True
    if not conn.can_receive:  # an EOF that the adapter's ragged-EOF policy let through
        raise RaggedEOF("the transport closed without a close_notify")
    return None
