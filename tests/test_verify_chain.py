"""siotls.trust.verify_chain: its API, and the rules of siotls.core.pathbuilder that
the matrix (test_pki_matrix.py) does not reach: path building, names, constraints."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import random

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from certs import CA, KEY_TYPES, generate_key, make_ca, utcnow
from pki_matrix import custom_ca, der, good_chain, leaf_builder, roots
from siotls.core import pathbuilder
from siotls.core.certificates import REASONS
from siotls.core.errors import (
    BadCertificate,
    CertificateExpired,
    CertificateRequired,
    DecodeError,
    TLSFatalAlert,
    TLSUsageError,
    UnknownCA,
    UnsupportedCertificate,
)
from siotls.trust import TrustStore, verify_chain

SERVER_AUTH = [ExtendedKeyUsageOID.SERVER_AUTH]
DAY = datetime.timedelta(days=1)


def eddsa_ca(name: str) -> CA:
    return make_ca("ed25519", f"siotls verify_chain {name}")


def reason_of(truststore: TrustStore, chain: list[bytes], server_name: str | None = "localhost",
              ) -> tuple[type[TLSFatalAlert], str | None]:
    with pytest.raises(TLSFatalAlert) as info:
        verify_chain(truststore, chain, server_name=server_name)
    return type(info.value), info.value.reason


# ------------------------------------------------------------------------------ the API


def test_reasons_documented() -> None:
    """Every reason has an alert, and every alert class of the matrix is listed."""
    assert REASONS["expired"] is CertificateExpired
    assert REASONS["unknown_issuer"] is UnknownCA
    assert REASONS["bad_eku"] is UnsupportedCertificate
    assert all(issubclass(alert, TLSFatalAlert) for alert in REASONS.values())


@pytest.mark.parametrize("profile", ["webpki", "pathbuilder"])
def test_verified_path(profile: str) -> None:
    root, intermediate = roots(profile)
    leaf = good_chain(profile)
    path = verify_chain(root.truststore(), [leaf.cert_der, intermediate.cert_der])
    assert isinstance(path, list)
    assert path == [leaf.cert_der, intermediate.cert_der, root.cert_der]
    assert [c.subject for c in path.certificates] == [
        leaf.cert.subject, intermediate.cert.subject, root.cert.subject]
    assert path.leaf == leaf.cert
    assert path.validator == profile


def test_empty_chain() -> None:
    truststore = make_ca().truststore()
    with pytest.raises(DecodeError) as info:
        verify_chain(truststore, [])
    assert info.value.reason == "empty_chain"
    with pytest.raises(CertificateRequired) as required:
        verify_chain(truststore, [], purpose="client")
    assert required.value.reason == "no_certificate"


def test_usage_errors() -> None:
    truststore = make_ca().truststore()
    chain = make_ca().issue(client=True).chain_der
    with pytest.raises(TLSUsageError):
        verify_chain(truststore, chain, purpose="peer")  # type: ignore[arg-type]
    with pytest.raises(TLSUsageError):
        verify_chain(truststore, chain, server_name="localhost", purpose="client")


def test_malformed() -> None:
    truststore = eddsa_ca("root").truststore()
    assert reason_of(truststore, [b"\x30\x03\x02\x01\x01"]) == (BadCertificate, "malformed")
    leaf = eddsa_ca("root").issue()
    assert reason_of(truststore, [*leaf.chain_der, b"junk"]) == (BadCertificate, "malformed")


@pytest.mark.parametrize("profile", ["webpki", "pathbuilder"])
def test_moment(profile: str) -> None:
    """``moment``: a datetime (naive is UTC) or seconds since the epoch."""
    root, _ = roots(profile)
    chain = good_chain(profile).chain_der
    later = utcnow() + 400 * DAY  # after the intermediate's end
    for moment in (later, later.replace(tzinfo=None), later.timestamp()):
        with pytest.raises(CertificateExpired) as info:
            verify_chain(root.truststore(), chain, moment=moment)
        assert info.value.reason == "expired"
        assert "expired on" in str(info.value)
    earlier = utcnow() - 3 * DAY  # before the root's start
    with pytest.raises(CertificateExpired) as info:
        verify_chain(root.truststore(), chain, moment=earlier.timestamp())
    assert info.value.reason == "not_yet_valid"
    assert verify_chain(root.truststore(), chain, moment=utcnow().timestamp())


# ------------------------------------------------------------ key types through both paths


@pytest.mark.parametrize("ca_type", ["ed25519", "ed448", "ecdsa-p384", "rsa-2048"])
@pytest.mark.parametrize("leaf_type", KEY_TYPES)
def test_key_types(ca_type: str, leaf_type: str) -> None:
    root = make_ca(ca_type)
    leaf = root.issue(key_type=leaf_type, intermediate=True)
    path = verify_chain(root.truststore(), leaf.chain_der, server_name="localhost")
    assert path.validator == ("pathbuilder" if ca_type.startswith("ed") else "webpki")
    assert len(path) == 3


def test_mixed_chain_ecdsa_root_ed448_intermediate() -> None:
    root = make_ca("ecdsa-p384", "siotls verify_chain mixed root")
    leaf = root.intermediate("ed448").issue(key_type="rsa-2048")
    path = verify_chain(root.truststore(), leaf.chain_der, server_name="::1")
    assert path.validator == "pathbuilder"


# ---------------------------------------------------------------------------- path building


def test_intermediates_any_order_extras_ignored() -> None:
    root = eddsa_ca("order root")
    inner = root.intermediate().intermediate()
    leaf = inner.issue()
    stranger = eddsa_ca("stranger").intermediate()
    leaf_der, *cas = leaf.chain_der
    chain = [leaf_der, stranger.cert_der, *reversed(cas), cas[0], make_ca().cert_der]
    path = verify_chain(root.truststore(), chain)
    assert path == [*leaf.chain_der, root.cert_der]


def test_second_candidate_issuer() -> None:
    """Two CAs of the same name: the path goes through the one whose signature verifies."""
    root = eddsa_ca("twins root")
    good = root.intermediate(name="siotls twin")
    twin = custom_ca(eddsa_ca("twins other root"), "siotls twin")
    assert good.cert.subject == twin.cert.subject
    leaf = good.issue()
    path = verify_chain(TrustStore([root.cert_der, twin.root.cert_der]),
                        [leaf.cert_der, twin.cert_der, good.cert_der])
    assert path == [leaf.cert_der, good.cert_der, root.cert_der]


def test_furthest_error_wins() -> None:
    """An intermediate under the right name with another key, then none: the bad
    signature is what went furthest, not "unknown issuer"."""
    root = eddsa_ca("furthest root")
    real = root.intermediate(name="siotls furthest")
    fake = custom_ca(eddsa_ca("furthest other"), "siotls furthest")
    leaf = real.issue()
    assert reason_of(root.truststore(), [leaf.cert_der, fake.cert_der]) == (
        BadCertificate, "bad_signature")


def test_path_too_long() -> None:
    ca = eddsa_ca("deep root")
    for _ in range(pathbuilder.MAX_DEPTH - 1):
        ca = ca.intermediate()
    leaf = ca.issue()
    assert reason_of(ca.root.truststore(), leaf.chain_der) == (BadCertificate, "path_too_long")
    # one less fits
    assert verify_chain(ca.root.truststore(), ca.parent.issue().chain_der)  # type: ignore[union-attr]


def test_signature_check_budget() -> None:
    """Many CAs of one name (with other keys) cost a bounded number of checks."""
    root = eddsa_ca("budget root")
    name = "siotls budget"
    decoy_root = eddsa_ca("budget decoys")
    decoys = [custom_ca(decoy_root, name).cert_der
              for _ in range(pathbuilder.MAX_SIGNATURE_CHECKS)]
    real = custom_ca(root, name)
    leaf = real.issue().cert_der
    # duplicates are skipped: the real one is found behind a few decoys sent many times
    path = verify_chain(root.truststore(), [leaf, *decoys[:3] * 30, real.cert_der])
    assert path.validator == "pathbuilder"
    # the search stops after MAX_SIGNATURE_CHECKS, before the real CA
    assert reason_of(root.truststore(), [leaf, *decoys, real.cert_der]) == (
        BadCertificate, "path_search_limit")
    # 62 decoys, the real CA, its root: 64 checks, the most allowed
    assert verify_chain(root.truststore(), [leaf, *decoys[:-2], real.cert_der])


def test_expired_anchor() -> None:
    root = make_ca("ed25519", "siotls verify_chain anchor")
    leaf = root.issue()
    with pytest.raises(CertificateExpired) as info:
        verify_chain(root.truststore(), leaf.chain_der, moment=utcnow() + 3651 * DAY)
    assert info.value.reason == "expired"


# ------------------------------------------------------------------------- leaf and CA rules


def _leaf(issuer: CA, *, names: tuple[str, ...] = ("localhost",),
          ekus: list[x509.ObjectIdentifier] = SERVER_AUTH,
          extensions: tuple[tuple[x509.ExtensionType, bool], ...] = (),
          signature_hash: hashes.HashAlgorithm | None = None) -> list[bytes]:
    builder = leaf_builder(issuer, generate_key("ecdsa-p256"), names=names, ekus=ekus)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    cert = builder.sign(issuer.key, signature_hash or issuer.signature_hash)  # type: ignore[arg-type]
    return [der(cert), *(der(c) for c in issuer.chain)]


@pytest.mark.parametrize("ca_type", ["ecdsa-p256", "ed25519"])
def test_unknown_critical_extension(ca_type: str) -> None:
    ca = make_ca(ca_type)
    unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")
    chain = _leaf(ca, extensions=((unknown, True),))
    assert reason_of(ca.truststore(), chain) == (BadCertificate, "unknown_critical_extension")
    assert verify_chain(ca.truststore(), _leaf(ca, extensions=((unknown, False),)))


def test_leaf_is_ca() -> None:
    root = eddsa_ca("leaf is CA")
    intermediate = root.intermediate()
    assert reason_of(root.truststore(), [intermediate.cert_der]) == (BadCertificate, "leaf_is_ca")


@pytest.mark.parametrize("ca_type", ["ecdsa-p256", "ed25519"])
def test_ca_extended_key_usage(ca_type: str) -> None:
    root = make_ca(ca_type, "siotls verify_chain CA EKU")
    key = generate_key(ca_type)
    cert = (root.builder(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "eku CA")]),
                         key.public_key(), utcnow() - DAY, utcnow() + DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(roots("webpki")[0].cert.extensions.get_extension_for_class(
                x509.KeyUsage).value, critical=True)
            .sign(root.key, root.signature_hash))
    ca = CA(cert, key, ca_type, "eku CA", parent=root)
    assert reason_of(root.truststore(), ca.issue().chain_der) == (UnsupportedCertificate, "bad_eku")


def test_weak_signature_hash() -> None:
    ca = make_ca("ecdsa-p256")
    chain = _leaf(ca, signature_hash=hashes.SHA224())
    assert reason_of(ca.truststore(), chain) == (UnsupportedCertificate, "weak_signature")


def test_unsupported_leaf_key() -> None:
    ca = eddsa_ca("secp256k1")
    cert = leaf_builder(ca, ec.generate_private_key(ec.SECP256K1()), ekus=SERVER_AUTH).sign(
        ca.key, None)
    assert reason_of(ca.truststore(), [der(cert)]) == (UnsupportedCertificate, "unsupported_key")


def test_leaf_key_usage() -> None:
    ca = eddsa_ca("key usage")
    usage = x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=True,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False)
    builder = leaf_builder(ca, generate_key("ecdsa-p256"), ekus=SERVER_AUTH, usage=usage)
    chain = [der(builder.sign(ca.key, None))]
    assert reason_of(ca.truststore(), chain) == (UnsupportedCertificate, "bad_key_usage")


# ------------------------------------------------------------------------------------ names


@pytest.mark.parametrize(("pattern", "host", "matches"), [
    ("localhost", "localhost", True),
    ("LocalHost", "localhost", True),
    ("localhost.", "localhost", True),
    ("*.example.com", "www.example.com", True),
    ("*.example.com", "example.com", False),
    ("*.example.com", "a.b.example.com", False),
    ("*.com", "example.com", False),
    ("w*.example.com", "www.example.com", False),
    ("*w.example.com", "www.example.com", False),
    ("www.*.com", "www.example.com", False),
    ("*.xn--bcher-kva.example", "www.xn--bcher-kva.example", True),
])
def test_match_dns_name(pattern: str, host: str, *, matches: bool) -> None:
    assert pathbuilder.match_dns_name(pattern, host) is matches


@pytest.mark.parametrize("ca_type", ["ecdsa-p256", "ed25519"])
def test_names_through_both_paths(ca_type: str) -> None:
    ca = make_ca(ca_type, "siotls verify_chain names")
    wildcard = ca.issue(["*.example.com", "xn--bcher-kva.example", "2001:db8::1"])
    for name in ("www.example.com", "WWW.Example.COM", "bücher.example", "2001:db8:0::1"):
        assert verify_chain(ca.truststore(), wildcard.chain_der, server_name=name)
    for name, reason in (("example.com", "hostname_mismatch"), ("a.b.example.com",
                         "hostname_mismatch"), ("2001:db8::2", "ip_mismatch")):
        assert reason_of(ca.truststore(), wildcard.chain_der, name) == (BadCertificate, reason)


def _constrained(name: str, permitted: list[x509.GeneralName] | None,
                 excluded: list[x509.GeneralName] | None) -> CA:
    root = eddsa_ca(f"nc {name}")
    return custom_ca(root, f"siotls nc {name}", constraints=x509.NameConstraints(
        permitted_subtrees=permitted, excluded_subtrees=excluded))


@pytest.mark.parametrize(("names", "permitted", "excluded", "ok"), [
    (("a.example.com",), [x509.DNSName("example.com")], None, True),
    (("example.com",), [x509.DNSName("example.com")], None, True),
    (("example.com",), [x509.DNSName(".example.com")], None, False),
    (("notexample.com",), [x509.DNSName("example.com")], None, False),
    (("*.example.com",), [x509.DNSName("example.com")], None, True),
    (("a.example.com",), None, [x509.DNSName("example.com")], False),
    (("*.example.com",), None, [x509.DNSName("bad.example.com")], False),
    (("*.example.com",), None, [x509.DNSName("a.bad.example.com")], True),
    (("a.example.org",), None, [x509.DNSName("example.com")], True),
    (("192.0.2.7",), [x509.IPAddress(ipaddress.ip_network("192.0.2.0/24"))], None, True),
    (("192.0.2.7",), [x509.IPAddress(ipaddress.ip_network("198.51.100.0/24"))], None, False),
    (("192.0.2.7",), None, [x509.IPAddress(ipaddress.ip_network("192.0.2.0/28"))], False),
    (("::1",), [x509.IPAddress(ipaddress.ip_network("192.0.2.0/24"))], None, False),
    (("localhost",), [x509.IPAddress(ipaddress.ip_network("192.0.2.0/24"))], None, True),
])
def test_name_constraints(names: tuple[str, ...], permitted: list[x509.GeneralName] | None,
                          excluded: list[x509.GeneralName] | None, *, ok: bool) -> None:
    label = hashlib.sha256(repr((names, permitted, excluded)).encode()).hexdigest()[:16]
    ca = _constrained(label, permitted, excluded)
    chain = ca.issue(names).chain_der
    if ok:
        assert verify_chain(ca.root.truststore(), chain).validator == "pathbuilder"
    else:
        assert reason_of(ca.root.truststore(), chain, None) == (BadCertificate, "name_constraints")


def test_name_constraints_directory_name() -> None:
    permitted = [x509.DirectoryName(x509.Name([
        x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "siotls tests")]))]
    ca = _constrained("dn ok", permitted, None)
    assert verify_chain(ca.root.truststore(), ca.issue().chain_der)
    other = [x509.DirectoryName(x509.Name([
        x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "someone else")]))]
    ca = _constrained("dn bad", other, None)
    assert reason_of(ca.root.truststore(), ca.issue().chain_der) == (
        BadCertificate, "name_constraints")


def test_name_constraints_unevaluated_type_fails_closed() -> None:
    ca = _constrained("email", None, [x509.RFC822Name("example.com")])
    leaf = _leaf(ca, extensions=())
    assert verify_chain(ca.root.truststore(), leaf)  # no email name: not concerned
    san = [x509.DNSName("localhost"), x509.RFC822Name("a@example.com")]
    cert = leaf_builder(ca, generate_key("ecdsa-p256"), ekus=SERVER_AUTH, san=san).sign(
        ca.key, None)
    assert reason_of(ca.root.truststore(), [der(cert), ca.cert_der]) == (
        BadCertificate, "name_constraints")


# ------------------------------------------------------------------- the web PKI diagnosis


def test_webpki_policy() -> None:
    """A web PKI chain cryptography refuses for a rule of its profile only (here: an
    intermediate without authorityKeyIdentifier): bad_certificate, webpki_policy;
    the same shape with an Ed25519 CA is accepted by the path builder."""
    for ca_type, expected in (("ecdsa-p256", "webpki_policy"), ("ed25519", None)):
        root = make_ca(ca_type, "siotls verify_chain no AKI")
        key = generate_key(ca_type)
        cert = (x509.CertificateBuilder().subject_name(x509.Name([
                    x509.NameAttribute(x509.NameOID.COMMON_NAME, "no AKI")]))
                .issuer_name(root.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(utcnow() - DAY).not_valid_after(utcnow() + DAY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .sign(root.key, root.signature_hash))
        chain = CA(cert, key, ca_type, "no AKI", parent=root).issue().chain_der
        if expected is None:
            assert verify_chain(root.truststore(), chain).validator == "pathbuilder"
        else:
            assert reason_of(root.truststore(), chain) == (BadCertificate, expected)


# ---------------------------------------------------------------------------- bad input


def _der_items(data: bytes) -> list[bytes]:
    """The DER elements inside one SEQUENCE (whole, header included)."""
    def length(at: int) -> tuple[int, int]:
        first = data[at]
        if first < 0x80:
            return first, at + 1
        count = first & 0x7F
        return int.from_bytes(data[at + 1:at + 1 + count], "big"), at + 1 + count

    _, at = length(1)
    items = []
    while at < len(data):
        size, body = length(at + 1)
        items.append(data[at:body + size])
        at = body + size
    return items


def _sequence(body: bytes) -> bytes:
    size = len(body)
    header = bytes([size]) if size < 0x80 else bytes([0x82]) + size.to_bytes(2, "big")
    return b"\x30" + header + body


def test_duplicate_extension_is_malformed() -> None:
    """A leaf with two subjectAltName extensions (re-signed, so only the duplicate is
    wrong): ``cryptography`` raises DuplicateExtension, not ValueError, when the
    extensions are first read; verify_chain says bad_certificate, malformed."""
    ca = eddsa_ca("duplicate extension")
    cert = leaf_builder(ca, generate_key("ecdsa-p256"), ekus=SERVER_AUTH).sign(ca.key, None)
    tbs, algorithm, _ = _der_items(der(cert))
    eku_oid, san_oid = b"\x06\x03\x55\x1d\x25", b"\x06\x03\x55\x1d\x11"
    assert tbs.count(eku_oid) == 1
    tbs = tbs.replace(eku_oid, san_oid)
    signature = ca.key.sign(tbs)  # type: ignore[call-arg]
    forged = _sequence(tbs + algorithm + b"\x03" + bytes([len(signature) + 1, 0]) + signature)
    with pytest.raises(x509.DuplicateExtension):
        _ = x509.load_der_x509_certificate(forged).extensions
    assert reason_of(ca.truststore(), [forged]) == (BadCertificate, "malformed")


@pytest.mark.parametrize("profile", ["webpki", "pathbuilder"])
def test_mutated_chains_raise_only_alerts(profile: str) -> None:
    """Bytes flipped anywhere in the chain: a verified path or a TLSFatalAlert,
    nothing else (bounded, seeded)."""
    rng = random.Random(9)
    root, _ = roots(profile)
    chain = good_chain(profile).chain_der
    outcomes = set()
    for _ in range(400):
        index = rng.randrange(len(chain))
        mutated = bytearray(chain[index])
        for _ in range(rng.randint(1, 3)):
            mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
        candidate = [*chain[:index], bytes(mutated), *chain[index + 1:]]
        try:
            verify_chain(root.truststore(), candidate, server_name="localhost")
            outcomes.add("ok")
        except TLSFatalAlert as exc:
            assert exc.reason in REASONS, exc
            outcomes.add(exc.reason)
    assert {"malformed", "bad_signature"} <= outcomes


def test_unknown_signature_algorithm() -> None:
    """A leaf whose signature algorithm is an OID nobody knows: unsupported_signature."""
    ca = eddsa_ca("unknown signature algorithm")
    cert = leaf_builder(ca, generate_key("ecdsa-p256"), ekus=SERVER_AUTH).sign(ca.key, None)
    ed25519_oid, unknown_oid = b"\x06\x03\x2b\x65\x70", b"\x06\x03\x2b\x65\x7f"
    tbs, algorithm, signature = _der_items(der(cert))
    assert tbs.count(ed25519_oid) == 1  # the signature field (the key is ECDSA)
    forged = _sequence(tbs.replace(ed25519_oid, unknown_oid)
                       + algorithm.replace(ed25519_oid, unknown_oid) + signature)
    assert reason_of(ca.truststore(), [forged]) == (
        UnsupportedCertificate, "unsupported_signature")
