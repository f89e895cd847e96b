"""Pure negotiation rules: what the server picks from a ClientHello.

Each function takes our preferences and the peer's offer and returns the
choice, or raises the alert RFC 8446 prescribes. The server's order of
preference wins everywhere. No state, no I/O: tested directly.
"""

from __future__ import annotations

from collections.abc import Sequence

from siotls.core.errors import HandshakeFailure, NoApplicationProtocol


def select_cipher_suite(ours: Sequence[int], offered: Sequence[int]) -> int:
    offered_set = set(offered)
    for suite in ours:
        if suite in offered_set:
            return suite
    raise HandshakeFailure("no cipher suite in common")


def select_group(ours: Sequence[int], supported_groups: Sequence[int],
                 key_shares: Sequence[int]) -> tuple[int, bool]:
    """``(group, needs_hello_retry_request)``.

    A group the client already sent a share for is taken first, in *our* order
    (a post-quantum hybrid before x25519 by default, whatever the order of the
    client's shares), so that a HelloRetryRequest is only needed when no share
    is usable: a hybrid we prefer but got no share for never costs a round trip.
    """
    shares = set(key_shares)
    for group in ours:
        if group in shares:
            return group, False
    supported = set(supported_groups)
    for group in ours:
        if group in supported:
            return group, True
    raise HandshakeFailure("no key exchange group in common")


def select_signature_scheme(ours: Sequence[int], offered: Sequence[int],
                            usable: Sequence[int]) -> int:
    """Our first scheme that the peer offered and our key can make."""
    offered_set, usable_set = set(offered), set(usable)
    for scheme in ours:
        if scheme in offered_set and scheme in usable_set:
            return scheme
    raise HandshakeFailure("no signature scheme in common for our certificate's key")


def select_alpn(ours: Sequence[bytes] | None, offered: Sequence[bytes]) -> bytes | None:
    """RFC 7301 section 3.2: no common protocol is ``no_application_protocol``."""
    if not ours:
        return None
    offered_set = set(offered)
    for protocol in ours:
        if protocol in offered_set:
            return protocol
    raise NoApplicationProtocol(f"the client offers {list(offered)}, we serve {list(ours)}")
