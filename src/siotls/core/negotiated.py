"""TLSNegotiatedConfiguration: what the handshake settled on (``conn.nconfig``).

One per connection, filled in as the handshake goes: a slotted
:class:`~siotls.core.dataclasslike.Record` (it was a ``@dataclass(slots=True)``,
and still works as one with :mod:`dataclasses`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from siotls.core.dataclasslike import Record

if TYPE_CHECKING:
    from cryptography import x509

    from siotls.core.earlydata import EarlyDataStatus
    from siotls.iana import CipherSuites, NamedGroup, SignatureScheme

__all__ = ["TLSNegotiatedConfiguration"]


class TLSNegotiatedConfiguration(Record):
    """What the handshake settled on; filled in as the handshake goes."""

    __slots__ = (
        "alpn",
        "certificate_compression",
        "cipher_suite",
        "early_data",
        "hello_retry_request",
        "key_exchange",
        "peer_certificate_chain",
        "peer_certificate_compression",
        "peer_certificate_type",
        "peer_chain_validator",
        "peer_cipher_suites",
        "peer_ocsp_response",
        "peer_ocsp_status",
        "peer_public_key",
        "peer_record_size_limit",
        "peer_signature_algorithm",
        "peer_verified",
        "peer_verified_path",
        "post_handshake_auth",
        "post_handshake_authentications",
        "psk_identity",
        "server_name",
        "session_resumed",
        "signature_algorithm",
    )

    cipher_suite: CipherSuites | None
    key_exchange: NamedGroup | None
    signature_algorithm: SignatureScheme | None
    peer_signature_algorithm: SignatureScheme | None
    #: Server: the cipher suites the client offered, in its order (unknown ones included).
    peer_cipher_suites: tuple[int, ...]
    alpn: bytes | None
    server_name: str | None
    peer_certificate_chain: tuple[bytes, ...]
    hello_retry_request: bool
    peer_verified: bool
    #: a ticket (from an earlier connection) was used: no certificate was exchanged
    session_resumed: bool
    #: the identity of the external PSK the handshake used, if any
    psk_identity: bytes | None
    #: 0-RTT: ``'accepted'``, ``'rejected'`` (offered, refused) or ``'not sent'``
    early_data: EarlyDataStatus
    #: The peer's record_size_limit (RFC 8449) when it sent one.
    peer_record_size_limit: int | None
    #: The RFC 8879 algorithm the peer's Certificate came compressed with.
    peer_certificate_compression: str | None
    #: The RFC 8879 algorithm we compressed our Certificate with.
    certificate_compression: str | None
    #: which validation accepted the peer's chain: ``'webpki'`` (``cryptography``'s
    #: verifier) or ``'pathbuilder'`` (siotls's, for Ed25519/Ed448/RSA-PSS CAs)
    peer_chain_validator: Literal["webpki", "pathbuilder"] | None
    #: the verified path: ``peer_certificate_chain``'s certificates that lead to the
    #: trust anchor, in order, then the anchor (DER); empty when not verified
    peer_verified_path: tuple[bytes, ...]
    #: the OCSP response the server stapled for its certificate (DER), when asked
    #: for with ``ocsp_stapling``; None when it stapled none
    peer_ocsp_response: bytes | None
    #: what ``peer_ocsp_response`` says of the server's certificate; None without
    #: a response, or when it does not parse or names another certificate
    peer_ocsp_status: Literal["good", "revoked", "unknown"] | None
    #: what the peer authenticated with: ``'x509'`` or ``'raw_public_key'`` (RFC 7250)
    peer_certificate_type: Literal["x509", "raw_public_key"] | None
    #: the peer's public key, DER SubjectPublicKeyInfo (a raw key, or its leaf's)
    peer_public_key: bytes | None
    #: the client offered post-handshake authentication (RFC 8446 4.2.6)
    post_handshake_auth: bool
    #: server: post-handshake authentications completed (a certificate or none)
    post_handshake_authentications: int


    def __init__(  # noqa: PLR0917 (positional, as @dataclass wrote them)
            self,
            cipher_suite: CipherSuites | None = None,
            key_exchange: NamedGroup | None = None,
            signature_algorithm: SignatureScheme | None = None,
            peer_signature_algorithm: SignatureScheme | None = None,
            peer_cipher_suites: tuple[int, ...] = (),
            alpn: bytes | None = None,
            server_name: str | None = None,
            peer_certificate_chain: tuple[bytes, ...] = (),
            hello_retry_request: bool = False,
            peer_verified: bool = False,
            session_resumed: bool = False,
            psk_identity: bytes | None = None,
            early_data: EarlyDataStatus = "not sent",
            peer_record_size_limit: int | None = None,
            peer_certificate_compression: str | None = None,
            certificate_compression: str | None = None,
            peer_chain_validator: Literal["webpki", "pathbuilder"] | None = None,
            peer_verified_path: tuple[bytes, ...] = (),
            peer_ocsp_response: bytes | None = None,
            peer_ocsp_status: Literal["good", "revoked", "unknown"] | None = None,
            peer_certificate_type: Literal["x509", "raw_public_key"] | None = None,
            peer_public_key: bytes | None = None,
            post_handshake_auth: bool = False,
            post_handshake_authentications: int = 0,
    ) -> None:
        self.cipher_suite = cipher_suite
        self.key_exchange = key_exchange
        self.signature_algorithm = signature_algorithm
        self.peer_signature_algorithm = peer_signature_algorithm
        self.peer_cipher_suites = peer_cipher_suites
        self.alpn = alpn
        self.server_name = server_name
        self.peer_certificate_chain = peer_certificate_chain
        self.hello_retry_request = hello_retry_request
        self.peer_verified = peer_verified
        self.session_resumed = session_resumed
        self.psk_identity = psk_identity
        self.early_data = early_data
        self.peer_record_size_limit = peer_record_size_limit
        self.peer_certificate_compression = peer_certificate_compression
        self.certificate_compression = certificate_compression
        self.peer_chain_validator = peer_chain_validator
        self.peer_verified_path = peer_verified_path
        self.peer_ocsp_response = peer_ocsp_response
        self.peer_ocsp_status = peer_ocsp_status
        self.peer_certificate_type = peer_certificate_type
        self.peer_public_key = peer_public_key
        self.post_handshake_auth = post_handshake_auth
        self.post_handshake_authentications = post_handshake_authentications

    @property
    def peer_certificates(self) -> tuple[x509.Certificate, ...]:
        """``peer_certificate_chain`` parsed (``cryptography.x509.Certificate``)."""
        from cryptography import x509  # noqa: PLC0415

        return tuple(x509.load_der_x509_certificate(der) for der in self.peer_certificate_chain)
