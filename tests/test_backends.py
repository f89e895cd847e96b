"""Both crypto backends: ``siotls.crypto.install('openssl')`` and ``install('hacl')``.

The handshake matrix (tests/test_handshake.py), the hybrid key exchanges
(tests/test_hybrid.py: its X25519 half on HACL*), resumption (tests/test_resumption.py:
PSK binders and the PSK key schedule on HACL*), the RFC 8448 vectors
(tests/test_rfc8448.py, and replayed through connections: test_rfc8448_replay.py)
and the interop tests against Python's ``ssl`` (tests/test_ssl_interop.py), the
``openssl`` and the GnuTLS command lines (tests/test_interop.py) run here a second
time, with HACL* installed: their test functions are collected again under a
``test_hacl_`` name, and the autouse :func:`backend` fixture installs the backend for
each test and restores the one before. An all-HACL* siotls meets each peer too.

The tests of this file proper check that an all-HACL* configuration really runs on
HACL* (pyhacl calls counted, the ``cryptography`` primitives it replaces made
to fail), HACL*'s primitives against ``cryptography``'s and known answers, and the
backend switch itself.
"""

from __future__ import annotations

import os
import random
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

import siotls
import test_handshake
import test_hybrid
import test_interop
import test_resumption
import test_rfc8448
import test_rfc8448_replay
import test_ssl_interop
from certs import make_ca
from helpers import connection_pair, handshake
from peers import PKI, Peer, by_peer, per_peer, pki
from siotls import TLSConnection
from siotls.core import crypto
from siotls.errors import BadRecordMac, DecryptError, IllegalParameter
from siotls.iana import CipherSuites, NamedGroup, SignatureScheme

try:
    import pyhacl  # noqa: F401
except ImportError:
    HAVE_PYHACL = False
else:
    HAVE_PYHACL = True

# -- the scenarios of other modules, again on HACL* ------------------------------------------
RERUN = (test_handshake, test_hybrid, test_resumption, test_rfc8448, test_rfc8448_replay,
         test_ssl_interop, test_interop)
__all__ = ["pki"]  # test_interop's fixture
for _module in RERUN:
    for _name, _test in vars(_module).items():
        if _name.startswith("test_") and callable(_test):
            globals()[f"test_hacl_{_module.__name__[5:]}__{_name[5:]}"] = _test
del _module, _name, _test


