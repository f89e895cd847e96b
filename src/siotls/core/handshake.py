"""What the client and server handshakes share: dispatch through the state
table, the transcript, CertificateVerify, Finished and the post-handshake
messages (KeyUpdate), and certificate compression (RFC 8879, through
:mod:`siotls.core.compression`). :mod:`siotls.core.client` and
:mod:`siotls.core.server` hold the side-specific handlers.

A handshake object owns the key schedule and talks to the record layer
directly (it installs keys and queues messages); it never sees raw records,
and the connection never sees handshake messages. Handlers receive a whole
handshake message: ``body`` (after the 4-byte header) and ``raw`` (with it,
for the transcript).
"""

from __future__ import annotations

import datetime
import enum
import hmac
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal, TypeVar

from siotls.core import compression, crypto, prepared, provider, rawkeys
from siotls.core.config import TLSConfiguration, TLSNegotiatedConfiguration
from siotls.core.errors import (
    BadCertificate,
    DecryptError,
    IllegalParameter,
    InternalError,
    UnexpectedMessage,
)
from siotls.core.keyschedule import KeySchedule, next_traffic_secret
from siotls.core.lifecycle import Lifecycle, Sending
from siotls.core.messages import (
    Certificate,
    CertificateEntry,
    CertificateVerify,
    CompressedCertificate,
    Finished,
    KeyUpdate,
    parse_certificate_verify,
    parse_compressed_certificate,
    parse_finished,
    parse_key_update,
)
from siotls.core.record import MAX_CERTIFICATE_LENGTH, RecordLayer
from siotls.core.state import State
from siotls.iana import ContentType, HandshakeType, SignatureScheme

#: A message handler, unbound: ``handler(handshake, body, raw)``.
Handler = Callable[[Any, memoryview, bytes], None]
#: Where key-log lines go (``TLSConfiguration.log_key``), or None: no key logging.
KeyLog = Callable[[str], None]

_CV_PADDING = b"\x20" * 64
_CONNECTED = State.CONNECTED
CV_CONTEXT = {
    "server": b"TLS 1.3, server CertificateVerify",
    "client": b"TLS 1.3, client CertificateVerify",
}


_E = TypeVar("_E", bound=enum.Enum)


def member(enum_class: type[_E], value: int) -> _E:
    """``enum_class(value)``, for the negotiated values a connection reports: a dict
    lookup (calling an Enum class runs two Python frames)."""
    found = enum_class._value2member_map_.get(value)
    return found if found is not None else enum_class(value)  # type: ignore[return-value]


def certificate_verify_content(side: str, transcript_hash: bytes) -> bytes:
    """RFC 8446 section 4.4.3: what a CertificateVerify signs."""
    return _CV_PADDING + CV_CONTEXT[side] + b"\x00" + transcript_hash


def certificate_message(context: bytes, chain: Sequence[bytes], algorithm: int | None,
                        leaf_extensions: dict[int, bytes] | None) -> bytes:
    """A Certificate message, or with ``algorithm`` the CompressedCertificate of one."""
    entries = [CertificateEntry(der) for der in chain]
    if entries and leaf_extensions:
        entries[0] = CertificateEntry(entries[0].cert_data, leaf_extensions)
    message = Certificate(context, entries).serialize()
    if algorithm is None:
        return message
    body = message[4:]
    return CompressedCertificate(
        algorithm, len(body), compression.compress(algorithm, body)).serialize()


