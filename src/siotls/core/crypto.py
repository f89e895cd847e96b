"""Every cryptographic operation of the engine, done by ``cryptography``.

Tables keyed by IANA code point:

* :data:`CIPHER_SUITES`: the AEAD class, key length and hash of each suite;
* :func:`generate_key_share`, :func:`key_exchange` and :func:`server_key_exchange`:
  ECDHE over each named group, and the hybrid ECDHE + ML-KEM groups (:data:`HYBRIDS`);
* :data:`SIGNATURE_SCHEMES`: how to sign and verify with each signature scheme.

This is the only module of the core that imports ``cryptography`` primitives
(the X.509 path validation lives in :mod:`siotls.core.certificates`). When
``siotls.crypto.install('hacl')`` sets :data:`hacl`, the primitives HACL*
provides go to :mod:`siotls.core.backend_hacl` instead: each function below asks
it first, in one ``if``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa, x448, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.hmac import HMAC
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from siotls.core.errors import (
    BadCertificate,
    IllegalParameter,
    InternalError,
    UnsupportedCertificate,
)
from siotls.iana import CipherSuites, NamedGroup, SignatureScheme

if TYPE_CHECKING:
    from siotls.core.backend_hacl import Hacl

__all__ = [
    "CIPHER_SUITES",
    "SIGNATURE_SCHEMES",
    "CipherSuite",
    "InvalidSignature",
    "InvalidTag",
    "generate_key_share",
    "generate_key_shares",
    "hkdf_expand",
    "hkdf_extract",
    "key_exchange",
    "mlkem_supported",
    "server_key_exchange",
]

PrivateKey = (
    ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey)
PublicKey = (
    ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
    | ed448.Ed448PublicKey)

#: The HACL* backend while ``siotls.crypto.install('hacl')`` is in force, else None.
hacl: Hacl | None = None


class AEAD(Protocol):
    def encrypt(self, nonce: bytes, data: bytes | bytearray | memoryview,
                associated_data: bytes | None, /) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes | bytearray | memoryview,
                associated_data: bytes | bytearray | memoryview | None, /) -> bytes: ...


# ---------------------------------------------------------------------------
# Cipher suites (RFC 8446 section B.4)
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CipherSuite:
    code: CipherSuites
    aead: Callable[[bytes], AEAD]
    key_length: int
    hash: hashes.HashAlgorithm
    #: RFC 8446 section 5.5: records one key may protect before it must be updated.
    usage_limit: int
    #: ``hash.digest_size``, a plain attribute (the key schedule reads it a lot)
    hash_length: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hash_length", self.hash.digest_size)


def _chacha20_poly1305(key: bytes) -> AEAD:
    return hacl.chacha20_poly1305(key) if hacl is not None else ChaCha20Poly1305(key)


CIPHER_SUITES: dict[int, CipherSuite] = {
    CipherSuites.TLS_AES_128_GCM_SHA256: CipherSuite(
        CipherSuites.TLS_AES_128_GCM_SHA256, AESGCM, 16, hashes.SHA256(), 2**24),
    CipherSuites.TLS_AES_256_GCM_SHA384: CipherSuite(
        CipherSuites.TLS_AES_256_GCM_SHA384, AESGCM, 32, hashes.SHA384(), 2**24),
    CipherSuites.TLS_CHACHA20_POLY1305_SHA256: CipherSuite(
        CipherSuites.TLS_CHACHA20_POLY1305_SHA256, _chacha20_poly1305, 32, hashes.SHA256(), 2**62),
}


def hkdf_extract(algorithm: hashes.HashAlgorithm, salt: bytes, ikm: bytes) -> bytes:
    if hacl is not None and hacl.provides_hash(algorithm):
        return hacl.hkdf_extract(algorithm, salt, ikm)
    return HKDF.extract(algorithm, salt, ikm)


def hkdf_expand(algorithm: hashes.HashAlgorithm, prk: bytes, info: bytes, length: int) -> bytes:
    if hacl is not None and hacl.provides_hash(algorithm):
        return hacl.hkdf_expand(algorithm, prk, info, length)
    return HKDFExpand(algorithm, length, info).derive(prk)


def new_hash(algorithm: hashes.HashAlgorithm) -> hashes.HashContext:
    if hacl is not None and hacl.provides_hash(algorithm):
        return hacl.new_hash(algorithm)
    return hashes.Hash(algorithm)


def hmac_sha(algorithm: hashes.HashAlgorithm, key: bytes, data: bytes) -> bytes:
    if hacl is not None and hacl.provides_hash(algorithm):
        return hacl.hmac(algorithm, key, data)
    h = HMAC(key, algorithm)
    h.update(data)
    return h.finalize()


# ---------------------------------------------------------------------------
# What a key is, once per concrete type
# ---------------------------------------------------------------------------
#
# The key classes of ``cryptography`` are ABCs (the Rust classes are registered
# with them), so each ``isinstance`` against one runs ``ABCMeta.__instancecheck__``,
# a Python frame. The hot paths (ECDHE, signatures) ask :func:`_kind` instead: the
# same isinstance chain, once per concrete type, then a dict lookup.

_KINDS: dict[type, str] = {}


def _classify(obj: object) -> str:
    if isinstance(obj, bytes):
        return "bytes"  # an x25519 secret of the HACL* backend
    for kind, classes in _KIND_CLASSES:
        if isinstance(obj, classes):
            return kind
    return "other"


def _kind(obj: object) -> str:
    """'x25519', 'x448', 'ec', 'rsa', 'ed25519', 'ed448' (private keys), the same
    with '-public' (public keys), 'bytes', or 'other'."""
    kind = _KINDS.get(type(obj))
    if kind is None:
        kind = _KINDS[type(obj)] = _classify(obj)
    return kind


def seal(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """AES-256-GCM encryption (session tickets, :mod:`siotls.core.tickets`)."""
    return AESGCM(key).encrypt(nonce, data, aad)


def sealer(key: bytes) -> AEAD:
    """:func:`seal`'s AES-256-GCM keyed once, for a key that seals many tickets
    (``sealer(key).encrypt(nonce, data, aad)`` is ``seal(key, nonce, data, aad)``)."""
    return AESGCM(key)


def unseal(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes | None:
    """AES-256-GCM decryption; ``None`` when the data was not sealed under ``key``."""
    try:
        return AESGCM(key).decrypt(nonce, data, aad)
    except InvalidTag:
        return None


# ---------------------------------------------------------------------------
# Key exchange (RFC 8446 section 4.2.8, draft-ietf-tls-ecdhe-mlkem)
# ---------------------------------------------------------------------------
#
# A classical group's key_exchange is an ECDH public value. A hybrid group
# joins an ECDH share and an ML-KEM one (FIPS 203): the client sends its
# ML-KEM encapsulation key, the server encapsulates to it and answers with the
# ciphertext, and the shared secret is the two secrets concatenated, in the
# order of the shares:
#
#   group               order          client share   server share   secret
#   SecP256r1MLKEM768   ECDH, ML-KEM   65 + 1184      65 + 1088      32 + 32
#   X25519MLKEM768      ML-KEM, ECDH   1184 + 32      1088 + 32      32 + 32
#   SecP384r1MLKEM1024  ECDH, ML-KEM   97 + 1568      97 + 1568      48 + 32
#
# Server: a malformed share, including an encapsulation key failing the FIPS
# 203 modulus check, is illegal_parameter. Client: a ciphertext of the wrong
# length is illegal_parameter; any other decapsulation failure internal_error.
# Each ECDH half gets its own checks (point validation, the all-zero X25519).

_CURVES: dict[int, type[ec.EllipticCurve]] = {
    NamedGroup.secp256r1: ec.SECP256R1,
    NamedGroup.secp384r1: ec.SECP384R1,
    NamedGroup.secp521r1: ec.SECP521R1,
}

#: ``bytes``: an x25519 secret made by the HACL* backend.
ECDHPrivate = (
    ec.EllipticCurvePrivateKey | x25519.X25519PrivateKey | x448.X448PrivateKey | bytes)
KEMPrivate = Any  # mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey (cryptography 47+)


@dataclass(frozen=True)
class HybridPrivate:
    """The client's private half of a hybrid share: an ML-KEM key and an ECDH key."""

    kem: KEMPrivate
    ecdh: ECDHPrivate


