"""The one driver of the stream adapters (trio, anyio), and the feed step of all.

Theory of operation
-------------------
A stream adapter owns a :class:`~siotls.TLSConnection` and a transport stream.
Every operation (handshake, send, receive, send_eof, unwrap) is one *step*: a
synchronous function below that runs the engine once and returns a result, or
``None`` while it needs more bytes from the peer. :meth:`Driver.run` drives a
step to completion (:meth:`Driver.send` is its one turn for a send, written
out); its invariant, true each time it reads the transport and each time it
returns:

    the step ran on everything received so far, then every byte the engine
    queued was handed to the transport, in engine order (or, on the receive
    path, left to the task that holds the send lock, which sends it after its
    own bytes); the transport is read only when the step asked for more.

Reading: the adapters let one task at a time read (trio runs the handshake
once and detects conflicting receivers; anyio's contract leaves concurrent
receives to the caller), and a TLS 1.3 sender never needs to read, so there is
no receive lock. Bytes read are fed to the engine as they come (:func:`feed`);
what follows the peer's close_notify is kept by the engine (``unused_data()``),
the plaintext that ``unwrap`` hands back.

Sending: a receive may have to send too (a KeyUpdate answer, an alert), so two
tasks can flush at once. The engine's output is appended to ``_outgoing``
synchronously, in the order the engine made it, and whoever holds the send
lock (fair: handed to the next waiter on release) sends it, so records leave
in order whichever task gets the lock first. A receive never waits for that
lock: if a send holds it, the receive leaves its bytes in ``_outgoing`` and the
sender sends them after its own (it loops until ``_outgoing`` is empty).
Waiting there could deadlock: the send may only finish once the peer, itself
blocked sending to us, sees us read.

Checkpoints: every operation is one (a cancellation point, then a schedule
point), and a cancellation is raised before the operation consumed or sent a
byte, or else it breaks the stream. :meth:`Driver.run` checks first. Two fast
paths skip what would be repeated (each mirrored by its slow path): a receive
whose first turn can only read goes straight to the transport when its receive
is itself the cancellation point (:meth:`Driver.receive`: anyio's and trio's
socket streams), and a free send lock is taken without its own checkpoints
(:meth:`Driver._acquire_nowait`: anyio, and trio over its ``SocketStream``).

States: OK; BROKEN (a TLS error, a transport error, or a send that failed or
was cancelled once bytes had left the engine: records carry sequence numbers,
so nothing after a lost one would decrypt); CLOSED (after ``aclose`` or
``unwrap``). A broken stream raises the framework's ``BrokenResourceError``
from the first cause on every call; a closed one its ``ClosedResourceError``.

Errors, the same in every adapter: a :class:`~siotls.TLSError` is raised as
``BrokenResourceError`` from it, after the alert the engine queued was sent
(if the transport still takes it); an ``OSError`` of the transport, on send or
on receive, is raised as ``BrokenResourceError`` from it (trio's and anyio's
socket streams already do so, other streams may not); the framework's own
stream errors pass through. A cancelled receive leaves the stream usable: no
byte was lost.

Ragged EOF (an EOF without close_notify) is decided in :func:`feed`, by one
flag, ``ragged_eof_ok``: after the handshake, accept it as a normal end. The
frameworks name it from opposite sides: trio's ``https_compatible=True`` and
anyio's ``standard_compatible=False`` both mean ``ragged_eof_ok=True``; the
asyncio adapter always passes ``True`` because asyncio's ``ssl=`` transports
report a ragged EOF as a plain ``eof_received()``. During the handshake an EOF
is always an error (a :class:`~siotls.RaggedEOF`); only trio turns it into
``b''`` for an https_compatible ``receive_some``, as ``trio.SSLStream`` does,
because trio runs the handshake inside the first ``receive_some``.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from siotls.core.connection import TLSConnection
from siotls.core.credentials import CertificateChain
from siotls.core.earlydata import PendingClientHello
from siotls.core.errors import InternalError, RaggedEOF, TLSError, TLSFatalAlert
from siotls.stores.strikes import ask

_T = TypeVar("_T")
logger = logging.getLogger("siotls.adapters")


# -- the feed step, shared by every adapter (asyncio and compat included) ---------------------

def feed(conn: TLSConnection, data: bytes | bytearray | memoryview, *, eof: bool = False,
         ragged_eof_ok: bool = False) -> None:
    """Hand what the transport gave to the engine: ``data``, then the EOF if ``eof``.

    The engine keeps whatever follows the peer's close_notify (``unused_data()``).
    An EOF after a close_notify is the normal end. Without one, it is
    :class:`~siotls.RaggedEOF`, raised, unless ``ragged_eof_ok`` and the handshake
    completed: then it is accepted silently (``conn.close_notify_received`` stays
    false, for who wants to tell). Any other :class:`~siotls.TLSError` comes from
    the engine, which queued its alert: flush ``conn.data_to_send()`` anyway.
    """
    if data:
        conn.receive_data(data)
    if eof and conn.can_receive:
        try:
            conn.close_receiving_end()
        except RaggedEOF:
            if not (ragged_eof_ok and conn.is_post_handshake()):
                raise


async def answer_pause(conn: TLSConnection) -> dict[str, Any]:
    """The pause point (:mod:`siotls.core.earlydata`): answer the paused server's
    questions; the arguments of ``conn.resume_client_hello``.

    The strike register's answer is ``False`` on any failure (fail closed: 0-RTT
    refused, not the connection). The ``certificate_selector``'s chain; if it raises,
    its TLSFatalAlert, or internal_error for anything else, ends the handshake."""
    pending = conn.pending_client_hello
    assert pending is not None
    answer: dict[str, Any] = {}
    if pending.replay_key is not None:
        try:
            answer["early_data_ok"] = await ask(
                pending.register, pending.replay_key, pending.replay_ttl)
        except Exception:  # a register that fails refuses 0-RTT, not the connection
            logger.warning("the strike register failed: 0-RTT refused", exc_info=True)
    if pending.certificate_requested:
        answer.update(await _select_certificate(conn, pending))
    return answer


async def _select_certificate(conn: TLSConnection,
                              pending: PendingClientHello) -> dict[str, Any]:
    selector = conn.config.certificate_selector
    assert selector is not None
    try:
        chain = await selector(pending)
    except TLSFatalAlert as exc:
        return {"failure": exc}
    except Exception as exc:  # any failure of the caller's code
        logger.warning("certificate_selector failed", exc_info=True)
        return {"failure": InternalError(
            f"certificate_selector raised {type(exc).__name__}: {exc}",
            reason="certificate_selector")}
    if chain is not None and not isinstance(chain, CertificateChain):
        return {"failure": InternalError(
            f"certificate_selector returned {type(chain).__name__}, not a CertificateChain",
            reason="certificate_selector")}
    return {"certificate_chain": chain}


# -- the steps ---------------------------------------------------------------------------------

def handshake(conn: TLSConnection) -> bool | None:
    return True if conn.is_post_handshake() else None


def receive(conn: TLSConnection, max_bytes: int | None) -> bytes | None:
    """Some application data; ``b''`` once the peer can send no more."""
    data = conn.data_to_read(max_bytes)
    return data if data or not conn.can_receive else None


def send(conn: TLSConnection, data: bytes | bytearray | memoryview) -> bool:
    conn.send_data(data)
    return True


def send_eof(conn: TLSConnection) -> bool:
    conn.close_sending_end()
    return True


def unwrap(conn: TLSConnection) -> bool | None:
    """Send close_notify and wait for the peer's; application data is discarded."""
    conn.close_sending_end()
    conn.data_to_read()
    if conn.close_notify_received:
        return True
    if not conn.can_receive:  # an EOF that the ragged-EOF policy let through
        raise RaggedEOF("the transport closed without a close_notify")
    return None


