"""``siotls server``: a page for ``GET /``, an echo for anything else, a thread a connection.

Each connection: the handshake (:func:`~siotls.cli.blocking.do_handshake`), then the
start of the stream decides what it is. As ``openssl s_server -www`` does, the
request line is read first (up to a line feed, at most ``MAX_REQUEST_LINE``
bytes), whatever records it came in: ``GET /`` in one record and ``HTTP/1.0`` in
the next, with empty records between, is a request. A stream that cannot start
with ``GET `` is echoed at once. A request gets the page once its head ended (a
blank line, at most ``MAX_REQUEST_HEAD`` bytes), then close_notify; an echo lasts
until the client closes. After our close_notify or alert we linger a moment,
reading, so that closing does not reset what the client has yet to read.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import threading
import time

import siotls
from siotls.cli.blocking import RECV_SIZE, do_handshake, flush, flush_quietly
from siotls.cli.certs import server_options
from siotls.cli.report import (
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_TLS,
    CLIError,
    describe_connection,
    describe_tls_error,
    format_address,
    keying_material,
    notice,
)
from siotls.cli.setup import (
    KeyLogWriter,
    load_ticket_keys,
    make_configuration,
    replay_store,
)
from siotls.core.config import TLSConfiguration
from siotls.core.connection import TLSConnection
from siotls.core.errors import RaggedEOF, TLSError

#: The longest request line read before deciding between the page and the echo.
MAX_REQUEST_LINE = 8192
#: The largest HTTP request head the server buffers before answering anyway.
MAX_REQUEST_HEAD = 1 << 16
#: Connections the server serves at once; the next ones wait in the listen backlog.
MAX_CLIENTS = 128
#: Seconds the server waits for the client's close_notify after sending its own.
LINGER = 2.0
HTTP_PREFIX = b"GET / "
WHOAMI_PREFIX = b"GET /whoami "
GET = b"GET "


def open_listener(host: str, port: int) -> tuple[socket.socket, str]:
    """A listening socket, and how to describe it."""
    host = host.removeprefix("[").removesuffix("]")
    try:
        if host in ("::", "") and socket.has_dualstack_ipv6():
            sock = socket.create_server(("::", port), family=socket.AF_INET6,
                                        dualstack_ipv6=True, backlog=128)
            return sock, f"{format_address('::', sock.getsockname()[1])} (IPv6 and IPv4)"
        if host in ("::", "") and not socket.has_ipv6:
            host = "0.0.0.0"  # noqa: S104 (listening on every address is the point)
        family, _, _, _, sockaddr = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.create_server(sockaddr, family=family, backlog=128)
    except socket.gaierror as exc:
        raise CLIError(f"cannot resolve {host!r}: {exc.strerror}", EXIT_NETWORK) from exc
    except OSError as exc:
        raise CLIError(f"cannot listen on {format_address(host, port)}: "
                       f"{exc.strerror or exc}", EXIT_NETWORK) from exc
    bound_host, bound_port = sock.getsockname()[:2]
    return sock, format_address(bound_host, bound_port)


def run_server(args: argparse.Namespace) -> int:
    options = server_options(args)
    keylog = KeyLogWriter(args.keylogfile) if args.keylogfile else None
    try:
        config = make_configuration(
            "server", args, keylog, alpn=args.alpn, num_tickets=args.num_tickets,
            ticket_keys=load_ticket_keys(args.ticket_keys) if args.ticket_keys else None,
            max_early_data=args.early_data, early_data_freshness=args.replay_window / 2,
            strike_register=replay_store(args.replay_store, args.replay_window)
            if args.early_data else None,
            **options)
        listener, description = open_listener(args.host, args.port)
        with listener:
            notice(f"listening on {description}")
            server = Server(listener, config, args.timeout, args.verbose, args.max_connections,
                            exporter=args)
            server.post_handshake = args.verify_client == "post-handshake"
            server.serve()
    finally:
        if keylog is not None:
            keylog.close()
    return EXIT_OK


def client_identity(conn: TLSConnection) -> str:
    """The verified client certificate's subject, its raw key, or ``no certificate``."""
    nconfig = conn.nconfig
    if not nconfig.peer_verified:
        return "no certificate"
    if nconfig.peer_certificate_type == "raw_public_key" and nconfig.peer_public_key:
        import hashlib  # noqa: PLC0415

        return f"raw public key sha256:{hashlib.sha256(nconfig.peer_public_key).hexdigest()}"
    return nconfig.peer_certificates[0].subject.rfc4514_string() or "(empty subject)"


