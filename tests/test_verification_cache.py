"""The trust store's verification cache (siotls.core.verifycache): it answers only
what a full verification would, and never skips a per-handshake check."""

from __future__ import annotations

import datetime
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from certs import CA, Leaf, generate_key, make_ca, utcnow
from helpers import connected_pair, server_config
from ocsp_responses import ocsp_response
from pki_matrix import key_der
from siotls import CertificateChain, TLSConfiguration, TLSConnection
from siotls.core import certificates, verifycache
from siotls.core.certificates import VerifiedPath
from siotls.core.errors import (
    BadCertificate,
    BadCertificateStatusResponse,
    CertificateExpired,
    DecryptError,
    UnknownCA,
    UnsupportedCertificate,
)
from siotls.trust import TrustStore, verify_chain
from test_pki_matrix import run_until_failure

SECOND = datetime.timedelta(seconds=1)


def root() -> CA:
    return make_ca("ecdsa-p256", "siotls verification cache root")


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Every full verification (a cache miss) made during the test."""
    calls: list[tuple[Any, ...]] = []
    full: Callable[..., VerifiedPath] = certificates._verify

    def counting(*args: Any) -> VerifiedPath:
        calls.append(args)
        return full(*args)

    monkeypatch.setattr(certificates, "_verify", counting)
    return calls


def test_same_chain_verified_once(verifications: list[tuple[Any, ...]]) -> None:
    store, leaf = root().truststore(), root().issue(intermediate=True)
    first = verify_chain(store, leaf.chain_der, server_name="localhost")
    second = verify_chain(store, leaf.chain_der, server_name="localhost")
    assert len(verifications) == 1
    assert second == first == [*leaf.chain_der, root().cert_der]
    assert second.validator == first.validator == "webpki"
    assert second.leaf == leaf.cert
    second.append(b"junk")  # a copy: the next answer is untouched
    assert verify_chain(store, leaf.chain_der, server_name="localhost") == [
        *leaf.chain_der, root().cert_der]
    assert len(verifications) == 1


def test_pathbuilder_verdicts_are_cached(verifications: list[tuple[Any, ...]]) -> None:
    ca = make_ca("ed25519", "siotls verification cache ed25519 root")
    store, leaf = ca.truststore(), ca.issue()
    assert verify_chain(store, leaf.chain_der).validator == "pathbuilder"
    assert verify_chain(store, leaf.chain_der).validator == "pathbuilder"
    assert len(verifications) == 1


def test_cache_off() -> None:
    store = TrustStore([root().cert_der], cache_size=0)
    assert store.verification_cache is None
    assert verify_chain(store, root().issue().chain_der, server_name="localhost")
    with pytest.raises(ValueError, match="cache_size"):
        TrustStore([root().cert_der], cache_size=-1)


def test_cache_off_verifies_every_time(verifications: list[tuple[Any, ...]]) -> None:
    store = TrustStore([root().cert_der], cache_size=0)
    for _ in range(3):
        verify_chain(store, root().issue().chain_der, server_name="localhost")
    assert len(verifications) == 3


# --------------------------------------------------------- never a stale or wrong answer


def test_different_name_is_checked(verifications: list[tuple[Any, ...]]) -> None:
    store, chain = root().truststore(), root().issue().chain_der
    verify_chain(store, chain, server_name="localhost")
    with pytest.raises(BadCertificate) as info:
        verify_chain(store, chain, server_name="other.test")
    assert info.value.reason == "hostname_mismatch"
    verify_chain(store, chain, server_name=None)  # no name: another key, verified in full
    assert len(verifications) == 3


def test_different_purpose_is_checked() -> None:
    store, chain = root().truststore(), root().issue().chain_der  # serverAuth only
    verify_chain(store, chain, server_name="localhost")
    verify_chain(store, chain)
    with pytest.raises(UnsupportedCertificate) as info:
        verify_chain(store, chain, purpose="client")
    assert info.value.reason == "bad_eku"


def test_different_trust_store_is_checked() -> None:
    chain = root().issue().chain_der
    verify_chain(root().truststore(), chain, server_name="localhost")
    stranger = make_ca("ecdsa-p256", "siotls verification cache stranger").truststore()
    with pytest.raises(UnknownCA) as info:
        verify_chain(stranger, chain, server_name="localhost")
    assert info.value.reason == "unknown_issuer"


def test_a_chain_that_differs_in_one_byte_is_checked() -> None:
    store, chain = root().truststore(), root().issue().chain_der
    verify_chain(store, chain, server_name="localhost")
    forged = bytearray(chain[0])
    forged[-1] ^= 1  # the last byte of the ECDSA signature's s: still parses
    with pytest.raises(BadCertificate) as info:
        verify_chain(store, [bytes(forged)], server_name="localhost")
    assert info.value.reason == "bad_signature"


def test_extra_certificates_are_another_key(verifications: list[tuple[Any, ...]]) -> None:
    store, leaf = root().truststore(), root().issue(intermediate=True)
    verify_chain(store, leaf.chain_der)
    verify_chain(store, [*leaf.chain_der, root().cert_der])
    verify_chain(store, [leaf.chain_der[0], leaf.chain_der[1]])
    assert len(verifications) == 2


def test_failures_are_never_cached(verifications: list[tuple[Any, ...]]) -> None:
    store, chain = root().truststore(), root().issue().chain_der
    for _ in range(2):
        with pytest.raises(BadCertificate):
            verify_chain(store, chain, server_name="other.test")
    assert len(verifications) == 2
    assert len(store.verification_cache or ()) == 0


def _expiring_leaf(issuer: CA, not_after: datetime.datetime) -> Leaf:
    return issuer.issue(("localhost",), not_after=not_after)


def test_not_after_of_the_leaf_ends_the_entry() -> None:
    store = root().truststore()
    leaf = _expiring_leaf(root(), utcnow() + datetime.timedelta(days=2))
    end = leaf.cert.not_valid_after_utc
    verify_chain(store, leaf.chain_der, server_name="localhost", moment=end - 60 * SECOND)
    verify_chain(store, leaf.chain_der, server_name="localhost", moment=end)  # inclusive
    with pytest.raises(CertificateExpired) as info:
        verify_chain(store, leaf.chain_der, server_name="localhost", moment=end + SECOND)
    assert info.value.reason == "expired"


def test_not_after_of_an_intermediate_ends_the_entry() -> None:
    """The leaf outlives its intermediate: the earliest notAfter of the path counts."""
    intermediate = root().intermediate()
    leaf = intermediate.issue(("localhost",), not_after=utcnow() + datetime.timedelta(days=800))
    store = root().truststore()
    end = intermediate.cert.not_valid_after_utc
    assert end < leaf.cert.not_valid_after_utc
    verify_chain(store, leaf.chain_der, server_name="localhost", moment=end - 60 * SECOND)
    with pytest.raises(CertificateExpired) as info:
        verify_chain(store, leaf.chain_der, server_name="localhost", moment=end + SECOND)
    assert info.value.reason == "expired"


def test_not_after_of_the_anchor_ends_the_entry() -> None:
    leaf = root().issue(("localhost",), not_after=utcnow() + datetime.timedelta(days=4000))
    store = root().truststore()
    end = root().cert.not_valid_after_utc
    verify_chain(store, leaf.chain_der, server_name="localhost", moment=end - 60 * SECOND)
    with pytest.raises(CertificateExpired):
        verify_chain(store, leaf.chain_der, server_name="localhost", moment=end + SECOND)


def test_not_before_bounds_the_entry() -> None:
    """A clock that goes back before a notBefore gets not_yet_valid, cached or not."""
    store, leaf = root().truststore(), root().issue()
    start = leaf.cert.not_valid_before_utc
    verify_chain(store, leaf.chain_der, server_name="localhost", moment=start + SECOND)
    with pytest.raises(CertificateExpired) as info:
        verify_chain(store, leaf.chain_der, server_name="localhost", moment=start - SECOND)
    assert info.value.reason == "not_yet_valid"


def test_ttl(verifications: list[tuple[Any, ...]]) -> None:
    store, chain = root().truststore(), root().issue().chain_der
    now = utcnow()
    ttl = datetime.timedelta(seconds=verifycache.TTL)
    verify_chain(store, chain, moment=now)
    verify_chain(store, chain, moment=now + ttl)
    assert len(verifications) == 1
    verify_chain(store, chain, moment=now + ttl + SECOND)
    assert len(verifications) == 2


# ------------------------------------------------------------------------------ bounds


def test_at_most_maxsize_entries_the_oldest_first(verifications: list[tuple[Any, ...]]) -> None:
    store = TrustStore([root().cert_der], cache_size=2)
    chains = [root().issue((f"host{n}.test",)).chain_der for n in range(3)]
    for chain in chains:
        verify_chain(store, chain)
    assert len(store.verification_cache or ()) == 2
    verify_chain(store, chains[2])
    verify_chain(store, chains[1])
    assert len(verifications) == 3
    verify_chain(store, chains[0])  # the oldest went first
    assert len(verifications) == 4


def test_long_chains_are_not_kept(verifications: list[tuple[Any, ...]]) -> None:
    store, leaf = root().truststore(), root().issue(intermediate=True)
    padding = [root().cert_der] * (verifycache.MAX_CHAIN_BYTES // len(root().cert_der))
    chain = [*leaf.chain_der, *padding]  # extra certificates are ignored by the path
    assert sum(map(len, chain)) > verifycache.MAX_CHAIN_BYTES
    verify_chain(store, chain)
    verify_chain(store, chain)
    assert len(verifications) == 2
    assert len(store.verification_cache or ()) == 0


def test_verified_path_encodes_what_it_is_not_given() -> None:
    leaf = root().issue()
    path = VerifiedPath([leaf.cert, root().cert], "webpki")
    assert path == [leaf.cert_der, root().cert_der]


# ------------------------------------------------------------------- in the handshake


def test_second_handshake_hits_and_still_checks_certificate_verify(
        verifications: list[tuple[Any, ...]]) -> None:
    """A cached chain still needs its CertificateVerify: a server that has the chain
    but not the key fails with decrypt_error."""
    leaf = root().issue()
    client = TLSConfiguration("client", truststore=root().truststore())
    for _ in range(2):
        c, _ = connected_pair(client, server_config(leaf))
        assert c.nconfig.peer_verified
        assert c.nconfig.peer_verified_path == (leaf.cert_der, root().cert_der)
    assert len(verifications) == 1
    impostor_config = server_config(leaf)
    impostor = CertificateChain.__new__(CertificateChain)
    object.__setattr__(impostor, "private_key", key_der(generate_key("ecdsa-p256")))
    object.__setattr__(impostor, "certificate_chain", tuple(leaf.chain_der))
    impostor_config.__dict__["all_certificate_chains"] = (impostor,)
    error, _ = run_until_failure(TLSConnection(client, server_hostname="localhost"),
                                 TLSConnection(impostor_config))
    assert type(error) is DecryptError
    assert error.reason == "bad_certificate_verify"
    assert len(verifications) == 1  # the chain came from the cache


def test_second_handshake_still_checks_the_stapled_response(
        verifications: list[tuple[Any, ...]]) -> None:
    leaf = root().issue()
    client = TLSConfiguration("client", truststore=root().truststore(), ocsp_stapling="require")
    c, _ = connected_pair(client, server_config(leaf, ocsp_response=ocsp_response(leaf)))
    assert c.nconfig.peer_ocsp_status == "good"
    revoked = ocsp_response(leaf, status="revoked")
    error, _ = run_until_failure(TLSConnection(client, server_hostname="localhost"),
                                 TLSConnection(server_config(leaf, ocsp_response=revoked)))
    assert type(error) is BadCertificateStatusResponse
    assert len(verifications) == 1


def test_client_certificates_are_cached_per_purpose(
        verifications: list[tuple[Any, ...]]) -> None:
    leaf = root().issue(client=True)
    server = server_config(root().issue(), truststore=root().truststore(),
                           require_peer_authentication=True)
    client = TLSConfiguration("client", truststore=root().truststore(),
                              private_key=leaf.key_der, certificate_chain=leaf.chain_der)
    for _ in range(2):
        _, s = connected_pair(client, server)
        assert s.nconfig.peer_verified_path == (leaf.cert_der, root().cert_der)
    purposes = [call[3] for call in verifications]
    assert purposes.count("client") == 1


def test_the_handshake_clock_bounds_the_entry() -> None:
    leaf = _expiring_leaf(root(), utcnow() + datetime.timedelta(days=3))
    end = leaf.cert.not_valid_after_utc.timestamp()
    now = [end - 60]
    client = TLSConfiguration("client", truststore=root().truststore(), clock=lambda: now[0])
    connected_pair(client, server_config(leaf))
    now[0] = end + 1
    error, _ = run_until_failure(TLSConnection(client, server_hostname="localhost"),
                                 TLSConnection(server_config(leaf)))
    assert type(error) is CertificateExpired


def test_typing_of_the_key() -> None:
    """The cache keys on bytes: memoryviews and bytearrays of a chain hit the same entry."""
    store, leaf = root().truststore(), root().issue()
    der = leaf.chain_der[0]
    verify_chain(store, [der])
    assert verify_chain(store, [bytearray(der)]) == verify_chain(store, [memoryview(der)])
    assert len(store.verification_cache or ()) == 1


def test_parsed_certificates_are_kept_by_their_bytes() -> None:
    der = root().issue().chain_der[0]
    parsed = certificates.load_certificate(der)
    assert certificates.load_certificate(bytearray(der)) is parsed
    assert parsed.public_bytes(serialization.Encoding.DER) == der
    other = root().issue(("other.test",)).chain_der[0]
    assert certificates.load_certificate(other) is not parsed
    for _ in range(2):  # a failure raises anew
        with pytest.raises(BadCertificate) as info:
            certificates.load_certificate(der[:-1])
        assert info.value.reason == "malformed"
    names = tuple(f"host-{n:05}.large.test" for n in range(800))
    big = root().issue(names).chain_der[0]
    assert len(big) > certificates.MAX_PARSED_LENGTH
    assert certificates.load_certificate(big) is not certificates.load_certificate(big)


def test_connections_share_the_cached_chain_bytes() -> None:
    """Two connections with the same server hold equal chains, and the very same bytes
    objects (no copy per connection), client and server side."""
    leaf, client_leaf = root().issue(intermediate=True), root().issue(client=True)
    client = TLSConfiguration("client", truststore=root().truststore(),
                              private_key=client_leaf.key_der,
                              certificate_chain=client_leaf.chain_der)
    server = server_config(leaf, truststore=root().truststore(),
                           require_peer_authentication=True)
    (c1, s1), (c2, s2) = connected_pair(client, server), connected_pair(client, server)
    assert c1.nconfig.peer_certificate_chain == c2.nconfig.peer_certificate_chain \
        == tuple(leaf.chain_der)
    assert all(a is b for a, b in zip(c1.nconfig.peer_certificate_chain,
                                      c2.nconfig.peer_certificate_chain, strict=True))
    assert s1.nconfig.peer_certificate_chain == tuple(client_leaf.chain_der)
    assert s2.nconfig.peer_certificate_chain[0] is s1.nconfig.peer_certificate_chain[0]


def test_import_siotls_trust_loads_no_datetime() -> None:
    """The cache module is imported with siotls.trust, but datetime waits for the first
    certificate check (as siotls.core.provider does)."""
    code = "import sys, siotls.trust; print('datetime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "False"
