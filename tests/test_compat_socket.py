"""siotls.compat.SSLContext.wrap_socket: the blocking SSLSocket, against real peers.

Peers: Python's ``ssl`` (OpenSSL) in both roles, ``openssl s_server``, ``gnutls-cli``
(KeyUpdates), and the synchronous clients that
take a context: ``http.client``, ``urllib.request``, requests/urllib3, httpx's
``Client``, ``smtplib`` STARTTLS (aiosmtpd server) and ``imaplib`` STARTTLS (a small
server below); ``http.server`` serves with a siotls listening socket. Everything
runs on 127.0.0.1 with bounded waits (socket timeouts, joined threads).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import http.client
import http.server
import imaplib
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from certs import make_ca, ssl_client_context, ssl_server_context, utcnow, write_pem_files
from gnutls_peer import GNUTLS_CLI, free_port, gnutls_cli
from openssl_peer import accept, connect, requires_openssl, s_server
from siotls import TLSConfiguration
from siotls.compat import SSLContext, SSLSocket
from siotls.compat.errors import translate
from siotls.core.errors import (
    BadCertificate,
    CertificateExpired,
    TLSFatalAlert,
    UnknownCA,
    UnsupportedCertificate,
)

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 10
HOST = "127.0.0.1"
CA = make_ca(name="siotls compat socket CA")
LEAF = CA.issue()  # localhost, 127.0.0.1, ::1
OTHER_LEAF = make_ca(name="siotls compat socket other CA").issue()
EXPIRED_LEAF = CA.issue(not_before=utcnow() - datetime.timedelta(days=2),
                        not_after=utcnow() - datetime.timedelta(days=1))


def siotls_client(**changes: Any) -> SSLContext:
    changes.setdefault("truststore", CA.truststore())
    return SSLContext.from_config(TLSConfiguration("client", **changes))


def siotls_server(**changes: Any) -> SSLContext:
    return SSLContext.from_config(TLSConfiguration(
        "server", private_key=LEAF.key_der, certificate_chain=LEAF.chain_der, **changes))


class PEM:
    def __init__(self, directory: Path) -> None:
        self.cert, self.key, self.ca = write_pem_files(directory, LEAF)
        self.directory = directory

    def server(self, leaf: Any = LEAF) -> ssl.SSLContext:
        if leaf is LEAF:
            return ssl_server_context(self.cert, self.key)
        cert, key, _ = write_pem_files(self.directory, leaf)
        return ssl_server_context(cert, key)

    def client(self) -> ssl.SSLContext:
        return ssl_client_context(self.ca)


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> PEM:
    return PEM(tmp_path_factory.mktemp("compat-socket"))


class Peer:
    """``serve(listener)`` in a thread on a loopback listener; :meth:`join` re-raises."""

    def __init__(self, serve: Callable[[socket.socket], Any]) -> None:
        self.listener = socket.create_server((HOST, 0))
        self.listener.settimeout(TIMEOUT)
        self.port: int = self.listener.getsockname()[1]
        self.result: Any = None
        self.error: BaseException | None = None
        self._serve = serve
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.result = self._serve(self.listener)
        except BaseException as exc:
            self.error = exc
        finally:
            self.listener.close()

    def join(self) -> Any:
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive(), "the peer thread did not finish"
        if self.error is not None:
            raise self.error
        return self.result

    def connect(self) -> socket.socket:
        return socket.create_connection((HOST, self.port), timeout=TIMEOUT)


def read_until(sock: socket.socket, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


# -- interop with Python's ssl ----------------------------------------------------------------
def test_client_against_python_ssl_server(pem: PEM) -> None:
    """Handshake, queries, makefile, sendall, unwrap and plaintext after it."""
    server_ctx = pem.server()
    server_ctx.set_alpn_protocols(["h2", "http/1.1"])

    def serve(listener: socket.socket) -> tuple[str, bytes]:
        with server_ctx.wrap_socket(accept(listener), server_side=True) as tls:
            line = read_until(tls, b"\n")
            version = tls.version() or ""
            tls.sendall(line.upper())
            plain = tls.unwrap()
            data = read_until(plain, b"!")
            plain.sendall(data.upper())
            plain.close()
            return version, line

    peer = Peer(serve)
    ctx = siotls_client()
    ctx.set_alpn_protocols(["http/1.1"])
    with ctx.wrap_socket(peer.connect(), server_hostname="localhost") as tls:
        assert isinstance(tls, SSLSocket)
        assert isinstance(tls, ssl.SSLSocket)
        assert tls.version() == "TLSv1.3"
        assert tls.selected_alpn_protocol() == "http/1.1"
        assert (tls.cipher() or ("", "", 0))[1] == "TLSv1.3"
        assert tls.shared_ciphers() is None  # a client, as ssl says
        assert tls.getpeercert(binary_form=True) == LEAF.cert_der
        assert ("DNS", "localhost") in (tls.getpeercert() or {})["subjectAltName"]
        assert tls.get_unverified_chain() == LEAF.chain_der
        assert tls.connection is not None and tls.connection.is_connected()
        assert tls.pending() == 0
        tls.sendall(b"hello over siotls\n")
        with tls.makefile("rb") as reader:
            assert reader.readline() == b"HELLO OVER SIOTLS\n"
        plain = tls.unwrap()
        assert plain is tls and tls.connection is None
        plain.sendall(b"plaintext!")
        assert read_until(plain, b"!") == b"PLAINTEXT!"
    assert peer.join() == ("TLSv1.3", b"hello over siotls\n")


def test_unwrap_keeps_the_plaintext_behind_close_notify(pem: PEM) -> None:
    """Plaintext right behind the peer's close_notify, read with it: recv() serves it."""
    server_ctx = pem.server()

    def serve(listener: socket.socket) -> bytes:
        tls = server_ctx.wrap_socket(accept(listener), server_side=True)
        read_until(tls, b"\n")
        tls.setblocking(False)
        with pytest.raises(ssl.SSLWantReadError):
            tls.unwrap()  # sends close_notify; the client's is not there yet
        socket.socket.sendall(tls, b"PLAINTEXT")
        tls.settimeout(TIMEOUT)
        with tls.unwrap() as plain:  # the client's close_notify
            return read_until(plain, b"bye")

    peer = Peer(serve)
    with siotls_client().wrap_socket(peer.connect(), server_hostname="localhost") as tls:
        tls.sendall(b"close now\n")
        deadline = time.monotonic() + TIMEOUT
        while not socket.socket.recv(tls, 4096, socket.MSG_PEEK).endswith(b"PLAINTEXT"):
            assert time.monotonic() < deadline  # both are in the socket: one read takes them
            time.sleep(0.01)
        plain = tls.unwrap()
        assert plain.recv(5) == b"PLAIN"
        with plain.makefile("rb") as reader:
            assert reader.read(4) == b"TEXT"
        plain.sendall(b"bye")
    assert peer.join() == b"bye"


