"""How long ``siotls.trust.verify_chain`` takes, per validation path.

    python bench/bench_verify_chain.py [--number N]

Chains of three certificates (root, intermediate, leaf), for ``localhost``:

* ECDSA P-256 CAs: ``cryptography.x509.verification`` alone (``webpki``);
* Ed25519 CAs: ``cryptography`` refuses, then :mod:`siotls.core.pathbuilder`;
* a refused ECDSA chain (wrong host name): ``cryptography``, then the path builder
  to find the reason;

each with a trust store whose verification cache is off (``cache_size=0``: every
call validates in full), then the ECDSA chain again from a trust store with its
cache on (the default), which answers from the cache after the first call.
"""

from __future__ import annotations

import argparse
import datetime
import timeit
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from siotls.core.errors import TLSFatalAlert
from siotls.trust import TrustStore, verify_chain

NOW = datetime.datetime.now(datetime.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key: Any, issuer: str, issuer_key: Any, *, ca: bool,
                 issuer_public: Any) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=not ca, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public),
                       critical=False)
    )
    if not ca:
        builder = (
            builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]),
                                  critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False))
    algorithm = hashes.SHA256() if isinstance(issuer_key, ec.EllipticCurvePrivateKey) else None
    return builder.sign(issuer_key, algorithm)


def chain(generate: Any, cache_size: int = 0) -> tuple[TrustStore, list[bytes]]:
    """(trust store, [leaf, intermediate]) with CA keys from ``generate()``."""
    root_key, inter_key = generate(), generate()
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root = _certificate("root", root_key, "root", root_key, ca=True,
                        issuer_public=root_key.public_key())
    inter = _certificate("intermediate", inter_key, "root", root_key, ca=True,
                         issuer_public=root_key.public_key())
    leaf = _certificate("localhost", leaf_key, "intermediate", inter_key, ca=False,
                        issuer_public=inter_key.public_key())
    der = serialization.Encoding.DER
    return (TrustStore([root.public_bytes(der)], cache_size=cache_size),
            [leaf.public_bytes(der), inter.public_bytes(der)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000)
    number = parser.parse_args().number
    ecdsa = chain(lambda: ec.generate_private_key(ec.SECP256R1()))
    eddsa = chain(ed25519.Ed25519PrivateKey.generate)
    cached = chain(lambda: ec.generate_private_key(ec.SECP256R1()), cache_size=128)

    def refused() -> None:
        try:
            verify_chain(*ecdsa, server_name="other.test")
        except TLSFatalAlert:
            return
        raise AssertionError("not refused")

    cases = {
        "webpki (ECDSA P-256 CAs)": lambda: verify_chain(*ecdsa, server_name="localhost"),
        "pathbuilder (Ed25519 CAs)": lambda: verify_chain(*eddsa, server_name="localhost"),
        "refused, diagnosed (ECDSA)": refused,
        "webpki, cache hit": lambda: verify_chain(*cached, server_name="localhost"),
    }
    assert verify_chain(*ecdsa, server_name="localhost").validator == "webpki"
    assert verify_chain(*eddsa, server_name="localhost").validator == "pathbuilder"
    for label, function in cases.items():
        seconds = min(timeit.repeat(function, number=number, repeat=3)) / number
        print(f"{label:28} {seconds * 1e6:8.1f} µs per chain")


if __name__ == "__main__":
    main()
