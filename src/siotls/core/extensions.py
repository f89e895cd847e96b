"""Extension codecs (RFC 8446 section 4.2, RFC 6066, RFC 7301).

Messages keep their extensions as an ordered ``dict[int, bytes]`` of raw
``extension_data`` (see :mod:`siotls.core.messages`), so unknown extensions
(GREASE included) travel untouched and are ignored. The handshake decodes the
ones it needs with the functions here, each next to the RFC struct it reads.
Every decoder raises a :class:`~siotls.core.errors.TLSFatalAlert` on bad input.

:data:`ALLOWED` is the "TLS 1.3" column of the table in RFC 8446 section 4.2: a
known extension found in a message it may not appear in is ``illegal_parameter``.
"""

from __future__ import annotations

from collections.abc import Sequence

from siotls.core.codec import Reader, Writer
from siotls.core.errors import DecodeError, IllegalParameter, UnsupportedExtension
from siotls.iana import ExtensionType
from siotls.iana import HandshakeType as HT

CH, SH, EE, CT, CR, NST, HRR = "CH", "SH", "EE", "CT", "CR", "NST", "HRR"


class ET:
    """:class:`siotls.iana.ExtensionType`'s values as plain ints, for the handshake's hot
    paths (``ET.KEY_SHARE in extensions``): an IntEnum member lookup costs ten times
    more. tests/test_handshake_fast_paths.py checks that they match."""

    SERVER_NAME = 0
    MAX_FRAGMENT_LENGTH = 1
    STATUS_REQUEST = 5
    SUPPORTED_GROUPS = 10
    EC_POINT_FORMATS = 11
    SIGNATURE_ALGORITHMS = 13
    USE_SRTP = 14
    HEARTBEAT = 15
    APPLICATION_LAYER_PROTOCOL_NEGOTIATION = 16
    SIGNED_CERTIFICATE_TIMESTAMP = 18
    CLIENT_CERTIFICATE_TYPE = 19
    SERVER_CERTIFICATE_TYPE = 20
    PADDING = 21
    ENCRYPT_THEN_MAC = 22
    EXTENDED_MASTER_SECRET = 23
    COMPRESS_CERTIFICATE = 27
    RECORD_SIZE_LIMIT = 28
    SESSION_TICKET = 35
    PRE_SHARED_KEY = 41
    EARLY_DATA = 42
    SUPPORTED_VERSIONS = 43
    COOKIE = 44
    PSK_KEY_EXCHANGE_MODES = 45
    CERTIFICATE_AUTHORITIES = 47
    OID_FILTERS = 48
    POST_HANDSHAKE_AUTH = 49
    SIGNATURE_ALGORITHMS_CERT = 50
    KEY_SHARE = 51
    RENEGOTIATION_INFO = 65281

#: extension -> messages it may appear in (RFC 8446 section 4.2).
ALLOWED: dict[int, frozenset[str]] = {
    ET.SERVER_NAME: frozenset({CH, EE}),
    ET.MAX_FRAGMENT_LENGTH: frozenset({CH, EE}),
    ET.STATUS_REQUEST: frozenset({CH, CR, CT}),
    ET.SUPPORTED_GROUPS: frozenset({CH, EE}),
    ET.SIGNATURE_ALGORITHMS: frozenset({CH, CR}),
    ET.USE_SRTP: frozenset({CH, EE}),
    ET.HEARTBEAT: frozenset({CH, EE}),
    ET.APPLICATION_LAYER_PROTOCOL_NEGOTIATION: frozenset({CH, EE}),
    ET.SIGNED_CERTIFICATE_TIMESTAMP: frozenset({CH, CR, CT}),
    ET.CLIENT_CERTIFICATE_TYPE: frozenset({CH, EE}),
    ET.SERVER_CERTIFICATE_TYPE: frozenset({CH, EE}),
    ET.PADDING: frozenset({CH}),
    ET.RECORD_SIZE_LIMIT: frozenset({CH, EE}),
    ET.COMPRESS_CERTIFICATE: frozenset({CH, CR}),
    ET.PRE_SHARED_KEY: frozenset({CH, SH}),
    ET.EARLY_DATA: frozenset({CH, EE, NST}),
    ET.SUPPORTED_VERSIONS: frozenset({CH, SH, HRR}),
    ET.COOKIE: frozenset({CH, HRR}),
    ET.PSK_KEY_EXCHANGE_MODES: frozenset({CH}),
    ET.CERTIFICATE_AUTHORITIES: frozenset({CH, CR}),
    ET.OID_FILTERS: frozenset({CR}),
    ET.POST_HANDSHAKE_AUTH: frozenset({CH}),
    ET.SIGNATURE_ALGORITHMS_CERT: frozenset({CH, CR}),
    ET.KEY_SHARE: frozenset({CH, SH, HRR}),
}

