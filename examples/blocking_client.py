"""Blocking code on siotls: ``http.client``, ``urllib.request``, requests, httpx's
``Client``, ``smtplib``... take an ``ssl.SSLContext`` and call its ``wrap_socket()``;
:class:`siotls.compat.SSLContext` hands them a socket whose TLS runs on siotls.

    python examples/blocking_client.py https://localhost:8443/ --cafile ca.pem
"""

from __future__ import annotations

import argparse
import http.client
import urllib.parse

from siotls import TLSConfiguration
from siotls.compat import SSLContext
from siotls.trust import TrustStore, get_truststore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--cafile", help="PEM CA bundle (default: the system's)")
    args = parser.parse_args()
    truststore = TrustStore.from_file(args.cafile) if args.cafile else get_truststore()
    context = SSLContext.from_config(TLSConfiguration("client", truststore=truststore))
    url = urllib.parse.urlsplit(args.url)
    connection = http.client.HTTPSConnection(
        url.hostname or "localhost", url.port or 443, context=context, timeout=10)
    try:
        connection.request("GET", url.path or "/")
        response = connection.getresponse()
        tls = connection.sock  # a siotls.compat.SSLSocket
        print(f"{response.status} {response.reason} over {tls.version()}, {tls.cipher()[0]}")
        print(response.read().decode(errors="replace"))
    finally:
        connection.close()


if __name__ == "__main__":
    main()
