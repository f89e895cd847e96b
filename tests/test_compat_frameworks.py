"""siotls.compat in real web frameworks: aiohttp (server and client) and hypercorn.

``siotls.compat.SSLContext`` goes where these libraries take an ``ssl.SSLContext``:
``aiohttp.web.TCPSite(ssl_context=)``, ``aiohttp.ClientSession.get(ssl=)`` and a
``hypercorn.config.Config`` subclass whose ``create_ssl_context()`` returns it. The
peers use Python's ``ssl`` (OpenSSL). Loopback (127.0.0.1) only; every wait is
bounded. (httpx against uvicorn is in ``test_compat.py``.)
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from certs import make_ca, ssl_client_context, ssl_server_context, write_pem_files
from siotls import TLSConfiguration
from siotls.compat import SSLContext, SSLObject

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 10

CA = make_ca()
LEAF = CA.issue()  # localhost, 127.0.0.1, ::1
OTHER_CA = make_ca(name="siotls compat frameworks other CA")


def compat_server(**changes: Any) -> SSLContext:
    return SSLContext.from_config(TLSConfiguration(
        "server", private_key=LEAF.key_der, certificate_chain=LEAF.chain_der, **changes))


def compat_client(**changes: Any) -> SSLContext:
    changes.setdefault("truststore", CA.truststore())
    return SSLContext.from_config(TLSConfiguration("client", **changes))


class PEM:
    def __init__(self, directory: Path) -> None:
        self.cert, self.key, self.ca = write_pem_files(directory, LEAF, CA)

    def server(self) -> ssl.SSLContext:
        return ssl_server_context(self.cert, self.key)

    def client(self) -> ssl.SSLContext:
        return ssl_client_context(self.ca)


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> PEM:
    return PEM(tmp_path_factory.mktemp("compat-frameworks"))


def run_asyncio(coroutine: Coroutine[Any, Any, None]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(coroutine, TIMEOUT)

    asyncio.run(bounded())


# -- aiohttp -------------------------------------------------------------------------------------
async def start_aiohttp(ssl_context: ssl.SSLContext,
                        seen: list[dict[str, Any]] | None = None,
                        gate: asyncio.Event | None = None) -> tuple[Any, int]:
    """An aiohttp server on 127.0.0.1 (``GET /<name>`` says hello, ``POST /echo`` echoes,
    ``GET /stream/gated`` sends half its body and the rest once ``gate`` is set); each
    request's TLS details are appended to ``seen``."""
    web = pytest.importorskip("aiohttp.web")

    async def record(request: Any) -> None:
        if seen is not None:
            ssl_object = request.transport.get_extra_info("ssl_object")
            seen.append({
                "secure": request.secure,
                "scheme": request.scheme,
                "ssl_object": ssl_object,
                "alpn": ssl_object.selected_alpn_protocol(),
                "version": ssl_object.version(),
                "sslcontext": request.transport.get_extra_info("sslcontext"),
            })

    async def hello(request: Any) -> Any:
        await record(request)
        return web.Response(text=f"hello {request.match_info['name']} over {request.scheme}")

    async def echo(request: Any) -> Any:
        await record(request)
        return web.Response(body=await request.read())

    async def gated(request: Any) -> Any:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"first half, ")
        assert gate is not None
        await asyncio.wait_for(gate.wait(), TIMEOUT)
        await response.write(b"second half")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/stream/gated", gated)
    app.router.add_get("/{name}", hello)
    app.router.add_post("/echo", echo)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    return runner, port


def test_aiohttp_compat_server_httpx_client(pem: PEM) -> None:
    pytest.importorskip("aiohttp")
    httpx = pytest.importorskip("httpx")

    async def main() -> None:
        context = compat_server(alpn=(b"http/1.1",))
        seen: list[dict[str, Any]] = []
        runner, port = await start_aiohttp(context, seen)
        try:
            async with httpx.AsyncClient(verify=pem.client()) as client:
                response = await client.get(f"https://localhost:{port}/httpx")
                client_ssl = response.extensions["network_stream"].get_extra_info("ssl_object")
                assert response.status_code == 200
                assert response.text == "hello httpx over https"
                assert response.http_version == "HTTP/1.1"
                assert client_ssl.selected_alpn_protocol() == "http/1.1"
                assert client_ssl.version() == "TLSv1.3"
        finally:
            await runner.cleanup()
        [info] = seen
        assert info["secure"] is True
        assert info["scheme"] == "https"
        assert isinstance(info["ssl_object"], SSLObject)
        assert info["sslcontext"] is context
        assert info["alpn"] == "http/1.1"
        assert info["version"] == "TLSv1.3"

    run_asyncio(main())


def test_aiohttp_compat_server_aiohttp_client(pem: PEM) -> None:
    aiohttp = pytest.importorskip("aiohttp")

    async def main() -> None:
        seen: list[dict[str, Any]] = []
        runner, port = await start_aiohttp(compat_server(), seen)
        body = bytes(range(256)) * 1024  # 256 KiB: many records, both ways
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"https://localhost:{port}/aiohttp",
                                       ssl=pem.client()) as response:
                    assert response.status == 200
                    assert await response.text() == "hello aiohttp over https"
                async with session.post(f"https://127.0.0.1:{port}/echo", data=body,
                                        ssl=pem.client()) as response:
                    assert response.status == 200
                    assert await response.read() == body
        finally:
            await runner.cleanup()
        assert [info["scheme"] for info in seen] == ["https", "https"]
        assert all(isinstance(info["ssl_object"], SSLObject) for info in seen)
        assert seen[0]["alpn"] is None  # aiohttp's client offers no ALPN

    run_asyncio(main())


