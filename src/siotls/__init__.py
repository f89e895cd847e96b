"""siotls: a sans-IO TLS 1.3 implementation (RFC 8446) on ``cryptography``.

The public names:

* the engine: :class:`TLSConfiguration` (what a connection may do),
  :class:`TLSConnection` (bytes in, bytes out), :class:`TLSNegotiatedConfiguration`
  (``conn.nconfig``, what it did), :class:`InsecureWarning`;
* credentials and resumption: :class:`CertificateChain` (one of a server's
  chains), :class:`TLSSession` (a client's ticket, to resume with),
  :class:`TicketKeys` / :class:`TicketKey` (a server's ticket keys),
  :class:`ExternalPSK`;
* errors: :class:`TLSError`, :class:`TLSFatalAlert` (one subclass per alert, in
  :mod:`siotls.errors`), :class:`TLSPeerAlert`, :class:`TLSUsageError`,
  :class:`RaggedEOF`;
* the modules :mod:`siotls.iana`, :mod:`siotls.crypto` (the backend switch)
  and :mod:`siotls.errors` (these two imported on first access), and,
  imported by name, :mod:`siotls.trust` (trust stores, ``verify_chain``),
  :mod:`siotls.pem`, :mod:`siotls.tickets` (key files), :mod:`siotls.stores`
  (what a fleet shares) and :mod:`siotls.cli`.

The adapters :mod:`siotls.asyncio`, :mod:`siotls.trio`, :mod:`siotls.anyio`,
:mod:`siotls.httpx` and :mod:`siotls.compat` are attributes too, imported on
first access (PEP 562), so ``import siotls`` alone imports none of asyncio,
trio, anyio, httpx or ssl::

    import siotls
    stream = await siotls.anyio.connect("example.org", 443)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from siotls import iana
from siotls.core import earlydata as _earlydata
from siotls.core.config import InsecureWarning, TLSConfiguration, TLSNegotiatedConfiguration
from siotls.core.connection import TLSConnection
from siotls.core.errors import RaggedEOF, TLSError, TLSFatalAlert, TLSPeerAlert, TLSUsageError

if TYPE_CHECKING:  # what __getattr__ loads, for type checkers
    from siotls import anyio, asyncio, compat, crypto, errors, httpx, trio
    from siotls.core.credentials import CertificateChain
    from siotls.core.psk import ExternalPSK
    from siotls.core.session import TLSSession
    from siotls.core.tickets import TicketKey, TicketKeys

__version__ = "0.1.0"

#: the adapter modules, and two small ones (each module loaded costs its lookup),
#: loaded by __getattr__ on first access
_LAZY_MODULES = ("anyio", "asyncio", "compat", "crypto", "errors", "httpx", "trio")
#: names whose modules a connection without PSKs or tickets never needs (they
#: pull in the message codecs and hmac), and a server's chains (a dataclass):
#: loaded by __getattr__ on first access
_LAZY_NAMES = {
    "CertificateChain": "siotls.core.credentials",
    "ExternalPSK": "siotls.core.psk",
    "TLSSession": "siotls.core.session",
    "TicketKey": "siotls.core.tickets",
    "TicketKeys": "siotls.core.tickets",
}

__all__ = [
    "CertificateChain",
    "ExternalPSK",
    "InsecureWarning",
    "RaggedEOF",
    "TLSConfiguration",
    "TLSConnection",
    "TLSError",
    "TLSFatalAlert",
    "TLSNegotiatedConfiguration",
    "TLSPeerAlert",
    "TLSSession",
    "TLSUsageError",
    "TicketKey",
    "TicketKeys",
    "__version__",
    "anyio",
    "asyncio",
    "compat",
    "crypto",
    "errors",
    "httpx",
    "iana",
    "trio",
]


def _memory_strike_register(config: TLSConfiguration) -> _earlydata.Register:
    """The default 0-RTT register of a server configuration: in memory, on its clock."""
    from siotls.stores.strikes import DEFAULT_WINDOW, MemoryStrikeRegister  # noqa: PLC0415

    if config.early_data_anti_replay == "ticket":  # single-use: a ticket's whole life
        return MemoryStrikeRegister(window=max(DEFAULT_WINDOW, config.ticket_lifetime),
                                    clock=config.clock)
    return MemoryStrikeRegister(clock=config.clock)


# The core imports no thread nor clock: the package hands it its default register.
_earlydata.default_register = _memory_strike_register


def __getattr__(name: str) -> object:
    """Import on first access: an adapter module (``siotls.anyio`` and the like), or
    a name of :data:`_LAZY_NAMES` (``siotls.TLSSession``...)."""
    import importlib  # noqa: PLC0415 (here: import siotls does not need it)

    if name in _LAZY_MODULES:
        return importlib.import_module(f"siotls.{name}")  # also sets it on the package
    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'siotls' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_MODULES, *_LAZY_NAMES})
