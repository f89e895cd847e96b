"""Our certificate chains, and which one a handshake sends.

Theory of operation
-------------------
A configuration holds its default chain, ``(private_key, certificate_chain)``, then
any number of :class:`CertificateChain` in ``certificate_chains``, in order of
preference. Each handshake picks one.

The server (RFC 8446 section 4.4.2.2; RFC 6066 section 3), in :func:`select_server_chain`:

1. **by name**: when ``sni_callback`` is configured, it is called with the
   server name the client sent (``None`` without SNI) and returns the chains to
   choose from, or ``None`` for "no opinion" (then as if there were no
   callback; a mapping's ``get`` is such a callback). Otherwise the candidates
   are the chains whose leaf has a dNSName equal to the server name, else those
   with a wildcard covering it, else every chain: the default is the first
   chain. With ``strict_sni``, a server name that no chain covers is refused
   with unrecognized_name.
2. **by signature algorithms**: among the candidates, in order, the first whose
   key can make a CertificateVerify scheme the client offered *and* whose
   certificates are signed with schemes of the client's
   signature_algorithms_cert (or signature_algorithms when it sent none); else
   the first whose key can sign for the client (RFC 8446 allows sending a chain
   against signature_algorithms_cert when nothing else fits); else
   handshake_failure.

An asynchronous choice, ``certificate_selector`` (a coroutine function given the
:class:`~siotls.core.earlydata.PendingClientHello`: server name, the client's
signature_algorithms, the ALPN protocol selected), cannot run inside the
engine: the server pauses after the ClientHello (the pause point of
:mod:`siotls.core.earlydata`) and the caller (every async adapter does) awaits
it and resumes with its chain. A chain returned is the only candidate of step
2 (its key must still sign for the client, else handshake_failure); ``None``
falls back to step 1, ``sni_callback`` and ``strict_sni`` included; raising a
TLSFatalAlert (``UnrecognizedName``) refuses with that alert, raising anything
else is internal_error.

The client (RFC 8446 sections 4.3.2 and 4.4.2.3), in :func:`select_client_chain`:
the first chain whose key can make a scheme of the CertificateRequest's
signature_algorithms and, when the request lists certificate_authorities, one
of whose certificates is issued by (or is) one of them; none: an empty
Certificate, and the server decides.

The certificate_authorities a server sends (:func:`encode_certificate_authorities`)
are the subjects of its trust store, when there are at most
:data:`MAX_AUTHORITIES` of them in at most :data:`MAX_AUTHORITIES_SIZE` bytes
(a system bundle of hundreds of CAs would only bloat the CertificateRequest).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from siotls.core.codec import Reader, Writer
from siotls.core.errors import HandshakeFailure, UnrecognizedName
from siotls.iana import SignatureScheme as SS

if TYPE_CHECKING:
    from cryptography import x509

    from siotls.core.earlydata import PendingClientHello
    from siotls.trust import TrustStore

__all__ = ["MAX_AUTHORITIES", "MAX_AUTHORITIES_SIZE", "CertificateChain", "CertificateSelector",
           "SNICallback",
           "check_ocsp_response",
           "decode_certificate_authorities", "encode_certificate_authorities",
           "select_client_chain", "select_server_chain"]

MAX_AUTHORITIES = 64
MAX_AUTHORITIES_SIZE = 8192


@dataclass(frozen=True, eq=False)
class CertificateChain:
    """One of our chains: a DER private key and DER certificates, leaf first.

    :raises ValueError: when the chain is empty or the key does not match its leaf.
    """

    private_key: bytes = field(repr=False)
    certificate_chain: Sequence[bytes]
    #: an OCSP response (DER) for the leaf, stapled for clients that ask
    ocsp_response: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from siotls.core import crypto  # noqa: PLC0415 (cryptography, lazily)

        object.__setattr__(self, "certificate_chain", tuple(self.certificate_chain))
        if not self.certificate_chain:
            raise ValueError("a CertificateChain needs at least one certificate")
        crypto.check_key_pair(self.private_key, self.certificate_chain[0])
        if self.ocsp_response is not None:
            object.__setattr__(self, "ocsp_response", check_ocsp_response(self.ocsp_response))

    @functools.cached_property
    def loaded(self) -> tuple[Any, tuple[int, ...]]:
        """The parsed private key and the CertificateVerify schemes it can make."""
        from siotls.core import crypto  # noqa: PLC0415

        return crypto.load_credentials(self.private_key, self.certificate_chain[0])

    @functools.cached_property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        from cryptography import x509  # noqa: PLC0415

        return tuple(x509.load_der_x509_certificate(der) for der in self.certificate_chain)

    @functools.cached_property
    def dns_names(self) -> tuple[str, ...]:
        """The leaf's subjectAltName dNSName entries."""
        from cryptography import x509  # noqa: PLC0415

        try:
            san = self.certificates[0].extensions.get_extension_for_class(
                x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return ()
        return tuple(name.lower() for name in san.get_values_for_type(x509.DNSName))

    @functools.cached_property
    def signed_with(self) -> tuple[frozenset[int], ...]:
        """Per certificate that is not self-signed: the schemes naming its signature."""
        return tuple(_signature_schemes(c) for c in self.certificates if c.subject != c.issuer)

    @functools.cached_property
    def names(self) -> frozenset[bytes]:
        """DER subjects and issuers of the chain, for certificate_authorities."""
        names = set()
        for certificate in self.certificates:
            names.add(certificate.issuer.public_bytes())
            names.add(certificate.subject.public_bytes())
        return frozenset(names)


def check_ocsp_response(response: bytes) -> bytes:
    """``response`` as bytes; ValueError unless it is a DER OCSPResponse."""
    from cryptography.x509 import ocsp  # noqa: PLC0415

    response = bytes(response)
    try:
        ocsp.load_der_ocsp_response(response)
    except ValueError as exc:
        raise ValueError(f"ocsp_response is not a DER OCSP response: {exc}") from exc
    return response


#: ``sni_callback(server_name)``: the chains for that name, or None (no opinion).
SNICallback = Callable[[str | None], Sequence[CertificateChain] | None]
#: ``await certificate_selector(pending)``: the chain for that ClientHello, or None.
CertificateSelector = Callable[["PendingClientHello"], Awaitable[CertificateChain | None]]


def _signature_schemes(certificate: x509.Certificate) -> frozenset[int]:
    """The TLS schemes that name the signature of ``certificate`` (RFC 8446 4.2.3)."""
    from cryptography.x509.oid import SignatureAlgorithmOID as OID  # noqa: PLC0415

    oid = certificate.signature_algorithm_oid
    table = {
        OID.ECDSA_WITH_SHA256: {SS.ecdsa_secp256r1_sha256},
        OID.ECDSA_WITH_SHA384: {SS.ecdsa_secp384r1_sha384},
        OID.ECDSA_WITH_SHA512: {SS.ecdsa_secp521r1_sha512},
        OID.RSA_WITH_SHA256: {SS.rsa_pkcs1_sha256},
        OID.RSA_WITH_SHA384: {SS.rsa_pkcs1_sha384},
        OID.RSA_WITH_SHA512: {SS.rsa_pkcs1_sha512},
        OID.ED25519: {SS.ed25519},
        OID.ED448: {SS.ed448},
    }
    if oid == OID.RSASSA_PSS:
        name = getattr(certificate.signature_hash_algorithm, "name", "")
        pss = {"sha256": {SS.rsa_pss_rsae_sha256, SS.rsa_pss_pss_sha256},
               "sha384": {SS.rsa_pss_rsae_sha384, SS.rsa_pss_pss_sha384},
               "sha512": {SS.rsa_pss_rsae_sha512, SS.rsa_pss_pss_sha512}}
        return frozenset(pss.get(name, set()))
    return frozenset(table.get(oid, set()))


def _by_name(chains: Sequence[CertificateChain], server_name: str) -> list[CertificateChain]:
    from siotls.core.pathbuilder import match_dns_name  # noqa: PLC0415

    name = server_name.lower()
    exact = [c for c in chains if name in c.dns_names]
    return exact or [c for c in chains
                     if any(match_dns_name(pattern, name) for pattern in c.dns_names)]


def _candidates(chains: Sequence[CertificateChain], server_name: str | None,
                sni_callback: SNICallback | None, *, strict: bool) -> Sequence[CertificateChain]:
    if sni_callback is not None and (chosen := sni_callback(server_name)):
        return chosen
    if server_name is not None and (named := _by_name(chains, server_name)):
        return named
    if strict and server_name is not None:
        raise UnrecognizedName(f"no certificate for the server name {server_name!r}",
                               reason="unrecognized_name")
    return chains


def select_server_chain(
    chains: Sequence[CertificateChain], ours: Sequence[int], *, server_name: str | None,
    offered: Sequence[int], offered_cert: Sequence[int] | None,
    sni_callback: SNICallback | None = None, strict_sni: bool = False,
) -> tuple[CertificateChain, int]:
    """The chain to send and the CertificateVerify scheme (see the module doc).

    :param ours: our signature_algorithms, in order of preference.
    :param offered: the client's signature_algorithms.
    :param offered_cert: its signature_algorithms_cert, or None.
    :raises UnrecognizedName: with ``strict_sni``, for a name no chain covers.
    :raises HandshakeFailure: when no candidate's key can sign for the client.
    """
    candidates = _candidates(chains, server_name, sni_callback, strict=strict_sni)
    cert_schemes = set(offered if offered_cert is None else offered_cert)
    fallback: tuple[CertificateChain, int] | None = None
    for chain in candidates:
        usable = set(chain.loaded[1])
        scheme = next((s for s in ours if s in usable and s in offered), None)
        if scheme is None:
            continue
        if all(schemes & cert_schemes for schemes in chain.signed_with):
            return chain, scheme
        fallback = fallback or (chain, scheme)
    if fallback is None:
        raise HandshakeFailure("no signature scheme in common for our certificates' keys")
    return fallback


def select_client_chain(
    chains: Sequence[CertificateChain], ours: Sequence[int], *, requested: Sequence[int],
    authorities: Iterable[bytes] | None,
) -> tuple[CertificateChain, int] | None:
    """The chain and scheme for a CertificateRequest, or None (an empty Certificate)."""
    wanted = None if authorities is None else frozenset(authorities)
    for chain in chains:
        if wanted is not None and not chain.names & wanted:
            continue
        usable = set(chain.loaded[1])
        scheme = next((s for s in ours if s in usable and s in requested), None)
        if scheme is not None:
            return chain, scheme
    return None


# -- the certificate_authorities extension (RFC 8446 section 4.2.4) ------------------
#
#   opaque DistinguishedName<1..2^16-1>;
#   struct {
#       DistinguishedName authorities<3..2^16-1>;
#   } CertificateAuthoritiesExtension;


def encode_certificate_authorities(truststore: TrustStore) -> bytes | None:
    """The extension for our trust store's CAs, or None when it would be too big."""
    if len(truststore) > MAX_AUTHORITIES:
        return None
    names = dict.fromkeys(c.subject.public_bytes() for c in truststore.x509_certificates)
    w = Writer()
    with w.block(2):
        for name in names:
            w.opaque(2, name)
    data = w.getvalue()
    return data if len(data) <= MAX_AUTHORITIES_SIZE else None


def decode_certificate_authorities(data: bytes) -> list[bytes]:
    """The DER names of the extension (DecodeError when malformed)."""
    r = Reader(data)
    names = []
    with r.block(2, minimum=3):
        while not r.at_end():
            names.append(r.opaque(2, minimum=1))
    r.expect_end("certificate_authorities extension")
    return names
