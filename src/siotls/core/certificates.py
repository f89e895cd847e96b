"""Verification of the peer's certificate chain.

Theory of operation
-------------------
The peer's Certificate message gives a list of DER certificates, leaf first. We
parse them (:func:`load_certificate`), then hand the leaf, the other certificates
(as untrusted intermediates, in any order, extra ones ignored) and the trust store
to ``cryptography.x509.verification``, which builds and checks a path to one of the
trust anchors: signatures, validity periods, basicConstraints, keyUsage, EKU, name
constraints, critical extensions and, for a server, the subjectAltName against the
name we connected to. We never validate paths ourselves.

``cryptography`` applies the CA/Browser Forum flavour of RFC 5280 ("web PKI"):

* CAs need basicConstraints (critical) and keyUsage keyCertSign; non-root
  certificates need an authorityKeyIdentifier; leaves need a subjectAltName (the
  commonName is never looked at) and must not be CAs; critical extensions it does
  not know are rejected.
* Keys that verify a signature, i.e. CA keys, must be RSA (>= 2048 bits) or NIST
  P-256/P-384/P-521: an Ed25519/Ed448 CA is refused ("Forbidden public key
  algorithm"). Signatures must be RSA PKCS#1 v1.5 / PSS or ECDSA with SHA-256/384/512.
* It does not look at the *leaf's* key, which only signs the handshake. We check it
  here (:func:`_check_leaf_key`): RSA >= 2048 bits (rsaEncryption or RSASSA-PSS),
  P-256/384/521, Ed25519 or Ed448, the keys TLS 1.3 signature schemes can use.
* A trust store holds CAs: a self-signed end-entity certificate cannot be trusted
  by putting it in the store.

A server's chain is checked against the ``server_name`` we connected to (an IP
literal matches IPAddress SAN entries, anything else DNSName entries). When there
is no server name, ``cryptography`` has no server verifier (a subject is
mandatory), so we use its *client* verifier, which checks the same path without a
name, with extension policies that swap its clientAuth EKU check for a serverAuth
one (:func:`_serverauth_eku`), on the leaf and on the CAs alike.

``cryptography`` reports failures as a :class:`VerificationError` whose text is all
there is to go on; :func:`_alert` maps it to a TLS alert:

===================================================  ==========================
message contains                                     alert
===================================================  ==========================
``cert is not valid at validation time``             certificate_expired
``no matching subjectAltName``                       bad_certificate (name)
``all candidates exhausted with no interior errors`` unknown_ca
``Forbidden public key algorithm``,                  unsupported_certificate
``Forbidden signature algorithm``,
``RSA key is too weak``,
``required EKU not found``,
``Neither EKU nor anyEKU could be found``
anything else (``signature does not match``,         bad_certificate
missing or invalid extensions, path too long...)
===================================================  ==========================

"not valid at validation time" is said for expired and not yet valid certificates
alike, leaf or CA. A missing intermediate and an unknown root look the same:
no candidate issuer, unknown_ca. The original message is kept in the error text.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    VerificationError,
)

from siotls.core import provider
from siotls.core.errors import (
    BadCertificate,
    CertificateExpired,
    CertificateRequired,
    DecodeError,
    InternalError,
    TLSFatalAlert,
    UnknownCA,
    UnsupportedCertificate,
)

if TYPE_CHECKING:
    from cryptography.x509.verification import Policy, Subject

    from siotls.trust import TrustStore

__all__ = ["load_certificate", "verify_client_chain", "verify_server_chain"]

_EXPIRED = ("cert is not valid at validation time",)
_NAME_MISMATCH = ("no matching subjectAltName",)
_UNKNOWN_CA = ("all candidates exhausted with no interior errors",)
_UNSUPPORTED = (
    "Forbidden public key algorithm",
    "Forbidden signature algorithm",
    "RSA key is too weak",
    "required EKU not found",  # leaf EKU without the wanted usage
    "Neither EKU nor anyEKU could be found",  # same, in a CA certificate
)
_LEAF_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})


def load_certificate(der: bytes) -> x509.Certificate:
    """Parse one DER X.509 certificate.

    :raises BadCertificate: when it does not parse.
    """
    try:
        return x509.load_der_x509_certificate(bytes(der))
    except (ValueError, x509.InvalidVersion) as exc:
        msg = f"the certificate is not a valid DER X.509 certificate: {exc}"
        raise BadCertificate(msg) from exc


def _load_chain(chain: Sequence[bytes]) -> list[x509.Certificate]:
    certificates = []
    for index, der in enumerate(chain):
        try:
            certificates.append(load_certificate(der))
        except BadCertificate as exc:
            what = "leaf certificate" if index == 0 else f"certificate #{index} of the chain"
            msg = f"the {what} is not a valid DER X.509 certificate: {exc.__cause__}"
            raise BadCertificate(msg) from exc.__cause__
    return certificates


def _validation_time(now: datetime.datetime | None) -> datetime.datetime:
    if now is None:
        return provider.utc_datetime()
    if now.tzinfo is None:  # naive: taken as UTC
        return now.replace(tzinfo=datetime.UTC)
    return now


def _subject(server_name: str) -> Subject:
    try:
        return x509.IPAddress(ipaddress.ip_address(server_name))
    except ValueError:
        pass
    name = server_name.removesuffix(".")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError as exc:
            msg = f"cannot check the certificate: invalid server name {server_name!r}"
            raise InternalError(msg) from exc
    return x509.DNSName(name)


def _serverauth_eku(
    _policy: Policy, _certificate: x509.Certificate, eku: x509.ExtendedKeyUsage | None
) -> None:
    """Extension validator: an EKU, when present, must allow serverAuth."""
    if eku is None:
        return
    if ExtendedKeyUsageOID.SERVER_AUTH in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku:
        return
    msg = "required EKU not found: serverAuth is not allowed"
    raise ValueError(msg)


@functools.cache
def _serverauth_policies() -> tuple[ExtensionPolicy, ExtensionPolicy]:
    """The web PKI (CA, EE) extension policies, with a serverAuth EKU check."""
    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _serverauth_eku
    )
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _serverauth_eku
    )
    return ca_policy, ee_policy


def _alert(exc: VerificationError, server_name: str | None = None) -> TLSFatalAlert:
    message = str(exc)
    if any(text in message for text in _EXPIRED):
        # cryptography says the same for "not yet valid"
        return CertificateExpired(
            f"a certificate is expired or not yet valid: {message}", reason="expired")
    if any(text in message for text in _NAME_MISMATCH):
        return BadCertificate(
            f"the certificate did not match the server name {server_name!r}: {message}",
            reason="hostname_mismatch",
        )
    if any(text in message for text in _UNKNOWN_CA):
        return UnknownCA(f"no path to a trusted CA: {message}", reason="unknown_issuer")
    if any(text in message for text in _UNSUPPORTED):
        reason = "bad_eku" if "EKU" in message else None
        return UnsupportedCertificate(message, reason=reason)
    return BadCertificate(message)


def _check_leaf_key(leaf: x509.Certificate, minimum_rsa_modulus: int) -> None:
    """Refuse leaf keys that TLS 1.3 cannot use or that are too weak."""
    try:
        key = leaf.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        msg = f"unsupported leaf certificate public key: {exc}"
        raise UnsupportedCertificate(msg) from exc
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < minimum_rsa_modulus:
            msg = f"the leaf certificate RSA key is too weak: {key.key_size} bits"
            raise UnsupportedCertificate(msg)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _LEAF_CURVES:
            msg = f"unsupported leaf certificate curve: {key.curve.name}"
            raise UnsupportedCertificate(msg)
    elif not isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        oid = leaf.public_key_algorithm_oid.dotted_string
        msg = f"unsupported leaf certificate key type: {oid}"
        raise UnsupportedCertificate(msg)


def verify_server_chain(
    truststore: TrustStore,
    chain: Sequence[bytes],
    server_name: str | None,
    now: datetime.datetime | None = None,
) -> x509.Certificate:
    """Validate a server's certificate chain, return its leaf.

    :param chain: DER certificates as received, leaf first.
    :param server_name: the host name or IP literal we connected to; ``None`` checks
        the path and the serverAuth usage but no name.
    :param now: the validation time (naive means UTC), default the current time.
    :raises DecodeError: for an empty chain (RFC 8446 section 4.4.2.4).
    :raises CertificateExpired, UnknownCA, BadCertificate, UnsupportedCertificate:
        see the module documentation.
    """
    if not chain:
        msg = "the server sent an empty certificate chain"
        raise DecodeError(msg)
    leaf, *intermediates = _load_chain(chain)
    builder = PolicyBuilder().store(truststore.store).time(_validation_time(now))
    try:
        if server_name is None:
            ca_policy, ee_policy = _serverauth_policies()
            verifier = builder.extension_policies(
                ca_policy=ca_policy, ee_policy=ee_policy
            ).build_client_verifier()
            policy = verifier.policy
            verifier.verify(leaf, intermediates)
        else:
            try:
                server_verifier = builder.build_server_verifier(_subject(server_name))
            except ValueError as exc:
                msg = f"cannot check the certificate: invalid server name {server_name!r}: {exc}"
                raise InternalError(msg) from exc
            policy = server_verifier.policy
            server_verifier.verify(leaf, intermediates)
    except VerificationError as exc:
        raise _alert(exc, server_name) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:  # a part of a certificate that won't parse
        raise BadCertificate(f"the certificate chain cannot be checked: {exc}") from exc
    _check_leaf_key(leaf, policy.minimum_rsa_modulus)
    return leaf


def verify_client_chain(
    truststore: TrustStore,
    chain: Sequence[bytes],
    now: datetime.datetime | None = None,
) -> x509.Certificate:
    """Validate a client's certificate chain (clientAuth usage), return its leaf.

    :param chain: DER certificates as received, leaf first.
    :param now: the validation time (naive means UTC), default the current time.
    :raises CertificateRequired: for an empty chain.
    :raises CertificateExpired, UnknownCA, BadCertificate, UnsupportedCertificate:
        see the module documentation.
    """
    if not chain:
        msg = "the client sent no certificate"
        raise CertificateRequired(msg)
    leaf, *intermediates = _load_chain(chain)
    verifier = (
        PolicyBuilder().store(truststore.store).time(_validation_time(now)).build_client_verifier()
    )
    try:
        verifier.verify(leaf, intermediates)
    except VerificationError as exc:
        raise _alert(exc) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:  # a part of a certificate that won't parse
        raise BadCertificate(f"the certificate chain cannot be checked: {exc}") from exc
    _check_leaf_key(leaf, verifier.policy.minimum_rsa_modulus)
    return leaf
