"""The ``siotls`` command line: a TLS 1.3 client and server on blocking sockets.

::

    siotls client --host example.com --port 443 --http -v
    echo hello | siotls client --host localhost --port 8443 --cafile ca.pem
    siotls server --port 8443 --tlscert chain.pem --tlskey key.pem

The client sends its standard input (or, with ``--http``, a ``GET /``) and writes what
comes back to its standard output. At the end of the input it sends close_notify and
keeps reading until the server closes too (half-close). The server answers ``GET /``
with a small page and echoes anything else, one thread per connection.

Diagnostics go to the standard error, one line each, prefixed with ``siotls:``.
Exit codes: 0 success, 2 bad arguments, files or configuration, 3 network errors
(name resolution, refused connection, timeout, reset), 4 TLS errors (a failed
handshake, an alert), 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import selectors
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import siotls
from siotls.core.config import (
    SUPPORTED_CIPHER_SUITES,
    SUPPORTED_KEY_EXCHANGES,
    InsecureWarning,
    TLSConfiguration,
)
from siotls.core.connection import TLSConnection
from siotls.core.errors import RaggedEOF, TLSError, TLSFatalAlert, TLSPeerAlert
from siotls.iana import AlertDescription, CipherSuites, NamedGroup
from siotls.pem import decode_pem_certificate_chain, decode_pem_private_key
from siotls.trust import TrustStore, get_truststore

__all__ = ["EXIT_NETWORK", "EXIT_OK", "EXIT_TLS", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_NETWORK = 3
EXIT_TLS = 4
EXIT_INTERRUPTED = 130

RECV_SIZE = 65536
#: The client stops reading its stdin while this many bytes wait for the socket.
MAX_OUTGOING = 1 << 18
#: The largest HTTP request head the server buffers before answering anyway.
MAX_REQUEST_HEAD = 1 << 16
#: Connections the server serves at once; the next ones wait in the listen backlog.
MAX_CLIENTS = 128
#: Seconds the server waits for the client's close_notify after sending its own.
LINGER = 2.0
HTTP_PREFIX = b"GET / "

_output_lock = threading.Lock()


class CLIError(Exception):
    """A failure reported as one line on stderr, with an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class HandshakeFailed(Exception):
    """The handshake failed; the message says why, in one line."""

    def __init__(self, message: str, code: int = EXIT_TLS) -> None:
        super().__init__(message)
        self.code = code


class StdoutClosed(Exception):
    """Our stdout was closed by its reader (``siotls client ... | head``)."""


def notice(message: str) -> None:
    """Print ``siotls: message`` on stderr (thread-safe)."""
    with _output_lock:
        print(f"siotls: {message}", file=sys.stderr, flush=True)


# -- argument parsing --------------------------------------------------------------
def _items(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"an empty item in {text!r}")
    if len({item.lower() for item in items}) != len(items):
        raise argparse.ArgumentTypeError(f"an item is listed twice in {text!r}")
    return items


_GROUP_ALIASES = {
    "p-256": NamedGroup.secp256r1, "prime256v1": NamedGroup.secp256r1,
    "p-384": NamedGroup.secp384r1, "p-521": NamedGroup.secp521r1,
}


def parse_groups(text: str) -> list[NamedGroup]:
    """``x25519,secp256r1`` -> named groups (also ``P-256``, ``prime256v1``...)."""
    known = {NamedGroup(group).name.lower(): NamedGroup(group)
             for group in SUPPORTED_KEY_EXCHANGES} | _GROUP_ALIASES
    groups = []
    for item in _items(text):
        group = known.get(item.lower())
        if group is None:
            names = ", ".join(NamedGroup(group).name for group in SUPPORTED_KEY_EXCHANGES)
            raise argparse.ArgumentTypeError(f"unsupported group {item!r} (choose from {names})")
        groups.append(group)
    return groups


def parse_ciphers(text: str) -> list[CipherSuites]:
    """``TLS_AES_128_GCM_SHA256,...`` -> cipher suites (the ``TLS_`` prefix is optional)."""
    known = {CipherSuites(suite).name.upper(): CipherSuites(suite)
             for suite in SUPPORTED_CIPHER_SUITES}
    suites = []
    for item in _items(text):
        name = item.upper()
        suite = known.get(name) or known.get(f"TLS_{name}")
        if suite is None:
            names = ", ".join(CipherSuites(suite).name for suite in SUPPORTED_CIPHER_SUITES)
            raise argparse.ArgumentTypeError(
                f"unsupported cipher suite {item!r} (choose from {names})")
        suites.append(suite)
    return suites


