"""Redis-backed stores for a fleet: the strike register and the ticket keys (redis-py).

Theory of operation
-------------------
Every machine of a deployment points at one Redis (a primary) with a client
of its own, ``redis.Redis`` or ``redis.asyncio.Redis`` (``pip install
siotls[redis]``), made with ``decode_responses=False`` and a short
``socket_timeout``: the handshake waits for the answer.

Strike register. One check is one transaction (MULTI/EXEC, one round trip)::

    SET <prefix>started <now> NX       the register's start, kept without expiry
    GET <prefix>started
    SET <prefix>k:<key> 1 NX PX <ttl>  atomic: only the first of all machines sets it

The key was new iff the last SET answered OK, on whichever machine asked first;
0-RTT is accepted iff it was new and ``<prefix>started`` is at least one window
old. A Redis that restarted empty (or was flushed) loses its strikes and its
start mark together, so the first check after it sets a new mark and 0-RTT
waits a window: the start rule of RFC 8446 8.2, for the whole fleet. Any error
(unreachable, timeout, out of memory, a malformed mark) refuses 0-RTT: fail
closed. Configure Redis with ``maxmemory-policy noeviction``: an evicted strike
is a replay let in, a refused write only refuses 0-RTT. The start mark compares
clocks of different machines: keep them in sync (NTP).

Ticket keys. A Redis list under one name holds the keys, newest first, each
the 48 bytes ``key_id || secret``; ``<name>:rotated`` holds the time of the
last rotation. Rotation is one Lua script, atomic: push a fresh key first,
trim to ``keep``, stamp; with ``older_than`` it does nothing when the last
rotation is more recent, so every server may call it on a timer and the fleet
still rotates once per period. Loading is one script too: the first server to
find the list empty puts one key in it.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio

from siotls.core.tickets import DEFAULT_KEEP, TicketKey, TicketKeys
from siotls.stores.keys import install, key_from_bytes, key_to_bytes
from siotls.stores.strikes import DEFAULT_WINDOW, WindowRule

if TYPE_CHECKING:
    from siotls.stores.keys import AsyncTicketKeySource, TicketKeySource
    from siotls.stores.strikes import AsyncStrikeRegister, StrikeRegister

__all__ = ["AsyncRedisStrikeRegister", "AsyncRedisTicketKeySource", "RedisStrikeRegister",
           "RedisTicketKeySource"]

logger = logging.getLogger("siotls.stores")

DEFAULT_STRIKE_PREFIX = b"siotls:strike:"
DEFAULT_KEYS_NAME = b"siotls:ticket-keys"

#: The errors that refuse 0-RTT instead of escaping: the store could not answer.
STORE_ERRORS = (redis.RedisError, OSError, ValueError, TypeError)


def _check_client(client: redis.Redis | redis.asyncio.Redis) -> None:
    if client.get_connection_kwargs().get("decode_responses"):
        raise ValueError("the Redis client must be made with decode_responses=False "
                         "(keys are bytes)")


# -- the strike register --------------------------------------------------------------

class _RedisStrikes(WindowRule):
    """The commands and their reading, shared by the blocking and the async register."""

    def __init__(self, prefix: bytes, window: float, clock: Callable[[], float] | None
                 ) -> None:
        super().__init__(window, clock)
        #: unknown until Redis tells: :meth:`ready` is a hint, Redis has the last word
        self.started_at = -math.inf
        self.prefix = prefix
        self.last_error: BaseException | None = None

    def _queue(self, pipe: Any, key: bytes, ttl: float, now: float) -> None:
        mark = self.prefix + b"started"
        pipe.set(mark, repr(now), nx=True)
        pipe.get(mark)
        pipe.set(self.prefix + b"k:" + key, b"1", nx=True, px=max(1, math.ceil(ttl * 1000)))

    def _answer(self, replies: list[Any], now: float) -> bool:
        started = float(replies[1])  # ValueError/TypeError on a malformed mark
        if not math.isfinite(started):
            raise ValueError("the start mark is not a time")
        self.started_at = started
        if self.last_error is not None:
            logger.warning("strike register available again (%s)", self.prefix)
            self.last_error = None
        return self.verdict(new=replies[2] is True, ready=self.ready(now))

    def _failed(self, exc: BaseException) -> bool:
        if self.last_error is None:  # once per outage, not once per handshake
            logger.warning("strike register unavailable (%s), 0-RTT refused until it "
                           "answers: %r", self.prefix, exc)
        self.last_error = exc
        self.stats.unavailable += 1
        return False


class RedisStrikeRegister(_RedisStrikes):
    """The strike register of a fleet, with a blocking ``redis.Redis`` client.

    :param client: e.g. ``redis.Redis.from_url("redis://10.0.0.5:6379/0",
        socket_timeout=0.1)``.
    :param prefix: of every Redis key it writes.
    :param window: the longest ttl recorded; no 0-RTT until the register's start
        mark in Redis is one window old.

    :attr:`started_at` is that mark as last read (``-inf`` before the first
    check), so :meth:`ready` is only a hint here: each check reads the mark.
    :attr:`last_error` is the error of the last check while Redis fails,
    ``None`` when it answers.
    """

    def __init__(self, client: redis.Redis, *, prefix: bytes = DEFAULT_STRIKE_PREFIX,
                 window: float = DEFAULT_WINDOW,
                 clock: Callable[[], float] | None = None) -> None:
        _check_client(client)
        super().__init__(prefix, window, clock)
        self.client = client

    def check_and_record(self, key: bytes, ttl: float) -> bool:
        self.check_arguments(key, ttl)
        if ttl <= 0:
            self.stats.not_ready += 1
            return False
        now = self.clock()
        try:
            with self.client.pipeline(transaction=True) as pipe:
                self._queue(pipe, key, ttl, now)
                return self._answer(pipe.execute(), now)
        except STORE_ERRORS as exc:
            return self._failed(exc)


class AsyncRedisStrikeRegister(_RedisStrikes):
    """:class:`RedisStrikeRegister` with a ``redis.asyncio.Redis`` client: ``await
    register.check_and_record(key, ttl)``."""

    def __init__(self, client: redis.asyncio.Redis, *,
                 prefix: bytes = DEFAULT_STRIKE_PREFIX, window: float = DEFAULT_WINDOW,
                 clock: Callable[[], float] | None = None) -> None:
        _check_client(client)
        super().__init__(prefix, window, clock)
        self.client = client

    async def check_and_record(self, key: bytes, ttl: float) -> bool:
        self.check_arguments(key, ttl)
        if ttl <= 0:
            self.stats.not_ready += 1
            return False
        now = self.clock()
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                self._queue(pipe, key, ttl, now)
                return self._answer(await pipe.execute(), now)
        except STORE_ERRORS as exc:
            return self._failed(exc)


# -- the ticket keys --------------------------------------------------------------------

# KEYS: the list, the stamp; ARGV: a fresh key, the time, keep.
_LOAD = """
if redis.call('LLEN', KEYS[1]) == 0 then
    redis.call('RPUSH', KEYS[1], ARGV[1])
    redis.call('SET', KEYS[2], ARGV[2])
