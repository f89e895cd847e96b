"""What the adapters report about a connection, in the shapes Python's ``ssl`` uses.

Libraries written for ``ssl`` read ``transport.get_extra_info('peercert')``,
``'cipher'`` or ``'ssl_object'`` and call ``selected_alpn_protocol()`` on the
latter; these helpers give them the same shapes from a :class:`TLSConnection`.
"""

from __future__ import annotations

import _ssl
import datetime
import functools
import ipaddress
from typing import TYPE_CHECKING, Any

from siotls.core.connection import TLSConnection
from siotls.iana import CipherSuites

if TYPE_CHECKING:
    from cryptography import x509

    from siotls.core.session import TLSSession

_CIPHER_BITS: dict[int, int] = {
    CipherSuites.TLS_AES_128_GCM_SHA256: 128,
    CipherSuites.TLS_AES_256_GCM_SHA384: 256,
    CipherSuites.TLS_CHACHA20_POLY1305_SHA256: 256,
}


@functools.cache  # a handful of suites; sslproto asks cipher() once per connection
def suite_description(suite: int) -> tuple[str, str, int]:
    """A TLS 1.3 suite as ``ssl`` describes it: (name, protocol, secret bits)."""
    try:
        name = CipherSuites(suite).name
    except ValueError:
        name = f"0x{suite:04X}"
    return name, "TLSv1.3", _CIPHER_BITS.get(suite, 0)


def cipher(conn: TLSConnection) -> tuple[str, str, int] | None:
    """``ssl.SSLObject.cipher()``: (name, protocol, secret bits)."""
    suite = conn.nconfig.cipher_suite
    if suite is None or not conn.is_post_handshake():
        return None
    return suite_description(suite)


def shared_ciphers(conn: TLSConnection) -> list[tuple[str, str, int]] | None:
    """``ssl.SSLObject.shared_ciphers()``: on a server, the suites the client offered
    that we support, in our order (as Python's ``ssl`` lists them); ``None`` on a
    client or before the handshake completed."""
    if conn.config.side != "server" or not conn.is_post_handshake():
        return None
    offered = conn.nconfig.peer_cipher_suites
    return [suite_description(suite) for suite in conn.config.cipher_suites
            if suite in offered]


def version(conn: TLSConnection) -> str | None:
    """``ssl.SSLObject.version()``."""
    return "TLSv1.3" if conn.is_post_handshake() else None


def selected_alpn_protocol(conn: TLSConnection) -> str | None:
    """``ssl.SSLObject.selected_alpn_protocol()``."""
    alpn = conn.nconfig.alpn
    if alpn is None or not conn.is_post_handshake():
        return None
    return alpn.decode("ascii", "replace")


def channel_binding(conn: TLSConnection, cb_type: str = "tls-unique") -> bytes | None:
    """``ssl.SSLObject.get_channel_binding()``: TLS 1.3 has no ``tls-unique``
    (``None``); ``tls-exporter`` (RFC 9266) is given instead, once connected."""
    if cb_type == "tls-exporter":
        if not conn.is_post_handshake():
            return None
        return conn.export_keying_material(b"EXPORTER-Channel-Binding", b"", 32)
    if cb_type == "tls-unique":
        return None
    raise ValueError(f"{cb_type!r} channel binding type not implemented")


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# -- getpeercert() --------------------------------------------------------------------------
@functools.lru_cache(maxsize=256)
def _oid_name(dotted: str) -> str:
    """OpenSSL's long name for an OID, as ``getpeercert()`` spells it."""
    try:
        _, short_name, long_name, _ = _ssl.txt2obj(dotted, False)
    except ValueError:
        return dotted
    return long_name or short_name or dotted


def _x509_name(name: x509.Name) -> tuple[tuple[tuple[str, str], ...], ...]:
    return tuple(
        tuple((_oid_name(attribute.oid.dotted_string),
               attribute.value if isinstance(attribute.value, str)
               else attribute.value.decode("latin-1"))
              for attribute in rdn)
        for rdn in name.rdns)


def _asn1_time(when: datetime.datetime) -> str:
    """``ASN1_TIME_print``'s format, e.g. ``'Jun  1 12:00:00 2030 GMT'``."""
    return f"{_MONTHS[when.month - 1]} {when.day:2d} {when:%H:%M:%S} {when.year} GMT"


