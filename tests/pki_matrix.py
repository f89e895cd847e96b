"""The bad-certificate matrix: one broken chain per failure (a test helper, not a
test module).

:func:`bad_chains` makes, for a *profile* and a purpose, every case of issue 9's
matrix with the alert and the reason siotls must report. The profile picks the
key type of the CAs, hence which validation a chain goes through:

* ``'webpki'``: ECDSA P-256 CAs, which ``cryptography.x509.verification`` accepts;
* ``'pathbuilder'``: Ed25519 CAs, which it refuses, so that chains go through
  :mod:`siotls.core.pathbuilder`.

Leaves have ECDSA P-256 keys (the leaf's key plays no part in path validation),
except the self-signed one, whose key is the profile's CA key type. Every chain
is ``[leaf, intermediate(s)...]`` below a root of its own.
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from certs import CA, Leaf, PrivateKey, _ca_key_usage, generate_key, make_ca, make_name, utcnow
from siotls.core.errors import (
    BadCertificate,
    CertificateExpired,
    TLSFatalAlert,
    UnknownCA,
    UnsupportedCertificate,
)
from siotls.trust import TrustStore

PROFILES = {"webpki": "ecdsa-p256", "pathbuilder": "ed25519"}
DAY = datetime.timedelta(days=1)
SERVER_NAME = "localhost"


@dataclass(frozen=True)
class Case:
    """A chain (DER, leaf first) that must fail with ``alert`` and ``reason``."""

    name: str
    chain: list[bytes]
    key_der: bytes  # the leaf's private key
    truststore: TrustStore
    server_name: str | None
    alert: type[TLSFatalAlert]
    reason: str


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def key_der(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _ekus(purpose: str) -> list[x509.ObjectIdentifier]:
    return [ExtendedKeyUsageOID.SERVER_AUTH if purpose == "server"
            else ExtendedKeyUsageOID.CLIENT_AUTH]


def _leaf_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False)


def leaf_builder(issuer: CA, key: PrivateKey, *, names: tuple[str, ...] = (SERVER_NAME,),
                 ekus: list[x509.ObjectIdentifier], usage: x509.KeyUsage | None = None,
                 san: list[x509.GeneralName] | None = None) -> x509.CertificateBuilder:
    """A leaf of ``issuer``, valid now, for ``names`` (or ``san``); add extensions,
    then sign."""
    now = utcnow()
    return (
        issuer.builder(make_name(names[0]), key.public_key(), now - DAY, now + 30 * DAY)
        .add_extension(x509.SubjectAlternativeName(
            san or [x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage or _leaf_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    )


def custom_ca(issuer: CA, name: str, *, ca: bool = True, path_length: int | None = None,
              constraints: x509.NameConstraints | None = None) -> CA:
    """An intermediate of ``issuer`` (same key type) with the given constraints."""
    key = generate_key(issuer.key_type)
    now = utcnow()
    builder = (
        issuer.builder(make_name(name), key.public_key(), now - DAY, now + 365 * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
    )
    if constraints is not None:
        builder = builder.add_extension(constraints, critical=True)
    cert = builder.sign(issuer.key, issuer.signature_hash)
    return CA(cert, key, issuer.key_type, name, parent=issuer)


def _case(name: str, leaf: Leaf | tuple[list[bytes], bytes], truststore: TrustStore,
          alert: type[TLSFatalAlert], reason: str, *,
          server_name: str | None = SERVER_NAME) -> Case:
    chain, key = (leaf.chain_der, leaf.key_der) if isinstance(leaf, Leaf) else leaf
    return Case(name, chain, key, truststore, server_name, alert, reason)


def _signed(issuer: CA, builder: x509.CertificateBuilder, key: PrivateKey,
            signer: PrivateKey | None = None) -> tuple[list[bytes], bytes]:
    cert = builder.sign(signer or issuer.key, issuer.signature_hash)
    return [der(cert), *(der(c) for c in issuer.chain)], key_der(key)


@functools.cache
def roots(profile: str) -> tuple[CA, CA]:
    """The profile's root and intermediate CAs."""
    root = make_ca(PROFILES[profile], f"siotls matrix root ({profile})")
    return root, root.intermediate()


