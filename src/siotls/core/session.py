"""TLSSession: a ticket the client received, kept to resume a session later.

A client turns each NewSessionTicket (RFC 8446 4.6.1) into a :class:`TLSSession`
(:attr:`TLSConnection.session_tickets <siotls.TLSConnection.session_tickets>`).
A session serializes to bytes and back (:meth:`TLSSession.to_bytes`,
:meth:`TLSSession.from_bytes`) so callers can keep it in their own cache, per
origin, and give it to a later connection: ``TLSConnection(config,
server_hostname, session=session)``. The bytes hold the resumption PSK: keep
them as secret as the traffic they would resume.

    struct {
        opaque magic[8] = "siotlsS1";
        CipherSuite cipher_suite;
        opaque psk<1..255>;
        opaque ticket<1..2^16-1>;
        uint32 ticket_lifetime;
        uint32 ticket_age_add;
        uint32 max_early_data_size;
        uint64 received_at;                 /* milliseconds since the epoch */
        opaque server_name<0..255>;         /* empty: none */
        opaque alpn<0..255>;                /* empty: none */
        uint8 peer_verified;
        opaque peer_certificate_chain<0..2^24-1>;   /* opaque cert_data<1..2^24-1> */
    } Session;
"""

from __future__ import annotations

from dataclasses import dataclass, field

from siotls.core import crypto
from siotls.core.codec import Reader, Writer
from siotls.core.errors import TLSFatalAlert, TLSUsageError
from siotls.iana import CipherSuites

_MAGIC = b"siotlsS1"
#: The latest ``received_at`` a session may hold, in ms (2^53: exact as a float).
MAX_RECEIVED_AT_MS = 2**53


@dataclass(frozen=True)
class TLSSession:
    """A resumable session, from one NewSessionTicket.

    Give each session to one connection only: a ticket used twice lets an
    observer link the two connections.
    """

    cipher_suite: CipherSuites
    psk: bytes = field(repr=False)
    ticket: bytes = field(repr=False)
    ticket_lifetime: int
    ticket_age_add: int = field(repr=False)
    max_early_data_size: int
    #: When the ticket arrived (``config.clock()``, seconds since the epoch).
    received_at: float
    server_name: str | None
    alpn: bytes | None
    peer_verified: bool
    peer_certificate_chain: tuple[bytes, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        # Kept to the millisecond, as serialized: rounded down (never in the future),
        # and a value already whole in ms stays itself (x / 1000 * 1000 may fall short).
        millis = round(self.received_at * 1000)
        if millis / 1000 > self.received_at:
            millis -= 1
        object.__setattr__(self, "received_at", millis / 1000)

    def is_expired(self, now: float) -> bool:
        """RFC 8446 4.2.11.1: never use a ticket older than its lifetime."""
        return not self.received_at <= now < self.received_at + self.ticket_lifetime

    def obfuscated_ticket_age(self, now: float) -> int:
        """The age in milliseconds plus ticket_age_add, modulo 2^32 (RFC 8446 4.2.11.1)."""
        age = max(0, int((now - self.received_at) * 1000))
        return (age + self.ticket_age_add) % 2**32

    def to_bytes(self) -> bytes:
        w = Writer()
        w.bytes(_MAGIC)
        w.u16(self.cipher_suite)
        w.opaque(1, self.psk)
        w.opaque(2, self.ticket)
        w.u32(self.ticket_lifetime)
        w.u32(self.ticket_age_add)
        w.u32(self.max_early_data_size)
        w.bytes(round(self.received_at * 1000).to_bytes(8, "big"))
        w.opaque(1, (self.server_name or "").encode("ascii"))
        w.opaque(1, self.alpn or b"")
        w.u8(int(self.peer_verified))
        w.opaque_list(3, 3, self.peer_certificate_chain)
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TLSSession:
        """The session :meth:`to_bytes` wrote; :class:`TLSUsageError` for other bytes."""
        try:
            return cls._parse(data)
        except (TLSFatalAlert, UnicodeDecodeError, ValueError) as exc:
            raise TLSUsageError(f"not a siotls session: {exc}") from None

    @classmethod
    def _parse(cls, data: bytes) -> TLSSession:
        r = Reader(data)
        if r.bytes(len(_MAGIC)) != _MAGIC:
            raise ValueError("wrong magic")
        suite = r.u16()
        if suite not in crypto.CIPHER_SUITES:
            raise ValueError(f"unknown cipher suite {suite:#06x}")
        psk = r.opaque(1, minimum=1)
        ticket = r.opaque(2, minimum=1)
        lifetime, age_add, max_early_data = r.u32(), r.u32(), r.u32()
        received_ms = int.from_bytes(r.bytes(8), "big")
        if received_ms > MAX_RECEIVED_AT_MS:  # a float would not give it back exactly
            raise ValueError(f"received_at {received_ms} ms is out of range")
        received_at = received_ms / 1000
        server_name = r.opaque(1).decode("ascii") or None
        alpn = r.opaque(1) or None
        verified = bool(r.u8())
        chain = r.opaque_list(3, 3)
        r.expect_end("session")
        return cls(CipherSuites(suite), psk, ticket, lifetime, age_add, max_early_data,
                   received_at, server_name, alpn, verified, chain)
