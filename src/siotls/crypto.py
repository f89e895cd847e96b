"""The crypto backend switch, kept from siotls 0.0.5.

``siotls.crypto.install(name)`` selects the backend, for the whole process:

``'openssl'`` (the default)
    the ``cryptography`` package (which embeds OpenSSL) does everything.
``'hacl'``
    HACL*'s formally verified primitives, through ``pyhacl`` (``pip install
    'siotls[hacl]'``), do what they provide: ChaCha20-Poly1305, x25519, ed25519
    and ecdsa_secp256r1_sha256 signatures, SHA-256/384, HMAC and HKDF. The rest
    (AES-GCM, the other groups and signature schemes, all of X.509) stays on
    ``cryptography``. :mod:`siotls.core.backend_hacl` holds every pyhacl call.

Calling :func:`install` is optional: the first connection installs ``'openssl'``.
Install before making connections: one in the middle of its handshake when the
backend changes finishes it correctly (both compute the same functions), but
:func:`report` then describes the new backend. :func:`report` tells, for a
connection's negotiated parameters, which backend ran each primitive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from siotls.core.config import TLSNegotiatedConfiguration

__all__ = ["BACKENDS", "ensure_installed", "install", "installed", "report"]

BACKENDS = ("openssl", "hacl")
_installed: str | None = None


def install(name: str = "openssl") -> None:
    """Select the crypto backend.

    :raises ValueError: for a name not in :data:`BACKENDS`.
    :raises ImportError: when the backend's package is missing (``pyhacl`` for ``'hacl'``).
    """
    global _installed  # noqa: PLW0603
    if name not in BACKENDS:
        raise ValueError(f"unknown crypto backend {name!r}; available: {', '.join(BACKENDS)}")
    from siotls.core import crypto  # noqa: PLC0415 (fail early with a clear ImportError)

    if name == "hacl":
        try:
            from siotls.core.backend_hacl import BACKEND  # noqa: PLC0415
        except ImportError as exc:
            raise ImportError(
                f"the 'hacl' crypto backend needs pyhacl: pip install 'siotls[hacl]' ({exc})"
            ) from exc
        crypto.hacl = BACKEND
    else:
        crypto.hacl = None
    _installed = name


def installed() -> str | None:
    """The installed backend's name, or None."""
    return _installed


def ensure_installed() -> None:
    if _installed is None:
        install("openssl")


def report(nconfig: TLSNegotiatedConfiguration) -> dict[str, str]:
    """Which backend (``'hacl'`` or ``'openssl'``) runs each primitive of a connection.

    ``'hacl+openssl'`` is a hybrid key exchange whose ECDH half is HACL*'s
    (X25519MLKEM768: x25519 on HACL*, ML-KEM-768 on ``cryptography``).

    From the negotiated parameters and the installed backend, with the rule
    :mod:`siotls.core.crypto` dispatches by. Keys: ``aead`` (record protection),
    ``key_exchange``, ``hash`` (transcript hash, HMAC and HKDF), ``signature`` (our
    CertificateVerify, when we sent one), ``peer_signature`` (the peer's), ``x509``
    (the peer's certificate chain, when it was validated: always ``cryptography``).
    Keys for steps the handshake did not take are left out.
    """
    from siotls.core import crypto  # noqa: PLC0415

    hacl = crypto.hacl

    def where(provided: bool) -> str:
        return "hacl" if provided else "openssl"

    result: dict[str, str] = {}
    if nconfig.cipher_suite is not None:
        suite = crypto.CIPHER_SUITES[nconfig.cipher_suite]
        result["aead"] = where(hacl is not None and suite.code in hacl.cipher_suites)
        result["hash"] = where(hacl is not None and hacl.provides_hash(suite.hash))
    group = nconfig.key_exchange
    if group is not None:
        result["key_exchange"] = where(hacl is not None and group in hacl.groups)
        hybrid = crypto.HYBRIDS.get(group)
        if hacl is not None and hybrid is not None and hybrid.ecdh_group in hacl.groups:
            result["key_exchange"] = "hacl+openssl"  # X25519MLKEM768: ML-KEM on cryptography
    for key, scheme in (("signature", nconfig.signature_algorithm),
                        ("peer_signature", nconfig.peer_signature_algorithm)):
        if scheme is not None:
            result[key] = where(hacl is not None and scheme in hacl.signature_schemes)
    if nconfig.peer_verified:
        result["x509"] = "openssl"
    return result
