"""The server side of the handshake (RFC 8446 section 4, appendix A.2).

One ClientHello is handled in one go: it is checked, the parameters are
negotiated (:mod:`siotls.core.negotiation`), and the whole server flight
(ServerHello, EncryptedExtensions, [CertificateRequest], Certificate,
CertificateVerify, Finished) is queued at once. When the client's key shares
are all unusable, a HelloRetryRequest goes out instead and the server waits
for the second ClientHello in START. The server keeps what it needs about the
first ClientHello in memory (it is not stateless), so it sends no cookie.

A ClientHello with pre_shared_key goes through :func:`siotls.core.psk.choose`
first: with a PSK accepted, the flight is ServerHello (+ pre_shared_key),
EncryptedExtensions and Finished only. Session tickets
(:mod:`siotls.core.tickets`) go out with the server's first application data.

A ClientHello offering early data with our ticket may have it accepted
(:mod:`siotls.core.earlydata`): EncryptedExtensions carries early_data, the read
key is the client's early key and the server waits in WAIT_EOED for
EndOfEarlyData. With an asynchronous strike register, or an asynchronous
``certificate_selector`` in a full handshake, the server pauses before its
flight (:meth:`ServerHandshake.resume_client_hello` goes on).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from siotls.core import (
    certificates,
    compression,
    credentials,
    crypto,
    earlydata,
    ocsp,
    prepared,
    psk,
    rawkeys,
)
from siotls.core import extensions as ext
from siotls.core.config import (
    TLSConfiguration,
    TLSNegotiatedConfiguration,
)
from siotls.core.errors import (
    CertificateRequired,
    DecodeError,
    HandshakeFailure,
    IllegalParameter,
    MissingExtension,
    ProtocolVersion,
    TLSFatalAlert,
    UnsupportedCertificate,
)
from siotls.core.handshake import Handler, Handshake, KeyLog, member
from siotls.core.keyschedule import KeySchedule
from siotls.core.messages import (
    HELLO_RETRY_REQUEST_RANDOM,
    CertificateRequest,
    ClientHello,
    EncryptedExtensions,
    ServerHello,
    parse_certificate,
    parse_client_hello,
)
from siotls.core.negotiation import (
    select_alpn,
    select_cipher_suite,
    select_group,
)
from siotls.core.pha import ServerPostHandshakeAuth
from siotls.core.record import RecordLayer
from siotls.core.state import TRANSITIONS, State
from siotls.core.tickets import TicketKeys, new_session_ticket, process_ticket_keys
from siotls.iana import (
    CertificateType,
    CipherSuites,
    ContentType,
    HandshakeType,
    NamedGroup,
    PskKeyExchangeMode,
    SignatureScheme,
    TLSVersion,
)

ET = ext.ET  # plain ints
#: Bytes of rejected 0-RTT data we are willing to skip (RFC 8446 section 4.2.10).
MAX_SKIPPED_EARLY_DATA = 2**16
#: Extensions a ClientHello after a HelloRetryRequest may change (RFC 8446 4.1.2).
_MAY_CHANGE = frozenset({ET.KEY_SHARE, ET.EARLY_DATA, ET.COOKIE, ET.PRE_SHARED_KEY, ET.PADDING})


# What a client sends the same on every connection, decoded into immutable values and
# kept per configuration (prepared.decoded): the bytes alone decide the result.
_TLS_1_3 = int(TLSVersion.TLS_1_3)
#: ServerHello's supported_versions: selected_version, TLS 1.3 (RFC 8446 4.2.1)
_SELECTED_TLS_1_3 = TLSVersion.TLS_1_3.to_bytes(2, "big")


def _versions(data: bytes) -> tuple[int, ...]:
    return tuple(ext.decode_supported_versions_ch(data))


def _groups(data: bytes) -> tuple[int, ...]:
    return tuple(ext.decode_supported_groups(data))


def _schemes(data: bytes) -> tuple[int, ...]:
    return tuple(ext.decode_signature_algorithms(data))


def _compression(data: bytes) -> tuple[int, ...]:
    return tuple(ext.decode_compress_certificate(data))


def _alpn(data: bytes) -> tuple[bytes, ...]:
    return tuple(ext.decode_alpn(data))


class ServerHandshake(Handshake):
    side = "server"
    __slots__ = (
        "_chain_question", "_early_answer", "_paused_flight", "authenticated_at",
        "certificate_types", "chain", "client_compression", "client_record_size_limit",
        "early_data", "first_client_hello", "hello_retry_group", "hello_retry_suite",
        "ocsp_requested", "pha")

    def __init__(self, config: TLSConfiguration, records: RecordLayer,
                 nconfig: TLSNegotiatedConfiguration, keylog: KeyLog | None) -> None:
        super().__init__(config, records, nconfig, keylog)
        # A server may live on external PSKs only: no certificate chain then.
        self.chain: credentials.CertificateChain | None = None  # chosen per ClientHello
        self.hello_retry_group: int | None = None
        self.hello_retry_suite: int | None = None
        self.first_client_hello: ClientHello | None = None
        #: (server type, client type, EncryptedExtensions entries), RFC 7250
        self.certificate_types: tuple[int, int, dict[int, bytes]] = (
            CertificateType.X509, CertificateType.X509, {})
        #: when the session's certificates were exchanged, if this is a resumption
        self.authenticated_at: float | None = None
        self.client_record_size_limit: int | None = None
        self.client_compression: tuple[int, ...] = ()
        #: the 0-RTT data received, when we accepted it (WAIT_EOED)
        self.early_data: earlydata.ServerEarlyData | None = None
        #: paused after the ClientHello for an asynchronous register (the pause point)
        self.pending: earlydata.PendingClientHello | None = None
        self._paused_flight: tuple[Any, ...] = ()
        #: the register's answer given through :meth:`resume_client_hello`
        self._early_answer: bool | None = None
        #: (signature_algorithms, signature_algorithms_cert) kept for certificate_selector
        self._chain_question: tuple[tuple[int, ...], tuple[int, ...] | None] | None = None
        self.ocsp_requested = False  # the client's status_request asks for OCSP
        self.pha = ServerPostHandshakeAuth()

    def initiate(self) -> None:
        self.state = State.START

    # -- ClientHello --------------------------------------------------------------
    def on_client_hello(self, body: memoryview, raw: bytes) -> None:
        ch = parse_client_hello(body)
        config = self.config
        exts = ch.extensions
        if ch.legacy_version <= 0x0300:  # SSL 3.0 or older: RFC 8446 appendix D.5
            raise ProtocolVersion(f"a ClientHello of legacy_version {ch.legacy_version:#06x}",
                                  reason="legacy_version")
        if ET.SUPPORTED_VERSIONS not in exts:
            raise ProtocolVersion("the client does not offer TLS 1.3")
        if _TLS_1_3 not in prepared.decoded(config, _versions, exts[ET.SUPPORTED_VERSIONS]):
            raise ProtocolVersion("the client does not offer TLS 1.3")
        if ch.legacy_compression_methods != b"\x00":
            raise IllegalParameter("legacy_compression_methods is not [null]")
        ext.check_allowed(exts, ext.CH)
        if ET.PRE_SHARED_KEY in exts and list(exts)[-1] != ET.PRE_SHARED_KEY:
            raise IllegalParameter("pre_shared_key is not the last extension")
        if self.first_client_hello is not None:
            self._check_second_client_hello(ch)
        if ET.SERVER_NAME in exts:
            self.nconfig.server_name = prepared.decoded(
                config, ext.decode_server_name, exts[ET.SERVER_NAME])
        self.nconfig.peer_cipher_suites = tuple(ch.cipher_suites)
        self.pha.on_client_hello(self, exts)
        if ET.STATUS_REQUEST in exts:
            self.ocsp_requested = ocsp.decode_status_request(exts[ET.STATUS_REQUEST])
        choice = self._choose_psk(ch, raw) if ET.PRE_SHARED_KEY in exts else None
        self._chain_question = None

        if choice is not None:  # no certificate in a PSK handshake
            suite, scheme = choice.suite, None
        else:
            suite = self.hello_retry_suite or select_cipher_suite(
                config.cipher_suites, ch.cipher_suites)
            scheme = self._select_chain(exts)
        group, share, hello_retry = None, None, False
        if choice is None or choice.mode == PskKeyExchangeMode.psk_dhe_ke:
            if ET.SUPPORTED_GROUPS not in exts or ET.KEY_SHARE not in exts:
                raise MissingExtension("the ClientHello lacks supported_groups or key_share")
            supported_groups = prepared.decoded(config, _groups, exts[ET.SUPPORTED_GROUPS])
            key_shares = dict(ext.decode_key_share_ch(exts[ET.KEY_SHARE]))
            if not set(key_shares) <= set(supported_groups):
                raise IllegalParameter("a key_share for a group missing from supported_groups")
            group, hello_retry = select_group(
                config.key_exchanges, supported_groups, list(key_shares))
            share = key_shares.get(group)
        alpn = None
        if ET.APPLICATION_LAYER_PROTOCOL_NEGOTIATION in exts:
            alpn = select_alpn(config.alpn, prepared.decoded(
                config, _alpn, exts[ET.APPLICATION_LAYER_PROTOCOL_NEGOTIATION]))
        self.client_record_size_limit = None
        if ET.RECORD_SIZE_LIMIT in exts:  # RFC 8449; max_fragment_length is ignored
            self.client_record_size_limit = ext.decode_record_size_limit(
                exts[ET.RECORD_SIZE_LIMIT])
        self.client_compression = ()
        if ET.COMPRESS_CERTIFICATE in exts:
            self.client_compression = prepared.decoded(
                config, _compression, exts[ET.COMPRESS_CERTIFICATE])
        if ET.EARLY_DATA in exts:  # until we accept it: skip what fails to decrypt
            ext.decode_empty(exts[ET.EARLY_DATA], "early_data")
            # as much as our tickets allow (plus the records' overhead), 64 KiB at least
            self.records.skip_budget = max(
                MAX_SKIPPED_EARLY_DATA, self.config.max_early_data * 17 // 16 + 4096)
            self.nconfig.early_data = "rejected"

        if hello_retry:
            if self.first_client_hello is not None:
                raise IllegalParameter("the second ClientHello still lacks a usable key share")
            assert group is not None
            self._send_hello_retry_request(ch, raw, suite, group)
            return
        if choice is not None:  # not before: a HelloRetryRequest may change the choice
            self._adopt_psk(choice)
        self.nconfig.cipher_suite = member(CipherSuites, suite)
        self.nconfig.key_exchange = None if group is None else member(NamedGroup, group)
        self.nconfig.signature_algorithm = (
            None if scheme is None else member(SignatureScheme, scheme))
        self.nconfig.alpn = alpn
        flight = (ch, raw, suite, (group, share), scheme, alpn, choice)
        if not self._pause_for_register(flight) and not self._pause_for_selector(flight):
            self._send_server_flight(*flight)

    def _pause_for_selector(self, flight: tuple[Any, ...]) -> bool:
        """The pause point for ``certificate_selector``: a full handshake whose chain
        :meth:`_select_chain` left to the caller."""
        if self._chain_question is None:
            return False
        self.pending = earlydata.PendingClientHello(
            self.nconfig.server_name, flight[5], None, ET.EARLY_DATA in flight[0].extensions,
            None, 0.0, None,
            certificate_requested=True, signature_algorithms=tuple(self._chain_question[0]))
        self._paused_flight = flight
        return True

    def _pause_for_register(self, flight: tuple[Any, ...]) -> bool:
        """The pause point (:mod:`siotls.core.earlydata`): with an asynchronous strike
        register and 0-RTT otherwise acceptable, stop here until the caller answers."""
        ch, _, suite, _, _, alpn, choice = flight
        config = self.config
        if (choice is None or ET.EARLY_DATA not in ch.extensions
                or not earlydata.is_asynchronous(config.strike_register)):
            return False
        asked = earlydata.question(config, choice, suite=suite, alpn=alpn, now=config.clock())
        if asked is None:
            self._early_answer = False
            return False
        self.pending = earlydata.PendingClientHello(
            self.nconfig.server_name, alpn, choice.identity, True, *asked,
            config.strike_register)
        self._paused_flight = flight
        return True

    def resume_client_hello(self, early_data_ok: bool,
                            certificate_chain: credentials.CertificateChain | None,
                            failure: TLSFatalAlert | None) -> None:
        """Go on after the pause, with the register's answer and the selector's chain."""
        flight, self._paused_flight, self.pending = self._paused_flight, (), None
        if failure is not None:
            raise failure
        self._early_answer = bool(early_data_ok)
        if self._chain_question is not None:
            offered, offered_cert = self._chain_question
            self._chain_question = None
            scheme = self._choose_chain(offered, offered_cert, certificate_chain)
            self.nconfig.signature_algorithm = member(SignatureScheme, scheme)
            flight = (*flight[:4], scheme, *flight[5:])
        self._send_server_flight(*flight)

    def _select_chain(self, exts: dict[int, bytes]) -> int | None:
        """Our certificate chain for this ClientHello; the signature scheme to sign with."""
        config = self.config
        if config.private_key is None:
            raise HandshakeFailure("no PSK the server knows, and it has no certificate")
        if ET.SIGNATURE_ALGORITHMS not in exts:
            raise MissingExtension("the ClientHello has no signature_algorithms")
        offered = prepared.decoded(config, _schemes, exts[ET.SIGNATURE_ALGORITHMS])
        self.certificate_types = rawkeys.server_choice(
            config, exts, config.require_peer_authentication or config.request_peer_authentication)
        self.client_certificate_type = self.certificate_types[1]
        if self.certificate_types[0] == CertificateType.RAW_PUBLIC_KEY:
            raw_scheme = rawkeys.raw_key_scheme(config, offered)
            if raw_scheme is None:
                raise HandshakeFailure("no signature scheme in common for our raw public key")
            return raw_scheme
        offered_cert = (prepared.decoded(config, _schemes, exts[ET.SIGNATURE_ALGORITHMS_CERT])
                        if ET.SIGNATURE_ALGORITHMS_CERT in exts else None)
        if config.certificate_selector is not None:  # asked at the pause point
            self._chain_question = (offered, offered_cert)
            return None
        return self._choose_chain(offered, offered_cert, None)

    def _choose_chain(self, offered: Sequence[int], offered_cert: Sequence[int] | None,
                      chosen: credentials.CertificateChain | None) -> int:
        """``chosen`` (certificate_selector's), else the synchronous choice.

        Without ``sni_callback`` (whose answer may change) the synchronous choice
        depends on the server name and the offers only: kept per configuration
        (:func:`siotls.core.prepared.chain_choices`); a refusal raises every time.
        """
        config = self.config
        server_name = self.nconfig.server_name
        table = key = None
        if chosen is None and config.sni_callback is None:
            table = prepared.chain_choices(config)
            key = (server_name, tuple(offered), None if offered_cert is None
                   else tuple(offered_cert))
            choice = table.get(key)
            if choice is not None:
                self.chain, scheme = choice
                return scheme
        self.chain, scheme = choice = credentials.select_server_chain(
            prepared.certificate_chains(config) if chosen is None else (chosen,),
            config.signature_algorithms, server_name=server_name,
            offered=offered, offered_cert=offered_cert,
            sni_callback=None if chosen else config.sni_callback,
            strict_sni=config.strict_sni and chosen is None)
        if table is not None:
            table[key] = choice
        return scheme

    def _choose_psk(self, ch: ClientHello, raw: bytes) -> psk.PskChoice | None:
        """The PSK to use (binder checked), or ``None`` (see :mod:`siotls.core.psk`)."""
        config = self.config
        return psk.choose(
            config, ch, raw, schedule=self.schedule, required_suite=self.hello_retry_suite,
            server_name=self.nconfig.server_name, ticket_keys=self._ticket_keys,
            now=config.clock())

    def _adopt_psk(self, choice: psk.PskChoice) -> None:
        """The handshake goes on with ``choice``: the session's state becomes ours."""
        if choice.ticket is not None:
            self.authenticated_at = choice.ticket.authenticated_at
            self.nconfig.session_resumed = True
            self.nconfig.peer_certificate_chain = choice.ticket.client_certificate_chain
            self.nconfig.peer_verified = choice.ticket.client_verified
        else:
            self.nconfig.psk_identity = choice.identity

    def _ticket_keys(self) -> TicketKeys:
        config = self.config
        return config.ticket_keys or process_ticket_keys(config.random_bytes, config.clock())

    def _check_second_client_hello(self, ch: ClientHello) -> None:
        """RFC 8446 section 4.1.2: ClientHello2 is ClientHello1 with the asked changes."""
        first = self.first_client_hello
        assert first is not None
        if (ch.random != first.random or ch.legacy_session_id != first.legacy_session_id
                or ch.cipher_suites != first.cipher_suites or ch.legacy_version
                != first.legacy_version or ch.legacy_compression_methods
                != first.legacy_compression_methods):
            raise IllegalParameter("the second ClientHello changes more than it should",
                                   reason="client_hello_changed")
        # What 4.1.2 lets the client change: the key shares, early_data (removed),
        # the cookie (added), the PSK ages and binders, and the padding.
        unchanged = {k: v for k, v in first.extensions.items() if k not in _MAY_CHANGE}
        if unchanged != {k: v for k, v in ch.extensions.items() if k not in _MAY_CHANGE}:
            raise IllegalParameter("the second ClientHello changes an extension it must keep",
                                   reason="client_hello_changed")
        if ET.EARLY_DATA in ch.extensions:
            raise IllegalParameter("early_data in the second ClientHello")
        if ET.KEY_SHARE not in ch.extensions:
            raise MissingExtension("the second ClientHello has no key_share")
        shares = ext.decode_key_share_ch(ch.extensions[ET.KEY_SHARE])
        if [group for group, _ in shares] != [self.hello_retry_group]:
            raise IllegalParameter("the second ClientHello does not share the group we asked for")

    def _send_hello_retry_request(self, ch: ClientHello, raw: bytes, suite: int,
                                  group: int) -> None:
        self.first_client_hello = ch
        self.hello_retry_group = group
        self.hello_retry_suite = suite
        self.nconfig.hello_retry_request = True
        self.schedule = KeySchedule(crypto.CIPHER_SUITES[suite])
        self.schedule.update(raw)
        self.schedule.restart_after_hello_retry()
        self.send(ServerHello(HELLO_RETRY_REQUEST_RANDOM, ch.legacy_session_id, suite, {
            ET.SUPPORTED_VERSIONS: TLSVersion.TLS_1_3.to_bytes(2, "big"),
            ET.KEY_SHARE: group.to_bytes(2, "big"),
        }).serialize())
        if ch.legacy_session_id:
            self.send_change_cipher_spec()
        # Rejected 0-RTT records arrive before ClientHello2, under a key we lack.
        self.records.skip_unprotected_application_data = ET.EARLY_DATA in ch.extensions
        self.state = State.START

    def _send_server_flight(  # noqa: PLR0917 (the negotiated parameters, spelled out)
            self, ch: ClientHello, raw: bytes, suite: int,
            key_share: tuple[int | None, bytes | None], scheme: int | None,
            alpn: bytes | None, choice: psk.PskChoice | None) -> None:
        config = self.config
        self.client_random = ch.random
        self.records.skip_unprotected_application_data = False
        if self.first_client_hello is not None:
            # Early data was only skippable before the second ClientHello (4.2.10):
            # a record failing to decrypt now is bad_record_mac.
            self.records.skip_budget = 0
        if self.schedule is None:
            self.schedule = KeySchedule(crypto.CIPHER_SUITES[suite])
        schedule = self.schedule
        if choice is not None:
            schedule.use_psk(choice.psk)
        schedule.update(raw)
        if choice is not None and choice.index == 0 and self.first_client_hello is None:
            self._enter_early(schedule)
            self._accept_early_data(ch, choice, suite, alpn)
        shared_secret = self._send_server_hello(ch, suite, key_share, choice)
        schedule.enter_handshake(shared_secret)
        if self.keylog is not None:  # no call per secret without a key log
            self.log_handshake_secrets(schedule)
        self.set_write_key(schedule.server_handshake_traffic_secret)
        self.set_read_key(schedule.client_early_traffic_secret if self.early_data is not None
                          else schedule.client_handshake_traffic_secret)

        extensions = self._record_size_limit()
        if self.early_data is not None:
            extensions[ET.EARLY_DATA] = b""
        if alpn is not None:
            extensions[ET.APPLICATION_LAYER_PROTOCOL_NEGOTIATION] = ext.encode_alpn([alpn])
        if self.nconfig.server_name is not None:
            extensions[ET.SERVER_NAME] = b""
        extensions.update(self.certificate_types[2])
        self.send(EncryptedExtensions(extensions).serialize())
        # RFC 8446 4.3.2: no CertificateRequest, and 4.4.2: no Certificate, with a PSK.
        asks = choice is None and (
            config.require_peer_authentication or config.request_peer_authentication)
        if asks:
            self._send_certificate_request()
        if choice is None:
            assert scheme is not None
            if self.chain is None:  # a raw public key (RFC 7250)
                key = config.credentials()[0]
                self.send_certificate(b"", [rawkeys.spki_of(key)], self.client_compression)
                self.sign_certificate_verify(key, scheme)
            else:
                self._send_chain(scheme)
        self.send_finished(schedule.server_handshake_traffic_secret)
        self.enter_application()
        self.set_write_key(schedule.server_application_traffic_secret)
        self.state = State.WAIT_CERT if asks else State.WAIT_FINISHED
        if self.early_data is not None:
            self.state = State.WAIT_EOED

    def _accept_early_data(self, ch: ClientHello, choice: psk.PskChoice, suite: int,
                           alpn: bytes | None) -> None:
        """0-RTT: take the client's early data when :func:`earlydata.accept` says so."""
        if ET.EARLY_DATA not in ch.extensions:
            return
        accepted = self._early_answer  # the caller's, after a pause
        if accepted is None:
            accepted = earlydata.accept(self.config, choice, suite=suite, alpn=alpn,
                                        now=self.config.clock())
        if not accepted:
            return
        self.early_data = earlydata.ServerEarlyData(self.config.max_early_data)
        self.records.skip_budget = 0
        self.nconfig.early_data = "accepted"

    def on_end_of_early_data(self, body: memoryview, raw: bytes) -> None:
        """RFC 8446 4.5: the client's early data is over; its handshake key follows."""
        if body:
            raise DecodeError("EndOfEarlyData is empty")
        self.key_schedule.update(raw)
        self.set_read_key(self.key_schedule.client_handshake_traffic_secret)
        self.state = State.WAIT_FINISHED

    def _send_chain(self, scheme: int) -> None:
        """The chosen chain, its stapled OCSP response, and its CertificateVerify."""
        assert self.chain is not None
        stapled: dict[int, bytes] | None = None
        if self.ocsp_requested and self.chain.ocsp_response is not None:
            stapled = {ET.STATUS_REQUEST: ocsp.encode_certificate_status(self.chain.ocsp_response)}
        self.send_certificate(b"", self.chain.certificate_chain, self.client_compression, stapled)
        self.sign_certificate_verify(self.chain.loaded[0], scheme)

    def _send_server_hello(self, ch: ClientHello, suite: int,
                           key_share: tuple[int | None, bytes | None],
                           choice: psk.PskChoice | None) -> bytes | None:
        """Queue the ServerHello; the (EC)DHE shared secret (``None`` in psk_ke mode).

        Its extensions in RFC 8448's order: pre_shared_key, key_share, supported_versions.
        """
        config = self.config
        extensions: dict[int, bytes] = {}
        if choice is not None:
            extensions[ET.PRE_SHARED_KEY] = choice.index.to_bytes(2, "big")
        shared_secret = None
        group, client_share = key_share
        if group is not None:
            assert client_share is not None
            public, shared_secret = crypto.server_key_exchange(
                group, client_share, config.key_share_generator)
            extensions[ET.KEY_SHARE] = ext.encode_key_share_sh(group, public)
        extensions[ET.SUPPORTED_VERSIONS] = _SELECTED_TLS_1_3
        self.send(ServerHello(config.random_bytes(32), ch.legacy_session_id, suite,
                              extensions).serialize())
        if ch.legacy_session_id:
            self.send_change_cipher_spec()
        return shared_secret

    def _send_certificate_request(self) -> None:
        """signature_algorithms, certificate_authorities for a small trust store, and
        compress_certificate."""
        extensions: dict[int, bytes] = {
            ET.SIGNATURE_ALGORITHMS: ext.encode_u16_list(self.config.signature_algorithms)}
        authorities = None
        if self.config.truststore is not None and \
                self.certificate_types[1] == CertificateType.X509:
            authorities = credentials.encode_certificate_authorities(self.config.truststore)
        if authorities is not None:
            extensions[ET.CERTIFICATE_AUTHORITIES] = authorities
        if self.config.certificate_compression:  # RFC 8879: the client may compress
            extensions[ET.COMPRESS_CERTIFICATE] = ext.encode_compress_certificate(
                compression.codes(self.config.certificate_compression))
        self.send(CertificateRequest(b"", extensions).serialize())

    def _record_size_limit(self) -> dict[int, bytes]:
        """RFC 8449: honour the client's limit (protected records only, so from the
        EncryptedExtensions on); send ours in EncryptedExtensions and enforce it."""
        limit = self.client_record_size_limit
        if limit is None:
            return {}
        self.records.set_peer_record_size_limit(limit)  # a larger value means "no limit"
        self.nconfig.peer_record_size_limit = limit
        ours = self.config.record_size_limit
        if ours is None:
            return {}
        self.records.set_own_record_size_limit(ours)
        return {ET.RECORD_SIZE_LIMIT: ext.encode_record_size_limit(ours)}

    # -- client's second flight ---------------------------------------------------
    def on_certificate(self, body: memoryview, raw: bytes) -> None:
        certificate = parse_certificate(body)
        if certificate.certificate_request_context:
            raise IllegalParameter("the client's Certificate has a certificate_request_context")
        for entry in certificate.certificate_list:
            ext.check_allowed(entry.extensions, ext.CT)
            ext.check_offered(entry.extensions, set(), "Certificate")
        self.key_schedule.update(raw)
        if not certificate.certificate_list:
            if self.config.require_peer_authentication:
                raise CertificateRequired("the client sent no certificate",
                                          reason="no_certificate")
            self.state = State.WAIT_FINISHED  # optional: on without authentication
            return
        chain = tuple(entry.cert_data for entry in certificate.certificate_list)
        if self.certificate_types[1] == CertificateType.RAW_PUBLIC_KEY:
            self.accept_raw_public_key(chain)
            self.state = State.WAIT_CV
            return
        if self.config.truststore is None:
            raise UnsupportedCertificate("a client certificate, but we take raw public keys "
                                         "only", reason="certificate_type")
        path = certificates.verify_chain(self.config.truststore, chain, purpose="client",
                                         moment=self.now())
        self.nconfig.peer_chain_validator = path.validator
        self.nconfig.peer_verified_path = tuple(path)
        # path.received: equal bytes to chain, shared with the verification cache
        self.accept_peer_certificate(path.leaf, path.received, verified=True)
        self.state = State.WAIT_CV

    def on_finished(self, body: memoryview, raw: bytes) -> None:
        schedule = self.key_schedule
        self.check_finished(body, raw, schedule.client_handshake_traffic_secret)
        if self.config.num_tickets:  # only tickets use the resumption master secret
            schedule.enter_resumption()
        self.set_read_key(schedule.client_application_traffic_secret)
        self.enter_connected()
        self.tickets_due = True

    def enter_connected(self) -> None:
        super().enter_connected()
        self.first_client_hello = None  # only the handshake reads it
        if not self.pha.offered:  # then nothing forks the transcript
            self.key_schedule.forget_transcript()

    def send_session_tickets(self) -> None:
        """RFC 8446 4.6.1: the tickets, just before our first application data.

        Not right after the client's Finished: a client that closes without
        reading would leave them unread, and its TCP stack would then reset the
        connection rather than close it (see :mod:`siotls.core.tickets`).
        """
        self.tickets_due = False
        config = self.config
        count = min(1, config.num_tickets) if self.nconfig.session_resumed \
            else config.num_tickets
        if not count:
            return
        keys, now = self._ticket_keys(), config.clock()
        for number in range(count):
            message = new_session_ticket(
                config, keys, self.key_schedule, self.nconfig, ticket_nonce=bytes((number,)),
                now=now, authenticated_at=self.authenticated_at or now)
            if message is not None:
                # A record per ticket, as OpenSSL sends them: sharing one record with the
                # tickets (or with a pending CertificateRequest) trips gnutls-cli's
                # post-handshake authentication (tests/test_pha_interop.py).
                self.records.write(ContentType.HANDSHAKE, message)

    # Post-handshake authentication (RFC 8446 4.6.2): the client's answer.
    def _on_post_handshake_certificate(self, body: memoryview, raw: bytes) -> None:
        self.pha.on_certificate(self, body, raw)

    def _on_post_handshake_certificate_verify(self, body: memoryview, raw: bytes) -> None:
        self.pha.on_certificate_verify(self, body, raw)

    def _on_post_handshake_finished(self, body: memoryview, raw: bytes) -> None:
        self.pha.on_finished(self, body, raw)

    _transitions = TRANSITIONS["server"]
    _HANDLERS: ClassVar[dict[int, Handler]] = {
        HandshakeType.CLIENT_HELLO: on_client_hello,
        HandshakeType.END_OF_EARLY_DATA: on_end_of_early_data,
        HandshakeType.CERTIFICATE: on_certificate,
        HandshakeType.COMPRESSED_CERTIFICATE: Handshake.on_compressed_certificate,
        HandshakeType.CERTIFICATE_VERIFY: Handshake.on_certificate_verify,
        HandshakeType.FINISHED: on_finished,
        HandshakeType.KEY_UPDATE: Handshake.on_key_update,
    }
    _CONNECTED_HANDLERS: ClassVar[dict[int, Handler]] = {
        HandshakeType.CERTIFICATE: _on_post_handshake_certificate,
        HandshakeType.CERTIFICATE_VERIFY: _on_post_handshake_certificate_verify,
        HandshakeType.FINISHED: _on_post_handshake_finished,
    }
