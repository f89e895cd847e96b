"""The key schedule's precomputed HkdfLabels (``_LadderInfos``) against the general path.

:class:`KeySchedule` derives its ladder's secrets with HkdfLabels computed once per
suite; :func:`hkdf_expand_label` builds them per call. Both must give the same bytes,
for every suite (RFC 8448's vectors cover TLS_AES_128_GCM_SHA256 only), with and
without a PSK: a wrong constant (length, label, context length byte) fails here.
"""

from __future__ import annotations

import pytest

from siotls.core import crypto
from siotls.core.keyschedule import (
    KeySchedule,
    empty_hash,
    finished_verify_data,
    hkdf_expand_label,
)
from siotls.iana import CipherSuites


@pytest.mark.parametrize("code", list(crypto.CIPHER_SUITES))
@pytest.mark.parametrize("psk", [None, b"\x07" * 48])
def test_ladder_matches_hkdf_expand_label(code: CipherSuites, psk: bytes | None) -> None:
    suite = crypto.CIPHER_SUITES[code]
    n = suite.hash_length

    def derive(secret: bytes, label: bytes, context: bytes) -> bytes:
        return hkdf_expand_label(suite, secret, label, context, n)

    schedule = KeySchedule(suite, psk)
    schedule.update(b"\x01\x00\x00\x02hi")
    shared = bytes(range(n))
    schedule.enter_handshake(shared)
    th1 = schedule.transcript_hash()
    derived = derive(schedule.early_secret, b"derived", empty_hash(suite))
    handshake_secret = crypto.hkdf_extract(suite.hash, derived, shared)
    assert schedule.handshake_secret == handshake_secret
    assert schedule.client_handshake_traffic_secret == derive(
        handshake_secret, b"c hs traffic", th1)
    assert schedule.server_handshake_traffic_secret == derive(
        handshake_secret, b"s hs traffic", th1)

    schedule.update(b"\x14\x00\x00\x01f")
    schedule.enter_application()
    th2 = schedule.transcript_hash()
    assert th2 != th1
    master = crypto.hkdf_extract(
        suite.hash, derive(handshake_secret, b"derived", empty_hash(suite)), bytes(n))
    assert schedule.master_secret == master
    assert schedule.client_application_traffic_secret == derive(master, b"c ap traffic", th2)
    assert schedule.server_application_traffic_secret == derive(master, b"s ap traffic", th2)
    assert schedule.exporter_master_secret == derive(master, b"exp master", th2)

    schedule.update(b"\x14\x00\x00\x01g")
    schedule.enter_resumption()
    th3 = schedule.transcript_hash()
    assert schedule.resumption_master_secret == derive(master, b"res master", th3)
    assert len({schedule.client_handshake_traffic_secret, schedule.server_handshake_traffic_secret,
                schedule.client_application_traffic_secret,
                schedule.server_application_traffic_secret, schedule.exporter_master_secret,
                schedule.resumption_master_secret}) == 6


@pytest.mark.parametrize("code", list(crypto.CIPHER_SUITES))
def test_finished_matches_finished_verify_data(code: CipherSuites) -> None:
    """KeySchedule.finished (its HkdfLabel precomputed) equals finished_verify_data."""
    suite = crypto.CIPHER_SUITES[code]
    schedule = KeySchedule(suite)
    schedule.update(b"\x01\x00\x00\x02hi")
    base_key = bytes(range(suite.hash_length))
    expected = finished_verify_data(suite, base_key, schedule.transcript_hash())
    assert schedule.finished(base_key) == expected
    finished_key = hkdf_expand_label(suite, base_key, b"finished", b"", suite.hash_length)
    assert expected == crypto.hmac_sha(suite.hash, finished_key, schedule.transcript_hash())
