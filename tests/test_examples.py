"""Every example runs, against local servers (127.0.0.1 only, every wait bounded)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from certs import make_ca, write_pem_files

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TIMEOUT = 30


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    ca = make_ca()
    return write_pem_files(tmp_path_factory.mktemp("pem"), ca.issue(), ca)


@contextlib.contextmanager
def server(example: str, *args: str) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """Start an example server on port 0; yield the port it printed."""
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / example), "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the server prints it as soon as it listens
        assert line.startswith("listening on "), (line, process.stderr and process.stderr.read())
        yield int(line.rsplit(":", 1)[1]), process
    finally:
        process.kill()
        process.communicate(timeout=TIMEOUT)  # reaps it and closes the pipes


def run(example: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(EXAMPLES / example), *args],
                            capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_asyncio_echo(pem: tuple[Path, Path, Path]) -> None:
    cert, key, ca = pem
    with server("asyncio_echo_server.py", "--cert", str(cert), "--key", str(key)) as (port, _):
        out = run("asyncio_echo_client.py", "localhost", str(port), "ping over siotls",
                  "--cafile", str(ca))
    assert out == "ping over siotls\n"


def test_asyncio_echo_client_refuses_an_unknown_ca(pem: tuple[Path, Path, Path],
                                                   tmp_path: Path) -> None:
    cert, key, _ = pem
    other = make_ca("ecdsa-p256", "another CA")
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(other.cert_pem)
    with server("asyncio_echo_server.py", "--cert", str(cert), "--key", str(key)) as (port, _):
        result = subprocess.run(
            [sys.executable, str(EXAMPLES / "asyncio_echo_client.py"), "localhost", str(port),
             "--cafile", str(other_ca)], capture_output=True, text=True, timeout=TIMEOUT,
            check=False)
    assert result.returncode != 0
    assert "UnknownCA" in result.stderr


def test_uvicorn_app_with_httpx_client(pem: tuple[Path, Path, Path]) -> None:
    pytest.importorskip("uvicorn")
    pytest.importorskip("httpx")
    cert, key, ca = pem
    with server("uvicorn_app.py", "--cert", str(cert), "--key", str(key)) as (port, _):
        out = run("httpx_client.py", f"https://localhost:{port}/", "--cafile", str(ca))
    assert out.splitlines()[0] == "HTTP/1.1 200 over TLSv1.3, TLS_AES_128_GCM_SHA256"
    assert "hello over https from uvicorn on siotls" in out