def _serial(number: int) -> str:
    sign = "-" if number < 0 else ""
    number = abs(number)
    return sign + number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big").hex().upper()


def _general_name(name: Any) -> tuple[str, Any]:
    from cryptography import x509  # noqa: PLC0415

    if isinstance(name, x509.DNSName):
        return "DNS", name.value
    if isinstance(name, x509.IPAddress):
        address = name.value
        if isinstance(address, ipaddress.IPv6Address):
            packed = address.packed
            return "IP Address", ":".join(
                f"{int.from_bytes(packed[i:i + 2], 'big'):X}" for i in range(0, 16, 2))
        return "IP Address", str(address)
    if isinstance(name, x509.RFC822Name):
        return "email", name.value
    if isinstance(name, x509.UniformResourceIdentifier):
        return "URI", name.value
    if isinstance(name, x509.DirectoryName):
        return "DirName", _x509_name(name.value)
    if isinstance(name, x509.RegisteredID):
        return "Registered ID", _oid_name(name.value.dotted_string)
    return "othername", "<unsupported>"


def certificate_dict(der: bytes) -> dict[str, Any]:
    """A DER certificate in the shape of :meth:`ssl.SSLSocket.getpeercert`."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.x509.oid import AuthorityInformationAccessOID  # noqa: PLC0415

    cert = x509.load_der_x509_certificate(der)
    result: dict[str, Any] = {
        "subject": _x509_name(cert.subject),
        "issuer": _x509_name(cert.issuer),
        "version": cert.version.value + 1,
        "serialNumber": _serial(cert.serial_number),
        "notBefore": _asn1_time(cert.not_valid_before_utc),
        "notAfter": _asn1_time(cert.not_valid_after_utc),
    }
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        pass
    else:
        result["subjectAltName"] = tuple(_general_name(name) for name in san)
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        pass
    else:
        for key, method in (("OCSP", AuthorityInformationAccessOID.OCSP),
                            ("caIssuers", AuthorityInformationAccessOID.CA_ISSUERS)):
            uris = tuple(d.access_location.value for d in aia if d.access_method == method
                         and isinstance(d.access_location, x509.UniformResourceIdentifier))
            if uris:
                result[key] = uris
    try:
        crl = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except (x509.ExtensionNotFound, ValueError):
        pass
    else:
        uris = tuple(name.value for point in crl for name in point.full_name or ()
                     if isinstance(name, x509.UniformResourceIdentifier))
        if uris:
            result["crlDistributionPoints"] = uris
    return result



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
    return certificate_dict(chain[0])


class SSLObjectInfo:
    """A read-only stand-in for ``ssl.SSLObject`` (``get_extra_info('ssl_object')``)."""

    def __init__(self, conn: TLSConnection, server_side: bool) -> None:
        self._conn = conn
        self.server_side = server_side
        self.server_hostname = conn.server_hostname
        self.context = conn.config

    @property
    def session(self) -> TLSSession | None:
        """The newest :class:`~siotls.TLSSession` received (clients), to resume with."""
        return self._conn.session

    @property
    def session_reused(self) -> bool:
        return self._conn.nconfig.session_resumed

    @property
    def connection(self) -> TLSConnection:
        return self._conn

    def selected_alpn_protocol(self) -> str | None:
        return selected_alpn_protocol(self._conn)

    def selected_npn_protocol(self) -> None:
        return None

    def version(self) -> str | None:
        return version(self._conn)

    def cipher(self) -> tuple[str, str, int] | None:
        return cipher(self._conn)

    def shared_ciphers(self) -> list[tuple[str, str, int]] | None:
        return shared_ciphers(self._conn)

    def compression(self) -> None:
        return None

    def getpeercert(self, binary_form: bool = False) -> dict[str, Any] | bytes | None:
        return peercert(self._conn, binary_form)

    def get_unverified_chain(self) -> list[bytes]:
        """The peer's certificates as sent, leaf first, DER."""
        return list(self._conn.nconfig.peer_certificate_chain)

    def get_verified_chain(self) -> list[bytes]:
        """The verified path, leaf first, trust anchor last, DER (empty if not verified)."""
        return list(self._conn.nconfig.peer_verified_path)

    def get_channel_binding(self, cb_type: str = "tls-unique") -> bytes | None:
        return channel_binding(self._conn, cb_type)

    def pending(self) -> int:
        return 0
