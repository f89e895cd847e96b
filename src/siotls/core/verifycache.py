"""Recent successful chain verifications of one trust store: :class:`VerificationCache`.

Theory of operation
-------------------
Verifying a peer's chain (:func:`siotls.core.certificates.verify_chain`) is, once
the process runs, a pure function of five inputs:

* the trust store, which is immutable (each :class:`~siotls.trust.TrustStore`
  owns its cache, so the store is part of the key by construction);
* the chain, the exact DER bytes the peer sent, in their order (extra certificates
  included): the key holds the bytes themselves, and a lookup compares them all,
  so a chain that differs in one byte is another key;
* the server name checked (``None`` for none) and the purpose (serverAuth or
  clientAuth): both in the key, the name as given;
* the validation time, which the checks only use through the validity periods
  (notBefore, notAfter) of the certificates of the path;
* the policy (``cryptography``'s web PKI profile, :mod:`siotls.core.pathbuilder`'s
  rules, the key checks), fixed in the process.

So when a chain verified at one moment, with path P, it verifies at any moment
inside the validity periods of every certificate of P, by the same path:
nothing else it was checked for depends on the time. An entry therefore answers
only for moments within ``[latest notBefore, earliest notAfter]`` of its path
(trust anchor included), both ends inclusive as in RFC 5280, and in any case for
at most :data:`TTL` seconds of validation time after the verification (defense
in depth: no input is known to change within that time, but none is needed
for longer). Outside that window the entry is dropped and the chain verified
again.

Only successes are kept: a refused chain is checked in full every time, and no
error object is ever shared between connections. What the cache saves is
path validation alone (signature checks of the certificates, parsing); what
proves the peer holds the leaf's key, its CertificateVerify, is checked on every
handshake by the handshake itself, and a stapled OCSP response is checked by
:mod:`siotls.core.ocsp` on every handshake too.

Bounds: at most ``maxsize`` entries (the oldest one goes first), and a chain of
more than :data:`MAX_CHAIN_BYTES` DER bytes is never kept, so the peers cannot
make it hold more than ``maxsize * MAX_CHAIN_BYTES`` bytes of chains (plus their
parsed paths). :func:`~siotls.core.certificates.verify_chain` hands out a copy of
the stored path, so a caller that changes the list it gets changes no other
connection's; the parsed certificates and the DER bytes in it are immutable and
shared (a connection keeps no copy of its own).

No lock: a trust store is shared by the connections of every thread, and each
operation here is one dictionary call (or tolerates a concurrent change), so
the worst a race does is verify a chain once more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # datetime loads with the first certificate check (import siotls.trust
    import datetime  # imports this module)

    from siotls.core.certificates import VerifiedPath

__all__ = ["DEFAULT_SIZE", "MAX_CHAIN_BYTES", "TTL", "CacheKey", "VerificationCache"]

#: Entries a trust store keeps by default (``TrustStore(..., cache_size=...)``).
DEFAULT_SIZE = 128
#: Seconds of validation time an entry answers for, at most.
TTL = 300
#: Chains longer than this (the sum of their DER lengths) are not kept.
MAX_CHAIN_BYTES = 16384

#: (the chain's DER certificates as received, the server name or None, the purpose)
CacheKey = tuple[tuple[bytes, ...], str | None, str]
_Entry = tuple["VerifiedPath", "datetime.datetime", "datetime.datetime"]


class VerificationCache:
    """Successful verifications of one trust store: key -> path, within a time window.

    :param maxsize: the number of entries kept, at most; 0 keeps none.
    """

    __slots__ = ("_entries", "maxsize")

    def __init__(self, maxsize: int = DEFAULT_SIZE) -> None:
        if maxsize < 0:
            raise ValueError(f"maxsize must be 0 or more, not {maxsize}")
        self.maxsize = maxsize
        self._entries: dict[CacheKey, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()

    def get(self, key: CacheKey, moment: datetime.datetime) -> VerifiedPath | None:
        """The path stored for ``key``, when ``moment`` lies in its window, else None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        path, not_before, not_after = entry
        if not_before <= moment <= not_after:
            return path
        self._entries.pop(key, None)  # an entry never answers outside its window
        return None

    def put(self, key: CacheKey, path: VerifiedPath, moment: datetime.datetime) -> None:
        """Keep ``path``, the verdict for ``key`` at ``moment`` (when it fits the bounds)."""
        if self.maxsize == 0 or sum(map(len, key[0])) > MAX_CHAIN_BYTES:
            return
        from datetime import timedelta  # noqa: PLC0415 (loaded by then: see the imports)

        certificates = path.certificates
        not_before = max(c.not_valid_before_utc for c in certificates)
        not_after = min(*(c.not_valid_after_utc for c in certificates),
                        moment + timedelta(seconds=TTL))
        entries = self._entries
        for _ in range(len(entries) - self.maxsize + 1):  # the oldest first
            try:
                oldest = next(iter(entries))
            except (StopIteration, RuntimeError):  # emptied or changed by another thread
                break
            entries.pop(oldest, None)
        entries[key] = (path, not_before, not_after)
