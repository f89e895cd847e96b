"""The fleet example (examples/fleet_uvicorn.py): uvicorn in 4 worker processes on one
port (SO_REUSEPORT), a client reconnecting 200 times, each time with the newest
session it holds. With a shared ticket key file every connection after the first
resumes; without, only those that reach the worker that gave the ticket (about one
in four)."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from certs import make_ca, write_pem_files
from helpers import client_config
from openssl_peer import connect, read_until_close, run_client
from siotls import TLSConnection, TLSSession
from test_examples import server

pytestmark = [pytest.mark.skipif(sys.platform != "linux", reason="SO_REUSEPORT spreading"),
              pytest.mark.skipif(pytest.importorskip("uvicorn") is None, reason="uvicorn")]
CA = make_ca()
CONNECTIONS = 200


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return write_pem_files(tmp_path_factory.mktemp("fleet"), CA.issue(), CA)


def reconnect(port: int) -> tuple[int, set[bytes]]:
    """``CONNECTIONS`` requests, each resuming the newest session; how many resumed,
    and which workers answered."""
    config = client_config(CA, alpn=[b"http/1.1"])
    session: TLSSession | None = None
    resumed, workers = 0, set()
    start = time.monotonic()
    for _ in range(CONNECTIONS):
        with connect(port) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = TLSConnection(config, "localhost", session=session)
            run_client(sock, conn)
            conn.send_data(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            answer = read_until_close(sock, conn)
        assert answer.startswith(b"HTTP/1.1 200")
        workers.add(answer.split(b"x-worker: ", 1)[1][:1])
        resumed += conn.nconfig.session_resumed
        session = conn.session or session
    print(f"{CONNECTIONS} connections in {time.monotonic() - start:.1f} s")
    return resumed, workers


def test_shared_ticket_keys_resume_everywhere(pem: tuple[Path, Path, Path],
                                              tmp_path: Path) -> None:
    cert, key, _ = pem
    with server("fleet_uvicorn.py", "--cert", str(cert), "--key", str(key),
                "--ticket-keys", str(tmp_path / "keys")) as (port, _):
        resumed, workers = reconnect(port)
    assert workers == {b"0", b"1", b"2", b"3"}  # the kernel spread the connections
    assert resumed == CONNECTIONS - 1  # all after the first


def test_keys_per_worker_resume_one_time_in_four(pem: tuple[Path, Path, Path]) -> None:
    cert, key, _ = pem
    with server("fleet_uvicorn.py", "--cert", str(cert), "--key", str(key)) as (port, _):
        resumed, workers = reconnect(port)
    assert workers == {b"0", b"1", b"2", b"3"}
    # binomial(199, 1/4): mean 50, standard deviation 6
    assert 20 <= resumed <= 85, resumed
    print(f"resumed {resumed} of {CONNECTIONS - 1} without shared keys")
