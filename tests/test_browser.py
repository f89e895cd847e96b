"""A real browser against a siotls server: headless Chromium loads a page over TLS 1.3.

Chromium's ClientHello is nothing like ours: it offers the hybrid post-quantum group
X25519MLKEM768 with key shares for it and for x25519 (about 1.7 KB, more than one TCP
segment), GREASE values everywhere, ECH GREASE, permuted extensions, brotli certificate
compression and ALPN ``h2``. The server (``siotls.asyncio.start_server`` on 127.0.0.1,
in a thread) must pick what it supports: X25519MLKEM768, without a HelloRetryRequest,
and a brotli-compressed Certificate.

Both sides are checked: the server's negotiated configuration, and Chromium's own view
from its NetLog (``--log-net-log``), which also holds the ClientHello it sent. Skipped
without ``chromium``; the test that trusts the CA through an NSS database also needs
``certutil`` (Debian: libnss3-tools). Loopback only, every Chromium run has a timeout
and its process group is killed at the end.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import siotls.asyncio
from certs import make_ca, write_pem_files
from siotls import TLSConfiguration
from siotls.core.config import TLSNegotiatedConfiguration
from siotls.iana import CipherSuites, NamedGroup

CHROMIUM = shutil.which("chromium")
CERTUTIL = shutil.which("certutil")
CHROMIUM_TIMEOUT = 60.0
SERVER_TIMEOUT = 10.0

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (Debian: chromium)")

MARKER = "siotls-browser-marker"
#: The marker only appears once Chromium has fetched /app.js (another TLS connection)
#: and run it: the DOM dump proves the page was rendered, not merely received.
PAGE = (b"<!DOCTYPE html><html><head><title>siotls</title></head><body>"
        b"<p id='out'>not rendered</p><script src='/app.js'></script></body></html>")
SCRIPT = f"document.getElementById('out').textContent = '{MARKER}';".encode()
ROUTES = {"/": (b"text/html; charset=utf-8", PAGE),
          "/app.js": (b"text/javascript", SCRIPT)}

X25519MLKEM768 = 0x11EC
EXT_SUPPORTED_GROUPS = 10
EXT_ALPN = 16
EXT_KEY_SHARE = 51
EXT_COMPRESS_CERTIFICATE = 27
BROTLI = 2
CLIENT_HELLO = 1


# -- the server ---------------------------------------------------------------------------
@dataclass
class Exchange:
    """One request served, with what the server negotiated on its connection."""

    request_line: str
    nconfig: TLSNegotiatedConfiguration


class PageServer:
    """A siotls HTTPS server (HTTP/1.1, one request per connection) in a thread."""

    def __init__(self, config: TLSConfiguration) -> None:
        self.config = config
        self.port = 0
        self._exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="siotls-page-server",
                                        daemon=True)

    @property
    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(SERVER_TIMEOUT):
            raise RuntimeError("the siotls server did not start")
        if self._error is not None:
            raise RuntimeError("the siotls server did not start") from self._error

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(SERVER_TIMEOUT)
        assert not self._thread.is_alive(), "the siotls server thread did not stop"

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await siotls.asyncio.start_server(self._handle, "127.0.0.1", 0,
                                                   config=self.config)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), SERVER_TIMEOUT)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                      ) -> None:
        # Called once the handshake completed.
        conn = writer.get_extra_info("siotls")
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), SERVER_TIMEOUT)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                TimeoutError):
            writer.close()  # a preconnected socket Chromium did not need, or a bad client
            return
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        with self._lock:
            self._exchanges.append(Exchange(request_line, dataclasses.replace(conn.nconfig)))
        method, _, rest = request_line.partition(" ")
        path = rest.partition(" ")[0]
        if method == "GET" and path in ROUTES:
            status, (content_type, body) = b"200 OK", ROUTES[path]
        else:
            status, content_type, body = b"404 Not Found", b"text/plain", b"not found\n"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + content_type
                     + b"\r\nContent-Length: " + str(len(body)).encode()
                     + b"\r\nConnection: close\r\n\r\n" + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()


@pytest.fixture(scope="module")
def pem_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return write_pem_files(tmp_path_factory.mktemp("browser-certs"), make_ca().issue())


@contextlib.contextmanager
def serving_pages() -> Iterator[PageServer]:
    """A started :class:`PageServer` of the test CA's ``localhost`` certificate."""
    leaf = make_ca().issue()  # localhost, 127.0.0.1, ::1; ECDSA P-256 (cached)
    config = TLSConfiguration("server", certificate_chain=leaf.chain_der,
                              private_key=leaf.key_der, alpn=[b"http/1.1"], log_keys=False)
    page_server = PageServer(config)
    try:
        page_server.start()
        yield page_server
    finally:
        page_server.stop()


@pytest.fixture
def server() -> Iterator[PageServer]:
    with serving_pages() as page_server:
        yield page_server