def parse_alpn(text: str) -> list[bytes]:
    """``h2,http/1.1`` -> ``[b'h2', b'http/1.1']``."""
    protocols = [item.encode() for item in _items(text)]
    if any(len(protocol) > 255 for protocol in protocols):
        raise argparse.ArgumentTypeError("an ALPN protocol is longer than 255 bytes")
    return protocols


def parse_port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}")
    return port


def parse_timeout(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1
    if not 0 < seconds < 1e6:
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return seconds


def parse_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return count


def _add_common_options(parser: argparse.ArgumentParser, timeout: float) -> None:
    parser.add_argument("--alpn", type=parse_alpn, metavar="P,...",
                        help="ALPN protocols in order of preference, e.g. h2,http/1.1")
    parser.add_argument("--groups", type=parse_groups, metavar="G,...",
                        help="key exchange groups in order of preference "
                             "(x25519, secp256r1, secp384r1, secp521r1, x448)")
    parser.add_argument("--ciphers", type=parse_ciphers, metavar="S,...",
                        help="cipher suites in order of preference (TLS_AES_128_GCM_SHA256, "
                             "TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256)")
    parser.add_argument("--keylogfile", metavar="FILE",
                        help="append the secrets to FILE in the NSS key-log format "
                             "(for Wireshark); '-' writes them to stderr")
    parser.add_argument("--timeout", type=parse_timeout, default=timeout, metavar="SECONDS",
                        help=f"network timeout (default {timeout:g})")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="report the negotiated parameters; twice: debug logs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="siotls", description="A TLS 1.3 client and server built on siotls.",
        epilog="Exit codes: 0 ok, 2 usage or file error, 3 network error, 4 TLS error.")
    parser.add_argument("--version", action="version", version=f"siotls {siotls.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{client,server}", required=True)

    client = commands.add_parser(
        "client", help="connect to a TLS server and exchange stdin/stdout with it",
        description="Connect to a TLS 1.3 server, send stdin (or an HTTP GET /) and write "
                    "what comes back to stdout.")
    client.add_argument("--host", required=True, help="the server's host name or address")
    client.add_argument("--port", required=True, type=parse_port)
    client.add_argument("--servername", metavar="NAME",
                        help="the name to send (SNI) and to verify (default: --host)")
    trust = client.add_mutually_exclusive_group()
    trust.add_argument("--cafile", metavar="FILE",
                       help="PEM file of the CAs to trust (default: the system's)")
    trust.add_argument("--insecure", action="store_true",
                       help="do not verify the server's certificate")
    client.add_argument("--cert", "--tlscert", dest="cert", metavar="FILE",
                        help="PEM certificate chain to authenticate with (with --key)")
    client.add_argument("--key", "--tlskey", dest="key", metavar="FILE",
                        help="PEM private key of --cert")
    client.add_argument("--http", action="store_true",
                        help="send 'GET / HTTP/1.1' instead of stdin")
    _add_common_options(client, timeout=10)

    server = commands.add_parser(
        "server", help="serve TLS: a page for GET /, an echo for anything else",
        description="A TLS 1.3 server: answers 'GET / ' with a small page and echoes "
                    "anything else, one thread per connection.")
    server.add_argument("--host", default="::",
                        help="the address to listen on (default '::': IPv6 and IPv4)")
    server.add_argument("--port", type=parse_port, default=8443,
                        help="the port to listen on (default 8443, 0: any free port)")
    server.add_argument("--tlscert", "--cert", dest="tlscert", required=True, metavar="FILE",
                        help="PEM certificate chain, leaf first")
    server.add_argument("--tlskey", "--key", dest="tlskey", required=True, metavar="FILE",
                        help="PEM private key of --tlscert")
    server.add_argument("--cafile", metavar="FILE",
                        help="require a client certificate issued by one of these PEM CAs")
    server.add_argument("--insecure", action="store_true",
                        help="accepted for compatibility; a server verifies client "
                             "certificates only with --cafile")
    server.add_argument("--max-connections", type=parse_count, help=argparse.SUPPRESS)
    _add_common_options(server, timeout=30)
    return parser


