"""Certification path validation on ``cryptography``'s primitives, for the chains
that ``cryptography.x509.verification`` refuses only for their algorithms.

Theory of operation
-------------------
``cryptography.x509.verification`` applies the Web PKI profile, which allows CA
keys of RSA and NIST P-256/384/521 only: a private PKI with an Ed25519, Ed448 or
RSA-PSS (id-RSASSA-PSS key) CA is refused, although OpenSSL, GnuTLS and Python's
``ssl`` accept it (pyca/cryptography#13391). :mod:`siotls.core.certificates`
calls :func:`build_path` when that verifier fails, for two reasons:

* **the second path**: when the path found here has a CA key outside the Web PKI
  list (:func:`outside_webpki`), the chain is accepted on this module's verdict;
* **the diagnosis**: otherwise, the error raised here (an exception naming the
  TLS alert, with a stable ``reason``) says *why* the chain is bad, from facts
  checked again, never from the text of ``cryptography``'s message.

:func:`build_path` applies :rfc:`5280` section 6 with the Web PKI's choices:

1. **Path building**, depth first from the leaf: the candidate issuers of a
   certificate are the trust anchors, then the peer's other certificates (in any
   order; unused ones are ignored), whose subject is its issuer name (as
   ``cryptography`` does; the key identifiers are not used).
   A candidate must pass every check of :func:`_check_issuer`, in this order:
   its key type and size, the signature hash, the signature itself
   (``Certificate.verify_directly_issued_by``), its validity period,
   basicConstraints CA:TRUE and pathLenConstraint, keyUsage keyCertSign,
   extendedKeyUsage (the purpose or anyExtendedKeyUsage, when present), no
   unknown critical extension, and its nameConstraints over every certificate
   below it. A trust anchor ends the path (its own validity and constraints are
   checked like any CA's). Paths are at most :data:`MAX_DEPTH` certificates
   long and the search does at most :data:`MAX_SIGNATURE_CHECKS` signature
   checks: the peer chooses what it sends.
2. **The leaf**, once a path exists: validity, not a CA, a supported key,
   keyUsage digitalSignature and the extendedKeyUsage (when present), no unknown
   critical extension, then the name: an IP address against the
   subjectAltName's iPAddress entries, a DNS name (already in its IDNA A-label
   form) against its dNSName entries, a wildcard standing for exactly one whole
   left-most label (``*.example.com``). The commonName is never looked at.

When no path exists, the error of the candidate that went the furthest up is
raised (the first one among equals); a certificate with no candidate issuer at
all is ``unknown_issuer`` (``self_signed`` for a self-signed leaf).

Name constraints: dNSName, iPAddress and directoryName (against the subject)
subtrees are evaluated; a certificate name of another type under constraints of
that type fails closed (``name_constraints``).
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, PublicKeyAlgorithmOID

from siotls.core.errors import (
    BadCertificate,
    CertificateExpired,
    TLSFatalAlert,
    UnknownCA,
    UnsupportedCertificate,
)

if TYPE_CHECKING:
    IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

__all__ = ["MAX_DEPTH", "MAX_SIGNATURE_CHECKS", "build_path", "check_key", "outside_webpki"]

#: The longest path, leaf and trust anchor included (``cryptography``'s default too).
MAX_DEPTH = 8
#: Signature checks one path search may do, at most.
MAX_SIGNATURE_CHECKS = 64
MINIMUM_RSA_MODULUS = 2048
_E = TypeVar("_E", bound=x509.ExtensionType)
_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)
#: Key types the Web PKI profile allows for the keys that verify a signature.
_WEBPKI_CA_KEYS = frozenset({
    PublicKeyAlgorithmOID.RSAES_PKCS1_v1_5, PublicKeyAlgorithmOID.EC_PUBLIC_KEY})
#: Extensions whose criticality we honour (the others, when critical, fail).
_UNDERSTOOD = frozenset({
    x509.BasicConstraints.oid, x509.KeyUsage.oid, x509.ExtendedKeyUsage.oid,
    x509.SubjectAlternativeName.oid, x509.NameConstraints.oid,
    x509.AuthorityKeyIdentifier.oid, x509.SubjectKeyIdentifier.oid,
})


def _fail(cls: type[TLSFatalAlert], reason: str, message: str) -> NoReturn:
    raise cls(message, reason=reason)


def describe(certificate: x509.Certificate) -> str:
    """A short name for messages: the subject's commonName, else the whole subject."""
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if names and isinstance(names[0].value, str):
        return repr(names[0].value)
    return repr(certificate.subject.rfc4514_string())


