"""TLSConnection: the sans-IO engine's one public class.

Bytes in, bytes out: the caller feeds what it read from the transport to
:meth:`~TLSConnection.receive_data`, sends what :meth:`~TLSConnection.data_to_send`
returns, and reads the application data from :meth:`~TLSConnection.data_to_read`.
Nothing here touches a socket or a clock.

Theory of operation
-------------------
``receive_data`` hands the bytes to the record layer, which yields one record
at a time (decrypting lazily, so a key installed by one handshake message is
in place for the next record). Handshake records are reassembled into messages
in ``_handshake_buffer`` and passed to the handshake object
(:class:`~siotls.core.client.ClientHandshake` or
:class:`~siotls.core.server.ServerHandshake`), which checks them against the
state table, answers by queuing messages on the record layer, and installs
keys there. Application data collects in ``_application_data`` until read.

The lifecycle (sending open/closed; receiving open/close_notify/EOF; failed
with its error) is explicit state in :class:`~siotls.core.lifecycle.Lifecycle`,
whose ``check()`` is the one "failed earlier" guard.

Fast paths: once connected, ``receive_data`` given exactly one protected
application_data record, and ``send_data`` given one record's worth, protect
it right here, reading the record layer's state directly (a call per record
into the layer cost a tenth of a 1-byte echo). They mirror the record layer's
``_open`` and ``write``, make the same checks, and decline anything else to
the general path. The flags ``_receive_fast`` and ``_send_fast`` sum up what
the general path would test (started, not failed, the direction open,
CONNECTED, not paused, no tickets due, no handshake message half read, and
:meth:`RecordLayer.fast_paths`); ``_update_fast_paths`` recomputes them after
every call that can change any of it.

The 0-RTT and pause-point methods are defined beside their machinery, in
:class:`~siotls.core.earlydata.EarlyDataAPI`, this class's base.

On a protocol error (h2's shape): the alert is queued for the peer, the
connection is marked failed, and the :class:`~siotls.core.errors.TLSFatalAlert`
subclass naming the alert is raised. The caller must still flush
``data_to_send()`` (in a ``finally``) so the alert reaches the peer. Every
later call raises :class:`~siotls.core.errors.TLSConnectionFailed`.
An exception that is not a TLS error (a bug of ours) becomes ``internal_error``.

Closing is per direction (TLS 1.3 allows half-close): ``close_sending_end``
sends close_notify and forbids further sends; a close_notify from the peer
ends the receiving side; ``close_receiving_end`` tells the engine the
transport hit EOF, which without a close_notify is a truncation
(:class:`~siotls.core.errors.RaggedEOF`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, NoReturn

from siotls.core import provider
from siotls.core.config import (
    TLSConfiguration,
    TLSNegotiatedConfiguration,
    normalize_server_hostname,
)
from siotls.core.earlydata import EarlyDataAPI
from siotls.core.errors import (
    BadRecordMac,
    DecodeError,
    InternalError,
    RaggedEOF,
    TLSError,
    TLSFatalAlert,
    TLSPeerAlert,
    TLSUsageError,
    UnexpectedMessage,
)
from siotls.core.lifecycle import Lifecycle, Receiving, Sending
from siotls.core.record import (
    APPLICATION_DATA_BYTE,
    APPLICATION_DATA_HEADER,
    HEADER_SIZE,
    MAX_CERTIFICATE_LENGTH,
    MAX_SEQ,
    SLICE_BELOW,
    SMALL_HEADERS,
    SMALL_RECORD,
    RecordLayer,
    invalid_tag,
    octets,
    protected_header,
)
from siotls.core.state import State
from siotls.iana import AlertDescription, AlertLevel, ContentType, HandshakeType

if TYPE_CHECKING:
    from siotls.core.client import ClientHandshake
    from siotls.core.server import ServerHandshake
    from siotls.core.session import TLSSession

# Plain values on the per-record path: an enum member lookup costs ten times more.
_APPLICATION_DATA = int(ContentType.APPLICATION_DATA)
_HANDSHAKE = int(ContentType.HANDSHAKE)
_ALERT = int(ContentType.ALERT)
_CONNECTED = State.CONNECTED
_RECEIVING_OPEN = Receiving.OPEN
_SENDING_OPEN = Sending.OPEN

#: The largest handshake message we accept (a Certificate chain may be long; a
#: CompressedCertificate may hold no longer a Certificate, compression.py checks it).
MAX_HANDSHAKE_MESSAGE: dict[int, int] = {
    HandshakeType.CERTIFICATE: MAX_CERTIFICATE_LENGTH, HandshakeType.CLIENT_HELLO: 2**17}
MAX_OTHER_HANDSHAKE_MESSAGE = 2**16
#: Post-handshake messages (KeyUpdate, NewSessionTicket) or empty records the peer
#: may send in a row without any application data in between.
MAX_RECORDS_WITHOUT_PROGRESS = 64


class TLSConnection(EarlyDataAPI):
    """One TLS 1.3 connection, client or server, as a sans-IO state machine."""

    # Slotted: a server keeps thousands idle (weak references: the httpx adapter's pool).
    __slots__ = (
        "__weakref__", "_application_data", "_ccs_received",
        "_handshake", "_handshake_buffer", "_life", "_receive_fast",
        "_records", "_records_without_progress", "_send_fast", "config", "nconfig",
        "server_hostname")

    def __init__(self, config: TLSConfiguration, server_hostname: str | None = None,
                 session: TLSSession | None = None, *, early_data: bytes | None = None
                 ) -> None:
        """``session``: a :class:`~siotls.TLSSession` to resume (client only); when it
        cannot be used (expired, another host...) or the server declines it, the
        handshake is a full one (see ``nconfig.session_resumed``).

        ``early_data``: bytes to send as 0-RTT data with ``session`` (client only),
        when its ticket allows it; ``nconfig.early_data`` tells whether the server
        took them, and :meth:`rejected_early_data` returns them otherwise."""
        if not provider.backend_chosen:
            provider.choose_backend()
        if config.side == "server" and server_hostname is not None:
            raise TLSUsageError("server_hostname is for clients")
        if config.side == "server" and (session is not None or early_data is not None):
            raise TLSUsageError("session and early_data are for clients")
        if server_hostname is not None:
            try:
                server_hostname = normalize_server_hostname(server_hostname)
            except ValueError as exc:
                raise TLSUsageError(str(exc)) from None
        elif config.side == "client" and config.truststore is not None and config.check_hostname:
            raise TLSUsageError(
                "server_hostname is needed to check the server's certificate "
                "(or TLSConfiguration(check_hostname=False))")
        self.config = config
        self.nconfig = TLSNegotiatedConfiguration()
        self.server_hostname = server_hostname
        self._records = RecordLayer(config.max_fragment_size, config.record_padding)
        # The configuration's sink, not a method of ours: no cycle through the handshake.
        keylog = config.log_key if config.log_keys else None
        self._life = Lifecycle()
        self._handshake: ClientHandshake | ServerHandshake
        if config.side == "client":
            from siotls.core.client import ClientHandshake  # noqa: PLC0415

            self._handshake = ClientHandshake(
                config, self._records, self.nconfig, keylog, server_hostname,
                session=session, early_data=early_data)
        else:
            from siotls.core.server import ServerHandshake  # noqa: PLC0415

            self._handshake = ServerHandshake(config, self._records, self.nconfig, keylog)
        self._handshake.life = self._life
        #: A handshake message's first records (a bytearray), or b"" (shared).
        self._handshake_buffer: bytearray | bytes = b""
        # A list, not a deque: an empty deque costs ~600 bytes per connection.
        self._application_data: list[bytes | memoryview] = []
        self._ccs_received = False
        self._records_without_progress = 0
        #: The fast paths' flags (see _update_fast_paths): false until CONNECTED.
        self._send_fast = self._receive_fast = False

    # -- state --------------------------------------------------------------------
    def is_post_handshake(self) -> bool:
        """Whether the handshake completed (it stays true once the connection closes)."""
        return self._handshake.state is State.CONNECTED

    def is_connected(self) -> bool:
        """Handshake completed, nothing failed, and neither side has closed."""
        life = self._life
        return self._handshake.state is State.CONNECTED and life.can_send and life.can_receive

    def is_failed(self) -> bool:
        """Whether a fatal error ended the connection (every later call raises)."""
        return self._life.failure is not None

    @property
    def can_send(self) -> bool:
        """Whether :meth:`send_data` is allowed: connected and our side not closed."""
        return self.is_post_handshake() and self._life.can_send

    @property
    def can_receive(self) -> bool:
        """Whether more data may come: not failed, no close_notify nor EOF yet."""
        return self._life.can_receive

    @property
    def waiting_for_peer(self) -> bool:
        """Whether only the peer's bytes can move the connection on: it can receive,
        holds no application data to read, has nothing queued to send, and is not
        paused (:attr:`pending_client_hello`). A driver may then read the transport
        straight away, with nothing to flush first."""
        records = self._records
        life = self._life  # life.can_receive, inlined
        return (life.failure is None and life.receiving is _RECEIVING_OPEN
                and not self._application_data
                and not records.outgoing and not records._handshake_out
                and self._handshake.pending is None)

    @property
    def close_notify_received(self) -> bool:
        """Whether the peer closed its side cleanly (as opposed to a ragged EOF)."""
        return self._life.receiving is Receiving.CLOSE_NOTIFY

    @property
    def session_tickets(self) -> list[TLSSession]:
        """Sessions from the NewSessionTickets received (client only), newest last.

        Each can resume one later connection: ``TLSConnection(config, host, session=s)``.
        """
        return list(getattr(self._handshake, "session_tickets", ()))

    @property
    def session(self) -> TLSSession | None:
        """The newest session received (client only), or ``None``."""
        tickets = getattr(self._handshake, "session_tickets", ())
        return tickets[-1] if tickets else None

    # -- driving the connection ----------------------------------------------------
    def initiate_connection(self) -> None:
        """Start the handshake: a client queues its ClientHello, a server waits for one."""
        self._life.check(initiated=False)
        if self._life.initiated:
            raise TLSUsageError("initiate_connection() was called already")
        self._life.initiated = True
        self._run(self._handshake.initiate)

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Process bytes from the peer, in any chunking; nothing refers to ``data`` after."""
        if self._receive_fast:
            # The per-record fast path (module docstring): ``data`` is exactly one
            # protected record, opened as RecordLayer._open opens it.
            length = len(data) - HEADER_SIZE
            header = data[:HEADER_SIZE]
            if header == (SMALL_HEADERS[length] if 0 <= length < SMALL_RECORD
                          else protected_header(length)):
                records = self._records
                state = records.read_state
                seq = state.seq
                try:
                    if seq >= MAX_SEQ:
                        raise UnexpectedMessage("the record sequence number would wrap")
                    try:
                        plaintext = state.aead.decrypt(  # type: ignore[union-attr]
                            (state.iv ^ seq).to_bytes(12), data[HEADER_SIZE:]
                            if length < SLICE_BELOW else memoryview(data)[HEADER_SIZE:], header)
                    except invalid_tag():
                        raise BadRecordMac("a record failed to decrypt") from None
                    state.seq = seq + 1
                    end = len(plaintext) - 1
                    if 0 < end < records.read_inner_limit and plaintext[end] == _APPLICATION_DATA:
                        self._application_data.append(plaintext[:end])  # not padded
                        self._records_without_progress = 0
                        return
                    try:  # padded, or a post-handshake message, an alert...
                        self._receive_records((records.inner_plaintext(plaintext),))
                    finally:
                        self._update_fast_paths()
                    return
                except Exception as exc:  # noqa: BLE001 (_raise re-raises: a TLS error, always)
                    self._raise(exc)
        life = self._life
        if not life.initiated or life.failure is not None:
            life.check()
        if life.receiving is not _RECEIVING_OPEN:
            if life.receiving is Receiving.CLOSE_NOTIFY:
                # RFC 8446 6.1: data after close_notify is not TLS; unused_data() has it.
                self._records.keep_unread(data)
                return
            raise TLSUsageError("receive_data() after close_receiving_end()")
        if not data:
            return
        if self._handshake.pending is not None:  # paused: read on resume
            self._records.keep_unread(data)
            return
        try:
            self._receive(data)
        except Exception as exc:  # noqa: BLE001 (_raise re-raises: a TLS error, always)
            self._raise(exc)
        finally:
            self._update_fast_paths()

    def _update_fast_paths(self) -> None:
        """The fast paths' flags, from the state they sum up: called after every call
        that can change it (the fast paths change none of it, or come back here)."""
        life = self._life
        handshake = self._handshake
        usable = (life.initiated and life.failure is None and handshake.state is _CONNECTED
                  and handshake.pending is None)
        if not usable:
            self._send_fast = self._receive_fast = False
            return
        write, read = self._records.fast_paths()
        self._send_fast = write and life.sending is _SENDING_OPEN and not handshake.tickets_due
        self._receive_fast = (read and life.receiving is _RECEIVING_OPEN
                              and not self._handshake_buffer)

    def _receive(self, data: bytes | bytearray | memoryview) -> None:
        records = self._records.read_records(data)
        try:
            self._receive_records(records)
        finally:
            records.close()  # keeps what follows a close_notify (see unused_data)

    def _receive_records(
            self, records: Iterable[tuple[int, bytes | memoryview, bool]]) -> None:
        for content_type, content, protected in records:
            if self._handshake_buffer and content_type != _HANDSHAKE:
                # RFC 8446 5.1: nothing may come between the records of one message.
                raise UnexpectedMessage("a record interleaved with a fragmented handshake message")
            if content_type == _APPLICATION_DATA:
                self._receive_application_data(content, protected)
            elif content_type == _HANDSHAKE:
                self._receive_handshake(content, protected)
            elif content_type == _ALERT:
                self._receive_alert(content, protected)
            else:
                self._receive_change_cipher_spec(content)
            if self._life.receiving is not Receiving.OPEN or self._handshake.pending:
                break  # what follows stays buffered in the record layer

    def _receive_application_data(self, content: bytes | memoryview, protected: bool) -> None:
        if not protected or self._handshake.state is not _CONNECTED:
            early = getattr(self._handshake, "early_data", None)
            if protected and self._handshake.state is State.WAIT_EOED and early is not None:
                early.receive(content)  # 0-RTT: kept apart (data_to_read_early)
                return
            raise UnexpectedMessage("application data before the handshake completed")
        if content:
            self._application_data.append(content)
            self._records_without_progress = 0
        else:
            self._no_progress("empty application data records")

    def _receive_handshake(self, content: bytes | memoryview, protected: bool) -> None:
        if protected != self._records.read_protected:
            raise UnexpectedMessage("an unprotected handshake record after the key exchange")
        # Messages are cut from the record itself; only a message's first records
        # (one that spans records) wait in the bytearray _handshake_buffer.
        buffer = self._handshake_buffer
        data: bytes | bytearray | memoryview = content
        if buffer:
            assert isinstance(buffer, bytearray)
            buffer += content
            data = buffer
        handshake = self._handshake
        pos, end = 0, len(data)
        while end - pos >= 4:
            msg_type = data[pos]
            length = int.from_bytes(data[pos + 1 : pos + 4], "big")
            if length > MAX_HANDSHAKE_MESSAGE.get(msg_type, MAX_OTHER_HANDSHAKE_MESSAGE):
                raise DecodeError(f"a handshake message of {length} bytes", reason="too_long")
            if end < pos + 4 + length:
                break
            raw = bytes(data[pos : pos + 4 + length])
            pos += 4 + length
            handshake.read_key_changed = False
            if handshake.state is State.CONNECTED:
                self._no_progress("post-handshake messages")
            handshake.handle(msg_type, memoryview(raw)[4:], raw)
            if (handshake.read_key_changed or handshake.pending) and pos < end:
                raise UnexpectedMessage("a handshake message spans a key change")
        if pos == end:
            self._handshake_buffer = b""
        elif isinstance(data, bytearray):  # the buffer itself (content is not one)
            del data[:pos]
        else:
            self._handshake_buffer = bytearray(data[pos:])

    def _receive_alert(self, content: bytes | memoryview, protected: bool) -> None:
        """
        struct {
            AlertLevel level;
            AlertDescription description;
        } Alert;
        """
        if not protected and self._records.read_protected and not (
                self.config.side == "server" and self._handshake.state is not State.CONNECTED):
            # Once keys are in place alerts are encrypted. The one exception: a
            # client that failed on our ServerHello has no keys to encrypt with.
            raise UnexpectedMessage("an unprotected alert after the key exchange")
        if len(content) != 2:
            raise DecodeError(f"an alert record of {len(content)} bytes")
        description = content[1]
        if description == AlertDescription.CLOSE_NOTIFY:
            self._life.receiving = Receiving.CLOSE_NOTIFY
            self._receive_fast = False
            if self._handshake.state is not State.CONNECTED:
                raise TLSPeerAlert(description)
            return
        if description == AlertDescription.USER_CANCELED:
            self._no_progress("user_canceled alerts")
            return
        raise TLSPeerAlert(description)

    def _receive_change_cipher_spec(self, content: bytes | memoryview) -> None:
        # RFC 8446 section 5: one dummy change_cipher_spec is dropped between the
        # first ClientHello and the peer's Finished; anything else is unexpected.
        handshake = self._handshake
        started = handshake.state is not State.START or handshake.schedule is not None
        if (bytes(content) != b"\x01" or self._ccs_received or not started
                or handshake.state is State.CONNECTED):
            raise UnexpectedMessage("an unexpected change_cipher_spec record")
        self._ccs_received = True

    def _no_progress(self, what: str) -> None:
        self._records_without_progress += 1
        if self._records_without_progress > MAX_RECORDS_WITHOUT_PROGRESS:
            raise UnexpectedMessage(f"too many {what} without application data")

    def _run(self, function: Callable[..., None], *args: object) -> None:
        """Run ``function``; on a TLS error queue the alert, fail, and re-raise."""
        try:
            function(*args)
        except Exception as exc:  # noqa: BLE001 (_raise re-raises: a TLS error, always)
            self._raise(exc)
        finally:
            self._update_fast_paths()

    def _raise(self, exc: Exception) -> NoReturn:
        """Fail on ``exc`` (queue the alert for a TLSFatalAlert) and raise it."""
        if isinstance(exc, TLSFatalAlert):
            self._fail(exc)
            raise exc
        if isinstance(exc, TLSPeerAlert):
            self._life.fail(exc)
            self._send_fast = self._receive_fast = False
            raise exc
        if isinstance(exc, TLSError):
            raise exc
        # A bug of ours: tell the peer, raise a TLS error.
        error = InternalError(f"{type(exc).__name__}: {exc}")
        self._fail(error)
        raise error from exc

    def _fail(self, exc: TLSFatalAlert) -> None:
        life = self._life
        life.fail(exc)
        self._send_fast = self._receive_fast = False
        if life.sending is Sending.CLOSED:
            return
        life.sending = Sending.CLOSED
        try:
            self._records.write(ContentType.ALERT, bytes((AlertLevel.FATAL, exc.description)))
        except Exception:
            import logging  # noqa: PLC0415 (only here: import siotls stays light)

            logging.getLogger("siotls").debug("could not queue the alert", exc_info=True)

    # -- application data ------------------------------------------------------------
    def send_data(self, data: bytes | bytearray | memoryview) -> None:
        """Queue application data for the peer (after the handshake)."""
        if type(data) is not bytes:  # any bytes-like object: sent as its bytes
            data = octets(data)
        records = self._records
        if self._send_fast:
            # The per-record fast path (module docstring): ``data`` as one protected
            # record, sealed as RecordLayer.write seals it, while the key stays two
            # records clear of its usage limit (a due KeyUpdate is the general path's).
            state = records.write_state
            seq = state.seq
            length = len(data)
            if 0 < length <= records.protected_fragment_size and seq + 2 < state.limit:
                length += 17  # content type and tag
                header = (SMALL_HEADERS[length] if length < SMALL_RECORD
                          else APPLICATION_DATA_HEADER + length.to_bytes(2, "big"))
                try:
                    records.outgoing.append(header + state.aead.encrypt(  # type: ignore[union-attr]
                        (state.iv ^ seq).to_bytes(12),
                        # bytes + bytes is one call where a join builds a tuple first.
                        data + APPLICATION_DATA_BYTE if type(data) is bytes
                        else b"".join((data, APPLICATION_DATA_BYTE)), header))
                except Exception as exc:  # noqa: BLE001 (_raise re-raises: a TLS error, always)
                    self._raise(exc)
                state.seq = seq + 1
                return
        life = self._life
        if (life.failure is not None or life.sending is not _SENDING_OPEN
                or self._handshake.state is not _CONNECTED):
            life.check()
            if self._handshake.state is not State.CONNECTED:
                raise TLSUsageError("send_data() before the handshake completed")
            raise TLSUsageError("send_data() after close_sending_end()")
        if not data:
            return
        try:
            if self._handshake.tickets_due:
                self._handshake.send_session_tickets()
            if records.key_update_due(len(data) // records.protected_fragment_size + 1):
                self._handshake.send_key_update(False)
            records.write(_APPLICATION_DATA, data)
        except Exception as exc:  # noqa: BLE001 (_raise re-raises: a TLS error, always)
            self._raise(exc)
        finally:
            self._update_fast_paths()

    def data_to_read(self, size: int | None = None) -> bytes:
        """Application data received so far (at most ``size`` bytes); ``b''`` if none."""
        chunks = self._application_data
        if not chunks:
            return b""
        if size is None or size >= sum(map(len, chunks)):
            data = b"".join(chunks)  # one bytes object: itself, not a copy
            chunks.clear()
            return data
        if size <= 0:
            return b""
        out = []
        need = size
        taken = 0
        for chunk in chunks:
            if len(chunk) <= need:
                out.append(chunk)
                need -= len(chunk)
                taken += 1
                if not need:
                    break
            else:
                view = memoryview(chunk)
                out.append(view[:need])
                chunks[taken] = view[need:]
                break
        del chunks[:taken]
        return b"".join(out)

    def unused_data(self) -> bytes:
        """The bytes the peer sent after its close_notify, removed from the connection.

        They are not TLS: a protocol that goes on in plaintext after closing TLS
        (the reverse of STARTTLS) reads them here. ``b''`` before a close_notify.
        """
        if self._life.receiving is not Receiving.CLOSE_NOTIFY:
            return b""
        return self._records.take_buffered()

    def data_to_send(self, size: int | None = None) -> bytes:
        """Everything queued for the peer (at most ``size`` bytes); ``b''`` if nothing."""
        out = self._records.outgoing
        if self._send_fast and size is None and len(out) <= 1:
            # Nothing, or one record from the fast path (the flag: no handshake
            # message waits to be packed): what flush() would return.
            if not out:
                return b""
            data = out[0]
            out.clear()
            return data
        return self._records.flush(size)

    # -- keys ---------------------------------------------------------------------
    def update_keys(self, request_peer_update: bool = True) -> None:
        """Send a KeyUpdate (RFC 8446 4.6.3); with ``request_peer_update`` the peer updates too."""
        self._life.check()
        if not self.can_send:
            raise TLSUsageError("update_keys() needs a connected sending side")
        self._run(self._handshake.send_key_update, request_peer_update)

    # -- post-handshake authentication ----------------------------------------------
    def request_client_certificate(self) -> None:
        """Ask the client for its certificate, after the handshake (RFC 8446 4.6.2).

        The client must have offered post-handshake authentication
        (``nconfig.post_handshake_auth``), and the configuration needs a
        truststore. Application data flows on while the client answers; once
        its Finished is in, ``client_certificate_pending`` is false again,
        ``nconfig.post_handshake_authentications`` grew by one, and a verified
        chain is in ``nconfig.peer_certificate_chain`` (an empty answer leaves it
        unchanged). A chain that does not verify fails the connection.

        :raises TLSUsageError: on a client, before the handshake completed, when
            the client did not offer it, or while a request is pending.
        """
        self._life.check()
        handshake = self._handshake
        if handshake.side == "client" or not self.can_send:
            raise TLSUsageError("request_client_certificate() is for a connected server")
        self._run(handshake.pha.request, handshake)

    @property
    def client_certificate_pending(self) -> bool:
        """A server asked for the client's certificate and its answer is not complete."""
        handshake = self._handshake
        return handshake.side == "server" and handshake.pha.pending

    def export_keying_material(self, label: bytes, context: bytes, length: int) -> bytes:
        """TLS-Exporter (RFC 8446 section 7.5), e.g. for channel bindings (RFC 9266)."""
        self._life.check(initiated=False)
        if self._handshake.state is not State.CONNECTED or self._handshake.schedule is None:
            raise TLSUsageError("the exporter is available once the handshake completed")
        return self._handshake.schedule.export(label, context, length)

    def export_early_keying_material(self, label: bytes, context: bytes, length: int) -> bytes:
        """The early exporter (RFC 8446 section 7.5), keyed by the PSK and the ClientHello.

        Defined when the server took the first PSK the client offered (a resumption or
        an external PSK) without a HelloRetryRequest: from the ServerHello on.
        """
        self._life.check(initiated=False)
        schedule = self._handshake.schedule
        if schedule is None or not schedule.early_exporter_master_secret:
            raise TLSUsageError("no early exporter: the first PSK offered was not taken")
        return schedule.export(label, context, length, early=True)

    # -- closing ------------------------------------------------------------------------
    def close_sending_end(self) -> None:
        """Queue a close_notify: we send nothing more; reading may go on (half-close)."""
        life = self._life
        life.check(initiated=False)
        if life.sending is Sending.CLOSED:
            return
        life.sending = Sending.CLOSED
        self._send_fast = False
        self._records.write(ContentType.ALERT,
                            bytes((AlertLevel.WARNING, AlertDescription.CLOSE_NOTIFY)))

    def close_receiving_end(self) -> None:
        """The transport reached EOF.

        After the peer's close_notify this is the normal end. Otherwise the
        stream may have been truncated: :class:`RaggedEOF` is raised, but the
        data already received stays available through :meth:`data_to_read`.
        """
        life = self._life
        if life.receiving is not Receiving.OPEN:
            return
        life.receiving = Receiving.EOF
        self._receive_fast = False
        if life.failure is not None:
            return
        error = RaggedEOF("the transport closed without a close_notify")
        if self._handshake.state is not State.CONNECTED:
            error = RaggedEOF("the transport closed during the handshake")
            life.fail(error)
        raise error
