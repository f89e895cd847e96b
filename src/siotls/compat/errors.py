"""siotls errors as the exceptions Python's ``ssl`` raises.

Callers written for ``ssl`` tell failures apart by class
(:class:`ssl.SSLWantReadError`, :class:`ssl.SSLEOFError`...), by ``errno``
(``ssl.SSL_ERROR_*``), by ``reason`` (OpenSSL's reason name, e.g.
``'TLSV1_ALERT_UNKNOWN_CA'``) and, for a refused certificate, by ``verify_code``
(OpenSSL's ``X509_V_ERR_*`` number). :func:`translate` builds those from a siotls
error by its class and its :attr:`~siotls.core.errors.TLSFatalAlert.reason` code,
never from its message text:

=====================================  ==========================================
siotls                                 ``ssl``
=====================================  ==========================================
:class:`TLSPeerAlert`                  ``SSLError``, reason ``<PREFIX>_ALERT_<NAME>``
certificate alerts (bad_certificate,   ``SSLCertVerificationError``, reason
unknown_ca, certificate_expired...)    ``CERTIFICATE_VERIFY_FAILED``, ``verify_code``
                                       from ``exc.reason`` (:data:`VERIFY_CODES`),
                                       else from the class
certificate_required                   ``SSLError`` ``PEER_DID_NOT_RETURN_A_CERTIFICATE``
any other :class:`TLSFatalAlert`       ``SSLError``, reason: the alert's name
:class:`RaggedEOF`                     ``SSLEOFError`` ``UNEXPECTED_EOF_WHILE_READING``
:class:`TLSConnectionFailed`           ``SSLSyscallError``
=====================================  ==========================================

The siotls exception is chained as ``__cause__`` by the callers.
"""

from __future__ import annotations

import ssl
from typing import Any

from siotls.core.config import is_ip_address
from siotls.core.errors import (
    BadCertificate,
    CertificateExpired,
    CertificateRequired,
    CertificateRevoked,
    CertificateUnknown,
    TLSConnectionFailed,
    TLSError,
    TLSFatalAlert,
    TLSPeerAlert,
    UnknownCA,
    UnsupportedCertificate,
)
from siotls.iana import AlertDescription

#: Alerts OpenSSL names SSLV3_ALERT_* and TLSV13_ALERT_* (the others are TLSV1_ALERT_*).
_SSLV3_ALERTS = frozenset((10, 20, 30, 40, 41, 42, 43, 44, 45, 46, 47))
_TLSV13_ALERTS = frozenset((109, 116))
CERTIFICATE_ERRORS = (BadCertificate, CertificateExpired, CertificateRevoked,
                      CertificateUnknown, UnknownCA, UnsupportedCertificate)

#: ``TLSFatalAlert.reason`` -> OpenSSL's X509_V_ERR code and its message.
VERIFY_CODES: dict[str, tuple[int, str]] = {
    "bad_signature": (7, "certificate signature failure"),
    "not_yet_valid": (9, "certificate is not yet valid"),
    "expired": (10, "certificate has expired"),
    "self_signed": (18, "self-signed certificate"),
    "unknown_issuer": (20, "unable to get local issuer certificate"),
    "revoked": (23, "certificate revoked"),
    "not_a_ca": (24, "invalid CA certificate"),
    "path_length": (25, "path length constraint exceeded"),
    "bad_eku": (26, "unsupported certificate purpose"),
    "name_constraints": (47, "permitted subtree violation"),
    "weak_key": (66, "EE certificate key too weak"),
}
#: Without a reason code: the alert's class alone.
_CLASS_CODES: tuple[tuple[type[TLSFatalAlert], str], ...] = (
    (UnknownCA, "unknown_issuer"),
    (CertificateExpired, "expired"),
    (CertificateRevoked, "revoked"),
)
X509_V_ERR_UNSPECIFIED = 1
X509_V_ERR_HOSTNAME_MISMATCH = 62
X509_V_ERR_IP_ADDRESS_MISMATCH = 64


def ssl_error(cls: type[ssl.SSLError], errno: int, message: str,
              reason: str | None = None, library: str | None = None) -> Any:  # the cls
    """An ``ssl`` exception shaped like the ones ``_ssl.c`` raises."""
    error = cls(errno, message)
    error.reason = reason  # type: ignore[assignment]  # None when OpenSSL has none
    error.library = library  # type: ignore[assignment]
    return error


#: The message of want_read()'s error (SSLObject's fast paths build it themselves).
WANT_READ = "The operation did not complete (read) (siotls)"


