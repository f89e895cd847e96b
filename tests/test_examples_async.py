"""The trio, anyio and httpx examples run, against local servers (127.0.0.1 only,
every wait bounded). Same style as ``test_examples.py``, whose helpers are reused;
the HTTPS servers (Python's ssl, hypercorn for HTTP/2) come from ``test_httpx_adapter``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from test_examples import EXAMPLES, TIMEOUT, pem, run, server
from test_httpx_adapter import h2_port, https_port

__all__ = ["h2_port", "https_port", "pem"]  # fixtures, used here by name


@pytest.mark.parametrize("example", ["trio", "anyio-asyncio", "anyio-trio"])
def test_echo(pem: tuple[Path, Path, Path], example: str) -> None:
    pytest.importorskip("trio")
    pytest.importorskip("anyio")
    cert, key, ca = pem
    name, _, backend = example.partition("-")
    extra = ("--backend", backend) if backend else ()
    with server(f"{name}_echo_server.py", "--cert", str(cert), "--key", str(key),
                *extra) as (port, _):
        out = run(f"{name}_echo_client.py", "localhost", str(port), f"ping over {example}",
                  "--cafile", str(ca), *extra)
    assert out == f"ping over {example}\n"


def test_trio_server_anyio_client(pem: tuple[Path, Path, Path]) -> None:
    cert, key, ca = pem
    with server("trio_echo_server.py", "--cert", str(cert), "--key", str(key)) as (port, _):
        out = run("anyio_echo_client.py", "127.0.0.1", str(port), "cross", "--cafile", str(ca))
    assert out == "cross\n"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_anyio_fetch(pem: tuple[Path, Path, Path], https_port: int, backend: str) -> None:
    _, _, ca = pem
    out = run("anyio_fetch.py", "localhost", "--port", str(https_port), "--path", "/page",
              "--cafile", str(ca), "--backend", backend)
    assert out.startswith("HTTP/1.1 200 OK\n")  # text mode: \r\n read as \n
    assert out.endswith("hello /page over TLSv1.3\n\n")


def test_httpx_siotls(pem: tuple[Path, Path, Path], https_port: int) -> None:
    pytest.importorskip("httpx")
    _, _, ca = pem
    out = run("httpx_siotls.py", f"https://localhost:{https_port}/x", "--cafile", str(ca))
    first, body = out.split("\n", 1)
    assert first.startswith("HTTP/1.1 200 over TLSv1.3, TLS_"), first
    assert first.endswith("ALPN http/1.1")
    assert body == "hello /x over TLSv1.3\n\n"


def test_httpx_siotls_http2(pem: tuple[Path, Path, Path], h2_port: int) -> None:
    _, _, ca = pem
    out = run("httpx_siotls.py", f"https://localhost:{h2_port}/y", "--cafile", str(ca),
              "--http2")
    assert out.splitlines()[0].startswith("HTTP/2 200 over TLSv1.3")
    assert out.splitlines()[0].endswith("ALPN h2")
    assert out.splitlines()[1] == "2 /y"


def test_httpx_siotls_refuses_an_unknown_ca(https_port: int, tmp_path: Path) -> None:
    from certs import make_ca

    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(make_ca("ecdsa-p256", "another CA").cert_pem)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "httpx_siotls.py"), f"https://localhost:{https_port}/",
         "--cafile", str(other_ca)], capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert result.returncode != 0
    assert "httpx.ConnectError: unknown_ca: unknown issuer" in result.stderr
