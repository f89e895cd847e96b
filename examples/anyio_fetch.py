"""Fetch a page over HTTPS with ``siotls.anyio.connect`` and print the response.

    python examples/anyio_fetch.py example.org [--port 443] [--path /] [--cafile ca.pem]

A bare HTTP/1.1 GET with ``Connection: close``: the response ends when the
server closes. HTTPS servers often close without a close_notify, hence
``standard_compatible=False`` (an EOF is then a normal end).
"""

from __future__ import annotations

import argparse

import anyio

import siotls.anyio
from siotls import TLSConfiguration
from siotls.trust import TrustStore, get_truststore


async def main(args: argparse.Namespace) -> None:
    truststore = TrustStore.from_file(args.cafile) if args.cafile else get_truststore()
    config = TLSConfiguration("client", truststore=truststore, alpn=[b"http/1.1"])
    with anyio.fail_after(10):
        stream = await siotls.anyio.connect(args.host, args.port, config=config,
                                            standard_compatible=False)
        async with stream:
            request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}\r\n"
                       "Connection: close\r\n\r\n")
            await stream.send(request.encode())
            response = b"".join([data async for data in stream])
    print(response.decode(errors="replace"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("host")
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--path", default="/")
    parser.add_argument("--cafile", help="PEM CA bundle (default: the system's)")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args()
    anyio.run(main, args, backend=args.backend)
