"""``siotls client``: connect, handshake, then exchange stdin/stdout with the server.

:class:`ClientExchange` is the exchange after the handshake, a small event loop
on non-blocking sockets: the TLS socket, stdin (a socket pair fed by a thread, so
that ``selectors`` can wait on any stdin: a pipe, a tty, /dev/null, a file) and
what waits to be sent are multiplexed, so that a peer echoing a large input cannot
dead-lock us. One method per event: :meth:`~ClientExchange.on_stdin`,
:meth:`~ClientExchange.on_writable`, :meth:`~ClientExchange.on_readable` (and its
EOF). The wait is unbounded only while stdin is open and nothing waits to be sent
(a person typing); otherwise ``timeout`` seconds without progress end it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import socket
import sys
import threading
import time
from typing import BinaryIO

import siotls
from siotls.cli.blocking import RECV_SIZE, do_handshake
from siotls.cli.certs import client_options
from siotls.cli.report import (
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_TLS,
    EXIT_USAGE,
    CLIError,
    StdoutClosed,
    describe_connection,
    describe_tls_error,
    format_address,
    keying_material,
    notice,
)
from siotls.cli.setup import (
    KeyLogWriter,
    load_credentials,
    load_session,
    load_truststore,
    make_configuration,
    read_file,
    save_session,
    system_truststore,
)
from siotls.core.connection import TLSConnection
from siotls.core.errors import RaggedEOF, TLSError
from siotls.trust import TrustStore

#: The client stops reading its stdin while this many bytes wait for the socket.
MAX_OUTGOING = 1 << 18


def _stdin_fd() -> int | None:
    try:
        fd = sys.stdin.fileno()
        os.fstat(fd)
    except (AttributeError, OSError, ValueError):
        return None
    return fd


def _pump(fd: int, writer: socket.socket) -> None:
    """Copy ``fd`` to ``writer`` until EOF, then shut ``writer`` down (a thread)."""
    with writer:
        while True:
            try:
                chunk = os.read(fd, RECV_SIZE)
            except OSError:
                break
            if not chunk:
                break
            try:
                writer.sendall(chunk)
            except OSError:
                return
        with contextlib.suppress(OSError):
            writer.shutdown(socket.SHUT_WR)


def start_stdin_pump() -> socket.socket | None:
    """A socket that yields stdin's bytes (then EOF), or ``None`` without a stdin."""
    fd = _stdin_fd()
    if fd is None:
        return None
    reader, writer = socket.socketpair()
    threading.Thread(target=_pump, args=(fd, writer), daemon=True, name="siotls-stdin").start()
    return reader


def http_request(host: str, port: int) -> bytes:
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    authority = f"[{host}]" if ":" in host else host
    if port != 443:
        authority += f":{port}"
    return (f"GET / HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: siotls/{siotls.__version__}"
            "\r\nAccept: */*\r\nConnection: close\r\n\r\n").encode()


def connect(host: str, port: int, timeout: float) -> socket.socket:
    address = format_address(host, port)
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise CLIError(f"cannot resolve {host!r}: {exc.strerror}", EXIT_NETWORK) from exc
    except TimeoutError as exc:
        raise CLIError(f"cannot connect to {address}: timed out after {timeout:g} s",
                       EXIT_NETWORK) from exc
    except OSError as exc:
        raise CLIError(f"cannot connect to {address}: {exc.strerror or exc}",
                       EXIT_NETWORK) from exc


def run_client(args: argparse.Namespace) -> int:
    if (args.cert is None) != (args.key is None):
        raise CLIError("--cert and --key go together", EXIT_USAGE)
    options = client_options(args)
    if args.early_data and not args.sess_in:
        raise CLIError("--early-data needs --sess-in (0-RTT resumes a session)", EXIT_USAGE)
    early_data = read_file(args.early_data, "--early-data") if args.early_data else None
    truststore: TrustStore | None = None
    if args.cafile:
        truststore = load_truststore(args.cafile)
    elif not args.insecure and not args.server_pubkey:  # a raw key alone: no CA at all
        truststore = system_truststore()
    chain: list[bytes] = []
    key: bytes | None = None
    if args.cert:
        chain, key = load_credentials(args.cert, args.key, "--cert", "--key")
    keylog = KeyLogWriter(args.keylogfile) if args.keylogfile else None
    try:
        config = make_configuration(
            "client", args, keylog, truststore=truststore, private_key=key,
            certificate_chain=chain, alpn=args.alpn or ([b"http/1.1"] if args.http else None),
            **options)
        host = args.host.removeprefix("[").removesuffix("]")
        server_name = args.servername or host
        session = load_session(args.sess_in) if args.sess_in else None
        conn = TLSConnection(config, server_hostname=server_name, session=session,
                             early_data=early_data)
        if args.verbose:
            notice(f"connecting to {format_address(host, args.port)}")
        with connect(host, args.port, args.timeout) as sock:
            if args.verbose:
                peer_host, peer_port = sock.getpeername()[:2]
                notice(f"connected to {format_address(peer_host, peer_port)}")
            do_handshake(sock, conn, args.timeout, "server")
            if args.verbose:
                for line in describe_connection(conn, "client"):
                    notice(line)
                if args.status:
                    notice(f"OCSP response: {conn.nconfig.peer_ocsp_status or 'none'}")
            if (material := keying_material(conn, args)) is not None:
                notice(material)
            if resend := conn.rejected_early_data():  # the caller's choice: send it now
                conn.send_data(resend)
                if args.verbose:
                    notice(f"early data sent again after the handshake ({len(resend)} bytes)")
            request = http_request(server_name, args.port) if args.http else None
            ClientExchange(sock, conn, args.timeout, args.verbose).run(request)
        if args.sess_out:
            if conn.session is None:
                notice("no session ticket received: --sess-out not written")
            else:
                save_session(args.sess_out, conn.session)
        return EXIT_OK
    finally:
        if keylog is not None:
            keylog.close()


