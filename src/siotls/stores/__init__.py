"""Stores a fleet of servers shares: the 0-RTT strike register and the ticket keys.

Nothing in :mod:`siotls.core` imports this package: the engine stays sans-IO
and asks its questions (a key to record, keys to seal tickets with) through the
interfaces defined here, which these stores implement.

=================  ==============================================================
strikes.py         StrikeRegister / AsyncStrikeRegister, MemoryStrikeRegister
keys.py            TicketKeySource / AsyncTicketKeySource, KeyFileSource
redis.py           the Redis forms of both (needs ``pip install siotls[redis]``)
=================  ==============================================================

:mod:`siotls.stores.redis` is imported only when asked for, so ``import
siotls.stores`` does not need the ``redis`` package.
"""

from siotls.stores.keys import AsyncTicketKeySource, KeyFileSource, TicketKeySource
from siotls.stores.strikes import (
    AsyncStrikeRegister,
    MemoryStrikeRegister,
    StrikeRegister,
    StrikeStats,
    ask,
)

__all__ = ["AsyncStrikeRegister", "AsyncTicketKeySource", "KeyFileSource",
           "MemoryStrikeRegister", "StrikeRegister", "StrikeStats", "TicketKeySource", "ask"]
