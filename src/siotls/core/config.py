"""TLSConfiguration: what we are willing to do (TLSNegotiatedConfiguration, what
the handshake settled on, is in :mod:`siotls.core.negotiated`; imported from here too).

A configuration is a frozen record validated in ``__post_init__``: it can be
shared by any number of connections. Field names follow siotls 0.0.5, where it
was a frozen dataclass; it still works as one (``dataclasses.replace``,
``fields``, equality, hashing, ``repr`` without keys) without loading
``dataclasses`` at import (:mod:`siotls.core.dataclasslike`).
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from siotls.core import earlydata, provider
from siotls.core.dataclasslike import FrozenRecord
from siotls.core.negotiated import TLSNegotiatedConfiguration as TLSNegotiatedConfiguration  # noqa: PLC0414 (re-exported: its home was here)
from siotls.iana import CipherSuites, NamedGroup, PskKeyExchangeMode, SignatureScheme

if TYPE_CHECKING:
    from siotls.core.credentials import CertificateChain, CertificateSelector, SNICallback
    from siotls.core.crypto import PrivateKey
    from siotls.core.psk import ExternalPSKs
    from siotls.core.tickets import TicketKeys
    from siotls.trust import TrustStore

SUPPORTED_CIPHER_SUITES = (
    CipherSuites.TLS_AES_128_GCM_SHA256,
    CipherSuites.TLS_AES_256_GCM_SHA384,
    CipherSuites.TLS_CHACHA20_POLY1305_SHA256,
)
#: Named groups in our default order of preference: the post-quantum hybrids
#: first (draft-ietf-tls-ecdhe-mlkem), left out when ML-KEM is unavailable.
SUPPORTED_KEY_EXCHANGES = (
    NamedGroup.X25519MLKEM768,
    NamedGroup.SecP256r1MLKEM768,
    NamedGroup.SecP384r1MLKEM1024,
    NamedGroup.x25519,
    NamedGroup.secp256r1,
    NamedGroup.secp384r1,
    NamedGroup.secp521r1,
    NamedGroup.x448,
)
#: Schemes usable in CertificateVerify, in our order of preference.
SUPPORTED_SIGNATURE_ALGORITHMS = (
    SignatureScheme.ed25519,
    SignatureScheme.ecdsa_secp256r1_sha256,
    SignatureScheme.ecdsa_secp384r1_sha384,
    SignatureScheme.ecdsa_secp521r1_sha512,
    SignatureScheme.ed448,
    SignatureScheme.rsa_pss_pss_sha256,
    SignatureScheme.rsa_pss_pss_sha384,
    SignatureScheme.rsa_pss_pss_sha512,
    SignatureScheme.rsa_pss_rsae_sha256,
    SignatureScheme.rsa_pss_rsae_sha384,
    SignatureScheme.rsa_pss_rsae_sha512,
)
#: Schemes accepted inside certificates only (signature_algorithms_cert).
HYBRID_KEY_EXCHANGES = frozenset({
    NamedGroup.X25519MLKEM768, NamedGroup.SecP256r1MLKEM768, NamedGroup.SecP384r1MLKEM1024})
MLKEM_UNAVAILABLE = (
    "the installed cryptography (or the OpenSSL it uses) has no ML-KEM: the post-quantum "
    "hybrid groups X25519MLKEM768, SecP256r1MLKEM768 and SecP384r1MLKEM1024 are left out "
    "(install cryptography 47 or newer with its bundled OpenSSL)")


@functools.cache
def _say_mlkem_unavailable() -> None:
    """Once per process, on the ``siotls`` logger: no post-quantum key exchange."""
    import logging  # noqa: PLC0415 (here only: import siotls does not load logging)

    logging.getLogger("siotls").warning("%s", MLKEM_UNAVAILABLE)


CERTIFICATE_ONLY_SIGNATURE_ALGORITHMS = (
    SignatureScheme.rsa_pkcs1_sha256,
    SignatureScheme.rsa_pkcs1_sha384,
    SignatureScheme.rsa_pkcs1_sha512,
)


def _keylog_default() -> bool:
    return bool(os.environ.get("SSLKEYLOGFILE"))


class TLSConfiguration(FrozenRecord):
    """What a connection is allowed to negotiate, and with which credentials.

    :param side: ``'client'`` or ``'server'``.
    :param cipher_suites: suites in order of preference (the server's order wins).
    :param key_exchanges: named groups in order of preference (the server's order
        wins; by default the post-quantum hybrids come first). The client sends a
        key share for the first group and, when that one is a hybrid, also for
        the first classical group (by default X25519MLKEM768 and x25519, which
        share one X25519 key); a server wanting another group asks for it with
        a HelloRetryRequest. When ML-KEM is unavailable the hybrids are dropped
        from the default (a hybrid asked for explicitly is a ``ValueError``).
    :param signature_algorithms: CertificateVerify schemes in order of preference.
    :param truststore: the CAs the peer's certificate must chain to. ``None`` on a
        client means *no verification at all* and emits an :class:`InsecureWarning`.
    :param private_key: our private key, DER (PKCS#8, or the key type's own DER).
    :param certificate_chain: our certificate chain, DER, leaf first.
    :param alpn: application protocols in order of preference, e.g. ``[b'h2', b'http/1.1']``.
    :param log_keys: emit the traffic secrets in the SSLKEYLOGFILE format, to
        ``keylog`` when given, else appended to the file named by the
        ``SSLKEYLOGFILE`` environment variable (read when the configuration is
        made). ``None``, the default: whether that variable is set (the attribute
        then holds that ``bool``). With neither a hook nor the variable, it is a
        ``ValueError``: secrets only go where the user pointed them, never to a logger.
    :param keylog: the key-log hook: called with one line (no newline) per secret.
    :param middlebox_compatibility: RFC 8446 appendix D.4 compatibility mode (a
        non-empty legacy_session_id and dummy change_cipher_spec records).
    :param record_padding: a function ``(content_type, length) -> padding`` giving
        the number of zero bytes to pad a record with; ``None`` pads nothing.
        The result is capped so a record never exceeds 2^14 bytes.
    :param require_peer_authentication: a server asks the client for a certificate
        and fails the handshake without one.
    :param request_peer_authentication: a server asks the client for a
        certificate but goes on without one (``nconfig.peer_verified`` stays false);
        a certificate that comes is verified all the same.
    :param certificate_chains: more of our chains (:class:`~siotls.CertificateChain`),
        after the default ``(private_key, certificate_chain)``: each handshake sends
        the first that suits the peer (its signature algorithms; for a server, the
        server name; for a client, the certificate_authorities asked for).
    :param sni_callback: a server's choice of chains by server name:
        ``(server_name or None) -> chains or None`` (``None``: choose among all by the
        names in their certificates). A ``dict.get`` will do.
    :param certificate_selector: a server's asynchronous choice of chain:
        ``async (pending: PendingClientHello) -> CertificateChain or None`` (``None``:
        the choice above), awaited at the pause point after the ClientHello by the
        async adapters (see :mod:`siotls.core.credentials`); sans-IO callers answer
        ``conn.pending_client_hello`` with ``conn.resume_client_hello(certificate_chain=...)``.
    :param ocsp_response: a server's OCSP response (DER, as the responder returned
        it) for the default chain, stapled for clients that ask (RFC 8446
        section 4.4.2.1); each :class:`~siotls.CertificateChain` has its own.
    :param ocsp_stapling: a client's use of OCSP stapling: ``'off'``; ``'request'``
        asks the server for a response and exposes it (``nconfig.peer_ocsp_response``,
        ``peer_ocsp_status``) without judging it; ``'check'`` also validates a
        stapled response (signature, responder, dates, status: a revoked, unknown
        or invalid one fails with bad_certificate_status_response) and accepts
        none; ``'require'`` also fails when none is stapled.
    :param post_handshake_auth: a client with a certificate offers post-handshake
        authentication (RFC 8446 section 4.6.2): the server may then ask for its
        certificate at any time after the handshake, and it answers by itself.
        A server asks with :meth:`~siotls.TLSConnection.request_client_certificate`.
    :param send_raw_public_key: we may authenticate with our default key as a raw
        public key (RFC 7250) when the peer accepts one; then ``private_key`` may
        come without a ``certificate_chain``.
    :param peer_public_keys: DER SubjectPublicKeyInfo of the peers we accept as
        raw public keys (RFC 7250): a client asks the server for one (and for a
        certificate too when it has a truststore); a server that asks for client
        authentication takes one.
    :param strict_sni: a server refuses a server name no chain covers with
        unrecognized_name, instead of sending the default chain.
    :param check_hostname: a client checks that the server's certificate names the
        ``server_hostname`` it connects to (which is then required). ``False``
        still verifies the chain, and still sends the name in SNI, but accepts a
        certificate for any name: with an :class:`InsecureWarning`.
    :param max_fragment_size: the largest plaintext we put in one record (<= 2^14).
    :param record_size_limit: RFC 8449: the largest protected record we accept
        (its TLSInnerPlaintext: content, type byte and padding), 64 to 16385,
        advertised to the peer; ``None`` sends no record_size_limit. The peer's
        limit is honoured in either case. The default, 16385, accepts any record.
    :param certificate_compression: RFC 8879 algorithms (``'zlib'``, ``'brotli'``,
        ``'zstd'``) in order of preference, for the Certificate we receive (a
        client offers them, a server asks for them) and the one we send (with our
        first algorithm the peer offered). Defaults to every available one
        (:func:`siotls.core.compression.available`); ``()`` turns compression off.
    :param random_bytes: the source of randomness, ``(n) -> n random bytes``
        (default :func:`os.urandom`), for the Hello randoms and the legacy
        session id. Tests inject fixed values through it.
    :param clock: the current time as seconds since the epoch (default
        :func:`time.time`), used for certificate validity and ticket ages.
    :param key_share_generator: ``(group) -> (private key, key_exchange bytes)``
        making the ephemeral key of each key share (default: a fresh key from
        ``cryptography``). Tests inject known keys through it. For a hybrid group
        a client gets a :class:`~siotls.core.crypto.HybridPrivate`; a server asks
        it for the hybrid's ECDH half only (ML-KEM encapsulation is not a key).
    :param num_tickets: NewSessionTickets a server sends after a full handshake
        (one after a resumption); 0 sends none. See :doc:`resumption`.
    :param ticket_lifetime: seconds a server's tickets stay valid (at most 7 days).
    :param ticket_keys: the server's :class:`~siotls.tickets.TicketKeys`; share
        them (or their key file) to resume across processes. ``None``: keys of
        this process's own, made on first use.
    :param psk_key_exchange_modes: PSK modes in order of preference: ``psk_dhe_ke``
        (the default) and ``psk_ke`` (no forward secrecy: an :class:`InsecureWarning`).
        A resumption uses psk_ke only when both sides allow it.
    :param external_psks: :class:`~siotls.ExternalPSK` keys provisioned on both
        sides: a list, a mapping from identity, or (servers) a function
        ``(identity) -> ExternalPSK | None``.
        A server with external PSKs needs no certificate, and a client with them and
        no truststore accepts only PSK handshakes.
    :param max_early_data: (servers) bytes of 0-RTT early data accepted per
        connection and announced in the tickets; 0 (the default) refuses 0-RTT.
        Early data may be a replay: see :doc:`resumption`.
    :param strike_register: (servers accepting 0-RTT) the anti-replay register
        (the stores package: a StrikeRegister); ``None``: one in memory for this configuration.
    :param early_data_freshness: the tolerance in seconds between the ticket age the
        client states and the one the server computes (RFC 8446 8.3); outside it
        0-RTT is refused (the ticket still resumes).
    :param early_data_anti_replay: what the strike register records (RFC 8446 8):
        ``'client_hello'`` (the default: its binder, for the freshness window) or
        ``'ticket'`` (single-use tickets, 8.1: a ticket carries early data once; the
        register's window must be at least ``ticket_lifetime``).
    """

    side: Literal["client", "server"]
    cipher_suites: Sequence[CipherSuites | int]
    key_exchanges: Sequence[NamedGroup | int]
    signature_algorithms: Sequence[SignatureScheme | int]
    truststore: TrustStore | None
    private_key: bytes | None
    certificate_chain: Sequence[bytes]
    alpn: Sequence[bytes] | None
    log_keys: bool
    keylog: Callable[[str], None] | None
    middlebox_compatibility: bool
    record_padding: Callable[[int, int], int] | None
    require_peer_authentication: bool
    request_peer_authentication: bool
    certificate_chains: Sequence[CertificateChain]
    sni_callback: SNICallback | None
    certificate_selector: CertificateSelector | None
    strict_sni: bool
    ocsp_response: bytes | None
    ocsp_stapling: Literal["off", "request", "check", "require"]
    post_handshake_auth: bool
    send_raw_public_key: bool
    peer_public_keys: Sequence[bytes]
    max_fragment_size: int
    check_hostname: bool
    record_size_limit: int | None
    certificate_compression: Sequence[str] | None
    random_bytes: Callable[[int], bytes]
    clock: Callable[[], float]
    key_share_generator: Callable[[int], tuple[Any, bytes]]
    num_tickets: int
    ticket_lifetime: int
    ticket_keys: TicketKeys | None
    psk_key_exchange_modes: Sequence[PskKeyExchangeMode | int]
    external_psks: ExternalPSKs
    max_early_data: int
    strike_register: Any
    early_data_freshness: float
    early_data_anti_replay: earlydata.AntiReplay

    _repr_hidden = frozenset({  # keys, secrets and callables stay out of repr()
        "private_key", "sni_callback", "certificate_selector", "ocsp_response", "random_bytes",
        "clock", "key_share_generator", "ticket_keys", "external_psks", "strike_register"})

    def __init__(  # noqa: PLR0917 (positional, as @dataclass wrote them)
            self,
            side: Literal["client", "server"],
            cipher_suites: Sequence[CipherSuites | int] = SUPPORTED_CIPHER_SUITES,
            key_exchanges: Sequence[NamedGroup | int] = SUPPORTED_KEY_EXCHANGES,
            signature_algorithms: Sequence[SignatureScheme | int] = SUPPORTED_SIGNATURE_ALGORITHMS,
            truststore: TrustStore | None = None,
            private_key: bytes | None = None,
            certificate_chain: Sequence[bytes] = (),
            alpn: Sequence[bytes] | None = None,
            log_keys: bool | None = None,
            keylog: Callable[[str], None] | None = None,
            middlebox_compatibility: bool = True,
            record_padding: Callable[[int, int], int] | None = None,
            require_peer_authentication: bool = False,
            request_peer_authentication: bool = False,
            certificate_chains: Sequence[CertificateChain] = (),
            sni_callback: SNICallback | None = None,
            certificate_selector: CertificateSelector | None = None,
            strict_sni: bool = False,
            ocsp_response: bytes | None = None,
            ocsp_stapling: Literal["off", "request", "check", "require"] = "off",
            post_handshake_auth: bool = False,
            send_raw_public_key: bool = False,
            peer_public_keys: Sequence[bytes] = (),
            max_fragment_size: int = 16384,
            check_hostname: bool = True,
            record_size_limit: int | None = 16385,
            certificate_compression: Sequence[str] | None = None,
            random_bytes: Callable[[int], bytes] = provider.random_bytes,
            clock: Callable[[], float] = provider.clock,
            key_share_generator: Callable[[int], tuple[Any, bytes]] = provider.generate_key_share,
            num_tickets: int = 2,
            ticket_lifetime: int = 7200,
            ticket_keys: TicketKeys | None = None,
            psk_key_exchange_modes: Sequence[PskKeyExchangeMode | int] = (
                PskKeyExchangeMode.psk_dhe_ke,),
            external_psks: ExternalPSKs = (),
            max_early_data: int = 0,
            strike_register: Any = None,
            early_data_freshness: float = earlydata.DEFAULT_FRESHNESS,
            early_data_anti_replay: earlydata.AntiReplay = "client_hello",
    ) -> None:
        self._store(locals())
        self.__post_init__()

    def __post_init__(self) -> None:
        if self.side not in ("client", "server"):
            raise ValueError(f"side must be 'client' or 'server', not {self.side!r}")
        if self.log_keys is None:
            object.__setattr__(self, "log_keys", _keylog_default())
        object.__setattr__(self, "cipher_suites", self._known(
            "cipher_suites", self.cipher_suites, CipherSuites, SUPPORTED_CIPHER_SUITES))
        object.__setattr__(self, "key_exchanges", self._key_exchanges(self.key_exchanges))
        object.__setattr__(self, "signature_algorithms", self._known(
            "signature_algorithms", self.signature_algorithms, SignatureScheme,
            SUPPORTED_SIGNATURE_ALGORITHMS))
        object.__setattr__(self, "certificate_chain", tuple(self.certificate_chain))
        if self.alpn is not None:
            alpn = tuple(bytes(p) for p in self.alpn)
            if not alpn:
                raise ValueError("alpn must name at least one protocol, or be None")
            if any(not 0 < len(p) < 256 for p in alpn):
                raise ValueError("each ALPN protocol must be 1 to 255 bytes long")
            if len(set(alpn)) != len(alpn):
                raise ValueError("alpn lists a protocol twice")
            object.__setattr__(self, "alpn", alpn)
        self._check_raw_public_keys()
        if (self.private_key is None) != (not self.certificate_chain) and not (
                self.private_key is not None and self.send_raw_public_key):
            raise ValueError("private_key and certificate_chain go together (a private_key "
                             "alone needs send_raw_public_key=True)")
        self._check_psk_fields()
        self._check_early_data_fields()
        if self.side == "server" and self.private_key is None and not self.external_psks:
            raise ValueError("a server needs a private_key and a certificate_chain")
        if self.side == "server" and self.truststore is None and not self.peer_public_keys \
                and (self.require_peer_authentication or self.request_peer_authentication):
            raise ValueError("require/request_peer_authentication needs a truststore "
                             "(or peer_public_keys)")
        self._check_certificate_chains()
        self._check_ocsp()
        if not 64 <= self.max_fragment_size <= 16384:
            raise ValueError("max_fragment_size must be between 64 and 16384")
        if self.record_size_limit is not None and not 64 <= self.record_size_limit <= 16385:
            raise ValueError("record_size_limit must be between 64 and 16385, or None")
        from siotls.core import compression  # noqa: PLC0415

        object.__setattr__(self, "certificate_compression",
                           compression.check_algorithms(self.certificate_compression))
        self._check_keylog()
        if self.private_key is not None:
            from siotls.core import crypto  # noqa: PLC0415 (load cryptography lazily)

            # Parsed once per configuration, and gone with it (no global cache of keys).
            if self.certificate_chain:
                crypto.check_key_pair(self.private_key, self.certificate_chain[0])
                credentials = crypto.load_credentials(self.private_key, self.certificate_chain[0])
            else:
                from siotls.core.rawkeys import key_credentials  # noqa: PLC0415

                try:
                    credentials = key_credentials(self.private_key)
                except (ValueError, TypeError) as exc:
                    raise ValueError(f"private_key is not a DER private key: {exc}") from exc
            object.__setattr__(self, "_credentials", credentials)
        if self.side == "client" and self.truststore is not None and not self.check_hostname:
            warnings.warn(
                "TLSConfiguration('client', check_hostname=False) accepts a certificate "
                "issued for any name", InsecureWarning, stacklevel=3)
        if self.side == "client" and self.truststore is None and not self.external_psks \
                and not self.peer_public_keys:
            warnings.warn(
                "TLSConfiguration('client') without a truststore does not verify the "
                "server's certificate; use siotls.trust.get_truststore()",
                InsecureWarning, stacklevel=3)

    @classmethod
    def _key_exchanges(cls, groups: Sequence[int]) -> tuple[NamedGroup, ...]:
        known = cls._known("key_exchanges", groups, NamedGroup, SUPPORTED_KEY_EXCHANGES)
        if not HYBRID_KEY_EXCHANGES.intersection(known):
            return known
        from siotls.core import crypto  # noqa: PLC0415 (load cryptography lazily)

        if crypto.mlkem_supported():
            return known
        if groups is not SUPPORTED_KEY_EXCHANGES:
            raise ValueError(f"key_exchanges: {MLKEM_UNAVAILABLE}")
        _say_mlkem_unavailable()
        return tuple(g for g in known if g not in HYBRID_KEY_EXCHANGES)

    def _check_keylog(self) -> None:
        sink: Callable[[str], None] | None = None
        if self.log_keys:
            sink = self.keylog
            path = os.environ.get("SSLKEYLOGFILE")
            if sink is None and not path:
                raise ValueError(
                    "log_keys=True needs a keylog hook or the SSLKEYLOGFILE environment "
                    "variable: secrets are never written to a logger")
            if sink is None and path:
                sink = _KeyLogFile(path)
        object.__setattr__(self, "_keylog_sink", sink)

    def log_key(self, line: str) -> None:
        """Hand one key-log line to where the user pointed secrets (no-op without log_keys)."""
        sink: Callable[[str], None] | None = self._keylog_sink  # type: ignore[attr-defined]
        if sink is not None:
            sink(line)

    def credentials(self) -> tuple[PrivateKey, tuple[int, ...]]:
        """Our parsed private key and the signature schemes it can make."""
        if self.private_key is None:
            raise ValueError("this configuration has no private_key")
        return self._credentials  # type: ignore[attr-defined,no-any-return]

    def _check_early_data_fields(self) -> None:
        if not 0 <= self.max_early_data <= earlydata.MAX_EARLY_DATA_LIMIT:
            raise ValueError("max_early_data must be between 0 and 2**32 - 1")
        if not 0 < self.early_data_freshness <= 60:
            raise ValueError("early_data_freshness must be between 0 and 60 seconds")
        if self.early_data_anti_replay not in ("client_hello", "ticket"):
            raise ValueError("early_data_anti_replay must be 'client_hello' or 'ticket'")
        if self.side != "server" or not self.max_early_data:
            return
        register = self.strike_register
        if register is None and earlydata.default_register is not None:
            register = earlydata.default_register(self)
            object.__setattr__(self, "strike_register", register)
        earlydata.check_register(register)
        if not register.window >= 2 * self.early_data_freshness:
            # A ClientHello stays fresh for up to twice the tolerance: a shorter
            # memory would forget it while its replay could still pass.
            raise ValueError(f"the strike register's window ({register.window} s) is "
                             "shorter than twice early_data_freshness")
        if self.early_data_anti_replay == "ticket" and not register.window >= self.ticket_lifetime:
            raise ValueError(f"single-use tickets are remembered as long as they resume: the "
                             f"strike register's window ({register.window} s) must be at "
                             f"least ticket_lifetime ({self.ticket_lifetime} s)")

    def _check_psk_fields(self) -> None:
        if not 0 <= self.num_tickets <= 16:
            raise ValueError("num_tickets must be between 0 and 16")
        if not 1 <= self.ticket_lifetime <= 604800:
            raise ValueError("ticket_lifetime must be between 1 s and 7 days (RFC 8446 4.6.1)")
        modes = tuple(self.psk_key_exchange_modes)
        if not modes or len(set(modes)) != len(modes) or any(
                m not in PskKeyExchangeMode._value2member_map_ for m in modes):
            raise ValueError("psk_key_exchange_modes: psk_dhe_ke and/or psk_ke, once each")
        object.__setattr__(self, "psk_key_exchange_modes",
                           tuple(PskKeyExchangeMode(m) for m in modes))
        if PskKeyExchangeMode.psk_ke in modes:
            warnings.warn("psk_key_exchange_modes with psk_ke: PSK handshakes without "
                          "forward secrecy", InsecureWarning, stacklevel=4)
        if isinstance(self.external_psks, Mapping):
            if any(psk.identity != identity for identity, psk in self.external_psks.items()):
                raise ValueError("external_psks maps an identity to another identity's PSK")
            object.__setattr__(self, "external_psks", tuple(self.external_psks.values()))
        elif callable(self.external_psks):
            if self.side == "client":
                raise ValueError("a client's external_psks is a list")
        else:
            psks = tuple(self.external_psks)
            if len({psk.identity for psk in psks}) != len(psks):
                raise ValueError("external_psks lists an identity twice")
            object.__setattr__(self, "external_psks", psks)

    @staticmethod
    def _known(name: str, values: Sequence[int], enum: Any, supported: tuple[int, ...]
               ) -> tuple[Any, ...]:
        values = tuple(values)
        unknown = [v for v in values if v not in supported]
        if unknown:
            raise ValueError(f"{name}: unsupported value(s) {unknown}; supported: "
                             f"{[enum(v).name for v in supported]}")
        if not values:
            raise ValueError(f"{name} cannot be empty")
        if len(set(values)) != len(values):
            raise ValueError(f"{name} lists a value twice")
        return tuple(enum(v) for v in values)

    def _check_certificate_chains(self) -> None:
        from siotls.core.credentials import CertificateChain  # noqa: PLC0415

        chains = tuple(self.certificate_chains)
        object.__setattr__(self, "certificate_chains", chains)
        if any(not isinstance(chain, CertificateChain) for chain in chains):
            raise ValueError("certificate_chains holds siotls.core.credentials.CertificateChain")
        if chains and self.private_key is None:
            raise ValueError("certificate_chains needs a default private_key/certificate_chain")
        if self.side == "client" and (self.sni_callback is not None or self.strict_sni
                                      or self.certificate_selector is not None):
            raise ValueError("sni_callback, certificate_selector and strict_sni are server "
                             "settings")
        if self.certificate_selector is not None and not callable(self.certificate_selector):
            raise ValueError("certificate_selector must be an async callable")

    def _check_ocsp(self) -> None:
        if self.ocsp_stapling not in ("off", "request", "check", "require"):
            raise ValueError(f"ocsp_stapling must be 'off', 'request', 'check' or 'require', "
                             f"not {self.ocsp_stapling!r}")
        if self.side == "server" and self.ocsp_stapling != "off":
            raise ValueError("ocsp_stapling is a client setting (a server staples ocsp_response)")
        if self.ocsp_stapling in ("check", "require") and self.truststore is None:
            raise ValueError(f"ocsp_stapling={self.ocsp_stapling!r} needs a truststore")
        if self.post_handshake_auth and (self.side == "server" or self.private_key is None):
            raise ValueError("post_handshake_auth is for a client with a private_key and "
                             "certificate_chain")
        if self.ocsp_response is not None:
            if self.side == "client":
                raise ValueError("ocsp_response is a server setting")
            from siotls.core.credentials import check_ocsp_response  # noqa: PLC0415

            object.__setattr__(self, "ocsp_response", check_ocsp_response(self.ocsp_response))

    def _check_raw_public_keys(self) -> None:
        from siotls.core.rawkeys import normalize_spki  # noqa: PLC0415

        object.__setattr__(self, "peer_public_keys",
                           tuple(normalize_spki(spki) for spki in self.peer_public_keys))
        if self.send_raw_public_key and self.private_key is None:
            raise ValueError("send_raw_public_key needs a private_key")

    @functools.cached_property
    def all_certificate_chains(self) -> tuple[CertificateChain, ...]:
        """The default chain, then ``certificate_chains`` (none without a private_key)."""
        from siotls.core.credentials import CertificateChain  # noqa: PLC0415

        if self.private_key is None or not self.certificate_chain:
            return ()
        default = CertificateChain.__new__(CertificateChain)  # the pair was checked already
        object.__setattr__(default, "private_key", self.private_key)
        object.__setattr__(default, "certificate_chain", self.certificate_chain)
        object.__setattr__(default, "ocsp_response", self.ocsp_response)
        default.__dict__["loaded"] = self.credentials()  # parsed once, in __post_init__
        return (default, *self.certificate_chains)

    @property
    def other_side(self) -> Literal["client", "server"]:
        """The peer's side: ``'server'`` for a client configuration and vice versa."""
        return "server" if self.side == "client" else "client"

    def copy(self, **changes: Any) -> TLSConfiguration:
        """A new configuration with ``changes`` applied (validated again): what
        ``dataclasses.replace(config, **changes)`` does."""
        return self.__replace__(**changes)


class _KeyLogFile:
    """Appends key-log lines to the SSLKEYLOGFILE named when the configuration was made."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, line: str) -> None:
        with open(self.path, "a", encoding="ascii") as file:
            file.write(line + "\n")


class InsecureWarning(UserWarning):
    """A configuration turns off a security check."""


#: How many host names normalize_server_hostname remembers (a client connects to a
#: few hosts again and again; the least recently used beyond that are forgotten).
HOSTNAME_CACHE_SIZE = 256


@functools.lru_cache(maxsize=HOSTNAME_CACHE_SIZE)
def normalize_server_hostname(host: str) -> str:
    """The ASCII (IDNA) form of a host name without its trailing dot; IP literals as given.

    A pure function of ``host``, so its answers are cached (bounded, least recently
    used): every client connection asks it, and ``ipaddress.ip_address`` failing on
    a name costs two exceptions. Errors are not cached (they raise every time).

    :raises ValueError: when ``host`` is not a usable host name.
    """
    if is_ip_address(host):
        return host
    name = host[:-1] if host.endswith(".") else host
    if name.isascii():
        # The idna codec's own path for ASCII names (encodings/idna.py), without
        # loading that codec and stringprep on a first connection: the labels
        # but the last are 1 to 63 characters, the last at most 63.
        *labels, last = name.split(".")
        if len(last) > 63 or not all(0 < len(label) < 64 for label in labels):
            raise ValueError(f"invalid server_hostname {host!r}: label empty or too long")
        ascii_name = name
    else:
        try:
            ascii_name = name.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"invalid server_hostname {host!r}: {exc}") from exc
    if not ascii_name or len(ascii_name) > 253:
        raise ValueError(f"invalid server_hostname {host!r}")
    return ascii_name


def is_ip_address(host: str) -> bool:
    import ipaddress  # noqa: PLC0415 (here: a client's first connection, not import siotls)

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