def test_server_against_python_ssl_client(pem: PEM) -> None:
    """A listening SSLSocket (server_side=True): the handshake runs in accept()."""
    ctx = siotls_server(alpn=[b"h2", b"http/1.1"])
    listener = socket.create_server((HOST, 0))
    listener.settimeout(TIMEOUT)
    port = listener.getsockname()[1]
    client_ctx = pem.client()
    client_ctx.set_alpn_protocols(["http/1.1"])
    offered = {c["name"] for c in client_ctx.get_ciphers() if c["protocol"] == "TLSv1.3"}
    shared = [suite.name for suite in ctx.config.cipher_suites if suite.name in offered]

    def client() -> bytes:
        with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock, \
                client_ctx.wrap_socket(sock, server_hostname="localhost") as tls:
            tls.sendall(b"ping\n")
            return read_until(tls, b"\n")

    with ctx.wrap_socket(listener, server_side=True) as server:
        thread = threading.Thread(target=lambda: results.append(client()), daemon=True)
        results: list[bytes] = []
        thread.start()
        conn, _ = server.accept()
        with conn:
            assert isinstance(conn, SSLSocket)
            assert conn.server_side
            assert conn.version() == "TLSv1.3"
            assert conn.selected_alpn_protocol() == "http/1.1"
            assert conn.getpeercert() is None  # no client certificate asked
            # ours that the client offered, in our order, as Python's ssl lists them
            assert [c[0] for c in conn.shared_ciphers() or ()] == shared
            conn.sendall(read_until(conn, b"\n").replace(b"ping", b"pong"))
            thread.join(TIMEOUT)
    assert results == [b"pong\n"]


