"""What the adapters report about a connection, in the shapes Python's ``ssl`` uses.

Libraries written for ``ssl`` read ``transport.get_extra_info('peercert')``,
``'cipher'`` or ``'ssl_object'`` and call ``selected_alpn_protocol()`` on the
latter; these helpers give them the same shapes from a :class:`TLSConnection`.
"""

from __future__ import annotations

import datetime
from typing import Any

from siotls.core.connection import TLSConnection
from siotls.iana import CipherSuites

_CIPHER_BITS = {
    CipherSuites.TLS_AES_128_GCM_SHA256: 128,
    CipherSuites.TLS_AES_256_GCM_SHA384: 256,
    CipherSuites.TLS_CHACHA20_POLY1305_SHA256: 256,
}


def cipher(conn: TLSConnection) -> tuple[str, str, int] | None:
    """``ssl.SSLObject.cipher()``: (name, protocol, secret bits)."""
    suite = conn.nconfig.cipher_suite
    if suite is None or not conn.is_post_handshake():
        return None
    return suite.name, "TLSv1.3", _CIPHER_BITS.get(suite, 0)


#: OIDs -> the attribute names ``ssl.getpeercert()`` uses (OpenSSL's long names).
_SSL_NAMES = {
    "2.5.4.3": "commonName", "2.5.4.6": "countryName", "2.5.4.7": "localityName",
    "2.5.4.8": "stateOrProvinceName", "2.5.4.10": "organizationName",
    "2.5.4.11": "organizationalUnitName", "2.5.4.5": "serialNumber",
    "0.9.2342.19200300.100.1.25": "domainComponent",
    "1.2.840.113549.1.9.1": "emailAddress", "2.5.4.9": "streetAddress",
    "2.5.4.17": "postalCode", "2.5.4.4": "surname", "2.5.4.42": "givenName",
}


def _name(name: Any) -> tuple[tuple[tuple[str, str], ...], ...]:
    return tuple(
        tuple((_SSL_NAMES.get(attr.oid.dotted_string, attr.oid.dotted_string), str(attr.value))
              for attr in rdn)
        for rdn in name.rdns)


def _ssl_time(when: datetime.datetime) -> str:
    return when.strftime("%b %d %H:%M:%S %Y GMT").replace(" 0", "  ", 1)


def peercert(conn: TLSConnection, binary_form: bool = False) -> dict[str, Any] | bytes | None:
    """``ssl.SSLObject.getpeercert()``: the peer's leaf certificate.

    Like ``ssl``, the dict form is only given for a certificate that was
    verified (``{}`` otherwise), the binary form always.
    """
    chain = conn.nconfig.peer_certificate_chain
    if not chain:
        return None
    if binary_form:
        return chain[0]
    if not conn.nconfig.peer_verified:
        return {}
    from cryptography import x509  # noqa: PLC0415

    cert = x509.load_der_x509_certificate(chain[0])
    info: dict[str, Any] = {
        "subject": _name(cert.subject),
        "issuer": _name(cert.issuer),
        "version": cert.version.value + 1,
        "serialNumber": f"{cert.serial_number:X}",
        "notBefore": _ssl_time(cert.not_valid_before_utc),
        "notAfter": _ssl_time(cert.not_valid_after_utc),
    }
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        pass
    else:
        names: list[tuple[str, str]] = []
        for entry in san:
            if isinstance(entry, x509.DNSName):
                names.append(("DNS", entry.value))
            elif isinstance(entry, x509.IPAddress):
                names.append(("IP Address", str(entry.value).upper()))
            elif isinstance(entry, x509.RFC822Name):
                names.append(("email", entry.value))
            elif isinstance(entry, x509.UniformResourceIdentifier):
                names.append(("URI", entry.value))
        info["subjectAltName"] = tuple(names)
    return info


class SSLObjectInfo:
    """A read-only stand-in for ``ssl.SSLObject`` (``get_extra_info('ssl_object')``)."""

    def __init__(self, conn: TLSConnection, server_side: bool) -> None:
        self._conn = conn
        self.server_side = server_side
        self.server_hostname = conn.server_hostname
        self.context = conn.config
        self.session = None
        self.session_reused = False

    @property
    def connection(self) -> TLSConnection:
        return self._conn

    def selected_alpn_protocol(self) -> str | None:
        alpn = self._conn.nconfig.alpn
        return alpn.decode("ascii", "replace") if alpn is not None else None

    def selected_npn_protocol(self) -> None:
        return None

    def version(self) -> str | None:
        return "TLSv1.3" if self._conn.is_post_handshake() else None

    def cipher(self) -> tuple[str, str, int] | None:
        return cipher(self._conn)

    def shared_ciphers(self) -> list[tuple[str, str, int]] | None:
        c = cipher(self._conn)
        return [c] if c is not None else None

    def compression(self) -> None:
        return None

    def getpeercert(self, binary_form: bool = False) -> dict[str, Any] | bytes | None:
        return peercert(self._conn, binary_form)

    def get_channel_binding(self, cb_type: str = "tls-unique") -> bytes | None:
        """TLS 1.3 has no tls-unique; 'tls-exporter' (RFC 9266) is given instead."""
        if cb_type == "tls-exporter":
            return self._conn.export_keying_material(b"EXPORTER-Channel-Binding", b"", 32)
        if cb_type == "tls-unique":
            return None
        raise ValueError(f"{cb_type!r} channel binding type not implemented")

    def pending(self) -> int:
        return 0
