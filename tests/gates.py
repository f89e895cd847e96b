"""The SIOTLS_* test gates: environment variables mapped onto pytest markers.

=====================  =======================  =========================================
variable               unset (the default)      ``0`` / ``1``
=====================  =======================  =========================================
SIOTLS_INTEGRATION     integration tests run    ``0`` deselects them: engine tests only
SIOTLS_SLOW            slow tests run, with     ``0`` deselects them; ``1`` fuzzes ten
                       the usual budget         times longer (:func:`fuzz_examples`)
SIOTLS_EXTERNAL        internet tests do not    ``1`` runs them too (``-m internet`` runs
                       run                      only them)
=====================  =======================  =========================================

So the README's ``pytest`` runs every test that needs no internet. Any value other
than ``0``, ``1`` or empty stops pytest with a usage error, rather than meaning "off".

The two pytest hooks below are registered by tests/conftest.py (which imports them):
every test is put on the ``integration`` and ``slow`` markers by the module its
function was written in (:data:`INTEGRATION_MODULES`, :data:`SLOW_MODULES`; the
``internet`` tests mark themselves), and the gates become a ``-m`` expression. Test
files need no change; a new module is sorted by adding its name here.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import pytest

__all__ = ["INTEGRATION_MODULES", "SLOW_MODULES", "Gates", "fuzz_examples", "read_gates"]

#: Modules that run more than the engine in memory: sockets, subprocesses, real peers
#: (Python's ssl, openssl, GnuTLS, Chromium), the adapters, the examples, the docs build.
INTEGRATION_MODULES = frozenset({
    "test_adapter_driver", "test_adapter_sockets", "test_anyio_adapter",
    "test_asyncio_adapter", "test_browser", "test_certificate_selection", "test_cli",
    "test_cli_pq", "test_compat", "test_early_data_adapters", "test_early_data_cli",
    "test_early_data_interop", "test_early_data_redis", "test_fleet", "test_pause_point",
    "test_compat_frameworks", "test_compat_socket", "test_docs", "test_examples",
    "test_examples_async", "test_firefox", "test_gnutls_interop", "test_httpx_adapter",
    "test_interop",
    "test_lazy_adapters", "test_openssl_interop", "test_pathbuilder_interop",
    "test_pyopenssl_interop", "test_readme_and_examples", "test_record_size_limit",
    "test_resumption_adapters", "test_resumption_cli", "test_resumption_compat",
    "test_resumption_httpx", "test_resumption_interop",
    "test_ssl_interop", "test_stores_redis", "test_trio_adapter", "test_workflow",
    # issue 9 (certs2): OCSP, post-handshake auth, raw public keys, compat, CLI
    "test_adapters_certs", "test_cli_certs", "test_compat_certs", "test_ocsp_interop",
    "test_pha_interop", "test_raw_public_keys_interop",
    # issue 11 (speed review): Python's ssl in memory, trio over loopback TCP
    "test_compat_fuzz", "test_trio_cancellation_property",
})
#: Modules of CPU-heavy tests (fuzzing).
SLOW_MODULES = frozenset({"test_fuzz", "test_fuzz_extensions"})
#: How much longer ``SIOTLS_SLOW=1`` fuzzes.
LONG_FUZZING_FACTOR = 10


class Gates(NamedTuple):
    integration: bool
    slow: bool
    long_fuzzing: bool
    external: bool


def _gate(name: str) -> bool | None:
    """``True`` for ``1``, ``False`` for ``0``, ``None`` when unset or empty."""
    value = os.environ.get(name, "").strip()
    if value == "":
        return None
    if value in ("0", "1"):
        return value == "1"
    raise ValueError(f"{name}={value!r}: use 1 (on) or 0 (off), or leave it unset")


def read_gates() -> Gates:
    slow = _gate("SIOTLS_SLOW")
    return Gates(integration=_gate("SIOTLS_INTEGRATION") is not False,
                 slow=slow is not False, long_fuzzing=slow is True,
                 external=_gate("SIOTLS_EXTERNAL") is True)


def fuzz_examples(default: int) -> int:
    """A hypothesis ``max_examples``: ``default``, times ten under ``SIOTLS_SLOW=1``."""
    return default * LONG_FUZZING_FACTOR if read_gates().long_fuzzing else default


# -- the hooks (imported by tests/conftest.py) ---------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    try:
        gates = read_gates()
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    clauses = []
    if not gates.integration:
        clauses.append("not integration")
    if not gates.slow:
        clauses.append("not slow")
    markexpr = config.option.markexpr
    if markexpr:  # the user's -m (e.g. ``-m internet``) is kept, the gates added to it
        clauses.insert(0, f"({markexpr})")
    elif not gates.external:
        clauses.append("not internet")
    config.option.markexpr = " and ".join(clauses)


@pytest.hookimpl(tryfirst=True)  # before the mark plugin deselects by -m
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        # Where the test function was written (tests/test_backends.py collects others' again).
        function = getattr(item, "function", None)
        module = getattr(function, "__module__", None) or getattr(
            getattr(item, "module", None), "__name__", "")
        module = module.rpartition(".")[2]
        if module in INTEGRATION_MODULES:
            item.add_marker(pytest.mark.integration)
        if module in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
