"""A trio echo server over siotls: ``siotls.trio.serve_tls_over_tcp``.

    python examples/trio_echo_server.py --cert cert.pem --key key.pem [--port 8443]

It prints ``listening on HOST:PORT`` once ready, and echoes every connection
until the client closes its side (TLS 1.3 half-close: the echo of the last bytes
still reaches a client that already sent its close_notify).
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import trio

import siotls.trio
from siotls import TLSConfiguration
from siotls.pem import decode_pem_certificate_chain, decode_pem_private_key


async def echo(stream: siotls.trio.TLSStream[trio.SocketStream]) -> None:
    peer = stream.transport_stream.socket.getpeername()
    try:
        await stream.do_handshake()  # else it runs on the first receive
        conn = stream.connection
        print(f"{peer}: {conn.nconfig.cipher_suite.name}, {conn.nconfig.key_exchange.name}",
              flush=True)
        while data := await stream.receive_some():  # b"": the client's close_notify
            await stream.send_all(data)
    except trio.BrokenResourceError as exc:  # a TLS error is the __cause__
        print(f"{peer}: {exc.__cause__ or exc}", flush=True)
    finally:
        await stream.aclose()  # sends close_notify


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
    async with trio.open_nursery() as nursery:
        # nursery.start returns once listening, with the listeners (to learn the port)
        listeners = await nursery.start(
            partial(siotls.trio.serve_tls_over_tcp, echo, args.port, config, host=args.host))
        host, port = listeners[0].transport_listener.socket.getsockname()[:2]
        print(f"listening on {host}:{port}", flush=True)


if __name__ == "__main__":
    trio.run(main)