# -- the loop ------------------------------------------------------------------------------------

class SendLock(AbstractAsyncContextManager[object], Protocol):
    """A fair async lock (``trio.StrictFIFOLock``, ``anyio.Lock``)."""

    def locked(self) -> bool: ...
    async def acquire(self) -> None: ...
    def acquire_nowait(self) -> None: ...
    def release(self) -> None: ...


@dataclass(frozen=True)
class Framework:
    """What the driver needs from an async framework."""

    #: raised when the stream is broken (``BrokenResourceError``), from the cause
    broken: type[Exception]
    #: raised once the stream was closed (``ClosedResourceError``)
    closed: type[Exception]
    #: a new fair lock, for the send side
    lock: Callable[[], SendLock]
    checkpoint_if_cancelled: Callable[[], Awaitable[None]]
    cancel_shielded_checkpoint: Callable[[], Awaitable[None]]
    #: what a transport raises at EOF, if it does not return ``b''`` (anyio)
    end_of_stream: tuple[type[Exception], ...] = ()
    #: the lock's ``WouldBlock``, where a free lock's own checkpoints only repeat the
    #: transport's (anyio's ``fast_acquire``; trio over its ``SocketStream``):
    #: :meth:`Driver.flush` then takes a free lock with ``acquire_nowait`` (see
    #: :meth:`Driver._acquire_nowait`); ``None`` (trio over other streams): always ``acquire``
    would_block: type[Exception] | None = None


