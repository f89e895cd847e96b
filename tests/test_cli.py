"""The command line (``python -m siotls client|server``), as subprocesses on loopback.

Peers: ``openssl s_server`` / ``s_client`` (skipped without ``openssl``), raw sockets,
and the siotls CLI itself. Every subprocess has a timeout and is killed at the end.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import siotls
from certs import make_ca, write_pem_files
from internals import internals
from openssl_peer import PeerProcess, read_until_close, requires_openssl, s_client, s_server
from siotls import TLSConfiguration, TLSConnection
from siotls.cli.blocking import flush, handshake
from siotls.iana import ContentType
from siotls.trust import TrustStore

TIMEOUT = 15.0
CLI = [sys.executable, "-m", "siotls"]
#: The subprocesses must not log keys because the developer's shell has SSLKEYLOGFILE.
ENV = {key: value for key, value in os.environ.items() if key != "SSLKEYLOGFILE"}
PAGE = b"Hello from siotls " + siotls.__version__.encode()


@dataclass
class Files:
    cert: Path
    key: Path
    ca: Path
    client_cert: Path
    client_key: Path
    bad_pem: Path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    tmp = tmp_path_factory.mktemp("cli")
    ca = make_ca()
    cert, key, ca_file = write_pem_files(tmp, ca.issue())
    client_cert, client_key, _ = write_pem_files(tmp, ca.issue(("client",), client=True))
    bad_pem = tmp / "bad.pem"
    bad_pem.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
    return Files(cert, key, ca_file, client_cert, client_key, bad_pem)


def run(*args: str | Path, stdin: bytes = b"", timeout: float = TIMEOUT
        ) -> subprocess.CompletedProcess[bytes]:
    """Run the CLI to completion (killed on timeout by subprocess.run)."""
    return subprocess.run([*CLI, *map(str, args)], input=stdin, capture_output=True,
                          timeout=timeout, env=ENV, check=False)


def stderr_of(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stderr.decode(errors="replace")


def assert_one_line_error(result: subprocess.CompletedProcess[bytes], pattern: str,
                          code: int) -> None:
    stderr = stderr_of(result)
    assert result.returncode == code, stderr
    assert "Traceback" not in stderr, stderr
    assert re.search(pattern, stderr), stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


class ServerProcess(PeerProcess):
    """``python -m siotls server``; its stderr (and empty stdout) collected by a thread."""

    def __init__(self, args: Sequence[str | Path]) -> None:
        super().__init__([*CLI, "server", *args], env=ENV)

    @property
    def stderr(self) -> str:
        return self.text()

    def wait_for_line(self, pattern: str, timeout: float = TIMEOUT) -> re.Match[bytes]:
        return self.wait_for(pattern.encode(), timeout)


@contextlib.contextmanager
def siotls_server(files: Files, *args: str | Path, host: str = "127.0.0.1"
                  ) -> Iterator[tuple[ServerProcess, int]]:
    """A siotls server on a free port of ``host``; yields it and the port."""
    server = ServerProcess(["--host", host, "--port", "0", "--tlscert", files.cert,
                            "--tlskey", files.key, *args])
    try:
        match = server.wait_for_line(r"listening on \S*:(\d+)")
        yield server, int(match.group(1))
    finally:
        server.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


# -- errors without a peer -------------------------------------------------------------
def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.decode().strip() == f"siotls {siotls.__version__}"


def test_missing_tlscert(files: Files, tmp_path: Path) -> None:
    result = run("server", "--port", "0", "--tlscert", tmp_path / "missing.pem",
                 "--tlskey", files.key)
    assert_one_line_error(result, r"^siotls: cannot read the --tlscert file .*missing\.pem.*: "
                                  r"No such file or directory", 2)


@pytest.mark.parametrize("option", ["--tlscert", "--tlskey", "--cafile"])
def test_bad_pem(files: Files, option: str) -> None:
    paths = {"--tlscert": files.cert, "--tlskey": files.key, "--cafile": files.ca}
    paths[option] = files.bad_pem
    result = run("server", "--port", "0", *(x for item in paths.items() for x in item))
    assert_one_line_error(result, rf"^siotls: bad PEM in the {option} file .*bad\.pem", 2)


def test_key_does_not_match(files: Files) -> None:
    result = run("server", "--port", "0", "--tlscert", files.cert, "--tlskey", files.client_key)
    assert_one_line_error(result, r"invalid configuration: private_key does not match", 2)


def test_connection_refused(files: Files) -> None:
    result = run("client", "--host", "127.0.0.1", "--port", str(closed_port()),
                 "--cafile", files.ca, "--http")
    assert_one_line_error(result, r"^siotls: cannot connect to 127\.0\.0\.1:\d+: ", 3)


def test_bad_option() -> None:
    result = run("client", "--host", "localhost", "--port", "1", "--groups", "x25519,ffdhe2048")
    assert result.returncode == 2
    assert "unsupported group 'ffdhe2048'" in stderr_of(result)


# -- the client against openssl s_server ---------------------------------------------------
@pytest.fixture(scope="module")
def www_port(files: Files) -> Iterator[int]:
    """One ``openssl s_server -www`` for the module's client tests."""
    with s_server(files.cert, files.key, "-www") as (_, port):
        yield port


