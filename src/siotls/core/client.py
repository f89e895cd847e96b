"""The client side of the handshake (RFC 8446 section 4, appendix A.1).

    Client                                           Server

    ClientHello
    + key_share               -------->
                                              [HelloRetryRequest
                              <--------        + key_share + cookie]
    ClientHello
    + key_share + cookie      -------->
                                                    ServerHello
                                                    + key_share
                                          {EncryptedExtensions}
                                          {CertificateRequest*}
                                                 {Certificate}
                                           {CertificateVerify}
                              <--------             {Finished}
    {Certificate*}
    {CertificateVerify*}
    {Finished}                -------->
    [Application Data]        <------->    [Application Data]

The client key-shares its first group (X25519MLKEM768 by default) and, when
that is a post-quantum hybrid, the first classical group too (x25519, reusing
the hybrid's X25519 key); it lists the others in supported_groups, so a server
that wants another one answers with a HelloRetryRequest; this costs a round
trip only with such servers.

Given a :class:`~siotls.core.session.TLSSession` (or external PSKs), the
ClientHello ends with pre_shared_key (:mod:`siotls.core.psk`); when the server
takes one, its flight has no CertificateRequest, Certificate nor
CertificateVerify (WAIT_EE goes to WAIT_FINISHED). NewSessionTickets received
after the handshake become sessions (:attr:`ClientHandshake.session_tickets`).

With ``early_data`` and a session whose ticket allows it, the ClientHello offers
early_data and the data follows at once under the early key
(:mod:`siotls.core.earlydata`); our write key stays the early one until the
EncryptedExtensions say whether the server took it, and, when it did,
EndOfEarlyData goes out before our second flight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from siotls.core import (
    certificates,
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
    HYBRID_KEY_EXCHANGES,
    TLSConfiguration,
    TLSNegotiatedConfiguration,
)
from siotls.core.errors import (
    BadCertificateStatusResponse,
    DecodeError,
    HandshakeFailure,
    IllegalParameter,
    MissingExtension,
    ProtocolVersion,
    UnexpectedMessage,
)
from siotls.core.handshake import Handler, Handshake, KeyLog, member
from siotls.core.keyschedule import KeySchedule
from siotls.core.messages import (
    DOWNGRADE_TLS11,
    DOWNGRADE_TLS12,
    Certificate,
    ClientHello,
    ServerHello,
    parse_certificate,
    parse_certificate_request,
    parse_encrypted_extensions,
    parse_new_session_ticket,
    parse_server_hello,
)
from siotls.core.pha import ClientPostHandshakeAuth
from siotls.core.record import RecordLayer
from siotls.core.session import TLSSession
from siotls.core.state import TRANSITIONS, State
from siotls.iana import (
    CertificateType,
    CipherSuites,
    ContentType,
    HandshakeType,
    NamedGroup,
    SignatureScheme,
    TLSVersion,
)

if TYPE_CHECKING:
    from cryptography import x509

ET = ext.ET  # plain ints
#: How many NewSessionTickets a client keeps (the newest ones).
MAX_SESSION_TICKETS = 8


def key_share_groups(groups: Sequence[int]) -> list[int]:
    """The groups the first ClientHello key-shares: the first one and, when it is
    a post-quantum hybrid, the first classical group too (as Chrome, Firefox and
    OpenSSL 3.5 do), so a server without the hybrid needs no HelloRetryRequest."""
    first = groups[0]
    if first not in HYBRID_KEY_EXCHANGES:
        return [first]
    classical = next((g for g in groups if g not in HYBRID_KEY_EXCHANGES), None)
    return [first] if classical is None else [first, classical]


class ClientHandshake(Handshake):
    side = "client"
    __slots__ = (
        "certificate_request_authorities", "certificate_request_compression",
        "certificate_request_context", "certificate_request_schemes", "certificate_types",
        "client_hello", "client_hello_raw", "early", "hello_retry_suite", "key_shares",
        "legacy_session_id", "pha", "psk_offers", "psk_selected", "server_hostname", "session",
        "session_tickets")

    def __init__(self, config: TLSConfiguration, records: RecordLayer,
                 nconfig: TLSNegotiatedConfiguration, keylog: KeyLog | None,
                 server_hostname: str | None, *, session: TLSSession | None = None,
                 early_data: bytes | None = None) -> None:
        super().__init__(config, records, nconfig, keylog)
        self.server_hostname = server_hostname
        self.session = session
        self.session_tickets: list[TLSSession] = []
        # Empty tuples, shared: an idle connection keeps no empty list of its own.
        self.psk_offers: Sequence[psk.PskOffer] = ()
        self.psk_selected: psk.PskOffer | None = None
        #: the 0-RTT data to send, when the caller gave some (``early_data=``)
        self.early = None if early_data is None else earlydata.ClientEarlyData(early_data)
        self.pha = ClientPostHandshakeAuth()
        self.legacy_session_id = b""
        self.client_hello: ClientHello | None = None
        self.client_hello_raw = b""
        self.key_shares: dict[int, tuple[crypto.KeySharePrivate, bytes]] = {}
        self.hello_retry_suite: int | None = None
        self.certificate_request_context: bytes | None = None
        self.certificate_request_schemes: Sequence[int] = ()
        self.certificate_request_compression: Sequence[int] = ()
        self.certificate_request_authorities: list[bytes] | None = None
        #: (server type, client type) the server chose (RFC 7250)
        self.certificate_types: tuple[int, int] = (CertificateType.X509, CertificateType.X509)

    # -- ClientHello ------------------------------------------------------------
    def initiate(self) -> None:
        self.client_random = self.config.random_bytes(32)
        if self.config.middlebox_compatibility:
            self.legacy_session_id = self.config.random_bytes(32)
        self.key_shares = crypto.generate_key_shares(
            key_share_groups(self.config.key_exchanges), self.config.key_share_generator)
        self.psk_offers = psk.client_offers(
            self.config, self.server_hostname, self.session, self.config.clock())
        self.records.first_record_version = 0x0301  # RFC 8446 5.1: for compatibility
        if self.early is not None:
            self.early.offer(self.session, bool(self.psk_offers)
                             and self.psk_offers[0].session is self.session)
        self._send_client_hello(cookie=None)
        if self.early is not None and self.early.offered:
            self._send_early_data()
        self.state = State.WAIT_SH

    def _send_early_data(self) -> None:
        """0-RTT: the early key from the session's PSK over the ClientHello, then the data
        (after the dummy change_cipher_spec, RFC 8446 D.4)."""
        assert self.early is not None and self.session is not None
        schedule = KeySchedule(crypto.CIPHER_SUITES[self.session.cipher_suite])
        schedule.use_psk(self.psk_offers[0].psk)
        schedule.update(self.client_hello_raw)
        schedule.enter_early()
        if self.keylog is not None:  # no call per secret without a key log
            self.log_key("CLIENT_EARLY_TRAFFIC_SECRET", schedule.client_early_traffic_secret)
        self.send_change_cipher_spec()
        self.records.set_write_key(schedule.suite, schedule.client_early_traffic_secret)
        if self.early.data:
            self.records.write(ContentType.APPLICATION_DATA, bytes(self.early.data))

    def _send_client_hello(self, cookie: bytes | None) -> None:
        config = self.config
        # server_name, supported_groups .. supported_versions, key_share, then
        # psk_key_exchange_modes .. compress_certificate: encoded once per configuration
        template = prepared.client_hello(config)
        extensions = {
            **template.front(self.server_hostname),
            ET.KEY_SHARE: ext.encode_key_share_ch([
                (group, public) for group, (_, public) in self.key_shares.items()]),
            **template.tail,
        }
        extensions.update(self.pha.extensions(self))
        extensions.update(rawkeys.client_offer(config))
        if cookie is not None:
            extensions[ET.COOKIE] = ext.encode_cookie(cookie)
        if self.early is not None and self.early.offered and self.hello_retry_suite is None:
            extensions[ET.EARLY_DATA] = b""  # not in a second ClientHello (4.2.10)
        self.client_hello = ClientHello(
            self.client_random, self.legacy_session_id, list(config.cipher_suites), extensions)
        if self.psk_offers:  # pre_shared_key, last (RFC 8446 4.2.11)
            self.client_hello_raw = psk.write_client_hello(
                self.client_hello, self.psk_offers, self._binder_transcript)
            self.client_hello = replace(self.client_hello, extensions={
                **extensions, ET.PRE_SHARED_KEY: b""})
        else:
            self.client_hello_raw = self.client_hello.serialize()
        self.send(self.client_hello_raw)

    def _binder_transcript(self, offer: psk.PskOffer, truncated: bytes) -> bytes:
        """What a binder covers: after a HelloRetryRequest, the exchange so far too."""
        if self.schedule is not None:
            return self.schedule.transcript_hash_with(truncated)
        return psk.hash_of(offer.suite, truncated)

    # -- ServerHello / HelloRetryRequest ---------------------------------------
    def on_server_hello(self, body: memoryview, raw: bytes) -> None:
        sh = parse_server_hello(body)
        assert self.client_hello is not None
        offered = self.client_hello.extensions
        if ET.SUPPORTED_VERSIONS not in sh.extensions:
            if sh.random[-8:] in (DOWNGRADE_TLS12, DOWNGRADE_TLS11):
                raise IllegalParameter("the server signals a downgrade to TLS 1.2 or older")
            raise ProtocolVersion("the server does not speak TLS 1.3")
        version = ext.decode_u16(sh.extensions[ET.SUPPORTED_VERSIONS], "supported_versions")
        if version != TLSVersion.TLS_1_3 or sh.legacy_version != TLSVersion.TLS_1_2:
            raise IllegalParameter(f"the server selected version {version:#06x}")
        if sh.legacy_session_id_echo != self.legacy_session_id:
            raise IllegalParameter("legacy_session_id_echo differs from our legacy_session_id")
        if sh.cipher_suite not in self.config.cipher_suites:
            raise IllegalParameter(f"the server selected cipher suite {sh.cipher_suite:#06x}")
        if sh.legacy_compression_method != 0:
            raise IllegalParameter("legacy_compression_method is not 0")
        if sh.is_hello_retry_request:
            ext.check_allowed(sh.extensions, ext.HRR)
            ext.check_offered(sh.extensions, offered, "HelloRetryRequest")
            self._on_hello_retry_request(sh, raw)
            return
        ext.check_allowed(sh.extensions, ext.SH)
        ext.check_offered(sh.extensions, offered, "ServerHello")
        if self.hello_retry_suite is not None and sh.cipher_suite != self.hello_retry_suite:
            raise IllegalParameter("the ServerHello changes the HelloRetryRequest's cipher suite")
        self._check_psk_selection(sh)
        shared_secret = None
        if ET.KEY_SHARE in sh.extensions:
            group, share = ext.decode_key_share_sh(sh.extensions[ET.KEY_SHARE])
            if group not in self.key_shares:
                raise IllegalParameter(f"the server key-shares group {group}, which we did not")
            shared_secret = crypto.key_exchange(group, self.key_shares[group][0], share)
            self.nconfig.key_exchange = member(NamedGroup, group)
        elif self.psk_selected is None:
            raise MissingExtension("the ServerHello has no key_share")
        self.key_shares.clear()
        if self.schedule is None:
            self.schedule = KeySchedule(crypto.CIPHER_SUITES[sh.cipher_suite])
            self.schedule.update(self.client_hello_raw)
        schedule = self.schedule
        if self.psk_selected is not None:
            schedule.use_psk(self.psk_selected.psk)
            if self.psk_selected is self.psk_offers[0] and not self.nconfig.hello_retry_request:
                self._enter_early(schedule)
        schedule.update(raw)
        schedule.enter_handshake(shared_secret)
        self.nconfig.cipher_suite = member(CipherSuites, sh.cipher_suite)
        if self.keylog is not None:  # no call per secret without a key log
            self.log_handshake_secrets(schedule)
        self.set_read_key(schedule.server_handshake_traffic_secret)
        if self.early is None or not self.early.offered:  # else: after EncryptedExtensions
            self.set_write_key(schedule.client_handshake_traffic_secret)
        self.state = State.WAIT_EE

    def _check_psk_selection(self, sh: ServerHello) -> None:
        """Which of our PSKs the server took, if any (RFC 8446 4.2.11)."""
        if ET.PRE_SHARED_KEY not in sh.extensions:
            if self.psk_offers and self.config.truststore is None and self.config.external_psks:
                raise HandshakeFailure("the server takes none of our PSKs, and we have no "
                                       "truststore to authenticate it otherwise")
            return
        selected = ext.decode_u16(sh.extensions[ET.PRE_SHARED_KEY], "pre_shared_key")
        offer = psk.check_selected(self.psk_offers, selected, sh.cipher_suite,
                                   ET.KEY_SHARE in sh.extensions,
                                   self.config.psk_key_exchange_modes)
        self.psk_selected = offer
        if offer.session is not None:
            self.nconfig.session_resumed = True
            self.nconfig.peer_certificate_chain = offer.session.peer_certificate_chain
            self.nconfig.peer_verified = offer.session.peer_verified
        else:
            self.nconfig.psk_identity = offer.identity

    def _on_hello_retry_request(self, hrr: ServerHello, raw: bytes) -> None:
        if self.hello_retry_suite is not None:
            raise UnexpectedMessage("a second HelloRetryRequest")
        cookie = None
        if ET.COOKIE in hrr.extensions:
            cookie = ext.decode_cookie(hrr.extensions[ET.COOKIE])
        if ET.KEY_SHARE in hrr.extensions:
            group = ext.decode_u16(hrr.extensions[ET.KEY_SHARE], "key_share")
            if group not in self.config.key_exchanges or group in self.key_shares:
                raise IllegalParameter(f"the HelloRetryRequest asks for group {group}")
            self.key_shares = {group: self.config.key_share_generator(group)}
        elif cookie is None:
            raise IllegalParameter("the HelloRetryRequest would not change the ClientHello")
        self.hello_retry_suite = hrr.cipher_suite
        self.nconfig.hello_retry_request = True
        self.schedule = KeySchedule(crypto.CIPHER_SUITES[hrr.cipher_suite])
        self.schedule.update(self.client_hello_raw)
        self.schedule.restart_after_hello_retry()
        self.schedule.update(raw)
        self.psk_offers = psk.keep_offers_for_suite(self.psk_offers, hrr.cipher_suite)
        if self.early is not None and self.early.offered:  # 0-RTT is over: rejected
            self.records.clear_write_key()
            self.early.offered = False
            self.early.status = self.nconfig.early_data = "rejected"
        self.send_change_cipher_spec()
        self._send_client_hello(cookie)

    # -- server's encrypted flight ----------------------------------------------
    def on_encrypted_extensions(self, body: memoryview, raw: bytes) -> None:
        ee = parse_encrypted_extensions(body)
        assert self.client_hello is not None
        ext.check_allowed(ee.extensions, ext.EE)
        if ET.RECORD_SIZE_LIMIT in ee.extensions and ET.MAX_FRAGMENT_LENGTH in ee.extensions:
            raise IllegalParameter("both record_size_limit and max_fragment_length (RFC 8449 5)",
                                   reason="record_size_limit")
        ext.check_offered(ee.extensions, self.client_hello.extensions, "EncryptedExtensions")
        if ET.SERVER_NAME in ee.extensions:
            ext.decode_empty(ee.extensions[ET.SERVER_NAME], "server_name")
            self.nconfig.server_name = self.server_hostname
        alpn = ee.extensions.get(ET.APPLICATION_LAYER_PROTOCOL_NEGOTIATION)
        if alpn is not None:
            protocols = ext.decode_alpn(alpn)
            if len(protocols) != 1 or protocols[0] not in (self.config.alpn or ()):
                raise IllegalParameter(f"the server selected ALPN {protocols}, never offered")
            self.nconfig.alpn = protocols[0]
        if ET.RECORD_SIZE_LIMIT in ee.extensions:
            self._on_record_size_limit(ee.extensions[ET.RECORD_SIZE_LIMIT])
        self.certificate_types = rawkeys.client_check(self.config, ee.extensions)
        self.client_certificate_type = self.certificate_types[1]
        if ET.SUPPORTED_GROUPS in ee.extensions:  # the server's preference, for next time
            ext.decode_supported_groups(ee.extensions[ET.SUPPORTED_GROUPS])
        self._on_early_data_answer(ee.extensions.get(ET.EARLY_DATA))
        self.key_schedule.update(raw)
        # RFC 8446 4.4.2: a PSK handshake goes straight to the Finished.
        self.state = State.WAIT_CERT_CR if self.psk_selected is None else State.WAIT_FINISHED

    def _on_early_data_answer(self, answer: bytes | None) -> None:
        """RFC 8446 4.2.10: EncryptedExtensions tells whether the server took our 0-RTT."""
        early = self.early
        if early is None or not early.offered:
            return  # check_offered refused an early_data we did not offer
        if answer is not None:
            ext.decode_empty(answer, "early_data")
            if self.psk_selected is None or self.psk_selected is not self.psk_offers[0] \
                    or self.nconfig.hello_retry_request:
                raise IllegalParameter("early_data accepted without our first PSK",
                                       reason="early_data")
            assert self.session is not None
            if self.nconfig.cipher_suite != self.session.cipher_suite \
                    or self.nconfig.alpn != self.session.alpn:
                raise IllegalParameter("early_data accepted with another cipher suite or ALPN",
                                       reason="early_data")
            early.status = "accepted"
        else:
            early.status = "rejected"
            self.set_write_key(self.key_schedule.client_handshake_traffic_secret)
        self.nconfig.early_data = early.status

    def _on_record_size_limit(self, data: bytes) -> None:
        """RFC 8449: the server's limit bounds our protected records from now on,
        and since it understood ours, we enforce ours on its records."""
        limit = ext.decode_record_size_limit(data)
        if limit > ext.MAX_RECORD_SIZE_LIMIT:
            raise IllegalParameter(f"a record_size_limit of {limit} in TLS 1.3",
                                   reason="record_size_limit")
        self.records.set_peer_record_size_limit(limit)
        self.nconfig.peer_record_size_limit = limit
        if self.config.record_size_limit is not None:
            self.records.set_own_record_size_limit(self.config.record_size_limit)

    def on_certificate_request(self, body: memoryview, raw: bytes) -> None:
        cr = parse_certificate_request(body)
        ext.check_allowed(cr.extensions, ext.CR)
        if cr.certificate_request_context:
            raise IllegalParameter("a handshake CertificateRequest with a context")
        if ET.SIGNATURE_ALGORITHMS not in cr.extensions:
            raise MissingExtension("the CertificateRequest has no signature_algorithms")
        self.certificate_request_schemes = ext.decode_signature_algorithms(
            cr.extensions[ET.SIGNATURE_ALGORITHMS])
        if ET.CERTIFICATE_AUTHORITIES in cr.extensions:
            self.certificate_request_authorities = credentials.decode_certificate_authorities(
                cr.extensions[ET.CERTIFICATE_AUTHORITIES])
        self.certificate_request_context = cr.certificate_request_context
        if ET.COMPRESS_CERTIFICATE in cr.extensions:
            self.certificate_request_compression = ext.decode_compress_certificate(
                cr.extensions[ET.COMPRESS_CERTIFICATE])
        self.key_schedule.update(raw)
        self.state = State.WAIT_CERT

    def on_certificate(self, body: memoryview, raw: bytes) -> None:
        certificate = parse_certificate(body)
        if certificate.certificate_request_context:
            raise IllegalParameter("the server's Certificate has a certificate_request_context")
        if not certificate.certificate_list:
            raise DecodeError("the server sent no certificate", reason="empty_chain")
        assert self.client_hello is not None
        for entry in certificate.certificate_list:
            ext.check_allowed(entry.extensions, ext.CT)
            ext.check_offered(entry.extensions, self.client_hello.extensions, "Certificate")
        chain = tuple(entry.cert_data for entry in certificate.certificate_list)
        if self.certificate_types[0] == CertificateType.RAW_PUBLIC_KEY:
            self.accept_raw_public_key(chain)
            self.key_schedule.update(raw)
            self.state = State.WAIT_CV
            return
        truststore = self.config.truststore
        if truststore is not None:
            name = self.server_hostname if self.config.check_hostname else None
            path = certificates.verify_chain(truststore, chain, server_name=name,
                                             moment=self.now())
            leaf, chain = path.leaf, path.received  # equal bytes, shared with the cache
            self.nconfig.peer_chain_validator = path.validator
            self.nconfig.peer_verified_path = tuple(path)
            issued_by = path.certificates
        else:
            leaf = certificates.load_certificate(chain[0])
            issued_by = (leaf,)
        stapled = certificate.certificate_list[0].extensions.get(ET.STATUS_REQUEST)
        self._on_stapled_response(stapled, issued_by, chain)
        self.accept_peer_certificate(leaf, chain, verified=truststore is not None)
        self.key_schedule.update(raw)
        self.state = State.WAIT_CV

    def _on_stapled_response(self, stapled: bytes | None, path: tuple[x509.Certificate, ...],
                             chain: tuple[bytes, ...]) -> None:
        """Keep (and with ``ocsp_stapling`` check or require) the leaf's OCSP response.

        ``path`` is the verified path, or the leaf alone when nothing was verified.
        """
        mode = self.config.ocsp_stapling
        if stapled is None:
            if mode == "require":
                raise BadCertificateStatusResponse(
                    "the server stapled no OCSP response", reason="no_ocsp_response")
            return
        response = ocsp.decode_certificate_status(stapled)
        self.nconfig.peer_ocsp_response = response
        issuer = path[1] if len(path) > 1 else path[0]
        if len(path) == 1 and len(chain) > 1:  # not verified: the next one, presumably
            issuer = certificates.load_certificate(chain[1])
        self.nconfig.peer_ocsp_status = ocsp.leaf_status(response, path[0], issuer)
        if mode in ("check", "require"):
            ocsp.check_response(response, path, self.now())

    def on_finished(self, body: memoryview, raw: bytes) -> None:
        schedule = self.key_schedule
        self.check_finished(body, raw, schedule.server_handshake_traffic_secret)
        self.enter_application()
        self.set_read_key(schedule.server_application_traffic_secret)
        if self.early is not None and self.early.status == "accepted":
            self.send(earlydata.END_OF_EARLY_DATA)  # under the early key (RFC 8446 4.5)
            self.set_write_key(schedule.client_handshake_traffic_secret)
        # Our second flight, under the client handshake key.
        self.send_change_cipher_spec()
        if self.certificate_request_context is not None:
            self._send_client_certificate()
        self.send_finished(schedule.client_handshake_traffic_secret)
        schedule.enter_resumption()
        self.set_write_key(schedule.client_application_traffic_secret)
        self.enter_connected()

    def enter_connected(self) -> None:
        super().enter_connected()
        # Only the handshake reads them; the server sends no CertificateVerify after it.
        self.client_hello = None
        self.client_hello_raw = b""
        self.legacy_session_id = b""  # compared with the ServerHello's echo only
        self.key_shares = {}
        self.psk_offers = ()
        self.peer_public_key = None
        if not self.pha.offered:  # then nothing forks the transcript
            self.key_schedule.forget_transcript()

    def _send_client_certificate(self) -> None:
        config = self.config
        context = self.certificate_request_context or b""
        if self.certificate_types[1] == CertificateType.RAW_PUBLIC_KEY:
            self._send_raw_public_key(context)
            return
        chosen = credentials.select_client_chain(
            prepared.certificate_chains(config), config.signature_algorithms,
            requested=self.certificate_request_schemes,
            authorities=self.certificate_request_authorities)
        if chosen is None:
            # No certificate, or none the server accepts: an empty Certificate.
            self.send(Certificate(context, []).serialize())
            return
        chain, scheme = chosen
        self.send_certificate(context, chain.certificate_chain,
                              self.certificate_request_compression)
        self.sign_certificate_verify(chain.loaded[0], scheme)
        self.nconfig.signature_algorithm = member(SignatureScheme, scheme)

    def _send_raw_public_key(self, context: bytes) -> None:
        """RFC 7250: our default key's SubjectPublicKeyInfo, when it can sign for them."""
        scheme = rawkeys.raw_key_scheme(self.config, self.certificate_request_schemes)
        if scheme is None:
            self.send(Certificate(context, []).serialize())
            return
        key = self.config.credentials()[0]
        self.send_certificate(context, [rawkeys.spki_of(key)],
                              self.certificate_request_compression)
        self.sign_certificate_verify(key, scheme)
        self.nconfig.signature_algorithm = member(SignatureScheme, scheme)

    # -- after the handshake ----------------------------------------------------
    def on_new_session_ticket(self, body: memoryview, raw: bytes) -> None:
        nst = parse_new_session_ticket(body)
        ext.check_allowed(nst.extensions, ext.NST)
        max_early_data = 0
        if ET.EARLY_DATA in nst.extensions:
            max_early_data = ext.decode_early_data_nst(nst.extensions[ET.EARLY_DATA])
        if not nst.ticket_lifetime:  # RFC 8446 4.6.1: discard it at once
            return
        schedule = self.key_schedule
        nconfig = self.nconfig
        assert nconfig.cipher_suite is not None
        self.session_tickets.append(TLSSession(
            nconfig.cipher_suite, schedule.resumption_psk(nst.ticket_nonce), nst.ticket,
            nst.ticket_lifetime, nst.ticket_age_add, max_early_data, self.config.clock(),
            self.server_hostname, nconfig.alpn, nconfig.peer_verified,
            nconfig.peer_certificate_chain))
        del self.session_tickets[:-MAX_SESSION_TICKETS]

    def _on_post_handshake_certificate_request(self, body: memoryview, raw: bytes) -> None:
        self.pha.on_certificate_request(self, body, raw)

    _transitions = TRANSITIONS["client"]
    _HANDLERS: ClassVar[dict[int, Handler]] = {
        HandshakeType.SERVER_HELLO: on_server_hello,
        HandshakeType.ENCRYPTED_EXTENSIONS: on_encrypted_extensions,
        HandshakeType.CERTIFICATE_REQUEST: on_certificate_request,
        HandshakeType.CERTIFICATE: on_certificate,
        HandshakeType.COMPRESSED_CERTIFICATE: Handshake.on_compressed_certificate,
        HandshakeType.CERTIFICATE_VERIFY: Handshake.on_certificate_verify,
        HandshakeType.FINISHED: on_finished,
        HandshakeType.NEW_SESSION_TICKET: on_new_session_ticket,
        HandshakeType.KEY_UPDATE: Handshake.on_key_update,
    }
    _CONNECTED_HANDLERS: ClassVar[dict[int, Handler]] = {
        HandshakeType.CERTIFICATE_REQUEST: _on_post_handshake_certificate_request,
    }
