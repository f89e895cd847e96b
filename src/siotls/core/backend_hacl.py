"""The ``hacl`` crypto backend: every call into ``pyhacl``, the bindings of HACL*.

HACL* is a library of formally verified C primitives (the one Firefox and the
Linux kernel carry). ``siotls.crypto.install('hacl')`` sets
:data:`siotls.core.crypto.hacl` to :data:`BACKEND`, and :mod:`siotls.core.crypto`
then hands it what it provides; ``cryptography`` keeps the rest:

===================  ======================================  ============================
primitive            HACL* (this module)                     ``cryptography``
===================  ======================================  ============================
record protection    ChaCha20-Poly1305                       AES-128-GCM, AES-256-GCM
key exchange         x25519                                  x448, P-256/384/521, hybrids
CertificateVerify    ed25519, ecdsa_secp256r1_sha256         RSA-PSS, ed448, P-384, P-521
transcript hash      SHA-256, SHA-384
HMAC, HKDF           HMAC-SHA-256/384; HKDF (RFC 5869)
                     is HMAC applied as the RFC writes it
X.509                                                        parsing, chains, signatures
===================  ======================================  ============================

So a connection limited to TLS_CHACHA20_POLY1305_SHA256, x25519 and ed25519 or
ecdsa_secp256r1_sha256 runs its handshake and records entirely on HACL*;
:func:`siotls.crypto.report` tells which backend ran what for a connection.

Keys: pyhacl takes raw bytes, so keys parsed by ``cryptography`` (ours and the
peer's certificate key) are exported raw here. An x25519 key share made here is
its 32 secret bytes (any 32 bytes are a valid X25519 scalar, RFC 7748 section 5).
ECDSA signatures are converted between HACL*'s ``r || s`` and TLS's DER by
``cryptography``'s ``utils`` (an encoding, not a primitive). x25519 secrets and
ECDSA nonces come from :func:`siotls.core.provider.random_bytes` (the operating
system's generator), where ``cryptography``'s keys come from OpenSSL's.

Three gaps of pyhacl 1.0.1 are worked around, not patched: its hash objects'
``copy()`` keeps only the first word of the state once a block was hashed, so
:class:`Hash` buffers the transcript and hashes it in one shot; its AEAD
``decrypt`` leaks its output buffer when the tag does not match, so
:meth:`ChaCha20Poly1305.decrypt` opens records with HACL*'s ``encrypt`` (see
there); and it takes ``bytes`` only, so memoryviews are copied first.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from pyhacl import HACLError
from pyhacl import hmac as hacl_hmac
from pyhacl.aead import chacha_poly1305
from pyhacl.diffie_hellman import curve25519
from pyhacl.hashlib import sha256, sha384
from pyhacl.signature import ed25519 as hacl_ed25519
from pyhacl.signature import p256

from siotls.core import provider
from siotls.core.errors import IllegalParameter
from siotls.iana import CipherSuites, NamedGroup, SignatureScheme

__all__ = ["BACKEND", "ChaCha20Poly1305", "Hacl", "Hash"]

Buffer = bytes | bytearray | memoryview

_HASHES: dict[str, tuple[Any, Callable[[bytes, bytes], bytes]]] = {
    "sha256": (sha256, hacl_hmac.hmac_sha256),
    "sha384": (sha384, hacl_hmac.hmac_sha384),
}
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class ChaCha20Poly1305:
    """RFC 8439 AEAD with the interface of ``cryptography``'s class of that name."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("ChaCha20Poly1305 key must be 32 bytes")
        self._key = bytes(key)

    def encrypt(self, nonce: Buffer, data: Buffer, associated_data: Buffer | None, /) -> bytes:
        ciphertext, tag = chacha_poly1305.encrypt(
            bytes(data), bytes(associated_data or b""), self._key, bytes(nonce))
        sealed: bytes = ciphertext + tag
        return sealed

    def decrypt(self, nonce: Buffer, data: Buffer, associated_data: Buffer | None, /) -> bytes:
        """Open ``ciphertext || tag``; :class:`InvalidTag` unless the tag matches.

        pyhacl's ``decrypt`` is not used: it leaks its output buffer on every tag
        mismatch, so a peer could grow our memory one forged record per connection.
        Both halves of RFC 8439's AEAD run in HACL*'s ``encrypt`` instead: sealing
        zeros gives the ChaCha20 keystream (counter 1, as for the ciphertext), the
        keystream XOR the ciphertext is the candidate plaintext, and sealing that
        gives back the same ciphertext with the tag it must carry, compared in
        constant time before any plaintext is returned.
        """
        if len(data) < 16:
            raise InvalidTag
        sealed = bytes(data)
        ciphertext, tag = sealed[:-16], sealed[-16:]
        aad, nonce = bytes(associated_data or b""), bytes(nonce)
        keystream, _ = chacha_poly1305.encrypt(bytes(len(ciphertext)), aad, self._key, nonce)
        size = len(ciphertext)
        plaintext = (int.from_bytes(ciphertext, "big") ^ int.from_bytes(keystream, "big")
                     ).to_bytes(size, "big")
        _, expected = chacha_poly1305.encrypt(plaintext, aad, self._key, nonce)
        if not hmac.compare_digest(expected, tag):
            raise InvalidTag
        return plaintext