@requires_openssl
def test_client_http_verbose(files: Files, www_port: int, tmp_path: Path) -> None:
    keylog = tmp_path / "keys.log"
    result = run("client", "--host", "127.0.0.1", "--port", str(www_port), "--servername",
                 "localhost", "--cafile", files.ca, "--http", "-v", "--keylogfile", keylog,
                 "--groups", "secp256r1,x25519", "--ciphers", "TLS_AES_256_GCM_SHA384")
    stderr = stderr_of(result)
    assert result.returncode == 0, stderr
    assert b"HTTP/1.0 200 ok" in result.stdout
    assert b"s_server -tls1_3" in result.stdout  # the -www page shows the command line
    assert "siotls: version: TLSv1.3" in stderr
    assert "siotls: cipher suite: TLS_AES_256_GCM_SHA384" in stderr
    assert "siotls: key exchange group: secp256r1" in stderr
    assert "siotls: HelloRetryRequest: no" in stderr
    assert "siotls: server signature scheme: ecdsa_secp256r1_sha256" in stderr
    assert "siotls: server certificate subject: CN=localhost,O=siotls tests" in stderr
    assert "siotls: server certificate issuer: CN=siotls test CA,O=siotls tests" in stderr
    assert "siotls: server certificate verified: yes" in stderr
    labels = {line.split()[0] for line in keylog.read_text().splitlines()}
    assert labels == {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                      "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET"}


@requires_openssl
def test_client_untrusted(www_port: int) -> None:
    """The default trust store (the system's) does not know the test CA."""
    result = run("client", "--host", "localhost", "--port", str(www_port), "--http")
    assert_one_line_error(result, r"^siotls: handshake failed: unknown_ca: ", 4)
    assert result.stdout == b""


@requires_openssl
def test_client_wrong_servername(files: Files, www_port: int) -> None:
    result = run("client", "--host", "127.0.0.1", "--port", str(www_port),
                 "--servername", "example.com", "--cafile", files.ca, "--http")
    assert_one_line_error(
        result, r"^siotls: handshake failed: bad_certificate: certificate for 'localhost'.* "
                r"does not match 'example\.com'", 4)


@requires_openssl
def test_client_insecure(www_port: int) -> None:
    result = run("client", "--host", "127.0.0.1", "--port", str(www_port),
                 "--servername", "example.com", "--insecure", "--http", "-v")
    stderr = stderr_of(result)
    assert result.returncode == 0, stderr
    assert b"HTTP/1.0 200 ok" in result.stdout
    assert stderr.splitlines()[0] == (
        "siotls: warning: --insecure: the server's certificate is not verified")
    assert "Traceback" not in stderr and "warnings.warn" not in stderr
    assert "siotls: server certificate verified: no" in stderr


@requires_openssl
def test_client_stdin_half_close(files: Files) -> None:
    """stdin is sent; at its end close_notify, and the answers are still read."""
    with s_server(files.cert, files.key, "-rev") as (_, port):
        result = run("client", "--host", "localhost", "--port", str(port), "--cafile", files.ca,
                     "--keylogfile", "-", stdin=b"hello\nsiotls\n")
    stderr = stderr_of(result)
    assert result.returncode == 0, stderr
    assert result.stdout == b"olleh\nsltois\n"
    assert "CLIENT_TRAFFIC_SECRET_0 " in stderr  # --keylogfile -


# -- the server against openssl s_client -------------------------------------------------------
@requires_openssl
def test_server_http_and_echo_with_s_client(files: Files) -> None:
    with siotls_server(files, "--max-connections", "2") as (server, port):
        args = ("-CAfile", files.ca, "-servername", "localhost")
        with s_client(port, *args, "-ign_eof") as client:
            client.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            client.close_stdin()
            client.wait_for(rb"HTTP/1\.1 200 OK\r\n")
            assert client.wait() == 0
        output = client.output
        assert b"Verify return code: 0 (ok)" in output
        assert b"Content-Length: " in output
        assert b"Connection: close\r\n" in output
        assert PAGE in output
        with s_client(port, *args) as client:
            client.wait_for(rb"Verify return code: 0")
            start = len(client.output)
            client.write(b"hello siotls\n")
            client.wait_for(rb"hello siotls\n", start=start)
            client.close_stdin()  # s_client sends close_notify, the server answers
            assert client.wait() == 0
        assert server.wait() == 0
    assert "handshake failed" not in server.stderr


