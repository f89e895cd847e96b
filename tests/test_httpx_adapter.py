"""siotls.httpx (httpx over siotls) and siotls.anyio.connect, on asyncio and trio.

Servers, on 127.0.0.1 only: a threaded ``http.server`` on Python's ssl
(HTTP/1.1), hypercorn on Python's ssl in a thread (HTTP/2), ``openssl s_server``.
Every test runs under ``anyio.fail_after``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.server
import inspect
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpcore
import httpx
import pytest
from anyio.abc import SocketAttribute

import siotls.adapters._httpcore
import siotls.anyio
import siotls.httpx
from certs import make_ca, write_pem_files
from openssl_peer import requires_openssl, s_server
from siotls import TLSConfiguration
from siotls.adapters._httpcore import (
    ALPNContext,
    SiotlsBackend,
    SiotlsStream,
    connection_pool,
    tls_error_of,
)
from siotls.adapters._info import SSLObjectInfo
from siotls.core.connection import TLSConnection
from siotls.errors import BadCertificate, BadRecordMac, UnknownCA

pytestmark = pytest.mark.anyio

TIMEOUT = 10
MiB = 2**20

CA = make_ca()
LEAF = CA.issue(("localhost", "127.0.0.1"))
CLIENT = TLSConfiguration("client", truststore=CA.truststore())
SERVER = TLSConfiguration("server", private_key=LEAF.key_der, certificate_chain=LEAF.chain_der)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return write_pem_files(tmp_path_factory.mktemp("pem"), LEAF, CA)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_GET(self) -> None:
        self.reply(f"hello {self.path} over {self.connection.version()}\n".encode())  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.reply(f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode())

    def reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class HTTPSServer(http.server.ThreadingHTTPServer):
    """The handshake runs in the handler thread (on the first read), not in accept."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.context = context

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        sock.settimeout(TIMEOUT)
        return self.context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a refused handshake, a client gone


@pytest.fixture(scope="module")
def https_port(pem: tuple[Path, Path, Path]) -> Iterator[int]:
    cert, key, _ = pem
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])
    server = HTTPSServer(context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


async def h2_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = f"{scope['http_version']} {scope['path']}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def h2_port(pem: tuple[Path, Path, Path]) -> Iterator[int]:
    """hypercorn (Python's ssl, ALPN h2 and http/1.1) in a thread with its own loop."""
    pytest.importorskip("h2")
    hypercorn_asyncio = pytest.importorskip("hypercorn.asyncio")
    from hypercorn.config import Config

    cert, key, _ = pem
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and closes) the socket
    config.certfile, config.keyfile = str(cert), str(key)
    config.accesslog = config.errorlog = None
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, daemon=True, args=(
        hypercorn_asyncio.serve(h2_app, config, shutdown_trigger=stop.wait),))  # type: ignore[arg-type]
    thread.start()
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(TIMEOUT)
        loop.close()


def client(config: TLSConfiguration = CLIENT, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=siotls.httpx.AsyncHTTPTransport(config, **kwargs),
                             timeout=TIMEOUT)


# -- httpx over siotls --------------------------------------------------------------------
@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2-offered"])
async def test_get_http11(https_port: int, http2: bool) -> None:
    with anyio.fail_after(TIMEOUT):
        async with client(http2=http2) as http:
            for path in ("/a", "/b"):  # the second one reuses the connection
                response = await http.get(f"https://localhost:{https_port}{path}")
                assert response.status_code == 200
                assert response.text == f"hello {path} over TLSv1.3\n"
                assert response.http_version == "HTTP/1.1"
            stream = response.extensions["network_stream"]  # still open: ask now
            assert stream.get_extra_info("server_addr") == ("127.0.0.1", https_port)
            assert stream.get_extra_info("client_addr")[0] == "127.0.0.1"
            assert stream.get_extra_info("socket").fileno() >= 0
            assert stream.get_extra_info("is_readable") is False
    ssl_object = response.extensions["network_stream"].get_extra_info("ssl_object")
    assert isinstance(ssl_object, SSLObjectInfo)  # the TLS is siotls's, not Python's
    assert isinstance(ssl_object.connection, TLSConnection)
    assert ssl_object.selected_alpn_protocol() == "http/1.1"
    assert ssl_object.connection.nconfig.alpn == b"http/1.1"
    assert ssl_object.connection.config.alpn == ((b"http/1.1", b"h2") if http2 else (b"http/1.1",))
    assert ssl_object.version() == "TLSv1.3"
    assert ssl_object.getpeercert()["subjectAltName"] == (("DNS", "localhost"),
                                                          ("IP Address", "127.0.0.1"))


