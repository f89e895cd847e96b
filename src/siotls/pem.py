"""PEM to DER helpers for certificates and keys.

siotls works on DER everywhere (:class:`~siotls.core.config.TLSConfiguration` takes
DER certificates and keys); these functions turn the PEM files people actually have
into what it wants. They use ``cryptography``, imported on first use.
"""

from __future__ import annotations

__all__ = [
    "decode_pem_certificate_chain",
    "decode_pem_private_key",
    "decode_pem_public_key",
]


def _as_bytes(data: bytes | str) -> bytes:
    if isinstance(data, str):
        return data.encode()
    return bytes(data)


def decode_pem_certificate_chain(data: bytes | str) -> list[bytes]:
    """Every ``-----BEGIN CERTIFICATE-----`` block of ``data``, in order, as DER.

    Other PEM blocks (keys, parameters...) are ignored.

    :raises ValueError: when ``data`` holds no certificate or a malformed one.
    """
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives.serialization import Encoding  # noqa: PLC0415

    raw = _as_bytes(data)
    if b"-----BEGIN CERTIFICATE-----" not in raw:
        msg = "no PEM certificate found (expected a -----BEGIN CERTIFICATE----- block)"
        raise ValueError(msg)
    try:
        certificates = x509.load_pem_x509_certificates(raw)
    except ValueError as exc:
        msg = f"malformed PEM certificate: {exc}"
        raise ValueError(msg) from exc
    return [certificate.public_bytes(Encoding.DER) for certificate in certificates]


def decode_pem_private_key(data: bytes | str, password: bytes | None = None) -> bytes:
    """The (first) private key of ``data`` as unencrypted DER PKCS#8.

    Accepts every PEM flavour ``cryptography`` loads: ``PRIVATE KEY`` (PKCS#8),
    ``ENCRYPTED PRIVATE KEY`` (give ``password``), ``RSA PRIVATE KEY``, ``EC PRIVATE
    KEY``..., for RSA, EC, Ed25519 and Ed448 keys. An RSA-PSS key (id-RSASSA-PSS) is
    loaded as a plain RSA key, so it comes back as rsaEncryption PKCS#8: the
    certificate, not the key, tells which signature schemes apply.

    :raises ValueError: when no key can be loaded (garbage, wrong or missing password).
    """
    from cryptography.exceptions import UnsupportedAlgorithm  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    try:
        key = serialization.load_pem_private_key(_as_bytes(data), password)
    except (ValueError, TypeError) as exc:
        # TypeError: password given for an unencrypted key, or missing for an encrypted one
        msg = f"cannot load the PEM private key: {exc}"
        raise ValueError(msg) from exc
    except UnsupportedAlgorithm as exc:
        msg = f"unsupported PEM private key: {exc}"
        raise ValueError(msg) from exc
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def decode_pem_public_key(data: bytes | str) -> bytes:
    """The (first) public key of ``data`` as DER SubjectPublicKeyInfo.

    :raises ValueError: when no public key can be loaded.
    """
    from cryptography.exceptions import UnsupportedAlgorithm  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    try:
        key = serialization.load_pem_public_key(_as_bytes(data))
    except ValueError as exc:
        msg = f"cannot load the PEM public key: {exc}"
        raise ValueError(msg) from exc
    except UnsupportedAlgorithm as exc:
        msg = f"unsupported PEM public key: {exc}"
        raise ValueError(msg) from exc
    return key.public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )
