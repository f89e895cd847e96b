"""Post-handshake client authentication (RFC 8446 sections 4.6.2, 4.4 and 4.2.6).

    Client                                           Server
    ClientHello + post_handshake_auth  -------->
          ... the handshake, application data ...
                                       <--------  [CertificateRequest]
    [Certificate]
    [CertificateVerify*]
    [Finished]                         -------->
    [Application Data]                 <------->  [Application Data]

Theory of operation
-------------------
A client configured with ``post_handshake_auth=True`` (and a certificate) sends
the empty post_handshake_auth extension; only then may the server send a
CertificateRequest after the handshake, and the client answers it at once
with Certificate, CertificateVerify (when it has a chain that fits) and
Finished. A CertificateRequest to a client that did not offer is
``unexpected_message``.

The server asks with :meth:`ServerPostHandshakeAuth.request`
(``TLSConnection.request_client_certificate()``): a CertificateRequest with a
fresh random certificate_request_context, our signature_algorithms and the
trust store's certificate_authorities; one request at a time. It then expects,
in order, the Certificate with that context, a CertificateVerify when the
chain is not empty, and the Finished; any other handshake message in between
is ``unexpected_message`` (KeyUpdate stays allowed), application data flows
both ways all along. A verified chain replaces ``nconfig.peer_certificate_chain``
(and the verified path) once the Finished checks out; an empty Certificate
leaves them as they were and the application decides.

Each exchange has its own transcript: the handshake's (through the client
Finished) forked, then the CertificateRequest, Certificate and
CertificateVerify of this exchange (RFC 8446 section 4.4). The Finished's base
key is the current client_application_traffic_secret_N. When the handshake
negotiated raw public keys for the client (RFC 7250), the answer is the raw key
and the server checks it against its ``peer_public_keys``. The messages travel
under the application traffic keys, as KeyUpdate does.

    struct {
        opaque certificate_request_context<0..2^8-1>;
        Extension extensions<2..2^16-1>;
    } CertificateRequest;

    struct {} PostHandshakeAuth;
"""

from __future__ import annotations

import enum
import hmac
from typing import TYPE_CHECKING

from siotls.core import certificates, credentials, crypto, rawkeys
from siotls.core import extensions as ext
from siotls.core.errors import (
    BadCertificate,
    DecryptError,
    IllegalParameter,
    MissingExtension,
    TLSUsageError,
    UnexpectedMessage,
)
from siotls.core.keyschedule import finished_verify_data
from siotls.core.messages import (
    Certificate,
    CertificateEntry,
    CertificateRequest,
    Finished,
    parse_certificate,
    parse_certificate_request,
    parse_finished,
)
from siotls.iana import CertificateType, SignatureScheme
from siotls.iana import ExtensionType as ET

if TYPE_CHECKING:
    from cryptography.hazmat.primitives import hashes

    from siotls.core.certificates import VerifiedPath
    from siotls.core.handshake import Handshake
    from siotls.core.keyschedule import KeySchedule

__all__ = ["CONTEXT_LENGTH", "ClientPostHandshakeAuth", "ServerPostHandshakeAuth"]

#: Bytes of a server's certificate_request_context.
CONTEXT_LENGTH = 16


class _Exchange:
    """The transcript of one post-handshake authentication."""

    __slots__ = ("_transcript", "context", "schedule")

    def __init__(self, schedule: KeySchedule, context: bytes) -> None:
        self.schedule = schedule
        self.context = context
        self._transcript: hashes.HashContext = schedule.fork_transcript()

    def update(self, message: bytes) -> None:
        self._transcript.update(message)

    def transcript_hash(self) -> bytes:
        return self._transcript.copy().finalize()

    def finished(self) -> bytes:
        """verify_data with client_application_traffic_secret_N, over this exchange."""
        schedule = self.schedule
        return finished_verify_data(schedule.suite, schedule.client_application_traffic_secret,
                                    self.transcript_hash())


