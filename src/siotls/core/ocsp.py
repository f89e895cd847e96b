"""OCSP stapling: the status_request extension and the check of a stapled response
(RFC 8446 section 4.4.2.1, RFC 6066 section 8, RFC 6960).

Theory of operation
-------------------
A client configured with ``ocsp`` other than ``'off'`` puts a status_request
(type ocsp, no responder ids, no request extensions) in its ClientHello. A
server that has an OCSP response for the chain it chose (the chain's
``ocsp_response``, DER, as an OCSP responder returned it) staples it in the
extensions of the leaf's CertificateEntry, as a CertificateStatus; it never
staples anything for a client that did not ask.

The client keeps the stapled response (``nconfig.peer_ocsp_response``) and the
leaf's status in it (``nconfig.peer_ocsp_status``: good, revoked or unknown;
``None`` without a response or when it names another certificate). With
``ocsp='check'`` or ``'require'``, :func:`check_response` then validates it
against the leaf and its issuer (the next certificate of the verified path):

1. the response is ``successful`` and holds a SingleResponse for the leaf
   (serial number, issuer name hash and issuer key hash);
2. it is signed by the issuer itself, or by a *delegated responder*: a
   certificate shipped in the response, issued (and signed) by the issuer, with
   the id-kp-OCSPSigning extended key usage, valid now (RFC 6960 section 4.2.2.2);
3. thisUpdate is not in the future and nextUpdate, when present, not in the
   past, by the configuration's clock, with :data:`CLOCK_SKEW` of tolerance;
4. the status is good.

Any failure is a ``bad_certificate_status_response`` alert
(:class:`~siotls.core.errors.BadCertificateStatusResponse`) with one of the
reason codes of :data:`REASONS`. ``'require'`` also fails when the server
staples nothing (``no_ocsp_response``); ``'check'`` accepts that (soft fail,
as browsers do). ``cryptography.x509.ocsp`` parses everything and its
primitives verify the signatures.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

from siotls.core.codec import Reader, Writer
from siotls.core.errors import BadCertificateStatusResponse, IllegalParameter

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["CLOCK_SKEW", "REASONS", "OCSPStatus", "check_response", "decode_certificate_status",
           "decode_status_request", "encode_certificate_status", "encode_status_request",
           "leaf_status"]

OCSPStatus = Literal["good", "revoked", "unknown"]
#: CertificateStatusType ocsp (RFC 6066 section 8).
STATUS_TYPE_OCSP = 1
#: How far thisUpdate may be in the future and nextUpdate in the past.
CLOCK_SKEW = datetime.timedelta(minutes=5)
#: The reason codes of :class:`~siotls.core.errors.BadCertificateStatusResponse`.
REASONS = ("no_ocsp_response", "ocsp_malformed", "ocsp_unsuccessful", "ocsp_wrong_certificate",
           "ocsp_unauthorized_responder", "ocsp_bad_signature", "ocsp_not_yet_valid",
           "ocsp_expired", "ocsp_revoked", "ocsp_unknown")


# -- the extensions (RFC 6066 section 8) ---------------------------------------------
#
#   struct {
#       CertificateStatusType status_type;
#       select (status_type) {
#           case ocsp: OCSPStatusRequest;
#       } request;
#   } CertificateStatusRequest;
#   enum { ocsp(1), (255) } CertificateStatusType;
#   struct {
#       ResponderID responder_id_list<0..2^16-1>;
#       Extensions  request_extensions;
#   } OCSPStatusRequest;
#   opaque ResponderID<1..2^16-1>;
#   opaque Extensions<0..2^16-1>;
#
#   struct {
#       CertificateStatusType status_type;
#       select (status_type) {
#           case ocsp: OCSPResponse;
#       } response;
#   } CertificateStatus;
#   opaque OCSPResponse<1..2^24-1>;


def encode_status_request() -> bytes:
    """A ClientHello's status_request: ocsp, any responder, no request extensions."""
    w = Writer()
    w.u8(STATUS_TYPE_OCSP)
    w.opaque(2, b"")
    w.opaque(2, b"")
    return w.getvalue()


def decode_status_request(data: bytes) -> bool:
    """Whether a ClientHello's status_request asks for OCSP (DecodeError when malformed)."""
    r = Reader(data)
    if r.u8() != STATUS_TYPE_OCSP:
        return False  # another status type: not ours to answer (RFC 6066 section 8)
    with r.block(2):
        while not r.at_end():
            r.opaque(2, minimum=1)
    r.opaque(2)
    r.expect_end("status_request extension")
    return True


def encode_certificate_status(response: bytes) -> bytes:
    w = Writer()
    w.u8(STATUS_TYPE_OCSP)
    w.opaque(3, response)
    return w.getvalue()


def decode_certificate_status(data: bytes) -> bytes:
    """The DER OCSPResponse of a CertificateEntry's status_request."""
    r = Reader(data)
    if r.u8() != STATUS_TYPE_OCSP:
        raise IllegalParameter("a CertificateStatus of a type other than ocsp")
    response = r.opaque(3, minimum=1)
    r.expect_end("CertificateStatus")
    return bytes(response)


# -- the response (RFC 6960) ----------------------------------------------------------

def _fail(message: str, reason: str) -> BadCertificateStatusResponse:
    return BadCertificateStatusResponse(message, reason=reason)


def _load(response: bytes) -> ocsp.OCSPResponse:
    try:
        return ocsp.load_der_ocsp_response(response)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _fail(f"the stapled OCSP response does not parse: {exc}", "ocsp_malformed") from exc


