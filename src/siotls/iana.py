"""IANA registries used by TLS 1.3 (RFC 8446 section 11 and appendix B).

Every enum is an ``IntEnum`` so that a value read off the wire compares equal to
its member. Values a peer sends that are not listed here (GREASE, RFC 8701, or
anything newer than this module) stay plain ``int`` and are ignored where the
RFC says to ignore them (``Enum(value)`` raises ``ValueError`` for them).

Each ``IntEnum`` is written as a plain class body that ``_int_enum`` turns into
the enum ``class X(enum.IntEnum)`` would make, in a third less time (this
module: 2.1 ms down to 1.4 ms in a fresh interpreter); ``tests/test_iana_enums.py``
checks that they are the same enums.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # to type checkers, each registry below is the IntEnum it is
    from typing import TypeVar

    _T = TypeVar("_T")
    _IntEnum = enum.IntEnum

    def _int_enum(cls: _T) -> _T:
        return cls
else:
    _IntEnum = object  # a plain class body, which _int_enum turns into the IntEnum

    def _int_enum(cls: type) -> type[enum.IntEnum]:
        """The ``IntEnum`` of the plain class ``cls``'s members, the one ``class
        cls(enum.IntEnum)`` makes, made the way the standard library makes its own
        large enums (``http.HTTPStatus``, ``re.RegexFlag``): ``enum._simple_enum``
        skips ``EnumType``'s per-member machinery, which these plain int members
        do not need. It is not a public API: without it, the functional API."""
        simple_enum = getattr(enum, "_simple_enum", None)
        if simple_enum is None:
            return _functional_int_enum(cls)
        built: type[enum.IntEnum] = simple_enum(enum.IntEnum)(cls)
        built.__doc__ = cls.__doc__  # not _simple_enum's "An enumeration."
        for name, member in built.__members__.items():
            # In the class's dict, as ``class X(enum.IntEnum)`` puts them: on
            # Python 3.11 and 3.12 _simple_enum leaves a redirecting property
            # there, which makes every ``X.member`` 2.5 times slower.
            type.__setattr__(built, name, member)
        return built


def _functional_int_enum(cls: type) -> type[enum.IntEnum]:
    """``enum.IntEnum(name, members)``: the same enum, the public (slower) way."""
    members = {name: value for name, value in vars(cls).items() if not name.startswith("_")}
    int_enum: Any = enum.IntEnum  # its functional form, which mypy wants literal
    built: type[enum.IntEnum] = int_enum(cls.__name__, members, module=cls.__module__,
                                         qualname=cls.__qualname__)
    built.__doc__ = cls.__doc__
    return built


@_int_enum
class ContentType(_IntEnum):
    INVALID = 0
    CHANGE_CIPHER_SPEC = 20
    ALERT = 21
    HANDSHAKE = 22
    APPLICATION_DATA = 23
    HEARTBEAT = 24


@_int_enum
class AlertLevel(_IntEnum):
    WARNING = 1
    FATAL = 2


@_int_enum
class AlertDescription(_IntEnum):
    CLOSE_NOTIFY = 0
    UNEXPECTED_MESSAGE = 10
    BAD_RECORD_MAC = 20
    RECORD_OVERFLOW = 22
    HANDSHAKE_FAILURE = 40
    BAD_CERTIFICATE = 42
    UNSUPPORTED_CERTIFICATE = 43
    CERTIFICATE_REVOKED = 44
    CERTIFICATE_EXPIRED = 45
    CERTIFICATE_UNKNOWN = 46
    ILLEGAL_PARAMETER = 47
    UNKNOWN_CA = 48
    ACCESS_DENIED = 49
    DECODE_ERROR = 50
    DECRYPT_ERROR = 51
    PROTOCOL_VERSION = 70
    INSUFFICIENT_SECURITY = 71
    INTERNAL_ERROR = 80
    INAPPROPRIATE_FALLBACK = 86
    USER_CANCELED = 90
    MISSING_EXTENSION = 109
    UNSUPPORTED_EXTENSION = 110
    UNRECOGNIZED_NAME = 112
    BAD_CERTIFICATE_STATUS_RESPONSE = 113
    UNKNOWN_PSK_IDENTITY = 115
    CERTIFICATE_REQUIRED = 116
    NO_APPLICATION_PROTOCOL = 120


@_int_enum
class HandshakeType(_IntEnum):
    CLIENT_HELLO = 1
    SERVER_HELLO = 2
    NEW_SESSION_TICKET = 4
    END_OF_EARLY_DATA = 5
    ENCRYPTED_EXTENSIONS = 8
    CERTIFICATE = 11
    CERTIFICATE_REQUEST = 13
    CERTIFICATE_VERIFY = 15
    FINISHED = 20
    KEY_UPDATE = 24
    COMPRESSED_CERTIFICATE = 25
    MESSAGE_HASH = 254


@_int_enum
class TLSVersion(_IntEnum):
    TLS_1_0 = 0x0301
    TLS_1_1 = 0x0302
    TLS_1_2 = 0x0303
    TLS_1_3 = 0x0304


@_int_enum
class ExtensionType(_IntEnum):
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
    RENEGOTIATION_INFO = 0xFF01


@_int_enum
class CipherSuites(_IntEnum):
    TLS_AES_128_GCM_SHA256 = 0x1301
    TLS_AES_256_GCM_SHA384 = 0x1302
    TLS_CHACHA20_POLY1305_SHA256 = 0x1303
    TLS_AES_128_CCM_SHA256 = 0x1304
    TLS_AES_128_CCM_8_SHA256 = 0x1305


@_int_enum
class NamedGroup(_IntEnum):
    secp256r1 = 0x0017
    secp384r1 = 0x0018
    secp521r1 = 0x0019
    x25519 = 0x001D
    x448 = 0x001E
    ffdhe2048 = 0x0100
    ffdhe3072 = 0x0101
    ffdhe4096 = 0x0102
    ffdhe6144 = 0x0103
    ffdhe8192 = 0x0104
    # draft-ietf-tls-ecdhe-mlkem: hybrid ECDHE + ML-KEM groups
    SecP256r1MLKEM768 = 0x11EB
    X25519MLKEM768 = 0x11EC
    SecP384r1MLKEM1024 = 0x11ED


@_int_enum
class SignatureScheme(_IntEnum):
    rsa_pkcs1_sha256 = 0x0401
    rsa_pkcs1_sha384 = 0x0501
    rsa_pkcs1_sha512 = 0x0601
    ecdsa_secp256r1_sha256 = 0x0403
    ecdsa_secp384r1_sha384 = 0x0503
    ecdsa_secp521r1_sha512 = 0x0603
    rsa_pss_rsae_sha256 = 0x0804
    rsa_pss_rsae_sha384 = 0x0805
    rsa_pss_rsae_sha512 = 0x0806
    ed25519 = 0x0807
    ed448 = 0x0808
    rsa_pss_pss_sha256 = 0x0809
    rsa_pss_pss_sha384 = 0x080A
    rsa_pss_pss_sha512 = 0x080B
    rsa_pkcs1_sha1 = 0x0201
    ecdsa_sha1 = 0x0203


@_int_enum
class PskKeyExchangeMode(_IntEnum):
    psk_ke = 0
    psk_dhe_ke = 1


@_int_enum
class NameType(_IntEnum):
    host_name = 0


@_int_enum
class KeyUpdateRequest(_IntEnum):
    update_not_requested = 0
    update_requested = 1


class ALPNProtocol(bytes, enum.Enum):
    """Well-known ALPN protocol IDs; any ``bytes`` is accepted where one is expected."""

    HTTP_1_0 = b"http/1.0"
    HTTP_1_1 = b"http/1.1"
    H2 = b"h2"
    H3 = b"h3"
    SPDY_3 = b"spdy/3"
    WEBRTC = b"webrtc"
    FTP = b"ftp"
    IMAP = b"imap"
    POP3 = b"pop3"
    ACME_TLS_1 = b"acme-tls/1"
    DOT = b"dot"
    MQTT = b"mqtt"
    SMB = b"smb"


@_int_enum
class CertificateCompressionAlgorithm(_IntEnum):
    """RFC 8879 section 3."""

    zlib = 1
    brotli = 2
    zstd = 3


@_int_enum
class CertificateType(_IntEnum):
    X509 = 0
    RAW_PUBLIC_KEY = 2
