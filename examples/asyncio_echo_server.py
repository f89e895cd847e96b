"""An asyncio echo server over siotls: ``asyncio.start_server`` with ``config=`` for ``ssl=``.

    python examples/asyncio_echo_server.py --cert cert.pem --key key.pem [--port 8443]

It prints ``listening on HOST:PORT`` once ready, and echoes every connection
until the client closes its side (TLS 1.3 half-close: the echo of the last bytes
still reaches a client that already sent its close_notify).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import siotls.asyncio
from siotls import TLSConfiguration
from siotls.pem import decode_pem_certificate_chain, decode_pem_private_key


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    peer = writer.get_extra_info("peername")
    conn = writer.get_extra_info("siotls")
    print(f"{peer}: {conn.nconfig.cipher_suite.name}, {conn.nconfig.key_exchange.name}",
          flush=True)
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, siotls.TLSError) as exc:
        print(f"{peer}: {exc}", flush=True)
    finally:
        writer.close()  # sends close_notify


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--cert", required=True, help="PEM certificate chain, leaf first")
    parser.add_argument("--key", required=True, help="PEM private key")
    args = parser.parse_args()
    config = TLSConfiguration(
        "server",
        certificate_chain=decode_pem_certificate_chain(Path(args.cert).read_bytes()),
        private_key=decode_pem_private_key(Path(args.key).read_bytes()))
    server = await siotls.asyncio.start_server(echo, args.host, args.port, config=config)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