class ClientPostHandshakeAuth:
    """The client's side: offer, then answer each CertificateRequest.

    It keeps no reference to its handshake (each call is given it): no cycle keeps
    a connection alive once dropped."""

    __slots__ = ("answered", "offered")

    def __init__(self) -> None:
        self.offered = False
        self.answered = 0

    def extensions(self, handshake: Handshake) -> dict[int, bytes]:
        """What the ClientHello carries (RFC 8446 section 4.2.6)."""
        config = handshake.config
        self.offered = config.post_handshake_auth
        return {ET.POST_HANDSHAKE_AUTH: b""} if self.offered else {}

    def on_certificate_request(self, handshake: Handshake, body: memoryview, raw: bytes
                               ) -> None:
        if not self.offered:
            raise UnexpectedMessage("a post-handshake CertificateRequest, but we did not "
                                    "offer post_handshake_auth")
        cr = parse_certificate_request(body)
        ext.check_allowed(cr.extensions, ext.CR)
        if ET.SIGNATURE_ALGORITHMS not in cr.extensions:
            raise MissingExtension("the CertificateRequest has no signature_algorithms")
        schemes = ext.decode_signature_algorithms(cr.extensions[ET.SIGNATURE_ALGORITHMS])
        authorities = None
        if ET.CERTIFICATE_AUTHORITIES in cr.extensions:
            authorities = credentials.decode_certificate_authorities(
                cr.extensions[ET.CERTIFICATE_AUTHORITIES])
        if not handshake.sending_open():  # answers are dropped once our end is closed
            return
        exchange = _Exchange(handshake.key_schedule, bytes(cr.certificate_request_context))
        exchange.update(raw)
        self._answer(handshake, exchange, schemes=schemes, authorities=authorities)

    @staticmethod
    def _credentials(handshake: Handshake, schemes: list[int], authorities: list[bytes] | None
                     ) -> tuple[list[bytes], crypto.PrivateKey | None, int]:
        """What we answer with: (certificates or raw key, private key, scheme), or nothing."""
        config = handshake.config
        if handshake.client_certificate_type == CertificateType.RAW_PUBLIC_KEY:
            scheme = rawkeys.raw_key_scheme(config, schemes)
            if scheme is None:
                return [], None, 0
            key = config.credentials()[0]
            return [rawkeys.spki_of(key)], key, scheme
        chosen = credentials.select_client_chain(
            config.all_certificate_chains, config.signature_algorithms,
            requested=schemes, authorities=authorities)
        if chosen is None:
            return [], None, 0
        return list(chosen[0].certificate_chain), chosen[0].loaded[0], chosen[1]

    def _answer(self, handshake: Handshake, exchange: _Exchange, *, schemes: list[int],
                authorities: list[bytes] | None) -> None:
        entries, key, scheme = self._credentials(handshake, schemes, authorities)
        messages = [Certificate(exchange.context, [
            CertificateEntry(data) for data in entries]).serialize()]
        exchange.update(messages[0])
        if key is not None:
            messages.append(handshake.certificate_verify(
                key, scheme, exchange.transcript_hash()))
            exchange.update(messages[-1])
            handshake.nconfig.signature_algorithm = SignatureScheme(scheme)
        messages.append(Finished(exchange.finished()).serialize())
        for message in messages:
            handshake.records.write_handshake(message)
        self.answered += 1


class _Step(enum.Enum):
    IDLE = "idle"
    CERTIFICATE = "certificate"
    CERTIFICATE_VERIFY = "certificate_verify"
    FINISHED = "finished"


