"""Raw public keys (RFC 7250): authenticating with a bare SubjectPublicKeyInfo.

Theory of operation
-------------------
Two extensions negotiate, separately, what the server and the client
authenticate with: X.509 certificates (the default) or raw public keys.

* ``send_raw_public_key=True``: we may authenticate with our default key as a
  raw public key (then ``private_key`` needs no ``certificate_chain``).
* ``peer_public_keys=[spki, ...]``: we accept a peer that authenticates with
  one of these keys (DER SubjectPublicKeyInfo), raw.

A client lists, in server_certificate_type, RawPublicKey when it has
``peer_public_keys`` (then X509 when it has a truststore too), and in
client_certificate_type, RawPublicKey when ``send_raw_public_key`` (then X509
when it has a certificate chain). The server picks the first of its own
preference (RawPublicKey first when allowed, then X509) that the client
listed, and echoes its choice in EncryptedExtensions; client_certificate_type
only when it asks for a client certificate. Nothing in common is
``unsupported_certificate``. Without the extension, it is X509 (RFC 7250
section 4.2).

A raw public key travels as the only CertificateEntry of the Certificate
message, its data the DER SubjectPublicKeyInfo (RFC 8446 section 4.4.2). The
receiver accepts it when it is byte for byte one of its ``peer_public_keys``
(after both were normalized by ``cryptography``), else ``certificate_unknown``
with reason ``untrusted_public_key``; the CertificateVerify is then checked
against that key as usual. ``nconfig.peer_certificate_type`` says what the peer
sent, ``nconfig.peer_public_key`` holds its SubjectPublicKeyInfo (for either type).

    enum { X509(0), RawPublicKey(2), (255) } CertificateType;

    struct {
        select(ClientOrServerExtension) {
            case client:
              CertificateType client_certificate_types<1..2^8-1>;
            case server:
              CertificateType client_certificate_type;
        }
    } ClientCertTypeExtension;

    (ServerCertTypeExtension is the same, with server_certificate_type(s).)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from siotls.core import crypto
from siotls.core.codec import Reader, Writer
from siotls.core.errors import CertificateUnknown, IllegalParameter, UnsupportedCertificate
from siotls.iana import CertificateType as CT
from siotls.iana import ExtensionType as ET

if TYPE_CHECKING:
    from siotls.core.config import TLSConfiguration

__all__ = ["CertificateTypeName", "accept_public_key", "client_check", "client_offer",
           "decode_type",
           "decode_types", "encode_type", "encode_types", "key_credentials", "normalize_spki",
           "raw_key_scheme", "server_choice", "spki_of"]

CertificateTypeName = Literal["x509", "raw_public_key"]
NAMES: dict[int, CertificateTypeName] = {CT.X509: "x509", CT.RAW_PUBLIC_KEY: "raw_public_key"}


# -- codecs ------------------------------------------------------------------------

def encode_types(types: Sequence[int]) -> bytes:
    w = Writer()
    with w.block(1):
        for value in types:
            w.u8(value)
    return w.getvalue()


def decode_types(data: bytes, what: str) -> list[int]:
    """A ClientHello's list (DecodeError when malformed or empty)."""
    r = Reader(data)
    with r.block(1, minimum=1):
        types = [r.u8() for _ in range(r.remaining())]
    r.expect_end(what)
    return types


def encode_type(value: int) -> bytes:
    return bytes((value,))


def decode_type(data: bytes, what: str) -> int:
    """EncryptedExtensions' single type (DecodeError when malformed)."""
    r = Reader(data)
    value = r.u8()
    r.expect_end(what)
    return value


# -- keys --------------------------------------------------------------------------

def normalize_spki(spki: bytes) -> bytes:
    """A DER SubjectPublicKeyInfo as ``cryptography`` writes it (ValueError when invalid)."""
    from cryptography.exceptions import UnsupportedAlgorithm  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    try:
        key = serialization.load_der_public_key(bytes(spki))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # e.g. an unknown curve
        raise ValueError(f"not a DER SubjectPublicKeyInfo: {exc}") from exc
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def spki_of(key: crypto.PrivateKey | crypto.PublicKey) -> bytes:
    """The SubjectPublicKeyInfo of a key (of its public half)."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    public = key if isinstance(key, crypto.PublicKey) else key.public_key()
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_credentials(private_key_der: bytes) -> tuple[crypto.PrivateKey, tuple[int, ...]]:
    """A key without certificate and the schemes it can sign with (RSA: rsaEncryption)."""
    key = crypto.load_private_key(private_key_der)
    return key, tuple(crypto.schemes_for_key(crypto.key_kind(key)))


def accept_public_key(spki: bytes, trusted: Sequence[bytes]
                      ) -> tuple[crypto.PublicKey, tuple[str, str | None]]:
    """The peer's raw public key and its kind, when it is one of ``trusted``."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    try:
        normalized = normalize_spki(spki)
    except ValueError as exc:
        raise CertificateUnknown(f"the peer's raw public key does not parse: {exc}",
                                 reason="malformed") from exc
    if normalized not in trusted:
        raise CertificateUnknown("the peer's raw public key is not one we trust",
                                 reason="untrusted_public_key")
    key = serialization.load_der_public_key(normalized)
    if not isinstance(key, crypto.PublicKey):
        raise UnsupportedCertificate(f"unsupported public key type {type(key).__name__}")
    return key, crypto.key_kind(key)


