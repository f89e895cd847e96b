"""Crafting TLS bytes by hand for the bad-input and fuzz tests: records, handshake
messages, and a :class:`Sealer` that protects records as the peer would."""

from __future__ import annotations

from siotls.core.codec import Writer
from siotls.core.crypto import CipherSuite
from siotls.core.keyschedule import traffic_keys
from siotls.core.messages import ClientHello
from siotls.iana import ContentType
from siotls.iana import HandshakeType as HT


def record(content_type: int, payload: bytes) -> bytes:
    return bytes((content_type, 3, 3)) + len(payload).to_bytes(2, "big") + payload


def hs_record(*messages: bytes) -> bytes:
    return record(ContentType.HANDSHAKE, b"".join(messages))


def message(msg_type: int, body: bytes) -> bytes:
    return bytes((msg_type,)) + len(body).to_bytes(3, "big") + body


def split_records(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        end = pos + 5 + int.from_bytes(data[pos + 3 : pos + 5], "big")
        out.append(data[pos:end])
        pos = end
    return out


def split_messages(stream: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(stream):
        end = pos + 4 + int.from_bytes(stream[pos + 1 : pos + 4], "big")
        out.append(stream[pos:end])
        pos = end
    return out


def plaintext_alert(description: int) -> bytes:
    return bytes((21, 3, 3, 0, 2, 2, description))


def raw_extensions(pairs: list[tuple[int, bytes]]) -> bytes:
    w = Writer()
    with w.block(2):
        for ext_type, data in pairs:
            w.u16(ext_type)
            w.opaque(2, data)
    return w.getvalue()


def client_hello_with_raw_extensions(ch: ClientHello, pairs: list[tuple[int, bytes]]) -> bytes:
    """A ClientHello whose extension block is written verbatim (duplicates allowed)."""
    w = Writer()
    w.u16(ch.legacy_version)
    w.bytes(ch.random)
    w.opaque(1, ch.legacy_session_id)
    w.u16_list(2, ch.cipher_suites)
    w.opaque(1, ch.legacy_compression_methods)
    return message(HT.CLIENT_HELLO, bytes(w.buf) + raw_extensions(pairs))


class Sealer:
    """Protects (and opens) records with one traffic secret, like a peer would."""

    def __init__(self, suite: CipherSuite, secret: bytes) -> None:
        key, iv = traffic_keys(suite, secret)
        self.aead = suite.aead(key)
        self.iv = int.from_bytes(iv, "big")
        self.seq = 0

    def _nonce(self) -> bytes:
        nonce = (self.iv ^ self.seq).to_bytes(12, "big")
        self.seq += 1
        return nonce

    def seal(self, inner: bytes) -> bytes:
        """One record around a raw TLSInnerPlaintext."""
        header = bytes((23, 3, 3)) + (len(inner) + 16).to_bytes(2, "big")
        return header + self.aead.encrypt(self._nonce(), inner, header)

    def records(self, content_type: int, *payloads: bytes) -> bytes:
        """One record per payload."""
        return b"".join(self.seal(p + bytes((content_type,))) for p in payloads)

    def handshake(self, *messages: bytes) -> bytes:
        return self.records(ContentType.HANDSHAKE, *messages)

    def open(self, rec: bytes) -> tuple[int, bytes]:
        inner = self.aead.decrypt(self._nonce(), rec[5:], rec[:5]).rstrip(b"\x00")
        return inner[-1], inner[:-1]
