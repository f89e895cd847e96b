"""Where the engine gets randomness, time and ephemeral keys: the one module
that calls :func:`os.urandom`, :func:`time.time` or reads the wall clock.

Everything else in :mod:`siotls.core` asks its :class:`~siotls.core.config.TLSConfiguration`
(``random_bytes``, ``clock``, ``key_share_generator``), whose defaults are the
functions below. A test injects fixed values through those fields and gets the
same bytes on every run: ``tests/test_rfc8448_replay.py`` replays the RFC 8448
traces that way, with the traces' randoms and private keys.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datetime
    from collections.abc import Callable

__all__ = ["backend_chosen", "choose_backend", "clock", "generate_key_share", "random_bytes",
           "utc_datetime"]

#: ``(n) -> n`` cryptographically secure random bytes.
random_bytes: Callable[[int], bytes] = os.urandom
#: The current time, in seconds since the epoch.
clock: Callable[[], float] = time.time


#: Whether a crypto backend is installed (once it is, it stays so): checked by each new
#: connection without an import, and ``import siotls`` does not load siotls.crypto.
backend_chosen = False


def choose_backend() -> None:
    """The first connection installs the default crypto backend, unless one was chosen."""
    global backend_chosen  # noqa: PLW0603
    from siotls import crypto as crypto_backend  # noqa: PLC0415

    crypto_backend.ensure_installed()
    backend_chosen = True


#: crypto.generate_key_share once bound (``import siotls`` loads no cryptography; an
#: import statement per call would run importlib's _handle_fromlist each time).
_generate: Callable[[int], tuple[Any, bytes]] | None = None


def generate_key_share(group: int) -> tuple[Any, bytes]:
    """A fresh ephemeral private key for ``group`` and its KeyShareEntry.key_exchange."""
    global _generate  # noqa: PLW0603
    if _generate is None:
        from siotls.core.crypto import generate_key_share as generate  # noqa: PLC0415

        _generate = generate
    return _generate(group)


def utc_datetime(clock: Callable[[], float] = clock) -> datetime.datetime:
    """The time ``clock`` tells, as an aware UTC datetime (for X.509 validity)."""
    import datetime  # noqa: PLC0415 (here: import siotls does not load datetime)

    return datetime.datetime.fromtimestamp(clock(), datetime.UTC)