KeySharePrivate = ECDHPrivate | HybridPrivate


@dataclass(frozen=True)
class Hybrid:
    """How one hybrid group joins its halves."""

    ecdh_group: NamedGroup
    kem_name: str  # MLKEM768 or MLKEM1024
    ecdh_first: bool
    encapsulation_key_length: int
    ciphertext_length: int

    def kem_classes(self) -> tuple[Any, Any]:
        from cryptography.hazmat.primitives.asymmetric import mlkem  # noqa: PLC0415

        return (getattr(mlkem, f"{self.kem_name}PrivateKey"),
                getattr(mlkem, f"{self.kem_name}PublicKey"))

    def join(self, ecdh: bytes, kem: bytes) -> bytes:
        return ecdh + kem if self.ecdh_first else kem + ecdh

    def split(self, share: bytes, kem_length: int) -> tuple[bytes, bytes]:
        """``(ecdh, kem)`` halves of a share whose total length was checked."""
        if self.ecdh_first:
            cut = len(share) - kem_length
            return share[:cut], share[cut:]
        return share[kem_length:], share[:kem_length]


HYBRIDS: dict[int, Hybrid] = {
    NamedGroup.SecP256r1MLKEM768: Hybrid(NamedGroup.secp256r1, "MLKEM768", True, 1184, 1088),
    NamedGroup.X25519MLKEM768: Hybrid(NamedGroup.x25519, "MLKEM768", False, 1184, 1088),
    NamedGroup.SecP384r1MLKEM1024: Hybrid(NamedGroup.secp384r1, "MLKEM1024", True, 1568, 1568),
}