async def test_post_one_mib(https_port: int) -> None:
    body = bytes(range(256)) * (MiB // 256)
    with anyio.fail_after(TIMEOUT):
        async with client() as http:
            response = await http.post(f"https://127.0.0.1:{https_port}/", content=body)
    assert response.text == f"{MiB} {hashlib.sha256(body).hexdigest()}"


async def test_http2(h2_port: int) -> None:
    with anyio.fail_after(TIMEOUT):
        async with client(http2=True) as http:
            responses = [await http.get(f"https://localhost:{h2_port}/{i}") for i in range(2)]
    assert [r.text for r in responses] == ["2 /0", "2 /1"]
    assert {r.http_version for r in responses} == {"HTTP/2"}
    ssl_object = responses[0].extensions["network_stream"].get_extra_info("ssl_object")
    assert isinstance(ssl_object, SSLObjectInfo)
    assert ssl_object.selected_alpn_protocol() == "h2"


async def test_http2_server_without_http2_client(h2_port: int) -> None:
    with anyio.fail_after(TIMEOUT):
        async with client() as http:
            response = await http.get(f"https://localhost:{h2_port}/x")
    assert (response.http_version, response.text) == ("HTTP/1.1", "1.1 /x")


async def test_unknown_ca_is_connect_error_from_the_tls_error(https_port: int) -> None:
    other = TLSConfiguration("client", truststore=make_ca("ecdsa-p256", "another CA").truststore())
    with anyio.fail_after(TIMEOUT):
        async with client(other) as http:
            with pytest.raises(httpx.ConnectError) as info:
                await http.get(f"https://localhost:{https_port}/")
    assert isinstance(info.value.__cause__, UnknownCA)  # the siotls error itself
    assert str(info.value).startswith("unknown_ca: ")
    # httpx's own error, chained to httpcore's, is still there
    assert isinstance(info.value.__context__, httpx.ConnectError)
    assert isinstance(info.value.__context__.__cause__, httpcore.ConnectError)


async def test_httpcore_pool_error_carries_the_tls_error(https_port: int) -> None:
    other = TLSConfiguration("client", truststore=make_ca("ecdsa-p256", "another CA").truststore())
    with anyio.fail_after(TIMEOUT):
        async with connection_pool(other) as pool:
            with pytest.raises(httpcore.ConnectError) as info:
                await pool.request("GET", f"https://localhost:{https_port}/")
    # the pool re-raises "from None": the TLS error stays on __context__
    assert isinstance(tls_error_of(info.value), UnknownCA)


async def test_tls_error_after_the_handshake_is_read_error() -> None:
    """A server that handshakes, then sends a record that does not decrypt."""
    async def bad_record(stream: siotls.anyio.TLSStream) -> None:
        await stream.receive()  # the request
        await stream.transport_stream.send(b"\x17\x03\x03\x00\x20" + bytes(32))
        with contextlib.suppress(anyio.BrokenResourceError, anyio.EndOfStream):
            await stream.receive()  # the client's alert, then EOF
        await stream.aclose()

    with anyio.fail_after(TIMEOUT):
        listener = await siotls.anyio.create_tls_listener(SERVER, local_host="127.0.0.1")
        port = listener.extra(SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, bad_record)
            async with client() as http:
                with pytest.raises(httpx.ReadError) as info:
                    await http.get(f"https://localhost:{port}/")
            tg.cancel_scope.cancel()
    assert isinstance(info.value.__cause__, BadRecordMac)
    assert str(info.value).startswith("bad_record_mac: ")


def test_httpcore_is_used_through_its_public_api_only() -> None:
    source = inspect.getsource(siotls.adapters._httpcore) + inspect.getsource(siotls.httpx)
    assert "httpcore._" not in source
    assert issubclass(SiotlsStream, httpcore.AsyncNetworkStream)


async def test_wrong_hostname_is_connect_error(https_port: int) -> None:
    with anyio.fail_after(TIMEOUT):
        async with client() as http:
            with pytest.raises(httpx.ConnectError) as info:
                await http.get(f"https://localhost:{https_port}/",  # SNI and name to check:
                               extensions={"sni_hostname": "elsewhere.test"})
    assert isinstance(info.value.__cause__, BadCertificate)
    assert "elsewhere.test" in str(info.value)


async def test_handshake_timeout_is_connect_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts TCP, never answers
        port = silent.getsockname()[1]
        with anyio.fail_after(TIMEOUT):
            async with httpx.AsyncClient(transport=siotls.httpx.AsyncHTTPTransport(CLIENT),
                                         timeout=0.3) as http:
                with pytest.raises(httpx.ConnectTimeout):
                    await http.get(f"https://localhost:{port}/")


async def test_plain_http_does_not_use_tls(https_port: int) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain")

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        with anyio.fail_after(TIMEOUT):
            async with client() as http:
                response = await http.get(f"http://127.0.0.1:{port}/")
        thread.join(TIMEOUT)
    assert response.text == "plain"
    assert response.extensions["network_stream"].get_extra_info("ssl_object") is None


def test_backend_config() -> None:
    backend = SiotlsBackend(CLIENT)
    plain = ssl.create_default_context()
    assert backend.config_for(plain).alpn == (b"http/1.1",)  # no getter on ssl.SSLContext
    with_alpn = CLIENT.copy(alpn=[b"h2"])
    assert SiotlsBackend(with_alpn).config_for(plain) is with_alpn
    with pytest.raises(ValueError, match="client"):
        SiotlsBackend(TLSConfiguration("server", private_key=LEAF.key_der,
                                       certificate_chain=LEAF.chain_der))


# -- siotls.anyio.connect against openssl s_server ----------------------------------------------
@requires_openssl
async def test_anyio_connect_openssl_s_server(pem: tuple[Path, Path, Path]) -> None:
    cert, key, _ = pem
    with s_server(cert, key, "-rev", "-naccept", "1") as (_, port), anyio.fail_after(TIMEOUT):
        stream = await siotls.anyio.connect("127.0.0.1", port, config=CLIENT,
                                            server_hostname="localhost")
        async with stream:
            assert stream.connection.nconfig.peer_verified
            await stream.send(b"hello openssl\n")
            answer = b""
            while not answer.endswith(b"\n"):
                answer += await stream.receive()
            assert answer == b"lssnepo olleh\n"


async def test_start_tls_twice_is_tls_in_tls() -> None:
    """What httpcore does for HTTPS through an HTTPS proxy: start_tls on a TLS stream."""
    async def inner_echo(outer: siotls.anyio.TLSStream) -> None:
        async with await siotls.anyio.TLSStream.wrap(outer, config=SERVER) as inner:
            await inner.send(b"inner: " + await inner.receive())

    with anyio.fail_after(TIMEOUT):
        listener = await siotls.anyio.create_tls_listener(SERVER, local_host="127.0.0.1")
        port = listener.extra(SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, inner_echo)
            backend = SiotlsBackend(CLIENT)
            tcp = await backend.connect_tcp("127.0.0.1", port)
            outer = await tcp.start_tls(ALPNContext(), "localhost", TIMEOUT)
            inner = await outer.start_tls(ALPNContext(), "localhost", TIMEOUT)
            await inner.write(b"hello")
            assert await inner.read(100) == b"inner: hello"
            inner_tls = inner.get_extra_info("ssl_object").connection
            outer_tls = outer.get_extra_info("ssl_object").connection
            assert inner_tls is not outer_tls and inner_tls.is_post_handshake()
            await inner.aclose()
            tg.cancel_scope.cancel()
