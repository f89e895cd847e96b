"""What the benchmarks share: the OpenSSL configuration trick and the certificates.

Import this module first (``import _common`` before anything imports ``ssl``):
Python 3.11's ``ssl`` cannot choose TLS 1.3 cipher suites and OpenSSL prefers
TLS_AES_256_GCM_SHA384, so unless ``--no-openssl-conf`` is on the command line
``OPENSSL_CONF`` is pointed at a generated config whose ``system_default``
section sets ``Ciphersuites = TLS_AES_128_GCM_SHA256``. OpenSSL reads its
configuration once, when libssl initialises.
"""

from __future__ import annotations

import os
import sys
import tempfile

TMPDIR = tempfile.TemporaryDirectory(prefix="siotls-bench-")
if "--no-openssl-conf" not in sys.argv:
    _conf = os.path.join(TMPDIR.name, "openssl.cnf")
    with open(_conf, "w") as _file:
        _file.write(
            "openssl_conf = openssl_init\n"
            "[openssl_init]\nssl_conf = ssl_sect\n"
            "[ssl_sect]\nsystem_default = system_default_sect\n"
            "[system_default_sect]\nCiphersuites = TLS_AES_128_GCM_SHA256\n"
        )
    os.environ["OPENSSL_CONF"] = _conf

import datetime  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

if TYPE_CHECKING:
    from siotls import TLSConnection

HOSTNAME = "localhost"


# -- certificates ------------------------------------------------------------
@dataclass
class Credentials:
    ca_der: bytes
    leaf_der: bytes
    key_der: bytes
    cert_file: str
    key_file: str
    ca_file: str


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "siotls bench"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _key_usage(*, leaf: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=leaf, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=not leaf,
        crl_sign=not leaf, encipher_only=False, decipher_only=False)


def make_credentials(directory: str) -> Credentials:
    """An ECDSA P-256 CA and an ECDSA P-256 leaf for localhost; PEM files in ``directory``."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("siotls bench CA")).issuer_name(_name("siotls bench CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(leaf=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(HOSTNAME)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOSTNAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_key_usage(leaf=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem, der = serialization.Encoding.PEM, serialization.Encoding.DER
    pkcs8, plain = serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    files = {}
    for name, content in (("cert", leaf.public_bytes(pem)),
                          ("key", key.private_bytes(pem, pkcs8, plain)),
                          ("ca", ca_cert.public_bytes(pem))):
        files[name] = str(Path(directory, f"{name}.pem"))
        Path(files[name]).write_bytes(content)
    return Credentials(ca_cert.public_bytes(der), leaf.public_bytes(der),
                       key.private_bytes(der, pkcs8, plain),
                       files["cert"], files["key"], files["ca"])


def ssl_contexts(creds: Credentials) -> tuple[Any, Any]:
    """``ssl`` (client, server) contexts set up like siotls's: TLS 1.3, x25519, no tickets."""
    import ssl  # here, not at the top: OPENSSL_CONF must be set before ssl is imported

    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.minimum_version = server.maximum_version = ssl.TLSVersion.TLSv1_3
    server.load_cert_chain(creds.cert_file, creds.key_file)
    server.set_ecdh_curve("X25519")
    server.num_tickets = 0  # and the siotls servers have num_tickets=0
    client = ssl.create_default_context(cafile=creds.ca_file)
    client.minimum_version = client.maximum_version = ssl.TLSVersion.TLSv1_3
    assert client.check_hostname and client.verify_mode == ssl.CERT_REQUIRED
    return client, server


def siotls_handshake(client: TLSConnection, server: TLSConnection) -> None:
    """Initiate both and move their bytes in memory until both finished the handshake
    (the client's Finished may still be queued for the server)."""
    client.initiate_connection()
    server.initiate_connection()
    for _ in range(8):
        if data := client.data_to_send():
            server.receive_data(data)
        if data := server.data_to_send():
            client.receive_data(data)
        if client.is_post_handshake() and server.is_post_handshake():
            return
    raise RuntimeError("siotls handshake did not complete")