def _extension(certificate: x509.Certificate, kind: type[_E]) -> _E | None:
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def outside_webpki(path: Sequence[x509.Certificate]) -> bool:
    """Whether a key that verifies a signature of ``path`` (leaf first) is of a type
    the Web PKI profile refuses (Ed25519, Ed448, id-RSASSA-PSS...)."""
    return any(c.public_key_algorithm_oid not in _WEBPKI_CA_KEYS for c in path[1:])


def check_key(certificate: x509.Certificate, role: str) -> None:
    """Refuse keys that TLS 1.3 cannot use or that are too weak.

    RSA >= 2048 bits (rsaEncryption or RSASSA-PSS), P-256/384/521, Ed25519, Ed448.
    """
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        _fail(UnsupportedCertificate, "unsupported_key",
              f"the {role} has an unsupported public key: {exc}")
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MINIMUM_RSA_MODULUS:
            _fail(UnsupportedCertificate, "weak_key",
                  f"the {role} RSA key is too weak: {key.key_size} bits")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVES:
            _fail(UnsupportedCertificate, "unsupported_key",
                  f"the {role} has an unsupported curve: {key.curve.name}")
    elif not isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        oid = certificate.public_key_algorithm_oid.dotted_string
        _fail(UnsupportedCertificate, "unsupported_key",
              f"the {role} has an unsupported key type: {oid}")


def check_validity(certificate: x509.Certificate, moment: datetime.datetime, role: str) -> None:
    if moment > certificate.not_valid_after_utc:
        _fail(CertificateExpired, "expired", f"the {role} {describe(certificate)} expired on "
              f"{certificate.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC")
    if moment < certificate.not_valid_before_utc:
        _fail(CertificateExpired, "not_yet_valid", f"the {role} {describe(certificate)} is not "
              f"valid before {certificate.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC")


def _check_eku(certificate: x509.Certificate, eku: x509.ObjectIdentifier, role: str) -> None:
    usages = _extension(certificate, x509.ExtendedKeyUsage)
    if usages is None or eku in usages or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages:
        return
    purpose = "serverAuth" if eku == ExtendedKeyUsageOID.SERVER_AUTH else "clientAuth"
    _fail(UnsupportedCertificate, "bad_eku",
          f"the {role} {describe(certificate)} is not for {purpose} (extendedKeyUsage)")


def _check_critical(certificate: x509.Certificate, role: str) -> None:
    for extension in certificate.extensions:
        if extension.critical and extension.oid not in _UNDERSTOOD:
            _fail(BadCertificate, "unknown_critical_extension",
                  f"the {role} {describe(certificate)} has an unknown critical extension "
                  f"{extension.oid.dotted_string}")


def _self_issued(certificate: x509.Certificate) -> bool:
    return certificate.subject == certificate.issuer