def want_read() -> ssl.SSLWantReadError:
    # ssl_error() inlined; inlined in turn in SSLObject.do_handshake() and read()'s
    # fast path (sslproto gets one per handshake flight and per received chunk)
    error = ssl.SSLWantReadError(ssl.SSL_ERROR_WANT_READ, WANT_READ)
    error.reason = None  # type: ignore[assignment]
    error.library = None  # type: ignore[assignment]
    return error


def want_write() -> ssl.SSLWantWriteError:
    error: ssl.SSLWantWriteError = ssl_error(
        ssl.SSLWantWriteError, ssl.SSL_ERROR_WANT_WRITE,
        "The operation did not complete (write) (siotls)")
    return error


def eof_error() -> ssl.SSLEOFError:
    error: ssl.SSLEOFError = ssl_error(
        ssl.SSLEOFError, ssl.SSL_ERROR_EOF,
        "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol (siotls)",
        "UNEXPECTED_EOF_WHILE_READING", "SSL")
    return error


def zero_return() -> ssl.SSLZeroReturnError:
    error: ssl.SSLZeroReturnError = ssl_error(
        ssl.SSLZeroReturnError, ssl.SSL_ERROR_ZERO_RETURN,
        "TLS/SSL connection has been closed (EOF) (siotls)")
    return error


def failed_earlier() -> ssl.SSLSyscallError:
    error: ssl.SSLSyscallError = ssl_error(
        ssl.SSLSyscallError, ssl.SSL_ERROR_SYSCALL,
        "Some I/O error occurred (siotls: the connection failed earlier)")
    return error


def protocol_error(reason: str, text: str) -> ssl.SSLError:
    error: ssl.SSLError = ssl_error(
        ssl.SSLError, ssl.SSL_ERROR_SSL, f"[SSL: {reason}] {text} (siotls)", reason, "SSL")
    return error


def alert_reason(description: int) -> tuple[str, str]:
    """OpenSSL's reason code and text for a received alert."""
    try:
        name = AlertDescription(description).name
    except ValueError:
        return f"TLS_ALERT_{description}", f"tls alert {description}"
    name = name.replace("USER_CANCELED", "USER_CANCELLED")
    prefix = ("SSLV3" if description in _SSLV3_ALERTS
              else "TLSV13" if description in _TLSV13_ALERTS else "TLSV1")
    return f"{prefix}_ALERT_{name}", f"{prefix} alert {name.replace('_', ' ')}".lower()


def verify_details(exc: TLSFatalAlert, server_hostname: str | None) -> tuple[int, str]:
    """OpenSSL's X509_V_ERR code and message for a refused certificate.

    Chosen by ``exc.reason`` when it has one, else by the class of ``exc``.
    Host name mismatches read as Python's ``ssl`` words them.
    """
    reason = exc.reason
    if reason in ("hostname_mismatch", "ip_mismatch"):
        if server_hostname is not None and is_ip_address(server_hostname):
            return (X509_V_ERR_IP_ADDRESS_MISMATCH,
                    f"IP address mismatch, certificate is not valid for {server_hostname!r}.")
        return (X509_V_ERR_HOSTNAME_MISMATCH,
                f"Hostname mismatch, certificate is not valid for {server_hostname!r}.")
    if reason is None:
        reason = next((code for cls, code in _CLASS_CODES if isinstance(exc, cls)), None)
    if reason in VERIFY_CODES:
        return VERIFY_CODES[reason]
    return X509_V_ERR_UNSPECIFIED, str(exc)


def translate(exc: TLSError, server_hostname: str | None) -> ssl.SSLError:
    """The ``ssl`` exception for a siotls error (:class:`RaggedEOF` is the caller's)."""
    if isinstance(exc, TLSPeerAlert):
        reason, text = alert_reason(exc.description)
        return protocol_error(reason, text)
    if isinstance(exc, CERTIFICATE_ERRORS):
        code, message = verify_details(exc, server_hostname)
        error: ssl.SSLCertVerificationError = ssl_error(
            ssl.SSLCertVerificationError, ssl.SSL_ERROR_SSL,
            f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message} "
            f"(siotls: {exc})", "CERTIFICATE_VERIFY_FAILED", "SSL")
        error.verify_code = code
        error.verify_message = message
        return error
    if isinstance(exc, CertificateRequired):
        return protocol_error("PEER_DID_NOT_RETURN_A_CERTIFICATE",
                              f"peer did not return a certificate: {exc}")
    if isinstance(exc, TLSFatalAlert):
        return protocol_error(exc.description.name, str(exc))
    if isinstance(exc, TLSConnectionFailed):
        failed: ssl.SSLSyscallError = ssl_error(
            ssl.SSLSyscallError, ssl.SSL_ERROR_SYSCALL,
            f"Some I/O error occurred (siotls: {exc})")
        return failed
    return protocol_error("SIOTLS_ERROR", f"{type(exc).__name__}: {exc}")