def test_wrap_then_connect(pem: PEM) -> None:
    """An unconnected socket wrapped first: connect() runs the handshake (ssl's path)."""
    server_ctx = pem.server()

    def serve(listener: socket.socket) -> bytes:
        with server_ctx.wrap_socket(accept(listener), server_side=True) as tls:
            data = read_until(tls, b"\n")
            tls.sendall(data)
            return data

    peer = Peer(serve)
    sock = socket.socket()
    sock.settimeout(TIMEOUT)
    with siotls_client().wrap_socket(sock, server_hostname="localhost") as tls:
        tls.connect((HOST, peer.port))
        assert tls.version() == "TLSv1.3"
        tls.sendall(b"connected\n")
        assert read_until(tls, b"\n") == b"connected\n"
    assert peer.join() == b"connected\n"


def test_one_thread_reads_while_another_writes(pem: PEM) -> None:
    """A blocked recv() in one thread does not stop sendall() in another."""
    server_ctx = pem.server()
    size = 2 * 2**20

    def serve(listener: socket.socket) -> int:
        with server_ctx.wrap_socket(accept(listener), server_side=True) as tls:
            total = 0
            while total < size:
                total += len(tls.recv(2**16))
            tls.sendall(b"got it")  # only once everything came
            return total

    peer = Peer(serve)
    with siotls_client().wrap_socket(peer.connect(), server_hostname="localhost") as tls:
        replies: list[bytes] = []
        reader = threading.Thread(target=lambda: replies.append(tls.recv(100)), daemon=True)
        reader.start()  # blocks in recv() until the server answers
        time.sleep(0.05)
        tls.sendall(b"w" * size)
        reader.join(TIMEOUT)
        assert replies == [b"got it"]
    assert peer.join() == size


def test_nonblocking_both_sides() -> None:
    """SSLWantReadError / SSLWantWriteError, and a write retried with the same data."""
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    client = siotls_client().wrap_socket(a, server_hostname="localhost",
                                         do_handshake_on_connect=False)
    server = siotls_server().wrap_socket(b, server_side=True, do_handshake_on_connect=False)
    with client, server:
        with pytest.raises(ssl.SSLWantReadError):
            client.do_handshake()
        for _ in range(10):
            done = 0
            for side in (server, client):
                try:
                    side.do_handshake()
                    done += 1
                except ssl.SSLWantReadError:
                    pass
            if done == 2:
                break
        assert client.version() == server.version() == "TLSv1.3"
        with pytest.raises(ssl.SSLWantReadError):
            client.recv(10)
        chunk = b"x" * 2**16
        accepted = 0
        with pytest.raises(ssl.SSLWantWriteError):
            for _ in range(1000):  # until the socket buffers are full
                accepted += server.send(chunk)
        received = bytearray()

        def drain() -> None:
            with contextlib.suppress(ssl.SSLWantReadError):
                while True:
                    received.extend(client.recv(2**17))

        drain()
        accepted += server.send(chunk)  # the retry: finishes the records of the refused write
        drain()
        assert len(received) == accepted
        assert received == b"x" * accepted


def test_timeouts(pem: PEM) -> None:
    """A positive timeout bounds the handshake and each read, as ssl's do."""
    release = threading.Event()

    def silent(listener: socket.socket) -> None:
        with accept(listener):  # speaks no TLS
            release.wait(TIMEOUT)

    peer = Peer(silent)
    sock = peer.connect()
    sock.settimeout(0.2)
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="handshake operation timed out"):
        siotls_client().wrap_socket(sock, server_hostname="localhost")
    assert time.monotonic() - start < 2
    release.set()
    peer.join()

    server_ctx = pem.server()

    def quiet(listener: socket.socket) -> None:
        with server_ctx.wrap_socket(accept(listener), server_side=True) as tls:
            tls.recv(1)  # until the client closes

    peer = Peer(quiet)
    with siotls_client().wrap_socket(peer.connect(), server_hostname="localhost") as tls:
        tls.settimeout(0.2)
        start = time.monotonic()
        with pytest.raises(TimeoutError, match="read operation timed out"):
            tls.recv(10)
        assert time.monotonic() - start < 2
    with contextlib.suppress(ssl.SSLError, OSError):
        peer.join()