@pytest.fixture(autouse=True)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The backend each test runs on (``hacl`` unless parametrised), then the one before."""
    name: str = getattr(request, "param", "hacl")
    if name == "hacl" and not HAVE_PYHACL:
        pytest.skip("pyhacl is not installed: pip install 'siotls[hacl]'")
    previous = siotls.crypto.installed() or "openssl"
    siotls.crypto.install(name)
    try:
        yield name
    finally:
        siotls.crypto.install(previous)


BOTH = pytest.mark.parametrize("backend", ["openssl", "hacl"], indirect=True)
HACL_ONLY = {"cipher_suites": [CipherSuites.TLS_CHACHA20_POLY1305_SHA256],
             "key_exchanges": [NamedGroup.x25519]}
HACL_KEYS = {"ed25519": SignatureScheme.ed25519,
             "ecdsa-p256": SignatureScheme.ecdsa_secp256r1_sha256}
per_peer_ed25519 = pytest.mark.parametrize(("peer", "key_type"), per_peer(
    lambda peer: [k for k in peer.key_types if k == "ed25519"]))


# -- the switch -----------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["openssl"], indirect=True)
def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown crypto backend 'nss'; available: openssl, hacl"):
        siotls.crypto.install("nss")
    assert siotls.crypto.installed() == "openssl"
    assert crypto.hacl is None


def test_install_sets_and_restores_the_dispatch(backend: str) -> None:
    assert siotls.crypto.installed() == "hacl"
    assert crypto.hacl is not None
    siotls.crypto.install("openssl")
    assert crypto.hacl is None
    siotls.crypto.install("hacl")
    assert crypto.hacl is not None


@pytest.mark.parametrize("backend", ["openssl"], indirect=True)
def test_missing_pyhacl_is_a_clear_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.delitem(sys.modules, "siotls.core.backend_hacl", raising=False)
    monkeypatch.setitem(sys.modules, "pyhacl", None)  # import pyhacl -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'siotls\[hacl\]'"):
        siotls.crypto.install("hacl")
    assert siotls.crypto.installed() == "openssl"


# -- a configuration limited to HACL* runs on HACL* --------------------------------------
class _Counting:
    """A stand-in for a pyhacl module that counts the calls to its functions."""

    def __init__(self, module: types.ModuleType, calls: dict[str, int]) -> None:
        self._module = module
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._module, name)
        if not callable(target) or isinstance(target, type):
            return target

        def counted(*args: Any, **kwargs: Any) -> Any:
            key = f"{self._module.__name__}.{name}"
            self._calls[key] = self._calls.get(key, 0) + 1
            return target(*args, **kwargs)
        return counted


def _forbid(*_: Any, **__: Any) -> Any:
    raise AssertionError("a cryptography primitive ran where HACL* should have")


@pytest.fixture
def hacl_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count pyhacl calls; make cryptography's ChaCha20-Poly1305, x25519, HKDF, SHA-2
    contexts and ECDSA fail while the test runs."""
    from siotls.core import backend_hacl

    calls: dict[str, int] = {}
    for name in ("chacha_poly1305", "curve25519", "hacl_ed25519", "p256"):
        monkeypatch.setattr(backend_hacl, name, _Counting(getattr(backend_hacl, name), calls))
    for sha, (real, real_hmac) in list(backend_hacl._HASHES.items()):

        def oneshot(data: bytes, real: Any = real) -> bytes:
            calls[real.name] = calls.get(real.name, 0) + 1
            return real.oneshot(data)  # type: ignore[no-any-return]

        def hmac(key: bytes, data: bytes, real_hmac: Any = real_hmac) -> bytes:
            calls[real_hmac.__name__] = calls.get(real_hmac.__name__, 0) + 1
            return real_hmac(key, data)  # type: ignore[no-any-return]
        monkeypatch.setitem(backend_hacl._HASHES, sha,
                            (types.SimpleNamespace(oneshot=oneshot), hmac))
    monkeypatch.setattr(crypto, "ChaCha20Poly1305", _forbid)
    monkeypatch.setattr(crypto, "HKDF", types.SimpleNamespace(extract=_forbid))
    monkeypatch.setattr(crypto, "HKDFExpand", _forbid)
    monkeypatch.setattr(crypto, "x25519", types.SimpleNamespace(
        X25519PrivateKey=type("X25519PrivateKey", (), {"generate": staticmethod(_forbid)}),
        X25519PublicKey=type("X25519PublicKey", (), {"from_public_bytes": staticmethod(_forbid)})))
    # siotls.core.crypto's own names only: certificates made meanwhile still sign.
    monkeypatch.setattr(crypto, "hashes", types.SimpleNamespace(**{
        **vars(crypto.hashes), "Hash": _forbid}))
    monkeypatch.setattr(crypto, "ec", types.SimpleNamespace(**{
        **vars(crypto.ec), "ECDSA": _forbid}))
    return calls


@pytest.mark.parametrize("key_type", HACL_KEYS)
def test_a_hacl_only_configuration_runs_on_hacl(hacl_calls: dict[str, int], key_type: str
                                                ) -> None:
    client, server = connection_pair(HACL_ONLY, {}, key_type=key_type)
    handshake(client, server)
    client.send_data(b"ping")
    server.receive_data(client.data_to_send())
    assert server.data_to_read() == b"ping"
    server.update_keys()
    server.send_data(b"pong")
    client.receive_data(server.data_to_send())
    assert client.data_to_read() == b"pong"

    primitives = {"aead": "hacl", "hash": "hacl", "key_exchange": "hacl"}
    assert siotls.crypto.report(client.nconfig) == {
        **primitives, "peer_signature": "hacl", "x509": "openssl"}
    assert siotls.crypto.report(server.nconfig) == {**primitives, "signature": "hacl"}
    assert hacl_calls["pyhacl.aead.chacha_poly1305.encrypt"] >= 3 * 4  # seal, and open (2)
    assert "pyhacl.aead.chacha_poly1305.decrypt" not in hacl_calls  # it leaks on failures
    assert hacl_calls["pyhacl.diffie_hellman.curve25519.secret_to_public"] == 2
    assert hacl_calls["pyhacl.diffie_hellman.curve25519.ecdh"] == 2
    assert hacl_calls["hmac_sha256"] > 20  # HKDF and the two Finished
    assert hacl_calls["sha256"] > 5  # the transcript
    sign, verify = {"ed25519": ("pyhacl.signature.ed25519.sign",
                                "pyhacl.signature.ed25519.verify"),
                    "ecdsa-p256": ("pyhacl.signature.p256.sign_sha256",
                                   "pyhacl.signature.p256.verif_sha256")}[key_type]
    assert hacl_calls[sign] == 1
    assert hacl_calls[verify] == 1


