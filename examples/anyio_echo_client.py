"""An anyio client over siotls: ``siotls.anyio.connect``.

    python examples/anyio_echo_client.py localhost 8443 --cafile ca.pem "hello" [--backend trio]

Sends the message, closes its sending side (``send_eof``: close_notify, reading
goes on) and prints everything the server sends back until it closes.
"""

from __future__ import annotations

import argparse

import anyio

import siotls.anyio
from siotls import TLSConfiguration
from siotls.trust import TrustStore, get_truststore


async def main(args: argparse.Namespace) -> None:
    truststore = TrustStore.from_file(args.cafile) if args.cafile else get_truststore()
    config = TLSConfiguration("client", truststore=truststore)
    with anyio.fail_after(10):
        stream = await siotls.anyio.connect(args.host, args.port, config=config)
        async with stream:
            await stream.send(args.message.encode())
            await stream.send_eof()  # close_notify: TLS 1.3 lets us keep reading
            answer = b"".join([data async for data in stream])  # to the server's close_notify
    print(answer.decode())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("message", nargs="?", default="hello, siotls")
    parser.add_argument("--cafile", help="PEM CA bundle (default: the system's)")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args()
    anyio.run(main, args, backend=args.backend)
