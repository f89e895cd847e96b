"""Tests for siotls.pem and siotls.trust."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.verification import Store

import siotls.trust
from certs import KEY_TYPES, make_ca
from siotls.pem import decode_pem_certificate_chain, decode_pem_private_key, decode_pem_public_key
from siotls.trust import TrustStore, get_truststore

SRC = Path(__file__).resolve().parent.parent / "src"


# ---------------------------------------------------------------------------- pem


def test_certificate_chain_round_trip() -> None:
    ca = make_ca()
    leaf = ca.issue(intermediate=True)
    assert len(leaf.chain_der) == 2
    assert decode_pem_certificate_chain(leaf.chain_pem) == leaf.chain_der
    assert decode_pem_certificate_chain(leaf.chain_pem.decode()) == leaf.chain_der
    assert decode_pem_certificate_chain(ca.cert_pem) == [ca.cert_der]


def test_certificate_chain_ignores_other_blocks() -> None:
    ca = make_ca()
    leaf = ca.issue()
    data = leaf.key_pem + b"some text\n" + leaf.chain_pem + ca.cert_pem
    assert decode_pem_certificate_chain(data) == [*leaf.chain_der, ca.cert_der]


def test_certificate_chain_crlf() -> None:
    ca = make_ca()
    assert decode_pem_certificate_chain(ca.cert_pem.replace(b"\n", b"\r\n")) == [ca.cert_der]


@pytest.mark.parametrize("data", [b"", "", b"garbage", make_ca().issue().key_pem])
def test_certificate_chain_none(data: bytes | str) -> None:
    with pytest.raises(ValueError, match="no PEM certificate found"):
        decode_pem_certificate_chain(data)


@pytest.mark.parametrize(
    "data",
    [
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\nMIIB\n",
    ],
)
def test_certificate_chain_malformed(data: bytes) -> None:
    with pytest.raises(ValueError, match="malformed PEM certificate"):
        decode_pem_certificate_chain(data)


def test_certificate_chain_one_malformed_among_good() -> None:
    ca = make_ca()
    bad = b"-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n"
    with pytest.raises(ValueError, match="malformed PEM certificate"):
        decode_pem_certificate_chain(ca.cert_pem + bad)


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_private_key_round_trip(key_type: str) -> None:
    leaf = make_ca().issue(key_type=key_type)
    assert decode_pem_private_key(leaf.key_pem) == leaf.key_der
    assert decode_pem_private_key(leaf.key_pem.decode()) == leaf.key_der
    # the DER really is PKCS#8 of the same key
    key = serialization.load_der_private_key(leaf.key_der, None)
    assert key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == leaf.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize("key_type", ["rsa-2048", "ecdsa-p256", "ecdsa-p384"])
def test_private_key_traditional_format(key_type: str) -> None:
    leaf = make_ca().issue(key_type=key_type)
    assert isinstance(leaf.key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    pem = leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert pem.startswith((b"-----BEGIN RSA PRIVATE KEY", b"-----BEGIN EC PRIVATE KEY"))
    assert decode_pem_private_key(pem) == leaf.key_der


def test_private_key_encrypted() -> None:
    leaf = make_ca().issue(key_type="ed25519")
    pem = leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    assert b"ENCRYPTED PRIVATE KEY" in pem
    assert decode_pem_private_key(pem, b"secret") == leaf.key_der
    with pytest.raises(ValueError, match="cannot load the PEM private key"):
        decode_pem_private_key(pem, b"wrong")
    with pytest.raises(ValueError, match="cannot load the PEM private key"):
        decode_pem_private_key(pem)
    with pytest.raises(ValueError, match="cannot load the PEM private key"):
        decode_pem_private_key(leaf.key_pem, b"not encrypted")


@pytest.mark.parametrize("data", [b"", b"garbage", make_ca().cert_pem])
def test_private_key_garbage(data: bytes) -> None:
    with pytest.raises(ValueError, match="PEM private key"):
        decode_pem_private_key(data)


@pytest.mark.openssl
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_private_key_rsa_pss(tmp_path: Path) -> None:
    key_file = tmp_path / "pss.pem"
    subprocess.run(
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "RSA-PSS",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            str(key_file),
        ],
        check=True,
        capture_output=True,
    )
    der = decode_pem_private_key(key_file.read_bytes())
    # cryptography loads an id-RSASSA-PSS key as a plain RSA key (rsaEncryption PKCS#8)
    key = serialization.load_der_private_key(der, None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_public_key_round_trip(key_type: str) -> None:
    leaf = make_ca().issue(key_type=key_type)
    spki = leaf.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pem = leaf.cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert decode_pem_public_key(pem) == spki
    assert decode_pem_public_key(pem.decode()) == spki


@pytest.mark.parametrize("data", [b"", b"garbage", make_ca().cert_pem])
def test_public_key_garbage(data: bytes) -> None:
    with pytest.raises(ValueError, match="PEM public key"):
        decode_pem_public_key(data)


# ---------------------------------------------------------------------- TrustStore


def test_truststore() -> None:
    ca1, ca2 = make_ca(), make_ca(name="siotls other CA")
    truststore = TrustStore([ca1.cert_der, ca2.cert_der])
    assert len(truststore) == 2
    assert truststore.certificates == (ca1.cert_der, ca2.cert_der)
    assert truststore.x509_certificates == (ca1.cert, ca2.cert)
    assert list(truststore) == [ca1.cert_der, ca2.cert_der]
    assert ca1.cert_der in truststore
    assert make_ca(name="siotls third CA").cert_der not in truststore
    assert isinstance(truststore.store, Store)
    assert truststore.store is truststore.store  # built once
    assert "2 certificates" in repr(truststore)


def test_truststore_takes_any_iterable() -> None:
    ca = make_ca()
    truststore = TrustStore(der for der in [memoryview(ca.cert_der)])  # type: ignore[misc]
    assert truststore.certificates == (ca.cert_der,)
    assert isinstance(truststore.certificates[0], bytes)


def test_truststore_empty() -> None:
    with pytest.raises(ValueError, match="at least one"):
        TrustStore([])


def test_truststore_bad_certificate_index() -> None:
    ca = make_ca()
    with pytest.raises(ValueError, match="#1 "):
        TrustStore([ca.cert_der, b"garbage", ca.cert_der])
    with pytest.raises(ValueError, match="#0 "):
        TrustStore([ca.cert_der[:-1]])


def test_truststore_from_pem_and_file(tmp_path: Path) -> None:
    ca1, ca2 = make_ca(), make_ca(name="siotls other CA")
    bundle = ca1.cert_pem + b"\n# comment\n" + ca2.cert_pem
    assert TrustStore.from_pem(bundle).certificates == (ca1.cert_der, ca2.cert_der)
    assert TrustStore.from_pem(bundle.decode()).certificates == (ca1.cert_der, ca2.cert_der)
    path = tmp_path / "bundle.pem"
    path.write_bytes(bundle)
    assert TrustStore.from_file(path).certificates == (ca1.cert_der, ca2.cert_der)
    assert TrustStore.from_file(str(path)).certificates == (ca1.cert_der, ca2.cert_der)
    with pytest.raises(ValueError, match="no PEM certificate"):
        TrustStore.from_pem(b"nothing here")
    with pytest.raises(FileNotFoundError):
        TrustStore.from_file(tmp_path / "missing.pem")


# ------------------------------------------------------------------ get_truststore


@pytest.fixture
def fresh_truststore(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Clear get_truststore's cache before and after, undo env changes."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    get_truststore.cache_clear()
    yield
    get_truststore.cache_clear()


def _subjects(truststore: TrustStore) -> set[x509.Name]:
    return {certificate.subject for certificate in truststore.x509_certificates}


def _certifi_subjects() -> set[x509.Name]:
    with warnings.catch_warnings():
        # certifi holds a root with a negative serial number, cryptography warns
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return _subjects(TrustStore.from_file(certifi.where()))


def test_get_truststore(fresh_truststore: None) -> None:
    truststore = get_truststore()
    assert len(truststore) > 10
    assert get_truststore() is truststore  # cached
    assert len(set(truststore.certificates)) == len(truststore)  # no duplicates
    # ISRG Root X1 (Let's Encrypt) is in every system bundle and in certifi's
    certifi_subjects = _certifi_subjects()
    isrg = next(s for s in certifi_subjects if "ISRG Root X1" in s.rfc4514_string())
    assert isrg in _subjects(truststore)
    assert truststore.store is truststore.store


def test_get_truststore_ssl_cert_file(
    fresh_truststore: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = make_ca()
    bundle = tmp_path / "bundle.pem"
    # an unparseable certificate is skipped, not fatal
    bundle.write_bytes(
        b"-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n"
        b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"
        + ca.cert_pem
        + ca.cert_pem
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert get_truststore().certificates == (ca.cert_der,)


def test_get_truststore_capath(
    fresh_truststore: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca1, ca2 = make_ca(), make_ca(name="siotls other CA")
    (tmp_path / "a.0").write_bytes(ca1.cert_pem)
    (tmp_path / "b.pem").write_bytes(ca2.cert_pem)
    (tmp_path / "c.0").write_bytes(ca2.cert_pem)  # duplicate
    (tmp_path / "README").write_bytes(b"not a certificate")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    monkeypatch.setattr(siotls.trust, "SYSTEM_CA_BUNDLES", ())
    assert get_truststore().certificates == (ca1.cert_der, ca2.cert_der)


def test_get_truststore_certifi_fallback(
    fresh_truststore: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(siotls.trust, "_system_certificates", dict)
    truststore = get_truststore()
    assert _subjects(truststore) == _certifi_subjects()


def test_get_truststore_nothing(fresh_truststore: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(siotls.trust, "_system_certificates", dict)
    monkeypatch.setitem(sys.modules, "certifi", None)  # import certifi -> ImportError
    with pytest.raises(RuntimeError, match="no CA certificate found"):
        get_truststore()


def test_import_is_lazy() -> None:
    """siotls.pem and siotls.trust do not import cryptography themselves."""
    code = textwrap.dedent("""
        import sys
        import siotls
        before = "cryptography" in sys.modules
        import siotls.pem, siotls.trust
        assert before or "cryptography" not in sys.modules, "cryptography imported"
    """)
    subprocess.run(
        [sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(SRC)}
    )