def raw_garbage(port: int) -> bytes:
    """Send non-TLS bytes; what the server sent back before closing."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(b"\x16\x03\x01\x00\x05" + b"garbage, not a ClientHello" * 4)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer


def test_server_survives_a_bad_client(files: Files) -> None:
    # --insecure: accepted (and meaningless) for a server, as in siotls 0.0.5
    with siotls_server(files, "--max-connections", "2", "--insecure") as (server, port):
        assert raw_garbage(port)[:1] == b"\x15"  # an alert record
        server.wait_for_line(r"siotls: 127\.0\.0\.1:\d+: handshake failed: \w+: ")
        result = run("client", "--host", "localhost", "--port", str(port),
                     "--cafile", files.ca, "--http")
        assert result.returncode == 0, stderr_of(result)
        assert result.stdout.startswith(b"HTTP/1.1 200 OK\r\n")
        assert PAGE in result.stdout
        assert server.wait() == 0
    assert len(server.stderr.splitlines()) == 2  # "listening" and the failed handshake


def test_timeouts(files: Files) -> None:
    """A silent server, a silent client: both give up after --timeout."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # never accepts, never answers
        result = run("client", "--host", "127.0.0.1", "--port", str(silent.getsockname()[1]),
                     "--cafile", files.ca, "--timeout", "0.5")
    assert_one_line_error(
        result, r"^siotls: handshake failed: timed out after 0\.5 s waiting for the server", 3)
    with siotls_server(files, "--max-connections", "1", "--timeout", "0.5") as (server, port):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            assert sock.recv(100) == b""
        assert server.wait() == 0
    assert re.search(r"siotls: 127\.0\.0\.1:\d+: handshake failed: timed out after 0\.5 s "
                     r"waiting for the client", server.stderr)