end
return redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
"""
# KEYS: the list, the stamp; ARGV: a fresh key, the time, keep, older_than ('' = always).
_ROTATE = """
local last = tonumber(redis.call('GET', KEYS[2]))
local rotated = 0
if ARGV[4] == '' or not last or redis.call('LLEN', KEYS[1]) == 0
        or tonumber(ARGV[2]) - last >= tonumber(ARGV[4]) then
    redis.call('LPUSH', KEYS[1], ARGV[1])
    redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[3]) - 1)
    redis.call('SET', KEYS[2], ARGV[2])
    rotated = 1
end
return {rotated, redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)}
"""


class _RedisKeys:
    """What the blocking and the async key source share: the scripts' arguments and
    the reading of their answers."""

    keys: TicketKeys

    def __init__(self, name: bytes, keep: int, clock: Callable[[], float] | None,
                 random_bytes: Callable[[int], bytes]) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.name = name
        self.keep = keep
        self.clock = clock or time.time
        self.random_bytes = random_bytes

    def _call(self, script: str, fresh: TicketKey, *extra: str) -> tuple[Any, ...]:
        """The arguments of ``EVAL``: the script, its two keys and its arguments."""
        return (script, 2, self.name, self.name + b":rotated", key_to_bytes(fresh),
                repr(self.clock()), str(self.keep), *extra)

    def _rotate_call(self, keep: int | None, older_than: float | None
                     ) -> tuple[TicketKey, tuple[Any, ...]]:
        """A rotation's fresh key and ``EVAL`` arguments; sets :attr:`keep` if given."""
        if keep is not None:
            if keep < 1:
                raise ValueError("keep must be at least 1")
            self.keep = keep
        fresh = TicketKey.generate(self.random_bytes)
        when = "" if older_than is None else repr(float(older_than))
        return fresh, self._call(_ROTATE, fresh, when)

    def _install(self, stored: list[bytes]) -> bool:
        loaded = [key_from_bytes(bytes(item)) for item in stored[: self.keep]]
        if not hasattr(self, "keys"):
            self.keys = TicketKeys(loaded, keep=self.keep)
            return True
        changed = install(self.keys, loaded)
        self.keys.keep = self.keep
        return changed

    def _rotated(self, reply: list[Any], fresh: TicketKey) -> TicketKey | None:
        self._install(reply[1])
        return fresh if reply[0] == 1 else None


