"""Sessions in ``siotls.compat`` as Python's ``ssl`` has them: ``session``,
``session_reused``, ``session=`` and ``num_tickets``, against Python's ``ssl``
both ways, over blocking sockets on 127.0.0.1."""

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
from siotls import TicketKeys, TLSConfiguration, TLSSession
from siotls.compat import SSLContext, SSLSession

TIMEOUT = 10
HOST = "127.0.0.1"
CA = make_ca(name="siotls compat resumption CA")
LEAF = CA.issue()
KEYS = TicketKeys.generate(os.urandom)


def compat_client() -> SSLContext:
    return SSLContext.from_config(TLSConfiguration("client", truststore=CA.truststore()))


def compat_server() -> SSLContext:
    return SSLContext.from_config(TLSConfiguration(
        "server", private_key=LEAF.key_der, certificate_chain=LEAF.chain_der, ticket_keys=KEYS))


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return write_pem_files(tmp_path_factory.mktemp("compat-resumption"), LEAF, CA)


@contextlib.contextmanager
def serving(context: ssl.SSLContext, connections: int) -> Iterator[tuple[int, list[bool]]]:
    """A blocking TLS echo-once server in a thread; yields its port and, per connection,
    whether the server side says the session was reused."""
    reused: list[bool] = []
    errors: list[BaseException] = []
    listener = socket.create_server((HOST, 0))
    listener.settimeout(TIMEOUT)

    def serve() -> None:
        try:
            for _ in range(connections):
                raw, _ = listener.accept()
                raw.settimeout(TIMEOUT)
                with context.wrap_socket(raw, server_side=True) as sock:
                    line = sock.recv(1024)
                    sock.sendall(b"answer to " + line)
                    reused.append(sock.session_reused)
                    with contextlib.suppress(OSError, ssl.SSLError):
                        sock.unwrap()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], reused
    finally:
        thread.join(TIMEOUT)
        listener.close()
    assert not thread.is_alive()
    if errors:
        raise errors[0]


def client_round(context: ssl.SSLContext, port: int, session: Any) -> tuple[Any, bool]:
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as raw, \
            context.wrap_socket(raw, server_hostname="localhost", session=session) as sock:
        sock.sendall(b"ping")
        answer = b""
        while len(answer) < len(b"answer to ping"):
            chunk = sock.recv(1024)
            assert chunk
            answer += chunk
        assert answer == b"answer to ping"
        new_session = sock.session
        reused = sock.session_reused
        with contextlib.suppress(OSError, ssl.SSLError):
            sock.unwrap()
    return new_session, reused


def two_rounds(client: ssl.SSLContext, server: ssl.SSLContext) -> list[tuple[bool, bool]]:
    with serving(server, 2) as (port, server_reused):
        session, first = client_round(client, port, None)
        assert session is not None and session.has_ticket
        _, second = client_round(client, port, session)
    return list(zip([first, second], server_reused, strict=True))


def test_compat_client_resumes_with_stdlib_server(pem: tuple[Path, Path, Path]) -> None:
    assert two_rounds(compat_client(), ssl_server_context(pem[0], pem[1])) == [
        (False, False), (True, True)]


def test_stdlib_client_resumes_with_compat_server(pem: tuple[Path, Path, Path]) -> None:
    assert two_rounds(ssl_client_context(pem[2]), compat_server()) == [
        (False, False), (True, True)]


def test_compat_both_sides() -> None:
    assert two_rounds(compat_client(), compat_server()) == [(False, False), (True, True)]


def test_num_tickets() -> None:
    server = compat_server()
    assert server.num_tickets == 2  # ssl's default
    server.num_tickets = 0
    assert server.num_tickets == 0 and server.config.num_tickets == 0
    with serving(server, 1) as (port, _):
        session, _ = client_round(compat_client(), port, None)
    assert session is None  # no ticket
    with pytest.raises(ValueError, match="non-negative"):
        server.num_tickets = -1
    with pytest.raises(ValueError, match="not a server"):
        compat_client().num_tickets = 1


def test_session_arguments_checked_as_ssl_does(pem: tuple[Path, Path, Path]) -> None:
    stdlib_session_holder: list[ssl.SSLSession] = []
    with serving(ssl_server_context(pem[0], pem[1]), 1) as (port, _):
        session, _ = client_round(ssl_client_context(pem[2]), port, None)
        stdlib_session_holder.append(session)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    with pytest.raises(TypeError, match="SSLSession"):  # a session of another stack
        compat_client().wrap_bio(incoming, outgoing, server_hostname="localhost",
                                 session=stdlib_session_holder[0])
    ours = SSLSession(_a_session())
    with pytest.raises(ValueError, match="client side"):
        compat_server().wrap_bio(incoming, outgoing, server_side=True, session=ours)
    obj = compat_client().wrap_bio(incoming, outgoing, server_hostname="localhost")
    obj.session = ours  # before the handshake: allowed
    with pytest.raises(ValueError, match="after handshake"):
        started = compat_client().wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(),
                                           server_hostname="localhost")
        with contextlib.suppress(ssl.SSLWantReadError):
            started.do_handshake()
        started.session = ours


def _a_session() -> TLSSession:
    with serving(compat_server(), 1) as (port, _):
        session, _ = client_round(compat_client(), port, None)
    assert isinstance(session, SSLSession)
    assert session.timeout == session.ticket_lifetime_hint == 7200
    assert len(session.id) == 32 and session.time > 0
    return session.tls_session


def test_session_set_on_the_object_resumes() -> None:
    tls_session = _a_session()
    resumed: list[bool] = []

    def client(port: int) -> None:
        context = compat_client()
        with socket.create_connection((HOST, port), timeout=TIMEOUT) as raw:
            sock = context.wrap_socket(raw, server_hostname="localhost",
                                       do_handshake_on_connect=False)
            sock.session = SSLSession(tls_session)  # as ssl allows before the handshake
            sock.do_handshake()
            sock.sendall(b"ping")
            assert sock.recv(1024).startswith(b"answer")
            resumed.append(sock.session_reused)
            sock.close()

    with serving(compat_server(), 1) as (port, server_reused):
        client(port)
    assert resumed == [True] and server_reused == [True]