@pytest.mark.parametrize(("leaf", "hostname"), [
    (OTHER_LEAF, "localhost"),  # 20 unable to get local issuer certificate
    (LEAF, "example.com"),  # 62 hostname mismatch
    (LEAF, "192.0.2.1"),  # 64 IP address mismatch
    (EXPIRED_LEAF, "localhost"),  # 10 certificate has expired
], ids=["unknown-issuer", "hostname", "ip-address", "expired"])
def test_verification_error_as_python_ssl_reports_it(pem: PEM, leaf: Any, hostname: str) -> None:
    """The same SSLCertVerificationError (verify_code, verify_message) as Python's ssl,
    and the same alert sent to the server."""
    server_ctx = pem.server(leaf)

    def serve(listener: socket.socket) -> list[str | None]:
        alerts = []  # what the server read: the clients' alerts
        for _ in range(2):
            try:
                with server_ctx.wrap_socket(accept(listener), server_side=True) as tls:
                    tls.recv(1)
            except ssl.SSLError as exc:
                alerts.append(exc.reason)
        return alerts

    peer = Peer(serve)
    errors = []
    for ctx in (pem.client(), siotls_client()):
        with peer.connect() as sock, pytest.raises(ssl.SSLCertVerificationError) as info:
            ctx.wrap_socket(sock, server_hostname=hostname)
        errors.append(info.value)
    python_alert, our_alert = peer.join()
    assert python_alert == our_alert  # the same alert reached the server, e.g.
    assert "_ALERT_" in (our_alert or "")  # TLSV1_ALERT_UNKNOWN_CA
    python, ours = errors
    assert (ours.verify_code, ours.verify_message) == (python.verify_code, python.verify_message)
    assert ours.reason == python.reason == "CERTIFICATE_VERIFY_FAILED"
    assert isinstance(ours, ssl.CertificateError)


@pytest.mark.parametrize("suppress", [True, False])
def test_ragged_eof(pem: PEM, suppress: bool) -> None:
    """The peer closes TCP without close_notify: b'' or SSLEOFError, as ssl does."""
    server_ctx = pem.server()

    def serve(listener: socket.socket) -> None:
        tls = server_ctx.wrap_socket(accept(listener), server_side=True)
        tls.sendall(b"data")
        tls.close()  # Python's ssl sends no close_notify on close()

    peer = Peer(serve)
    with siotls_client().wrap_socket(peer.connect(), server_hostname="localhost",
                                     suppress_ragged_eofs=suppress) as tls:
        assert read_until(tls, b"data") == b"data"
        if suppress:
            assert tls.recv(10) == b""
        else:
            with pytest.raises(ssl.SSLEOFError):
                tls.recv(10)
    peer.join()


def test_sendfile_falls_back_to_send(pem: PEM, tmp_path: Path) -> None:
    path = tmp_path / "payload"
    payload = bytes(range(256)) * 1000
    path.write_bytes(payload)
    server_ctx = pem.server()

    def serve(listener: socket.socket) -> str:
        with server_ctx.wrap_socket(accept(listener), server_side=True) as tls:
            digest = hashlib.sha256()
            while chunk := tls.recv(2**16):
                digest.update(chunk)
            tls.unwrap()  # our close_notify for the client's
            return digest.hexdigest()

    peer = Peer(serve)
    with siotls_client().wrap_socket(peer.connect(), server_hostname="localhost") as tls, \
            path.open("rb") as file:
        assert tls.sendfile(file) == len(payload)
        tls.unwrap()
    assert peer.join() == hashlib.sha256(payload).hexdigest()


# -- other TLS stacks: openssl s_server, gnutls-cli ---------------------------------------------
@requires_openssl
def test_client_against_openssl_s_server(pem: PEM) -> None:
    with s_server(pem.cert, pem.key, "-rev") as (_process, port), \
            siotls_client().wrap_socket(connect(port), server_hostname="localhost") as tls:
        tls.sendall(b"siotls\n")
        assert read_until(tls, b"\n").strip() == b"sltois"