@functools.cache
def good_chain(profile: str, purpose: str = "server") -> Leaf:
    _, intermediate = roots(profile)
    return intermediate.issue((SERVER_NAME, "127.0.0.1"), client=purpose == "client")


@functools.cache
def bad_chains(profile: str, purpose: str = "server") -> tuple[Case, ...]:
    """Every case of the matrix for ``profile`` and ``purpose`` ('server', 'client')."""
    root, intermediate = roots(profile)
    trust = root.truststore()
    client = purpose == "client"
    ekus = _ekus(purpose)
    now = utcnow()
    key = generate_key("ecdsa-p256")
    other_root = make_ca(PROFILES[profile], f"siotls matrix other root ({profile})")
    not_a_ca = custom_ca(intermediate, f"siotls matrix not a CA ({profile})", ca=False)
    pathlen0 = custom_ca(root, f"siotls matrix pathlen 0 ({profile})", path_length=0)
    below = custom_ca(pathlen0, f"siotls matrix below pathlen 0 ({profile})")
    constrained = custom_ca(root, f"siotls matrix constrained ({profile})", constraints=(
        x509.NameConstraints(permitted_subtrees=[x509.DNSName("allowed.test")],
                             excluded_subtrees=None)))
    self_key = generate_key(PROFILES[profile])
    self_name = make_name(SERVER_NAME)
    self_signed = (
        x509.CertificateBuilder().subject_name(self_name).issuer_name(self_name)
        .public_key(self_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - DAY).not_valid_after(now + 30 * DAY)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SERVER_NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        .sign(self_key, intermediate.signature_hash)
    )
    wrong_eku = [ExtendedKeyUsageOID.CLIENT_AUTH if not client else ExtendedKeyUsageOID.SERVER_AUTH]
    cases = [
        _case("expired", intermediate.issue(not_before=now - 10 * DAY, not_after=now - DAY,
                                            client=client), trust, CertificateExpired, "expired"),
        _case("not yet valid", intermediate.issue(not_before=now + DAY, not_after=now + 9 * DAY,
                                                  client=client),
              trust, CertificateExpired, "not_yet_valid"),
        _case("unknown CA", good_chain(profile, purpose), other_root.truststore(),
              UnknownCA, "unknown_issuer"),
        _case("missing intermediate", (good_chain(profile, purpose).chain_der[:1],
                                       good_chain(profile, purpose).key_der),
              trust, UnknownCA, "unknown_issuer"),
        _case("intermediate without CA:TRUE", not_a_ca.issue(client=client),
              trust, BadCertificate, "not_a_ca"),
        _case("path length exceeded", below.issue(client=client),
              trust, BadCertificate, "path_length"),
        _case("wrong extended key usage",
              _signed(intermediate, leaf_builder(intermediate, key, ekus=wrong_eku), key),
              trust, UnsupportedCertificate, "bad_eku"),
        _case("name constraints violated", constrained.issue(client=client),
              trust, BadCertificate, "name_constraints"),
        _case("self-signed leaf", ([der(self_signed)], key_der(self_key)),
              trust, UnknownCA, "self_signed"),
        _case("signature does not verify",
              _signed(intermediate, leaf_builder(intermediate, key, ekus=ekus), key,
                      signer=generate_key(PROFILES[profile])),
              trust, BadCertificate, "bad_signature"),
    ]
    if client:
        return tuple(replace_name(case, None) for case in cases)
    return (
        *cases,
        _case("wrong host", intermediate.issue(("other.test",)), trust,
              BadCertificate, "hostname_mismatch"),
        _case("wrong IP", intermediate.issue(("127.0.0.1",)), trust,
              BadCertificate, "ip_mismatch", server_name="127.0.0.2"),
    )


def replace_name(case: Case, server_name: str | None) -> Case:
    return Case(case.name, case.chain, case.key_der, case.truststore, server_name,
                case.alert, case.reason)


def case_ids(cases: tuple[Case, ...]) -> list[str]:
    return [case.name for case in cases]
