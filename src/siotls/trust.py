"""Trust stores: the CA certificates a peer's certificate chain must lead to.

:class:`TrustStore` holds DER CA certificates; :func:`get_truststore` loads the
operating system's CA bundle (or ``certifi``'s). :func:`verify_chain` validates a
peer's chain against one, as the handshake does (:mod:`siotls.core.certificates`:
``cryptography.x509.verification``, and :mod:`siotls.core.pathbuilder` for CA keys
outside the web PKI).

A trust store holds *CA* certificates: ``cryptography``'s verifier cannot be told
to trust a self-signed end-entity certificate directly.

``cryptography`` is only imported when a trust store is made.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from siotls.core.verifycache import DEFAULT_SIZE, VerificationCache
from siotls.pem import decode_pem_certificate_chain

if TYPE_CHECKING:
    import datetime
    from collections.abc import Sequence
    from typing import Literal

    from cryptography import x509
    from cryptography.x509.verification import Store

    from siotls.core.certificates import VerifiedPath

__all__ = ["TrustStore", "get_truststore", "verify_chain"]

#: Well-known CA bundle files, tried after ``ssl.get_default_verify_paths().cafile``.
SYSTEM_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Gentoo, Arch, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL, CentOS
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # Fedora, RHEL 7+
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/ssl/cert.pem",  # Alpine, macOS, OpenBSD, FreeBSD
    "/usr/local/etc/openssl/cert.pem",  # macOS homebrew (old)
    "/opt/homebrew/etc/openssl@3/cert.pem",  # macOS homebrew, Apple silicon
    "/usr/local/etc/openssl@3/cert.pem",  # macOS homebrew, Intel
    "/usr/local/share/certs/ca-root-nss.crt",  # FreeBSD
)

_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.DOTALL
)


class TrustStore:
    """An immutable set of trusted CA certificates.

    :param certificates: DER X.509 CA certificates, at least one.
    :param cache_size: how many successful chain verifications to remember, at
        most (see :doc:`trust`); ``0`` remembers none and verifies every chain in
        full every time.
    :raises ValueError: when empty or when a certificate does not parse (the message
        names its index).
    """

    certificates: tuple[bytes, ...]
    x509_certificates: tuple[x509.Certificate, ...]
    #: Recent successful verifications against this store (None: ``cache_size=0``).
    verification_cache: VerificationCache | None

    def __init__(self, certificates: Iterable[bytes], *, cache_size: int = DEFAULT_SIZE) -> None:
        from cryptography import x509  # noqa: PLC0415

        ders = tuple(bytes(certificate) for certificate in certificates)
        if not ders:
            msg = "a trust store needs at least one CA certificate"
            raise ValueError(msg)
        parsed = []
        for index, der in enumerate(ders):
            try:
                parsed.append(x509.load_der_x509_certificate(der))
            except ValueError as exc:
                msg = (
                    f"trust store certificate #{index} is not a valid DER X.509 certificate: {exc}"
                )
                raise ValueError(msg) from exc
        self.certificates = ders
        self.x509_certificates = tuple(parsed)
        self.verification_cache = _verification_cache(cache_size)

    @classmethod
    def _from_parsed(cls, certificates: dict[bytes, x509.Certificate]) -> TrustStore:
        """A trust store of already parsed certificates (DER -> certificate)."""
        self = cls.__new__(cls)
        self.certificates = tuple(certificates)
        self.x509_certificates = tuple(certificates.values())
        self.verification_cache = _verification_cache(DEFAULT_SIZE)
        return self

    @functools.cached_property
    def ders_by_id(self) -> dict[int, bytes]:
        """The DER of each parsed certificate, by ``id()`` of the parsed object."""
        return {id(c): der for c, der in zip(self.x509_certificates, self.certificates,
                                             strict=True)}

    @functools.cached_property
    def store(self) -> Store:
        """The ``cryptography.x509.verification.Store`` of these certificates."""
        from cryptography.x509.verification import Store  # noqa: PLC0415

        return Store(list(self.x509_certificates))

    @classmethod
    def from_pem(cls, data: bytes | str) -> TrustStore:
        """A trust store of every certificate of a PEM bundle.

        :raises ValueError: when there is no certificate or a malformed one.
        """
        return cls(decode_pem_certificate_chain(data))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> TrustStore:
        """A trust store of every certificate of a PEM bundle file."""
        return cls.from_pem(Path(path).read_bytes())

    def __len__(self) -> int:
        return len(self.certificates)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.certificates)

    def __contains__(self, der: object) -> bool:
        return der in self.certificates

    def __repr__(self) -> str:
        return f"<TrustStore of {len(self)} certificate{'s' * (len(self) != 1)}>"


def _verification_cache(size: int) -> VerificationCache | None:
    if size < 0:
        raise ValueError(f"cache_size must be 0 or more, not {size}")
    return VerificationCache(size) if size else None


def _lenient_pem_certificates(data: bytes) -> dict[bytes, x509.Certificate]:
    """Every PEM certificate of ``data`` that parses, DER -> certificate.

    The others are skipped, and so are ``cryptography``'s deprecation warnings
    about the odd certificates of system bundles (e.g. non-positive serial numbers).
    """
    from cryptography import x509  # noqa: PLC0415
    from cryptography.utils import CryptographyDeprecationWarning  # noqa: PLC0415

    certificates = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        for match in _PEM_CERTIFICATE.finditer(data):
            try:
                der = base64.b64decode(b"".join(match.group(1).split()), validate=True)
                certificates[der] = x509.load_der_x509_certificate(der)
            except (ValueError, binascii.Error):
                continue
    return certificates


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _system_certificates() -> dict[bytes, x509.Certificate]:
    import ssl  # noqa: PLC0415 (here: a TrustStore of the caller's CAs needs no ssl)

    paths = ssl.get_default_verify_paths()
    candidates = [Path(path) for path in (paths.cafile, *SYSTEM_CA_BUNDLES) if path]
    for candidate in dict.fromkeys(candidates):
        if candidate.is_file() and (ders := _lenient_pem_certificates(_read(candidate))):
            return ders
    # No bundle file: read the hashed directory (c_rehash) one file at a time.
    if paths.capath and (capath := Path(paths.capath)).is_dir():
        certificates = {}
        for entry in sorted(capath.iterdir()):
            if entry.is_file():
                certificates.update(_lenient_pem_certificates(_read(entry)))
        return certificates
    return {}


@functools.cache
def get_truststore() -> TrustStore:
    """The operating system's trusted CAs, else ``certifi``'s (cached).

    Tries ``ssl.get_default_verify_paths().cafile`` (``SSL_CERT_FILE`` when set),
    then the usual bundle files of Linux distributions, the BSDs and macOS homebrew
    (:data:`SYSTEM_CA_BUNDLES`), then the hashed directory ``capath``
    (``SSL_CERT_DIR`` when set), then ``certifi.where()``. Certificates that do not
    parse are skipped.

    :raises RuntimeError: when no CA certificate could be found anywhere.
    """
    certificates = _system_certificates()
    if not certificates:
        try:
            import certifi  # noqa: PLC0415
        except ImportError:
            pass
        else:
            certificates = _lenient_pem_certificates(_read(Path(certifi.where())))
    if not certificates:
        msg = (
            "no CA certificate found: install the system CA bundle (ca-certificates) "
            "or certifi, or build a siotls.trust.TrustStore yourself"
        )
        raise RuntimeError(msg)
    return TrustStore._from_parsed(certificates)


def verify_chain(
    truststore: TrustStore,
    chain: Sequence[bytes],
    *,
    server_name: str | None = None,
    purpose: Literal["server", "client"] = "server",
    moment: datetime.datetime | float | None = None,
) -> VerifiedPath:
    """Validate a peer's certificate chain as the handshake does; the verified path.

    A success is remembered by the trust store (unless made with ``cache_size=0``):
    the same chain, name and purpose at a moment within the validity periods of
    its path get the same path back without a new validation (see :doc:`trust`).

    :param chain: DER certificates as the peer sent them, leaf first (intermediates
        in any order, extra ones ignored).
    :param server_name: the host name (or IP address literal) a server's
        certificate must name; ``None`` checks no name.
    :param purpose: ``'server'`` (serverAuth) or ``'client'`` (clientAuth).
    :param moment: the validation time: a :class:`~datetime.datetime` (naive means
        UTC) or seconds since the epoch; default now.
    :returns: the path, a list of DER certificates, leaf first, trust anchor last,
        with ``.certificates`` (parsed) and ``.validator`` (``'webpki'`` or
        ``'pathbuilder'``).
    :raises siotls.errors.TLSFatalAlert: the subclass of the alert the handshake
        would send, with a stable ``reason`` code (see :doc:`trust`).
    :raises siotls.errors.TLSUsageError: for a bad ``purpose`` or a
        ``server_name`` with ``purpose='client'``.
    """
    from siotls.core import certificates  # noqa: PLC0415 (cryptography, lazily)

    return certificates.verify_chain(truststore, chain, server_name=server_name,
                                     purpose=purpose, moment=moment)