class ClientExchange:
    """Send a request (or stdin) and copy the answer to stdout, until the server closes."""

    def __init__(self, sock: socket.socket, conn: TLSConnection, timeout: float,
                 verbose: int, output: BinaryIO | None = None) -> None:
        self.sock = sock
        self.conn = conn
        self.timeout = timeout
        self.verbose = verbose
        self.output = output or sys.stdout.buffer
        self.stdin: socket.socket | None = None
        self.outgoing = bytearray()
        self.selector = selectors.DefaultSelector()
        self.sock_events = 0
        self.stdin_registered = False
        self.last_progress = time.monotonic()

    def run(self, request: bytes | None) -> None:
        """Until the server closes (or the transport ends); raises CLIError on failure."""
        if request is not None:
            self.conn.send_data(request)
        else:
            self.stdin = start_stdin_pump()
            if self.stdin is None:
                self.conn.close_sending_end()
        self.outgoing += self.conn.data_to_send()
        self.sock.setblocking(False)
        self.sock_events = selectors.EVENT_READ
        self.selector.register(self.sock, self.sock_events)
        try:
            self.write_output()  # what came with the handshake's last flight
            self.loop()
        except TLSError as exc:
            self.send_rest()
            raise CLIError(describe_tls_error(exc, "server"), EXIT_TLS) from exc
        except OSError as exc:
            raise CLIError(f"network error: {exc.strerror or exc}", EXIT_NETWORK) from exc
        finally:
            self.selector.close()
            if self.stdin is not None:
                self.stdin.close()
        self.finish()

    def loop(self) -> None:
        while self.conn.can_receive:
            self.update_interest()
            for key, mask in self.selector.select(self.wait_time()):
                if key.fileobj is self.stdin:
                    self.on_stdin()
                    continue
                if mask & selectors.EVENT_WRITE:
                    self.on_writable()
                if mask & selectors.EVENT_READ and not self.on_readable():
                    return

    def update_interest(self) -> None:
        """Wait for the socket to be writable only with something to send, and for
        stdin only while less than ``MAX_OUTGOING`` bytes wait."""
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.outgoing else 0)
        if events != self.sock_events:
            self.selector.modify(self.sock, events)
            self.sock_events = events
        wanted = len(self.outgoing) < MAX_OUTGOING
        if self.stdin is not None and self.stdin_registered != wanted:
            if self.stdin_registered:
                self.selector.unregister(self.stdin)
            else:
                self.selector.register(self.stdin, selectors.EVENT_READ)
            self.stdin_registered = wanted

    def wait_time(self) -> float | None:
        if self.stdin is not None and not self.outgoing:
            return None  # a person may be typing
        wait = self.last_progress + self.timeout - time.monotonic()
        if wait <= 0:
            raise CLIError(f"timed out after {self.timeout:g} s waiting for the server",
                           EXIT_NETWORK)
        return wait

    def on_stdin(self) -> None:
        assert self.stdin is not None
        chunk = self.stdin.recv(RECV_SIZE)
        if chunk and self.conn.can_send:
            self.conn.send_data(chunk)
        elif not chunk:  # stdin EOF: half-close
            self.selector.unregister(self.stdin)
            self.stdin.close()
            self.stdin = None
            self.last_progress = time.monotonic()
            if self.conn.can_send:
                self.conn.close_sending_end()
                if self.verbose:
                    notice("end of input: close_notify sent")
        self.outgoing += self.conn.data_to_send()

    def on_writable(self) -> None:
        if self.outgoing:
            with contextlib.suppress(BlockingIOError):
                del self.outgoing[:self.sock.send(self.outgoing)]
                self.last_progress = time.monotonic()

    def on_readable(self) -> bool:
        """Feed what the server sent; false at the end of the transport."""
        try:
            data = self.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return True
        self.last_progress = time.monotonic()
        if not data:
            self.on_eof()
            return False
        try:
            self.conn.receive_data(data)
        finally:
            self.outgoing += self.conn.data_to_send()
            self.write_output()
        return True

    def on_eof(self) -> None:
        try:
            self.conn.close_receiving_end()
        except RaggedEOF:
            self.write_output()
            notice("warning: the server closed the connection without "
                   "close_notify: the output may be truncated")

    def write_output(self) -> None:
        if data := self.conn.data_to_read():
            try:
                self.output.write(data)
                self.output.flush()
            except BrokenPipeError as exc:
                raise StdoutClosed from exc

    def finish(self) -> None:
        """After the server's close_notify: ours, if not sent yet, and the rest."""
        if self.conn.close_notify_received:
            if self.verbose:
                notice("the server closed the connection (close_notify)")
            if self.conn.can_send:
                self.conn.close_sending_end()
        self.outgoing += self.conn.data_to_send()
        self.send_rest()

    def send_rest(self) -> None:
        """Send what waits, blocking (an alert, a close_notify), ignoring a dead socket."""
        if self.outgoing:
            with contextlib.suppress(OSError):
                self.sock.setblocking(True)
                self.sock.settimeout(self.timeout)
                self.sock.sendall(self.outgoing)
