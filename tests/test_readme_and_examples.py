"""The README's quick start and the examples, run against local servers (no internet)."""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from certs import make_ca, write_pem_files

ROOT = Path(__file__).resolve().parents[1]
PAGE = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\nhello, world!"


@contextlib.contextmanager
def stdlib_https_server(tmp_path: Path, close_notify: bool = True) -> Iterator[tuple[int, object]]:
    """A one-request HTTPS server with Python's ssl on 127.0.0.1."""
    ca = make_ca()
    cert, key, _ = write_pem_files(tmp_path, ca.issue(), ca)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    requests: list[bytes] = []

    def serve() -> None:
        sock, _ = listener.accept()
        sock.settimeout(10)
        with ctx.wrap_socket(sock, server_side=True) as tls:
            request = b""
            while b"\r\n\r\n" not in request:
                request += tls.recv(4096)
            requests.append(request)
            tls.sendall(PAGE)
            if close_notify:
                tls.unwrap()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], (ca, requests)
    finally:
        thread.join(10)
        listener.close()
    assert not thread.is_alive()


def readme_quick_start() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize("close_notify", [True, False], ids=["close_notify", "ragged_eof"])
def test_readme_quick_start_runs_as_written(tmp_path: Path, close_notify: bool,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = readme_quick_start()
    # Only the server's address and the trust store change; the loops run as written.
    for old in ('host = "example.com"', "(host, 443)", "truststore=get_truststore()"):
        assert old in code
    with stdlib_https_server(tmp_path, close_notify) as (port, (ca, requests)):
        code = (code.replace('host = "example.com"', 'host = "localhost"')
                .replace("(host, 443)", f"(host, {port})")
                .replace("truststore=get_truststore()", "truststore=TRUSTSTORE"))
        exec(compile(code, "README.md", "exec"), {"TRUSTSTORE": ca.truststore()})
    assert requests[0].startswith(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
    assert capsys.readouterr().out.endswith("hello, world!")


def test_example_client_fetch(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from client import fetch
    finally:
        sys.path.remove(str(ROOT / "examples"))
    with stdlib_https_server(tmp_path) as (port, (ca, _)):
        response = fetch("localhost", port, ca.truststore(), "/page")
    assert response == PAGE


def test_example_client_command_line(tmp_path: Path) -> None:
    with stdlib_https_server(tmp_path) as (port, (ca, _)):
        cafile = tmp_path / "ca-only.pem"
        cafile.write_bytes(ca.cert_pem)
        result = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "client.py"), "localhost", str(port),
             "--cafile", str(cafile)], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert "hello, world!" in result.stdout


def test_demo_runs() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("hello from siotls!") == 2
    assert "done." in result.stdout
    assert not result.stderr