def test_aiohttp_compat_client_stdlib_server(pem: PEM) -> None:
    aiohttp = pytest.importorskip("aiohttp")

    async def main() -> None:
        gate = asyncio.Event()
        runner, port = await start_aiohttp(pem.server(), gate=gate)
        context = compat_client()
        body = b"siotls " * 40_000
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"https://localhost:{port}/compat",
                                       ssl=context) as response:
                    assert await response.text() == "hello compat over https"
                async with session.get(f"https://localhost:{port}/stream/gated",
                                       ssl=context) as response:
                    assert response.connection is not None  # still reading the body
                    ssl_object = response.connection.transport.get_extra_info("ssl_object")
                    gate.set()
                    assert await response.read() == b"first half, second half"
                assert isinstance(ssl_object, SSLObject)
                assert ssl_object.version() == "TLSv1.3"
                assert ssl_object.getpeercert(binary_form=True) == LEAF.cert_der
                async with session.post(f"https://127.0.0.1:{port}/echo", data=body,
                                        ssl=context) as response:
                    assert await response.read() == body
        finally:
            await runner.cleanup()

    run_asyncio(main())


def test_aiohttp_compat_client_certificate_errors(pem: PEM) -> None:
    aiohttp = pytest.importorskip("aiohttp")

    async def fetch(port: int, context: ssl.SSLContext, **kwargs: Any) -> Any:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientConnectorCertificateError) as info:
                await session.get(f"https://127.0.0.1:{port}/", ssl=context, **kwargs)
        error = info.value.certificate_error
        assert type(error) is ssl.SSLCertVerificationError
        assert isinstance(info.value, ssl.CertificateError)  # aiohttp's mixin base
        assert info.value.host == "127.0.0.1"
        assert info.value.port == port
        return error

    async def main() -> None:
        runner, port = await start_aiohttp(pem.server())
        try:
            error = await fetch(port, compat_client(), server_hostname="wrong.example")
            assert error.verify_code == 62  # X509_V_ERR_HOSTNAME_MISMATCH
            assert "Hostname mismatch" in error.verify_message
            assert error.__cause__ is not None  # the siotls exception

            error = await fetch(port, compat_client(truststore=OTHER_CA.truststore()))
            assert error.verify_code == 20  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
            assert error.__cause__ is not None

            # the server survived both failed handshakes
            async with aiohttp.ClientSession() as session, session.get(
                    f"https://127.0.0.1:{port}/again", ssl=compat_client()) as response:
                assert await response.text() == "hello again over https"
        finally:
            await runner.cleanup()

    run_asyncio(main())


# -- hypercorn -----------------------------------------------------------------------------------
async def asgi_app(scope: dict[str, Any], receive: Callable[[], Any],
                   send: Callable[[dict[str, Any]], Any]) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert scope["type"] == "http"
    request = b""
    while True:
        message = await receive()
        request += message.get("body", b"")
        if not message.get("more_body"):
            break
    body = f"{scope['scheme']} {scope['http_version']} {scope['path']}".encode() + request
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def hypercorn_config(context: SSLContext, sock: socket.socket) -> Any:
    """A hypercorn Config serving ``sock`` with the compat ``context``."""
    config_module = pytest.importorskip("hypercorn.config")

    class CompatConfig(config_module.Config):
        @property
        def ssl_enabled(self) -> bool:  # no certfile/keyfile: the context has them
            return True

        def create_ssl_context(self) -> ssl.SSLContext:
            context.set_alpn_protocols(self.alpn_protocols)  # ["h2", "http/1.1"]
            return context

        def create_sockets(self) -> Any:
            return config_module.Sockets([sock], [], [])

    config = CompatConfig()
    config.graceful_timeout = 1
    config.ssl_handshake_timeout = TIMEOUT
    config.accesslog = None
    config.errorlog = None
    return config


@pytest.mark.parametrize("http2", [False, True], ids=["http1.1", "h2"])
def test_hypercorn_compat_server_httpx_client(pem: PEM, http2: bool) -> None:
    httpx = pytest.importorskip("httpx")
    hypercorn_asyncio = pytest.importorskip("hypercorn.asyncio")
    if http2:
        pytest.importorskip("h2")

    async def main() -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()  # connections queue up until hypercorn's start_server
        port = sock.getsockname()[1]
        context = compat_server()
        shutdown = asyncio.Event()
        server = asyncio.ensure_future(hypercorn_asyncio.serve(
            asgi_app, hypercorn_config(context, sock), shutdown_trigger=shutdown.wait))
        try:
            async with httpx.AsyncClient(verify=pem.client(), http2=http2,
                                         timeout=TIMEOUT) as client:
                response = await client.get(f"https://localhost:{port}/hello")
                version = "2" if http2 else "1.1"
                assert response.status_code == 200
                assert response.text == f"https {version} /hello"
                assert response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
                client_ssl = response.extensions["network_stream"].get_extra_info("ssl_object")
                assert client_ssl.selected_alpn_protocol() == ("h2" if http2 else "http/1.1")

                payload = b"x" * 100_000
                response = await client.post(f"https://127.0.0.1:{port}/echo", content=payload)
                assert response.content == f"https {version} /echo".encode() + payload
        finally:
            shutdown.set()
            await asyncio.wait_for(server, TIMEOUT)
        assert context.config.alpn == (b"h2", b"http/1.1")

    run_asyncio(main())
