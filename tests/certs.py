"""Test certificates, made with ``cryptography``.

Helpers for the whole test suite (this is not a test module)::

    ca = make_ca("ecdsa-p256")
    leaf = ca.issue(("localhost", "127.0.0.1"), key_type="ed25519")
    leaf.chain_der, leaf.key_der, ca.truststore()
    cert_file, key_file, ca_file = write_pem_files(tmp_path, leaf, ca)

Key types: ``ecdsa-p256``, ``ecdsa-p384``, ``ecdsa-p521``, ``rsa-2048`` (rsaEncryption
SPKI), ``ed25519``, ``ed448``.

There is no ``rsa-pss-2048``: ``cryptography`` cannot produce an id-RSASSA-PSS
SubjectPublicKeyInfo. It *loads* RSA-PSS keys (``openssl genpkey -algorithm RSA-PSS``)
as plain :class:`RSAPrivateKey` and serializes them back as rsaEncryption, so a
certificate built by :class:`x509.CertificateBuilder` always has an rsaEncryption
SPKI. (``cryptography``'s verifier would reject an id-RSASSA-PSS SPKI anyway, see
``siotls.core.certificates``.) RSA certificates here are *signed* with PKCS#1 v1.5.

The certificates follow the profile that ``cryptography.x509.verification``
enforces (CA/Browser Forum flavoured RFC 5280) and that OpenSSL's strict mode wants:

* CA: subject == issuer, basicConstraints CA=True (critical), keyUsage
  keyCertSign+cRLSign (critical), SKI, AKI (intermediates only).
* leaf: SAN with DNSName / IPAddress entries, EKU serverAuth (+ clientAuth when
  ``client=True``), keyUsage digitalSignature (critical), basicConstraints CA=False
  (critical), SKI and AKI.

``cryptography.x509.verification`` (hence siotls) refuses CA keys other than RSA and
NIST P-256/384/521 (the web PKI list, :data:`VERIFIABLE_CA_KEY_TYPES`): an ed25519 or
ed448 *CA* is for interop tests with other stacks only. Leaves of every key type
verify.

Everything is cached per process: a CA per ``(key_type, name)``, a leaf per
``issue()`` arguments.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import secrets
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

if TYPE_CHECKING:
    from siotls.trust import TrustStore

PrivateKey = (
    ec.EllipticCurvePrivateKey
    | rsa.RSAPrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)

KEY_TYPES = ("ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048", "ed25519", "ed448")
#: CA key types whose signatures ``cryptography.x509.verification`` (hence siotls) accepts.
VERIFIABLE_CA_KEY_TYPES = ("ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048")
DEFAULT_HOSTNAMES = ("localhost", "127.0.0.1", "::1")

_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ecdsa-p256": ec.SECP256R1,
    "ecdsa-p384": ec.SECP384R1,
    "ecdsa-p521": ec.SECP521R1,
}
SignatureHash = hashes.SHA256 | hashes.SHA384 | hashes.SHA512

_EC_HASHES: dict[str, type[SignatureHash]] = {
    "secp256r1": hashes.SHA256,
    "secp384r1": hashes.SHA384,
    "secp521r1": hashes.SHA512,
}


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def generate_key(key_type: str) -> PrivateKey:
    """A fresh private key of ``key_type`` (not cached)."""
    if key_type in _CURVES:
        return ec.generate_private_key(_CURVES[key_type]())
    if key_type == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if key_type == "ed448":
        return ed448.Ed448PrivateKey.generate()
    msg = f"unknown key type {key_type!r}, expected one of {', '.join(KEY_TYPES)}"
    raise ValueError(msg)


def _signature_hash(key: PrivateKey) -> SignatureHash | None:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _EC_HASHES[key.curve.name]()
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256()
    return None  # EdDSA


def _key_der(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def make_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "siotls tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass(eq=False)
class Leaf:
    """An end-entity certificate, its key, and the chain to send (leaf first, no root)."""

    cert: x509.Certificate
    key: PrivateKey
    chain: list[x509.Certificate]
    ca: CA  # the root

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def chain_der(self) -> list[bytes]:
        return [c.public_bytes(serialization.Encoding.DER) for c in self.chain]

    @property
    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    @property
    def key_der(self) -> bytes:
        return _key_der(self.key)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self.key)


@dataclass(eq=False)
class CA:
    """A certificate authority: a root (``parent is None``) or an intermediate."""

    cert: x509.Certificate
    key: PrivateKey
    key_type: str
    name: str
    parent: CA | None = None
    _leaves: dict[tuple[Any, ...], Leaf] = field(default_factory=dict, repr=False)
    _intermediates: dict[tuple[str, str], CA] = field(default_factory=dict, repr=False)

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_der(self) -> bytes:
        return _key_der(self.key)

    @property
    def signature_hash(self) -> SignatureHash | None:
        """The hash this CA signs with (``None`` for EdDSA)."""
        return _signature_hash(self.key)

    @property
    def root(self) -> CA:
        return self if self.parent is None else self.parent.root

    @property
    def chain(self) -> list[x509.Certificate]:
        """This CA's certificate and the intermediates above it, not the root."""
        if self.parent is None:
            return []
        return [self.cert, *self.parent.chain]

    def truststore(self) -> TrustStore:
        """A trust store holding this CA's certificate only."""
        from siotls.trust import TrustStore

        return TrustStore([self.cert_der])

    def builder(
        self,
        subject: x509.Name,
        public_key: Any,
        not_before: datetime.datetime,
        not_after: datetime.datetime,
    ) -> x509.CertificateBuilder:
        """A builder with issuer, random serial, validity, SKI and AKI set, for custom
        certificates: add extensions, then ``.sign(ca.key, ca.signature_hash)``."""
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1 | 1)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                    self.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
                ),
                critical=False,
            )
        )

    def intermediate(self, key_type: str | None = None, name: str | None = None) -> CA:
        """An intermediate CA signed by this one (cached per key type and name)."""
        key_type = key_type or self.key_type
        name = name or f"{self.root.name[:32]} intermediate {len(self.chain) + 1} ({key_type})"
        cached = self._intermediates.get((key_type, name))
        if cached is not None:
            return cached
        key = generate_key(key_type)
        now = utcnow()
        cert = (
            self.builder(
                make_name(name),
                key.public_key(),
                now - datetime.timedelta(days=2),
                now + datetime.timedelta(days=365),
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .sign(self.key, _signature_hash(self.key))
        )
        ca = CA(cert, key, key_type, name, parent=self)
        self._intermediates[key_type, name] = ca
        return ca

    def issue(
        self,
        hostnames: Sequence[str] = DEFAULT_HOSTNAMES,
        *,
        key_type: str = "ecdsa-p256",
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
        client: bool = False,
        intermediate: CA | bool | None = None,
    ) -> Leaf:
        """A leaf certificate for ``hostnames`` (cached per arguments).

        :param intermediate: ``True`` to issue through ``self.intermediate()``, or an
            intermediate CA made from this one; the leaf's chain then holds it.
        """
        if intermediate is True:
            intermediate = self.intermediate()
        if isinstance(intermediate, CA):
            return intermediate.issue(
                hostnames,
                key_type=key_type,
                not_before=not_before,
                not_after=not_after,
                client=client,
            )
        hostnames = tuple(hostnames)
        cache_key = (hostnames, key_type, not_before, not_after, client)
        cached = self._leaves.get(cache_key)
        if cached is not None:
            return cached
        key = generate_key(key_type)
        now = utcnow()
        usages = [ExtendedKeyUsageOID.SERVER_AUTH]
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = self.builder(
            make_name(hostnames[0] if hostnames else "siotls test leaf"),
            key.public_key(),
            not_before or now - datetime.timedelta(days=1),
            not_after or now + datetime.timedelta(days=30),
        )
        if hostnames:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_general_name(h) for h in hostnames]),
                critical=False,
            )
        cert = (
            builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, _signature_hash(self.key))
        )
        leaf = Leaf(cert, key, [cert, *self.chain], self.root)
        self._leaves[cache_key] = leaf
        return leaf


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


