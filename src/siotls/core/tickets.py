"""Stateless session tickets (RFC 8446 section 4.6.1) and the keys that seal them.

Theory of operation
-------------------
Once the handshake completed, the server sends ``num_tickets`` NewSessionTicket
messages (one after a resumption), right before its first application data
(RFC 8446 4.6.1 allows any time after the client's Finished). Sent at once,
they would sit unread in the receive buffer of a client that closes without
reading, and closing a socket with unread data makes TCP reset the connection:
the server would see ECONNRESET instead of a clean end. Each ticket is self-contained: the server
keeps nothing. What a later resumption needs, :class:`TicketState`, is
serialized and sealed with AES-256-GCM under the current :class:`TicketKey`::

    ticket = key_id (16) || nonce (12) || AES-256-GCM(key, nonce, TicketState, aad=key_id)

The ticket carries the resumption PSK itself (already derived from the
resumption master secret with the ticket's nonce), so every ticket of a
connection is independent of the others.

:class:`TicketKeys` holds the keys: the first encrypts, every key decrypts
(by default the current one and two older ones). It is mutable on purpose: a
live configuration rotates its keys with :meth:`TicketKeys.rotate` or
:meth:`TicketKeys.replace`, and every process or machine given the same keys
(the key file, :func:`parse_key_file`) resumes the others' sessions.

A ticket that does not open (unknown key id, tampered, truncated, expired, or
from another server) is ignored: the handshake goes on without it (a full
handshake), as RFC 8446 4.2.11 recommends. Without configured keys a server
uses keys of its own, made on first use and kept for the life of the process
(:func:`process_ticket_keys`), rotated daily.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from siotls.core import crypto
from siotls.core.codec import Reader
from siotls.core.errors import TLSFatalAlert
from siotls.core.messages import NewSessionTicket
from siotls.iana import CipherSuites, ExtensionType

if TYPE_CHECKING:
    from siotls.core.config import TLSConfiguration, TLSNegotiatedConfiguration
    from siotls.core.keyschedule import KeySchedule

KEY_ID_LENGTH = 16
KEY_LENGTH = 32
NONCE_LENGTH = 12
#: Keys kept by default: the current one and two older.
DEFAULT_KEEP = 3
#: The automatic (per-process) keys rotate this often, in seconds.
AUTOMATIC_ROTATION = 86400
#: RFC 8446 4.6.1: a ticket lives at most seven days.
MAX_TICKET_LIFETIME = 604800
#: A resumption issues a new ticket, and so on: RFC 8446 4.6.1 recommends a limit
#: on such chains. No ticket outlives the full handshake it descends from by more.
MAX_SESSION_AGE = 604800
_TICKET_STATE_VERSION = 1
_HEAD = struct.Struct(">BHB")  # version, cipher_suite, length of psk
_TIMES = struct.Struct(">QQIIIB")  # created_at ... max_early_data_size, length of server_name


@dataclass(frozen=True)
class TicketKey:
    """One ticket key: a public 16-byte ``key_id`` and a secret AES-256 key."""

    key_id: bytes
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key_id) != KEY_ID_LENGTH or len(self.secret) != KEY_LENGTH:
            raise ValueError(f"a ticket key is a {KEY_ID_LENGTH}-byte id and a "
                             f"{KEY_LENGTH}-byte secret")

    @classmethod
    def generate(cls, random_bytes: Callable[[int], bytes]) -> TicketKey:
        return cls(random_bytes(KEY_ID_LENGTH), random_bytes(KEY_LENGTH))


class TicketKeys:
    """The server's ticket keys: ``keys[0]`` encrypts, every key decrypts.

    Share one instance between configurations, or load the same key file in
    every process, to resume sessions across them. Rotation is done in place,
    so a configuration in use picks the new keys up at its next ticket.
    """

    def __init__(self, keys: Sequence[TicketKey], keep: int = DEFAULT_KEEP) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.keep = keep
        self._keys: tuple[TicketKey, ...] = ()
        self.replace(keys)

    @classmethod
    def generate(cls, random_bytes: Callable[[int], bytes], keep: int = DEFAULT_KEEP
                 ) -> TicketKeys:
        """One fresh key."""
        return cls([TicketKey.generate(random_bytes)], keep)

    @property
    def keys(self) -> tuple[TicketKey, ...]:
        return self._keys

    def replace(self, keys: Sequence[TicketKey]) -> None:
        """Use ``keys`` from now on (the first encrypts); e.g. after reloading the key file."""
        keys = tuple(keys)
        if not keys:
            raise ValueError("at least one ticket key is needed")
        if len({key.key_id for key in keys}) != len(keys):
            raise ValueError("two ticket keys have the same key_id")
        self._keys = keys  # one assignment: readers see the old or the new tuple
        self._by_id = {key.key_id: key for key in keys}
        self._sealer: tuple[TicketKey, crypto.AEAD] | None = None

    def rotate(self, key: TicketKey) -> None:
        """Put ``key`` first (it encrypts from now on) and keep :attr:`keep` keys in all."""
        self.replace((key, *(k for k in self._keys if k.key_id != key.key_id))[: self.keep])

    def encryption_key(self) -> TicketKey:
        return self._keys[0]

    def sealer(self) -> tuple[TicketKey, crypto.AEAD]:
        """The encryption key and its AES-256-GCM, keyed once per key (not per ticket)."""
        key = self._keys[0]
        sealer = self._sealer
        if sealer is None or sealer[0] is not key:  # a new key since (rotate, replace)
            sealer = self._sealer = (key, crypto.sealer(key.secret))
        return sealer

    def find(self, key_id: bytes) -> TicketKey | None:
        return self._by_id.get(key_id)


# --- the key file --------------------------------------------------------------------
#   # comment lines and blank lines are ignored
#   <key_id: 32 hex digits> <secret: 64 hex digits>     <- encrypts
#   <key_id> <secret>                                   <- decrypts only
#   ...
_KEY_LINE = re.compile(r"([0-9a-fA-F]{32})\s+([0-9a-fA-F]{64})")
KEY_FILE_HEADER = ("# siotls ticket keys: one key per line, '<key id> <secret>' in hex;\n"
                   "# the first key encrypts new tickets, every key opens them.\n")


def parse_key_file(text: str) -> list[TicketKey]:
    """The keys of a key file's text; ValueError on a malformed line."""
    keys = []
    for number, raw_line in enumerate(text.splitlines(), 1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        match = _KEY_LINE.fullmatch(line)
        if match is None:
            raise ValueError(f"line {number} of the ticket key file is not "
                             "'<32 hex digits> <64 hex digits>'")
        keys.append(TicketKey(bytes.fromhex(match[1]), bytes.fromhex(match[2])))
    if not keys:
        raise ValueError("the ticket key file holds no key")
    return keys


def format_key_file(keys: Sequence[TicketKey]) -> str:
    return KEY_FILE_HEADER + "".join(f"{k.key_id.hex()} {k.secret.hex()}\n" for k in keys)


# --- automatic keys ------------------------------------------------------------------
_process_keys: TicketKeys | None = None
_process_keys_rotated_at = 0.0


def process_ticket_keys(random_bytes: Callable[[int], bytes], now: float) -> TicketKeys:
    """This process's own keys, for servers configured without ``ticket_keys``.

    Made on first use, rotated every :data:`AUTOMATIC_ROTATION` seconds; other
    processes cannot open the tickets they seal.
    """
    global _process_keys, _process_keys_rotated_at  # noqa: PLW0603 (one per process, by design)
    if _process_keys is None:
        _process_keys = TicketKeys.generate(random_bytes)
        _process_keys_rotated_at = now
    elif now - _process_keys_rotated_at >= AUTOMATIC_ROTATION:
        _process_keys.rotate(TicketKey.generate(random_bytes))
        _process_keys_rotated_at = now
    return _process_keys


# --- what a ticket holds ---------------------------------------------------------------

@dataclass(frozen=True)
class TicketState:
    """What the server needs to resume a session, sealed inside the ticket.

    struct {
        uint8 version = 1;
        CipherSuite cipher_suite;
        opaque psk<1..255>;                 /* the resumption PSK of this ticket */
        uint64 created_at;                  /* milliseconds since the epoch */
        uint64 authenticated_at;            /* of the full handshake it comes from */
        uint32 ticket_lifetime;             /* seconds */
        uint32 ticket_age_add;
        uint32 max_early_data_size;
        opaque server_name<0..255>;         /* empty: no SNI */
        opaque alpn<0..255>;                /* empty: no ALPN */
        uint8 client_verified;              /* the client's certificate chain verified */
        opaque client_certificate_chain<0..2^24-1>;  /* opaque cert_data<1..2^24-1> */
    } TicketState;
    """

    cipher_suite: CipherSuites
    psk: bytes = field(repr=False)
    created_at: float
    authenticated_at: float
    ticket_lifetime: int
    ticket_age_add: int
    max_early_data_size: int
    server_name: str | None
    alpn: bytes | None
    client_verified: bool
    client_certificate_chain: tuple[bytes, ...]

    def serialize(self) -> bytes:
        return encode_ticket_state(
            self.cipher_suite, self.psk, self.created_at, self.authenticated_at,
            self.ticket_lifetime, self.ticket_age_add, self.max_early_data_size,
            self.server_name, self.alpn, self.client_verified, self.client_certificate_chain)

    @classmethod
    def parse(cls, data: bytes) -> TicketState:
        """The inverse of :meth:`serialize`; a TLSFatalAlert (never sent) on bad bytes."""
        if len(data) < _HEAD.size or data[0] != _TICKET_STATE_VERSION:
            raise TLSFatalAlert("not a ticket of this version")
        _, suite, psk_length = _HEAD.unpack_from(data)
        if suite not in crypto.CIPHER_SUITES or not psk_length:
            raise TLSFatalAlert("an unknown ticket cipher suite")
        r = Reader(data)
        r.pos = _HEAD.size
        psk = r.bytes(psk_length)
        created, authenticated, lifetime, age_add, max_early_data, name_length = \
            _TIMES.unpack(r.bytes(_TIMES.size))
        server_name = r.bytes(name_length).decode("ascii") or None
        alpn = r.opaque(1) or None
        verified = bool(r.u8())
        chain = r.opaque_list(3, 3)
        r.expect_end("ticket")
        return cls(CipherSuites(suite), psk, created / 1000, authenticated / 1000, lifetime,
                   age_add, max_early_data, server_name, alpn, verified, chain)

    def is_live(self, now: float) -> bool:
        """Not expired, nor from the future (a minute of clock skew is tolerated), nor
        resting on a certificate exchange older than :data:`MAX_SESSION_AGE`."""
        return (self.created_at - 60 <= now < self.created_at + self.ticket_lifetime
                and now < self.authenticated_at + MAX_SESSION_AGE)


def encode_ticket_state(  # noqa: PLR0917 (TicketState's fields, in order)
        cipher_suite: int, psk: bytes, created_at: float, authenticated_at: float,
        ticket_lifetime: int, ticket_age_add: int, max_early_data_size: int,
        server_name: str | None, alpn: bytes | None, client_verified: bool,
        client_certificate_chain: tuple[bytes, ...]) -> bytes:
    """:meth:`TicketState.serialize` of these fields, without the (frozen) object: what
    :func:`new_session_ticket` seals."""
    chain = b"".join([len(der).to_bytes(3, "big") + der for der in client_certificate_chain])
    name = (server_name or "").encode("ascii")
    alpn = alpn or b""
    return b"".join((
        _HEAD.pack(_TICKET_STATE_VERSION, cipher_suite, len(psk)), psk,
        _TIMES.pack(int(created_at * 1000), int(authenticated_at * 1000),
                    ticket_lifetime, ticket_age_add, max_early_data_size, len(name)), name,
        bytes((len(alpn),)), alpn, bytes((client_verified,)),
        len(chain).to_bytes(3, "big"), chain))


def seal_ticket(keys: TicketKeys, state: TicketState | bytes,
                random_bytes: Callable[[int], bytes]) -> bytes:
    """``key_id || nonce || AES-256-GCM(key, nonce, state, aad=key_id)``; ``state``
    serialized already, or a :class:`TicketState`."""
    key, aead = keys.sealer()
    nonce = random_bytes(NONCE_LENGTH)
    plaintext = state if isinstance(state, bytes) else state.serialize()
    return key.key_id + nonce + aead.encrypt(nonce, plaintext, key.key_id)


def open_ticket(keys: TicketKeys, ticket: bytes) -> TicketState | None:
    """The state sealed in ``ticket``, or ``None`` for any ticket we cannot use."""
    header = KEY_ID_LENGTH + NONCE_LENGTH
    if len(ticket) <= header:
        return None
    key = keys.find(ticket[:KEY_ID_LENGTH])
    if key is None:
        return None
    plaintext = crypto.unseal(key.secret, ticket[KEY_ID_LENGTH:header], ticket[header:],
                              key.key_id)
    if plaintext is None:
        return None
    try:
        return TicketState.parse(plaintext)
    except (TLSFatalAlert, UnicodeDecodeError, ValueError):
        return None  # sealed by us, but not in a format we read (another version)


def new_session_ticket(config: TLSConfiguration, keys: TicketKeys, schedule: KeySchedule,
                       nconfig: TLSNegotiatedConfiguration, *, ticket_nonce: bytes, now: float,
                       authenticated_at: float) -> bytes | None:
    """A NewSessionTicket message for the connection, or ``None`` if the state is too
    big for a ticket (a huge client certificate chain).

    struct {
        uint32 ticket_lifetime;
        uint32 ticket_age_add;
        opaque ticket_nonce<0..255>;
        opaque ticket<1..2^16-1>;
        Extension extensions<0..2^16-2>;
    } NewSessionTicket;
    """
    assert nconfig.cipher_suite is not None
    lifetime = min(config.ticket_lifetime, int(authenticated_at + MAX_SESSION_AGE - now))
    if lifetime <= 0:
        return None
    age_add = int.from_bytes(config.random_bytes(4), "big")
    state = encode_ticket_state(
        nconfig.cipher_suite, schedule.resumption_psk(ticket_nonce), now, authenticated_at,
        lifetime, age_add, config.max_early_data, nconfig.server_name, nconfig.alpn,
        nconfig.peer_verified, nconfig.peer_certificate_chain)
    ticket = seal_ticket(keys, state, config.random_bytes)
    if len(ticket) >= 2**16:
        return None
    # RFC 8446 4.2.10: early_data (max_early_data_size) when 0-RTT is accepted
    extensions: dict[int, bytes] = {
        ExtensionType.EARLY_DATA: config.max_early_data.to_bytes(4, "big")} \
        if config.max_early_data else {}
    return NewSessionTicket(lifetime, age_add, ticket_nonce, ticket, extensions).serialize()
