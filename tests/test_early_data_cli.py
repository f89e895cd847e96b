"""0-RTT and exporters on the command line: ``siotls client --early-data FILE`` and
``siotls server --early-data BYTES`` (with each other and with openssl), and
``--keymatexport`` printing the value openssl prints for the same connection."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from certs import write_pem_files
from openssl_peer import requires_openssl, s_client, s_server
from test_resumption_cli import CA, CLI, ENV, TIMEOUT, siotls_server

EARLY = b"hello early\n"
KEYMAT = re.compile(r"Keying material: ([0-9A-F]+)")


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return write_pem_files(tmp_path_factory.mktemp("cli-early"), CA.issue(), CA)


def client(pem: tuple[Path, Path, Path], port: int, *args: str | Path,
           stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """The CLI client, stdin given (the server echoes it), -v."""
    result = subprocess.run(
        [*CLI, "client", "--host", "127.0.0.1", "--servername", "localhost",
         "--port", str(port), "--cafile", str(pem[2]), "-v", *map(str, args)],
        input=stdin, capture_output=True, timeout=TIMEOUT, env=ENV, check=False)
    assert result.returncode == 0, result.stderr
    return result


def test_cli_early_data_accepted(pem: tuple[Path, Path, Path], tmp_path: Path) -> None:
    session, early = tmp_path / "session", tmp_path / "early"
    early.write_bytes(EARLY)
    with siotls_server(pem, "--early-data", "1024", "--replay-window", "1") as (server, port):
        started = time.monotonic()
        first = client(pem, port, "--sess-out", session, stdin=b"first\n")
        assert b"siotls: early data: not sent" in first.stderr
        time.sleep(max(0.0, 1.2 - (time.monotonic() - started)))  # the start rule
        second = client(pem, port, "--sess-in", session, "--early-data", early)
        server.wait_for(rb"early data: accepted 12 bytes", TIMEOUT)
    assert b"siotls: session resumed: yes" in second.stderr
    assert b"siotls: early data: accepted" in second.stderr
    assert second.stdout == EARLY  # the server took it as the start of the stream


def test_cli_early_data_refused_by_default(pem: tuple[Path, Path, Path],
                                           tmp_path: Path) -> None:
    session, early = tmp_path / "session", tmp_path / "early"
    early.write_bytes(EARLY)
    with siotls_server(pem, "--early-data", "1024", "--ticket-keys", tmp_path / "keys") \
            as (_, port):
        client(pem, port, "--sess-out", session, stdin=b"first\n")
    with siotls_server(pem, "--ticket-keys", tmp_path / "keys") as (server, port):
        second = client(pem, port, "--sess-in", session, "--early-data", early)
        server.wait_for(rb"early data: rejected", TIMEOUT)
    assert b"siotls: session resumed: yes" in second.stderr
    assert b"siotls: early data: rejected" in second.stderr
    assert b"early data sent again after the handshake (12 bytes)" in second.stderr
    assert second.stdout == EARLY  # sent again, by the client's choice, after the handshake


def test_cli_early_data_needs_sess_in(tmp_path: Path) -> None:
    result = subprocess.run([*CLI, "client", "--host", "127.0.0.1", "--port", "1",
                             "--early-data", str(tmp_path / "x")], capture_output=True,
                            text=True, timeout=TIMEOUT, env=ENV, check=False)
    assert result.returncode == 2 and "--early-data needs --sess-in" in result.stderr


@requires_openssl
def test_cli_client_early_data_with_s_server(pem: tuple[Path, Path, Path],
                                             tmp_path: Path) -> None:
    session, early = tmp_path / "session", tmp_path / "early"
    early.write_bytes(EARLY)
    with s_server(pem[0], pem[1], "-naccept", "2", "-early_data") as (proc, port):
        client(pem, port, "--sess-out", session, "--timeout", "2")
        second = client(pem, port, "--sess-in", session, "--early-data", early,
                        "--timeout", "2")
        proc.wait_for(b"hello early", TIMEOUT)
    assert b"siotls: early data: accepted" in second.stderr


@requires_openssl
def test_s_client_early_data_with_cli_server(pem: tuple[Path, Path, Path],
                                             tmp_path: Path) -> None:
    session, early = tmp_path / "session.pem", tmp_path / "early"
    early.write_bytes(b"GET / HTTP/1.0\r\n\r\n")
    with siotls_server(pem, "--early-data", "100", "--replay-window", "1") as (server, port):
        time.sleep(1.1)  # the start rule
        for args in (("-sess_out", session), ("-sess_in", session, "-early_data", early)):
            with s_client(port, "-CAfile", pem[2], "-servername", "localhost", *args) as proc:
                if "-early_data" not in args:
                    proc.write(b"GET / HTTP/1.0\r\n\r\n")
                proc.wait_for(rb"HTTP/1\.[01] 200", TIMEOUT)
                proc.close_stdin()
                proc.wait(TIMEOUT)
        server.wait_for(rb"early data: accepted 18 bytes", TIMEOUT)
    assert b"Early data was accepted" in proc.output


@requires_openssl
def test_keymatexport_equals_openssl(pem: tuple[Path, Path, Path]) -> None:
    label = "EXPERIMENTAL-siotls"
    with s_server(pem[0], pem[1], "-naccept", "1", "-keymatexport", label,
                  "-keymatexportlen", "32") as (proc, port):
        ours = client(pem, port, "--keymatexport", label, "--keymatexportlen", "32",
                      "--timeout", "2")
        theirs = proc.wait_for(KEYMAT.pattern.encode(), TIMEOUT).group(1).decode()
    match = KEYMAT.search(ours.stderr.decode())
    assert match is not None and len(match.group(1)) == 64
    assert match.group(1) == theirs

    with siotls_server(pem, "--keymatexport", label, "--keymatexportlen", "16",
                       "--keymatexportctx", "00ff") as (server, port):
        ours = client(pem, port, "--keymatexport", label, "--keymatexportlen", "16",
                      "--keymatexportctx", "00ff")
        server_value = server.wait_for(KEYMAT.pattern.encode(), TIMEOUT).group(1).decode()
    match = KEYMAT.search(ours.stderr.decode())
    assert match is not None and match.group(1) == server_value and len(server_value) == 32

    with siotls_server(pem, "--keymatexport", label, "--keymatexportlen", "32") \
            as (server, port), s_client(port, "-CAfile", pem[2], "-servername", "localhost",
                                        "-keymatexport", label, "-keymatexportlen", "32") \
            as proc:
        theirs = proc.wait_for(KEYMAT.pattern.encode(), TIMEOUT).group(1).decode()
        ours_server = server.wait_for(KEYMAT.pattern.encode(), TIMEOUT).group(1).decode()
        proc.close_stdin()
        proc.wait(TIMEOUT)
    assert ours_server == theirs
