"""0-RTT with openssl 3.0 on 127.0.0.1, both ways: the siotls client sending early
data to ``s_server -early_data``, and ``s_client -early_data FILE -sess_in`` against
the siotls server (accepted when configured, refused otherwise, and a replay of the
same ClientHello refused)."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from certs import make_ca, write_pem_files
from helpers import client_config, server_config
from openssl_peer import (
    S_CLIENT_VERIFY,
    accept,
    connect,
    flush,
    listener,
    read_until,
    read_until_close,
    requires_openssl,
    run_client,
    run_server,
    s_client,
    s_server,
    serve_ping,
)
from siotls import TicketKeys, TLSConfiguration, TLSConnection, TLSError, TLSSession
from siotls.stores import MemoryStrikeRegister

CA = make_ca()
LEAF = CA.issue()
KEYS = TicketKeys.generate(os.urandom)
EARLY = b"GET /early HTTP/1.1\r\n\r\n"

pytestmark = requires_openssl


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return write_pem_files(tmp_path_factory.mktemp("zerortt"), LEAF, CA)


def ready_register() -> MemoryStrikeRegister:
    """Past its start window: the start rule has its own test."""
    register = MemoryStrikeRegister(window=20)
    register.started_at -= 20
    return register


def server_conf(max_early_data: int = 16384, **kwargs: Any) -> TLSConfiguration:
    if max_early_data:
        kwargs.setdefault("strike_register", ready_register())
    return server_config(LEAF, ticket_keys=KEYS, max_early_data=max_early_data, **kwargs)


# ---------------------------------------------------------------------------------------
# the siotls client against openssl s_server -early_data
# ---------------------------------------------------------------------------------------
def s_server_round(proc: Any, port: int, session: TLSSession | None,
                   early: bytes | None = None) -> TLSConnection:
    with connect(port) as sock:
        conn = TLSConnection(client_config(CA), "localhost", session=session,
                             early_data=early)
        run_client(sock, conn)
        conn.send_data(b"ping\n")
        flush(sock, conn)
        proc.wait_for(b"ping\n", start=len(proc.output) - 200)
        proc.write(b"pong\n")
        assert read_until(sock, conn, b"\n") == b"pong\n"
        conn.close_sending_end()
        read_until_close(sock, conn)
    return conn


def test_siotls_client_0rtt_accepted_by_s_server(pem: tuple[Path, Path, Path]) -> None:
    with s_server(pem[0], pem[1], "-naccept", "2", "-early_data") as (proc, port):
        first = s_server_round(proc, port, None)
        assert first.session is not None
        assert first.session.max_early_data_size == 16384  # s_server -early_data's
        second = s_server_round(proc, port, first.session, EARLY)
        assert proc.wait() == 0
    assert second.nconfig.session_resumed
    assert second.nconfig.early_data == "accepted"
    assert second.rejected_early_data() == b""
    assert b"Early data received:" in proc.output
    assert EARLY in proc.output


def test_siotls_client_0rtt_rejected_by_s_server(pem: tuple[Path, Path, Path]) -> None:
    """Without -early_data s_server's tickets allow none: nothing is sent early."""
    with s_server(pem[0], pem[1], "-naccept", "2") as (proc, port):
        first = s_server_round(proc, port, None)
        assert first.session is not None and first.session.max_early_data_size == 0
        second = s_server_round(proc, port, first.session, EARLY)
        assert proc.wait() == 0
    assert second.nconfig.session_resumed
    assert second.nconfig.early_data == "not sent"
    assert second.rejected_early_data() == EARLY


# ---------------------------------------------------------------------------------------
# openssl s_client -early_data FILE -sess_in against the siotls server
# ---------------------------------------------------------------------------------------
class RecordingSocket:
    """A socket that keeps what it received (to replay the client's flight)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.received = bytearray()

    def recv(self, size: int) -> bytes:
        data = self.sock.recv(size)
        self.received += data
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


def s_client_round(lsock: socket.socket, port: int, cafile: Path, config: TLSConfiguration,
                   *args: str | Path) -> tuple[TLSConnection, bytes, bytes, bytes]:
    """One s_client connection: the server's connection, its early data, what it
    received, and s_client's output."""
    with s_client(port, "-CAfile", cafile, *S_CLIENT_VERIFY, *args) as proc, \
            accept(lsock) as raw:
        sock = RecordingSocket(raw)
        conn = TLSConnection(config)
        run_server(sock, conn)  # type: ignore[arg-type]
        early = conn.data_to_read_early()
        serve_ping(proc, sock, conn, raw)  # type: ignore[arg-type]
        return conn, early, bytes(sock.received), proc.output


def test_s_client_0rtt_with_siotls_server(pem: tuple[Path, Path, Path],
                                          tmp_path: Path) -> None:
    session_file, early_file = tmp_path / "session.pem", tmp_path / "early.txt"
    early_file.write_bytes(EARLY)
    config = server_conf()
    with listener() as (lsock, port):
        first, _, _, _ = s_client_round(lsock, port, pem[2], config, "-sess_out", session_file)
        assert not first.nconfig.session_resumed
        second, early, flight, output = s_client_round(
            lsock, port, pem[2], config, "-sess_in", session_file, "-early_data", early_file)
    assert second.nconfig.session_resumed
    assert second.nconfig.early_data == "accepted"
    assert early == EARLY
    assert b"Early data was accepted" in output

    # An attacker replays the ClientHello and the 0-RTT records to the same server.
    replay = TLSConnection(config)
    replay.initiate_connection()
    with contextlib.suppress(TLSError):  # it cannot finish the handshake: no PSK
        replay.receive_data(flight)
    assert replay.nconfig.early_data == "rejected"
    assert replay.data_to_read_early() == b""
    assert config.strike_register.stats.replayed == 1


def test_s_client_0rtt_refused_by_default(pem: tuple[Path, Path, Path],
                                          tmp_path: Path) -> None:
    """A server with no max_early_data: its tickets allow no 0-RTT, so s_client sends
    none; and a ticket that did allow it, presented to such a server, is refused."""
    session_file, early_file = tmp_path / "session.pem", tmp_path / "early.txt"
    early_file.write_bytes(EARLY)
    with listener() as (lsock, port):
        s_client_round(lsock, port, pem[2], server_conf(), "-sess_out", session_file)
        second, early, _, output = s_client_round(
            lsock, port, pem[2], server_conf(0), "-sess_in", session_file,
            "-early_data", early_file)
    assert second.nconfig.session_resumed  # the ticket resumes, without 0-RTT
    assert second.nconfig.early_data == "rejected"
    assert early == b""
    assert b"Early data was rejected" in output
