"""The anti-replay strike register of 0-RTT (RFC 8446 section 8), and its in-memory form.

Theory of operation
-------------------
A server that accepts early data must accept a given 0-RTT ClientHello at most
once (RFC 8446 8). It records a value of each such ClientHello, taken from a
validated part of it (8.2: the verified binder of the chosen identity, for as
long as that ClientHello could still pass the freshness check of 8.3; or, for
single-use tickets, 8.1, a digest of the ticket, for as long as it resumes),
and refuses 0-RTT to any ClientHello whose value it has already seen. A
register answers one
question, :meth:`StrikeRegister.check_and_record`:

* ``key``: the value to record, chosen by the engine;
* ``ttl``: how long it must be remembered, in seconds: the time left until the
  ClientHello leaves the freshness window (its expected arrival time plus the
  tolerance, minus now), at most :attr:`~StrikeRegister.window`;
* the answer: ``True`` accept 0-RTT (the key was not seen, and it is now
  recorded), ``False`` refuse 0-RTT (a replay, or the register cannot vouch:
  not ready, full, unreachable). A refusal never fails the handshake: the
  server goes on with a 1-RTT handshake (the PSK may still be used).

Every doubt answers ``False``: the register fails closed.

The start rule (8.2): a register that started less than one window ago cannot
know the ClientHellos sent before it started, so it refuses 0-RTT until
``started_at + window``. :meth:`~StrikeRegister.ready` says it without I/O, so
the engine can skip the lookup; :meth:`~StrikeRegister.check_and_record`
enforces the rule by itself all the same. Keys seen before it is ready are
recorded anyway.

The question is asked with the handshake paused: a register that needs I/O
(Redis) has an ``async`` form, :class:`AsyncStrikeRegister`; the engine hands
the caller ``(key, ttl)`` and resumes with the answer; an adapter that may hold
either form awaits :func:`ask`. The in-memory register never blocks, so the
engine may call it inline.

:class:`MemoryStrikeRegister` is the default, one per process. Its memory is
bounded by ``max_entries``; a full register refuses 0-RTT to new keys until
entries expire: it never forgets a key before its ttl, since that would let a
replay in. Its size per entry is measured in ``bench/bench_stores.py``
(:data:`MEMORY_BYTES_PER_ENTRY`).
"""

from __future__ import annotations

import heapq
import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from siotls.core.errors import TLSUsageError

__all__ = ["DEFAULT_MAX_ENTRIES", "DEFAULT_WINDOW", "MEMORY_BYTES_PER_ENTRY",
           "AsyncStrikeRegister", "MemoryStrikeRegister", "StrikeRegister", "StrikeStats",
           "ask"]

#: The recording window in seconds: a freshness tolerance of +-10 s (RFC 8446 8.3,
#: "on the order of ten seconds") lets a ClientHello come back up to 20 s after it
#: first arrived.
DEFAULT_WINDOW = 20.0
#: Entries a :class:`MemoryStrikeRegister` holds by default (under 24 MB in all).
DEFAULT_MAX_ENTRIES = 100_000
#: Measured bytes per entry of a :class:`MemoryStrikeRegister` with 32-byte keys
#: (CPython 3.11, 64-bit: 180 to 215 bytes, ``python bench/bench_stores.py``), with room
#: for the growth steps of the dict and the heap.
MEMORY_BYTES_PER_ENTRY = 240
#: The longest key a register takes (a SHA-384 binder is 48 bytes).
MAX_KEY_LENGTH = 255


@dataclass
class StrikeStats:
    """What a register answered since it started, for monitoring."""

    accepted: int = 0
    #: the key was seen before: a replay (or a client retrying the same ClientHello)
    replayed: int = 0
    #: refused while the register was younger than its window (or with no ttl left)
    not_ready: int = 0
    #: refused because the register was full (memory) or the store failed (Redis)
    unavailable: int = 0


@runtime_checkable
class StrikeRegister(Protocol):
    """A register asked without waiting (in memory, or a blocking client)."""

    #: the longest ttl recorded, in seconds
    window: float
    #: when the register's memory begins (seconds since the epoch)
    started_at: float

    def ready(self, now: float | None = None) -> bool:
        """Whether 0-RTT can be accepted at ``now`` (default: the register's clock)."""
        ...

    def check_and_record(self, key: bytes, ttl: float) -> bool:
        """``True``: ``key`` is new, recorded for ``ttl`` seconds, accept 0-RTT;
        ``False``: refuse 0-RTT (a replay, or the register cannot vouch)."""
        ...