@pytest.mark.skipif(GNUTLS_CLI is None, reason="needs gnutls-cli (Debian: gnutls-bin)")
def test_server_answers_gnutls_key_updates(pem: PEM) -> None:
    """gnutls-cli's ``^rekey^`` (update_requested): the SSLSocket server answers in recv()."""
    with socket.create_server((HOST, 0)) as listener:
        listener.settimeout(TIMEOUT)
        port = listener.getsockname()[1]
        with gnutls_cli(port, "--x509cafile", pem.ca, "--sni-hostname", "localhost",
                        "--verify-hostname", "localhost", "--inline-commands") as proc, \
                siotls_server().wrap_socket(accept(listener), server_side=True) as tls:
            for i in range(3):
                proc.write(b"line %d\n" % i)
                assert read_until(tls, b"\n") == b"line %d\n" % i
                tls.sendall(b"echo %d\n" % i)
                proc.wait_for(b"echo %d" % i)
                start = len(proc.output)
                proc.write(b"^rekey^\n")
                proc.wait_for(rb"- Rekey was completed", start=start)
            proc.close_stdin()  # gnutls-cli sends close_notify
            assert tls.recv(10) == b""


# -- HTTP clients against Python's ssl ----------------------------------------------------------
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.reply(f"GET {self.path}".encode())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.reply(f"POST {hashlib.sha256(body).hexdigest()}".encode())

    def reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def https_server(context: ssl.SSLContext) -> Iterator[int]:
    """http.server as its documentation shows it: the listening socket wrapped."""
    server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


@pytest.fixture(scope="module")
def python_https(pem: PEM) -> Iterator[int]:
    with https_server(pem.server()) as port:
        yield port


def test_http_client(python_https: int) -> None:
    connection = http.client.HTTPSConnection("localhost", python_https, timeout=TIMEOUT,
                                             context=siotls_client())
    try:
        for path in ("/one", "/two"):  # one kept-alive connection
            connection.request("GET", path)
            assert connection.getresponse().read() == f"GET {path}".encode()
        assert isinstance(connection.sock, SSLSocket)
    finally:
        connection.close()


def test_urllib_urlopen(python_https: int) -> None:
    with urllib.request.urlopen(f"https://localhost:{python_https}/urllib",
                                context=siotls_client(), timeout=TIMEOUT) as response:
        assert response.read() == b"GET /urllib"


def test_requests_with_an_adapter(python_https: int) -> None:
    requests = pytest.importorskip("requests")

    class SiotlsAdapter(requests.adapters.HTTPAdapter):  # type: ignore[misc]
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["ssl_context"] = siotls_client()
            super().init_poolmanager(*args, **kwargs)

    body = b"b" * 100_000
    with requests.Session() as session:
        session.mount("https://", SiotlsAdapter())
        response = session.post(f"https://localhost:{python_https}/", data=body,
                                timeout=TIMEOUT)
        assert response.text == f"POST {hashlib.sha256(body).hexdigest()}"
        assert session.get(f"https://localhost:{python_https}/again",
                           timeout=TIMEOUT).text == "GET /again"


def test_httpx_sync_client(python_https: int) -> None:
    httpx = pytest.importorskip("httpx")
    with httpx.Client(verify=siotls_client(), timeout=TIMEOUT) as client:
        assert client.get(f"https://localhost:{python_https}/httpx").text == "GET /httpx"


