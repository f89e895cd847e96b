"""Pre-shared keys: the pre_shared_key extension, binders, and who offers and
picks which PSK (RFC 8446 sections 2.2, 4.2.9, 4.2.11).

Theory of operation
-------------------
A PSK is either a *resumption* PSK (from a NewSessionTicket: the client holds
a :class:`~siotls.core.session.TLSSession`, the server opens the ticket,
:mod:`siotls.core.tickets`) or an *external* one (:class:`ExternalPSK`,
provisioned on both sides). Each is bound to a hash, the hash of its cipher
suite.

Client: :func:`client_offers` lists what to offer (the session first when it
is usable for this connection, then the external PSKs); :func:`write_client_hello`
appends pre_shared_key as the last extension and fills in the binders: an
HMAC, keyed from the PSK, over the ClientHello truncated before the binders
list (and over the HelloRetryRequest exchange when there was one, 4.2.11.2).

Server: :func:`choose` looks at the identities in order, takes the first it
can use (known external identity, or a ticket that opens and fits this
connection: live, same SNI, client authenticated when we require it, a hash
we have a cipher suite for) and verifies that identity's binder only; a wrong
binder is ``decrypt_error``. Unusable identities are skipped: no usable one
means a full handshake. The key exchange mode is the server's first choice
among the client's psk_key_exchange_modes (psk_dhe_ke by default; psk_ke,
without forward secrecy, only when both configurations allow it).

A PSK handshake sends no Certificate, CertificateRequest nor CertificateVerify:
the client goes from WAIT_EE to WAIT_FINISHED, and the authentication state
of the original connection (the peers' certificates) comes from the session.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from siotls.core import crypto
from siotls.core import extensions as ext
from siotls.core.codec import Reader, Writer
from siotls.core.errors import DecryptError, IllegalParameter, MissingExtension
from siotls.core.extensions import ET
from siotls.core.keyschedule import KeySchedule, finished_verify_data
from siotls.core.messages import ClientHello
from siotls.core.tickets import TicketKeys, TicketState, open_ticket
from siotls.iana import CipherSuites, PskKeyExchangeMode

if TYPE_CHECKING:
    from siotls.core.config import TLSConfiguration
    from siotls.core.session import TLSSession

#: How many offered identities a server looks at, at most.
MAX_IDENTITIES_TRIED = 8
_HASH_SUITES = {
    "sha256": CipherSuites.TLS_AES_128_GCM_SHA256,
    "sha384": CipherSuites.TLS_AES_256_GCM_SHA384,
}


@dataclass(frozen=True)
class ExternalPSK:
    """A key provisioned outside TLS (RFC 8446 2.2), configured on both sides.

    :param identity: the name the client sends for it (public).
    :param key: the secret itself (at least 16 bytes).
    :param hash: ``'sha256'`` (the RFC's default) or ``'sha384'``: the cipher
        suites it can be used with are those of this hash.
    """

    identity: bytes
    key: bytes = field(repr=False)
    hash: Literal["sha256", "sha384"] = "sha256"

    def __post_init__(self) -> None:
        if not 0 < len(self.identity) < 2**16:
            raise ValueError("a PSK identity is 1 to 65535 bytes long")
        if len(self.key) < 16:
            raise ValueError("a PSK is at least 16 bytes long")
        if self.hash not in _HASH_SUITES:
            raise ValueError("hash must be 'sha256' or 'sha384'")


#: What a server configuration holds: a list, or a function from identity to PSK.
ExternalPSKs = (Sequence[ExternalPSK] | Mapping[bytes, ExternalPSK]
                | Callable[[bytes], ExternalPSK | None])


def _hash_name(suite: int) -> str:
    return crypto.CIPHER_SUITES[suite].hash.name


# --- pre_shared_key (RFC 8446 section 4.2.11) --------------------------------------
#   struct {
#       opaque identity<1..2^16-1>;
#       uint32 obfuscated_ticket_age;
#   } PskIdentity;
#   opaque PskBinderEntry<32..255>;
#   struct {
#       PskIdentity identities<7..2^16-1>;
#       PskBinderEntry binders<33..2^16-1>;
#   } OfferedPsks;
#   struct {
#       select (Handshake.msg_type) {
#           case client_hello: OfferedPsks;
#           case server_hello: uint16 selected_identity;
#       };
#   } PreSharedKeyExtension;

def encode_binders(binders: Sequence[bytes]) -> bytes:
    w = Writer()
    with w.block(2):
        for binder in binders:
            w.opaque(1, binder)
    return w.getvalue()


def encode_offered_psks(identities: Sequence[tuple[bytes, int]], binders: Sequence[bytes]
                        ) -> bytes:
    w = Writer()
    with w.block(2):
        for identity, age in identities:
            w.opaque(2, identity)
            w.u32(age)
    return w.getvalue() + encode_binders(binders)


def decode_offered_psks(data: bytes) -> tuple[list[tuple[bytes, int]], list[bytes]]:
    r = Reader(data)
    identities = []
    with r.block(2, minimum=7):
        while not r.at_end():
            identity = r.opaque(2, minimum=1)
            identities.append((identity, r.u32()))
    binders = []
    with r.block(2, minimum=33):
        while not r.at_end():
            binders.append(r.opaque(1, minimum=32))
    r.expect_end("pre_shared_key extension")
    if len(identities) != len(binders):
        raise IllegalParameter(
            f"pre_shared_key offers {len(identities)} identities and {len(binders)} binders")
    return identities, binders


def compute_binder(suite: int, psk: bytes, external: bool, transcript_hash: bytes) -> bytes:
    """RFC 8446 4.2.11.2: a Finished-style HMAC keyed by the PSK's binder_key."""
    cipher_suite = crypto.CIPHER_SUITES[suite]
    binder_key = KeySchedule(cipher_suite, psk).binder_key(external)
    return finished_verify_data(cipher_suite, binder_key, transcript_hash)


def hash_of(suite: int, data: bytes | memoryview) -> bytes:
    digest = crypto.new_hash(crypto.CIPHER_SUITES[suite].hash)
    digest.update(data)
    return digest.finalize()


# --- client ------------------------------------------------------------------------

@dataclass(frozen=True)
class PskOffer:
    """One identity a client offers, and what it needs if the server takes it."""

    identity: bytes
    obfuscated_ticket_age: int
    psk: bytes = field(repr=False)
    #: a cipher suite of the PSK's hash (the session's own suite for tickets)
    suite: int
    external: bool
    session: TLSSession | None = None


def session_usable(session: TLSSession, config: TLSConfiguration,
                   server_hostname: str | None, now: float) -> bool:
    """Whether a client may offer ``session`` on this connection (RFC 8446 4.6.1)."""
    if session.is_expired(now) or session.server_name != server_hostname:
        return False
    if config.truststore is not None and not session.peer_verified:
        return False  # a session that was not authenticated as this one must be
    name = _hash_name(session.cipher_suite)
    return any(_hash_name(suite) == name for suite in config.cipher_suites)


def client_offers(config: TLSConfiguration, server_hostname: str | None,
                  session: TLSSession | None, now: float) -> list[PskOffer]:
    offers = []
    if session is not None and session_usable(session, config, server_hostname, now):
        offers.append(PskOffer(session.ticket, session.obfuscated_ticket_age(now),
                               session.psk, session.cipher_suite, False, session))
    external = config.external_psks
    # (the configuration made a mapping a tuple; "external and": no ABC check when empty)
    if external and isinstance(external, Sequence):
        offers.extend(PskOffer(psk.identity, 0, psk.key, _HASH_SUITES[psk.hash], True)
                      for psk in external
                      if any(_hash_name(s) == psk.hash for s in config.cipher_suites))
    return offers


def keep_offers_for_suite(offers: Sequence[PskOffer], suite: int) -> list[PskOffer]:
    """After a HelloRetryRequest: only the PSKs of the chosen suite's hash (4.1.4)."""
    return [offer for offer in offers if _hash_name(offer.suite) == _hash_name(suite)]


def write_client_hello(ch: ClientHello, offers: Sequence[PskOffer],
                       transcript_hash: Callable[[PskOffer, bytes], bytes]) -> bytes:
    """``ch`` serialized with pre_shared_key last, its binders computed.

    ``transcript_hash(offer, truncated)`` hashes what the binder covers: the
    truncated ClientHello, after the HelloRetryRequest exchange if there was one.
    """
    placeholders = [bytes(crypto.CIPHER_SUITES[o.suite].hash_length) for o in offers]
    identities = [(o.identity, o.obfuscated_ticket_age) for o in offers]
    extensions = {k: v for k, v in ch.extensions.items() if k != ET.PRE_SHARED_KEY}
    extensions[ET.PRE_SHARED_KEY] = encode_offered_psks(identities, placeholders)
    raw = replace(ch, extensions=extensions).serialize()
    truncated = raw[: len(raw) - len(encode_binders(placeholders))]
    binders = [compute_binder(o.suite, o.psk, o.external, transcript_hash(o, truncated))
               for o in offers]
    return truncated + encode_binders(binders)


def check_selected(offers: Sequence[PskOffer], selected: int, suite: int,
                   has_key_share: bool, modes: Sequence[int]) -> PskOffer:
    """RFC 8446 4.2.11: the client checks the server's choice; illegal_parameter if wrong."""
    if selected >= len(offers):
        raise IllegalParameter(f"the server selected PSK {selected} of {len(offers)}")
    offer = offers[selected]
    if _hash_name(offer.suite) != _hash_name(suite):
        raise IllegalParameter("the server's cipher suite does not match the PSK's hash")
    if not has_key_share and PskKeyExchangeMode.psk_ke not in modes:
        raise IllegalParameter("a PSK ServerHello without key_share, but psk_ke was not offered")
    return offer


# --- server ------------------------------------------------------------------------

@dataclass(frozen=True)
class PskChoice:
    """The PSK a server accepted."""

    index: int
    psk: bytes = field(repr=False)
    suite: int
    mode: PskKeyExchangeMode
    #: the ticket's content for a resumption; ``None`` for an external PSK
    ticket: TicketState | None
    identity: bytes
    #: the identity's obfuscated_ticket_age, for the freshness check of 0-RTT (8.3)
    obfuscated_ticket_age: int = 0
    #: its binder (verified): unique to the ClientHello, the anti-replay key of 0-RTT
    binder: bytes = b""


def _external_psk(config: TLSConfiguration, identity: bytes) -> ExternalPSK | None:
    external = config.external_psks
    if not isinstance(external, Sequence):  # the configuration made a mapping a tuple
        return external(identity)  # type: ignore[operator]
    for psk in external:
        if hmac.compare_digest(psk.identity, identity):
            return psk
    return None


def _suite_for(config: TLSConfiguration, offered: Sequence[int], hash_name: str,
               required_suite: int | None) -> int | None:
    if required_suite is not None:
        return required_suite if _hash_name(required_suite) == hash_name else None
    offered_set = set(offered)
    return next((s for s in config.cipher_suites
                 if s in offered_set and _hash_name(s) == hash_name), None)


def choose(config: TLSConfiguration, ch: ClientHello, raw: bytes, *,
           schedule: KeySchedule | None, required_suite: int | None,
           server_name: str | None, ticket_keys: Callable[[], TicketKeys], now: float
           ) -> PskChoice | None:
    """The PSK the server takes from ``ch`` (binder verified), or ``None``: full handshake.

    ``schedule`` holds the HelloRetryRequest exchange when there was one, and
    ``required_suite`` is then the cipher suite the HelloRetryRequest fixed.
    """
    exts = ch.extensions
    if ET.PSK_KEY_EXCHANGE_MODES not in exts:
        raise MissingExtension("pre_shared_key without psk_key_exchange_modes")
    client_modes = ext.decode_psk_key_exchange_modes(exts[ET.PSK_KEY_EXCHANGE_MODES])
    identities, binders = decode_offered_psks(exts[ET.PRE_SHARED_KEY])
    mode = next((m for m in config.psk_key_exchange_modes if m in client_modes), None)
    if mode is None:
        return None
    for index, (identity, age) in enumerate(identities[:MAX_IDENTITIES_TRIED]):
        external = _external_psk(config, identity)
        ticket = None
        hash_name: str
        if external is not None:
            key, hash_name = external.key, external.hash
        else:
            ticket = open_ticket(ticket_keys(), identity)
            if ticket is None or not _ticket_fits(config, ticket, server_name, now):
                continue
            key, hash_name = ticket.psk, _hash_name(ticket.cipher_suite)
        suite = _suite_for(config, ch.cipher_suites, hash_name, required_suite)
        if suite is None:
            continue
        truncated = raw[: len(raw) - len(encode_binders(binders))]
        transcript_hash = (schedule.transcript_hash_with(truncated) if schedule is not None
                           else hash_of(suite, truncated))
        expected = compute_binder(suite, key, external is not None, transcript_hash)
        if not hmac.compare_digest(binders[index], expected):
            raise DecryptError("the PSK binder does not verify", reason="bad_binder")
        return PskChoice(index, key, suite, PskKeyExchangeMode(mode), ticket, identity,
                         age, binders[index])
    return None


def _ticket_fits(config: TLSConfiguration, ticket: TicketState, server_name: str | None,
                 now: float) -> bool:
    """Never resume under other requirements than the original handshake's."""
    if not ticket.is_live(now) or ticket.server_name != server_name:
        return False
    return not config.require_peer_authentication or ticket.client_verified