class Server:
    """Accepts connections, serves each one in a thread."""

    def __init__(self, listener: socket.socket, config: TLSConfiguration, timeout: float,
                 verbose: int, max_connections: int | None, *,
                 exporter: argparse.Namespace | None = None) -> None:
        """``exporter``: the --keymatexport options, reported with -v per connection."""
        self.listener = listener
        self.exporter = exporter
        self.config = config
        self.timeout = timeout
        self.verbose = verbose
        self.max_connections = max_connections
        self.slots = threading.BoundedSemaphore(MAX_CLIENTS)
        self.threads: list[threading.Thread] = []
        #: GET /whoami asks a client that offered it for its certificate
        self.post_handshake = False

    def serve(self) -> None:
        """Serve until interrupted, or until ``max_connections`` were served."""
        accepted = 0
        # A timeout so that Ctrl-C is noticed everywhere (Windows' accept() ignores it).
        self.listener.settimeout(0.5)
        while self.max_connections is None or accepted < self.max_connections:
            if not self.slots.acquire(timeout=0.5):
                continue
            try:
                sock, address = self.listener.accept()
            except TimeoutError:
                self.slots.release()
                continue
            except OSError as exc:  # EMFILE...: wait for connections to end
                self.slots.release()
                notice(f"cannot accept a connection: {exc.strerror or exc}")
                time.sleep(0.1)
                continue
            accepted += 1
            thread = threading.Thread(target=self._serve_one, args=(sock, address),
                                      daemon=True, name=f"siotls-{accepted}")
            self.threads = [t for t in self.threads if t.is_alive()]
            self.threads.append(thread)
            thread.start()
        deadline = time.monotonic() + 2 * self.timeout + LINGER
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _serve_one(self, sock: socket.socket, address: tuple[str, int]) -> None:
        peer = format_address(address[0], address[1])
        try:
            with sock:
                self._handle(sock, peer)
        except Exception as exc:  # noqa: BLE001 (one connection's bug must not stop the server)
            notice(f"{peer}: internal error: {type(exc).__name__}: {exc}")
        finally:
            self.slots.release()

    def _handle(self, sock: socket.socket, peer: str) -> None:
        conn = TLSConnection(self.config)
        try:
            do_handshake(sock, conn, self.timeout, "client")
        except CLIError as exc:
            notice(f"{peer}: {exc}")
            if exc.code == EXIT_TLS:
                self._linger(sock, None)  # so that our alert is read, not reset
            return
        if self.verbose:
            notice(f"{peer}: connected")
            for line in describe_connection(conn, "server"):
                notice(f"{peer}: {line}")
            if self.exporter is not None and (
                    material := keying_material(conn, self.exporter)) is not None:
                notice(f"{peer}: {material}")
        try:
            sock.settimeout(self.timeout)
            # 0-RTT data is the start of the stream (a demonstration server: a real one
            # acts on it only where a replay does no harm, RFC 8470)
            start = self._read_request_line(sock, conn, peer, conn.data_to_read_early())
            if start.startswith(WHOAMI_PREFIX):
                self._read_request_head(sock, conn, peer, start)
                self._send_page(sock, conn, peer, self._whoami(sock, conn, peer), "/whoami")
            elif start.startswith(HTTP_PREFIX):
                self._read_request_head(sock, conn, peer, start)
                self._send_page(sock, conn, peer)
            else:
                self._echo(sock, conn, peer, start)
        except TLSError as exc:
            notice(f"{peer}: {describe_tls_error(exc, 'client')}")
        except TimeoutError:
            notice(f"{peer}: timed out after {self.timeout:g} s, closing")
        except OSError as exc:
            notice(f"{peer}: network error: {exc.strerror or exc}")

    def _receive(self, sock: socket.socket, conn: TLSConnection, peer: str) -> None:
        """One ``recv()`` into ``conn`` (our answers flushed), or its EOF."""
        data = sock.recv(RECV_SIZE)
        if not data:
            try:
                conn.close_receiving_end()
            except RaggedEOF:
                if self.verbose:
                    notice(f"{peer}: the client closed the connection without close_notify")
            return
        try:
            conn.receive_data(data)
        finally:
            flush_quietly(sock, conn)

    def _read_request_line(self, sock: socket.socket, conn: TLSConnection, peer: str,
                           early: bytes) -> bytes:
        """The start of the stream (``early`` first): through its first line feed if it
        may be a GET request (at most ``MAX_REQUEST_LINE`` bytes), else what came so far."""
        start = bytearray(early)
        while True:
            start += conn.data_to_read()
            if (b"\n" in start or len(start) >= MAX_REQUEST_LINE or not conn.can_receive
                    or not GET.startswith(start[:len(GET)])):
                return bytes(start)
            self._receive(sock, conn, peer)

    def _read_request_head(self, sock: socket.socket, conn: TLSConnection, peer: str,
                           head: bytes) -> None:
        """Read the rest of the request head: up to a blank line (bounded)."""
        pending = bytearray(head)
        while not (b"\r\n\r\n" in pending or b"\n\n" in pending
                   or not conn.can_receive or len(pending) > MAX_REQUEST_HEAD):
            self._receive(sock, conn, peer)
            pending += conn.data_to_read()

    def _echo(self, sock: socket.socket, conn: TLSConnection, peer: str, data: bytes) -> None:
        """Send back what the client sends until it closes, then close too."""
        while True:
            if data and conn.can_send:
                conn.send_data(data)
                flush(sock, conn)
            if not conn.can_receive:
                break
            self._receive(sock, conn, peer)
            data = conn.data_to_read()
        if conn.can_send:
            conn.close_sending_end()
        flush_quietly(sock, conn)
        if self.verbose:
            notice(f"{peer}: closed")

    def _whoami(self, sock: socket.socket, conn: TLSConnection, peer: str) -> bytes:
        """The client certificate's subject, asked for after the handshake if need be."""
        nconfig = conn.nconfig
        if self.post_handshake and nconfig.post_handshake_auth and not nconfig.peer_verified:
            conn.request_client_certificate()
            flush(sock, conn)
            while conn.client_certificate_pending and conn.can_receive:
                self._receive(sock, conn, peer)
        return f"{client_identity(conn)}\n".encode()

    def _send_page(self, sock: socket.socket, conn: TLSConnection, peer: str,
                   body: bytes | None = None, path: str = "/") -> None:
        nconfig = conn.nconfig
        alpn = nconfig.alpn.decode(errors="replace") if nconfig.alpn else "none"
        body = body or (f"Hello from siotls {siotls.__version__}!\n"
                        f"TLSv1.3, {getattr(nconfig.cipher_suite, 'name', '?')}, "
                        f"{getattr(nconfig.key_exchange, 'name', '?')}, ALPN {alpn}\n").encode()
        head = ("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n"
                f"Server: siotls/{siotls.__version__}\r\n\r\n").encode()
        conn.send_data(head + body)
        conn.close_sending_end()
        flush(sock, conn)
        if self.verbose:
            notice(f"{peer}: GET {path} -> 200")
        self._linger(sock, conn)

    def _linger(self, sock: socket.socket, conn: TLSConnection | None) -> None:
        """After our close_notify or alert, read what the client still sends, for a moment.

        Closing a socket with unread data in its receive buffer sends a TCP reset,
        which may destroy our last records before the client read them. With ``conn``
        we stop at the client's close_notify, else at EOF.
        """
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + min(LINGER, self.timeout)
        with contextlib.suppress(OSError, TLSError):
            while (remaining := deadline - time.monotonic()) > 0:
                sock.settimeout(remaining)
                data = sock.recv(RECV_SIZE)
                if not data:
                    break
                if conn is not None:
                    conn.receive_data(data)
                    conn.data_to_read()
                    if not conn.can_receive:
                        break