def test_blocking_client_example(python_https: int, pem: PEM) -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "blocking_client.py"
    out = subprocess.run(
        [sys.executable, str(example), f"https://localhost:{python_https}/example",
         "--cafile", str(pem.ca)],
        capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.startswith("200 OK over TLSv1.3, TLS_")
    assert "GET /example" in out


def test_http_server_on_siotls(pem: PEM) -> None:
    """http.server with a siotls listening socket, to Python's ssl and to siotls."""
    with https_server(siotls_server()) as port:
        with urllib.request.urlopen(f"https://localhost:{port}/py",
                                    context=pem.client(), timeout=TIMEOUT) as response:
            assert response.read() == b"GET /py"
        with urllib.request.urlopen(f"https://localhost:{port}/siotls",
                                    context=siotls_client(), timeout=TIMEOUT) as response:
            assert response.read() == b"GET /siotls"


# -- STARTTLS -------------------------------------------------------------------------------------
def test_smtplib_starttls_against_aiosmtpd(pem: PEM) -> None:
    controller_module = pytest.importorskip("aiosmtpd.controller")
    from aiosmtpd.handlers import Sink

    received: list[bytes] = []

    class Handler(Sink):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope.content)
            assert session.ssl is not None  # the message came over TLS
            return "250 OK"

    controller = controller_module.Controller(
        Handler(), hostname=HOST, port=free_port(), tls_context=pem.server(),
        require_starttls=True, ready_timeout=TIMEOUT)
    controller.start()
    try:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@localhost", "b@localhost", "hi"
        message.set_content("over siotls")
        with smtplib.SMTP(HOST, controller.port, timeout=TIMEOUT) as smtp:
            smtp.ehlo()
            assert smtp.has_extn("starttls")
            assert smtp.starttls(context=siotls_client())[0] == 220
            assert isinstance(smtp.sock, SSLSocket)
            smtp.send_message(message)
    finally:
        controller.stop()
    assert len(received) == 1 and b"over siotls" in received[0]


def test_imaplib_starttls(pem: PEM) -> None:
    """A small IMAP server: greeting, CAPABILITY, STARTTLS (Python's ssl), LOGOUT."""
    server_ctx = pem.server()

    def serve(listener: socket.socket) -> list[bytes]:
        sock: socket.socket = accept(listener)
        commands = []
        sock.sendall(b"* OK IMAP4rev1 ready\r\n")
        reader = sock.makefile("rb")
        while line := reader.readline():
            tag, command = line.split()[:2]
            commands.append(command)
            if command == b"CAPABILITY":
                tls = isinstance(sock, ssl.SSLSocket)
                extra = b"" if tls else b" STARTTLS"
                sock.sendall(b"* CAPABILITY IMAP4rev1" + extra + b"\r\n" + tag + b" OK done\r\n")
            elif command == b"STARTTLS":
                sock.sendall(tag + b" OK Begin TLS\r\n")
                reader.close()
                sock = server_ctx.wrap_socket(sock, server_side=True)
                reader = sock.makefile("rb")
            elif command == b"NOOP":
                sock.sendall(tag + b" OK NOOP over " + str(sock.version()).encode() + b"\r\n")
            elif command == b"LOGOUT":
                sock.sendall(b"* BYE\r\n" + tag + b" OK done\r\n")
                break
        reader.close()
        sock.close()
        return commands

    peer = Peer(serve)
    imap = imaplib.IMAP4(HOST, peer.port, timeout=TIMEOUT)
    assert "STARTTLS" in imap.capabilities
    imap.starttls(ssl_context=siotls_client())
    assert isinstance(imap.sock, SSLSocket)
    assert imap.noop() == ("OK", [b"NOOP over TLSv1.3"])
    imap.logout()
    assert peer.join() == [b"CAPABILITY", b"STARTTLS", b"CAPABILITY", b"NOOP", b"LOGOUT"]


# -- errors by code -------------------------------------------------------------------------------
@pytest.mark.parametrize(("error", "code"), [
    (CertificateExpired("x", reason="not_yet_valid"), 9),
    (CertificateExpired("x", reason="expired"), 10),
    (CertificateExpired("x"), 10),  # no reason: by class
    (UnknownCA("x"), 20),
    (UnknownCA("x", reason="self_signed"), 18),
    (BadCertificate("x", reason="bad_signature"), 7),
    (BadCertificate("x", reason="not_a_ca"), 24),
    (BadCertificate("x", reason="path_length"), 25),
    (UnsupportedCertificate("x", reason="bad_eku"), 26),
    (BadCertificate("x", reason="name_constraints"), 47),
    (BadCertificate("x", reason="hostname_mismatch"), 62),
    (BadCertificate("the message says nothing the mapping reads"), 1),
])
def test_verify_code_from_class_and_reason(error: TLSFatalAlert, code: int) -> None:
    translated = translate(error, "localhost")
    assert isinstance(translated, ssl.SSLCertVerificationError)
    assert translated.verify_code == code
    assert translated.reason == "CERTIFICATE_VERIFY_FAILED"

