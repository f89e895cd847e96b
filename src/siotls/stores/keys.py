"""Ticket keys shared by a fleet: a source that keeps a live :class:`TicketKeys` in sync.

Theory of operation
-------------------
Every server of a deployment seals tickets with the same first key and opens
them with any of the same few keys, so that a client resumes on any machine.
The keys live in one store; each server holds a :class:`~siotls.TicketKeys`
(given to ``TLSConfiguration(ticket_keys=source.keys)``) and calls the
source's :meth:`~TicketKeySource.refresh` now and then (a timer, SIGHUP): it
reads the store and, when the keys changed, swaps them into the live
:class:`~siotls.TicketKeys` in one assignment, so connections in progress are
unaffected and the next ticket uses the new first key. A refresh that fails
(store unreachable, malformed) raises and leaves the keys as they were.

:meth:`~TicketKeySource.rotate` puts a fresh key first in the store and keeps
``keep`` keys in all: a ticket sealed under a key opens until ``keep - 1``
rotations later. Rotate more often than servers refresh and a server may meet
tickets sealed under a key it has not loaded yet: those fall back to a full
handshake, nothing worse; refresh at least ten times per rotation period.

Two stores: :class:`KeyFileSource`, the key file of :mod:`siotls.tickets`
(re-read when its inode, size or mtime changes), for one machine or a file
distributed by configuration management; and the Redis list of
:mod:`siotls.stores.redis`, for a fleet. Both use the core's
:class:`~siotls.TicketKey`; in Redis a key is the 48 bytes ``key_id || secret``
(:func:`key_to_bytes`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from siotls.core.tickets import DEFAULT_KEEP, KEY_ID_LENGTH, KEY_LENGTH, TicketKey, TicketKeys
from siotls.tickets import read_key_file, rotate_key_file

__all__ = ["AsyncTicketKeySource", "KeyFileSource", "TicketKeySource", "key_from_bytes",
           "key_to_bytes"]

#: ``key_id || secret``
KEY_BYTES = KEY_ID_LENGTH + KEY_LENGTH


def key_to_bytes(key: TicketKey) -> bytes:
    return key.key_id + key.secret


def key_from_bytes(data: bytes) -> TicketKey:
    """The inverse of :func:`key_to_bytes`; ValueError unless ``data`` is 48 bytes."""
    if len(data) != KEY_BYTES:
        raise ValueError(f"a stored ticket key is {KEY_BYTES} bytes, not {len(data)}")
    return TicketKey(data[:KEY_ID_LENGTH], data[KEY_ID_LENGTH:])


def install(keys: TicketKeys, loaded: Sequence[TicketKey]) -> bool:
    """Put ``loaded`` into ``keys`` unless they are already there; whether they changed."""
    if tuple(loaded) == keys.keys:
        return False
    keys.replace(loaded)  # ValueError (empty, duplicate ids) before any change
    return True


@runtime_checkable
class TicketKeySource(Protocol):
    """A store of ticket keys, read and rotated without ``await``."""

    #: the live keys, for ``TLSConfiguration(ticket_keys=...)``
    keys: TicketKeys

    def refresh(self) -> bool:
        """Load the store's keys into :attr:`keys`; whether they changed."""
        ...

    def rotate(self, keep: int | None = None) -> TicketKey | None:
        """Put a fresh key first in the store, keep ``keep`` keys, refresh; the new key."""
        ...


@runtime_checkable
class AsyncTicketKeySource(Protocol):
    """The same, for a store reached with ``await``."""

    keys: TicketKeys

    async def refresh(self) -> bool:
        ...

    async def rotate(self, keep: int | None = None) -> TicketKey | None:
        ...


class KeyFileSource:
    """The ticket keys of a key file (the format of :mod:`siotls.tickets`).

    :param path: the key file; made with one fresh key (mode 0600) when missing
        and ``create`` is true.
    :param keep: keys kept by :meth:`rotate`; every key in the file is loaded.

    :meth:`refresh` re-reads the file only when it changed (another inode, size
    or mtime: ``python -m siotls ticket-keys rotate`` replaces the file by a
    rename), so it is cheap enough to call before every accept.
    """

    def __init__(self, path: str | os.PathLike[str], keep: int = DEFAULT_KEEP, *,
                 create: bool = True,
                 random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.path = Path(path)
        self.keep = keep
        self._random_bytes = random_bytes
        if create and not self.path.exists():
            rotate_key_file(self.path, keep, random_bytes)
        self._stamp = self._stat()
        loaded = read_key_file(self.path)
        self.keys = TicketKeys(loaded, keep=max(keep, len(loaded)))

    def _stat(self) -> tuple[int, int, int, int]:
        st = os.stat(self.path)
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns

    def refresh(self) -> bool:
        """Re-read the file if it changed; OSError or ValueError leave the keys as they were."""
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        loaded = read_key_file(self.path)
        changed = install(self.keys, loaded)
        self.keys.keep = max(self.keep, len(loaded))
        self._stamp = stamp
        return changed

    def rotate(self, keep: int | None = None) -> TicketKey:
        """:func:`~siotls.tickets.rotate_key_file` then :meth:`refresh`."""
        key = rotate_key_file(self.path, keep or self.keep, self._random_bytes)
        self.refresh()
        return key


if TYPE_CHECKING:  # the source conforms to its protocol (mypy checks this)
    def _conforms(source: KeyFileSource) -> TicketKeySource:
        return source
