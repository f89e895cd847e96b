"""OCSP responses for tests, built with ``cryptography``'s OCSPResponseBuilder.

Helpers (this is not a test module)::

    der = ocsp_response(leaf)                       # good, signed by the leaf's issuer
    der = ocsp_response(leaf, status="revoked")
    der = ocsp_response(leaf, responder=delegated_responder(leaf.ca))
"""

from __future__ import annotations

import datetime
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from certs import CA, Leaf, _signature_hash, generate_key, make_name, utcnow

STATUSES = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED,
            "unknown": ocsp.OCSPCertStatus.UNKNOWN}


def issuer_of(leaf: Leaf) -> CA:
    """The CA that issued ``leaf`` (its intermediate when it has one)."""
    ca = leaf.ca
    for intermediate in _all_intermediates(ca):
        if intermediate.cert.subject == leaf.cert.issuer:
            return intermediate
    return ca


def _all_intermediates(ca: CA) -> list[CA]:
    found = []
    for child in ca._intermediates.values():
        found += [child, *_all_intermediates(child)]
    return found


def delegated_responder(issuer: CA, *, ocsp_signing: bool = True) -> tuple[x509.Certificate, Any]:
    """A responder certificate issued by ``issuer`` (with id-kp-OCSPSigning), and its key."""
    key = generate_key("ecdsa-p256")
    now = utcnow()
    builder = issuer.builder(make_name("siotls test OCSP responder"), key.public_key(),
                             now - datetime.timedelta(days=1), now + datetime.timedelta(days=30))
    usage = ExtendedKeyUsageOID.OCSP_SIGNING if ocsp_signing else ExtendedKeyUsageOID.CLIENT_AUTH
    cert = (builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(issuer.key, _signature_hash(issuer.key)))
    return cert, key


def ocsp_response(
    leaf: Leaf, *, status: Literal["good", "revoked", "unknown"] = "good",
    issuer: CA | None = None, responder: tuple[x509.Certificate, Any] | None = None,
    this_update: datetime.datetime | None = None, next_update: datetime.datetime | None = None,
    about: x509.Certificate | None = None, by_key: bool = False,
) -> bytes:
    """A DER OCSP response about ``leaf`` (or ``about``), signed by its issuer by default.

    :param responder: ``(certificate, key)`` that signs instead; the certificate is
        shipped in the response unless it is the issuer's.
    """
    issuer = issuer or issuer_of(leaf)
    now = utcnow()
    signer_cert, signer_key = responder or (issuer.cert, issuer.key)
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=about or leaf.cert, issuer=issuer.cert, algorithm=hashes.SHA1(),
        cert_status=STATUSES[status],
        this_update=this_update or now - datetime.timedelta(hours=1),
        next_update=next_update or now + datetime.timedelta(days=1),
        revocation_time=now - datetime.timedelta(days=1) if status == "revoked" else None,
        revocation_reason=x509.ReasonFlags.key_compromise if status == "revoked" else None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH if by_key else ocsp.OCSPResponderEncoding.NAME,
                   signer_cert)
    if signer_cert != issuer.cert:
        builder = builder.certificates([signer_cert])
    response = builder.sign(signer_key, _signature_hash(signer_key))
    return response.public_bytes(serialization.Encoding.DER)


def unsuccessful_response() -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(
        ocsp.OCSPResponseStatus.TRY_LATER).public_bytes(serialization.Encoding.DER)
