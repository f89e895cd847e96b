"""The command line's post-quantum, record size limit and certificate compression
options: ``--groups`` with the hybrids, ``--record-size-limit N``, ``--cert-compression``,
and the ``-v`` lines that report them. The siotls client against the siotls server,
and ``openssl s_client`` (3.0, no ML-KEM) against the siotls server.
"""

from __future__ import annotations

import re

import pytest

from openssl_peer import requires_openssl, s_client
from siotls.core import crypto
from test_cli import PAGE, Files, assert_one_line_error, files, run, siotls_server, stderr_of

__all__ = ["files"]  # the fixture, shared with test_cli.py

needs_mlkem = pytest.mark.skipif(not crypto.mlkem_supported(), reason="no ML-KEM")


def client(port: int, files: Files, *args: str) -> tuple[int, str, bytes]:
    result = run("client", "--host", "localhost", "--port", str(port), "--cafile", files.ca,
                 "--http", "-v", *args)
    return result.returncode, stderr_of(result), result.stdout


@needs_mlkem
def test_defaults_report_the_hybrid_and_brotli(files: Files) -> None:
    with siotls_server(files, "--max-connections", "1", "-v") as (server, port):
        code, stderr, stdout = client(port, files)
        assert code == 0, stderr
        assert PAGE in stdout
        assert "siotls: key exchange group: X25519MLKEM768" in stderr
        assert "siotls: HelloRetryRequest: no" in stderr
        assert "siotls: record size limit: 16385" in stderr
        assert "siotls: certificate compression: brotli" in stderr
        assert server.wait() == 0
    assert re.search(r"key exchange group: X25519MLKEM768", server.stderr)
    assert re.search(r"certificate compression: brotli", server.stderr)


@needs_mlkem
@pytest.mark.parametrize("spelling", ["SecP384r1MLKEM1024", "secp384r1mlkem1024"])
def test_groups_names_the_hybrids_in_any_case(files: Files, spelling: str) -> None:
    with siotls_server(files, "--max-connections", "1", "--groups",
                       "SECP384R1MLKEM1024,x25519") as (server, port):
        code, stderr, _ = client(port, files, "--groups", f"x25519,{spelling}")
        assert code == 0, stderr
        # The server prefers the hybrid it was not offered a share for, but takes the
        # x25519 share rather than ask for another (no needless HelloRetryRequest).
        assert "siotls: key exchange group: x25519" in stderr
        assert "siotls: HelloRetryRequest: no" in stderr
        assert server.wait() == 0


@needs_mlkem
def test_groups_hello_retry_into_a_hybrid(files: Files) -> None:
    with siotls_server(files, "--max-connections", "1", "--groups",
                       "SecP256r1MLKEM768") as (server, port):
        code, stderr, _ = client(port, files)
        assert code == 0, stderr
        assert "siotls: key exchange group: SecP256r1MLKEM768" in stderr
        assert "siotls: HelloRetryRequest: yes" in stderr
        assert server.wait() == 0


def test_record_size_limit_and_compression_options(files: Files) -> None:
    with siotls_server(files, "--max-connections", "1", "-v", "--record-size-limit", "512",
                       "--cert-compression", "zstd,zlib") as (server, port):
        code, stderr, stdout = client(port, files, "--record-size-limit", "100",
                                      "--cert-compression", "zlib,zstd")
        assert code == 0, stderr
        assert PAGE in stdout
        assert "siotls: record size limit: 512" in stderr
        assert "siotls: certificate compression: zstd" in stderr  # the server's order
        assert server.wait() == 0
    assert re.search(r"record size limit: 100", server.stderr)


def test_cert_compression_none(files: Files) -> None:
    with siotls_server(files, "--max-connections", "1") as (server, port):
        code, stderr, _ = client(port, files, "--cert-compression", "none")
        assert code == 0, stderr
        assert "siotls: certificate compression: none" in stderr
        assert server.wait() == 0


@pytest.mark.parametrize(("option", "value", "pattern"), [
    ("--record-size-limit", "63", r"record size limit between 64 and 16385"),
    ("--record-size-limit", "16386", r"record size limit between 64 and 16385"),
    ("--cert-compression", "lzma", r"unknown certificate compression 'lzma'"),
    ("--groups", "X25519Kyber768", r"unsupported group 'X25519Kyber768'"),
])
def test_bad_values(option: str, value: str, pattern: str) -> None:
    result = run("client", "--host", "localhost", "--port", "1", option, value)
    assert result.returncode == 2
    assert re.search(pattern, stderr_of(result)), stderr_of(result)


@requires_openssl
def test_s_client_still_gets_x25519(files: Files) -> None:
    """openssl s_client 3.0 (no ML-KEM) against the server's hybrid defaults."""
    with siotls_server(files, "--max-connections", "1", "-v") as (server, port), \
            s_client(port, "-CAfile", str(files.ca), "-servername", "localhost",
                     "-ign_eof") as proc:
        proc.write(b"GET / HTTP/1.0\r\n\r\n")
        proc.wait_for(PAGE)
        proc.close_stdin()
        assert server.wait() == 0
    assert re.search(r"key exchange group: x25519", server.stderr)
    assert re.search(r"HelloRetryRequest: no", server.stderr)


def test_one_line_errors_stay_one_line(files: Files) -> None:
    result = run("client", "--host", "localhost", "--port", "1", "--cafile", files.ca,
                 "--cert-compression", "zlib")
    assert_one_line_error(result, r"^siotls: ", 3)