class _State(enum.Enum):
    OK = "ok"
    BROKEN = "broken"
    CLOSED = "closed"


class Driver:
    """Runs steps on ``connection`` over a transport (see the theory at the top).

    :param receive: some bytes from the transport; ``b''`` or one of
        ``framework.end_of_stream`` at EOF.
    :param send: send all these bytes on the transport.
    :param ragged_eof_ok: see :func:`feed`.
    :param receive_checkpoints: ``receive`` is a cancellation point that takes nothing
        when it raises (anyio's own socket streams): see :meth:`receive`.
    """

    def __init__(self, framework: Framework, connection: TLSConnection, *,
                 receive: Callable[[], Awaitable[bytes | bytearray]],
                 send: Callable[[bytes], Awaitable[None]], ragged_eof_ok: bool,
                 receive_checkpoints: bool = False) -> None:
        self.framework = framework
        self.connection = connection
        self.ragged_eof_ok = ragged_eof_ok
        self.receive_checkpoints = receive_checkpoints
        #: the engine holds no plaintext: the last receive took less than it could,
        #: and no byte was fed since (a feed clears it)
        self._drained = False
        self._receive = receive
        self._send = send
        self._state = _State.OK
        self.error: BaseException | None = None  # why the stream is BROKEN
        self._incoming = b""
        self._eof = False
        self._outgoing = b""
        self.send_lock = framework.lock()

    # -- state ---------------------------------------------------------------------------
    def check(self) -> None:
        """Raise if the stream is broken or closed."""
        if self._state is _State.BROKEN:
            raise self.framework.broken("the TLS stream is broken") from self.error
        if self._state is _State.CLOSED:
            raise self.framework.closed("the TLS stream was closed")

    def break_(self, cause: BaseException) -> None:
        if self._state is _State.OK:
            self._state = _State.BROKEN
            self.error = cause

    def close(self) -> None:
        self._state = _State.CLOSED

    # -- running a step --------------------------------------------------------------------
    async def run(self, step: Callable[[], _T | None], *, defer: bool = False,
                  read: bool = False) -> _T:
        """Run ``step`` until it returns a result (see the invariant at the top).

        Always a checkpoint. ``defer``: the receive path, which must not wait
        behind a blocked send. ``read=True`` (only :meth:`receive`'s fast path): start
        with the transport's read, instead of a first turn that could only have
        reached it; that read is the checkpoint, so there is no
        ``checkpoint_if_cancelled`` first.
        """
        framework = self.framework
        conn = self.connection
        if not read:
            await framework.checkpoint_if_cancelled()
        if self._state is not _State.OK:
            self.check()
        yielded = False
        while True:
            if read:  # only the first turn of receive()'s fast path
                read = False
            else:
                try:
                    data, self._incoming = self._incoming, b""
                    if self._eof:
                        self._drained = False
                        feed(conn, data, eof=True, ragged_eof_ok=self.ragged_eof_ok)
                    elif data:  # feed(conn, data) without an EOF, inlined
                        self._drained = False
                        conn.receive_data(data)
                    # (neither: each op's first turn, where feed() would do nothing)
                    result = step()
                except TLSError as exc:
                    self.break_(exc)
                    await self._flush_alert(defer=defer)
                    raise framework.broken(str(exc)) from exc
                # The receive path skips flush() when the engine has nothing to send
                # (nor anything else to do but wait for the peer): flush() would only
                # find data_to_send() empty and return False.
                if not (defer and not self._outgoing and conn.waiting_for_peer):
                    yielded = await self.flush(defer=defer) or yielded
                if result is not None:
                    break
                if conn.pending_client_hello is not None:
                    await self._resume(defer=defer)
                    yielded = True
                    continue
            # Read the transport (no _read() frame: this is the per-record path).
            try:
                received = await self._receive()
            except OSError as exc:
                self.break_(exc)
                raise framework.broken(str(exc) or type(exc).__name__) from exc
            except framework.broken as exc:
                self.break_(exc)
                raise
            except framework.end_of_stream:
                received = b""
            if received:
                self._incoming += received
            else:
                self._eof = True
            yielded = True
        if not yielded:
            await framework.cancel_shielded_checkpoint()
        return result

    def receive(self, max_bytes: int | None) -> Awaitable[bytes]:
        """The receive operation: ``run(partial(receive, conn, max_bytes), defer=True)``.

        Fast path (``receive_checkpoints``): when the step's first turn could only
        come back empty-handed and send nothing (the last receive drained the
        engine and nothing was fed since, ``conn.waiting_for_peer``: no plaintext,
        nothing queued to send, not paused, not at EOF; nothing deferred in
        ``_outgoing``), that turn is skipped and the transport read at once
        (``run(read=True)``): that receive is the cancellation point, where the
        slow path has a ``checkpoint_if_cancelled`` first, then the same turn.
        Otherwise (the slow path) the step may consume or send before any await,
        so the check comes first. Either way a cancellation is raised before a
        byte is consumed or sent.
        """
        conn = self.connection
        read = (self.receive_checkpoints and self._drained and self._state is _State.OK
                and not self._incoming and not self._eof and not self._outgoing
                and conn.waiting_for_peer)
        # A plain method that returns run()'s coroutine: no frame of its own per record.
        return self.run(partial(self._receive_step, max_bytes), defer=True, read=read)

    def _receive_step(self, max_bytes: int | None) -> bytes | None:
        """The step :func:`receive`, noting whether it drained the engine."""
        data = receive(self.connection, max_bytes)
        if data is not None:
            # data_to_read took all there was: the engine holds no plaintext now
            self._drained = max_bytes is None or len(data) < max_bytes
        return data

    async def send(self, data: bytes | bytearray | memoryview) -> None:
        """The send operation: ``run(partial(send, conn, data))``, unrolled.

        A send's step returns in its first turn, so :meth:`run` makes one turn:
        the check, the step, :meth:`flush` (``defer=False``), and a schedule point
        if nothing was sent. That turn is written out here, flush's body inlined
        (one coroutine per send, where ``run`` and ``flush`` make two, and no step
        call), with the same errors and states. Bytes a receive left to feed
        (``_incoming``, an EOF) take :meth:`run` itself, which feeds them first.
        """
        if self._incoming or self._eof:
            await self.run(partial(send, self.connection, data))
            return
        framework = self.framework
        conn = self.connection
        await framework.checkpoint_if_cancelled()
        if self._state is not _State.OK:
            self.check()
        try:
            conn.send_data(data)
        except TLSError as exc:
            self.break_(exc)
            await self._flush_alert(defer=False)
            raise framework.broken(str(exc)) from exc
        # flush(), inlined:
        self._outgoing += conn.data_to_send()
        if not self._outgoing:  # (send_data() of b"" queues nothing)
            await framework.cancel_shielded_checkpoint()
            return
        lock = self.send_lock
        try:
            if not self._acquire_nowait(lock):
                await lock.acquire()
            try:
                while self._outgoing:  # including what deferring receivers left us
                    queued, self._outgoing = self._outgoing, b""
                    await self._send(queued)
            finally:
                lock.release()
        except OSError as exc:
            self.break_(exc)
            raise framework.broken(str(exc) or type(exc).__name__) from exc
        except BaseException as exc:
            self.break_(exc)  # records may be lost: nothing after them would decrypt
            raise

    async def _resume(self, *, defer: bool) -> None:
        """A server paused after the ClientHello: answer, and go on (bytes kept meanwhile
        are processed by the engine as it resumes)."""
        answer = await answer_pause(self.connection)
        try:
            self.connection.resume_client_hello(**answer)
        except TLSError as exc:
            self.break_(exc)
            await self._flush_alert(defer=defer)
            raise self.framework.broken(str(exc)) from exc

    async def flush(self, *, defer: bool = False) -> bool:
        """Send what the engine queued; return whether we yielded.

        With ``defer`` (the receive path), bytes are left to the task holding the
        send lock, if any, instead of waiting behind a send that may only finish
        once we read. A failure, or a cancellation, breaks the stream.
        (:meth:`send` has this body inlined: change both together.)
        """
        self._outgoing += self.connection.data_to_send()
        if not self._outgoing or (defer and self.send_lock.locked()):
            return False
        lock = self.send_lock
        try:
            if not self._acquire_nowait(lock):
                await lock.acquire()
            try:
                while self._outgoing:  # including what deferring receivers left us
                    data, self._outgoing = self._outgoing, b""
                    await self._send(data)
                    if defer:
                        break
            finally:
                lock.release()
        except OSError as exc:
            self.break_(exc)
            raise self.framework.broken(str(exc) or type(exc).__name__) from exc
        except BaseException as exc:
            self.break_(exc)  # records may be lost: nothing after them would decrypt
            raise
        return True

    def _acquire_nowait(self, lock: SendLock) -> bool:
        """Take the send lock if that needs no ``await lock.acquire()``: whether it did.

        Fast path (``framework.would_block`` set, the lock free): ``acquire_nowait``.
        The slow path, anyio's ``Lock(fast_acquire=True).acquire()``, would only add a
        ``checkpoint_if_cancelled``: :meth:`run` checkpointed before the step, and the
        transport's ``send``, next, checks for cancellation again (anyio's streams do),
        so a cancellation is raised at the same point, with the same bytes sent (none).
        trio's ``Lock.acquire()`` adds that check and a ``cancel_shielded_checkpoint``
        (a schedule point): trio's ``SocketStream.send_all`` makes both around its
        first ``send``, so the operation stays a full checkpoint (its
        ``_TRIO_SOCKET`` only). A held lock (WouldBlock) takes the slow path: the
        caller awaits ``lock.acquire()``, waiting in line, fairly.
        """
        would_block = self.framework.would_block
        if would_block is None:
            return False
        try:
            lock.acquire_nowait()
        except would_block:
            return False
        return True

    async def aclose(self, *, close_notify: bool,
                     aclose_transport: Callable[[], Awaitable[None]],
                     aclose_forcefully: Callable[[], Awaitable[None]]) -> None:
        """Close: send close_notify first when ``close_notify`` and the stream is OK
        past its handshake, without waiting for the peer's; then close the
        transport (forcefully if cancelled). Idempotent."""
        if self._state is _State.CLOSED:
            await self.framework.checkpoint_if_cancelled()
            await self.framework.cancel_shielded_checkpoint()
            return
        polite = (close_notify and self._state is _State.OK
                  and self.connection.is_post_handshake() and self.connection.can_send)
        self._state = _State.CLOSED
        try:
            if polite:
                with suppress(TLSError, self.framework.broken, self.framework.closed):
                    self.connection.close_sending_end()
                    await self.flush()
        except BaseException:
            await aclose_forcefully()
            raise
        await aclose_transport()

    async def _flush_alert(self, *, defer: bool) -> None:
        """Send the alert the engine queued on an error, if the transport takes it."""
        with suppress(self.framework.broken, self.framework.closed):
            await self.flush(defer=defer)