# -- files ---------------------------------------------------------------------------
def read_file(path: str, option: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CLIError(f"cannot read the {option} file {path!r}: {exc.strerror or exc}",
                       EXIT_USAGE) from exc


def load_credentials(cert_path: str, key_path: str, cert_option: str, key_option: str
                     ) -> tuple[list[bytes], bytes]:
    """(DER chain, DER PKCS#8 key) from PEM files."""
    cert_data = read_file(cert_path, cert_option)
    key_data = read_file(key_path, key_option)
    try:
        chain = decode_pem_certificate_chain(cert_data)
    except ValueError as exc:
        raise CLIError(f"bad PEM in the {cert_option} file {cert_path!r}: {exc}",
                       EXIT_USAGE) from exc
    try:
        key = decode_pem_private_key(key_data)
    except ValueError as exc:
        raise CLIError(f"bad PEM in the {key_option} file {key_path!r}: {exc}",
                       EXIT_USAGE) from exc
    return chain, key


def load_truststore(cafile: str) -> TrustStore:
    data = read_file(cafile, "--cafile")
    try:
        return TrustStore.from_pem(data)
    except ValueError as exc:
        raise CLIError(f"bad PEM in the --cafile file {cafile!r}: {exc}", EXIT_USAGE) from exc


def system_truststore() -> TrustStore:
    try:
        return get_truststore()
    except RuntimeError as exc:
        raise CLIError(f"{exc}; or give --cafile", EXIT_USAGE) from exc


class KeyLogWriter:
    """The ``keylog`` hook: appends key-log lines to a file, or writes them to stderr."""

    def __init__(self, target: str) -> None:
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        if target != "-":
            try:
                self._file = open(target, "a", encoding="ascii")  # noqa: SIM115
            except OSError as exc:
                raise CLIError(f"cannot open the --keylogfile file {target!r}: "
                               f"{exc.strerror or exc}", EXIT_USAGE) from exc

    def __call__(self, line: str) -> None:
        if self._file is None:
            with _output_lock:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
            return
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def make_configuration(factory: Callable[[], TLSConfiguration]) -> TLSConfiguration:
    """Call ``factory``; its warnings become one-line notices, its errors a CLIError."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InsecureWarning)
        try:
            config = factory()
        except ValueError as exc:
            raise CLIError(f"invalid configuration: {exc}", EXIT_USAGE) from exc
    for warning in caught:
        if issubclass(warning.category, InsecureWarning):
            notice("warning: --insecure: the server's certificate is not verified")
        else:
            notice(f"warning: {warning.message}")
    return config


# -- shared network helpers -------------------------------------------------------------
def format_address(host: str, port: int) -> str:
    host = host.removeprefix("::ffff:") if host.startswith("::ffff:") and "." in host else host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def alert_name(description: int) -> str:
    try:
        return AlertDescription(description).name.lower()
    except ValueError:
        return f"unknown alert {description}"


def describe_tls_error(exc: TLSError, peer: str) -> str:
    """One line about a TLS error; ``peer`` is 'server' or 'client'."""
    if isinstance(exc, TLSPeerAlert):
        return f"the {peer} sent a fatal alert: {alert_name(exc.description)}"
    if isinstance(exc, RaggedEOF):
        return f"the {peer} closed the connection without close_notify"
    if isinstance(exc, TLSFatalAlert):  # "<alert we sent>: <why>"
        return f"TLS error: {exc}"
    return str(exc) or type(exc).__name__


def send_pending(sock: socket.socket, conn: TLSConnection) -> None:
    if data := conn.data_to_send():
        sock.sendall(data)


def flush_quietly(sock: socket.socket, conn: TLSConnection) -> None:
    """Send what is queued (an alert, maybe) and ignore a dead socket."""
    with contextlib.suppress(OSError):
        send_pending(sock, conn)


def do_handshake(sock: socket.socket, conn: TLSConnection, timeout: float, peer: str) -> None:
    """Run the handshake on a blocking socket within ``timeout`` seconds.

    :raises HandshakeFailed: with a one-line reason; the alert, if any, was sent.
    """
    deadline = time.monotonic() + timeout
    try:
        conn.initiate_connection()
        send_pending(sock, conn)
        while not conn.is_post_handshake():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            data = sock.recv(RECV_SIZE)
            try:
                if data:
                    conn.receive_data(data)
                else:
                    conn.close_receiving_end()
            finally:
                flush_quietly(sock, conn)
    except RaggedEOF as exc:
        raise HandshakeFailed(f"the {peer} closed the connection during the handshake"
                              ) from exc
    except TLSFatalAlert as exc:  # "<alert we sent>: <why>"
        raise HandshakeFailed(str(exc)) from exc
    except TLSError as exc:
        raise HandshakeFailed(describe_tls_error(exc, peer)) from exc
    except TimeoutError as exc:
        raise HandshakeFailed(f"timed out after {timeout:g} s waiting for the {peer}",
                              EXIT_NETWORK) from exc
    except OSError as exc:
        raise HandshakeFailed(f"network error: {exc.strerror or exc}", EXIT_NETWORK) from exc


def describe_certificate(der: bytes, who: str, verified: bool) -> list[str]:
    from cryptography import x509  # noqa: PLC0415

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        return [f"{who} certificate: unparsable ({exc})"]
    expires = cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S UTC")
    return [
        f"{who} certificate subject: {cert.subject.rfc4514_string() or '(empty)'}",
        f"{who} certificate issuer: {cert.issuer.rfc4514_string() or '(empty)'}",
        f"{who} certificate expires: {expires}",
        f"{who} certificate verified: {'yes' if verified else 'no'}",
    ]


def describe_connection(conn: TLSConnection, side: str) -> list[str]:
    """What the handshake negotiated, one item a line."""
    nconfig = conn.nconfig
    peer = "server" if side == "client" else "client"

    def name(value: object) -> str:
        return getattr(value, "name", None) or "(none)"

    lines = [
        "version: TLSv1.3",
        f"cipher suite: {name(nconfig.cipher_suite)}",
        f"key exchange group: {name(nconfig.key_exchange)}",
        f"HelloRetryRequest: {'yes' if nconfig.hello_retry_request else 'no'}",
        f"{peer} signature scheme: {name(nconfig.peer_signature_algorithm)}",
    ]
    if nconfig.signature_algorithm is not None:
        lines.append(f"{side} signature scheme: {name(nconfig.signature_algorithm)}")
    alpn = nconfig.alpn.decode(errors="replace") if nconfig.alpn else "(none)"
    lines.append(f"ALPN: {alpn}")
    if side == "server":
        lines.append(f"server name (SNI): {nconfig.server_name or '(none)'}")
    if nconfig.peer_certificate_chain:
        lines += describe_certificate(
            nconfig.peer_certificate_chain[0], peer, nconfig.peer_verified)
    else:
        lines.append(f"{peer} certificate: (none)")
    return lines


# -- the client ---------------------------------------------------------------------------
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
    """A socket that yields stdin's bytes (then EOF), or ``None`` without a stdin.

    A thread copies stdin into a socket pair, so that the main loop can wait on
    stdin with ``selectors`` whatever it is: a pipe, a tty, /dev/null, a file.
    """
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
    truststore: TrustStore | None = None
    if args.cafile:
        truststore = load_truststore(args.cafile)
    elif not args.insecure:
        truststore = system_truststore()
    chain: list[bytes] = []
    key: bytes | None = None
    if args.cert:
        chain, key = load_credentials(args.cert, args.key, "--cert", "--key")
    keylog = KeyLogWriter(args.keylogfile) if args.keylogfile else None
    try:
        alpn = args.alpn or ([b"http/1.1"] if args.http else None)
        config = make_configuration(lambda: TLSConfiguration(
            "client",
            cipher_suites=args.ciphers or SUPPORTED_CIPHER_SUITES,
            key_exchanges=args.groups or SUPPORTED_KEY_EXCHANGES,
            truststore=truststore,
            private_key=key,
            certificate_chain=chain,
            alpn=alpn,
            log_keys=keylog is not None or bool(os.environ.get("SSLKEYLOGFILE")),
            keylog=keylog,
        ))
        host = args.host.removeprefix("[").removesuffix("]")
        server_name = args.servername or host
        conn = TLSConnection(config, server_hostname=server_name)
        if args.verbose:
            notice(f"connecting to {format_address(host, args.port)}")
        with connect(host, args.port, args.timeout) as sock:
            if args.verbose:
                peer_host, peer_port = sock.getpeername()[:2]
                notice(f"connected to {format_address(peer_host, peer_port)}")
            try:
                do_handshake(sock, conn, args.timeout, "server")
            except HandshakeFailed as exc:
                raise CLIError(f"handshake failed: {exc}", exc.code) from exc
            if args.verbose:
                for line in describe_connection(conn, "client"):
                    notice(line)
            request = http_request(server_name, args.port) if args.http else None
            return client_exchange(sock, conn, args.timeout, request, args.verbose)
    finally:
        if keylog is not None:
            keylog.close()


def client_exchange(sock: socket.socket, conn: TLSConnection, timeout: float,
                    request: bytes | None, verbose: int) -> int:
    """Send ``request`` (or stdin) and copy the answer to stdout, until the server closes.

    Non-blocking: the socket, stdin and our output are multiplexed with
    ``selectors``, so a peer that echoes a large input cannot dead-lock us. The wait
    is unbounded only while stdin is open and nothing waits to be sent (a person
    typing); otherwise ``timeout`` seconds without progress end the connection.
    """
    output = sys.stdout.buffer
    stdin: socket.socket | None = None
    if request is not None:
        conn.send_data(request)
    else:
        stdin = start_stdin_pump()
        if stdin is None:
            conn.close_sending_end()
    outgoing = bytearray(conn.data_to_send())
    sock.setblocking(False)
    selector = selectors.DefaultSelector()
    sock_events = selectors.EVENT_READ
    selector.register(sock, sock_events)
    stdin_registered = False
    last_progress = time.monotonic()

    def write_output() -> None:
        if data := conn.data_to_read():
            try:
                output.write(data)
                output.flush()
            except BrokenPipeError as exc:
                raise StdoutClosed from exc

    try:
        write_output()  # what came with the handshake's last flight
        while conn.can_receive:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if outgoing else 0)
            if events != sock_events:
                selector.modify(sock, events)
                sock_events = events
            if stdin is not None and stdin_registered != (len(outgoing) < MAX_OUTGOING):
                if stdin_registered:
                    selector.unregister(stdin)
                else:
                    selector.register(stdin, selectors.EVENT_READ)
                stdin_registered = not stdin_registered
            wait = None
            if stdin is None or outgoing:
                wait = last_progress + timeout - time.monotonic()
                if wait <= 0:
                    raise CLIError(f"timed out after {timeout:g} s waiting for the server",
                                   EXIT_NETWORK)
            for key, mask in selector.select(wait):
                if key.fileobj is stdin and stdin is not None:
                    chunk = stdin.recv(RECV_SIZE)
                    if chunk and conn.can_send:
                        conn.send_data(chunk)
                    elif not chunk:  # stdin EOF: half-close
                        selector.unregister(stdin)
                        stdin.close()
                        stdin = None
                        last_progress = time.monotonic()
                        if conn.can_send:
                            conn.close_sending_end()
                            if verbose:
                                notice("end of input: close_notify sent")
                    outgoing += conn.data_to_send()
                    continue
                if mask & selectors.EVENT_WRITE and outgoing:
                    with contextlib.suppress(BlockingIOError):
                        del outgoing[:sock.send(outgoing)]
                        last_progress = time.monotonic()
                if not mask & selectors.EVENT_READ:
                    continue
                try:
                    data = sock.recv(RECV_SIZE)
                except BlockingIOError:
                    continue
                last_progress = time.monotonic()
                if not data:
                    try:
                        conn.close_receiving_end()
                    except RaggedEOF:
                        write_output()
                        notice("warning: the server closed the connection without "
                               "close_notify: the output may be truncated")
                    break
                try:
                    conn.receive_data(data)
                finally:
                    outgoing += conn.data_to_send()
                    write_output()
    except TLSError as exc:
        with contextlib.suppress(OSError):
            sock.setblocking(True)
            sock.settimeout(timeout)
            sock.sendall(outgoing)
        raise CLIError(describe_tls_error(exc, "server"), EXIT_TLS) from exc
    except OSError as exc:
        raise CLIError(f"network error: {exc.strerror or exc}", EXIT_NETWORK) from exc
    finally:
        selector.close()
        if stdin is not None:
            stdin.close()
    if conn.close_notify_received:
        if verbose:
            notice("the server closed the connection (close_notify)")
        if conn.can_send:
            conn.close_sending_end()
    outgoing += conn.data_to_send()
    if outgoing:
        with contextlib.suppress(OSError):
            sock.setblocking(True)
            sock.settimeout(timeout)
            sock.sendall(outgoing)
    return EXIT_OK


# -- the server ---------------------------------------------------------------------------
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
    chain, key = load_credentials(args.tlscert, args.tlskey, "--tlscert", "--tlskey")
    truststore = load_truststore(args.cafile) if args.cafile else None
    keylog = KeyLogWriter(args.keylogfile) if args.keylogfile else None
    try:
        config = make_configuration(lambda: TLSConfiguration(
            "server",
            cipher_suites=args.ciphers or SUPPORTED_CIPHER_SUITES,
            key_exchanges=args.groups or SUPPORTED_KEY_EXCHANGES,
            truststore=truststore,
            require_peer_authentication=truststore is not None,
            private_key=key,
            certificate_chain=chain,
            alpn=args.alpn,
            log_keys=keylog is not None or bool(os.environ.get("SSLKEYLOGFILE")),
            keylog=keylog,
        ))
        listener, description = open_listener(args.host, args.port)
        with listener:
            notice(f"listening on {description}")
            Server(listener, config, args.timeout, args.verbose, args.max_connections).serve()
    finally:
        if keylog is not None:
            keylog.close()
    return EXIT_OK


class Server:
    """Accepts connections, serves each one in a thread."""

    def __init__(self, listener: socket.socket, config: TLSConfiguration, timeout: float,
                 verbose: int, max_connections: int | None) -> None:
        self.listener = listener
        self.config = config
        self.timeout = timeout
        self.verbose = verbose
        self.max_connections = max_connections
        self.slots = threading.BoundedSemaphore(MAX_CLIENTS)
        self.threads: list[threading.Thread] = []

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
        except HandshakeFailed as exc:
            notice(f"{peer}: handshake failed: {exc}")
            if exc.code == EXIT_TLS:
                self._linger(sock, None)  # so that our alert is read, not reset
            return
        if self.verbose:
            notice(f"{peer}: connected")
            for line in describe_connection(conn, "server"):
                notice(f"{peer}: {line}")
        try:
            self._exchange(sock, conn, peer)
        except TLSError as exc:
            notice(f"{peer}: {describe_tls_error(exc, 'client')}")
        except TimeoutError:
            notice(f"{peer}: timed out after {self.timeout:g} s, closing")
        except OSError as exc:
            notice(f"{peer}: network error: {exc.strerror or exc}")

    def _exchange(self, sock: socket.socket, conn: TLSConnection, peer: str) -> None:
        """Answer ``GET / `` with a page, echo anything else, until the client closes."""
        sock.settimeout(self.timeout)
        pending = bytearray()  # the start of the stream, until we know what it is
        mode: str | None = None
        while True:
            # First what came with the handshake's last flight, then a recv() a turn.
            incoming = conn.data_to_read()
            if mode is None:
                pending += incoming
                incoming = b""
                if pending.startswith(HTTP_PREFIX):
                    mode = "http"
                elif not HTTP_PREFIX.startswith(pending) or not conn.can_receive:
                    mode = "echo"
                    incoming, pending = bytes(pending), bytearray()
            if mode == "http":
                pending += incoming
                if (b"\r\n\r\n" in pending or b"\n\n" in pending
                        or not conn.can_receive or len(pending) > MAX_REQUEST_HEAD):
                    self._send_page(sock, conn, peer)
                    return
            elif incoming and conn.can_send:
                conn.send_data(incoming)
                send_pending(sock, conn)
            if not conn.can_receive:
                break
            data = sock.recv(RECV_SIZE)
            if not data:
                try:
                    conn.close_receiving_end()
                except RaggedEOF:
                    if self.verbose:
                        notice(f"{peer}: the client closed the connection without close_notify")
                continue
            try:
                conn.receive_data(data)
            finally:
                flush_quietly(sock, conn)
        if conn.can_send:
            conn.close_sending_end()
        flush_quietly(sock, conn)
        if self.verbose:
            notice(f"{peer}: closed")

    def _send_page(self, sock: socket.socket, conn: TLSConnection, peer: str) -> None:
        nconfig = conn.nconfig
        alpn = nconfig.alpn.decode(errors="replace") if nconfig.alpn else "none"
        body = (f"Hello from siotls {siotls.__version__}!\n"
                f"TLSv1.3, {getattr(nconfig.cipher_suite, 'name', '?')}, "
                f"{getattr(nconfig.key_exchange, 'name', '?')}, ALPN {alpn}\n").encode()
        head = ("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n"
                f"Server: siotls/{siotls.__version__}\r\n\r\n").encode()
        conn.send_data(head + body)
        conn.close_sending_end()
        send_pending(sock, conn)
        if self.verbose:
            notice(f"{peer}: GET / -> 200")
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


# -- entry point -------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit code."""
    args = build_parser().parse_args(argv)
    if args.verbose >= 2:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                            format="siotls: %(name)s: %(message)s")
    try:
        if args.command == "client":
            return run_client(args)
        return run_server(args)
    except CLIError as exc:
        notice(str(exc))
        return exc.code
    except KeyboardInterrupt:
        notice("interrupted")
        return EXIT_INTERRUPTED
    except (StdoutClosed, BrokenPipeError):
        # stdout was closed early (``| head``): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
