"""Resumption with real peers over 127.0.0.1: Python's ``ssl`` (OpenSSL 3 in the
interpreter) and the ``openssl`` command line (``s_client -sess_out/-sess_in``,
``s_server``), both ways. Each test makes a first connection that gets tickets,
then a second one that must resume with them, and checks both sides say so."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from certs import make_ca, ssl_client_context, ssl_server_context, write_pem_files
from helpers import client_config, server_config
from openssl_peer import (
    S_CLIENT_VERIFY,
    TIMEOUT,
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
from siotls import (
    ExternalPSK,
    InsecureWarning,
    TicketKeys,
    TLSConfiguration,
    TLSConnection,
    TLSSession,
)
from siotls.iana import PskKeyExchangeMode

CA = make_ca()
LEAF = CA.issue()
KEYS = TicketKeys.generate(os.urandom)


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return write_pem_files(tmp_path_factory.mktemp("resumption"), LEAF, CA)


def siotls_server(**kwargs: Any) -> TLSConnection:
    return TLSConnection(server_config(LEAF, ticket_keys=KEYS, **kwargs))


def siotls_client(session: TLSSession | None = None) -> TLSConnection:
    return TLSConnection(client_config(CA), "localhost", session=session)


@contextlib.contextmanager
def in_thread(target: Any, *args: Any) -> Iterator[list[BaseException]]:
    """Run ``target`` in a thread; its exception (if any) is re-raised at exit."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target(*args)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield errors
    thread.join(TIMEOUT)
    assert not thread.is_alive(), "the peer thread did not finish"
    if errors:
        raise errors[0]


def serve_one(lsock: socket.socket, conn: TLSConnection) -> None:
    """siotls server: handshake, read a line, answer it (the tickets go first), close."""
    with accept(lsock) as sock:
        run_server(sock, conn)
        line = read_until(sock, conn, b"\n")
        conn.send_data(b"answer to " + line)
        flush(sock, conn)
        read_until_close(sock, conn)
        conn.close_sending_end()
        flush(sock, conn)