_KEY_SHARE_LENGTHS: dict[int, int] = {
    NamedGroup.x25519: 32, NamedGroup.x448: 56,
    NamedGroup.secp256r1: 65, NamedGroup.secp384r1: 97, NamedGroup.secp521r1: 133,
}
#: A plain int: an IntEnum member lookup costs ten times more.
_X25519 = int(NamedGroup.x25519)


@functools.cache
def mlkem_supported() -> bool:
    """Whether the installed ``cryptography`` (and its OpenSSL) can do ML-KEM."""
    try:
        from cryptography.hazmat.backends.openssl.backend import backend  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import mlkem  # noqa: F401, PLC0415
    except ImportError:
        return False
    supported = getattr(backend, "mlkem_supported", None)
    return bool(supported and supported())


def generate_key_share(group: int, reuse: ECDHPrivate | None = None,
                       kem_seed: bytes | None = None) -> tuple[KeySharePrivate, bytes]:
    """A fresh ephemeral key for ``group`` and its KeyShareEntry.key_exchange.

    Every key share is made here. ``reuse`` is an ECDH key of the same curve to
    use again (the client's x25519 share doubles as the X25519MLKEM768 half);
    ``kem_seed`` builds the ML-KEM key from a 64-byte seed (known-answer tests).
    """
    hybrid = HYBRIDS.get(group)
    if hybrid is not None:
        ecdh_private, ecdh_public = generate_key_share(hybrid.ecdh_group, reuse)
        assert not isinstance(ecdh_private, HybridPrivate)
        kem_private_class, _ = hybrid.kem_classes()
        kem = (kem_private_class.generate() if kem_seed is None
               else kem_private_class.from_seed_bytes(kem_seed))
        return (HybridPrivate(kem, ecdh_private),
                hybrid.join(ecdh_public, kem.public_key().public_bytes_raw()))
    if group == _X25519 and (
            isinstance(reuse, bytes) or (reuse is None and hacl is not None)):
        return _hacl_x25519().x25519_share(reuse)
    private: ECDHPrivate
    if reuse is not None:
        private = reuse
    elif group == _X25519:
        private = x25519.X25519PrivateKey.generate()
    elif group == NamedGroup.x448:
        private = x448.X448PrivateKey.generate()
    else:
        private = ec.generate_private_key(_CURVES[group]())
    # (annotated assignments, not typing.cast: no call on the hot path)
    if _kind(private) == "ec":
        ec_key: ec.EllipticCurvePrivateKey = private  # type: ignore[assignment]
        return private, ec_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    montgomery: x25519.X25519PrivateKey | x448.X448PrivateKey = private  # type: ignore[assignment]
    return private, montgomery.public_key().public_bytes_raw()


