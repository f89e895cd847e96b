"""Verification of the peer's certificate chain: :func:`verify_chain`.

Theory of operation
-------------------
The peer's Certificate message gives a list of DER certificates, leaf first. We
parse them (:func:`load_certificate`), then validate along one of two paths; the
result (:class:`VerifiedPath`) says which one in ``validator``:

``'webpki'``
    ``cryptography.x509.verification``, first, always. It builds and checks a
    path from the leaf, through the other certificates (untrusted intermediates,
    in any order, extra ones ignored), to the trust store: signatures, validity,
    basicConstraints, keyUsage, EKU, name constraints, critical extensions and,
    for a server, the subjectAltName against the name we connected to. It
    applies the CA/Browser Forum flavour of RFC 5280 ("web PKI"): CAs need a
    critical basicConstraints and keyCertSign, non-root certificates an
    authorityKeyIdentifier, leaves a subjectAltName; keys that verify a
    signature must be RSA (>= 2048 bits) or NIST P-256/P-384/P-521; signatures
    RSA PKCS#1 v1.5 / PSS or ECDSA with SHA-256/384/512.
``'pathbuilder'``
    :mod:`siotls.core.pathbuilder`, our own path validation on ``cryptography``'s
    primitives, for chains the web PKI profile refuses *only* for their
    algorithms: a CA key of Ed25519, Ed448 or id-RSASSA-PSS.

When ``cryptography`` refuses a chain, all we get from it is a message, and we
never choose anything by its text. We run :func:`pathbuilder.build_path` on the
same chain instead, which re-checks the facts with primitives:

* it fails: its exception (the alert, with a stable ``reason``) is raised,
  ``cryptography``'s message appended to its text;
* it finds a path with a key type outside the web PKI (:func:`outside_webpki`):
  that is why ``cryptography`` refused, and the chain is accepted;
* it finds a path within the web PKI: ``cryptography`` refused for a rule of its
  profile that the path builder does not apply (a missing authorityKeyIdentifier
  or subjectAltName, a non-critical basicConstraints...): bad_certificate,
  reason ``webpki_policy``.

After either path, the *leaf's* key, which only signs the handshake, must be one
TLS 1.3 can use (:func:`pathbuilder.check_key`): RSA >= 2048 bits (rsaEncryption
or RSASSA-PSS), P-256/384/521, Ed25519 or Ed448.

A server's chain is checked against the ``server_name`` we connected to (an IP
literal matches iPAddress SAN entries, anything else dNSName entries). When there
is no server name, ``cryptography`` has no server verifier (a subject is
mandatory), so we use its *client* verifier, which checks the same path without a
name, with extension policies that swap its clientAuth EKU check for a serverAuth
one (:func:`_serverauth_eku`), on the leaf and on the CAs alike.

A trust store holds CAs: a self-signed end-entity certificate cannot be trusted
by putting it in the store.

Every failure is a :class:`TLSFatalAlert` subclass with a ``reason`` from
:data:`REASONS` (code -> alert).

A trust store remembers its recent successes (:mod:`siotls.core.verifycache`,
which says why that answers exactly what the validation above would): the
exact chain bytes, server name and purpose, at a moment inside the validity
periods of the path found, get that path again (a copy of the list).
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    VerificationError,
)

from siotls.core import pathbuilder, provider
from siotls.core.errors import (
    BadCertificate,
    CertificateExpired,
    CertificateRequired,
    DecodeError,
    DecryptError,
    InternalError,
    TLSFatalAlert,
    TLSUsageError,
    UnknownCA,
    UnsupportedCertificate,
)

if TYPE_CHECKING:
    from cryptography.x509.verification import Policy, Subject

    from siotls.core.verifycache import CacheKey
    from siotls.trust import TrustStore

__all__ = ["REASONS", "VerifiedPath", "load_certificate", "verify_chain",
           "verify_client_chain", "verify_server_chain"]

#: Every ``reason`` a certificate failure may carry, and the alert it comes with.
REASONS: dict[str, type[TLSFatalAlert]] = {
    "expired": CertificateExpired,  # a certificate of the path, leaf or CA
    "not_yet_valid": CertificateExpired,
    "hostname_mismatch": BadCertificate,  # no dNSName covers the server name
    "ip_mismatch": BadCertificate,  # no iPAddress entry is the server's address
    "unknown_issuer": UnknownCA,  # no trusted CA, or a missing intermediate
    "self_signed": UnknownCA,  # a self-signed end-entity certificate
    "not_a_ca": BadCertificate,  # an issuer without basicConstraints CA:TRUE
    "path_length": BadCertificate,  # a pathLenConstraint exceeded
    "path_too_long": BadCertificate,  # more than pathbuilder.MAX_DEPTH certificates
    "path_search_limit": BadCertificate,  # over pathbuilder.MAX_SIGNATURE_CHECKS
    "leaf_is_ca": BadCertificate,  # the end-entity certificate is a CA
    "bad_eku": UnsupportedCertificate,  # extendedKeyUsage without serverAuth/clientAuth
    "bad_key_usage": UnsupportedCertificate,  # keyUsage without digitalSignature/keyCertSign
    "name_constraints": BadCertificate,  # a name outside a CA's nameConstraints
    "bad_signature": BadCertificate,  # a certificate signature does not verify
    "unsupported_signature": UnsupportedCertificate,  # a signature algorithm we cannot check
    "weak_signature": UnsupportedCertificate,  # a hash other than SHA-256/384/512
    "unsupported_key": UnsupportedCertificate,  # a key type or curve TLS 1.3 cannot use
    "weak_key": UnsupportedCertificate,  # RSA under 2048 bits
    "unknown_critical_extension": BadCertificate,
    "webpki_policy": BadCertificate,  # another rule of cryptography's web PKI profile
    "malformed": BadCertificate,  # a certificate that does not parse
    "invalid_server_name": InternalError,  # ours: a server name that cannot be checked
    "bad_certificate_verify": DecryptError,  # (handshake.py) signed by another key
    "empty_chain": DecodeError,  # a server's empty Certificate message
    "no_certificate": CertificateRequired,  # a client's, when one is required
}

Validator = Literal["webpki", "pathbuilder"]
#: What ``cryptography`` raises for a certificate part that does not parse (lazily,
#: when an extension or a key is first looked at).
_MALFORMED = (ValueError, TypeError, UnsupportedAlgorithm, x509.DuplicateExtension,
              x509.UnsupportedGeneralNameType)


class VerifiedPath(list[bytes]):
    """The verified path, DER, leaf first, trust anchor last (a list of bytes).

    ``certificates`` holds the same certificates parsed, and ``validator`` says
    which path validation accepted it: ``'webpki'`` (``cryptography``'s verifier)
    or ``'pathbuilder'`` (:mod:`siotls.core.pathbuilder`, for CA keys the web PKI
    profile refuses). ``received`` is the chain as the peer sent it (DER, leaf
    first, every certificate), the very bytes objects the verification cache keeps:
    a connection that holds these, rather than its own copy, holds no more memory.
    """

    certificates: tuple[x509.Certificate, ...]
    validator: Validator
    received: tuple[bytes, ...]

    def __init__(self, certificates: Sequence[x509.Certificate], validator: Validator,
                 ders: Sequence[bytes] | None = None, received: Sequence[bytes] = ()
                 ) -> None:
        """``ders``: the DER of each certificate, when known (else encoded again)."""
        super().__init__(ders if ders is not None else
                         (c.public_bytes(serialization.Encoding.DER) for c in certificates))
        self.certificates = tuple(certificates)
        self.validator = validator
        self.received = tuple(received)

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[0]

    def copy(self) -> VerifiedPath:
        """Another list of the same (immutable) certificates."""
        clone = VerifiedPath.__new__(VerifiedPath)
        list.__init__(clone, self)
        clone.certificates = self.certificates
        clone.validator = self.validator
        clone.received = self.received
        return clone


#: Certificates of at most this many DER bytes are kept parsed, the last
#: :data:`PARSED_CACHE_SIZE` of them (a parsed certificate also keeps its public key
#: once asked: the next handshake with the same server parses neither).
MAX_PARSED_LENGTH = 16384
PARSED_CACHE_SIZE = 64


def load_certificate(der: bytes) -> x509.Certificate:
    """Parse one DER X.509 certificate (cached by its bytes: a ``cryptography``
    certificate is immutable, and parsing checks nothing that depends on more
    than the bytes).

    :raises BadCertificate: when it does not parse (reason ``malformed``).
    """
    der = bytes(der)
    try:
        if len(der) <= MAX_PARSED_LENGTH:
            return _load_cached(der)
        return x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion) as exc:
        msg = f"the certificate is not a valid DER X.509 certificate: {exc}"
        raise BadCertificate(msg, reason="malformed") from exc


#: ``load_der_x509_certificate``, remembering its last results (a failure raises anew).
_load_cached = functools.lru_cache(maxsize=PARSED_CACHE_SIZE)(x509.load_der_x509_certificate)


def _load_chain(chain: Sequence[bytes]) -> list[x509.Certificate]:
    certificates = []
    for index, der in enumerate(chain):
        try:
            certificates.append(load_certificate(der))
        except BadCertificate as exc:
            what = "leaf certificate" if index == 0 else f"certificate #{index} of the chain"
            msg = f"the {what} is not a valid DER X.509 certificate: {exc.__cause__}"
            raise BadCertificate(msg, reason="malformed") from exc.__cause__
    return certificates


def validation_time(moment: datetime.datetime | float | None) -> datetime.datetime:
    """A timezone-aware datetime: now for None, seconds since the epoch for a number,
    UTC for a naive datetime."""
    if moment is None:
        return provider.utc_datetime()
    if isinstance(moment, int | float):
        return datetime.datetime.fromtimestamp(moment, datetime.UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment


SubjectName = ipaddress.IPv4Address | ipaddress.IPv6Address | str


@functools.lru_cache(maxsize=64)
def _subject(server_name: str) -> tuple[SubjectName, Subject]:
    """An IP address, or the IDNA A-label form of a host name; and the same as a
    ``cryptography`` general name.

    Cached: a client checks the same few names again and again (names that raise
    are not cached).
    """
    name: SubjectName
    try:
        name = ipaddress.ip_address(server_name)
    except ValueError:
        name = server_name.removesuffix(".")
        if not name.isascii():
            try:
                name = name.encode("idna").decode("ascii")
            except UnicodeError as exc:
                msg = f"cannot check the certificate: invalid server name {server_name!r}"
                raise InternalError(msg, reason="invalid_server_name") from exc
        name = name.lower()
        return name, x509.DNSName(name)
    return name, x509.IPAddress(name)


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


def _webpki(truststore: TrustStore, leaf: x509.Certificate, *,
            intermediates: list[x509.Certificate], subject: Subject | None,
            purpose: Literal["server", "client"], moment: datetime.datetime,
            ) -> list[x509.Certificate]:
    """``cryptography``'s verdict: the path, or VerificationError."""
    builder = PolicyBuilder().store(truststore.store).time(moment)
    if subject is not None:
        try:
            verifier = builder.build_server_verifier(subject)
        except ValueError as exc:
            msg = f"cannot check the certificate: invalid server name: {exc}"
            raise InternalError(msg, reason="invalid_server_name") from exc
        return verifier.verify(leaf, intermediates)
    if purpose == "server":
        ca_policy, ee_policy = _serverauth_policies()
        builder = builder.extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
    return builder.build_client_verifier().verify(leaf, intermediates).chain


def _empty_chain(purpose: str) -> TLSFatalAlert:
    if purpose == "server":
        return DecodeError("the server sent an empty certificate chain", reason="empty_chain")
    return CertificateRequired("the client sent no certificate", reason="no_certificate")


def verify_chain(
    truststore: TrustStore,
    chain: Sequence[bytes],
    *,
    server_name: str | None = None,
    purpose: Literal["server", "client"] = "server",
    moment: datetime.datetime | float | None = None,
) -> VerifiedPath:
    """Validate the peer's chain; the verified path (leaf first, trust anchor last).

    :param chain: DER certificates as received, leaf first.
    :param server_name: the host name or IP literal a server's certificate must
        name; None checks no name. Only for ``purpose='server'``.
    :param purpose: whose chain it is: ``'server'`` (serverAuth) or ``'client'``
        (clientAuth).
    :param moment: the validation time: a datetime (naive means UTC), or seconds
        since the epoch; default now.
    :raises TLSFatalAlert: the subclass of the alert to send, with a ``reason``
        from :data:`REASONS`.
    """
    if purpose not in ("server", "client"):
        raise TLSUsageError(f"purpose must be 'server' or 'client', not {purpose!r}")
    if server_name is not None and purpose != "server":
        raise TLSUsageError("server_name is checked for purpose='server' only")
    if not chain:
        raise _empty_chain(purpose)
    when = validation_time(moment)
    ders = tuple(bytes(der) for der in chain)
    cache = truststore.verification_cache
    if cache is None:
        return _verify(truststore, ders, server_name, purpose, when)
    key: CacheKey = (ders, server_name, purpose)
    path = cache.get(key, when)
    if path is None:
        path = _verify(truststore, ders, server_name, purpose, when)
        cache.put(key, path, when)
    return path.copy()


def _verify(truststore: TrustStore, chain: tuple[bytes, ...], server_name: str | None,
            purpose: Literal["server", "client"], when: datetime.datetime) -> VerifiedPath:
    """:func:`verify_chain` without the cache."""
    certificates = _load_chain(chain)
    leaf, *intermediates = certificates
    subject, x509_subject = (None, None) if server_name is None else _subject(server_name)
    validator: Validator = "webpki"
    try:
        path = _webpki(truststore, leaf, intermediates=intermediates, subject=x509_subject,
                       purpose=purpose, moment=when)
    except VerificationError as exc:
        path = _second_opinion(truststore, leaf, intermediates=intermediates, subject=subject,
                               purpose=purpose, moment=when, refusal=exc)
        validator = "pathbuilder"
    except _MALFORMED as exc:  # a part of a certificate that won't parse
        msg = f"the certificate chain cannot be checked: {exc}"
        raise BadCertificate(msg, reason="malformed") from exc
    pathbuilder.check_key(leaf, "certificate")
    # The DER we have (the peer's, the trust store's) rather than encoded again:
    # the verifiers return the very objects they were given.
    received = dict(zip(map(id, certificates), chain, strict=True))
    anchors = truststore.ders_by_id
    ders = [received.get(id(c)) or anchors.get(id(c))
            or c.public_bytes(serialization.Encoding.DER) for c in path]
    return VerifiedPath(path, validator, ders, chain)


def _second_opinion(
    truststore: TrustStore, leaf: x509.Certificate, *, intermediates: list[x509.Certificate],
    subject: SubjectName | None, purpose: str, moment: datetime.datetime,
    refusal: VerificationError,
) -> list[x509.Certificate]:
    """After ``cryptography``'s refusal: the path builder's path or its error.

    ``refusal``'s text is only ever *appended* to a message: what is raised, and
    with which reason, comes from the facts the path builder checks.
    """
    eku = ExtendedKeyUsageOID.SERVER_AUTH if purpose == "server" else \
        ExtendedKeyUsageOID.CLIENT_AUTH
    try:
        path = pathbuilder.build_path(
            truststore.x509_certificates, leaf, intermediates, moment=moment, eku=eku,
            server_name=subject)
    except TLSFatalAlert as exc:
        exc.args = (f"{exc.args[0]} (cryptography: {refusal})", *exc.args[1:])
        raise exc from refusal
    except _MALFORMED as exc:
        msg = f"the certificate chain cannot be checked: {exc}"
        raise BadCertificate(msg, reason="malformed") from exc
    if pathbuilder.outside_webpki(path):
        return path
    msg = f"the chain breaks a rule of the web PKI profile: {refusal}"
    raise BadCertificate(msg, reason="webpki_policy") from refusal


def verify_server_chain(
    truststore: TrustStore,
    chain: Sequence[bytes],
    server_name: str | None,
    now: datetime.datetime | float | None = None,
) -> x509.Certificate:
    """:func:`verify_chain` for a server's chain; its leaf."""
    return verify_chain(truststore, chain, server_name=server_name, moment=now).leaf


def verify_client_chain(
    truststore: TrustStore,
    chain: Sequence[bytes],
    now: datetime.datetime | float | None = None,
) -> x509.Certificate:
    """:func:`verify_chain` for a client's chain (clientAuth); its leaf."""
    return verify_chain(truststore, chain, purpose="client", moment=now).leaf