@functools.cache
def make_ca(key_type: str = "ecdsa-p256", name: str = "siotls test CA") -> CA:
    """A self-signed root CA (cached per ``(key_type, name)``)."""
    key = generate_key(key_type)
    subject = make_name(name)
    now = utcnow()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1 | 1)
        .not_valid_before(now - datetime.timedelta(days=2))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, _signature_hash(key))
    )
    return CA(cert, key, key_type, name)


def write_pem_files(tmp_path: Path, leaf: Leaf, ca: CA | None = None) -> tuple[Path, Path, Path]:
    """Write ``leaf``'s chain, its key and ``ca``'s certificate as PEM files.

    Returns ``(cert_file, key_file, ca_file)``, ready for
    ``ssl.SSLContext.load_cert_chain(cert_file, key_file)``,
    ``load_verify_locations(ca_file)`` and ``openssl s_server -cert -key -CAfile``.
    ``ca`` defaults to the leaf's root CA.
    """
    ca = ca or leaf.ca
    stem = f"{leaf.cert.serial_number:x}"[:16]
    cert_file = tmp_path / f"{stem}-chain.pem"
    key_file = tmp_path / f"{stem}-key.pem"
    ca_file = tmp_path / f"{stem}-ca.pem"
    cert_file.write_bytes(leaf.chain_pem)
    key_file.write_bytes(leaf.key_pem)
    ca_file.write_bytes(ca.cert_pem)
    return cert_file, key_file, ca_file


def ssl_server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A Python ``ssl`` server context, TLS 1.3 only, from PEM files."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


def ssl_client_context(ca_file: Path) -> ssl.SSLContext:
    """A Python ``ssl`` client context, TLS 1.3 only, trusting ``ca_file``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context