def _single_response(parsed: ocsp.OCSPResponse, leaf: x509.Certificate,
                     issuer: x509.Certificate) -> ocsp.OCSPSingleResponse | None:
    """The SingleResponse about ``leaf`` (CertID per RFC 6960 section 4.1.1)."""
    for single in parsed.responses:
        if single.serial_number != leaf.serial_number:
            continue
        # cryptography hashes the issuer's name and key the way a CertID does.
        cert_id = ocsp.OCSPRequestBuilder().add_certificate(
            leaf, issuer, single.hash_algorithm).build()
        if (single.issuer_name_hash == cert_id.issuer_name_hash
                and single.issuer_key_hash == cert_id.issuer_key_hash):
            return single
    return None


def leaf_status(response: bytes, leaf: x509.Certificate, issuer: x509.Certificate
                ) -> OCSPStatus | None:
    """What an (unchecked) response says about ``leaf``; None when it says nothing."""
    try:
        parsed = ocsp.load_der_ocsp_response(response)
        if parsed.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            return None
        single = _single_response(parsed, leaf, issuer)
    except (ValueError, UnsupportedAlgorithm):
        return None
    if single is None:
        return None
    return _STATUS[single.certificate_status]


_STATUS: dict[ocsp.OCSPCertStatus, OCSPStatus] = {
    ocsp.OCSPCertStatus.GOOD: "good",
    ocsp.OCSPCertStatus.REVOKED: "revoked",
    ocsp.OCSPCertStatus.UNKNOWN: "unknown",
}


def _is_responder_id(parsed: ocsp.OCSPResponse, certificate: x509.Certificate) -> bool:
    if parsed.responder_name is not None:
        return parsed.responder_name == certificate.subject
    # byKey: SHA-1 of the subjectPublicKey BIT STRING, the same as a method-1 SKI.
    key_hash = x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest
    return parsed.responder_key_hash == key_hash


def _responder(parsed: ocsp.OCSPResponse, issuer: x509.Certificate,
               moment: datetime.datetime) -> x509.Certificate:
    """The certificate whose key signed the response, when authorized (RFC 6960 4.2.2.2)."""
    if _is_responder_id(parsed, issuer):
        return issuer
    for candidate in parsed.certificates:
        if not _is_responder_id(parsed, candidate):
            continue
        try:
            candidate.verify_directly_issued_by(issuer)
            eku = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm,
                x509.ExtensionNotFound):
            continue
        valid = candidate.not_valid_before_utc <= moment <= candidate.not_valid_after_utc
        if ExtendedKeyUsageOID.OCSP_SIGNING in eku and valid:
            return candidate
    raise _fail("the OCSP response is signed neither by the certificate's issuer nor by "
                "a responder it authorized (id-kp-OCSPSigning)", "ocsp_unauthorized_responder")


def _verify_signature(parsed: ocsp.OCSPResponse, signer: x509.Certificate) -> None:
    key = signer.public_key()
    data, signature = parsed.tbs_response_bytes, parsed.signature
    algorithm = parsed.signature_hash_algorithm
    try:
        if isinstance(key, rsa.RSAPublicKey) and isinstance(algorithm, hashes.HashAlgorithm):
            pad: padding.AsymmetricPadding = padding.PKCS1v15()
            if parsed.signature_algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS:
                pad = padding.PSS(padding.MGF1(algorithm), padding.PSS.AUTO)
            key.verify(signature, data, pad, algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(
                algorithm, hashes.HashAlgorithm):
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        else:
            raise InvalidSignature(f"{type(key).__name__} with {algorithm}")
    except (InvalidSignature, ValueError, UnsupportedAlgorithm) as exc:
        raise _fail("the OCSP response's signature does not verify",
                    "ocsp_bad_signature") from exc


def check_response(response: bytes, path: Sequence[x509.Certificate],
                   moment: datetime.datetime) -> OCSPStatus:
    """Validate a stapled response for ``path[0]`` (see the module doc); ``'good'``.

    :param path: the verified path, leaf first: ``path[1]`` issued the leaf (the
        leaf itself when it is its own trust anchor).
    :raises BadCertificateStatusResponse: with one of :data:`REASONS`.
    """
    leaf = path[0]
    issuer = path[1] if len(path) > 1 else leaf
    parsed = _load(response)
    if parsed.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise _fail(f"the OCSP responder answered {parsed.response_status.name.lower()}",
                    "ocsp_unsuccessful")
    try:
        single = _single_response(parsed, leaf, issuer)
        _verify_signature(parsed, _responder(parsed, issuer, moment))
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _fail(f"the stapled OCSP response is malformed: {exc}", "ocsp_malformed") from exc
    if single is None:
        raise _fail("the OCSP response is not about the server's certificate",
                    "ocsp_wrong_certificate")
    if single.this_update_utc > moment + CLOCK_SKEW:
        when = single.this_update_utc
        raise _fail(f"the OCSP response is from the future ({when:%Y-%m-%d %H:%M:%S} UTC)",
                    "ocsp_not_yet_valid")
    next_update = single.next_update_utc
    if next_update is not None and next_update < moment - CLOCK_SKEW:
        raise _fail(f"the OCSP response expired on {next_update:%Y-%m-%d %H:%M:%S} UTC",
                    "ocsp_expired")
    status = _STATUS[single.certificate_status]
    if status == "revoked":
        revoked = single.revocation_time_utc
        raise _fail(f"the server's certificate was revoked"
                    f"{f' on {revoked:%Y-%m-%d}' if revoked else ''}", "ocsp_revoked")
    if status == "unknown":
        raise _fail("the OCSP responder does not know the server's certificate", "ocsp_unknown")
    return status