@runtime_checkable
class AsyncStrikeRegister(Protocol):
    """The same question, asked with ``await`` (a store across the network)."""

    window: float
    started_at: float

    def ready(self, now: float | None = None) -> bool:
        ...

    async def check_and_record(self, key: bytes, ttl: float) -> bool:
        ...


class WindowRule:
    """What every register shares: the window, the start rule, the checks of the
    arguments and the statistics."""

    def __init__(self, window: float, clock: Callable[[], float] | None) -> None:
        if not window > 0:
            raise ValueError("the window must be positive")
        self.window = float(window)
        self.clock: Callable[[], float] = clock or time.time
        self.started_at = self.clock()
        self.stats = StrikeStats()

    def ready(self, now: float | None = None) -> bool:
        """Whether the register has been recording for a whole window at ``now``."""
        return (self.clock() if now is None else now) >= self.started_at + self.window

    def check_arguments(self, key: bytes, ttl: float) -> None:
        """API misuse: a TLSUsageError."""
        if not isinstance(key, bytes) or not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise TLSUsageError(f"a strike register key is 1 to {MAX_KEY_LENGTH} bytes")
        if not ttl <= self.window:
            raise TLSUsageError(f"ttl {ttl!r} is longer than the register's window "
                                f"({self.window} s): it would forget keys too early")

    def verdict(self, new: bool, ready: bool) -> bool:
        """Count and give the answer for a key recorded (``new``) or already there."""
        if not new:
            self.stats.replayed += 1
            return False
        if not ready:
            self.stats.not_ready += 1
            return False
        self.stats.accepted += 1
        return True


class MemoryStrikeRegister(WindowRule):
    """The strike register of one process, bounded by ``max_entries``.

    :param window: the longest ttl recorded (:data:`DEFAULT_WINDOW`); no 0-RTT is
        accepted in the first ``window`` seconds.
    :param max_entries: when this many keys are live, new keys are refused (0-RTT
        refused) until some expire; about :data:`MEMORY_BYTES_PER_ENTRY` bytes each.
    :param clock: seconds since the epoch (default :func:`time.time`).

    Thread-safe: the check and the record are one step under a lock.
    """

    def __init__(self, window: float = DEFAULT_WINDOW,
                 max_entries: int = DEFAULT_MAX_ENTRIES,
                 clock: Callable[[], float] | None = None) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        super().__init__(window, clock)
        self.max_entries = max_entries
        self._expiry: dict[bytes, float] = {}
        self._heap: list[tuple[float, bytes]] = []  # (expiry, key), soonest first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Keys recorded (expired ones included until the next check)."""
        return len(self._expiry)

    def check_and_record(self, key: bytes, ttl: float) -> bool:
        self.check_arguments(key, ttl)
        with self._lock:
            now = self.clock()
            self._expire(now)
            if key in self._expiry:
                return self.verdict(new=False, ready=True)
            if ttl <= 0:  # already out of the window: nothing to remember, no 0-RTT
                self.stats.not_ready += 1
                return False
            if len(self._expiry) >= self.max_entries:
                self.stats.unavailable += 1
                return False  # fail closed: forgetting a live key would let its replay in
            expiry = now + ttl
            self._expiry[key] = expiry
            heapq.heappush(self._heap, (expiry, key))
            return self.verdict(new=True, ready=self.ready(now))

    def _expire(self, now: float) -> None:
        heap, expiry = self._heap, self._expiry
        while heap and heap[0][0] <= now:
            _, key = heapq.heappop(heap)
            del expiry[key]


async def ask(register: StrikeRegister | AsyncStrikeRegister, key: bytes, ttl: float) -> bool:
    """``register.check_and_record(key, ttl)``, awaited if the register is asynchronous:
    what an async adapter answers the engine's pause with, whichever register it holds.

    A blocking register (:class:`~siotls.stores.redis.RedisStrikeRegister`) blocks the
    event loop for its round trip: async servers use the async forms."""
    answer = register.check_and_record(key, ttl)
    if inspect.isawaitable(answer):
        return await answer
    return answer


if TYPE_CHECKING:  # the register conforms to its protocol (mypy checks this)
    def _conforms(register: MemoryStrikeRegister) -> StrikeRegister:
        return register
