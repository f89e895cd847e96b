"""httpx with its TLS on siotls: ``siotls.httpx.AsyncHTTPTransport``.

    python examples/httpx_siotls.py https://localhost:8443/ --cafile ca.pem [--http2]

The transport replaces httpx's ``verify=``: the siotls configuration decides the
trust store; ALPN follows ``http2`` (``h2`` is offered too with ``--http2``).
"""

from __future__ import annotations

import argparse
import asyncio

import httpx

import siotls.httpx
from siotls import TLSConfiguration
from siotls.trust import TrustStore, get_truststore


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--cafile", help="PEM CA bundle (default: the system's)")
    parser.add_argument("--http2", action="store_true", help="offer h2 (needs httpx[http2])")
    args = parser.parse_args()
    truststore = TrustStore.from_file(args.cafile) if args.cafile else get_truststore()
    transport = siotls.httpx.AsyncHTTPTransport(
        TLSConfiguration("client", truststore=truststore), http2=args.http2)
    async with httpx.AsyncClient(transport=transport, timeout=10) as client:
        response = await client.get(args.url)
        # the TLS details, from siotls (ask while the connection is open)
        ssl_object = response.extensions["network_stream"].get_extra_info("ssl_object")
        print(f"{response.http_version} {response.status_code} over {ssl_object.version()}, "
              f"{ssl_object.cipher()[0]}, ALPN {ssl_object.selected_alpn_protocol()}")
    print(response.text)


if __name__ == "__main__":
    asyncio.run(main())
