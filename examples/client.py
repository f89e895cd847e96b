"""The README's blocking-socket client: fetch a page over siotls.

    python examples/client.py example.com 443
    python examples/client.py localhost 8443 --cafile ca.pem
"""

from __future__ import annotations

import argparse
import socket

from siotls import RaggedEOF, TLSConfiguration, TLSConnection
from siotls.trust import TrustStore, get_truststore


def fetch(host: str, port: int, truststore: TrustStore, path: str = "/") -> bytes:
    config = TLSConfiguration("client", truststore=truststore, alpn=[b"http/1.1"])
    conn = TLSConnection(config, server_hostname=host)
    response = bytearray()
    with socket.create_connection((host, port), timeout=10) as sock:
        # The handshake.
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        while not conn.is_post_handshake():
            data = sock.recv(16384)
            if not data:
                conn.close_receiving_end()  # raises RaggedEOF: the server hung up
            try:
                conn.receive_data(data)
            finally:
                if output := conn.data_to_send():  # an alert, on failure
                    sock.sendall(output)

        # The exchange.
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        conn.send_data(request.encode())
        sock.sendall(conn.data_to_send())
        while conn.is_connected():  # until the server's close_notify
            data = sock.recv(16384)
            if not data:
                try:
                    conn.close_receiving_end()
                except RaggedEOF:
                    print("(the server closed without close_notify: maybe truncated)")
                response += conn.data_to_read()
                break
            try:
                conn.receive_data(data)
            finally:
                if output := conn.data_to_send():  # a KeyUpdate answer, an alert...
                    sock.sendall(output)
            response += conn.data_to_read()

        conn.close_sending_end()
        sock.sendall(conn.data_to_send())
    return bytes(response)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("host")
    parser.add_argument("port", type=int, nargs="?", default=443)
    parser.add_argument("--cafile", help="PEM CA bundle (default: the system's)")
    args = parser.parse_args()
    truststore = TrustStore.from_file(args.cafile) if args.cafile else get_truststore()
    print(fetch(args.host, args.port, truststore).decode(errors="replace"))


if __name__ == "__main__":
    main()