def _hacl_x25519() -> Hacl:
    """The HACL* backend, for x25519; also after a switch back to ``'openssl'``, for
    the ``bytes`` secrets it made before."""
    from siotls.core.backend_hacl import BACKEND  # noqa: PLC0415

    return BACKEND


KeyShareGenerator = Callable[[int], tuple[Any, bytes]]


def generate_key_shares(groups: Sequence[int], generate: KeyShareGenerator = generate_key_share
                        ) -> dict[int, tuple[KeySharePrivate, bytes]]:
    """The client's shares for ``groups``, each from ``generate`` (the configuration's
    ``key_share_generator``), except that an ECDH group whose key already is the
    half of an earlier hybrid share reuses that key (X25519MLKEM768 and x25519)."""
    shares: dict[int, tuple[KeySharePrivate, bytes]] = {}
    for group in groups:
        reused = next((private.ecdh for other, (private, _) in shares.items()
                       if isinstance(private, HybridPrivate)
                       and HYBRIDS[other].ecdh_group == group), None) if shares else None
        shares[group] = generate(group) if reused is None else generate_key_share(group, reused)
    return shares


def _ecdh(group: int, private_key: ECDHPrivate, peer_share: bytes) -> bytes:
    """The ECDHE shared secret; a malformed peer share is ``illegal_parameter``."""
    if len(peer_share) != _KEY_SHARE_LENGTHS[group]:
        raise IllegalParameter(f"a {NamedGroup(group).name} key share of {len(peer_share)} bytes",
                               reason="bad_key_share")
    kind = _kind(private_key)
    if group == _X25519 and (hacl is not None or kind == "bytes"):
        assert kind in ("bytes", "x25519")
        return _hacl_x25519().x25519(
            cast("bytes | x25519.X25519PrivateKey", private_key), peer_share)
    assert kind != "bytes"
    try:
        if kind == "x25519":
            x25519_key: x25519.X25519PrivateKey = private_key  # type: ignore[assignment]
            return x25519_key.exchange(x25519.X25519PublicKey.from_public_bytes(peer_share))
        if kind == "x448":
            return cast("x448.X448PrivateKey", private_key).exchange(
                x448.X448PublicKey.from_public_bytes(peer_share))
        assert isinstance(private_key, ec.EllipticCurvePrivateKey)
        if peer_share[0] != 4:  # RFC 8446 4.2.8.2: UncompressedPointRepresentation only
            raise IllegalParameter("an EC key share that is not an uncompressed point",
                                   reason="bad_key_share")
        peer_key = ec.EllipticCurvePublicKey.from_encoded_point(private_key.curve, peer_share)
        return private_key.exchange(ec.ECDH(), peer_key)
    except ValueError as exc:  # not on the curve, or an all-zero X25519/X448 result
        raise IllegalParameter(f"invalid {NamedGroup(group).name} key share: {exc}",
                               reason="bad_key_share") from exc


