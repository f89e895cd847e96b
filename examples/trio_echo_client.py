"""A trio client over siotls: ``siotls.trio.open_tls_over_tcp_stream``.

    python examples/trio_echo_client.py localhost 8443 --cafile ca.pem "hello"

Sends the message, closes its sending side (``send_eof``: close_notify, reading
goes on) and prints everything the server sends back until it closes.
"""

from __future__ import annotations

import argparse

import trio

import siotls.trio
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
    with trio.fail_after(10):
        stream = await siotls.trio.open_tls_over_tcp_stream(args.host, args.port, config=config)
        async with stream:
            await stream.send_all(args.message.encode())  # the handshake runs first
            await stream.send_eof()  # close_notify: TLS 1.3 lets us keep reading
            answer = b""
            while data := await stream.receive_some():  # b"": the server's close_notify
                answer += data
    print(answer.decode())


if __name__ == "__main__":
    trio.run(main)