#: message -> the known extensions it may not carry (the complement of ALLOWED's column).
_FORBIDDEN: dict[str, frozenset[int]] = {
    message: frozenset(t for t, messages in ALLOWED.items() if message not in messages)
    for message in (CH, SH, EE, CT, CR, NST, HRR)}

MESSAGE_NAMES = {
    HT.CLIENT_HELLO: CH, HT.SERVER_HELLO: SH, HT.ENCRYPTED_EXTENSIONS: EE,
    HT.CERTIFICATE: CT, HT.CERTIFICATE_REQUEST: CR, HT.NEW_SESSION_TICKET: NST,
}


def check_allowed(extensions: dict[int, bytes], message: str) -> None:
    """``illegal_parameter`` for a known extension outside the messages it belongs to."""
    if _FORBIDDEN[message].isdisjoint(extensions):  # the common case, in one C call
        return
    for ext_type in extensions:
        allowed = ALLOWED.get(ext_type)
        if allowed is not None and message not in allowed:
            raise IllegalParameter(
                f"extension {ExtensionType(ext_type).name} is not allowed in {message}")


def check_offered(extensions: dict[int, bytes], offered: dict[int, bytes] | set[int],
                  message: str) -> None:
    """RFC 8446 section 4.2: a response must not carry an extension that was not offered."""
    for ext_type in extensions:
        if ext_type not in offered and ext_type != ET.COOKIE:
            name = (ExtensionType(ext_type).name
                    if ext_type in ExtensionType._value2member_map_ else ext_type)
            raise UnsupportedExtension(f"{message} carries extension {name}, never offered")


# --- server_name (RFC 6066 section 3) -------------------------------------------
#   struct {
#       NameType name_type;
#       select (name_type) { case host_name: HostName; } name;
#   } ServerName;
#   enum { host_name(0), (255) } NameType;
#   opaque HostName<1..2^16-1>;
#   struct { ServerName server_name_list<1..2^16-1> } ServerNameList;

def encode_server_name(host_name: str) -> bytes:
    w = Writer()
    with w.block(2):
        w.u8(0)
        w.opaque(2, host_name.encode("ascii"))
    return w.getvalue()


def decode_server_name(data: bytes) -> str | None:
    r = Reader(data)
    host_name = None
    with r.block(2, minimum=1):
        while not r.at_end():
            name_type = r.u8()
            name = r.opaque(2, minimum=1)
            if name_type != 0:
                continue
            if host_name is not None:
                raise IllegalParameter("server_name lists two host names")
            try:
                host_name = name.decode("ascii")
            except UnicodeDecodeError as exc:
                raise IllegalParameter("server_name is not an ASCII host name") from exc
            if host_name.endswith("."):
                host_name = host_name[:-1]
    r.expect_end("server_name extension")
    return host_name


# --- supported_groups (RFC 8446 section 4.2.7) ----------------------------------
#   struct { NamedGroup named_group_list<2..2^16-1>; } NamedGroupList;

def encode_u16_list(values: Sequence[int]) -> bytes:
    w = Writer()
    w.u16_list(2, values)
    return w.getvalue()