# -- Chromium -----------------------------------------------------------------------------
@dataclass
class BrowserRun:
    dom: str
    stderr: str
    netlog: dict[str, Any]

    def events(self, name: str, phase: str | None = None) -> list[dict[str, Any]]:
        constants = self.netlog["constants"]
        event_type = constants["logEventTypes"][name]
        phase_id = None if phase is None else constants["logEventPhase"][phase]
        return [event for event in self.netlog["events"]
                if event["type"] == event_type
                and (phase_id is None or event["phase"] == phase_id)]

    def net_error(self, name: str) -> int:
        return int(self.netlog["constants"]["netError"][name])


def run_browser(command: list[str], timeout: float, *, merge_stderr: bool = False,
                **env: str) -> tuple[int, bytes, bytes]:
    """Run a headless browser until it exits (``timeout`` at most, else TimeoutExpired)
    with ``env`` added to the environment; its exit status, stdout and stderr (empty
    with ``merge_stderr``, which sends it to stdout).

    Browsers write TLS secrets to $SSLKEYLOGFILE: not to the developer's file. Their
    helpers (zygote, crashpad...) share the session of the process we started: that
    group is killed, whether the browser exited or timed out.
    """
    environ = {key: value for key, value in os.environ.items() if key != "SSLKEYLOGFILE"}
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                            env=environ | env, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.wait(5)
    return proc.returncode, stdout, stderr or b""