class RedisTicketKeySource(_RedisKeys):
    """Ticket keys kept in a Redis list, with a blocking ``redis.Redis`` client.

    Made with :meth:`load` (it reads the keys, and puts a first one in an empty
    list): ``source = RedisTicketKeySource.load(client)``, then
    ``TLSConfiguration(..., ticket_keys=source.keys)`` and ``source.refresh()``
    on a timer. Errors (``redis.RedisError``, ValueError on a malformed entry)
    raise and leave the keys as they were.
    """

    def __init__(self, client: redis.Redis, *, name: bytes = DEFAULT_KEYS_NAME,
                 keep: int = DEFAULT_KEEP, clock: Callable[[], float] | None = None,
                 random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        _check_client(client)
        super().__init__(name, keep, clock, random_bytes)
        self.client = client

    @classmethod
    def load(cls, client: redis.Redis, **kwargs: Any) -> RedisTicketKeySource:
        """A source with its keys loaded (see the constructor for the arguments)."""
        source = cls(client, **kwargs)
        source.refresh()
        return source

    def _run(self, *call: Any) -> Any:
        with self.client.pipeline(transaction=False) as pipe:
            pipe.eval(*call)
            return pipe.execute()[0]

    def refresh(self) -> bool:
        """Load the list (the first ``keep`` keys) into :attr:`keys`; whether they changed."""
        fresh = TicketKey.generate(self.random_bytes)  # used only if the list is empty
        return self._install(self._run(*self._call(_LOAD, fresh)))

    def rotate(self, keep: int | None = None, *, older_than: float | None = None
               ) -> TicketKey | None:
        """Push a fresh key first, keep ``keep`` (default :attr:`keep`), load them; the new
        key, or ``None`` when ``older_than`` is given and the last rotation is more
        recent than that many seconds."""
        fresh, call = self._rotate_call(keep, older_than)
        return self._rotated(self._run(*call), fresh)


class AsyncRedisTicketKeySource(_RedisKeys):
    """:class:`RedisTicketKeySource` with a ``redis.asyncio.Redis`` client:
    ``source = await AsyncRedisTicketKeySource.load(client)``, ``await source.refresh()``,
    ``await source.rotate()``."""

    def __init__(self, client: redis.asyncio.Redis, *, name: bytes = DEFAULT_KEYS_NAME,
                 keep: int = DEFAULT_KEEP, clock: Callable[[], float] | None = None,
                 random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        _check_client(client)
        super().__init__(name, keep, clock, random_bytes)
        self.client = client

    @classmethod
    async def load(cls, client: redis.asyncio.Redis, **kwargs: Any
                   ) -> AsyncRedisTicketKeySource:
        source = cls(client, **kwargs)
        await source.refresh()
        return source

    async def _run(self, *call: Any) -> Any:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.eval(*call)
            return (await pipe.execute())[0]

    async def refresh(self) -> bool:
        fresh = TicketKey.generate(self.random_bytes)
        return self._install(await self._run(*self._call(_LOAD, fresh)))

    async def rotate(self, keep: int | None = None, *, older_than: float | None = None
                     ) -> TicketKey | None:
        fresh, call = self._rotate_call(keep, older_than)
        return self._rotated(await self._run(*call), fresh)


if TYPE_CHECKING:  # each class conforms to its protocol (mypy checks this)
    def _conforms(sync: RedisStrikeRegister, asynchronous: AsyncRedisStrikeRegister,
                  keys: RedisTicketKeySource, async_keys: AsyncRedisTicketKeySource
                  ) -> tuple[StrikeRegister, AsyncStrikeRegister, TicketKeySource,
                             AsyncTicketKeySource]:
        return sync, asynchronous, keys, async_keys
