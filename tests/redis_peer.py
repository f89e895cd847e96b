"""Run a ``redis-server`` of our own for the store tests (not a test module).

:func:`redis_server` starts one on 127.0.0.1 on a free port, without persistence
(``--save '' --appendonly no``, its directory a temporary one), waits (bounded)
for ``Ready to accept connections`` and stops it on exit; a port taken between
our choice and its bind is retried. :data:`REDIS_SERVER` is ``None`` when
Debian's ``redis-server`` is not installed: tests skip (``.ci/run`` installs it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

from gnutls_peer import free_port
from openssl_peer import PeerProcess

__all__ = ["REDIS_SERVER", "RedisServer", "redis_server"]

REDIS_SERVER = shutil.which("redis-server")
START_TIMEOUT = 10.0
BIND_ATTEMPTS = 5


@dataclasses.dataclass
class RedisServer:
    process: PeerProcess
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.stop()


@contextlib.contextmanager
def redis_server(directory: Path, port: int | None = None) -> Iterator[RedisServer]:
    """A fresh, empty redis-server on 127.0.0.1 (its files, if any, in ``directory``), on
    ``port`` (a restart) or a free port."""
    assert REDIS_SERVER is not None
    for _attempt in range(BIND_ATTEMPTS if port is None else 1):
        port = port or free_port()
        process = PeerProcess([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--dir", directory,
                               "--maxmemory-policy", "noeviction"])
        try:
            match = process.wait_for(rb"Ready to accept connections|Address already in use",
                                     timeout=START_TIMEOUT)
            if b"in use" not in match.group(0):
                yield RedisServer(process, port)
                return
        finally:
            process.stop()
    raise AssertionError(f"redis-server could not bind a port ({port} last)")