class Handshake:
    side: ClassVar[Literal["client", "server"]]
    #: The side's state table (:mod:`siotls.core.state`).
    _transitions: ClassVar[dict[State, dict[int, frozenset[State]]]]
    #: msg_type -> its handler; per class, not per connection.
    _HANDLERS: ClassVar[dict[int, Handler]]
    #: The handlers that replace those in CONNECTED (post-handshake authentication).
    _CONNECTED_HANDLERS: ClassVar[dict[int, Handler]]
    # Slotted, as the subclasses: one per connection, kept while it lives.
    __slots__ = (
        "ccs_sent", "client_certificate_type", "client_random", "config", "keylog", "life",
        "nconfig", "peer_key_kind", "peer_public_key", "pending", "read_key_changed",
        "records", "schedule", "state", "tickets_due")
    pending: Any

    def __init__(self, config: TLSConfiguration, records: RecordLayer,
                 nconfig: TLSNegotiatedConfiguration, keylog: KeyLog | None) -> None:
        #: RFC 7250: what the client authenticates with (X509 unless negotiated)
        self.client_certificate_type = 0
        #: A server's NewSessionTickets wait for its first application data.
        self.tickets_due = False
        #: A server paused after the ClientHello
        #: (:class:`~siotls.core.earlydata.PendingClientHello`).
        self.pending = None
        #: The connection's lifecycle (set by the connection; None without one): whether
        #: we may still send, when the peer asks for a KeyUpdate or a client Certificate.
        #: The connection is not referenced, so that no cycle keeps a connection alive.
        self.life: Lifecycle | None = None
        self.config = config
        self.records = records
        self.nconfig = nconfig
        self.keylog = keylog
        self.state = State.START
        self.schedule: KeySchedule | None = None
        self.client_random = b""
        #: Set when a handler installed a new read key (see the connection).
        self.read_key_changed = False
        #: Whether a dummy change_cipher_spec was sent (middlebox compatibility).
        self.ccs_sent = False
        # Signature checks of the peer's CertificateVerify
        self.peer_public_key: crypto.PublicKey | None = None
        self.peer_key_kind: tuple[str, str | None] = ("", None)

    # -- dispatch ---------------------------------------------------------------
    def handle(self, msg_type: int, body: memoryview, raw: bytes) -> None:
        allowed = self._transitions[self.state].get(msg_type)
        if allowed is None:
            name = HandshakeType(msg_type).name if msg_type in HandshakeType._value2member_map_ \
                else f"handshake message {msg_type}"
            raise UnexpectedMessage(f"{name} in state {self.state.name}")
        handler = self._CONNECTED_HANDLERS.get(msg_type) if self.state is _CONNECTED else None
        (handler or self._HANDLERS[msg_type])(self, body, raw)
        if self.state not in allowed:  # pragma: no cover (a bug of ours)
            raise InternalError(f"illegal transition to {self.state.name}")

    def enter_connected(self) -> None:
        """The handshake is over: CONNECTED, and what only the handshake needed goes.

        An idle connection keeps only what post-handshake messages use: the
        secrets of :meth:`KeySchedule.forget_handshake_secrets` (the handler
        tables are per class, and the CONNECTED row of the state table says which
        messages may still come). The transcript stays only when
        post_handshake_auth was offered (the post-handshake authentication forks
        it): the subclasses decide.
        """
        self.state = State.CONNECTED
        self.key_schedule.forget_handshake_secrets()
        self.client_random = b""  # only the key log used it, for the handshake's secrets

    def now(self) -> datetime.datetime:
        """The configuration's clock, for certificate validity."""
        return provider.utc_datetime(self.config.clock)

    @property
    def key_schedule(self) -> KeySchedule:
        if self.schedule is None:  # pragma: no cover (the state table prevents it)
            raise InternalError("no key schedule yet")
        return self.schedule

    def sending_open(self) -> bool:
        """Whether our sending end is open (true without a connection)."""
        life = self.life
        return life is None or life.sending is Sending.OPEN

    def log_key(self, label: str, secret: bytes) -> None:
        """A secret to the key log (NSS format), when the configuration logs keys."""
        keylog = self.keylog
        if keylog is not None:  # to the hook or SSLKEYLOGFILE, never to a logger
            keylog(f"{label} {self.client_random.hex()} {secret.hex()}")

    def log_handshake_secrets(self, schedule: KeySchedule) -> None:
        """Both handshake traffic secrets to the key log (callers test ``keylog`` first)."""
        self.log_key("SERVER_HANDSHAKE_TRAFFIC_SECRET", schedule.server_handshake_traffic_secret)
        self.log_key("CLIENT_HANDSHAKE_TRAFFIC_SECRET", schedule.client_handshake_traffic_secret)

    # -- sending ----------------------------------------------------------------
    def send(self, message: bytes) -> None:
        """Queue a handshake message and add it to the transcript."""
        self.records.write_handshake(message)
        if self.schedule is not None:
            self.schedule.update(message)

    def send_change_cipher_spec(self) -> None:
        if self.config.middlebox_compatibility and not self.ccs_sent:
            self.records.write_change_cipher_spec()
            self.ccs_sent = True

    def set_read_key(self, secret: bytes) -> None:
        schedule = self.schedule
        assert schedule is not None
        self.records.set_read_key(schedule.suite, secret)
        self.read_key_changed = True

    def set_write_key(self, secret: bytes) -> None:
        schedule = self.schedule
        assert schedule is not None
        self.records.set_write_key(schedule.suite, secret)

    # -- authentication ---------------------------------------------------------
    def on_certificate(self, body: memoryview, raw: bytes) -> None:  # pragma: no cover
        raise NotImplementedError

    def send_certificate(self, context: bytes, chain: Sequence[bytes],
                         peer_algorithms: Sequence[int],
                         leaf_extensions: dict[int, bytes] | None = None) -> None:
        """Our Certificate, compressed (RFC 8879) when the peer offered a common algorithm.

        ``leaf_extensions`` go in the leaf's CertificateEntry (a stapled OCSP response).
        The message is encoded once per configuration, chain, algorithm and leaf
        extensions (:func:`siotls.core.prepared.certificate_messages`), unless it has a
        context (post-handshake authentication: a new one each time).
        """
        algorithm = compression.choose(self.config.certificate_compression or (),
                                       peer_algorithms) if chain else None
        table = None if context else prepared.certificate_messages(self.config)
        key = (tuple(chain), algorithm,
               tuple(leaf_extensions.items()) if leaf_extensions else None)
        message = None if table is None else table.get(key)
        if message is None:
            message = certificate_message(context, chain, algorithm, leaf_extensions)
            if table is not None:
                table[key] = message
        self.send(message)
        if algorithm is not None:
            self.nconfig.certificate_compression = compression.NAMES[algorithm]

    def on_compressed_certificate(self, body: memoryview, raw: bytes) -> None:
        """RFC 8879 section 4: decompress, then handle as the Certificate it holds.

        The transcript takes the CompressedCertificate message (``raw``) as received.
        """
        ours = self.config.certificate_compression or ()
        if not ours:
            raise UnexpectedMessage("a CompressedCertificate, though we offered no compression")
        message = parse_compressed_certificate(body)
        if message.algorithm not in compression.codes(ours):
            raise IllegalParameter(
                f"a Certificate compressed with algorithm {message.algorithm}, never offered",
                reason="bad_compression")
        certificate = compression.decompress(
            message.algorithm, message.compressed_certificate_message,
            message.uncompressed_length, MAX_CERTIFICATE_LENGTH)
        self.nconfig.peer_certificate_compression = compression.NAMES[message.algorithm]
        self.on_certificate(memoryview(certificate), raw)

    def sign_certificate_verify(self, private_key: crypto.PrivateKey, scheme: int) -> None:
        self.send(self.certificate_verify(private_key, scheme, self.key_schedule.transcript_hash()))

    def certificate_verify(self, private_key: crypto.PrivateKey, scheme: int,
                           transcript_hash: bytes) -> bytes:
        """Our CertificateVerify message over ``transcript_hash``."""
        content = certificate_verify_content(self.side, transcript_hash)
        signature = crypto.SIGNATURE_SCHEMES[scheme].sign(private_key, content)
        return CertificateVerify(scheme, signature).serialize()

    def accept_peer_certificate(self, leaf: Any, chain: tuple[bytes, ...], verified: bool
                                ) -> None:
        """Keep the peer's chain and its leaf's key for the CertificateVerify.

        The key, its kind and its SubjectPublicKeyInfo are taken from ``leaf`` once per
        leaf (DER) and configuration (:func:`siotls.core.prepared.peer_keys`): a client
        meets the same servers' certificates again and again. The chain first met with
        that leaf is kept there too, and a connection that receives the same chain keeps
        that one (about 500 bytes per certificate less per idle connection). A chain
        over :data:`~siotls.core.prepared.MAX_PEER_CHAIN_BYTES` is not kept.
        """
        table = prepared.peer_keys(self.config)
        known = table.get(chain[0])
        if known is None:
            public_key, kind = crypto.certificate_public_key(leaf)
            known = (public_key, kind, rawkeys.spki_of(public_key), chain)
            if sum(map(len, chain)) <= prepared.MAX_PEER_CHAIN_BYTES:
                table[chain[0]] = known
        elif known[3] is not chain and known[3] == chain:
            # The same chain as last time: keep the table's bytes, not a copy per idle
            # connection (the verified path, if any, refers to the same objects).
            chain = known[3]
            path = self.nconfig.peer_verified_path
            if path:
                self.nconfig.peer_verified_path = tuple(
                    next((der for der in chain if der == kept), kept) for kept in path)
        self.peer_public_key, self.peer_key_kind, spki = known[:3]
        self.nconfig.peer_certificate_chain = chain
        self.nconfig.peer_verified = verified
        self.nconfig.peer_certificate_type = "x509"
        self.nconfig.peer_public_key = spki

    def accept_raw_public_key(self, entries: tuple[bytes, ...]) -> None:
        """RFC 7250: the peer's one SubjectPublicKeyInfo, if it is one we trust."""
        if len(entries) != 1:
            raise BadCertificate("a raw public key Certificate holds one entry",
                                 reason="malformed")
        self.peer_public_key, self.peer_key_kind = rawkeys.accept_public_key(
            entries[0], self.config.peer_public_keys)
        self.nconfig.peer_certificate_type = "raw_public_key"
        self.nconfig.peer_public_key = rawkeys.normalize_spki(entries[0])
        self.nconfig.peer_verified = True

    def on_certificate_verify(self, body: memoryview, raw: bytes) -> None:
        self.check_certificate_verify(body, raw)
        self.state = State.WAIT_FINISHED

    def check_certificate_verify(self, body: memoryview, raw: bytes,
                                 transcript_hash: bytes | None = None) -> None:
        """Check the peer's CertificateVerify against its certificate's key.

        Over the handshake's transcript (then added to it), or over
        ``transcript_hash`` when given (post-handshake authentication).
        """
        cv = parse_certificate_verify(body)
        if cv.algorithm not in self.config.signature_algorithms:
            raise IllegalParameter(f"CertificateVerify with scheme {cv.algorithm}, never offered")
        scheme = crypto.SIGNATURE_SCHEMES[cv.algorithm]
        kind, curve = self.peer_key_kind
        if scheme.key_kind != kind or (scheme.curve is not None and scheme.curve != curve):
            raise IllegalParameter(
                f"CertificateVerify with {SignatureScheme(cv.algorithm).name} "
                f"but the certificate's key is {kind} {curve or ''}".rstrip())
        assert self.peer_public_key is not None
        content = certificate_verify_content(
            self.config.other_side, transcript_hash or self.key_schedule.transcript_hash())
        try:
            scheme.verify(self.peer_public_key, cv.signature, content)
        except crypto.InvalidSignature:
            raise DecryptError("the CertificateVerify signature does not verify",
                               reason="bad_certificate_verify") from None
        self.nconfig.peer_signature_algorithm = member(SignatureScheme, cv.algorithm)
        if transcript_hash is None:
            self.key_schedule.update(raw)

    def check_finished(self, body: memoryview, raw: bytes, base_key: bytes) -> None:
        schedule = self.schedule
        assert schedule is not None
        finished = parse_finished(body, schedule.suite.hash_length)
        if not hmac.compare_digest(finished.verify_data, schedule.finished(base_key)):
            raise DecryptError("the Finished verify_data is wrong")
        schedule.update(raw)

    def send_finished(self, base_key: bytes) -> None:
        schedule = self.schedule
        assert schedule is not None
        self.send(Finished(schedule.finished(base_key)).serialize())

    def _enter_early(self, schedule: KeySchedule) -> None:
        """The first PSK offered was taken, without HelloRetryRequest: the early exporter
        (RFC 8446 7.5) is defined, over the ClientHello (already in the transcript)."""
        schedule.enter_early()
        if self.keylog is not None:  # no call per secret without a key log
            self.log_key("EARLY_EXPORTER_SECRET", schedule.early_exporter_master_secret)
            self.log_key("CLIENT_EARLY_TRAFFIC_SECRET", schedule.client_early_traffic_secret)

    # -- after the handshake ----------------------------------------------------
    def send_session_tickets(self) -> None:
        """Queue the due NewSessionTickets (servers only, see :attr:`tickets_due`)."""

    def enter_application(self) -> None:
        """After the server Finished: derive, log and install the application secrets."""
        schedule = self.schedule
        assert schedule is not None
        schedule.enter_application()
        if self.keylog is not None:  # no call per secret without a key log
            self.log_key("CLIENT_TRAFFIC_SECRET_0", schedule.client_application_traffic_secret)
            self.log_key("SERVER_TRAFFIC_SECRET_0", schedule.server_application_traffic_secret)
            self.log_key("EXPORTER_SECRET", schedule.exporter_master_secret)

    def _peer_application_secret(self) -> bytes:
        s = self.key_schedule
        return (s.server_application_traffic_secret if self.side == "client"
                else s.client_application_traffic_secret)

    def _set_peer_application_secret(self, secret: bytes) -> None:
        if self.side == "client":
            self.key_schedule.server_application_traffic_secret = secret
        else:
            self.key_schedule.client_application_traffic_secret = secret

    def _own_application_secret(self) -> bytes:
        s = self.key_schedule
        return (s.client_application_traffic_secret if self.side == "client"
                else s.server_application_traffic_secret)

    def _set_own_application_secret(self, secret: bytes) -> None:
        if self.side == "client":
            self.key_schedule.client_application_traffic_secret = secret
        else:
            self.key_schedule.server_application_traffic_secret = secret

    def on_key_update(self, body: memoryview, raw: bytes) -> None:
        """RFC 8446 section 4.6.3: the peer updated its sending keys."""
        key_update = parse_key_update(body)
        secret = next_traffic_secret(self.key_schedule.suite, self._peer_application_secret())
        self._set_peer_application_secret(secret)
        self.set_read_key(secret)
        if key_update.request_update and self.sending_open():
            self.send_key_update(False)

    def send_key_update(self, request_update: bool) -> None:
        """Send a KeyUpdate with the current key, then switch to the next one."""
        self.records.write(ContentType.HANDSHAKE, KeyUpdate(int(request_update)).serialize())
        secret = next_traffic_secret(self.key_schedule.suite, self._own_application_secret())
        self._set_own_application_secret(secret)
        self.set_write_key(secret)
