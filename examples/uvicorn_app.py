"""uvicorn serving an ASGI app over siotls.

    python examples/uvicorn_app.py --cert cert.pem --key key.pem [--port 8443]

uvicorn takes an ``ssl_context_factory``; :class:`siotls.compat.SSLContext` is an
``ssl.SSLContext`` whose connections run on siotls, so uvicorn needs no change.
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path
from typing import Any

import uvicorn

from siotls import TLSConfiguration
from siotls.compat import SSLContext
from siotls.pem import decode_pem_certificate_chain, decode_pem_private_key


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = f"hello over {scope['scheme']} from uvicorn on siotls\n".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    config = TLSConfiguration(
        "server", alpn=[b"http/1.1"],
        certificate_chain=decode_pem_certificate_chain(Path(args.cert).read_bytes()),
        private_key=decode_pem_private_key(Path(args.key).read_bytes()))
    context = SSLContext.from_config(config)
    sock = socket.create_server((args.host, args.port))
    # Accepted sockets inherit TCP_NODELAY from the listening socket (Linux, BSDs).
    # asyncio sets it only on sockets it made (proto=IPPROTO_TCP), not on these
    # (proto=0): without it, each response (headers and body, two TLS records)
    # waits ~40 ms for the client's delayed ACK (Nagle).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print(f"listening on {args.host}:{sock.getsockname()[1]}", flush=True)
    server = uvicorn.Server(uvicorn.Config(
        app, lifespan="off", log_level="warning",
        ssl_context_factory=lambda _config, _default: context))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
