"""The record layer (RFC 8446 section 5): framing and protection, nothing else.

Incoming bytes are cut into records by :meth:`RecordLayer.read_records`, a
generator that decrypts one record at a time, *lazily*, so that a handshake
message handled between two records can install the next read key before the
next record is opened. Outgoing data is fragmented to at most
``max_fragment_size`` bytes, protected when a write key is installed, and
queued; :meth:`RecordLayer.flush` joins the queue once. A record_size_limit
(RFC 8449) bounds protected records only: the peer's lowers the size of what we
protect (TLSInnerPlaintext, type and padding included), ours is enforced on
what we open.

    struct {
        ContentType type;
        ProtocolVersion legacy_record_version;
        uint16 length;
        opaque fragment[TLSPlaintext.length];
    } TLSPlaintext;

    struct {
        opaque content[TLSPlaintext.length];
        ContentType type;
        uint8 zeros[length_of_padding];
    } TLSInnerPlaintext;

    struct {
        ContentType opaque_type = application_data; /* 23 */
        ProtocolVersion legacy_record_version = 0x0303; /* TLS v1.2 */
        uint16 length;
        opaque encrypted_record[TLSCiphertext.length];
    } TLSCiphertext;

Per record, the common cases have their own paths in the connection
(``TLSConnection.receive_data`` and ``send_data``), which read ``read_state``,
``write_state`` and ``outgoing`` directly: a call per record into this layer
cost a tenth of a 1-byte echo. They mirror :meth:`RecordLayer._open` and
:meth:`RecordLayer.write` for exactly one protected application_data record,
when :meth:`RecordLayer.fast_paths` says nothing else can be in the way, and
decline anything else to the general path. A small record's content is sliced
(a copy of a few bytes costs less than a memoryview); an idle layer's buffers
are one shared ``b""``.

The nonce of each record is the write_iv XOR the 64-bit sequence number
(section 5.3), ``to_bytes(12)`` (big-endian, the default since Python 3.11,
without parsing a byteorder argument per record); the additional data is the
record header (section 5.2). The sequence numbers restart at 0 whenever a key
is installed. The layer does not know which messages may arrive when: it tells
the connection whether a record was protected, and the connection decides.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

from siotls.core.errors import BadRecordMac, RecordOverflow, TLSUsageError, UnexpectedMessage
from siotls.iana import ContentType

if TYPE_CHECKING:
    from siotls.core.crypto import AEAD, CipherSuite

MAX_PLAINTEXT = 2**14
MAX_CIPHERTEXT = 2**14 + 256
HEADER_SIZE = 5
#: The largest Certificate body we accept from a peer, compressed or not: the one bound,
#: which connection.py applies to Certificate messages and compression.py to what a
#: CompressedCertificate decompresses to (here, so that neither imports the other).
MAX_CERTIFICATE_LENGTH = 2**18
MAX_SEQ = 2**64 - 1
_TYPE_BYTES = [bytes((content_type,)) for content_type in range(256)]
# Plain ints on the per-record path: an enum member lookup costs ten times more.
_APPLICATION_DATA = int(ContentType.APPLICATION_DATA)
_CHANGE_CIPHER_SPEC = int(ContentType.CHANGE_CIPHER_SPEC)
_PROTECTED_CONTENT_TYPES = frozenset(int(ct) for ct in (
    ContentType.ALERT, ContentType.HANDSHAKE, ContentType.APPLICATION_DATA))
#: A protected record's header without its length: application_data, legacy version 0x0303.
APPLICATION_DATA_HEADER = bytes((ContentType.APPLICATION_DATA, 3, 3))
APPLICATION_DATA_BYTE = bytes((ContentType.APPLICATION_DATA,))
#: The headers of protected records up to 255 bytes long (a small record's content
#: is at most 238 bytes): indexed by length, where building one costs a to_bytes
#: and a concatenation per record. Built at the first key (see _load_traffic_keys).
SMALL_HEADERS: list[bytes] = []
SMALL_RECORD = 256
_CHANGE_CIPHER_SPEC_RECORD = b"\x14\x03\x03\x00\x01\x01"
#: The largest TLSInnerPlaintext (content + type + padding): a constant, so that every
#: record layer shares one int.
_MAX_INNER_PLAINTEXT = MAX_PLAINTEXT + 1
#: An empty buffer (``_inbuf``, ``_handshake_out``): shared, where an empty bytearray
#: would cost every idle connection 56 bytes.
_NOTHING = b""
#: Records shorter than this are sliced, longer ones viewed (a memoryview costs about
#: what copying 4 KiB does).
SLICE_BELOW = 4096
_CONTENT_TYPES = frozenset(int(ct) for ct in (
    ContentType.CHANGE_CIPHER_SPEC, ContentType.ALERT, ContentType.HANDSHAKE,
    ContentType.APPLICATION_DATA))


def invalid_tag() -> type[Exception]:
    """``cryptography``'s InvalidTag, looked up only when a decryption fails: an AEAD
    is installed then, so ``cryptography`` is loaded (``import siotls`` does not load it)."""
    from siotls.core.crypto import InvalidTag  # noqa: PLC0415

    return InvalidTag


#: keyschedule.traffic_keys, once the first key is installed: not imported at import
#: (``import siotls`` loads no ``cryptography``), nor by an import statement per key.
_traffic_keys: Callable[[CipherSuite, bytes], tuple[bytes, bytes]] | None = None


def _load_traffic_keys() -> Callable[[CipherSuite, bytes], tuple[bytes, bytes]]:
    global _traffic_keys  # noqa: PLW0603
    from siotls.core.keyschedule import traffic_keys  # noqa: PLC0415

    _traffic_keys = traffic_keys
    SMALL_HEADERS[:] = [APPLICATION_DATA_HEADER + bytes((0, n)) for n in range(SMALL_RECORD)]
    return traffic_keys


def octets(data: bytes | bytearray | memoryview) -> bytes | bytearray | memoryview:
    """``data``, any bytes-like object, as one whose ``len()`` counts its bytes (what the
    send paths size records by): a buffer of wider items (``array('I')``, a memoryview
    cast to ``'I'`` or to two dimensions) as a flat view of its bytes, a non-contiguous
    one copied. Not bytes-like: :class:`~siotls.core.errors.TLSUsageError`."""
    if type(data) is bytes or type(data) is bytearray:
        return data
    try:
        view = memoryview(data)
    except TypeError:
        raise TLSUsageError(f"expected a bytes-like object, not {type(data).__name__}") from None
    if not view.c_contiguous:
        return view.tobytes()
    return view if view.ndim == 1 and view.itemsize == 1 else view.cast("B")


def protected_header(length: int) -> bytes | None:
    """The header of a protected record of ``length`` bytes; ``None`` past the bound."""
    if 0 <= length <= MAX_CIPHERTEXT:
        return APPLICATION_DATA_HEADER + length.to_bytes(2, "big")
    return None


class _Direction:
    """The protection state of one direction: AEAD, IV and sequence number."""

    __slots__ = ("aead", "iv", "limit", "seq", "suite")

    def __init__(self) -> None:
        self.aead: AEAD | None = None
        self.iv = 0
        self.seq = 0
        self.suite: CipherSuite | None = None
        #: The sequence number at which the key must be updated (its usage
        #: limit, RFC 8446 5.5), capped below the wrap of the 64-bit counter.
        self.limit = MAX_SEQ

    def install(self, suite: CipherSuite, secret: bytes) -> None:
        key, iv = (_traffic_keys or _load_traffic_keys())(suite, secret)
        self.aead = suite.aead(key)
        self.iv = int.from_bytes(iv, "big")
        self.seq = 0
        self.suite = suite
        self.limit = min(suite.usage_limit, MAX_SEQ)



class RecordLayer:
    __slots__ = (
        "_handshake_out", "_inbuf", "first_record_version", "max_fragment_size", "outgoing",
        "padding", "protected_fragment_size", "read_inner_limit", "read_state", "skip_budget",
        "skip_unprotected_application_data", "write_inner_limit", "write_state")

    def __init__(self, max_fragment_size: int = MAX_PLAINTEXT,
                 padding: Callable[[int, int], int] | None = None) -> None:
        self.max_fragment_size = max_fragment_size
        #: The largest content of a protected record we send: max_fragment_size,
        #: lowered by the peer's record_size_limit.
        self.protected_fragment_size = max_fragment_size
        #: TLSInnerPlaintext bounds (content + type + padding), RFC 8446 5.4 and
        #: RFC 8449: ours to the peer, and what we accept from the peer.
        self.write_inner_limit = _MAX_INNER_PLAINTEXT
        self.read_inner_limit = _MAX_INNER_PLAINTEXT
        self.padding = padding
        self.read_state = _Direction()
        self.write_state = _Direction()
        #: An incomplete record (a bytearray), or _NOTHING.
        self._inbuf: bytearray | bytes = _NOTHING
        self.outgoing: list[bytes] = []
        #: Handshake messages waiting to be packed together into records.
        self._handshake_out = _NOTHING
        #: How many bytes of records we may still drop because they fail to
        #: decrypt (rejected 0-RTT data, RFC 8446 section 4.2.10).
        self.skip_budget = 0
        self.skip_unprotected_application_data = False
        self.first_record_version = 0x0303

    # -- record_size_limit (RFC 8449) ----------------------------------------
    def set_peer_record_size_limit(self, limit: int) -> None:
        """Our protected records hold at most ``limit`` bytes of TLSInnerPlaintext."""
        self.write_inner_limit = min(limit, _MAX_INNER_PLAINTEXT)
        self.protected_fragment_size = min(self.max_fragment_size, self.write_inner_limit - 1)

    def set_own_record_size_limit(self, limit: int) -> None:
        """The peer's protected records over ``limit`` bytes are ``record_overflow``."""
        self.read_inner_limit = min(limit, _MAX_INNER_PLAINTEXT)

    # -- keys ---------------------------------------------------------------
    def set_read_key(self, suite: CipherSuite, secret: bytes) -> None:
        self.read_state.install(suite, secret)

    def set_write_key(self, suite: CipherSuite, secret: bytes) -> None:
        self._pack_handshake()
        self.write_state.install(suite, secret)

    def clear_write_key(self) -> None:
        """Back to plaintext: a client's 0-RTT key after a HelloRetryRequest (the second
        ClientHello goes out unprotected)."""
        self._pack_handshake()
        self.write_state = _Direction()

    @property
    def read_protected(self) -> bool:
        return self.read_state.aead is not None

    @property
    def write_protected(self) -> bool:
        return self.write_state.aead is not None

    @property
    def write_seq(self) -> int:
        return self.write_state.seq

    def key_update_due(self, records: int) -> bool:
        """Whether writing ``records`` more would reach the key's usage limit (RFC 8446 5.5)."""
        direction = self.write_state
        return direction.suite is not None and (
            direction.seq + records >= direction.suite.usage_limit)

    @property
    def write_usage_limit(self) -> int:
        suite = self.write_state.suite
        return suite.usage_limit if suite is not None else 2**64

    def fast_paths(self) -> tuple[bool, bool]:
        """Whether the connection's one-record paths may (write, read) now: a key is
        installed, no padding is configured and no handshake message waits (writing);
        a key is installed, no record is half received and no rejected 0-RTT data may
        be skipped (reading). None of it changes in those paths: the connection asks
        again after every general-path call (``TLSConnection._update_fast_paths``)."""
        return (self.write_state.aead is not None and self.padding is None
                and not self._handshake_out,
                self.read_state.aead is not None and not self._inbuf and not self.skip_budget)

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete record waiting for the rest."""
        return len(self._inbuf)

    # -- receiving ----------------------------------------------------------
    def read_records(self, data: bytes | bytearray | memoryview
                     ) -> Generator[tuple[int, bytes | memoryview, bool], None, None]:
        """Yield ``(content_type, content, protected)`` for every complete record.

        ``content`` is the plaintext with the inner content type and padding
        removed; ``protected`` says whether the record was encrypted.
        Incomplete trailing bytes are kept for the next call.
        """
        view = memoryview(data)
        inbuf = self._inbuf
        pos = 0
        try:
            if inbuf:
                # Complete the pending record with the front of ``data``.
                if len(inbuf) < HEADER_SIZE:
                    take = HEADER_SIZE - len(inbuf)
                    inbuf += view[:take]
                    view = view[take:]
                    if len(inbuf) < HEADER_SIZE:
                        return
                length = self._check_header(inbuf)
                take = HEADER_SIZE + length - len(inbuf)
                inbuf += view[:take]
                view = view[take:]
                if len(inbuf) < HEADER_SIZE + length:
                    return
                record = bytes(inbuf)
                self._inbuf = inbuf = _NOTHING
                opened = self._open(record[:HEADER_SIZE], memoryview(record)[HEADER_SIZE:])
                if opened is not None:
                    yield opened
            end = len(view)
            while end - pos >= HEADER_SIZE:
                header = view[pos : pos + HEADER_SIZE]
                length = self._check_header(header)
                if end - pos - HEADER_SIZE < length:
                    break
                start = pos + HEADER_SIZE
                pos = start + length
                opened = self._open(bytes(header), view[start:pos])
                if opened is not None:
                    yield opened
        finally:
            # What was not read yet: an incomplete record, or, when the caller
            # stopped early (after a close_notify), whatever followed.
            if pos < len(view):
                self.keep_unread(view[pos:])

    def take_buffered(self) -> bytes:
        """Remove and return the bytes received but not read as records."""
        data = bytes(self._inbuf)
        self._inbuf = _NOTHING
        return data

    def keep_unread(self, data: bytes | bytearray | memoryview) -> None:
        """Keep bytes that will not be read as records (after a close_notify)."""
        if self._inbuf:
            self._inbuf += data
        else:
            self._inbuf = bytearray(data)

    def _check_header(self, header: bytes | bytearray | memoryview) -> int:
        content_type = header[0]
        if content_type not in _CONTENT_TYPES:
            raise UnexpectedMessage(f"a record of unknown content type {content_type}")
        length = (header[3] << 8) | header[4]
        if length > MAX_CIPHERTEXT:
            raise RecordOverflow(f"a record of {length} bytes")
        return length

    def _open(self, header: bytes, fragment: memoryview
              ) -> tuple[int, bytes | memoryview, bool] | None:
        content_type = header[0]
        direction = self.read_state
        aead = direction.aead
        if aead is None or content_type != _APPLICATION_DATA:
            # Unprotected: the connection decides whether that is allowed now.
            if len(fragment) > MAX_PLAINTEXT:
                raise RecordOverflow(f"a plaintext record of {len(fragment)} bytes")
            if (aead is None and content_type == _APPLICATION_DATA
                    and self.skip_unprotected_application_data):
                self._skip(len(fragment), "application data before the handshake keys")
                return None
            if not fragment and content_type != _APPLICATION_DATA:
                raise UnexpectedMessage(f"an empty {ContentType(content_type).name} record")
            return content_type, bytes(fragment), False
        seq = direction.seq
        if seq >= MAX_SEQ:
            raise UnexpectedMessage("the record sequence number would wrap")
        try:
            plaintext = aead.decrypt((direction.iv ^ seq).to_bytes(12), fragment, header)
        except invalid_tag():
            if self.skip_budget:
                self._skip(len(fragment), "a record that does not decrypt")
                return None
            raise BadRecordMac("a record failed to decrypt") from None
        direction.seq = seq + 1
        if self.skip_budget:
            self.skip_budget = 0  # the peer is now past its early data
        return self.inner_plaintext(plaintext)

    def inner_plaintext(self, plaintext: bytes) -> tuple[int, memoryview, bool]:
        """TLSInnerPlaintext: strip the zero padding, find the real content type."""
        end = len(plaintext)
        if end > self.read_inner_limit:  # content + type + padding (5.4, RFC 8449)
            raise RecordOverflow(f"a record of {end} bytes of inner plaintext",
                                 reason="record_size_limit")
        if end and plaintext[-1]:
            end -= 1
        else:
            end = len(plaintext.rstrip(b"\x00")) - 1
            if end < 0:
                raise UnexpectedMessage("a record holding only padding")
        content_type = plaintext[end]
        if content_type not in _PROTECTED_CONTENT_TYPES:
            raise UnexpectedMessage(f"a protected record of content type {content_type}")
        if not end and content_type != _APPLICATION_DATA:
            raise UnexpectedMessage(f"an empty {ContentType(content_type).name} record")
        return content_type, memoryview(plaintext)[:end], True

    def _skip(self, size: int, what: str) -> None:
        if size > self.skip_budget:
            raise (BadRecordMac if self.read_protected else UnexpectedMessage)(
                f"{what}, past the early data the peer may send")
        self.skip_budget -= size

    # -- sending ------------------------------------------------------------
    def write_handshake(self, message: bytes) -> None:
        """Queue a handshake message; consecutive ones share records (until a key change)."""
        self._handshake_out += message

    def _pack_handshake(self) -> None:
        data = self._handshake_out
        if data:
            self._handshake_out = _NOTHING
            self.write(ContentType.HANDSHAKE, data)

    def write(self, content_type: int, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` as records of ``content_type``, protected when a key is set."""
        if self._handshake_out:
            self._pack_handshake()
        direction = self.write_state
        aead = direction.aead
        length = len(data)
        if aead is not None and 0 < length <= self.protected_fragment_size and self.padding is None:
            # The common case, one protected record: the same as the loop below.
            seq = direction.seq
            if seq >= MAX_SEQ:
                raise UnexpectedMessage("the record sequence number would wrap")
            direction.seq = seq + 1
            header = APPLICATION_DATA_HEADER + (length + 17).to_bytes(2, "big")
            self.outgoing.append(header)
            self.outgoing.append(aead.encrypt((direction.iv ^ seq).to_bytes(12),
                                          b"".join((data, _TYPE_BYTES[content_type])), header))
            return
        view = memoryview(data)
        out = self.outgoing
        if aead is None:
            size = self.max_fragment_size
            header = bytes((content_type,)) + self.first_record_version.to_bytes(2, "big")
            self.first_record_version = 0x0303
            for start in range(0, len(view), size):
                chunk = view[start : start + size]
                out.append(header + len(chunk).to_bytes(2, "big"))
                out.append(bytes(chunk))
            return
        type_byte = bytes((content_type,))
        size = self.protected_fragment_size
        room = self.write_inner_limit - 1
        padding = self.padding
        iv = direction.iv
        for start in range(0, max(len(view), 1), size):
            chunk = view[start : start + size]
            if padding is None:
                inner = b"".join((chunk, type_byte))
            else:
                pad = max(0, min(padding(content_type, len(chunk)), room - len(chunk)))
                inner = b"".join((chunk, type_byte, bytes(pad)))
            header = APPLICATION_DATA_HEADER + (len(inner) + 16).to_bytes(2, "big")
            seq = direction.seq
            if seq >= MAX_SEQ:
                raise UnexpectedMessage("the record sequence number would wrap")
            direction.seq = seq + 1
            out.append(header)
            out.append(aead.encrypt((iv ^ seq).to_bytes(12), inner, header))

    def write_change_cipher_spec(self) -> None:
        self._pack_handshake()
        self.outgoing.append(_CHANGE_CIPHER_SPEC_RECORD)

    def flush(self, size: int | None = None) -> bytes:
        """Everything queued, joined; with ``size``, at most that many bytes (the rest
        stays queued, first)."""
        if self._handshake_out:
            self._pack_handshake()
        out = self.outgoing
        if not out:
            return b""
        data = b"".join(out)  # one bytes object: itself, not a copy
        out.clear()
        if size is not None and len(data) > size:
            out.append(data[size:])
            return data[:size]
        return data

    def pending(self) -> int:
        return sum(map(len, self.outgoing)) + len(self._handshake_out)
