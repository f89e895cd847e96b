"""Every cryptographic operation of the engine, done by ``cryptography``.

Three tables keyed by IANA code point:

* :data:`CIPHER_SUITES`: the AEAD class, key length and hash of each suite;
* :func:`generate_key_share` / :func:`key_exchange`: ECDHE over each named group;
* :data:`SIGNATURE_SCHEMES`: how to sign and verify with each signature scheme.

This is the only module of the core that imports ``cryptography`` primitives
(the X.509 path validation lives in :mod:`siotls.core.certificates`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa, x448, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from siotls.core.errors import BadCertificate, IllegalParameter, UnsupportedCertificate
from siotls.iana import CipherSuites, NamedGroup, SignatureScheme

__all__ = [
    "CIPHER_SUITES",
    "SIGNATURE_SCHEMES",
    "CipherSuite",
    "InvalidSignature",
    "InvalidTag",
    "generate_key_share",
    "hkdf_expand",
    "hkdf_extract",
    "key_exchange",
]

PrivateKey = (
    ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey)
PublicKey = (
    ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
    | ed448.Ed448PublicKey)
AEAD = AESGCM | ChaCha20Poly1305


# ---------------------------------------------------------------------------
# Cipher suites (RFC 8446 section B.4)
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CipherSuite:
    code: CipherSuites
    aead: type[AESGCM] | type[ChaCha20Poly1305]
    key_length: int
    hash: hashes.HashAlgorithm
    #: RFC 8446 section 5.5: records one key may protect before it must be updated.
    usage_limit: int

    @property
    def hash_length(self) -> int:
        return self.hash.digest_size


CIPHER_SUITES: dict[int, CipherSuite] = {
    CipherSuites.TLS_AES_128_GCM_SHA256: CipherSuite(
        CipherSuites.TLS_AES_128_GCM_SHA256, AESGCM, 16, hashes.SHA256(), 2**24),
    CipherSuites.TLS_AES_256_GCM_SHA384: CipherSuite(
        CipherSuites.TLS_AES_256_GCM_SHA384, AESGCM, 32, hashes.SHA384(), 2**24),
    CipherSuites.TLS_CHACHA20_POLY1305_SHA256: CipherSuite(
        CipherSuites.TLS_CHACHA20_POLY1305_SHA256, ChaCha20Poly1305, 32, hashes.SHA256(), 2**62),
}


def hkdf_extract(algorithm: hashes.HashAlgorithm, salt: bytes, ikm: bytes) -> bytes:
    return HKDF.extract(algorithm, salt, ikm)


def hkdf_expand(algorithm: hashes.HashAlgorithm, prk: bytes, info: bytes, length: int) -> bytes:
    return HKDFExpand(algorithm, length, info).derive(prk)


def new_hash(algorithm: hashes.HashAlgorithm) -> hashes.Hash:
    return hashes.Hash(algorithm)


def hmac_sha(algorithm: hashes.HashAlgorithm, key: bytes, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import hmac  # noqa: PLC0415

    h = hmac.HMAC(key, algorithm)
    h.update(data)
    return h.finalize()


def seal(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """AES-256-GCM encryption (session tickets, :mod:`siotls.core.tickets`)."""
    return AESGCM(key).encrypt(nonce, data, aad)


def unseal(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes | None:
    """AES-256-GCM decryption; ``None`` when the data was not sealed under ``key``."""
    try:
        return AESGCM(key).decrypt(nonce, data, aad)
    except InvalidTag:
        return None


# ---------------------------------------------------------------------------
# Key exchange (RFC 8446 section 4.2.8)
# ---------------------------------------------------------------------------

_CURVES: dict[int, type[ec.EllipticCurve]] = {
    NamedGroup.secp256r1: ec.SECP256R1,
    NamedGroup.secp384r1: ec.SECP384R1,
    NamedGroup.secp521r1: ec.SECP521R1,
}

KeySharePrivate = ec.EllipticCurvePrivateKey | x25519.X25519PrivateKey | x448.X448PrivateKey


def generate_key_share(group: int) -> tuple[KeySharePrivate, bytes]:
    """A fresh ephemeral key for ``group`` and its KeyShareEntry.key_exchange."""
    if group == NamedGroup.x25519:
        xkey = x25519.X25519PrivateKey.generate()
        return xkey, xkey.public_key().public_bytes_raw()
    if group == NamedGroup.x448:
        x4key = x448.X448PrivateKey.generate()
        return x4key, x4key.public_key().public_bytes_raw()
    eckey = ec.generate_private_key(_CURVES[group]())
    return eckey, eckey.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


_KEY_SHARE_LENGTHS: dict[int, int] = {
    NamedGroup.x25519: 32, NamedGroup.x448: 56,
    NamedGroup.secp256r1: 65, NamedGroup.secp384r1: 97, NamedGroup.secp521r1: 133,
}


def key_exchange(group: int, private_key: KeySharePrivate, peer_share: bytes) -> bytes:
    """The (EC)DHE shared secret; a malformed peer share is ``illegal_parameter``."""
    if len(peer_share) != _KEY_SHARE_LENGTHS[group]:
        raise IllegalParameter(f"a {NamedGroup(group).name} key share of {len(peer_share)} bytes")
    try:
        if isinstance(private_key, x25519.X25519PrivateKey):
            return private_key.exchange(x25519.X25519PublicKey.from_public_bytes(peer_share))
        if isinstance(private_key, x448.X448PrivateKey):
            return private_key.exchange(x448.X448PublicKey.from_public_bytes(peer_share))
        if peer_share[0] != 4:  # RFC 8446 4.2.8.2: UncompressedPointRepresentation only
            raise IllegalParameter("an EC key share that is not an uncompressed point")
        peer_key = ec.EllipticCurvePublicKey.from_encoded_point(private_key.curve, peer_share)
        return private_key.exchange(ec.ECDH(), peer_key)
    except ValueError as exc:  # not on the curve, or an all-zero X25519/X448 result
        raise IllegalParameter(f"invalid {NamedGroup(group).name} key share: {exc}") from exc


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
        if isinstance(key, rsa.RSAPrivateKey):
            assert self.hash is not None
            return key.sign(data, self._padding(), self.hash)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            assert self.hash is not None
            return key.sign(data, ec.ECDSA(self.hash))
        return key.sign(data)

    def verify(self, key: PublicKey, signature: bytes, data: bytes) -> None:
        """Raise :class:`InvalidSignature` when the signature does not verify."""
        try:
            if isinstance(key, rsa.RSAPublicKey):
                assert self.hash is not None
                key.verify(signature, data, self._padding(), self.hash)
            elif isinstance(key, ec.EllipticCurvePublicKey):
                assert self.hash is not None
                key.verify(signature, data, ec.ECDSA(self.hash))
            else:
                key.verify(signature, data)
        except ValueError as exc:  # e.g. a DER signature that does not parse
            raise InvalidSignature(str(exc)) from exc


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
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return ("pss" if spki_oid == _RSASSA_PSS else "rsae"), None
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ec", key.curve.name
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "ed25519", None
    if isinstance(key, (ed448.Ed448PrivateKey, ed448.Ed448PublicKey)):
        return "ed448", None
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
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey,
                            ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
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
