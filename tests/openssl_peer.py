"""Run ``openssl s_server`` / ``openssl s_client`` as a peer for siotls (not a test module).

* :func:`s_server` starts ``openssl s_server`` on ``127.0.0.1:0`` and reads the
  port it bound from its ``ACCEPT 127.0.0.1:PORT`` line (no port race, and no
  probe connection that would use up ``-naccept 1``).
* :func:`s_client` starts ``openssl s_client`` against a port we listen on.
* :class:`OpenSSLProcess` collects the process output (stdout and stderr merged)
  in a thread so that tests can wait for a pattern with a deadline.
* :func:`drive` pumps a :class:`~siotls.TLSConnection` over a blocking socket: it
  is the command line's :func:`siotls.cli.blocking.drive` (our alerts reach the
  peer even when siotls raises; :class:`PeerClosed` at an early EOF).

Every wait is bounded, and every process is terminated (then killed) on exit.
The tests are skipped when there is no ``openssl`` binary.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from siotls import TLSConnection
from siotls.cli import blocking
from siotls.cli.blocking import PeerClosed, flush

__all__ = [
    "OPENSSL", "S_CLIENT_VERIFY", "TIMEOUT", "OpenSSLProcess", "PeerClosed", "PeerProcess",
    "accept", "connect", "drive", "flush", "listener", "openssl_version", "read_until",
    "read_until_close", "requires_openssl", "run_client", "run_server", "s_client", "s_server",
    "serve_ping", "tool_version",
]

OPENSSL = shutil.which("openssl")
#: Seconds any single wait may last (a handshake with openssl takes milliseconds).
TIMEOUT = 10.0
#: s_client arguments that make it verify the server's certificate for ``localhost``.
S_CLIENT_VERIFY = ("-servername", "localhost", "-verify_return_error",
                   "-verify_hostname", "localhost")

requires_openssl = pytest.mark.skipif(OPENSSL is None, reason="no openssl binary on PATH")


def tool_version(binary: str | None, *args: str) -> str:
    """The first line ``binary *args`` prints (``not installed`` without ``binary``)."""
    if binary is None:
        return "not installed"
    result = subprocess.run([binary, *args], capture_output=True, timeout=TIMEOUT, check=False)
    lines = result.stdout.decode(errors="replace").strip().splitlines()
    return lines[0] if lines else f"{binary}: no version"


@functools.cache
def openssl_version() -> str:
    """``OpenSSL 3.0.19 27 Jan 2026 (...)``, say."""
    return tool_version(OPENSSL, "version")


class PeerProcess:
    """A peer's subprocess (openssl, gnutls...) whose output (stdout and stderr) is
    collected by a reader thread."""

    def __init__(self, args: Sequence[str | Path], cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.args = [str(arg) for arg in args]
        self.proc = subprocess.Popen(
            self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, cwd=cwd, env=env)
        self._output = bytearray()
        self._eof = False
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        try:
            while chunk := os.read(fd, 65536):
                with self._cond:
                    self._output += chunk
                    self._cond.notify_all()
        except OSError:
            pass
        finally:
            with self._cond:
                self._eof = True
                self._cond.notify_all()

    @property
    def output(self) -> bytes:
        with self._cond:
            return bytes(self._output)

    def text(self) -> str:
        return self.output.decode(errors="replace")

    def _wait(self, found: Callable[[bytearray], bool], what: str, timeout: float) -> None:
        """Wait until ``found(output)``, or raise AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not found(self._output):
                remaining = deadline - time.monotonic()
                if self._eof or remaining <= 0:
                    raise AssertionError(
                        f"{what} not in the output of {' '.join(self.args)} "
                        f"(exit code {self.proc.poll()}):\n{self.text()}")
                self._cond.wait(remaining)

    def wait_for(self, pattern: bytes, timeout: float = TIMEOUT, start: int = 0
                 ) -> re.Match[bytes]:
        """Wait until the output (from offset ``start``) matches the regex ``pattern``."""
        regex = re.compile(pattern)
        match: re.Match[bytes] | None = None

        def found(output: bytearray) -> bool:
            nonlocal match
            match = regex.search(output, start)
            return match is not None

        self._wait(found, repr(pattern), timeout)
        assert match is not None
        return match

    def wait_for_count(self, pattern: bytes, count: int, timeout: float = TIMEOUT) -> int:
        """Wait until the regex ``pattern`` matches ``count`` times in the output (the
        reader thread may lag behind the process); how many times it matches then."""
        regex = re.compile(pattern)
        self._wait(lambda output: len(regex.findall(output)) >= count,
                   f"{pattern!r} {count} times", timeout)
        return len(regex.findall(self.output))

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()

    def wait(self, timeout: float = TIMEOUT) -> int:
        """Wait for the exit and the end of the output; the exit code."""
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code

    def kill(self, timeout: float = 3.0) -> None:
        """SIGKILL: no chance to send a close_notify (closing stdin may prompt one)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout)

    def stop(self, timeout: float = 3.0) -> None:
        """Terminate, kill if needed, and reap (idempotent)."""
        self.close_stdin()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._reader.join(timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class OpenSSLProcess(PeerProcess):
    """An ``openssl`` subcommand (``args`` start with ``s_server``, ``s_client``...)."""

    def __init__(self, args: Sequence[str | Path], cwd: Path | None = None) -> None:
        assert OPENSSL is not None
        super().__init__([OPENSSL, *args], cwd)


@contextlib.contextmanager
def s_server(cert: Path, key: Path, *args: str | Path, tls13: bool = True
             ) -> Iterator[tuple[OpenSSLProcess, int]]:
    """``openssl s_server`` on a free port of 127.0.0.1; yields the process and the port.

    Not ``-quiet``: that would hide the ``ACCEPT host:port`` line we wait for.
    """
    version = ["-tls1_3"] if tls13 else []
    process = OpenSSLProcess(["s_server", *version, "-accept", "127.0.0.1:0",
                              "-cert", cert, "-key", key, *args])
    try:
        match = process.wait_for(rb"ACCEPT 127\.0\.0\.1:(\d+)")
        yield process, int(match.group(1))
    finally:
        process.stop()


@contextlib.contextmanager
def listener() -> Iterator[tuple[socket.socket, int]]:
    """A listening socket on a free port of 127.0.0.1."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        sock.settimeout(TIMEOUT)
        yield sock, sock.getsockname()[1]