# ---------------------------------------------------------------------------------------
# Python's ssl
# ---------------------------------------------------------------------------------------
def stdlib_client(port: int, context: ssl.SSLContext, session: ssl.SSLSession | None
                  ) -> tuple[ssl.SSLSession, bool]:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw, \
            context.wrap_socket(raw, server_hostname="localhost", session=session) as sock:
        sock.sendall(b"ping\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = sock.recv(1024)
            assert chunk, "the server closed early"
            answer += chunk
        assert answer == b"answer to ping\n"
        reused = sock.session_reused
        new_session = sock.session
        assert new_session is not None
        sock.unwrap()
        return new_session, reused


def test_stdlib_client_resumes_with_siotls_server(pem: tuple[Path, Path, Path]) -> None:
    context = ssl_client_context(pem[2])
    with listener() as (lsock, port):
        first = siotls_server()
        with in_thread(serve_one, lsock, first):
            session, reused = stdlib_client(port, context, None)
        assert not reused and not first.nconfig.session_resumed
        assert session.has_ticket
        second = siotls_server()
        with in_thread(serve_one, lsock, second):
            _, reused = stdlib_client(port, context, session)
        assert reused
        assert second.nconfig.session_resumed
        assert second.nconfig.key_exchange is not None  # psk_dhe_ke


def test_stdlib_client_with_foreign_ticket_gets_a_full_handshake(
        pem: tuple[Path, Path, Path]) -> None:
    context = ssl_client_context(pem[2])
    with listener() as (lsock, port):
        with in_thread(serve_one, lsock, siotls_server()):
            session, _ = stdlib_client(port, context, None)
        other = TLSConnection(server_config(LEAF, ticket_keys=TicketKeys.generate(
            os.urandom)))
        with in_thread(serve_one, lsock, other):
            _, reused = stdlib_client(port, context, session)
        assert not reused and not other.nconfig.session_resumed


def stdlib_server(lsock: socket.socket, context: ssl.SSLContext, reused: list[bool]) -> None:
    raw, _ = lsock.accept()
    with raw, context.wrap_socket(raw, server_side=True) as sock:
        sock.settimeout(TIMEOUT)
        line = b""
        while not line.endswith(b"\n"):
            chunk = sock.recv(1024)
            assert chunk
            line += chunk
        sock.sendall(b"answer to " + line)
        reused.append(sock.session_reused)
        with contextlib.suppress(OSError, ssl.SSLError):
            sock.unwrap()


def siotls_client_round(port: int, session: TLSSession | None) -> TLSConnection:
    with connect(port) as sock:
        conn = siotls_client(session)
        run_client(sock, conn)
        conn.send_data(b"ping\n")
        assert read_until(sock, conn, b"\n") == b"answer to ping\n"
        conn.close_sending_end()
        flush(sock, conn)
        read_until_close(sock, conn)
    return conn


def test_siotls_client_resumes_with_stdlib_server(pem: tuple[Path, Path, Path]) -> None:
    context = ssl_server_context(pem[0], pem[1])
    reused: list[bool] = []
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        lsock.settimeout(TIMEOUT)
        port = lsock.getsockname()[1]
        with in_thread(stdlib_server, lsock, context, reused):
            first = siotls_client_round(port, None)
        assert len(first.session_tickets) == 2  # OpenSSL's default num_tickets
        session = TLSSession.from_bytes(first.session_tickets[0].to_bytes())
        with in_thread(stdlib_server, lsock, context, reused):
            second = siotls_client_round(port, session)
    assert reused == [False, True]
    assert second.nconfig.session_resumed
    assert second.nconfig.peer_certificate_chain == first.nconfig.peer_certificate_chain


# ---------------------------------------------------------------------------------------
# openssl s_client -sess_out / -sess_in against the siotls server
# ---------------------------------------------------------------------------------------
def s_client_round(lsock: socket.socket, port: int, cafile: Path, *args: str | Path
                   ) -> tuple[TLSConnection, bytes]:
    with s_client(port, "-CAfile", cafile, *S_CLIENT_VERIFY, *args) as proc, \
            accept(lsock) as sock:
        conn = siotls_server()
        run_server(sock, conn)
        serve_ping(proc, sock, conn)
        return conn, proc.output


@requires_openssl
def test_openssl_s_client_resumes_with_siotls_server(pem: tuple[Path, Path, Path],
                                                     tmp_path: Path) -> None:
    session_file = tmp_path / "session.pem"
    with listener() as (lsock, port):
        first, output = s_client_round(lsock, port, pem[2], "-sess_out", session_file)
        assert b"New, TLSv1.3" in output and not first.nconfig.session_resumed
        assert session_file.read_bytes().startswith(b"-----BEGIN SSL SESSION PARAMETERS-----")
        second, output = s_client_round(lsock, port, pem[2], "-sess_in", session_file)
    assert b"Reused, TLSv1.3" in output
    assert second.nconfig.session_resumed


@requires_openssl
def test_openssl_s_client_with_rotated_out_ticket(pem: tuple[Path, Path, Path],
                                                  tmp_path: Path) -> None:
    session_file = tmp_path / "session.pem"
    with listener() as (lsock, port):
        s_client_round(lsock, port, pem[2], "-sess_out", session_file)
        old = KEYS.keys
        try:
            KEYS.replace([TicketKeys.generate(os.urandom).encryption_key()])
            second, output = s_client_round(lsock, port, pem[2], "-sess_in", session_file)
        finally:
            KEYS.replace(old)
    assert b"New, TLSv1.3" in output and not second.nconfig.session_resumed


# ---------------------------------------------------------------------------------------
# the siotls client against openssl s_server
# ---------------------------------------------------------------------------------------
def round_with_s_server(port: int, session: TLSSession | None) -> TLSConnection:
    with connect(port) as sock:
        conn = siotls_client(session)
        run_client(sock, conn)
        conn.send_data(b"olleh\n")
        assert read_until(sock, conn, b"\n") == b"hello\n"  # s_server -rev
        conn.close_sending_end()
        read_until_close(sock, conn)
    return conn


@requires_openssl
@pytest.mark.parametrize("suite", ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"])
def test_siotls_client_resumes_with_openssl_s_server(pem: tuple[Path, Path, Path],
                                                     suite: str) -> None:
    with s_server(pem[0], pem[1], "-rev", "-naccept", "2", "-ciphersuites", suite) \
            as (proc, port):
        first = round_with_s_server(port, None)
        assert first.session is not None and not first.nconfig.session_resumed
        second = round_with_s_server(port, first.session)
        assert proc.wait() == 0
    assert second.nconfig.session_resumed
    assert second.nconfig.cipher_suite is not None
    assert second.nconfig.cipher_suite.name == suite
    assert second.nconfig.signature_algorithm is None
    assert second.export_keying_material(b"EXPERIMENTAL x", b"", 8)


@requires_openssl
def test_siotls_client_with_psk_ke_against_s_server(pem: tuple[Path, Path, Path]) -> None:
    """``s_server -allow_no_dhe_kex`` takes psk_ke when the client offers it."""
    with pytest.warns(InsecureWarning):
        config = client_config(CA, psk_key_exchange_modes=[PskKeyExchangeMode.psk_ke])
    with s_server(pem[0], pem[1], "-rev", "-naccept", "2", "-allow_no_dhe_kex") \
            as (proc, port):
        first = round_with_s_server(port, None)
        with connect(port) as sock:
            conn = TLSConnection(config, "localhost", session=first.session)
            run_client(sock, conn)
            conn.send_data(b"ke\n")
            assert read_until(sock, conn, b"\n") == b"ek\n"
            conn.close_sending_end()
            read_until_close(sock, conn)
        assert proc.wait() == 0
    assert conn.nconfig.session_resumed and conn.nconfig.key_exchange is None


# ---------------------------------------------------------------------------------------
# external PSKs with openssl (-psk, -psk_identity: SHA-256, TLS_AES_128_GCM_SHA256)
# ---------------------------------------------------------------------------------------
PSK = ExternalPSK(b"siotls-device", bytes(range(32)))


@requires_openssl
def test_siotls_client_external_psk_with_s_server(pem: tuple[Path, Path, Path]) -> None:
    config = TLSConfiguration("client", external_psks=[PSK])  # no truststore: PSK only
    with s_server(pem[0], pem[1], "-rev", "-naccept", "1", "-nocert",
                  "-psk", PSK.key.hex(), "-psk_identity", PSK.identity.decode()) \
            as (proc, port), connect(port) as sock:
        conn = TLSConnection(config)
        run_client(sock, conn)
        conn.send_data(b"ksp\n")
        assert read_until(sock, conn, b"\n") == b"psk\n"
        conn.close_sending_end()
        read_until_close(sock, conn)
        sock.close()
        assert proc.wait() == 0
    assert conn.nconfig.psk_identity == PSK.identity
    assert conn.nconfig.peer_certificate_chain == ()


@requires_openssl
def test_openssl_s_client_external_psk_with_siotls_server() -> None:
    config = TLSConfiguration("server", external_psks=[PSK])  # no certificate
    with listener() as (lsock, port), \
            s_client(port, "-psk", PSK.key.hex(), "-psk_identity", PSK.identity.decode()) \
            as proc, accept(lsock) as sock:
        conn = TLSConnection(config)
        run_server(sock, conn)
        serve_ping(proc, sock, conn)
    assert conn.nconfig.psk_identity == PSK.identity