@BOTH
def test_report_of_a_hybrid_key_exchange(backend: str) -> None:
    if not crypto.mlkem_supported():
        pytest.skip("this cryptography has no ML-KEM")
    client, server = connection_pair(
        {"key_exchanges": [NamedGroup.X25519MLKEM768]}, key_type="ed25519")
    handshake(client, server)
    assert client.nconfig.key_exchange == NamedGroup.X25519MLKEM768
    expected = "hacl+openssl" if backend == "hacl" else "openssl"
    assert siotls.crypto.report(client.nconfig)["key_exchange"] == expected
    assert siotls.crypto.report(server.nconfig)["key_exchange"] == expected


@BOTH
def test_report_names_what_ran_where(backend: str) -> None:
    client, server = connection_pair(
        {"cipher_suites": [CipherSuites.TLS_AES_256_GCM_SHA384],
         "key_exchanges": [NamedGroup.secp384r1]}, key_type="rsa-2048")
    handshake(client, server)
    assert siotls.crypto.report(client.nconfig) == {
        "aead": "openssl", "hash": backend, "key_exchange": "openssl",
        "peer_signature": "openssl", "x509": "openssl"}
    fresh = TLSConnection(client.config, server_hostname="localhost")
    assert siotls.crypto.report(fresh.nconfig) == {}


# -- HACL*'s primitives against cryptography's and known answers ------------------------------
def test_chacha20_poly1305_rfc8439_vector() -> None:
    """RFC 8439 section 2.8.2, through the record layer's AEAD factory."""
    key = bytes(range(0x80, 0xa0))
    nonce = bytes.fromhex("070000004041424344454647")
    aad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
    plaintext = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one "
                 b"tip for the future, sunscreen would be it.")
    aead = crypto.CIPHER_SUITES[CipherSuites.TLS_CHACHA20_POLY1305_SHA256].aead(key)
    assert type(aead).__module__ == "siotls.core.backend_hacl"
    sealed = aead.encrypt(nonce, plaintext, aad)
    assert sealed[-16:].hex() == "1ae10b594f09e26a7e902ecbd0600691"
    assert sealed[:16].hex() == "d31a8d34648e60db7b86afbc53ef7ec2"
    assert aead.decrypt(nonce, memoryview(sealed), aad) == plaintext
    assert sealed == ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)
    for bad in (sealed[:-1] + bytes((sealed[-1] ^ 1,)), bytes((sealed[0] ^ 1,)) + sealed[1:],
                sealed[:15], b"", sealed[-16:]):
        with pytest.raises(InvalidTag):
            aead.decrypt(nonce, bad, aad)
    with pytest.raises(InvalidTag):
        aead.decrypt(nonce, sealed, aad + b"x")
    assert aead.decrypt(nonce, aead.encrypt(nonce, b"", aad), aad) == b""


