"""siotls against pyOpenSSL, on the OpenSSL 4 that ``cryptography`` bundles.

That OpenSSL has ML-KEM and key-shares X25519MLKEM768 (and X25519) by default,
so it is the real peer for the post-quantum hybrids: siotls client and server
negotiate each hybrid with it, without a HelloRetryRequest when a share fits,
and through one when it does not. ``Connection.get_group_name()`` says what
OpenSSL negotiated. The pyOpenSSL side runs in a thread on a blocking socket
with a timeout; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from certs import CA, make_ca, write_pem_files
from helpers import client_config, server_config
from openssl_peer import TIMEOUT, accept, connect, listener, read_until, run_client, run_server
from siotls import TLSConnection
from siotls.core import crypto
from siotls.iana import NamedGroup

SSL = pytest.importorskip("OpenSSL.SSL")
from OpenSSL._util import lib as _lib  # noqa: E402

pytestmark = pytest.mark.skipif(not crypto.mlkem_supported(), reason="no ML-KEM in cryptography")

HYBRIDS = [NamedGroup.X25519MLKEM768, NamedGroup.SecP256r1MLKEM768,
           NamedGroup.SecP384r1MLKEM1024]


def _context(method_side: str, tmp_path: Path, ca: CA, groups: str | None) -> Any:
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(SSL.TLS1_3_VERSION)
    if method_side == "server":
        leaf = ca.issue()
        cert_file, key_file, _ = write_pem_files(tmp_path, leaf)
        context.use_certificate_chain_file(str(cert_file))
        context.use_privatekey_file(str(key_file))
    else:
        ca_file = tmp_path / "pyopenssl-ca.pem"
        ca_file.write_bytes(ca.cert_pem)
        context.load_verify_locations(str(ca_file))
        context.set_verify(SSL.VERIFY_PEER)
    if groups is not None:
        # pyOpenSSL has no set_groups: the binding of SSL_CTX_set1_groups_list.
        assert _lib.SSL_CTX_set1_curves_list(context._context, groups.encode()) == 1
    return context


class Peer(threading.Thread):
    """A pyOpenSSL endpoint that handshakes and records the group; a server echoes
    a line, a client sends ``hello`` and reads the answer."""

    def __init__(self, context: Any, sock: socket.socket, side: str) -> None:
        super().__init__(daemon=True)
        # OpenSSL needs a blocking socket; the kernel's timeouts bound each call.
        sock.settimeout(None)
        timeval = struct.pack("ll", int(TIMEOUT), 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
        self.sock = sock
        self.connection = SSL.Connection(context, sock)
        if side == "server":
            self.connection.set_accept_state()
        else:
            self.connection.set_connect_state()
            self.connection.set_tlsext_host_name(b"localhost")
        self.side = side
        self.group: str | None = None
        self.reply = b""
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.connection.do_handshake()
            self.group = self.connection.get_group_name()
            if self.side == "client":
                self.connection.sendall(b"hello\n")
            line = b""
            while not line.endswith(b"\n"):
                line += self.connection.recv(1024)
            if self.side == "server":
                self.connection.sendall(b"echo: " + line)
            self.reply = line
            self.connection.shutdown()
        except BaseException as exc:
            self.error = exc

    def finish(self) -> str | None:
        self.join(TIMEOUT)
        self.sock.close()
        assert not self.is_alive(), "the pyOpenSSL peer did not finish"
        if self.error is not None:
            raise self.error
        return self.group


def _exchange(sock: socket.socket, conn: TLSConnection) -> None:
    conn.send_data(b"hello\n")
    assert read_until(sock, conn, b"hello\n") == b"echo: hello\n"


@contextlib.contextmanager
def pyopenssl_server(tmp_path: Path, ca: CA, groups: str | None
                     ) -> Iterator[Callable[[], tuple[socket.socket, Peer]]]:
    with listener() as (sock, port):
        def start() -> tuple[socket.socket, Peer]:
            client_sock = connect(port)
            peer = Peer(_context("server", tmp_path, ca, groups), accept(sock), "server")
            peer.start()
            return client_sock, peer
        yield start


def _siotls_client(ca: CA, groups: list[NamedGroup] | None) -> TLSConnection:
    kwargs = {} if groups is None else {"key_exchanges": groups}
    return TLSConnection(client_config(ca, **kwargs), server_hostname="localhost")


def _run_siotls_client(tmp_path: Path, peer_groups: str | None,
                       groups: list[NamedGroup] | None) -> tuple[TLSConnection, str | None]:
    ca = make_ca()
    with pyopenssl_server(tmp_path, ca, peer_groups) as start:
        sock, peer = start()
        with sock:
            conn = _siotls_client(ca, groups)
            run_client(sock, conn)
            _exchange(sock, conn)
            return conn, peer.finish()


def _run_siotls_server(tmp_path: Path, peer_groups: str | None,
                       groups: list[NamedGroup] | None) -> tuple[TLSConnection, str | None]:
    ca = make_ca()
    kwargs = {} if groups is None else {"key_exchanges": groups}
    conn = TLSConnection(server_config(ca.issue(), **kwargs))
    with listener() as (sock, port):
        peer_sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        peer = Peer(_context("client", tmp_path, ca, peer_groups), peer_sock, "client")
        peer.start()
        with accept(sock) as server_sock:
            run_server(server_sock, conn)
            assert read_until(server_sock, conn, b"\n") == b"hello\n"
            conn.send_data(b"echo: hello\n")
            server_sock.sendall(conn.data_to_send())
            group = peer.finish()
        assert peer.reply == b"echo: hello\n"
    return conn, group


# -- siotls client, pyOpenSSL server ---------------------------------------------------

def test_client_defaults_negotiate_x25519mlkem768_without_hello_retry(tmp_path: Path) -> None:
    conn, group = _run_siotls_client(tmp_path, None, None)
    assert group == "X25519MLKEM768"
    assert conn.nconfig.key_exchange == NamedGroup.X25519MLKEM768
    assert not conn.nconfig.hello_retry_request
    # This OpenSSL has neither record_size_limit nor certificate compression (built
    # without zlib/brotli/zstd): it ignores both offers, and we do without.
    assert conn.nconfig.peer_record_size_limit is None
    assert conn.nconfig.peer_certificate_compression is None


@pytest.mark.parametrize("hybrid", HYBRIDS)
def test_client_each_hybrid(tmp_path: Path, hybrid: NamedGroup) -> None:
    conn, group = _run_siotls_client(tmp_path, hybrid.name, [hybrid])
    assert group == hybrid.name
    assert conn.nconfig.key_exchange == hybrid
    assert not conn.nconfig.hello_retry_request


@pytest.mark.parametrize("hybrid", [NamedGroup.SecP256r1MLKEM768, NamedGroup.SecP384r1MLKEM1024])
def test_client_hello_retry_into_a_hybrid(tmp_path: Path, hybrid: NamedGroup) -> None:
    # Our default shares X25519MLKEM768 and x25519; this server only takes ``hybrid``.
    conn, group = _run_siotls_client(tmp_path, hybrid.name, None)
    assert group == hybrid.name
    assert conn.nconfig.key_exchange == hybrid
    assert conn.nconfig.hello_retry_request


def test_client_falls_back_to_x25519_without_hello_retry(tmp_path: Path) -> None:
    conn, group = _run_siotls_client(tmp_path, "X25519:secp256r1", None)
    assert group == "x25519"
    assert conn.nconfig.key_exchange == NamedGroup.x25519
    assert not conn.nconfig.hello_retry_request


# -- pyOpenSSL client, siotls server ---------------------------------------------------

def test_server_defaults_negotiate_x25519mlkem768_without_hello_retry(tmp_path: Path) -> None:
    conn, group = _run_siotls_server(tmp_path, None, None)
    assert group == "X25519MLKEM768"
    assert conn.nconfig.key_exchange == NamedGroup.X25519MLKEM768
    assert not conn.nconfig.hello_retry_request
    assert conn.nconfig.peer_record_size_limit is None  # no offers: nothing to honour
    assert conn.nconfig.certificate_compression is None


@pytest.mark.parametrize("hybrid", HYBRIDS)
def test_server_each_hybrid(tmp_path: Path, hybrid: NamedGroup) -> None:
    conn, group = _run_siotls_server(tmp_path, hybrid.name, None)
    assert group == hybrid.name
    assert conn.nconfig.key_exchange == hybrid
    assert not conn.nconfig.hello_retry_request


def test_server_hello_retry_into_a_hybrid(tmp_path: Path) -> None:
    # The client key-shares x25519 (its first group) only; we want SecP384r1MLKEM1024.
    conn, group = _run_siotls_server(
        tmp_path, "X25519:SecP384r1MLKEM1024", [NamedGroup.SecP384r1MLKEM1024])
    assert group == "SecP384r1MLKEM1024"
    assert conn.nconfig.hello_retry_request


def test_server_prefers_the_hybrid_whatever_the_client_order(tmp_path: Path) -> None:
    # OpenSSL shares X25519 first when told so ("*" marks a key-shared group).
    conn, group = _run_siotls_server(tmp_path, "*X25519:*X25519MLKEM768", None)
    assert group == "X25519MLKEM768"
    assert not conn.nconfig.hello_retry_request