def decode_supported_groups(data: bytes) -> list[int]:
    r = Reader(data)
    groups = r.u16_list(2, minimum=2)
    r.expect_end("supported_groups extension")
    return groups


# --- signature_algorithms(_cert) (RFC 8446 section 4.2.3) -------------------------
#   struct { SignatureScheme supported_signature_algorithms<2..2^16-2>; }
#       SignatureSchemeList;

def decode_signature_algorithms(data: bytes) -> list[int]:
    r = Reader(data)
    schemes = r.u16_list(2, minimum=2)
    r.expect_end("signature_algorithms extension")
    return schemes


# --- application_layer_protocol_negotiation (RFC 7301 section 3.1) --------------
#   opaque ProtocolName<1..2^8-1>;
#   struct { ProtocolName protocol_name_list<2..2^16-1> } ProtocolNameList;

def encode_alpn(protocols: Sequence[bytes]) -> bytes:
    w = Writer()
    with w.block(2):
        for protocol in protocols:
            w.opaque(1, protocol)
    return w.getvalue()


def decode_alpn(data: bytes) -> list[bytes]:
    r = Reader(data)
    protocols = []
    with r.block(2, minimum=2):
        while not r.at_end():
            protocols.append(r.opaque(1, minimum=1))
    r.expect_end("application_layer_protocol_negotiation extension")
    return protocols


# --- supported_versions (RFC 8446 section 4.2.1) ---------------------------------
#   struct {
#       select (Handshake.msg_type) {
#           case client_hello: ProtocolVersion versions<2..254>;
#           case server_hello: /* and HelloRetryRequest */
#               ProtocolVersion selected_version;
#       };
#   } SupportedVersions;

def encode_supported_versions_ch(versions: list[int]) -> bytes:
    w = Writer()
    w.u16_list(1, versions)
    return w.getvalue()


def decode_supported_versions_ch(data: bytes) -> list[int]:
    r = Reader(data)
    versions = r.u16_list(1, minimum=2)
    r.expect_end("supported_versions extension")
    return versions


def decode_u16(data: bytes, what: str) -> int:
    if len(data) == 2:  # the common case; the Reader below names what is wrong
        return (data[0] << 8) | data[1]
    r = Reader(data)
    value = r.u16()
    r.expect_end(what)
    return value


# --- cookie (RFC 8446 section 4.2.2) -----------------------------------------------
#   struct { opaque cookie<1..2^16-1>; } Cookie;

def encode_cookie(cookie: bytes) -> bytes:
    w = Writer()
    w.opaque(2, cookie)
    return w.getvalue()


def decode_cookie(data: bytes) -> bytes:
    r = Reader(data)
    cookie = r.opaque(2, minimum=1)
    r.expect_end("cookie extension")
    return cookie


# --- psk_key_exchange_modes (RFC 8446 section 4.2.9) -------------------------------
#   enum { psk_ke(0), psk_dhe_ke(1), (255) } PskKeyExchangeMode;
#   struct { PskKeyExchangeMode ke_modes<1..255>; } PskKeyExchangeModes;

def encode_psk_key_exchange_modes(modes: list[int]) -> bytes:
    return bytes((len(modes), *modes))


def decode_psk_key_exchange_modes(data: bytes) -> list[int]:
    r = Reader(data)
    modes: list[int] = list(r.opaque(1, minimum=1))
    r.expect_end("psk_key_exchange_modes extension")
    return modes


# --- key_share (RFC 8446 section 4.2.8) --------------------------------------------
#   struct {
#       NamedGroup group;
#       opaque key_exchange<1..2^16-1>;
#   } KeyShareEntry;
#   struct { KeyShareEntry client_shares<0..2^16-1>; } KeyShareClientHello;
#   struct { NamedGroup selected_group; } KeyShareHelloRetryRequest;
#   struct { KeyShareEntry server_share; } KeyShareServerHello;

def encode_key_share_ch(shares: list[tuple[int, bytes]]) -> bytes:
    entries = b"".join([encode_key_share_sh(group, key_exchange)
                        for group, key_exchange in shares])
    return len(entries).to_bytes(2, "big") + entries  # to_bytes raises past 2^16-1