@contextlib.contextmanager
def s_client(port: int, *args: str | Path, tls13: bool = True
             ) -> Iterator[OpenSSLProcess]:
    """``openssl s_client`` connecting to ``127.0.0.1:port``.

    Interactive command letters (a line ``k``, ``K``, ``Q``) work, as long as
    neither ``-quiet`` nor ``-ign_eof`` is given. s_client reads its stdin only once
    the handshake completed, and a read starting with a command letter is consumed
    as a command: write one line at a time, waiting for its effect in between.
    """
    version = ["-tls1_3"] if tls13 else []
    process = OpenSSLProcess(["s_client", *version, "-connect", f"127.0.0.1:{port}", *args])
    try:
        yield process
    finally:
        process.stop()


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    sock.settimeout(TIMEOUT)
    return sock


def accept(sock: socket.socket) -> socket.socket:
    conn, _ = sock.accept()
    conn.settimeout(TIMEOUT)
    return conn


def drive(sock: socket.socket, conn: TLSConnection, until: Callable[[], bool],
          timeout: float = TIMEOUT) -> None:
    """:func:`siotls.cli.blocking.drive` (the command line's loop), bounded by ``TIMEOUT``."""
    blocking.drive(sock, conn, until, timeout)


def run_client(sock: socket.socket, conn: TLSConnection, timeout: float = TIMEOUT) -> None:
    """Initiate ``conn`` and run the handshake to completion over ``sock``."""
    blocking.handshake(sock, conn, timeout)


run_server = run_client  # initiate_connection() is the same call for a server


def read_until(sock: socket.socket, conn: TLSConnection, expected: bytes,
               timeout: float = TIMEOUT) -> bytes:
    """Read application data until it ends with ``expected``; all the data read."""
    buffer = bytearray()

    def done() -> bool:
        buffer.extend(conn.data_to_read())
        return buffer.endswith(expected)

    drive(sock, conn, done, timeout)
    return bytes(buffer)


def read_until_close(sock: socket.socket, conn: TLSConnection,
                     timeout: float = TIMEOUT) -> bytes:
    """Read application data until the peer's close_notify; all the data read.

    We do not wait for the transport EOF: after its close_notify, s_server waits
    (up to a second) for *us* to close the socket first.
    """
    buffer = bytearray()

    def done() -> bool:
        buffer.extend(conn.data_to_read())
        return conn.close_notify_received

    drive(sock, conn, done, timeout)
    return bytes(buffer)


def serve_ping(proc: PeerProcess, sock: socket.socket, conn: TLSConnection,
               transport: socket.socket | None = None) -> None:
    """The siotls server's side of a line each way with a client process (``ping``, then
    ``answer to ping``: the tickets go first), closed cleanly both ways; the client
    must exit 0. ``transport`` is the socket to close if ``sock`` wraps it."""
    proc.write(b"ping\n")
    assert read_until(sock, conn, b"\n") == b"ping\n"
    conn.send_data(b"answer to ping\n")
    flush(sock, conn)
    proc.wait_for(rb"answer to ping")
    proc.close_stdin()
    read_until_close(sock, conn)
    conn.close_sending_end()
    flush(sock, conn)
    (transport or sock).close()
    assert proc.wait() == 0
