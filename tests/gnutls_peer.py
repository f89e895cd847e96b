"""Run ``gnutls-serv`` / ``gnutls-cli`` as a peer for siotls (not a test module).

* :func:`gnutls_serv` starts ``gnutls-serv`` on a free port. gnutls-serv cannot
  be told to bind 127.0.0.1 (it listens on ``0.0.0.0`` and ``::``) nor reports
  the port it got for ``-p 0``: we pick a free port, wait for its
  ``listening on IPv4 0.0.0.0 port N...done`` line and start over on a
  ``bind() failed`` (gnutls-serv goes on with IPv6 only in that case).
* :func:`gnutls_cli` starts ``gnutls-cli`` against a port we listen on.
* :class:`GnuTLSProcess` collects the process output (stdout and stderr merged)
  in a thread so that tests can wait for a pattern with a deadline.
* The socket helpers (:func:`~openssl_peer.connect`, :func:`~openssl_peer.read_until`,
  ...) are those of ``openssl_peer``; ``peers`` puts both peers behind one interface.

Every wait is bounded, and every process is terminated (then killed) on exit.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

from openssl_peer import PeerProcess, tool_version

__all__ = ["GNUTLS_CLI", "GNUTLS_SERV", "TLS13", "GnuTLSProcess", "gnutls_cli", "gnutls_serv",
           "gnutls_version"]

GNUTLS_SERV = shutil.which("gnutls-serv")
GNUTLS_CLI = shutil.which("gnutls-cli")
#: The priority string that allows TLS 1.3 only; append ``:-GROUP-ALL:+GROUP-X25519``...
TLS13 = "NORMAL:-VERS-ALL:+VERS-TLS1.3"
#: How many ports gnutls-serv may find taken before we give up.
BIND_ATTEMPTS = 5


@functools.cache
def gnutls_version() -> str:
    """``gnutls-cli 3.7.9``, say."""
    return tool_version(GNUTLS_CLI, "--version")


#: gnutls-serv and gnutls-cli run as any peer process does.
GnuTLSProcess = PeerProcess


def free_port() -> int:
    """A port free on all IPv4 addresses right now (gnutls-serv binds 0.0.0.0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_LISTENING = rb"listening on IPv4 0\.0\.0\.0 port %d\.\.\.(done|.*failed.*)"


@contextlib.contextmanager
def gnutls_serv(cert: Path, key: Path, *args: str | Path, priority: str = TLS13,
                mode: str = "--echo") -> Iterator[tuple[GnuTLSProcess, int]]:
    """``gnutls-serv`` on a free port; yields the process and the port.

    It serves any number of connections, one after the other, until terminated.
    Its output is not buffered (stderr, and stdout flushed line by line).
    """
    assert GNUTLS_SERV is not None
    for _ in range(BIND_ATTEMPTS):
        port = free_port()
        process = GnuTLSProcess([
            GNUTLS_SERV, mode, "-p", str(port), "--x509certfile", cert,
            "--x509keyfile", key, "--priority", priority, *args])
        try:
            match = process.wait_for(_LISTENING % port)
            if match.group(1) == b"done":
                yield process, port
                return
        finally:
            process.stop()
    raise AssertionError(f"gnutls-serv could not bind a port in {BIND_ATTEMPTS} attempts")


@contextlib.contextmanager
def gnutls_cli(port: int, *args: str | Path, priority: str = TLS13,
               host: str = "127.0.0.1") -> Iterator[GnuTLSProcess]:
    """``gnutls-cli`` connecting to ``host`` on ``port``.

    For a host name in SNI and in the certificate check, pass ``--sni-hostname
    localhost --verify-hostname localhost`` (``localhost`` itself might resolve to
    ::1 first, where nobody listens).

    What is written to its stdin goes to the server, what the server sends shows
    on its stdout; at the end of its stdin it sends close_notify and exits.
    With ``--inline-commands``, a line ``^rekey^`` (KeyUpdate, update_requested)
    or ``^rekey1^`` (update_not_requested) is a command.
    """
    assert GNUTLS_CLI is not None
    process = GnuTLSProcess([GNUTLS_CLI, "-p", str(port), "--priority", priority,
                             *args, host])
    try:
        yield process
    finally:
        process.stop()