def raw_key_scheme(config: TLSConfiguration, offered: Sequence[int]) -> int | None:
    """The first of our schemes that our default key can make and the peer offered."""
    usable = set(config.credentials()[1])
    return next((s for s in config.signature_algorithms if s in usable and s in offered), None)


# -- negotiation -------------------------------------------------------------------

def _we_accept(config: TLSConfiguration) -> list[int]:
    """The types we accept from the peer, in our order."""
    types: list[int] = [CT.RAW_PUBLIC_KEY] if config.peer_public_keys else []
    return [*types, CT.X509] if config.truststore is not None else types


def _we_send(config: TLSConfiguration) -> list[int]:
    """The types we can authenticate with, in our order."""
    types: list[int] = [CT.RAW_PUBLIC_KEY] if config.send_raw_public_key else []
    return [*types, CT.X509] if config.all_certificate_chains else types


def client_offer(config: TLSConfiguration) -> dict[int, bytes]:
    """The ClientHello's certificate type extensions (none when all is X.509)."""
    extensions: dict[int, bytes] = {}
    if config.peer_public_keys:
        extensions[ET.SERVER_CERTIFICATE_TYPE] = encode_types(_we_accept(config))
    if config.send_raw_public_key:
        extensions[ET.CLIENT_CERTIFICATE_TYPE] = encode_types(_we_send(config))
    return extensions


def _choose(ours: list[int], offered: list[int], what: str) -> int:
    chosen = next((t for t in ours if t in offered), None)
    if chosen is None:
        raise UnsupportedCertificate(f"no {what} in common: the client offers {offered}, "
                                     f"we allow {ours}", reason="certificate_type")
    return chosen


def server_choice(config: TLSConfiguration, exts: dict[int, bytes], asks_client: bool
                  ) -> tuple[int, int, dict[int, bytes]]:
    """``(server type, client type, EncryptedExtensions entries)`` for a ClientHello."""
    echo: dict[int, bytes] = {}
    server_type: int = CT.X509
    if ET.SERVER_CERTIFICATE_TYPE in exts:
        offered = decode_types(exts[ET.SERVER_CERTIFICATE_TYPE], "server_certificate_type")
        server_type = _choose(_we_send(config), offered, "server certificate type")
        echo[ET.SERVER_CERTIFICATE_TYPE] = encode_type(server_type)
    elif not config.all_certificate_chains:
        raise UnsupportedCertificate("the client wants a certificate; we have a raw public key "
                                     "only", reason="certificate_type")
    client_type: int = CT.X509
    if asks_client and ET.CLIENT_CERTIFICATE_TYPE in exts:
        offered = decode_types(exts[ET.CLIENT_CERTIFICATE_TYPE], "client_certificate_type")
        client_type = _choose(_we_accept(config), offered, "client certificate type")
        echo[ET.CLIENT_CERTIFICATE_TYPE] = encode_type(client_type)
    elif ET.CLIENT_CERTIFICATE_TYPE in exts:
        decode_types(exts[ET.CLIENT_CERTIFICATE_TYPE], "client_certificate_type")
    return server_type, client_type, echo


def client_check(config: TLSConfiguration, ee: dict[int, bytes]) -> tuple[int, int]:
    """``(server type, client type)`` the server chose, checked against our offer."""
    server_type: int = CT.X509
    if ET.SERVER_CERTIFICATE_TYPE in ee:
        server_type = decode_type(ee[ET.SERVER_CERTIFICATE_TYPE], "server_certificate_type")
        if server_type not in _we_accept(config):
            raise IllegalParameter(f"the server chose server certificate type {server_type}, "
                                   "never offered")
    elif config.peer_public_keys and config.truststore is None:
        raise UnsupportedCertificate("the server sends a certificate; we accept raw public "
                                     "keys only", reason="certificate_type")
    client_type: int = CT.X509  # absent: X.509, if a certificate is asked for at all
    if ET.CLIENT_CERTIFICATE_TYPE in ee:
        client_type = decode_type(ee[ET.CLIENT_CERTIFICATE_TYPE], "client_certificate_type")
        if not config.send_raw_public_key or client_type not in _we_send(config):
            raise IllegalParameter(f"the server chose client certificate type {client_type}, "
                                   "never offered")
    return server_type, client_type
