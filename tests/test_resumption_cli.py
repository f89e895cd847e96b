"""Resumption on the command line: ``siotls client --sess-out/--sess-in`` against
``siotls server --ticket-keys/--num-tickets`` and against ``openssl s_server``, and
``openssl s_client -sess_out/-sess_in`` against ``siotls server``; two servers
sharing a --ticket-keys file resume each other's sessions."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from certs import make_ca, write_pem_files
from openssl_peer import PeerProcess, requires_openssl, s_client, s_server
from siotls import TLSSession
from siotls.tickets import read_key_file

TIMEOUT = 15.0
CLI = [sys.executable, "-m", "siotls"]
ENV = {key: value for key, value in os.environ.items() if key != "SSLKEYLOGFILE"}
CA = make_ca()


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return write_pem_files(tmp_path_factory.mktemp("cli-resumption"), CA.issue(), CA)


@contextlib.contextmanager
def siotls_server(pem: tuple[Path, Path, Path], *args: str | Path
                  ) -> Iterator[tuple[PeerProcess, int]]:
    server = PeerProcess([*CLI, "server", "--host", "127.0.0.1", "--port", "0", "-v",
                          "--tlscert", pem[0], "--tlskey", pem[1], *map(str, args)], env=ENV)
    try:
        match = server.wait_for(rb"listening on \S*:(\d+)", TIMEOUT)
        yield server, int(match.group(1))
    finally:
        server.stop()


def siotls_client(pem: tuple[Path, Path, Path], port: int, *args: str | Path
                  ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*CLI, "client", "--host", "127.0.0.1", "--servername", "localhost",
         "--port", str(port), "--cafile", str(pem[2]), "--http", "-v", *map(str, args)],
        capture_output=True, text=True, timeout=TIMEOUT, env=ENV, check=False)
    assert result.returncode == 0, result.stderr
    return result


def test_cli_client_and_server(pem: tuple[Path, Path, Path], tmp_path: Path) -> None:
    keys, session = tmp_path / "ticket-keys", tmp_path / "session"
    with siotls_server(pem, "--ticket-keys", keys) as (server, port):
        first = siotls_client(pem, port, "--sess-out", session)
        assert "siotls: session resumed: no" in first.stderr
        assert TLSSession.from_bytes(session.read_bytes()).server_name == "localhost"
        assert session.stat().st_mode & 0o077 == 0
        second = siotls_client(pem, port, "--sess-in", session)
        assert "siotls: session resumed: yes" in second.stderr
        assert "server certificate" in second.stderr  # the original connection's
        server.wait_for_count(rb"session resumed: yes", 1, TIMEOUT)
    assert len(read_key_file(keys)) == 1  # created with one key


def test_cli_servers_sharing_a_key_file(pem: tuple[Path, Path, Path], tmp_path: Path) -> None:
    keys, session = tmp_path / "ticket-keys", tmp_path / "session"
    with siotls_server(pem, "--ticket-keys", keys) as (_, port):
        siotls_client(pem, port, "--sess-out", session)
    with siotls_server(pem, "--ticket-keys", keys) as (_, port):  # another process
        assert "session resumed: yes" in siotls_client(pem, port, "--sess-in", session).stderr
    with siotls_server(pem) as (_, port):  # keys of its own: a full handshake, no error
        assert "session resumed: no" in siotls_client(pem, port, "--sess-in", session).stderr


def test_cli_num_tickets_zero(pem: tuple[Path, Path, Path], tmp_path: Path) -> None:
    session = tmp_path / "session"
    with siotls_server(pem, "--num-tickets", "0") as (_, port):
        result = siotls_client(pem, port, "--sess-out", session)
    assert "no session ticket received" in result.stderr
    assert not session.exists()


def test_cli_bad_session_file(pem: tuple[Path, Path, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"not a session")
    result = subprocess.run([*CLI, "client", "--host", "127.0.0.1", "--port", "1",
                             "--sess-in", str(bad)], capture_output=True, text=True,
                            timeout=TIMEOUT, env=ENV, check=False)
    assert result.returncode == 2
    assert "holds no session" in result.stderr and "Traceback" not in result.stderr


@requires_openssl
def test_cli_client_resumes_with_openssl_s_server(pem: tuple[Path, Path, Path],
                                                  tmp_path: Path) -> None:
    session = tmp_path / "session"
    with s_server(pem[0], pem[1], "-www", "-naccept", "2") as (proc, port):
        siotls_client(pem, port, "--sess-out", session)
        second = siotls_client(pem, port, "--sess-in", session)
        assert proc.wait() == 0
    assert "siotls: session resumed: yes" in second.stderr


@requires_openssl
def test_openssl_s_client_resumes_with_cli_server(pem: tuple[Path, Path, Path],
                                                  tmp_path: Path) -> None:
    session = tmp_path / "session.pem"
    with siotls_server(pem, "--ticket-keys", tmp_path / "keys") as (_, port):
        for option, expected in (("-sess_out", b"New, TLSv1.3"), ("-sess_in", b"Reused, TLSv1.3")):
            with s_client(port, "-CAfile", pem[2], "-servername", "localhost",
                          option, session) as proc:
                proc.write(b"GET / HTTP/1.0\r\n\r\n")
                proc.wait_for(rb"HTTP/1\.[01] 200", TIMEOUT)
                proc.close_stdin()
                proc.wait(TIMEOUT)
                assert expected in proc.output, proc.text()
