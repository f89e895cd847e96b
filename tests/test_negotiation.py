"""The selection rules of :mod:`siotls.core.negotiation`, called directly: the
server's order wins, a HelloRetryRequest only when no share is usable, and the
alert RFC 8446 (and RFC 7301 for ALPN) prescribes when nothing is in common."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siotls.core.errors import HandshakeFailure, NoApplicationProtocol
from siotls.core.negotiation import (
    select_alpn,
    select_cipher_suite,
    select_group,
    select_signature_scheme,
)
from siotls.iana import AlertDescription, CipherSuites, NamedGroup, SignatureScheme

AES128 = CipherSuites.TLS_AES_128_GCM_SHA256
AES256 = CipherSuites.TLS_AES_256_GCM_SHA384
CHACHA = CipherSuites.TLS_CHACHA20_POLY1305_SHA256
X25519, P256, P384 = NamedGroup.x25519, NamedGroup.secp256r1, NamedGroup.secp384r1
GREASE = 0x0A0A


def test_cipher_suite_server_order_wins() -> None:
    assert select_cipher_suite([AES256, AES128], [AES128, CHACHA, AES256]) == AES256
    assert select_cipher_suite([CHACHA, AES128], [GREASE, AES128]) == AES128


def test_no_cipher_suite_in_common() -> None:
    with pytest.raises(HandshakeFailure, match="no cipher suite") as caught:
        select_cipher_suite([AES128], [AES256, GREASE])
    assert caught.value.description == AlertDescription.HANDSHAKE_FAILURE


@given(st.lists(st.sampled_from([AES128, AES256, CHACHA]), min_size=1, unique=True),
       st.lists(st.integers(0, 0xFFFF), max_size=8))
def test_cipher_suite_is_our_first_offered(ours: list[int], offered: list[int]) -> None:
    common = [suite for suite in ours if suite in offered]
    if common:
        assert select_cipher_suite(ours, offered) == common[0]
    else:
        with pytest.raises(HandshakeFailure):
            select_cipher_suite(ours, offered)


def test_group_with_a_share_needs_no_hello_retry() -> None:
    # Our first choice is P-256, but the client shared x25519, which we also take.
    assert select_group([P256, X25519], [X25519, P256], [X25519]) == (X25519, False)
    # Among shares, our order wins.
    assert select_group([P256, X25519], [X25519, P256], [X25519, P256]) == (P256, False)


def test_group_without_a_usable_share_asks_for_one() -> None:
    assert select_group([P256, P384], [X25519, P384, P256], [X25519]) == (P256, True)
    assert select_group([P256], [GREASE, P256], [GREASE]) == (P256, True)


def test_no_group_in_common() -> None:
    with pytest.raises(HandshakeFailure, match="no key exchange group"):
        select_group([P256], [X25519], [X25519])


def test_signature_scheme_must_be_offered_and_usable() -> None:
    ours = [SignatureScheme.ed25519, SignatureScheme.ecdsa_secp256r1_sha256,
            SignatureScheme.rsa_pss_rsae_sha256]
    offered = [SignatureScheme.rsa_pss_rsae_sha256, SignatureScheme.ecdsa_secp256r1_sha256,
               SignatureScheme.ed25519]
    ec_key = [SignatureScheme.ecdsa_secp256r1_sha256]
    assert select_signature_scheme(ours, offered, ec_key) == SignatureScheme.ecdsa_secp256r1_sha256
    assert select_signature_scheme(ours, offered, [*ec_key, SignatureScheme.ed25519]) \
        == SignatureScheme.ed25519  # our order, not the client's
    with pytest.raises(HandshakeFailure, match="no signature scheme"):
        select_signature_scheme(ours, [SignatureScheme.rsa_pss_rsae_sha256], ec_key)


def test_alpn() -> None:
    assert select_alpn([b"h2", b"http/1.1"], [b"http/1.1", b"h2"]) == b"h2"
    assert select_alpn(None, [b"h2"]) is None  # we do not negotiate ALPN: ignore the offer
    with pytest.raises(NoApplicationProtocol) as caught:
        select_alpn([b"h2"], [b"http/1.1"])
    assert caught.value.description == AlertDescription.NO_APPLICATION_PROTOCOL
