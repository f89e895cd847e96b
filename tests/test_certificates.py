"""Tests for siotls.core.certificates (and for the tests' own certs.py helper)."""

from __future__ import annotations

import datetime
import re
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from certs import (
    CA,
    KEY_TYPES,
    VERIFIABLE_CA_KEY_TYPES,
    PrivateKey,
    generate_key,
    make_ca,
    make_name,
    utcnow,
    write_pem_files,
)
from siotls.core.certificates import (
    load_certificate,
    verify_chain,
    verify_client_chain,
    verify_server_chain,
)
from siotls.core.errors import (
    BadCertificate,
    CertificateExpired,
    CertificateRequired,
    DecodeError,
    InternalError,
    UnknownCA,
    UnsupportedCertificate,
)
from siotls.iana import AlertDescription

DAY = datetime.timedelta(days=1)
NOW = utcnow()


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def custom_leaf(
    ca: CA,
    *,
    key: PrivateKey | None = None,
    signature_hash: hashes.SHA224 | hashes.SHA256 | hashes.SHA512 | None = None,
    ekus: tuple[x509.ObjectIdentifier, ...] = (ExtendedKeyUsageOID.SERVER_AUTH,),
    extensions: tuple[tuple[x509.ExtensionType, bool], ...] = (),
) -> x509.Certificate:
    """A localhost leaf with knobs the regular CA.issue() does not have."""
    key = key or generate_key("ecdsa-p256")
    builder = (
        ca.builder(make_name("localhost"), key.public_key(), NOW - DAY, NOW + 10 * DAY)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
    )
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(ca.key, signature_hash or ca.signature_hash)


def custom_root(
    key: PrivateKey,
    name: str = "siotls test CA",
    not_before: datetime.datetime = NOW - 10 * DAY,
    not_after: datetime.datetime = NOW + 10 * DAY,
) -> x509.Certificate:
    subject = make_name(name)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
            critical=False,
        )
        .sign(
            key,
            hashes.SHA256()
            if isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
            else None,
        )
    )


