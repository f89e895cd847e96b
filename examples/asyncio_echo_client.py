"""An asyncio client over siotls: ``open_connection`` with ``config=`` for ``ssl=``.

    python examples/asyncio_echo_client.py localhost 8443 --cafile ca.pem "hello"

Sends the message, closes its sending side (close_notify; reading goes on) and
prints everything the server sends back until it closes.
"""

from __future__ import annotations

import argparse
import asyncio

import siotls.asyncio
from siotls import TLSConfiguration
from siotls.trust import TrustStore, get_truststore


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("message", nargs="?", default="hello, siotls")
    parser.add_argument("--cafile", help="PEM CA bundle (default: the system's)")
    args = parser.parse_args()
    truststore = TrustStore.from_file(args.cafile) if args.cafile else get_truststore()
    config = TLSConfiguration("client", truststore=truststore)
    reader, writer = await asyncio.wait_for(
        siotls.asyncio.open_connection(args.host, args.port, config=config), 10)
    writer.write(args.message.encode())
    writer.write_eof()  # close_notify: TLS 1.3 lets us keep reading
    answer = await asyncio.wait_for(reader.read(), 10)
    print(answer.decode())
    writer.close()
    await writer.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
