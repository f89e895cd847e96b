"""normalize_server_hostname's answers are cached (bounded): each client connection
asks it, and an IP address check that fails on a name costs two exceptions."""

from __future__ import annotations

import pytest

from siotls import TLSConnection
from siotls.core.config import HOSTNAME_CACHE_SIZE, normalize_server_hostname
from siotls.core.errors import TLSUsageError


def test_cached_answers_are_the_answers() -> None:
    normalize_server_hostname.cache_clear()
    for host, expected in (("Example.COM.", "Example.COM"), ("127.0.0.1", "127.0.0.1"),
                           ("::1", "::1"), ("bücher.example", "xn--bcher-kva.example")):
        assert normalize_server_hostname(host) == expected
        assert normalize_server_hostname(host) == expected  # from the cache
    assert normalize_server_hostname.cache_info().hits == 4


def test_errors_are_raised_every_time() -> None:
    from helpers import default_configs

    client_config = default_configs()[0]
    for _ in range(2):
        with pytest.raises(TLSUsageError):
            TLSConnection(client_config, "a..b")
        with pytest.raises(TLSUsageError):
            TLSConnection(client_config, "x" * 64 + ".example")


def test_bounded() -> None:
    normalize_server_hostname.cache_clear()
    for n in range(HOSTNAME_CACHE_SIZE * 2):
        normalize_server_hostname(f"host{n}.example")
    assert normalize_server_hostname.cache_info().currsize == HOSTNAME_CACHE_SIZE