class Hash(hashes.HashContext):
    """A SHA-2 context on HACL*, as ``cryptography``'s ``hashes.Hash``.

    The data is kept and hashed at :meth:`finalize`: pyhacl's own ``copy()`` is
    wrong once a block was processed (see the module docstring). A transcript is
    bounded by the handshake's message limits.
    """

    __slots__ = ("_algorithm", "_data")

    def __init__(self, algorithm: hashes.HashAlgorithm, data: bytes = b"") -> None:
        self._algorithm = algorithm
        self._data = bytearray(data)

    @property
    def algorithm(self) -> hashes.HashAlgorithm:
        return self._algorithm

    def update(self, data: Buffer) -> None:
        self._data += data

    def copy(self) -> Hash:
        return Hash(self._algorithm, bytes(self._data))

    def finalize(self) -> bytes:
        digest: bytes = _HASHES[self._algorithm.name][0].oneshot(bytes(self._data))
        return digest


class Hacl:
    """What :mod:`siotls.core.crypto` asks of the backend: predicates, then operations."""

    name = "hacl"
    cipher_suites = frozenset({CipherSuites.TLS_CHACHA20_POLY1305_SHA256})
    groups = frozenset({NamedGroup.x25519})
    signature_schemes = frozenset({SignatureScheme.ed25519,
                                   SignatureScheme.ecdsa_secp256r1_sha256})
    hash_names = frozenset(_HASHES)

    # -- hashes, HMAC, HKDF --------------------------------------------------------
    def provides_hash(self, algorithm: hashes.HashAlgorithm) -> bool:
        return algorithm.name in _HASHES

    def new_hash(self, algorithm: hashes.HashAlgorithm) -> Hash:
        return Hash(algorithm)

    def hmac(self, algorithm: hashes.HashAlgorithm, key: bytes, data: bytes) -> bytes:
        return _HASHES[algorithm.name][1](bytes(key), bytes(data))

    def hkdf_extract(self, algorithm: hashes.HashAlgorithm, salt: bytes, ikm: bytes) -> bytes:
        """RFC 5869 2.2: PRK = HMAC-Hash(salt, IKM), an empty salt being HashLen zeros."""
        return self.hmac(algorithm, salt or bytes(algorithm.digest_size), ikm)

    def hkdf_expand(self, algorithm: hashes.HashAlgorithm, prk: bytes, info: bytes,
                    length: int) -> bytes:
        """RFC 5869 2.3: T(i) = HMAC-Hash(PRK, T(i-1) | info | i), OKM the first L octets."""
        if not 0 < length <= 255 * algorithm.digest_size:
            raise ValueError(f"HKDF-Expand cannot make {length} bytes")
        mac = _HASHES[algorithm.name][1]
        prk, info = bytes(prk), bytes(info)
        block, okm = b"", bytearray()
        counter = 1
        while len(okm) < length:
            block = mac(prk, block + info + bytes((counter,)))
            okm += block
            counter += 1
        return bytes(okm[:length])

    # -- AEAD -----------------------------------------------------------------------
    def chacha20_poly1305(self, key: bytes) -> ChaCha20Poly1305:
        return ChaCha20Poly1305(key)

    # -- x25519 ---------------------------------------------------------------------
    def x25519_share(self, secret: bytes | None = None) -> tuple[bytes, bytes]:
        """An x25519 secret (32 fresh random bytes unless given) and its public key."""
        if secret is None:
            secret = provider.random_bytes(32)
        return secret, curve25519.secret_to_public(secret)

    def x25519(self, private_key: bytes | x25519.X25519PrivateKey, peer_share: bytes) -> bytes:
        """The X25519 shared secret; an all-zero one is ``illegal_parameter`` (RFC 8446 7.4.2)."""
        secret = (private_key.private_bytes_raw()
                  if isinstance(private_key, x25519.X25519PrivateKey) else private_key)
        try:
            return curve25519.ecdh(secret, bytes(peer_share))  # type: ignore[no-any-return]
        except HACLError as exc:  # HACL* refuses the all-zero result
            raise IllegalParameter(f"invalid x25519 key share: {exc}",
                                   reason="bad_key_share") from exc

    # -- signatures -----------------------------------------------------------------
    def sign(self, scheme: int, key: Any, data: bytes) -> bytes:
        if scheme == SignatureScheme.ed25519:
            assert isinstance(key, ed25519.Ed25519PrivateKey)
            return hacl_ed25519.sign(key.private_bytes_raw(), data)  # type: ignore[no-any-return]
        assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
        private = key.private_numbers().private_value.to_bytes(32, "big")
        for _ in range(64):  # a nonce outside [1, n-1] (about 2**-32) is drawn again
            nonce = provider.random_bytes(32)
            if p256.validate_private_key(nonce):
                signature: bytes = p256.sign_sha256(data, private, nonce)
                return encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                            int.from_bytes(signature[32:], "big"))
        raise RuntimeError("64 random P-256 nonces out of range: a broken generator")

    def verify(self, scheme: int, key: Any, signature: bytes, data: bytes) -> None:
        """Raise :class:`InvalidSignature` when the signature does not verify."""
        if scheme == SignatureScheme.ed25519:
            if not isinstance(key, ed25519.Ed25519PublicKey) or len(signature) != 64:
                raise InvalidSignature
            ok = hacl_ed25519.verify(key.public_bytes_raw(), data, bytes(signature))
        else:
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
                raise InvalidSignature
            try:
                r, s = decode_dss_signature(bytes(signature))
            except ValueError as exc:
                raise InvalidSignature(str(exc)) from exc
            if not (0 < r < _P256_ORDER and 0 < s < _P256_ORDER):
                raise InvalidSignature
            public = key.public_bytes(serialization.Encoding.X962,
                                      serialization.PublicFormat.UncompressedPoint)[1:]
            ok = p256.verif_sha256(data, public, r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        if not ok:
            raise InvalidSignature


#: The one instance :func:`siotls.crypto.install` hands to :mod:`siotls.core.crypto`.
BACKEND = Hacl()
