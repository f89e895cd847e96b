"""siotls in one run, on 127.0.0.1 only: no internet needed.

1. Makes a throwaway CA and a server certificate (with ``cryptography``).
2. Serves HTTPS with Python's ``ssl``, and fetches a page from it with the
   siotls blocking-socket client of ``examples/client.py``.
3. Serves with a siotls server (blocking sockets, one thread), and fetches a
   page from it with Python's ``ssl``.
4. Prints what each side negotiated.

    python examples/demo.py
"""

from __future__ import annotations

import datetime
import socket
import ssl
import sys
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

sys.path.insert(0, str(Path(__file__).parent))
from client import fetch

from siotls import RaggedEOF, TLSConfiguration, TLSConnection
from siotls.trust import TrustStore

PAGE = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\nConnection: close\r\n\r\nhello from siotls!\r\n"


def make_certificates() -> tuple[bytes, bytes, bytes]:
    """(ca_der, leaf_der, leaf_key_der) for 'localhost' and 127.0.0.1."""
    import ipaddress  # noqa: PLC0415

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "siotls demo CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), False)
            .sign(ca_key, hashes.SHA256()))
    der = serialization.Encoding.DER
    return (ca.public_bytes(der), leaf.public_bytes(der), key.private_bytes(
        der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def pem(kind: str, der: bytes) -> bytes:
    import base64  # noqa: PLC0415
    import textwrap  # noqa: PLC0415

    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n".encode()


def stdlib_server(listener: socket.socket, ctx: ssl.SSLContext) -> None:
    sock, _ = listener.accept()
    with ctx.wrap_socket(sock, server_side=True) as tls:
        tls.recv(4096)
        tls.sendall(PAGE)
        tls.unwrap()


def siotls_server(listener: socket.socket, config: TLSConfiguration) -> None:
    """A one-connection siotls server on a blocking socket."""
    sock, _ = listener.accept()
    sock.settimeout(10)
    conn = TLSConnection(config)
    conn.initiate_connection()
    with sock:
        while conn.can_receive:
            data = sock.recv(16384)
            if not data:
                try:
                    conn.close_receiving_end()
                except RaggedEOF:
                    pass  # Python's SSLSocket.close() sends no close_notify
                break
            try:
                conn.receive_data(data)
            finally:
                if output := conn.data_to_send():
                    sock.sendall(output)
            if conn.is_post_handshake() and b"\r\n\r\n" in conn.data_to_read():
                print(f"  siotls server negotiated: {conn.nconfig.cipher_suite.name}, "
                      f"{conn.nconfig.key_exchange.name}, "
                      f"{conn.nconfig.signature_algorithm.name}, alpn={conn.nconfig.alpn}")
                conn.send_data(PAGE)
                conn.close_sending_end()
                sock.sendall(conn.data_to_send())


def main() -> None:
    ca_der, leaf_der, key_der = make_certificates()
    tmp = Path(tempfile.mkdtemp(prefix="siotls-demo-"))
    (tmp / "cert.pem").write_bytes(pem("CERTIFICATE", leaf_der))
    (tmp / "key.pem").write_bytes(pem("PRIVATE KEY", key_der))
    (tmp / "ca.pem").write_bytes(pem("CERTIFICATE", ca_der))

    print("1. siotls client -> Python ssl server on 127.0.0.1")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=stdlib_server, args=(listener, ctx), daemon=True)
    thread.start()
    response = fetch("localhost", listener.getsockname()[1], TrustStore([ca_der]))
    thread.join(10)
    listener.close()
    print("  " + response.decode().splitlines()[-1])

    print("2. Python ssl client -> siotls server on 127.0.0.1")
    config = TLSConfiguration("server", private_key=key_der, certificate_chain=[leaf_der],
                              alpn=[b"http/1.1"])
    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=siotls_server, args=(listener, config), daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=tmp / "ca.pem")
    client_ctx.set_alpn_protocols(["http/1.1"])
    port = listener.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock, \
            client_ctx.wrap_socket(sock, server_hostname="localhost") as tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
        print(f"  ssl client saw {tls.version()} {tls.cipher()[0]}: "
              f"{answer.decode().splitlines()[-1]}")
    thread.join(10)
    listener.close()
    print("done.")


if __name__ == "__main__":
    main()
