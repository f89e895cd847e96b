"""httpx over siotls: ``verify=`` takes an ``ssl.SSLContext``, and
:class:`siotls.compat.SSLContext` is one whose connections run on siotls.
It drives siotls through ``wrap_bio``, which httpx's async client uses (its
blocking client calls ``wrap_socket``: see ``blocking_client.py``).

    python examples/httpx_client.py https://localhost:8443/ --cafile ca.pem
"""

from __future__ import annotations

import argparse
import asyncio

import httpx

from siotls import TLSConfiguration
from siotls.compat import SSLContext
from siotls.trust import TrustStore, get_truststore


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--cafile", help="PEM CA bundle (default: the system's)")
    args = parser.parse_args()
    truststore = TrustStore.from_file(args.cafile) if args.cafile else get_truststore()
    context = SSLContext.from_config(TLSConfiguration("client", truststore=truststore))
    async with httpx.AsyncClient(verify=context, timeout=10) as client:
        response = await client.get(args.url)
    ssl_object = response.extensions["network_stream"].get_extra_info("ssl_object")
    print(f"{response.http_version} {response.status_code} over {ssl_object.version()}, "
          f"{ssl_object.cipher()[0]}")
    print(response.text)


if __name__ == "__main__":
    asyncio.run(main())
