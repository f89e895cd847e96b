"""Exceptions raised by the engine.

Three families, after h11's local/remote split:

* :class:`TLSUsageError`: the caller misused the API (wrong state, bad argument).
  Nothing was queued for the peer and the connection is unchanged.
* :class:`TLSFatalAlert` and one subclass per RFC 8446 alert description: the
  *peer* (or our own configuration, during negotiation) broke the protocol. The
  alert named by ``description`` has been queued for the peer (flush
  ``data_to_send()``), the connection is failed, and every later call raises
  :class:`TLSConnectionFailed`.
* :class:`TLSPeerAlert`: the peer sent us a fatal alert. Nothing is queued.

:class:`RaggedEOF` says that the transport ended without a ``close_notify``:
what was received so far can still be read, but it may be truncated.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ALERT_ERRORS", "AccessDenied", "BadCertificate", "BadCertificateStatusResponse",
    "BadRecordMac", "CertificateExpired",
    "CertificateRequired", "CertificateRevoked", "CertificateUnknown", "DecodeError",
    "DecryptError", "HandshakeFailure", "IllegalParameter", "InappropriateFallback",
    "InsufficientSecurity", "InternalError", "MissingExtension", "NoApplicationProtocol",
    "ProtocolVersion", "RaggedEOF", "RecordOverflow", "TLSConnectionFailed", "TLSError",
    "TLSFatalAlert", "TLSPeerAlert", "TLSUsageError", "UnexpectedMessage", "UnknownCA",
    "UnknownPSKIdentity", "UnrecognizedName", "UnsupportedCertificate", "UnsupportedExtension",
]

from siotls.iana import AlertDescription


class TLSError(Exception):
    """Base class of every error raised by siotls."""


class TLSUsageError(TLSError):
    """The API was called in a way or at a time it does not allow; nothing was sent."""


class TLSConnectionFailed(TLSUsageError):
    """The connection failed earlier (see ``__cause__``) and cannot be used any more."""


class RaggedEOF(TLSError):
    """The transport was closed without a close_notify alert: the data may be truncated.

    The data already received stays available through ``data_to_read()``.
    """


class TLSPeerAlert(TLSError):
    """The peer sent a fatal alert (or an unexpected warning alert)."""

    def __init__(self, description: AlertDescription | int) -> None:
        try:
            description = AlertDescription(description)
            name = description.name.lower()
        except ValueError:
            name = f"unknown alert {description}"
        super().__init__(f"the peer sent a fatal alert: {name}")
        self.description = description


class TLSFatalAlert(TLSError):
    """We detected an error; the alert ``description`` is queued for the peer.

    ``reason`` is a stable, machine-readable code for the cause where one is
    known (certificate failures: ``'expired'``, ``'not_yet_valid'``,
    ``'hostname_mismatch'``, ``'unknown_issuer'``, ``'not_a_ca'``, ``'bad_eku'``,
    ``'bad_signature'``, ``'self_signed'``, ...), else ``None``. Code that needs
    to tell causes apart reads ``reason``, never the message text.
    """

    description: ClassVar[AlertDescription] = AlertDescription.INTERNAL_ERROR

    def __init__(self, *args: object, reason: str | None = None) -> None:
        super().__init__(*args)
        self.reason = reason

    def __str__(self) -> str:
        message = super().__str__()
        name = self.description.name.lower()
        return f"{name}: {message}" if message else name


class UnexpectedMessage(TLSFatalAlert):
    description = AlertDescription.UNEXPECTED_MESSAGE


class BadRecordMac(TLSFatalAlert):
    description = AlertDescription.BAD_RECORD_MAC


class RecordOverflow(TLSFatalAlert):
    description = AlertDescription.RECORD_OVERFLOW


class HandshakeFailure(TLSFatalAlert):
    description = AlertDescription.HANDSHAKE_FAILURE


class BadCertificate(TLSFatalAlert):
    description = AlertDescription.BAD_CERTIFICATE


class UnsupportedCertificate(TLSFatalAlert):
    description = AlertDescription.UNSUPPORTED_CERTIFICATE


class CertificateRevoked(TLSFatalAlert):
    description = AlertDescription.CERTIFICATE_REVOKED


class CertificateExpired(TLSFatalAlert):
    description = AlertDescription.CERTIFICATE_EXPIRED


class CertificateUnknown(TLSFatalAlert):
    description = AlertDescription.CERTIFICATE_UNKNOWN


class IllegalParameter(TLSFatalAlert):
    description = AlertDescription.ILLEGAL_PARAMETER


class UnknownCA(TLSFatalAlert):
    description = AlertDescription.UNKNOWN_CA


class AccessDenied(TLSFatalAlert):
    description = AlertDescription.ACCESS_DENIED


class DecodeError(TLSFatalAlert):
    description = AlertDescription.DECODE_ERROR


class DecryptError(TLSFatalAlert):
    description = AlertDescription.DECRYPT_ERROR


class ProtocolVersion(TLSFatalAlert):
    description = AlertDescription.PROTOCOL_VERSION


class InsufficientSecurity(TLSFatalAlert):
    description = AlertDescription.INSUFFICIENT_SECURITY


class InternalError(TLSFatalAlert):
    description = AlertDescription.INTERNAL_ERROR


class InappropriateFallback(TLSFatalAlert):
    description = AlertDescription.INAPPROPRIATE_FALLBACK


class MissingExtension(TLSFatalAlert):
    description = AlertDescription.MISSING_EXTENSION


class UnsupportedExtension(TLSFatalAlert):
    description = AlertDescription.UNSUPPORTED_EXTENSION


class UnrecognizedName(TLSFatalAlert):
    description = AlertDescription.UNRECOGNIZED_NAME


class UnknownPSKIdentity(TLSFatalAlert):
    description = AlertDescription.UNKNOWN_PSK_IDENTITY


class CertificateRequired(TLSFatalAlert):
    description = AlertDescription.CERTIFICATE_REQUIRED


class BadCertificateStatusResponse(TLSFatalAlert):
    description = AlertDescription.BAD_CERTIFICATE_STATUS_RESPONSE


class NoApplicationProtocol(TLSFatalAlert):
    description = AlertDescription.NO_APPLICATION_PROTOCOL


#: description -> exception class, for code that holds a description.
ALERT_ERRORS: dict[AlertDescription, type[TLSFatalAlert]] = {
    cls.description: cls
    for cls in (
        UnexpectedMessage, BadRecordMac, RecordOverflow, HandshakeFailure, BadCertificate,
        UnsupportedCertificate, CertificateRevoked, CertificateExpired, CertificateUnknown,
        IllegalParameter, UnknownCA, AccessDenied, DecodeError, DecryptError, ProtocolVersion,
        InsufficientSecurity, InternalError, InappropriateFallback, MissingExtension,
        UnsupportedExtension, UnrecognizedName, BadCertificateStatusResponse, UnknownPSKIdentity,
        CertificateRequired, NoApplicationProtocol,
    )
}