def run_chromium(home: Path, url: str, *args: str) -> BrowserRun:
    """``chromium --headless --dump-dom url`` with ``home`` as $HOME (its NSS database is
    ``home/.pki/nssdb``) and a fresh profile; its NetLog records the TLS details."""
    assert CHROMIUM is not None
    profile = home / "profile"
    netlog = home / "netlog.json"
    command = [
        CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-proxy-server", "--host-resolver-rules=MAP localhost 127.0.0.1",
        f"--user-data-dir={profile}", f"--log-net-log={netlog}",
        "--net-log-capture-mode=Everything", *args, "--dump-dom", url,
    ]
    returncode, stdout, stderr = run_browser(
        command, CHROMIUM_TIMEOUT, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"))
    stderr_text = stderr.decode(errors="replace")
    assert returncode == 0, f"chromium exited with {returncode}:\n{stderr_text}"
    try:
        log = json.loads(netlog.read_text())
    except (OSError, ValueError) as exc:
        raise AssertionError(f"no usable NetLog from chromium: {exc}\n{stderr_text}") from exc
    return BrowserRun(stdout.decode(errors="replace"), stderr_text, log)


@dataclass
class ClientHelloInfo:
    extensions: list[int]
    supported_groups: list[int]
    key_share_groups: list[int]
    alpn: list[bytes]
    compress_certificate: list[int]
    length: int


def _vector(data: bytes, pos: int, length_size: int) -> tuple[bytes, int]:
    length = int.from_bytes(data[pos:pos + length_size], "big")
    start = pos + length_size
    assert start + length <= len(data), "truncated ClientHello"
    return data[start:start + length], start + length


def parse_client_hello(message: bytes) -> ClientHelloInfo:
    """The few ClientHello fields checked here, from the handshake message's bytes."""
    assert message[0] == CLIENT_HELLO
    body, _ = _vector(message, 1, 3)
    pos = 2 + 32  # legacy_version, random
    _, pos = _vector(body, pos, 1)  # legacy_session_id
    _, pos = _vector(body, pos, 2)  # cipher_suites
    _, pos = _vector(body, pos, 1)  # legacy_compression_methods
    extensions, _ = _vector(body, pos, 2)
    info = ClientHelloInfo([], [], [], [], [], len(message))
    pos = 0
    while pos < len(extensions):
        ext_type = int.from_bytes(extensions[pos:pos + 2], "big")
        ext_data, pos = _vector(extensions, pos + 2, 2)
        info.extensions.append(ext_type)
        if ext_type == EXT_SUPPORTED_GROUPS:
            groups, _ = _vector(ext_data, 0, 2)
            info.supported_groups = [int.from_bytes(groups[i:i + 2], "big")
                                     for i in range(0, len(groups), 2)]
        elif ext_type == EXT_KEY_SHARE:
            shares, _ = _vector(ext_data, 0, 2)
            at = 0
            while at < len(shares):
                info.key_share_groups.append(int.from_bytes(shares[at:at + 2], "big"))
                _, at = _vector(shares, at + 2, 2)
        elif ext_type == EXT_COMPRESS_CERTIFICATE:
            algorithms, _ = _vector(ext_data, 0, 1)
            info.compress_certificate = [int.from_bytes(algorithms[i:i + 2], "big")
                                         for i in range(0, len(algorithms), 2)]
        elif ext_type == EXT_ALPN:
            names, _ = _vector(ext_data, 0, 2)
            at = 0
            while at < len(names):
                name, at = _vector(names, at, 1)
                info.alpn.append(name)
    return info


def is_grease(value: int) -> bool:
    """RFC 8701: 0x0A0A, 0x1A1A, ... 0xFAFA."""
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


def client_hellos(run: BrowserRun) -> list[ClientHelloInfo]:
    return [parse_client_hello(base64.b64decode(event["params"]["bytes"]))
            for event in run.events("SSL_HANDSHAKE_MESSAGE_SENT")
            if event["params"].get("type") == CLIENT_HELLO]


def trust_ca_in_nss(home: Path, ca_file: Path) -> None:
    """Create ``home/.pki/nssdb``, where Chromium on Linux finds locally trusted CAs."""
    assert CERTUTIL is not None
    database = home / ".pki" / "nssdb"
    database.mkdir(parents=True)
    for args in (["-N", "--empty-password"],
                 ["-A", "-n", "siotls test CA", "-t", "C,,", "-i", str(ca_file)]):
        subprocess.run([CERTUTIL, "-d", f"sql:{database}", *args], check=True,
                       capture_output=True, timeout=30, stdin=subprocess.DEVNULL)


# -- checks ------------------------------------------------------------------------------
def assert_page_loaded(run: BrowserRun, server: PageServer) -> None:
    assert MARKER in run.dom, f"the page was not rendered:\n{run.dom}\n{run.stderr}"
    requests = [exchange.request_line for exchange in server.exchanges]
    assert "GET / HTTP/1.1" in requests
    assert "GET /app.js HTTP/1.1" in requests


def assert_negotiated(run: BrowserRun, server: PageServer) -> None:
    """What the server negotiated with Chromium, and what Chromium says it negotiated."""
    exchanges = server.exchanges
    assert exchanges
    for exchange in exchanges:  # the page, the script, maybe the favicon
        nconfig = exchange.nconfig
        assert nconfig.cipher_suite == CipherSuites.TLS_AES_128_GCM_SHA256
        # X25519MLKEM768 comes first in Chromium's key shares; siotls prefers it to
        # the x25519 share: post-quantum, and no HelloRetryRequest.
        assert nconfig.key_exchange == NamedGroup.X25519MLKEM768
        assert not nconfig.hello_retry_request
        # a resumption (Chromium resumes with our tickets) sends no certificate at all
        assert nconfig.certificate_compression == (
            None if nconfig.session_resumed else "brotli")
        assert nconfig.alpn == b"http/1.1"
        assert nconfig.server_name == "localhost"
        assert nconfig.peer_certificate_chain == ()

    connects = [event["params"] for event in run.events("SSL_CONNECT", "PHASE_END")]
    assert len(connects) >= len(exchanges), connects
    for params in connects:
        assert "net_error" not in params, params
        assert params["version"] == "TLS 1.3"
        assert params["cipher_suite"] == CipherSuites.TLS_AES_128_GCM_SHA256
        assert params["key_exchange_group"] == NamedGroup.X25519MLKEM768
        assert params["next_proto"] == "http/1.1"
    # Chromium may resume later connections with the first one's tickets (psk_dhe_ke).
    assert not connects[0]["is_resumed"]

    hellos = client_hellos(run)
    # a last connection (a resumption, for the favicon) may be cut short by Chromium's exit
    assert len(connects) <= len(hellos) <= len(connects) + 1
    for hello in hellos:  # what makes a browser's ClientHello hard to swallow
        assert X25519MLKEM768 in hello.supported_groups
        assert hello.key_share_groups[-2:] == [X25519MLKEM768, NamedGroup.x25519]
        assert hello.length > 1460  # more than one TCP segment
        assert hello.compress_certificate == [BROTLI]
        assert any(map(is_grease, hello.extensions))
        assert any(map(is_grease, hello.supported_groups))
        assert hello.alpn == [b"h2", b"http/1.1"]


# -- the tests ----------------------------------------------------------------------------
def test_chromium_ignoring_certificate_errors(server: PageServer, tmp_path: Path) -> None:
    run = run_chromium(tmp_path, f"https://localhost:{server.port}/",
                       "--ignore-certificate-errors")
    assert_page_loaded(run, server)
    assert_negotiated(run, server)


@pytest.mark.skipif(CERTUTIL is None, reason="needs certutil (Debian: libnss3-tools)")
def test_chromium_trusting_the_test_ca(server: PageServer, pem_files: tuple[Path, Path, Path],
                                       tmp_path: Path) -> None:
    """No --ignore-certificate-errors: Chromium verifies the chain up to the test CA."""
    trust_ca_in_nss(tmp_path, pem_files[2])
    run = run_chromium(tmp_path, f"https://localhost:{server.port}/")
    assert_page_loaded(run, server)
    assert_negotiated(run, server)


def test_chromium_refuses_an_unknown_ca(server: PageServer, tmp_path: Path) -> None:
    """The control for the test above: without the CA, no page and no request."""
    run = run_chromium(tmp_path, f"https://localhost:{server.port}/")
    assert MARKER not in run.dom
    errors = [event["params"].get("net_error")
              for event in run.events("SSL_CONNECT", "PHASE_END")]
    assert errors
    assert set(errors) == {run.net_error("ERR_CERT_AUTHORITY_INVALID")}, errors
    assert server.exchanges == []