def decode_key_share_ch(data: bytes) -> list[tuple[int, bytes]]:
    """A :class:`Reader`'s ``block(2)`` of ``(u16(), opaque(2, minimum=1))`` to the end,
    in one frame (a server decodes one per connection): a cut or overlong entry, an
    empty key_exchange or trailing bytes are ``decode_error``."""
    end = len(data)
    if end < 2 or (data[0] << 8) | data[1] != end - 2:
        raise DecodeError("the key_share extension is not its client_shares exactly")
    shares = []
    pos = 2
    while pos < end:
        if end - pos < 4:
            raise DecodeError(f"a KeyShareEntry cut after {end - pos} bytes")
        group = (data[pos] << 8) | data[pos + 1]
        n = (data[pos + 2] << 8) | data[pos + 3]
        pos += 4
        if n < 1 or n > end - pos:
            raise DecodeError(f"a key_exchange of {n} bytes, {end - pos} remain")
        shares.append((group, bytes(data[pos : pos + n])))
        pos += n
    if len({group for group, _ in shares}) != len(shares):
        raise IllegalParameter("key_share offers two shares for one group")
    return shares


def encode_key_share_sh(group: int, key_exchange: bytes) -> bytes:
    """One KeyShareEntry (the ServerHello's whole extension)."""
    return group.to_bytes(2, "big") + len(key_exchange).to_bytes(2, "big") + key_exchange


def decode_key_share_sh(data: bytes) -> tuple[int, bytes]:
    r = Reader(data)
    group = r.u16()
    key_exchange = r.opaque(2, minimum=1)
    r.expect_end("key_share extension")
    return group, key_exchange


# --- record_size_limit (RFC 8449 section 4) ---------------------------------------
#   uint16 RecordSizeLimit;
# "Endpoints MUST NOT send a "record_size_limit" extension with a value smaller
#  than 64. An endpoint MUST treat receipt of a smaller value as a fatal error
#  and generate an "illegal_parameter" alert."

MIN_RECORD_SIZE_LIMIT = 64
#: TLS 1.3: 2^14 bytes of content, plus the content type (padding counts too).
MAX_RECORD_SIZE_LIMIT = 2**14 + 1


def encode_record_size_limit(limit: int) -> bytes:
    return limit.to_bytes(2, "big")


def decode_record_size_limit(data: bytes) -> int:
    limit = decode_u16(data, "record_size_limit extension")
    if limit < MIN_RECORD_SIZE_LIMIT:
        raise IllegalParameter(f"a record_size_limit of {limit}", reason="record_size_limit")
    return limit


# --- compress_certificate (RFC 8879 section 3) --------------------------------------
#   enum {
#       zlib(1),
#       brotli(2),
#       zstd(3),
#       (65535)
#   } CertificateCompressionAlgorithm;
#
#   struct {
#       CertificateCompressionAlgorithm algorithms<2..2^8-2>;
#   } CertificateCompressionAlgorithms;

def encode_compress_certificate(algorithms: Sequence[int]) -> bytes:
    w = Writer()
    w.u16_list(1, algorithms)
    return w.getvalue()


def decode_compress_certificate(data: bytes) -> list[int]:
    r = Reader(data)
    algorithms = r.u16_list(1, minimum=2)
    r.expect_end("compress_certificate extension")
    return algorithms


def decode_empty(data: bytes, what: str) -> None:
    if data:
        raise DecodeError(f"the {what} extension must be empty")


def decode_early_data_nst(data: bytes) -> int:
    """RFC 8446 4.2.10: early_data in a NewSessionTicket, ``max_early_data_size``.

    struct {
        select (Handshake.msg_type) {
            case new_session_ticket:   uint32 max_early_data_size;
            case client_hello:         Empty;
            case encrypted_extensions: Empty;
        };
    } EarlyDataIndication;
    """
    r = Reader(data)
    max_early_data_size = r.u32()
    r.expect_end("early_data extension")
    return max_early_data_size