def test_chacha20_poly1305_open_never_calls_pyhacl_decrypt(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """pyhacl 1.0.1's decrypt leaks its output buffer on a tag mismatch (about 16 KiB per
    forged record, so a peer could grow a server's memory one connection at a time):
    opening a record, forged or not, must not reach it."""
    from siotls.core import backend_hacl

    monkeypatch.setattr(backend_hacl, "chacha_poly1305", types.SimpleNamespace(
        encrypt=backend_hacl.chacha_poly1305.encrypt, decrypt=_forbid))
    aead = backend_hacl.ChaCha20Poly1305(bytes(range(32)))
    nonce = bytes(12)
    sealed = aead.encrypt(nonce, bytes(2**14), b"header")
    assert aead.decrypt(nonce, sealed, b"header") == bytes(2**14)
    with pytest.raises(InvalidTag):
        aead.decrypt(nonce, bytes(len(sealed)), b"header")


def test_a_forged_record_is_bad_record_mac() -> None:
    client, server = connection_pair(HACL_ONLY, {}, key_type="ed25519")
    handshake(client, server)
    client.send_data(b"x" * 100)
    record = bytearray(client.data_to_send())
    record[-1] ^= 1
    with pytest.raises(BadRecordMac):
        server.receive_data(bytes(record))


@pytest.mark.parametrize("algorithm", [hashes.SHA256(), hashes.SHA384()], ids=lambda a: a.name)
def test_hash_hmac_hkdf_agree_with_cryptography(algorithm: hashes.HashAlgorithm) -> None:
    rng = random.Random(8446)
    for size in (0, 1, 63, 64, 65, 127, 128, 129, 1000, 20000):
        data = rng.randbytes(size)
        ours = crypto.new_hash(algorithm)
        ours.update(data[:size // 3])
        snapshot = ours.copy()  # the transcript's copy-then-finalize
        ours.update(memoryview(data)[size // 3:])
        reference = hashes.Hash(algorithm)
        reference.update(data[:size // 3])
        assert snapshot.finalize() == reference.copy().finalize()
        reference.update(data[size // 3:])
        assert ours.finalize() == reference.finalize()
        key = rng.randbytes(rng.choice((0, 16, 48, 200)))
        assert crypto.hmac_sha(algorithm, key, data) == _cryptography_hmac(algorithm, key, data)
        assert crypto.hkdf_extract(algorithm, key, data) == HKDF.extract(algorithm, key, data)
        length = rng.choice((1, 12, 32, 48, 100, 255 * algorithm.digest_size))
        assert (crypto.hkdf_expand(algorithm, data or b"k", key, length)
                == HKDFExpand(algorithm, length, key).derive(data or b"k"))


def _cryptography_hmac(algorithm: hashes.HashAlgorithm, key: bytes, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hmac

    mac = hmac.HMAC(key, algorithm)
    mac.update(data)
    return mac.finalize()


def test_hkdf_rfc5869_case_1() -> None:
    ikm, salt = bytes([0x0b] * 22), bytes(range(13))
    info = bytes(range(0xf0, 0xfa))
    prk = crypto.hkdf_extract(hashes.SHA256(), salt, ikm)
    assert prk.hex() == "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
    assert crypto.hkdf_expand(hashes.SHA256(), prk, info, 42).hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")


def test_x25519_agrees_with_cryptography_and_refuses_low_order_points() -> None:
    secret, public = crypto.generate_key_share(NamedGroup.x25519)
    assert isinstance(secret, bytes)
    peer = x25519.X25519PrivateKey.generate()
    peer_public = peer.public_key().public_bytes_raw()
    assert public == x25519.X25519PrivateKey.from_private_bytes(
        secret).public_key().public_bytes_raw()
    shared = crypto.key_exchange(NamedGroup.x25519, secret, peer_public)
    assert shared == peer.exchange(x25519.X25519PublicKey.from_public_bytes(public))
    # A cryptography key (RFC 8448's, or one made before install) works too.
    assert crypto.key_exchange(NamedGroup.x25519, peer, public) == shared
    with pytest.raises(IllegalParameter) as info:  # the all-zero shared secret (RFC 8446 7.4.2)
        crypto.key_exchange(NamedGroup.x25519, secret, bytes(32))
    assert info.value.reason == "bad_key_share"
    with pytest.raises(IllegalParameter):
        crypto.key_exchange(NamedGroup.x25519, secret, bytes(31))


def test_a_hacl_x25519_share_survives_a_switch_back_to_openssl() -> None:
    secret, _ = crypto.generate_key_share(NamedGroup.x25519)
    peer = x25519.X25519PrivateKey.generate()
    expected = crypto.key_exchange(NamedGroup.x25519, secret,
                                   peer.public_key().public_bytes_raw())
    siotls.crypto.install("openssl")
    assert crypto.key_exchange(NamedGroup.x25519, secret,
                               peer.public_key().public_bytes_raw()) == expected


@pytest.mark.parametrize("key_type", HACL_KEYS)
def test_signatures_cross_verify_with_cryptography(key_type: str) -> None:
    scheme = crypto.SIGNATURE_SCHEMES[HACL_KEYS[key_type]]
    leaf = make_ca().issue(key_type=key_type)
    public = leaf.key.public_key()
    data = os.urandom(130)
    signature = scheme.sign(leaf.key, data)  # HACL*
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        theirs = leaf.key.sign(data, ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg]
    else:
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(signature, data)
        theirs = leaf.key.sign(data)  # type: ignore[call-arg]
    scheme.verify(public, theirs, data)  # HACL*
    for bad_data, bad_signature in ((data + b"!", signature), (data, signature[:-1]),
                                    (data, b"\x30\x00"), (data, b"")):
        with pytest.raises(InvalidSignature):
            scheme.verify(public, bad_signature, bad_data)


def test_a_bad_certificate_verify_is_decrypt_error() -> None:
    from siotls.core.backend_hacl import BACKEND

    client, server = connection_pair(HACL_ONLY, {}, key_type="ecdsa-p256")
    real_sign = BACKEND.sign

    def bad_sign(scheme: int, key: Any, data: bytes) -> bytes:
        return real_sign(scheme, key, data + b"tampered")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BACKEND, "sign", bad_sign)
        with pytest.raises(DecryptError):
            handshake(client, server)


# -- against real peers on HACL* ------------------------------------------------------------
# Scenarios of tests/test_interop.py under TLS_CHACHA20_POLY1305_SHA256 (their default
# group is x25519 and their certificate ecdsa-p256): with the hacl_calls fixture, no
# cryptography primitive that HACL* replaces may run.
CHACHA = CipherSuites.TLS_CHACHA20_POLY1305_SHA256


@pytest.mark.integration
@pytest.mark.parametrize("key_type", HACL_KEYS)
@pytest.mark.parametrize("side", ["client", "server"])
def test_hacl_only_against_python_ssl(tmp_path: Path, side: str, key_type: str,
                                      hacl_calls: dict[str, int]) -> None:
    leaf = make_ca().issue(key_type=key_type)
    conn: TLSConnection
    if side == "client":
        conn = test_ssl_interop.siotls_client(**HACL_ONLY)
        peer = test_ssl_interop.stdlib_server(tmp_path, leaf)
    else:
        conn = test_ssl_interop.siotls_server(leaf, **HACL_ONLY)
        peer = test_ssl_interop.stdlib_client(tmp_path, ca_leaf=leaf)
    test_ssl_interop.connect(conn, peer)
    test_ssl_interop.exchange(conn, peer, size=100_000)
    assert peer.obj.cipher()[0] == "TLS_CHACHA20_POLY1305_SHA256"
    report = siotls.crypto.report(conn.nconfig)
    assert {k: v for k, v in report.items() if k != "x509"} == {
        "aead": "hacl", "hash": "hacl", "key_exchange": "hacl",
        "peer_signature" if side == "client" else "signature": "hacl"}
    assert hacl_calls["pyhacl.aead.chacha_poly1305.encrypt"] >= 2 * 7 + 7  # 100 kB each way


@pytest.mark.integration
@by_peer
@pytest.mark.parametrize("forced_by", ["peer", "siotls"])
def test_hacl_client_against_peer_server(peer: Peer, tmp_path: Path, forced_by: str,
                                         hacl_calls: dict[str, int]) -> None:
    test_interop.test_client_cipher_suites(peer, PKI(tmp_path), CHACHA, forced_by)
    assert hacl_calls["pyhacl.signature.p256.verif_sha256"] == 1
    assert hacl_calls["pyhacl.diffie_hellman.curve25519.ecdh"] == 1


@pytest.mark.integration
@by_peer
def test_hacl_server_for_peer_client(peer: Peer, tmp_path: Path, hacl_calls: dict[str, int]
                                     ) -> None:
    test_interop.test_server_cipher_suites(peer, PKI(tmp_path), CHACHA)
    assert hacl_calls["pyhacl.signature.p256.sign_sha256"] == 1
    assert hacl_calls["pyhacl.diffie_hellman.curve25519.ecdh"] == 1


@pytest.mark.integration
@per_peer_ed25519
def test_hacl_ed25519_server_for_peer_client(peer: Peer, tmp_path: Path, key_type: str,
                                             hacl_calls: dict[str, int]) -> None:
    test_interop.test_server_key_types(peer, PKI(tmp_path), key_type)
    assert hacl_calls["pyhacl.signature.ed25519.sign"] == 1
