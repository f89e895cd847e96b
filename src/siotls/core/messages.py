"""Handshake messages (RFC 8446 section 4): one dataclass per message,
``parse_<message>(body)`` to read one and ``<message>.serialize()`` to write it
(the 4-byte handshake header included). They are slotted and not frozen (a frozen
dataclass's ``__init__`` sets each field through ``object.__setattr__``, several times
slower), but treated as values: nothing changes a message once made
(``dataclasses.replace`` makes a new one).

Extensions stay raw here (``dict[int, bytes]`` in wire order, duplicates
rejected with ``illegal_parameter``); :mod:`siotls.core.extensions` decodes them.

    struct {
        HandshakeType msg_type;    /* handshake type */
        uint24 length;             /* remaining bytes in message */
        select (Handshake.msg_type) { ... };
    } Handshake;
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from siotls.core.codec import Reader, Writer
from siotls.core.errors import DecodeError, IllegalParameter
from siotls.iana import HandshakeType

#: ServerHello.random of a HelloRetryRequest: SHA-256("HelloRetryRequest").
HELLO_RETRY_REQUEST_RANDOM = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
#: The last 8 bytes of ServerHello.random of a TLS 1.3 server negotiating 1.2 / 1.1-.
DOWNGRADE_TLS12 = b"DOWNGRD\x01"
DOWNGRADE_TLS11 = b"DOWNGRD\x00"

Extensions = dict[int, bytes]


def _read_extensions(r: Reader, minimum: int = 0) -> Extensions:
    """``Extension extensions<minimum..2^16-1>``.

    struct {
        ExtensionType extension_type;
        opaque extension_data<0..2^16-1>;
    } Extension;
    """
    outer = r.begin(2, minimum=minimum)
    extensions = r.typed_opaques()  # a type twice is illegal_parameter
    r.finish(outer)
    return extensions


def _write_extensions(w: Writer, extensions: Extensions) -> None:
    w.buf += encode_extensions(extensions)


def encode_extensions(extensions: Extensions) -> bytes:
    """``Extension extensions<0..2^16-1>`` (the length prefix included), in dict order."""
    parts = []
    for ext_type, data in extensions.items():  # to_bytes raises on what does not fit
        parts.append(ext_type.to_bytes(2, "big") + len(data).to_bytes(2, "big"))
        parts.append(data)
    body = b"".join(parts)
    if len(body) > 0xFFFF:
        raise ValueError(f"{len(body)} bytes of extensions do not fit a 2-byte length")
    return len(body).to_bytes(2, "big") + body


def _handshake(msg_type: int, w: Writer) -> bytes:
    return _message(msg_type, w.buf)


def _message(msg_type: int, body: bytes | bytearray) -> bytes:
    """The Handshake struct: msg_type, uint24 length, the body."""
    return b"".join((msg_type.to_bytes(1, "big"), len(body).to_bytes(3, "big"), body))


def _opaque8(value: bytes) -> bytes:
    """``opaque x<0..2^8-1>`` (to_bytes raises on a longer one)."""
    return len(value).to_bytes(1, "big") + value


# The hot message types as plain ints (an IntEnum member lookup costs ten times more).
_CLIENT_HELLO = int(HandshakeType.CLIENT_HELLO)
_SERVER_HELLO = int(HandshakeType.SERVER_HELLO)
_ENCRYPTED_EXTENSIONS = int(HandshakeType.ENCRYPTED_EXTENSIONS)
_CERTIFICATE_VERIFY = int(HandshakeType.CERTIFICATE_VERIFY)
_FINISHED = int(HandshakeType.FINISHED)
_NEW_SESSION_TICKET = int(HandshakeType.NEW_SESSION_TICKET)


@dataclass(slots=True)
class ClientHello:
    """
    struct {
        ProtocolVersion legacy_version = 0x0303;    /* TLS v1.2 */
        Random random;
        opaque legacy_session_id<0..32>;
        CipherSuite cipher_suites<2..2^16-2>;
        opaque legacy_compression_methods<1..2^8-1>;
        Extension extensions<8..2^16-1>;
    } ClientHello;
    """

    random: bytes
    legacy_session_id: bytes
    cipher_suites: list[int]
    extensions: Extensions
    legacy_version: int = 0x0303
    legacy_compression_methods: bytes = b"\x00"

    def serialize(self) -> bytes:
        suites = self.cipher_suites
        return _message(_CLIENT_HELLO, b"".join((
            self.legacy_version.to_bytes(2, "big"),
            self.random,
            _opaque8(self.legacy_session_id),
            (2 * len(suites)).to_bytes(2, "big"),
            *[suite.to_bytes(2, "big") for suite in suites],
            _opaque8(self.legacy_compression_methods),
            encode_extensions(self.extensions))))


def parse_client_hello(body: memoryview | bytes) -> ClientHello:
    """The reads of a :class:`Reader` (``u16``, ``bytes(32)``, ``opaque(1, maximum=32)``,
    ``u16_list(2, minimum=2)``, ``opaque(1, minimum=1)``, then the extensions block,
    exactly to the end), spelled out in one frame: a server parses one per
    connection. Every bound is checked as there: a short or overlong field is
    ``decode_error``, an extension type twice ``illegal_parameter``."""
    data = memoryview(body)
    end = len(data)
    if end < 35:  # legacy_version, random, legacy_session_id's length
        raise DecodeError(f"a ClientHello of {end} bytes")
    legacy_version = (data[0] << 8) | data[1]
    random = bytes(data[2:34])
    n = data[34]
    pos = 35 + n
    if n > 32 or pos + 2 > end:
        raise DecodeError(f"a ClientHello with a legacy_session_id of {n} bytes")
    legacy_session_id = bytes(data[35:pos])
    n = (data[pos] << 8) | data[pos + 1]  # CipherSuite cipher_suites<2..2^16-2>
    pos += 2
    if n % 2 or n < 2 or pos + n >= end:  # the compression methods' length follows
        raise DecodeError(f"a ClientHello with cipher_suites of {n} bytes")
    # big-endian uint16s in one call (struct caches the compiled format)
    cipher_suites = list(struct.unpack(f">{n >> 1}H", data[pos : pos + n]))
    pos += n
    n = data[pos]  # opaque legacy_compression_methods<1..2^8-1>
    pos += 1
    if n < 1 or pos + n > end:
        raise DecodeError(f"a ClientHello with legacy_compression_methods of {n} bytes")
    legacy_compression_methods = bytes(data[pos : pos + n])
    pos += n
    # A TLS 1.2 ClientHello may end without extensions; the caller rejects it.
    extensions: Extensions = {}
    if pos < end:
        n = (data[pos] << 8) | data[pos + 1] if end - pos >= 2 else end  # cut: too long
        pos += 2
        if n > end - pos:
            raise DecodeError(f"a ClientHello with extensions of {n} bytes")
        extensions = Reader(data[pos : pos + n]).typed_opaques()  # a type twice: illegal
        if pos + n != end:
            raise DecodeError(f"{end - pos - n} trailing bytes at the end of the ClientHello")
    return ClientHello(random, legacy_session_id, cipher_suites, extensions,
                       legacy_version, legacy_compression_methods)


@dataclass(slots=True)
class ServerHello:
    """Also HelloRetryRequest, told apart by :attr:`random`.

    struct {
        ProtocolVersion legacy_version = 0x0303;    /* TLS v1.2 */
        Random random;
        opaque legacy_session_id_echo<0..32>;
        CipherSuite cipher_suite;
        uint8 legacy_compression_method = 0;
        Extension extensions<6..2^16-1>;
    } ServerHello;
    """

    random: bytes
    legacy_session_id_echo: bytes
    cipher_suite: int
    extensions: Extensions
    legacy_version: int = 0x0303
    legacy_compression_method: int = 0

    @property
    def is_hello_retry_request(self) -> bool:
        return self.random == HELLO_RETRY_REQUEST_RANDOM

    def serialize(self) -> bytes:
        return _message(_SERVER_HELLO, b"".join((
            self.legacy_version.to_bytes(2, "big"),
            self.random,
            _opaque8(self.legacy_session_id_echo),
            self.cipher_suite.to_bytes(2, "big"),
            self.legacy_compression_method.to_bytes(1, "big"),
            encode_extensions(self.extensions))))


def parse_server_hello(body: memoryview | bytes) -> ServerHello:
    r = Reader(body)
    legacy_version = r.u16()
    random = r.bytes(32)
    legacy_session_id_echo = r.opaque(1, maximum=32)
    cipher_suite = r.u16()
    legacy_compression_method = r.u8()
    # A TLS 1.2 ServerHello may end without extensions; the caller rejects it.
    extensions = _read_extensions(r) if not r.at_end() else {}
    r.expect_end("ServerHello")
    return ServerHello(random, legacy_session_id_echo, cipher_suite, extensions,
                       legacy_version, legacy_compression_method)


@dataclass(slots=True)
class EncryptedExtensions:
    """
    struct {
        Extension extensions<0..2^16-1>;
    } EncryptedExtensions;
    """

    extensions: Extensions

    def serialize(self) -> bytes:
        return _message(_ENCRYPTED_EXTENSIONS, encode_extensions(self.extensions))


def parse_encrypted_extensions(body: memoryview | bytes) -> EncryptedExtensions:
    r = Reader(body)
    extensions = _read_extensions(r)
    r.expect_end("EncryptedExtensions")
    return EncryptedExtensions(extensions)


@dataclass(slots=True)
class CertificateRequest:
    """
    struct {
        opaque certificate_request_context<0..2^8-1>;
        Extension extensions<2..2^16-1>;
    } CertificateRequest;
    """

    certificate_request_context: bytes
    extensions: Extensions

    def serialize(self) -> bytes:
        w = Writer()
        w.opaque(1, self.certificate_request_context)
        _write_extensions(w, self.extensions)
        return _handshake(HandshakeType.CERTIFICATE_REQUEST, w)


def parse_certificate_request(body: memoryview | bytes) -> CertificateRequest:
    r = Reader(body)
    context = r.opaque(1)
    extensions = _read_extensions(r, minimum=2)
    r.expect_end("CertificateRequest")
    return CertificateRequest(context, extensions)


@dataclass(slots=True)
class CertificateEntry:
    """
    struct {
        select (certificate_type) {
            case RawPublicKey: opaque ASN1_subjectPublicKeyInfo<1..2^24-1>;
            case X509: opaque cert_data<1..2^24-1>;
        };
        Extension extensions<0..2^16-1>;
    } CertificateEntry;
    """

    cert_data: bytes
    extensions: Extensions = field(default_factory=dict)


@dataclass(slots=True)
class Certificate:
    """
    struct {
        opaque certificate_request_context<0..2^8-1>;
        CertificateEntry certificate_list<0..2^24-1>;
    } Certificate;
    """

    certificate_request_context: bytes
    certificate_list: list[CertificateEntry]

    def serialize(self) -> bytes:
        w = Writer()
        w.opaque(1, self.certificate_request_context)
        with w.block(3):
            for entry in self.certificate_list:
                w.opaque(3, entry.cert_data)
                _write_extensions(w, entry.extensions)
        return _handshake(HandshakeType.CERTIFICATE, w)


def parse_certificate(body: memoryview | bytes) -> Certificate:
    r = Reader(body)
    context = r.opaque(1)
    entries = []
    with r.block(3):
        while not r.at_end():
            cert_data = r.opaque(3, minimum=1)
            entries.append(CertificateEntry(cert_data, _read_extensions(r)))
    r.expect_end("Certificate")
    return Certificate(context, entries)


@dataclass(slots=True)
class CompressedCertificate:
    """RFC 8879 section 4: a Certificate body, compressed.

    struct {
         CertificateCompressionAlgorithm algorithm;
         uint24 uncompressed_length;
         opaque compressed_certificate_message<1..2^24-1>;
    } CompressedCertificate;
    """

    algorithm: int
    uncompressed_length: int
    compressed_certificate_message: bytes

    def serialize(self) -> bytes:
        w = Writer()
        w.u16(self.algorithm)
        w.u24(self.uncompressed_length)
        w.opaque(3, self.compressed_certificate_message)
        return _handshake(HandshakeType.COMPRESSED_CERTIFICATE, w)


def parse_compressed_certificate(body: memoryview | bytes) -> CompressedCertificate:
    r = Reader(body)
    algorithm = r.u16()
    uncompressed_length = r.u24()
    data = r.opaque(3, minimum=1)
    r.expect_end("CompressedCertificate")
    return CompressedCertificate(algorithm, uncompressed_length, data)


@dataclass(slots=True)
class CertificateVerify:
    """
    struct {
        SignatureScheme algorithm;
        opaque signature<0..2^16-1>;
    } CertificateVerify;
    """

    algorithm: int
    signature: bytes

    def serialize(self) -> bytes:
        return _message(_CERTIFICATE_VERIFY, b"".join((
            self.algorithm.to_bytes(2, "big"),
            len(self.signature).to_bytes(2, "big"),
            self.signature)))


def parse_certificate_verify(body: memoryview | bytes) -> CertificateVerify:
    r = Reader(body)
    algorithm = r.u16()
    signature = r.opaque(2)
    r.expect_end("CertificateVerify")
    return CertificateVerify(algorithm, signature)


@dataclass(slots=True)
class Finished:
    """
    struct {
        opaque verify_data[Hash.length];
    } Finished;
    """

    verify_data: bytes

    def serialize(self) -> bytes:
        return _message(_FINISHED, self.verify_data)


def parse_finished(body: memoryview | bytes, hash_length: int) -> Finished:
    if len(body) != hash_length:
        raise DecodeError(f"Finished of {len(body)} bytes, expected {hash_length}")
    return Finished(bytes(body))


@dataclass(slots=True)
class NewSessionTicket:
    """
    struct {
        uint32 ticket_lifetime;
        uint32 ticket_age_add;
        opaque ticket_nonce<0..255>;
        opaque ticket<1..2^16-1>;
        Extension extensions<0..2^16-2>;
    } NewSessionTicket;
    """

    ticket_lifetime: int
    ticket_age_add: int
    ticket_nonce: bytes
    ticket: bytes
    extensions: Extensions

    def serialize(self) -> bytes:
        # One join (a server sends two per connection by default); to_bytes raises on
        # what does not fit, as the Writer would.
        ticket = self.ticket
        return _message(_NEW_SESSION_TICKET, b"".join((
            self.ticket_lifetime.to_bytes(4, "big"),
            self.ticket_age_add.to_bytes(4, "big"),
            _opaque8(self.ticket_nonce),
            len(ticket).to_bytes(2, "big"), ticket,
            encode_extensions(self.extensions))))


def parse_new_session_ticket(body: memoryview | bytes) -> NewSessionTicket:
    r = Reader(body)
    lifetime = r.u32()
    age_add = r.u32()
    nonce = r.opaque(1)
    ticket = r.opaque(2, minimum=1)
    extensions = _read_extensions(r)
    r.expect_end("NewSessionTicket")
    if lifetime > 604800:  # RFC 8446 4.6.1: at most seven days
        raise IllegalParameter("a ticket lifetime over seven days")
    return NewSessionTicket(lifetime, age_add, nonce, ticket, extensions)


@dataclass(slots=True)
class KeyUpdate:
    """
    enum {
        update_not_requested(0), update_requested(1), (255)
    } KeyUpdateRequest;

    struct {
        KeyUpdateRequest request_update;
    } KeyUpdate;
    """

    request_update: int

    def serialize(self) -> bytes:
        return bytes((HandshakeType.KEY_UPDATE, 0, 0, 1, self.request_update))


def parse_key_update(body: memoryview | bytes) -> KeyUpdate:
    r = Reader(body)
    request_update = r.u8()
    r.expect_end("KeyUpdate")
    if request_update not in (0, 1):
        raise IllegalParameter(f"KeyUpdate.request_update = {request_update}")
    return KeyUpdate(request_update)