def _check_length(group: int, share: bytes, expected: int) -> None:
    if len(share) != expected:
        raise IllegalParameter(
            f"a {NamedGroup(group).name} key share of {len(share)} bytes, not {expected}",
            reason="bad_key_share")


def key_exchange(group: int, private_key: KeySharePrivate, peer_share: bytes) -> bytes:
    """The client's shared secret from the server's share (ECDHE, or hybrid decapsulation)."""
    hybrid = HYBRIDS.get(group)
    if hybrid is None:
        assert not isinstance(private_key, HybridPrivate)
        return _ecdh(group, private_key, peer_share)
    assert isinstance(private_key, HybridPrivate)
    ecdh_length = _KEY_SHARE_LENGTHS[hybrid.ecdh_group]
    _check_length(group, peer_share, ecdh_length + hybrid.ciphertext_length)
    ecdh_share, ciphertext = hybrid.split(peer_share, hybrid.ciphertext_length)
    ecdh_secret = _ecdh(hybrid.ecdh_group, private_key.ecdh, ecdh_share)
    try:
        kem_secret = private_key.kem.decapsulate(ciphertext)
    except Exception as exc:
        raise InternalError(f"ML-KEM decapsulation failed: {exc}") from exc
    return hybrid.join(ecdh_secret, kem_secret)


def server_key_exchange(group: int, peer_share: bytes,
                        generate: KeyShareGenerator = generate_key_share) -> tuple[bytes, bytes]:
    """The server's ``(key_exchange, shared_secret)`` answering the client's share; its
    ECDH key (of the group, or of the hybrid's ECDH half) comes from ``generate``."""
    hybrid = HYBRIDS.get(group)
    if hybrid is None:
        private, public = generate(group)
        assert not isinstance(private, HybridPrivate)
        return public, _ecdh(group, private, peer_share)
    ecdh_length = _KEY_SHARE_LENGTHS[hybrid.ecdh_group]
    _check_length(group, peer_share, ecdh_length + hybrid.encapsulation_key_length)
    ecdh_share, encapsulation_key = hybrid.split(peer_share, hybrid.encapsulation_key_length)
    _, kem_public_class = hybrid.kem_classes()
    try:  # FIPS 203 7.2: the length and modulus checks of the encapsulation key
        kem_public = kem_public_class.from_public_bytes(encapsulation_key)
    except ValueError as exc:
        raise IllegalParameter(f"an invalid {hybrid.kem_name} encapsulation key",
                               reason="bad_key_share") from exc
    private, public = generate(hybrid.ecdh_group)
    assert not isinstance(private, HybridPrivate)
    ecdh_secret = _ecdh(hybrid.ecdh_group, private, ecdh_share)
    try:
        kem_secret, ciphertext = kem_public.encapsulate()
    except Exception as exc:
        raise InternalError(f"ML-KEM encapsulation failed: {exc}") from exc
    return hybrid.join(public, ciphertext), hybrid.join(ecdh_secret, kem_secret)


# ---------------------------------------------------------------------------
# Signatures (RFC 8446 section 4.2.3)
# ---------------------------------------------------------------------------

_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
_RSASSA_PSS = "1.2.840.113549.1.1.10"