class _PathSearch:
    """One depth-first search for a path from a leaf to a trust anchor."""

    def __init__(self, anchors: Sequence[x509.Certificate],
                 intermediates: Sequence[x509.Certificate],
                 moment: datetime.datetime, eku: x509.ObjectIdentifier) -> None:
        self.anchors = anchors
        self.intermediates = list(dict.fromkeys(intermediates))  # duplicates out
        self.moment = moment
        self.eku = eku
        self.signature_checks = 0
        self.error: tuple[int, TLSFatalAlert] | None = None

    def _record(self, depth: int, error: TLSFatalAlert) -> None:
        if self.error is None or depth > self.error[0]:
            self.error = (depth, error)

    def _candidates(self, path: list[x509.Certificate]
                    ) -> list[tuple[x509.Certificate, bool]]:
        child = path[-1]
        pool = [(c, True) for c in self.anchors] + [(c, False) for c in self.intermediates]
        return [(candidate, anchor) for candidate, anchor in pool
                if candidate.subject == child.issuer and candidate not in path]

    def extend(self, path: list[x509.Certificate]) -> list[x509.Certificate] | None:
        """A path completing ``path`` (leaf first) up to an anchor, or None."""
        candidates = self._candidates(path)
        if not candidates:
            self._record(len(path), self._no_issuer(path))
        for candidate, anchor in candidates:
            if self.signature_checks >= MAX_SIGNATURE_CHECKS:  # stop, whatever is left
                _fail(BadCertificate, "path_search_limit",
                      f"gave up building a path after {MAX_SIGNATURE_CHECKS} signature checks")
            try:
                self._check_issuer(path, candidate)
            except TLSFatalAlert as exc:
                self._record(len(path), exc)
                continue
            if anchor:
                return [*path, candidate]
            if len(path) + 2 > MAX_DEPTH:  # the next issuer would not fit
                self._record(len(path), BadCertificate(
                    f"no path to a trusted CA of at most {MAX_DEPTH} certificates",
                    reason="path_too_long"))
                continue
            if found := self.extend([*path, candidate]):
                return found
        return None

    @staticmethod
    def _no_issuer(path: list[x509.Certificate]) -> TLSFatalAlert:
        child = path[-1]
        if len(path) == 1 and _self_issued(child):
            return UnknownCA(f"the certificate {describe(child)} is self-signed and not a "
                             "trusted CA", reason="self_signed")
        issuer = child.issuer.rfc4514_string()
        return UnknownCA(f"unknown issuer {issuer!r} of {describe(child)}: it is neither a "
                         "trusted CA nor in the chain sent", reason="unknown_issuer")

    def _check_issuer(self, path: list[x509.Certificate], issuer: x509.Certificate) -> None:
        child = path[-1]
        role = "CA certificate"
        check_key(issuer, role)
        try:
            digest = child.signature_hash_algorithm
        except UnsupportedAlgorithm as exc:
            _fail(UnsupportedCertificate, "unsupported_signature",
                  f"the signature algorithm of {describe(child)} is unknown: {exc}")
        if not isinstance(digest, (*_HASHES, type(None))):
            _fail(UnsupportedCertificate, "weak_signature",
                  f"{describe(child)} is signed with a forbidden hash "
                  f"{child.signature_algorithm_oid._name}")
        self.signature_checks += 1
        try:
            child.verify_directly_issued_by(issuer)
        except InvalidSignature:
            _fail(BadCertificate, "bad_signature",
                  f"the signature of {describe(child)} by {describe(issuer)} does not verify")
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            _fail(UnsupportedCertificate, "unsupported_signature",
                  f"the signature of {describe(child)} cannot be checked: {exc}")
        check_validity(issuer, self.moment, role)
        constraints = _extension(issuer, x509.BasicConstraints)
        if constraints is None or not constraints.ca:
            _fail(BadCertificate, "not_a_ca",
                  f"{describe(issuer)} issued {describe(child)} but is not a CA "
                  "(no basicConstraints CA:TRUE)")
        below = sum(1 for c in path[1:] if not _self_issued(c))
        if constraints.path_length is not None and below > constraints.path_length:
            _fail(BadCertificate, "path_length",
                  f"the CA {describe(issuer)} allows {constraints.path_length} intermediate "
                  f"CA(s) below it (pathLenConstraint), the path has {below}")
        usage = _extension(issuer, x509.KeyUsage)
        if usage is not None and not usage.key_cert_sign:
            _fail(UnsupportedCertificate, "bad_key_usage",
                  f"the CA {describe(issuer)} may not sign certificates (keyUsage)")
        _check_eku(issuer, self.eku, role)
        _check_critical(issuer, role)
        check_name_constraints(issuer, path)


# -- name constraints (RFC 5280 section 4.2.1.10) -----------------------------------


def _dns_within(name: str, constraint: str) -> bool:
    constraint = constraint.lower()
    if not constraint:
        return True
    if constraint.startswith("."):
        return name.endswith(constraint)
    return name == constraint or name.endswith("." + constraint)


def _dns_matches(name: str, constraint: str, *, excluded: bool) -> bool:
    """Whether dNSName ``name`` (maybe a wildcard) falls in the subtree ``constraint``;
    a wildcard counts as in an excluded subtree when it *may* cover a name in it."""
    name = name.lower().rstrip(".")
    if name.startswith("*."):
        base = name[2:]
        if _dns_within("x." + base, constraint):  # every name it covers is in the subtree
            return True
        # an excluded subtree one label below the wildcard's base holds a name it covers
        return excluded and constraint.lower().lstrip(".").partition(".")[2] == base
    return _dns_within(name, constraint)


def _name_matches(name: x509.GeneralName, subtree: x509.GeneralName, *, excluded: bool
                  ) -> bool | None:
    """Whether ``name`` is in ``subtree``; None when the types differ."""
    if type(name) is not type(subtree):
        return None
    if isinstance(name, x509.DNSName) and isinstance(subtree, x509.DNSName):
        return _dns_matches(name.value, subtree.value, excluded=excluded)
    if isinstance(name, x509.IPAddress) and isinstance(subtree, x509.IPAddress):
        network = subtree.value
        return isinstance(network, ipaddress.IPv4Network | ipaddress.IPv6Network) \
            and name.value in network
    if isinstance(name, x509.DirectoryName) and isinstance(subtree, x509.DirectoryName):
        prefix = list(subtree.value.rdns)
        return list(name.value.rdns)[:len(prefix)] == prefix
    return excluded  # a type we do not evaluate: fail closed