class ServerPostHandshakeAuth:
    """The server's side: request, then take the Certificate, CertificateVerify, Finished.

    Like the client's, given its handshake by each call (no reference kept)."""

    __slots__ = ("_chain", "_exchange", "_path", "_step", "offered")

    def __init__(self) -> None:
        #: the client sent post_handshake_auth in its ClientHello
        self.offered = False
        self._step = _Step.IDLE
        self._exchange: _Exchange | None = None
        self._chain: tuple[bytes, ...] = ()
        self._path: VerifiedPath | None = None

    @property
    def pending(self) -> bool:
        """A request was sent and its Finished has not come yet."""
        return self._step is not _Step.IDLE

    def on_client_hello(self, handshake: Handshake, extensions: dict[int, bytes]) -> None:
        if ET.POST_HANDSHAKE_AUTH in extensions:
            ext.decode_empty(extensions[ET.POST_HANDSHAKE_AUTH], "post_handshake_auth")
            self.offered = True
        handshake.nconfig.post_handshake_auth = self.offered

    def request(self, handshake: Handshake) -> None:
        """Send a CertificateRequest (see the module doc for the conditions)."""
        config = handshake.config
        if not self.offered:
            raise TLSUsageError("the client did not offer post_handshake_auth")
        raw = handshake.client_certificate_type == CertificateType.RAW_PUBLIC_KEY
        if config.truststore is None and not raw:
            raise TLSUsageError("request_client_certificate() needs a truststore in the "
                                "configuration, to verify the certificate")
        if self.pending:
            raise TLSUsageError("a client certificate request is already pending")
        extensions: dict[int, bytes] = {
            ET.SIGNATURE_ALGORITHMS: ext.encode_u16_list(config.signature_algorithms)}
        authorities = None if config.truststore is None or raw else \
            credentials.encode_certificate_authorities(config.truststore)
        if authorities is not None:
            extensions[ET.CERTIFICATE_AUTHORITIES] = authorities
        context = config.random_bytes(CONTEXT_LENGTH)
        message = CertificateRequest(context, extensions).serialize()
        self._exchange = _Exchange(handshake.key_schedule, context)
        self._exchange.update(message)
        handshake.records.write_handshake(message)
        self._step = _Step.CERTIFICATE

    def _expect(self, step: _Step, what: str) -> _Exchange:
        if self._step is not step or self._exchange is None:
            raise UnexpectedMessage(f"a post-handshake {what} that was not asked for")
        return self._exchange

    def on_certificate(self, handshake: Handshake, body: memoryview, raw: bytes) -> None:
        exchange = self._expect(_Step.CERTIFICATE, "Certificate")
        certificate = parse_certificate(body)
        if not hmac.compare_digest(certificate.certificate_request_context, exchange.context):
            raise IllegalParameter("the Certificate's certificate_request_context is not ours")
        for entry in certificate.certificate_list:
            ext.check_allowed(entry.extensions, ext.CT)
            ext.check_offered(entry.extensions, set(), "Certificate")
        exchange.update(raw)
        if not certificate.certificate_list:
            self._chain, self._path = (), None
            self._step = _Step.FINISHED
            return
        chain = tuple(entry.cert_data for entry in certificate.certificate_list)
        # The new key checks this CertificateVerify (and any later one).
        if handshake.client_certificate_type == CertificateType.RAW_PUBLIC_KEY:  # RFC 7250
            if len(chain) != 1:
                raise BadCertificate("a raw public key Certificate holds one entry",
                                     reason="malformed")
            handshake.peer_public_key, handshake.peer_key_kind = rawkeys.accept_public_key(
                chain[0], handshake.config.peer_public_keys)
        else:
            assert handshake.config.truststore is not None
            self._path = certificates.verify_chain(handshake.config.truststore, chain,
                                                   purpose="client", moment=handshake.now())
            handshake.peer_public_key, handshake.peer_key_kind = crypto.certificate_public_key(
                self._path.leaf)
        self._chain = chain
        self._step = _Step.CERTIFICATE_VERIFY

    def on_certificate_verify(self, handshake: Handshake, body: memoryview, raw: bytes
                              ) -> None:
        exchange = self._expect(_Step.CERTIFICATE_VERIFY, "CertificateVerify")
        handshake.check_certificate_verify(body, raw, exchange.transcript_hash())
        exchange.update(raw)
        self._step = _Step.FINISHED

    def on_finished(self, handshake: Handshake, body: memoryview, raw: bytes) -> None:
        exchange = self._expect(_Step.FINISHED, "Finished")
        finished = parse_finished(body, handshake.key_schedule.suite.hash_length)
        if not hmac.compare_digest(finished.verify_data, exchange.finished()):
            raise DecryptError("the post-handshake Finished verify_data is wrong")
        if self._path is not None:
            handshake.nconfig.peer_chain_validator = self._path.validator
            handshake.nconfig.peer_verified_path = tuple(self._path)
            handshake.accept_peer_certificate(self._path.leaf, self._chain, verified=True)
        elif self._chain:  # a raw public key, checked on arrival
            handshake.accept_raw_public_key(self._chain)
        handshake.nconfig.post_handshake_authentications += 1
        self._step, self._exchange, self._chain, self._path = _Step.IDLE, None, (), None