@dataclass(frozen=True)
class Scheme:
    code: SignatureScheme
    #: 'rsae' (rsaEncryption key), 'pss' (RSASSA-PSS key), 'ec', 'ed25519', 'ed448'
    key_kind: str
    hash: hashes.HashAlgorithm | None
    curve: str | None = None  # EC curve name the scheme binds to

    def _padding(self) -> padding.PSS:
        assert self.hash is not None
        return padding.PSS(padding.MGF1(self.hash), self.hash.digest_size)

    def sign(self, key: PrivateKey, data: bytes) -> bytes:
        if hacl is not None and self.code in hacl.signature_schemes:
            return hacl.sign(self.code, key, data)
        kind = _kind(key)
        if kind == "ec":
            assert self.hash is not None
            ec_key: ec.EllipticCurvePrivateKey = key  # type: ignore[assignment]
            return ec_key.sign(data, _ecdsa(self))
        if kind == "rsa":
            assert self.hash is not None
            return cast("rsa.RSAPrivateKey", key).sign(data, self._padding(), self.hash)
        return cast("ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey", key).sign(data)

    def verify(self, key: PublicKey, signature: bytes, data: bytes) -> None:
        """Raise :class:`InvalidSignature` when the signature does not verify."""
        if hacl is not None and self.code in hacl.signature_schemes:
            hacl.verify(self.code, key, signature, data)
            return
        kind = _kind(key)
        try:
            if kind == "ec-public":
                assert self.hash is not None
                ec_key: ec.EllipticCurvePublicKey = key  # type: ignore[assignment]
                ec_key.verify(signature, data, _ecdsa(self))
            elif kind == "rsa-public":
                assert self.hash is not None
                cast("rsa.RSAPublicKey", key).verify(
                    signature, data, self._padding(), self.hash)
            else:
                cast("ed25519.Ed25519PublicKey | ed448.Ed448PublicKey", key).verify(
                    signature, data)
        except ValueError as exc:  # e.g. a DER signature that does not parse
            raise InvalidSignature(str(exc)) from exc


#: Per scheme code: its ``ec.ECDSA`` (immutable: the hash only), made once, not per
#: signature (its constructor is Python, with an isinstance check).
_ECDSA: dict[int, ec.ECDSA] = {}


def _ecdsa(scheme: Scheme) -> ec.ECDSA:
    algorithm = _ECDSA.get(scheme.code)
    if algorithm is None:
        assert scheme.hash is not None
        algorithm = _ECDSA[scheme.code] = ec.ECDSA(scheme.hash)
    return algorithm


S = SignatureScheme
SIGNATURE_SCHEMES: dict[int, Scheme] = {
    S.ecdsa_secp256r1_sha256: Scheme(S.ecdsa_secp256r1_sha256, "ec", hashes.SHA256(), "secp256r1"),
    S.ecdsa_secp384r1_sha384: Scheme(S.ecdsa_secp384r1_sha384, "ec", hashes.SHA384(), "secp384r1"),
    S.ecdsa_secp521r1_sha512: Scheme(S.ecdsa_secp521r1_sha512, "ec", hashes.SHA512(), "secp521r1"),
    S.rsa_pss_rsae_sha256: Scheme(S.rsa_pss_rsae_sha256, "rsae", hashes.SHA256()),
    S.rsa_pss_rsae_sha384: Scheme(S.rsa_pss_rsae_sha384, "rsae", hashes.SHA384()),
    S.rsa_pss_rsae_sha512: Scheme(S.rsa_pss_rsae_sha512, "rsae", hashes.SHA512()),
    S.rsa_pss_pss_sha256: Scheme(S.rsa_pss_pss_sha256, "pss", hashes.SHA256()),
    S.rsa_pss_pss_sha384: Scheme(S.rsa_pss_pss_sha384, "pss", hashes.SHA384()),
    S.rsa_pss_pss_sha512: Scheme(S.rsa_pss_pss_sha512, "pss", hashes.SHA512()),
    S.ed25519: Scheme(S.ed25519, "ed25519", None),
    S.ed448: Scheme(S.ed448, "ed448", None),
}
del S


