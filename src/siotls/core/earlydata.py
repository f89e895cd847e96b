"""0-RTT early data (RFC 8446 sections 2.3, 4.2.10 and 8): who may send it, who takes it.

Theory of operation
-------------------
Client: given a :class:`~siotls.core.session.TLSSession` whose ticket allows
early data (``max_early_data_size`` > 0) and some data to send early, the
ClientHello carries an empty early_data extension and its first PSK is that
session. Right after the ClientHello (and its dummy change_cipher_spec) the
client installs the client_early_traffic_secret (derived from the session's
PSK over the ClientHello, :meth:`~siotls.core.keyschedule.KeySchedule.enter_early`)
as its write key and sends the data as application data records. The
ServerHello does not tell yet: the server's EncryptedExtensions carry
early_data when it accepted (``nconfig.early_data = 'accepted'``); the client
then sends EndOfEarlyData under the early key before its Finished. Otherwise
(``'rejected'``) the early data was discarded by the server and
:meth:`ClientEarlyData.rejected` keeps it for the caller to send again after
the handshake: never dropped, never resent by the engine.

Server: :func:`accept` decides, once the PSK is chosen (binder verified): the
client offered early_data; ``max_early_data`` is configured (default 0:
refuse); the PSK is a ticket of ours (no 0-RTT with external PSKs: nothing
records them) that allowed early data, the first identity, with the ticket's
cipher suite and ALPN (4.2.10); no HelloRetryRequest; the ticket's age as the
client states it (obfuscated_ticket_age minus ticket_age_add) within
``early_data_freshness`` seconds of the age we compute from the ticket's
creation time (8.3); and, last, the strike register (8.1, 8.2) has not seen
this ClientHello: the key recorded is the verified binder, unique to the
ClientHello, for as long as the ClientHello could still pass the freshness
check. A register younger than its window refuses (the start rule of 8.2).
With ``early_data_anti_replay='ticket'`` (single-use tickets, 8.1) the key is
instead a digest of the ticket itself (:func:`ticket_key`), recorded for the
ticket's remaining lifetime: a ticket carries early data at most once, and a
second ClientHello with it (a fresh binder) is refused 0-RTT; the register's
window must then cover a whole ``ticket_lifetime`` (checked by the
configuration), and a remaining lifetime longer than the window refuses.

Accepted: EncryptedExtensions carries early_data, the server's read key is the
client's early key and the state is WAIT_EOED; application data records are
early data (:class:`ServerEarlyData`, at most ``max_early_data`` bytes, more is
``unexpected_message``), kept apart from 1-RTT data: the application reads
them with ``data_to_read_early()``, knowing they may be a replay (RFC 8470).
EndOfEarlyData switches the read key to the handshake key. Refused: the
records the client sends under its early key fail to decrypt and are skipped,
up to a budget (``max_early_data`` and the records' overhead, at least
:data:`siotls.core.server.MAX_SKIPPED_EARLY_DATA`).

Every refusal of 0-RTT keeps the PSK: the handshake is a resumption in one
round trip, ``nconfig.early_data = 'rejected'``.

The register is the only I/O of the decision. The default register is in
memory, one per configuration (the stores package's ``MemoryStrikeRegister``,
handed to the engine by the ``siotls`` package: the core imports no thread nor
clock), asked inline. A register whose ``check_and_record`` is a coroutine
(``AsyncRedisStrikeRegister``) cannot be: the pause point. When every other
check passed, the server stops after the ClientHello, sends nothing, and
exposes a :class:`PendingClientHello` (``conn.pending_client_hello``: what it
parsed, and the register's ``key`` and ``ttl``); the bytes received meanwhile
are kept, unread. The caller asks the register and answers with
``conn.resume_client_hello(early_data_ok=answer)``; the handshake goes on from
there, exactly as if the register had answered inline. The async adapters do
this themselves (the stores package's ``ask``); the core stays sans-IO.

The same pause serves an asynchronous certificate choice (a server's
``certificate_selector``, :mod:`siotls.core.credentials`): in a full handshake
(no PSK, hence no 0-RTT: the two never meet) the server stops after the
ClientHello it answers (not one answered with a HelloRetryRequest), with
``certificate_requested`` set, and ``resume_client_hello(certificate_chain=...)``
goes on with that chain (``None``: the synchronous choice, ``sni_callback`` and
``strict_sni`` included). ``resume_client_hello(failure=alert)`` ends the
handshake with that alert instead (a selector that raised).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from siotls.core.dataclasslike import FrozenRecord
from siotls.core.errors import TLSUsageError, UnexpectedMessage
from siotls.core.record import octets
from siotls.core.state import State
from siotls.iana import ContentType

if TYPE_CHECKING:
    from siotls.core.client import ClientHandshake
    from siotls.core.config import TLSConfiguration
    from siotls.core.credentials import CertificateChain
    from siotls.core.errors import TLSFatalAlert
    from siotls.core.lifecycle import Lifecycle
    from siotls.core.negotiated import TLSNegotiatedConfiguration
    from siotls.core.psk import PskChoice
    from siotls.core.record import RecordLayer
    from siotls.core.server import ServerHandshake
    from siotls.core.session import TLSSession

#: The tolerance of the freshness check (RFC 8446 8.3: "on the order of ten seconds").
DEFAULT_FRESHNESS = 10.0
#: EndOfEarlyData: the header of an empty handshake message of type 5.
END_OF_EARLY_DATA = b"\x05\x00\x00\x00"
#: The largest max_early_data a server may configure (the ticket's uint32).
MAX_EARLY_DATA_LIMIT = 2**32 - 1

EarlyDataStatus = Literal["accepted", "rejected", "not sent"]
#: What the strike register records: the ClientHello (its binder) or the ticket.
AntiReplay = Literal["client_hello", "ticket"]


class Register(Protocol):
    """What the engine asks of a strike register (the stores package's StrikeRegister)."""

    window: float

    def ready(self, now: float | None = None) -> bool:
        ...

    def check_and_record(self, key: bytes, ttl: float) -> bool:
        ...


#: ``(config) -> register``: the register a server configuration gets when it accepts
#: 0-RTT and names none; set by the ``siotls`` package (an in-memory register).
default_register: Callable[[TLSConfiguration], Register] | None = None


def check_register(register: object) -> None:
    """A configuration's register: ``window``, ``ready()`` and ``check_and_record()``."""
    check = getattr(register, "check_and_record", None)
    if not callable(check) or not callable(getattr(register, "ready", None)) \
            or not isinstance(getattr(register, "window", None), (int, float)):
        raise ValueError("strike_register: an object with window, ready() and "
                         "check_and_record()")


def is_asynchronous(register: object) -> bool:
    """Whether asking ``register`` needs the pause point (its check is a coroutine)."""
    import inspect  # noqa: PLC0415 (here: import siotls does not load inspect)

    return inspect.iscoroutinefunction(getattr(register, "check_and_record", None))


class PendingClientHello(FrozenRecord):
    """A server paused after the ClientHello: what it parsed, and its questions.

    Answer with ``conn.resume_client_hello(early_data_ok=..., certificate_chain=...)``:
    the register's ``check_and_record(replay_key, replay_ttl)`` when ``replay_key`` is
    set, the configuration's ``certificate_selector(pending)`` when
    ``certificate_requested``. A PSK handshake sends no certificate, so one pause
    asks one of the two; the adapters answer both alike. Frozen, and a dataclass
    to :mod:`dataclasses` (:mod:`siotls.core.dataclasslike`).
    """

    #: the client's SNI, if any
    server_name: str | None
    #: the ALPN protocol the server selected, if any
    alpn: bytes | None
    #: the PSK identity taken (the ticket, as the client sent it); None without PSK
    psk_identity: bytes | None
    #: the client offered early data (in a full handshake: to be refused)
    early_data_offered: bool
    #: what to ask the strike register: the key (None: nothing to ask) and its time
    #: to live in seconds
    replay_key: bytes | None
    replay_ttl: float
    #: the register to ask (the configuration's)
    register: Any
    #: the server waits for ``certificate_selector`` to choose its chain
    certificate_requested: bool
    #: the client's signature_algorithms (for the certificate choice)
    signature_algorithms: tuple[int, ...]

    def __init__(  # noqa: PLR0917 (positional, as @dataclass wrote them)
            self, server_name: str | None, alpn: bytes | None, psk_identity: bytes | None,
            early_data_offered: bool, replay_key: bytes | None, replay_ttl: float,
            register: Any, certificate_requested: bool = False,
            signature_algorithms: tuple[int, ...] = ()) -> None:
        self._store(locals())


# -- client ---------------------------------------------------------------------------
class ClientEarlyData:
    """The early data a client means to send, and what became of it."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.limit = 0
        self.offered = False
        self.status: EarlyDataStatus = "not sent"

    def offer(self, session: TLSSession | None, first_offer_is_session: bool) -> bool:
        """Whether the ClientHello offers early data with ``session``."""
        if session is None or not first_offer_is_session or not session.max_early_data_size:
            return False
        if len(self.data) > session.max_early_data_size:
            return False  # it would not fit: send it all after the handshake instead
        self.limit = session.max_early_data_size
        self.offered = True
        return True

    def add(self, data: bytes) -> None:
        """More early data before the ServerHello, within the ticket's limit."""
        if len(self.data) + len(data) > self.limit:
            raise ValueError(f"early data over the ticket's max_early_data_size ({self.limit})")
        self.data += data

    def rejected(self) -> bytes:
        """The early data the server did not take (``b''`` when accepted)."""
        return b"" if self.status == "accepted" else bytes(self.data)


# -- server ---------------------------------------------------------------------------
def question(config: TLSConfiguration, choice: PskChoice, *, suite: int,
             alpn: bytes | None, now: float) -> tuple[bytes, float] | None:
    """Every check but the register's (above, in order): ``None`` refuses 0-RTT, else
    what to ask the register, ``(key, ttl)``.

    Called only when the client offered early_data, without HelloRetryRequest.
    """
    ticket = choice.ticket
    if (not config.max_early_data or ticket is None or choice.index != 0
            or not ticket.max_early_data_size or ticket.cipher_suite != suite
            or ticket.alpn != alpn):
        return None
    client_age = ((choice.obfuscated_ticket_age - ticket.ticket_age_add) % 2**32) / 1000
    server_age = now - ticket.created_at
    tolerance = config.early_data_freshness
    if abs(server_age - client_age) > tolerance:
        return None
    register = config.strike_register
    if register is None or not register.ready(now):
        return None
    if config.early_data_anti_replay == "ticket":  # 8.1: for as long as it resumes
        ttl = ticket.created_at + ticket.ticket_lifetime - now
        return (ticket_key(choice.identity), ttl) if 0 < ttl <= register.window else None
    # Remember the ClientHello until it could no longer pass the freshness check.
    ttl = min(register.window, ticket.created_at + client_age + tolerance - now)
    if ttl <= 0:
        return None
    return choice.binder, ttl


def ticket_key(identity: bytes) -> bytes:
    """What single-use tickets record: the SHA-256 of the ticket (the PSK identity)."""
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415

    from siotls.core import crypto  # noqa: PLC0415

    digest = crypto.new_hash(hashes.SHA256())
    digest.update(identity)
    return digest.finalize()


def accept(config: TLSConfiguration, choice: PskChoice, *, suite: int, alpn: bytes | None,
           now: float) -> bool:
    """Whether the server takes the client's early data, the register asked inline."""
    asked = question(config, choice, suite=suite, alpn=alpn, now=now)
    return asked is not None and bool(config.strike_register.check_and_record(*asked))


class ServerEarlyData:
    """The early data received, bounded by ``max_early_data``, apart from 1-RTT data."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.received = 0
        self.chunks: list[bytes] = []
        self._unread = 0  # index of the first chunk not read yet

    def receive(self, content: bytes | memoryview) -> None:
        self.received += len(content)
        if self.received > self.limit:
            raise UnexpectedMessage(
                f"more than max_early_data_size ({self.limit}) bytes of early data",
                reason="too_much_early_data")
        if content:
            self.chunks.append(bytes(content))

    def read(self) -> bytes:
        """What arrived since the last read."""
        data = b"".join(self.chunks[self._unread:])
        self._unread = len(self.chunks)
        return data

    def everything(self) -> bytes:
        """All the early data received (at most ``limit`` bytes)."""
        return b"".join(self.chunks)


class EarlyDataAPI:
    """The 0-RTT and pause-point methods of :class:`~siotls.core.connection.TLSConnection`
    (its base: they are documented with it), kept beside what they expose."""

    __slots__ = ()
    if TYPE_CHECKING:
        _handshake: ClientHandshake | ServerHandshake
        _life: Lifecycle
        _records: RecordLayer
        nconfig: TLSNegotiatedConfiguration

        def _run(self, function: Callable[..., None], *args: object) -> None: ...
        def receive_data(self, data: bytes | bytearray | memoryview) -> None: ...

    # -- the pause point (servers: an asynchronous strike register or certificate_selector)
    @property
    def pending_client_hello(self) -> PendingClientHello | None:
        """Set while the server is paused after a ClientHello (see
        :mod:`siotls.core.earlydata`): what it parsed and what to ask the strike
        register. Answer with :meth:`resume_client_hello`."""
        pending: PendingClientHello | None = self._handshake.pending
        return pending

    def resume_client_hello(self, early_data_ok: bool = False, *,
                            certificate_chain: CertificateChain | None = None,
                            failure: TLSFatalAlert | None = None) -> None:
        """Go on after the pause with the register's answer (``True``: accept 0-RTT)
        and the chain ``certificate_selector`` chose (``None``: the synchronous choice);
        then the bytes received meanwhile are processed. ``failure``: end the
        handshake with that alert instead (raised here, like any TLS error)."""
        self._life.check()
        if self.pending_client_hello is None:
            raise TLSUsageError("resume_client_hello() without a pending ClientHello")
        # Here, not at import: import siotls does not load credentials.py (a dataclass).
        from siotls.core.credentials import CertificateChain  # noqa: PLC0415

        if certificate_chain is not None and not isinstance(certificate_chain, CertificateChain):
            raise TLSUsageError("certificate_chain must be a CertificateChain or None")
        handshake = cast("ServerHandshake", self._handshake)
        self._run(handshake.resume_client_hello, early_data_ok, certificate_chain, failure)
        buffered = self._records.take_buffered()
        if buffered:
            self.receive_data(buffered)

    # -- 0-RTT data ----------------------------------------------------------------
    def data_to_read_early(self) -> bytes:
        """0-RTT data received (server), apart from :meth:`data_to_read`; ``b''`` if none.

        It may be a replay (RFC 8446 8, RFC 8470): act on it only when that is safe
        (an HTTP server answers 425 Too Early otherwise)."""
        early = getattr(self._handshake, "early_data", None)
        return early.read() if isinstance(early, ServerEarlyData) else b""

    @property
    def received_early_data(self) -> bytes:
        """All the 0-RTT data received (server), read or not: what the adapters expose."""
        early = getattr(self._handshake, "early_data", None)
        return early.everything() if isinstance(early, ServerEarlyData) else b""

    def send_early_data(self, data: bytes | bytearray | memoryview) -> None:
        """More 0-RTT data (client), before the ServerHello, when early data was offered
        (``early_data=`` given and the session allows it); within the ticket's limit."""
        self._life.check()
        early = getattr(self._handshake, "early", None)
        if not isinstance(early, ClientEarlyData) or not early.offered \
                or self._handshake.state is not State.WAIT_SH or self.nconfig.hello_retry_request:
            raise TLSUsageError("send_early_data() needs early data offered and no ServerHello yet")
        data = octets(data)  # any bytes-like object: sent as its bytes
        try:
            early.add(bytes(data))
        except ValueError as exc:
            raise TLSUsageError(str(exc)) from None
        self._records.write(ContentType.APPLICATION_DATA, data)

    def rejected_early_data(self) -> bytes:
        """The 0-RTT data the server did not take (client): send it again after the
        handshake if it is still wanted; ``b''`` when accepted or none."""
        early = getattr(self._handshake, "early", None)
        return early.rejected() if isinstance(early, ClientEarlyData) else b""
