"""An anyio echo server over siotls: ``siotls.anyio.create_tls_listener``.

    python examples/anyio_echo_server.py --cert cert.pem --key key.pem [--backend trio]

It prints ``listening on HOST:PORT`` once ready, and echoes every connection
until the client closes its side (TLS 1.3 half-close: the echo of the last bytes
still reaches a client that already sent its close_notify). The same code runs
on asyncio and trio.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import anyio
from anyio.abc import SocketAttribute

import siotls.anyio
from siotls import TLSConfiguration
from siotls.pem import decode_pem_certificate_chain, decode_pem_private_key


async def echo(stream: siotls.anyio.TLSStream) -> None:
    # the listener ran the handshake (a failed one is logged, not given to us)
    peer = stream.extra(SocketAttribute.remote_address)
    conn = stream.extra(siotls.anyio.SiotlsAttribute.connection)
    print(f"{peer}: {conn.nconfig.cipher_suite.name}, {conn.nconfig.key_exchange.name}",
          flush=True)
    async with stream:  # aclose sends close_notify
        try:
            async for data in stream:  # ends at the client's close_notify
                await stream.send(data)
        except anyio.BrokenResourceError as exc:  # a TLS error is the __cause__
            print(f"{peer}: {exc.__cause__ or exc}", flush=True)


async def main(args: argparse.Namespace) -> None:
    config = TLSConfiguration(
        "server",
        certificate_chain=decode_pem_certificate_chain(Path(args.cert).read_bytes()),
        private_key=decode_pem_private_key(Path(args.key).read_bytes()))
    listener = await siotls.anyio.create_tls_listener(
        config, local_host=args.host, local_port=args.port, handshake_timeout=10)
    host, port = listener.extra(SocketAttribute.local_address)[:2]
    print(f"listening on {host}:{port}", flush=True)
    async with listener:
        await listener.serve(echo)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--cert", required=True, help="PEM certificate chain, leaf first")
    parser.add_argument("--key", required=True, help="PEM private key")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args()
    anyio.run(main, args, backend=args.backend)