def custom_intermediate(
    ca: CA,
    name: str,
    not_before: datetime.datetime = NOW - 10 * DAY,
    not_after: datetime.datetime = NOW + 10 * DAY,
    ekus: tuple[x509.ObjectIdentifier, ...] = (),
) -> CA:
    key = generate_key("ecdsa-p256")
    builder = (
        ca.builder(make_name(name), key.public_key(), not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
    )
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
    return CA(builder.sign(ca.key, ca.signature_hash), key, "ecdsa-p256", name, parent=ca)


def der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


# ------------------------------------------------------------------ load_certificate


def test_load_certificate() -> None:
    ca = make_ca()
    assert load_certificate(ca.cert_der) == ca.cert


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x30\x03\x02\x01\x01"])
def test_load_certificate_garbage(data: bytes) -> None:
    with pytest.raises(BadCertificate, match=r"not a valid DER X\.509") as info:
        load_certificate(data)
    assert info.value.description == AlertDescription.BAD_CERTIFICATE


def test_load_certificate_truncated() -> None:
    with pytest.raises(BadCertificate):
        load_certificate(make_ca().cert_der[:-1])


# ------------------------------------------------------------- verify_server_chain


@pytest.mark.parametrize("ca_type", VERIFIABLE_CA_KEY_TYPES)
@pytest.mark.parametrize("leaf_type", KEY_TYPES)
def test_server_chain_key_types(ca_type: str, leaf_type: str) -> None:
    ca = make_ca(ca_type)
    leaf = ca.issue(key_type=leaf_type)
    assert verify_server_chain(ca.truststore(), leaf.chain_der, "localhost") == leaf.cert


@pytest.mark.parametrize("ca_type", ["ed25519", "ed448"])
def test_server_chain_eddsa_ca_pathbuilder(ca_type: str) -> None:
    """cryptography refuses EdDSA CAs: the chain goes through siotls's path builder."""
    ca = make_ca(ca_type)
    leaf = ca.issue()
    path = verify_chain(ca.truststore(), leaf.chain_der, server_name="localhost")
    assert path.validator == "pathbuilder"
    assert path == [leaf.cert_der, ca.cert_der]
    # a web PKI chain keeps going through cryptography
    assert verify_chain(make_ca().truststore(), make_ca().issue().chain_der).validator == "webpki"


@pytest.mark.parametrize("name", ["localhost", "LocalHost", "localhost.", "127.0.0.1", "::1"])
def test_server_chain_names(name: str) -> None:
    ca = make_ca()
    leaf = ca.issue()
    assert verify_server_chain(ca.truststore(), leaf.chain_der, name) == leaf.cert


def test_server_chain_dns_wildcard() -> None:
    ca = make_ca()
    leaf = ca.issue(["*.example.com"])
    assert verify_server_chain(ca.truststore(), leaf.chain_der, "www.example.com") == leaf.cert
    message = re.escape("certificate for '*.example.com' does not match 'a.b.example.com'")
    with pytest.raises(BadCertificate, match=message) as info:
        verify_server_chain(ca.truststore(), leaf.chain_der, "a.b.example.com")
    assert info.value.reason == "hostname_mismatch"


def test_server_chain_idna() -> None:
    ca = make_ca()
    leaf = ca.issue(["xn--bcher-kva.example"])
    assert verify_server_chain(ca.truststore(), leaf.chain_der, "bücher.example") == leaf.cert


@pytest.mark.parametrize("name", ["example.com", "localhost2", "127.0.0.2", "10.0.0.1", "::2"])
def test_server_chain_name_mismatch(name: str) -> None:
    ca = make_ca()
    leaf = ca.issue()
    message = re.escape(f"does not match '{name}'")
    with pytest.raises(BadCertificate, match=message) as info:
        verify_server_chain(ca.truststore(), leaf.chain_der, name)
    assert info.value.reason == ("hostname_mismatch" if name[0].isalpha() else "ip_mismatch")
    assert "no matching subjectAltName" in str(info.value)  # cryptography's message, appended


def test_server_chain_ip_not_matched_by_dns_entry() -> None:
    ca = make_ca()
    leaf = ca.issue(["localhost"])
    with pytest.raises(BadCertificate, match=r"without any IP address .* '127\.0\.0\.1'") as info:
        verify_server_chain(ca.truststore(), leaf.chain_der, "127.0.0.1")
    assert info.value.reason == "ip_mismatch"


def test_server_chain_ip_only_certificate() -> None:
    ca = make_ca()
    leaf = ca.issue(["192.0.2.7"])
    assert verify_server_chain(ca.truststore(), leaf.chain_der, "192.0.2.7") == leaf.cert
    with pytest.raises(BadCertificate, match=r"certificate for '192\.0\.2\.7' does not match"):
        verify_server_chain(ca.truststore(), leaf.chain_der, "192.0.2.8")


@pytest.mark.parametrize("name", ["bad name", "*.example.com", "a..b"])
def test_server_chain_invalid_server_name(name: str) -> None:
    ca = make_ca()
    with pytest.raises(InternalError, match="invalid server name"):
        verify_server_chain(ca.truststore(), ca.issue().chain_der, name)


def test_server_chain_expired() -> None:
    ca = make_ca()
    leaf = ca.issue(not_before=NOW - 10 * DAY, not_after=NOW - DAY)
    with pytest.raises(CertificateExpired, match="not valid at validation time") as info:
        verify_server_chain(ca.truststore(), leaf.chain_der, "localhost")
    assert info.value.description == AlertDescription.CERTIFICATE_EXPIRED


def test_server_chain_not_yet_valid() -> None:
    ca = make_ca()
    leaf = ca.issue(not_before=NOW + DAY, not_after=NOW + 10 * DAY)
    with pytest.raises(CertificateExpired, match="not valid at validation time"):
        verify_server_chain(ca.truststore(), leaf.chain_der, "localhost")


def test_server_chain_now() -> None:
    ca = make_ca()
    leaf = ca.issue()
    truststore = ca.truststore()
    verify_server_chain(truststore, leaf.chain_der, "localhost", now=NOW + 29 * DAY)
    with pytest.raises(CertificateExpired):
        verify_server_chain(truststore, leaf.chain_der, "localhost", now=NOW + 31 * DAY)
    with pytest.raises(CertificateExpired):
        verify_server_chain(truststore, leaf.chain_der, "localhost", now=NOW - 2 * DAY)
    # naive datetimes are UTC; aware ones in any zone work
    naive = (NOW + 31 * DAY).replace(tzinfo=None)
    with pytest.raises(CertificateExpired):
        verify_server_chain(truststore, leaf.chain_der, "localhost", now=naive)
    tokyo = datetime.timezone(datetime.timedelta(hours=9))
    later = (NOW + 29 * DAY).astimezone(tokyo)
    verify_server_chain(truststore, leaf.chain_der, "localhost", now=later)


def test_server_chain_expired_intermediate() -> None:
    ca = make_ca()
    intermediate = custom_intermediate(ca, "expired intermediate", not_after=NOW - DAY)
    leaf = intermediate.issue()
    with pytest.raises(CertificateExpired, match="not valid at validation time"):
        verify_server_chain(ca.truststore(), leaf.chain_der, "localhost")


def test_server_chain_expired_root() -> None:
    ca = make_ca()
    expired_root = custom_root(ca.key, not_before=NOW - 10 * DAY, not_after=NOW - DAY)
    truststore = type(ca.truststore())([der(expired_root)])
    with pytest.raises(CertificateExpired):
        verify_server_chain(truststore, ca.issue().chain_der, "localhost")


def test_server_chain_unknown_ca() -> None:
    leaf = make_ca().issue()
    other = make_ca(name="siotls other CA")
    with pytest.raises(UnknownCA, match="all candidates exhausted") as info:
        verify_server_chain(other.truststore(), leaf.chain_der, "localhost")
    assert info.value.description == AlertDescription.UNKNOWN_CA


def test_server_chain_intermediate() -> None:
    ca = make_ca()
    leaf = ca.issue(intermediate=True)
    assert len(leaf.chain_der) == 2
    assert verify_server_chain(ca.truststore(), leaf.chain_der, "localhost") == leaf.cert
    # the intermediate alone can be the trust anchor
    intermediate = ca.intermediate()
    assert verify_server_chain(intermediate.truststore(), leaf.chain_der[:1], "localhost")


def test_server_chain_two_intermediates_mixed_key_types() -> None:
    ca = make_ca("rsa-2048")
    second = ca.intermediate("ecdsa-p384").intermediate("ecdsa-p521")
    leaf = second.issue(key_type="ed25519")
    assert len(leaf.chain_der) == 3
    assert verify_server_chain(ca.truststore(), leaf.chain_der, "localhost") == leaf.cert


def test_server_chain_missing_intermediate() -> None:
    ca = make_ca()
    leaf = ca.issue(intermediate=True)
    with pytest.raises(UnknownCA):
        verify_server_chain(ca.truststore(), leaf.chain_der[:1], "localhost")


def test_server_chain_extra_and_unordered_certificates() -> None:
    ca = make_ca()
    leaf = ca.issue(intermediate=True)
    junk = make_ca(name="siotls junk CA").cert_der
    chain = [leaf.chain_der[0], junk, ca.cert_der, leaf.chain_der[1]]
    assert verify_server_chain(ca.truststore(), chain, "localhost") == leaf.cert


def test_server_chain_empty() -> None:
    with pytest.raises(DecodeError, match="empty"):
        verify_server_chain(make_ca().truststore(), [], "localhost")


def test_server_chain_garbage() -> None:
    ca = make_ca()
    leaf = ca.issue(intermediate=True)
    with pytest.raises(BadCertificate, match="leaf certificate is not a valid"):
        verify_server_chain(ca.truststore(), [b"garbage"], "localhost")
    with pytest.raises(BadCertificate, match="certificate #1 of the chain"):
        verify_server_chain(ca.truststore(), [leaf.chain_der[0], b"\x30\x00"], "localhost")


def test_server_chain_bad_signature() -> None:
    ca = make_ca()
    impostor = custom_root(generate_key("ecdsa-p256"))  # same name, other key
    truststore = type(ca.truststore())([der(impostor)])
    with pytest.raises(BadCertificate, match="signature does not match"):
        verify_server_chain(truststore, ca.issue().chain_der, "localhost")


def test_server_chain_leaf_used_as_ca() -> None:
    ca = make_ca()
    leaf = ca.issue(key_type="ecdsa-p256")
    fake_ca = CA(leaf.cert, leaf.key, "ecdsa-p256", "localhost", parent=ca)
    with pytest.raises(BadCertificate, match="basicConstraints"):
        chain = [der(custom_leaf(fake_ca)), leaf.cert_der]
        verify_server_chain(ca.truststore(), chain, "localhost")


def test_server_chain_unknown_critical_extension() -> None:
    ca = make_ca()
    oid = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1")
    extension = x509.UnrecognizedExtension(oid, b"\x05\x00")
    leaf = custom_leaf(ca, extensions=((extension, True),))
    with pytest.raises(BadCertificate, match="unaccounted-for critical extension"):
        verify_server_chain(ca.truststore(), [der(leaf)], "localhost")
    # non critical: fine
    leaf = custom_leaf(ca, extensions=((extension, False),))
    assert verify_server_chain(ca.truststore(), [der(leaf)], "localhost") == leaf


def test_server_chain_no_san() -> None:
    ca = make_ca()
    leaf = ca.issue(hostnames=())
    with pytest.raises(BadCertificate, match="no subjectAltName"):
        verify_server_chain(ca.truststore(), leaf.chain_der, "localhost")


def test_server_chain_too_long() -> None:
    ca = make_ca()
    deepest = ca
    for depth in range(9):
        deepest = deepest.intermediate(name=f"siotls depth {depth}")
    with pytest.raises(BadCertificate, match="exceeds max depth"):
        verify_server_chain(ca.truststore(), deepest.issue().chain_der, "localhost")


def test_server_chain_client_only_eku() -> None:
    ca = make_ca()
    leaf = custom_leaf(ca, ekus=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    with pytest.raises(UnsupportedCertificate, match="required EKU not found"):
        verify_server_chain(ca.truststore(), [der(leaf)], "localhost")


def test_server_chain_weak_sha224_signature() -> None:
    ca = make_ca()
    leaf = custom_leaf(ca, signature_hash=hashes.SHA224())
    with pytest.raises(UnsupportedCertificate, match="Forbidden signature algorithm"):
        verify_server_chain(ca.truststore(), [der(leaf)], "localhost")


@pytest.fixture(scope="module")
def rsa_1024() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


def test_server_chain_weak_rsa_ca(rsa_1024: rsa.RSAPrivateKey) -> None:
    root = CA(custom_root(rsa_1024, name="siotls weak CA"), rsa_1024, "rsa-1024", "weak")
    with pytest.raises(UnsupportedCertificate, match="RSA key is too weak"):
        verify_server_chain(root.truststore(), root.issue().chain_der, "localhost")


def test_server_chain_weak_rsa_leaf(rsa_1024: rsa.RSAPrivateKey) -> None:
    # cryptography does not look at the leaf key: siotls does
    ca = make_ca()
    leaf = custom_leaf(ca, key=rsa_1024)
    with pytest.raises(UnsupportedCertificate, match="RSA key is too weak: 1024 bits"):
        verify_server_chain(ca.truststore(), [der(leaf)], "localhost")


def test_server_chain_unsupported_leaf_curve() -> None:
    ca = make_ca()
    leaf = custom_leaf(ca, key=ec.generate_private_key(ec.SECP256K1()))
    with pytest.raises(UnsupportedCertificate, match="curve: secp256k1"):
        verify_server_chain(ca.truststore(), [der(leaf)], "localhost")


@pytest.mark.openssl
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_server_chain_rsa_pss_leaf(tmp_path: Path) -> None:
    """An id-RSASSA-PSS leaf (made with openssl, cryptography cannot) verifies."""
    ca = make_ca("rsa-2048")
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "ca.key").write_bytes(ca.key_der)
    (tmp_path / "ext.cnf").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    commands = [
        "openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 -out leaf.key",
        "openssl req -new -key leaf.key -subj /CN=localhost -out leaf.csr",
        "openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAkeyform DER"
        " -set_serial 7 -days 10 -extfile ext.cnf -outform DER -out leaf.der",
    ]
    for command in commands:
        subprocess.run(command.split(), cwd=tmp_path, check=True, capture_output=True)
    leaf_der = (tmp_path / "leaf.der").read_bytes()
    leaf = verify_server_chain(ca.truststore(), [leaf_der], "localhost")
    assert leaf.public_key_algorithm_oid.dotted_string == "1.2.840.113549.1.1.10"
    assert isinstance(leaf.public_key(), rsa.RSAPublicKey)


# -------------------------------------------------- verify_server_chain, no name


def test_server_chain_no_name() -> None:
    ca = make_ca()
    leaf = ca.issue()
    assert verify_server_chain(ca.truststore(), leaf.chain_der, None) == leaf.cert
    leaf = ca.issue(intermediate=True)
    assert verify_server_chain(ca.truststore(), leaf.chain_der, None) == leaf.cert
    # a certificate for both usages is fine too, and so is one without EKU
    assert verify_server_chain(ca.truststore(), ca.issue(client=True).chain_der, None)
    no_eku = custom_leaf(ca, ekus=())
    assert verify_server_chain(ca.truststore(), [der(no_eku)], None) == no_eku
    any_eku = custom_leaf(ca, ekus=(ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,))
    assert verify_server_chain(ca.truststore(), [der(any_eku)], None) == any_eku


def test_server_chain_no_name_client_only_eku() -> None:
    ca = make_ca()
    leaf = custom_leaf(ca, ekus=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    with pytest.raises(UnsupportedCertificate, match="required EKU not found"):
        verify_server_chain(ca.truststore(), [der(leaf)], None)


def test_server_chain_no_name_intermediate_eku() -> None:
    ca = make_ca()
    client_only = custom_intermediate(
        ca, "siotls clientAuth-only intermediate", ekus=(ExtendedKeyUsageOID.CLIENT_AUTH,)
    )
    server_ok = custom_intermediate(
        ca, "siotls serverAuth intermediate", ekus=(ExtendedKeyUsageOID.SERVER_AUTH,)
    )
    assert verify_server_chain(ca.truststore(), server_ok.issue().chain_der, None)
    chain = client_only.issue().chain_der
    with pytest.raises(UnsupportedCertificate, match="required EKU not found"):
        verify_server_chain(ca.truststore(), chain, None)
    with pytest.raises(UnsupportedCertificate, match="Neither EKU nor anyEKU"):
        verify_server_chain(ca.truststore(), chain, "localhost")  # same as with a name


def test_server_chain_no_name_errors() -> None:
    ca = make_ca()
    leaf = ca.issue()
    with pytest.raises(CertificateExpired):
        verify_server_chain(ca.truststore(), leaf.chain_der, None, now=NOW + 31 * DAY)
    with pytest.raises(UnknownCA):
        verify_server_chain(make_ca(name="siotls other CA").truststore(), leaf.chain_der, None)
    with pytest.raises(UnknownCA):
        verify_server_chain(ca.truststore(), ca.issue(intermediate=True).chain_der[:1], None)
    with pytest.raises(BadCertificate, match=r"2\.5\.29\.17"):  # no subjectAltName
        verify_server_chain(ca.truststore(), ca.issue(hostnames=()).chain_der, None)


# ------------------------------------------------------------- verify_client_chain


def test_client_chain() -> None:
    ca = make_ca()
    leaf = ca.issue(client=True)
    assert verify_client_chain(ca.truststore(), leaf.chain_der) == leaf.cert
    leaf = ca.issue(client=True, intermediate=True, key_type="ed448")
    assert verify_client_chain(ca.truststore(), leaf.chain_der) == leaf.cert


def test_client_chain_server_only_eku() -> None:
    ca = make_ca()
    with pytest.raises(UnsupportedCertificate, match="required EKU not found"):
        verify_client_chain(ca.truststore(), ca.issue().chain_der)


def test_client_chain_errors() -> None:
    ca = make_ca()
    leaf = ca.issue(client=True)
    with pytest.raises(CertificateExpired):
        verify_client_chain(ca.truststore(), leaf.chain_der, now=NOW + 31 * DAY)
    with pytest.raises(UnknownCA):
        verify_client_chain(make_ca(name="siotls other CA").truststore(), leaf.chain_der)
    with pytest.raises(UnknownCA):
        verify_client_chain(ca.truststore(), ca.issue(client=True, intermediate=True).chain_der[:1])
    with pytest.raises(BadCertificate):
        verify_client_chain(ca.truststore(), [b"garbage"])
    with pytest.raises(CertificateRequired):
        verify_client_chain(ca.truststore(), [])


# ------------------------------------------------------- certs.py against OpenSSL


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_certs_with_python_ssl(key_type: str, tmp_path: Path) -> None:
    """The test certificates work with the ssl module, strict X.509 checks on."""
    ca = make_ca()
    leaf = ca.issue(key_type=key_type, intermediate=True)
    cert_file, key_file, ca_file = write_pem_files(tmp_path, leaf, ca)

    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    client_context = ssl.create_default_context(cafile=str(ca_file))
    client_context.verify_flags |= ssl.VERIFY_X509_STRICT
    client_context.minimum_version = ssl.TLSVersion.TLSv1_3

    for server_hostname in ("localhost", "127.0.0.1", "::1"):
        client_in, client_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        client = client_context.wrap_bio(client_in, client_out, server_hostname=server_hostname)
        server = server_context.wrap_bio(server_in, server_out, server_side=True)
        done = {"client": False, "server": False}
        for _ in range(10):
            for name, side in (("client", client), ("server", server)):
                if not done[name]:
                    try:
                        side.do_handshake()
                        done[name] = True
                    except ssl.SSLWantReadError:
                        pass
            server_in.write(client_out.read())
            client_in.write(server_out.read())
            if all(done.values()):
                break
        assert all(done.values())
        assert client.version() == "TLSv1.3"


@pytest.mark.openssl
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
@pytest.mark.parametrize("client", [False, True])
def test_certs_with_openssl_verify(tmp_path: Path, *, client: bool) -> None:
    ca = make_ca("rsa-2048")
    leaf = ca.issue(key_type="ecdsa-p384", intermediate=True, client=client)
    cert_file, _, ca_file = write_pem_files(tmp_path, leaf, ca)
    leaf_file = tmp_path / "leaf.pem"
    leaf_file.write_bytes(leaf.cert.public_bytes(serialization.Encoding.PEM))
    purpose = "sslclient" if client else "sslserver"
    result = subprocess.run(
        [
            "openssl",
            "verify",
            "-x509_strict",
            "-purpose",
            purpose,
            "-CAfile",
            str(ca_file),
            "-untrusted",
            str(cert_file),
            str(leaf_file),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_certs_cached() -> None:
    assert make_ca() is make_ca()
    ca = make_ca()
    assert ca.issue() is ca.issue()
    assert ca.intermediate() is ca.intermediate()
    assert ca.issue(intermediate=True) is ca.intermediate().issue()
    assert ca.issue(client=True) is not ca.issue()


def test_load_certificate_invalid_version_is_bad_certificate() -> None:
    """cryptography raises InvalidVersion (not a ValueError) for X.509 version 7."""
    der = make_ca().issue().chain_der[0]
    assert b"\xa0\x03\x02\x01\x02" in der  # [0] EXPLICIT Version v3
    broken = der.replace(b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x06", 1)
    with pytest.raises(BadCertificate):
        load_certificate(broken)
