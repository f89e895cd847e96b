"""A :class:`~siotls.TLSConnection` over a blocking socket: the handshake, and any wait.

:func:`drive` is the one loop: it moves bytes between a socket and a connection
until a condition holds, within a deadline. Its invariant: whatever siotls queued
is sent after every ``receive_data``, *even when it raises*, so that our alert
reaches the peer before the error goes up. At EOF it calls ``close_receiving_end``
(which raises :class:`~siotls.RaggedEOF` without a close_notify) and, if the
condition still does not hold, raises :class:`PeerClosed`.

The command line runs its handshakes with it (:func:`do_handshake`, which turns
every failure into one :class:`~siotls.cli.report.CLIError` line), and so does the
test suite against ``openssl`` and GnuTLS peers (``tests/openssl_peer.py``).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable

from siotls.cli.report import EXIT_NETWORK, EXIT_TLS, CLIError, describe_tls_error
from siotls.core.connection import TLSConnection
from siotls.core.errors import RaggedEOF, TLSError, TLSFatalAlert

__all__ = ["RECV_SIZE", "PeerClosed", "do_handshake", "drive", "flush", "flush_quietly",
           "handshake"]

RECV_SIZE = 65536


class PeerClosed(ConnectionError):
    """The transport reached EOF before the condition became true."""


def flush(sock: socket.socket, conn: TLSConnection) -> int:
    """Send what ``conn`` queued; how many bytes."""
    data = conn.data_to_send()
    if data:
        sock.sendall(data)
    return len(data)


def flush_quietly(sock: socket.socket, conn: TLSConnection) -> None:
    """Send what is queued (an alert, maybe) and ignore a dead socket."""
    with contextlib.suppress(OSError):
        flush(sock, conn)


def drive(sock: socket.socket, conn: TLSConnection, until: Callable[[], bool],
          timeout: float) -> None:
    """Move bytes between ``sock`` and ``conn`` until ``until()`` is true.

    :raises TimeoutError: ``until()`` was still false after ``timeout`` seconds.
    :raises PeerClosed: the transport ended first (after a close_notify).
    :raises TLSError: from siotls, its alert already sent; OSError from the socket.
    """
    deadline = time.monotonic() + timeout
    flush(sock, conn)
    while not until():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the condition did not become true in time")
        sock.settimeout(remaining)
        data = sock.recv(RECV_SIZE)
        try:
            if data:
                conn.receive_data(data)
            else:
                conn.close_receiving_end()
        finally:
            flush_quietly(sock, conn)
        if not data:
            if until():
                return
            raise PeerClosed("the peer closed the connection")


def handshake(sock: socket.socket, conn: TLSConnection, timeout: float) -> None:
    """Initiate ``conn`` (client or server alike) and run the handshake to completion."""
    conn.initiate_connection()
    drive(sock, conn, conn.is_post_handshake, timeout)


def do_handshake(sock: socket.socket, conn: TLSConnection, timeout: float, peer: str) -> None:
    """:func:`handshake`, every failure one line; ``peer`` is 'server' or 'client'.

    :raises CLIError: ``handshake failed: <why>``; the alert, if any, was sent.
    """
    try:
        handshake(sock, conn, timeout)
    except (TLSError, OSError) as exc:
        raise _handshake_failure(exc, peer, timeout) from exc


def _handshake_failure(exc: TLSError | OSError, peer: str, timeout: float) -> CLIError:
    if isinstance(exc, RaggedEOF | PeerClosed):
        why, code = f"the {peer} closed the connection during the handshake", EXIT_TLS
    elif isinstance(exc, TLSFatalAlert):  # "<alert we sent>: <why>"
        why, code = str(exc), EXIT_TLS
    elif isinstance(exc, TLSError):
        why, code = describe_tls_error(exc, peer), EXIT_TLS
    elif isinstance(exc, TimeoutError):
        why, code = f"timed out after {timeout:g} s waiting for the {peer}", EXIT_NETWORK
    else:
        why, code = f"network error: {exc.strerror or exc}", EXIT_NETWORK
    return CLIError(f"handshake failed: {why}", code)