def test_peer_closes_during_handshake(files: Files) -> None:
    """A server that reads the ClientHello and hangs up; a client that says nothing
    and hangs up: the handshake fails in one line, exit code 4 (a TLS error)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        port = listener.getsockname()[1]
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(run, "client", "--host", "127.0.0.1", "--port", str(port),
                                 "--cafile", files.ca)
            sock, _ = listener.accept()
            with sock:
                sock.settimeout(TIMEOUT)
                hello = b""  # all of it: closing with unread data would send a reset
                while len(hello) < 5 or len(hello) < 5 + int.from_bytes(hello[3:5], "big"):
                    chunk = sock.recv(65536)
                    assert chunk, "EOF before the whole ClientHello"
                    hello += chunk
                assert hello[:1] == b"\x16"  # a handshake record
            result = future.result(TIMEOUT)
    assert_one_line_error(result, r"^siotls: handshake failed: the server closed the "
                                  r"connection during the handshake", 4)
    with siotls_server(files, "--max-connections", "1") as (server, port):
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
        assert server.wait() == 0
    assert re.search(r"siotls: 127\.0\.0\.1:\d+: handshake failed: the client closed the "
                     r"connection during the handshake", server.stderr)


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")
def test_server_dual_stack(files: Files) -> None:
    """The default host '::' takes IPv6 and IPv4 connections."""
    with siotls_server(files, "--max-connections", "2", host="::") as (server, port):
        assert "(IPv6 and IPv4)" in server.stderr
        for host in ("::1", "127.0.0.1"):
            result = run("client", "--host", host, "--port", str(port), "--cafile", files.ca,
                         "--http")
            assert result.returncode == 0, stderr_of(result)
            assert PAGE in result.stdout
        assert server.wait() == 0


# -- the siotls client against the siotls server -----------------------------------------------
def test_client_server_echo_concurrently(files: Files) -> None:
    """stdin echoed by the server, several clients at once, binary-safe."""
    data = bytes(range(256)) * 2000  # 512 kB, larger than the socket buffers
    with siotls_server(files, "--max-connections", "3") as (server, port):
        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(lambda _: run(
                "client", "--host", "localhost", "--port", str(port), "--cafile", files.ca,
                stdin=data), range(3)))
        for result in results:
            assert result.returncode == 0, stderr_of(result)
            assert result.stdout == data
        assert server.wait() == 0
    assert "failed" not in server.stderr


def test_client_server_hrr_alpn(files: Files, tmp_path: Path) -> None:
    keylog = tmp_path / "server-keys.log"
    with siotls_server(files, "--max-connections", "1", "--groups", "x25519",
                       "--alpn", "h2,http/1.1", "--keylogfile", keylog, "-v"
                       ) as (server, port):
        result = run("client", "--host", "localhost", "--port", str(port), "--cafile", files.ca,
                     "--http", "-v", "--groups", "secp384r1,x25519")
        stderr = stderr_of(result)
        assert result.returncode == 0, stderr
        assert PAGE in result.stdout
        assert "siotls: HelloRetryRequest: yes" in stderr
        assert "siotls: key exchange group: x25519" in stderr
        assert "siotls: ALPN: http/1.1" in stderr
        assert server.wait() == 0
    assert re.search(r"127\.0\.0\.1:\d+: server name \(SNI\): localhost", server.stderr)
    assert re.search(r"127\.0\.0\.1:\d+: GET / -> 200", server.stderr)
    assert len(keylog.read_text().splitlines()) == 5


def test_client_certificates(files: Files) -> None:
    with siotls_server(files, "--max-connections", "2", "--cafile", files.ca, "-v"
                       ) as (server, port):
        args = ("client", "--host", "localhost", "--port", str(port), "--cafile", files.ca,
                "--http")
        result = run(*args)  # no certificate: the server refuses
        assert_one_line_error(result, r"^siotls: (handshake failed: )?the server sent a fatal "
                                      r"alert: certificate_required", 4)
        server.wait_for_line(r"handshake failed: certificate_required: ")
        result = run(*args, "--cert", files.client_cert, "--key", files.client_key, "-v")
        assert result.returncode == 0, stderr_of(result)
        assert PAGE in result.stdout
        assert "siotls: client signature scheme: ecdsa_secp256r1_sha256" in stderr_of(result)
        assert server.wait() == 0
    assert re.search(r"client certificate subject: CN=client,O=siotls tests", server.stderr)
    assert re.search(r"client certificate verified: yes", server.stderr)


# -- the server reads the request line before choosing page or echo ----------------------------
EMPTY = b""  # an empty application_data record (padded) between the pieces


def send_in_pieces(port: int, ca_file: Path, pieces: Sequence[bytes]) -> bytes:
    """A siotls client sends each piece in its own record (and TCP segment), an empty
    piece as an empty padded record; what the server answered until its close_notify."""
    config = TLSConfiguration("client", truststore=TrustStore.from_pem(ca_file.read_bytes()),
                              record_padding=lambda content_type, length: 32)
    conn = TLSConnection(config, server_hostname="localhost")
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        handshake(sock, conn, TIMEOUT)
        for piece in pieces:
            if piece:
                conn.send_data(piece)
            else:  # send_data() ignores b"": ask the record layer for an empty record
                internals(conn).write_record(ContentType.APPLICATION_DATA, b"")
            flush(sock, conn)
        if not pieces[-1].endswith(b"\n\n"):
            conn.close_sending_end()
        return read_until_close(sock, conn, TIMEOUT)


REQUEST = b"GET / HTTP/1.0\r\n\r\n"


@pytest.mark.parametrize("pieces", [
    [b"GET /", EMPTY, EMPTY, b" HTTP/1.0\r\n", EMPTY, b"\r\n"],
    [b"GET /", EMPTY, b" HTTP/1.0", EMPTY, b"\r\n\r\n"],
    [bytes([byte]) for byte in REQUEST],
    [EMPTY, REQUEST],
], ids=["split-with-empty-records", "split-request-line", "byte-by-byte", "empty-first"])
def test_server_request_in_pieces(files: Files, pieces: list[bytes]) -> None:
    """As ``openssl s_server -www``: a request line spread over records is a request."""
    with siotls_server(files, "--max-connections", "1") as (server, port):
        answer = send_in_pieces(port, files.ca, pieces)
        assert server.wait() == 0
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
    assert PAGE in answer
    assert b"GET" not in answer


@pytest.mark.parametrize("pieces", [
    [b"GET /index.html", EMPTY, b" HTTP/1.0\r\n\r\n"],  # not "GET / "
    [b"GE", EMPTY, b"x marks the spot\n"],
    [b"hello ", EMPTY, b"GET / HTTP/1.0\r\n\r\n"],
    [b"GET / " + b"a" * 9000],  # a long line: the request line is bounded
], ids=["other-path", "not-get", "get-later", "long-line"])
def test_server_echo_in_pieces(files: Files, pieces: list[bytes]) -> None:
    """Anything else is echoed whole, once, however it was cut."""
    with siotls_server(files, "--max-connections", "1") as (server, port):
        answer = send_in_pieces(port, files.ca, pieces)
        assert server.wait() == 0
    if pieces[0].startswith(b"GET / "):  # longer than MAX_REQUEST_LINE, still a GET /
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    else:
        assert answer == b"".join(pieces)