def _names(certificate: x509.Certificate) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    if certificate.subject.rdns:
        names.append(x509.DirectoryName(certificate.subject))
    san = _extension(certificate, x509.SubjectAlternativeName)
    if san is not None:
        names.extend(san)
    return names


def check_name_constraints(ca: x509.Certificate, path: Sequence[x509.Certificate]) -> None:
    """The nameConstraints of ``ca`` over ``path`` (the certificates below it, leaf
    first; self-issued intermediates are exempt)."""
    constraints = _extension(ca, x509.NameConstraints)
    if constraints is None:
        return
    permitted = constraints.permitted_subtrees or []
    excluded = constraints.excluded_subtrees or []
    for index, certificate in enumerate(path):
        if index and _self_issued(certificate):
            continue
        for name in _names(certificate):
            if any(_name_matches(name, subtree, excluded=True) for subtree in excluded):
                _violation(ca, certificate, name, "is excluded")
            verdicts = [_name_matches(name, subtree, excluded=False) for subtree in permitted]
            if any(v is not None for v in verdicts) and not any(verdicts):
                _violation(ca, certificate, name, "is not permitted")


def _violation(ca: x509.Certificate, certificate: x509.Certificate, name: x509.GeneralName,
               what: str) -> NoReturn:
    value = name.value.rfc4514_string() if isinstance(name, x509.DirectoryName) else name.value
    _fail(BadCertificate, "name_constraints",
          f"the name {str(value)!r} of the certificate {describe(certificate)} {what} by "
          f"the name constraints of the CA {describe(ca)}")


# -- the leaf -------------------------------------------------------------------------


def match_dns_name(pattern: str, host: str) -> bool:
    """Whether a dNSName (maybe ``*.`` + a name) covers the A-label host name."""
    pattern = pattern.lower().rstrip(".")
    host = host.lower()
    if pattern.startswith("*."):
        base = pattern[2:]
        label, dot, rest = host.partition(".")
        return "*" not in base and "." in base and bool(label) and bool(dot) and rest == base
    return "*" not in pattern and pattern == host


def check_name(leaf: x509.Certificate, server_name: str | IPAddress) -> None:
    """The leaf's subjectAltName must name ``server_name`` (an A-label or an IP)."""
    san = _extension(leaf, x509.SubjectAlternativeName)
    if isinstance(server_name, str):
        names = san.get_values_for_type(x509.DNSName) if san else []
        if any(match_dns_name(name, server_name) for name in names):
            return
        reason = "hostname_mismatch"
    else:
        addresses = san.get_values_for_type(x509.IPAddress) if san else []
        if server_name in addresses:
            return
        names = [str(a) for a in addresses]
        reason = "ip_mismatch"
    kind = "DNS name" if reason == "hostname_mismatch" else "IP address"
    presented = (f"certificate for {', '.join(repr(n) for n in names)}" if names
                 else f"certificate without any {kind} (subjectAltName)")
    _fail(BadCertificate, reason, f"{presented} does not match {str(server_name)!r}")


def _check_leaf(leaf: x509.Certificate, moment: datetime.datetime, eku: x509.ObjectIdentifier,
                server_name: str | IPAddress | None) -> None:
    role = "certificate"
    check_validity(leaf, moment, role)
    constraints = _extension(leaf, x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        _fail(BadCertificate, "leaf_is_ca",
              f"the end-entity certificate {describe(leaf)} is a CA certificate")
    check_key(leaf, "certificate")
    usage = _extension(leaf, x509.KeyUsage)
    if usage is not None and not usage.digital_signature:
        _fail(UnsupportedCertificate, "bad_key_usage",
              f"the certificate {describe(leaf)} may not sign (keyUsage without "
              "digitalSignature)")
    _check_eku(leaf, eku, role)
    _check_critical(leaf, role)
    if server_name is not None:
        check_name(leaf, server_name)


def build_path(anchors: Sequence[x509.Certificate], leaf: x509.Certificate,
               intermediates: Sequence[x509.Certificate], *, moment: datetime.datetime,
               eku: x509.ObjectIdentifier, server_name: str | IPAddress | None = None,
               ) -> list[x509.Certificate]:
    """The validated path from ``leaf`` to one of ``anchors``, leaf first.

    :param moment: the validation time (timezone-aware).
    :param eku: ``ExtendedKeyUsageOID.SERVER_AUTH`` or ``CLIENT_AUTH``.
    :param server_name: an IDNA A-label host name or an IP address, or None.
    :raises TLSFatalAlert: the subclass of the alert to send, ``reason`` set.
    """
    search = _PathSearch(anchors, intermediates, moment, eku)
    path = search.extend([leaf])
    if path is None:
        assert search.error is not None
        raise search.error[1]
    _check_leaf(leaf, moment, eku, server_name)
    return path