def key_kind(key: PrivateKey | PublicKey, spki_oid: str | None = None) -> tuple[str, str | None]:
    """``(kind, curve)`` of a key, matching :attr:`Scheme.key_kind` and :attr:`Scheme.curve`.

    RSA keys are 'rsae' unless their SubjectPublicKeyInfo says id-RSASSA-PSS.
    """
    kind = _kind(key).removesuffix("-public")
    if kind == "rsa":
        return ("pss" if spki_oid == _RSASSA_PSS else "rsae"), None
    if kind == "ec":
        return "ec", cast("ec.EllipticCurvePublicKey", key).curve.name
    if kind in ("ed25519", "ed448"):
        return kind, None
    raise UnsupportedCertificate(f"unsupported key type {type(key).__name__}")


def schemes_for_key(kind: tuple[str, str | None]) -> list[int]:
    """Signature schemes a key of this kind can make, in our table's order."""
    return [code for code, s in SIGNATURE_SCHEMES.items()
            if s.key_kind == kind[0] and (s.curve is None or s.curve == kind[1])]


def load_private_key(der: bytes) -> PrivateKey:
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey,
                            ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        raise ValueError(f"unsupported private key type {type(key).__name__}")
    return key


def load_credentials(private_key_der: bytes, certificate_der: bytes
                     ) -> tuple[PrivateKey, tuple[int, ...]]:
    """Our private key and the schemes it can sign with (kept by the configuration)."""
    from cryptography import x509  # noqa: PLC0415

    key = load_private_key(private_key_der)
    oid = x509.load_der_x509_certificate(certificate_der).public_key_algorithm_oid.dotted_string
    return key, tuple(schemes_for_key(key_kind(key, oid)))


def certificate_public_key(cert: Any) -> tuple[PublicKey, tuple[str, str | None]]:
    """The public key of an ``x509.Certificate`` and its kind."""
    try:
        key = cert.public_key()
    except Exception as exc:  # cryptography raises several types for odd keys
        raise UnsupportedCertificate(f"cannot use the certificate's public key: {exc}") from exc
    if _kind(key) not in _PUBLIC_KINDS:
        raise UnsupportedCertificate(f"unsupported public key type {type(key).__name__}")
    try:
        oid = cert.public_key_algorithm_oid.dotted_string
    except Exception:  # noqa: BLE001
        oid = None
    return key, key_kind(key, oid)


def check_key_pair(private_key_der: bytes, certificate_der: bytes) -> None:
    """ValueError unless the private key matches the leaf certificate."""
    from cryptography import x509  # noqa: PLC0415

    try:
        key = load_private_key(private_key_der)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"private_key is not a DER private key: {exc}") from exc
    try:
        cert = x509.load_der_x509_certificate(certificate_der)
    except ValueError as exc:
        raise ValueError(f"certificate_chain[0] is not a DER certificate: {exc}") from exc
    try:
        public_key, _ = certificate_public_key(cert)
    except BadCertificate as exc:
        raise ValueError(str(exc)) from exc
    except UnsupportedCertificate as exc:
        raise ValueError(str(exc)) from exc
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*raw) != public_key.public_bytes(*raw):
        raise ValueError("private_key does not match the certificate_chain's first certificate")


# Last: the classes are all defined above.
_KIND_CLASSES: tuple[tuple[str, type | tuple[type, ...]], ...] = (
    ("x25519", x25519.X25519PrivateKey), ("x448", x448.X448PrivateKey),
    ("ec", ec.EllipticCurvePrivateKey), ("rsa", rsa.RSAPrivateKey),
    ("ed25519", ed25519.Ed25519PrivateKey), ("ed448", ed448.Ed448PrivateKey),
    ("ec-public", ec.EllipticCurvePublicKey), ("rsa-public", rsa.RSAPublicKey),
    ("ed25519-public", ed25519.Ed25519PublicKey), ("ed448-public", ed448.Ed448PublicKey),
    ("x25519-public", x25519.X25519PublicKey), ("x448-public", x448.X448PublicKey),
)
_PUBLIC_KINDS = frozenset({"ec-public", "rsa-public", "ed25519-public", "ed448-public"})
