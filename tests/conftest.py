# ======================================================================================
# The SIOTLS_* test gates (tests/gates.py says what each variable does).
#
# Every test module is sorted here, by name, onto the ``integration`` and ``slow``
# markers (``internet`` tests mark themselves), and the gates become a ``-m``
# expression: test files need no change, and a new module is sorted by adding its name.
# ======================================================================================
from __future__ import annotations

import pytest

#: Modules that run more than the engine in memory: sockets, subprocesses, real peers
#: (Python's ssl, openssl, GnuTLS, Chromium), the adapters, the examples, the docs build.
INTEGRATION_MODULES = frozenset({
    "test_anyio_adapter", "test_asyncio_adapter", "test_browser", "test_cli", "test_compat",
    "test_compat_frameworks", "test_docs", "test_examples", "test_examples_async",
    "test_gnutls_interop", "test_httpx_adapter", "test_openssl_interop",
    "test_readme_and_examples", "test_ssl_interop", "test_trio_adapter", "test_workflow",
})
#: Modules of CPU-heavy tests (fuzzing).
SLOW_MODULES = frozenset({"test_fuzz"})


def pytest_configure(config: pytest.Config) -> None:
    try:
        import gates
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    clauses = []
    if not gates.INTEGRATION:
        clauses.append("not integration")
    if not gates.SLOW:
        clauses.append("not slow")
    markexpr = config.option.markexpr
    if markexpr:  # the user's -m (e.g. ``-m internet``) is kept, the gates added to it
        clauses.insert(0, f"({markexpr})")
    elif not gates.EXTERNAL:
        clauses.append("not internet")
    config.option.markexpr = " and ".join(clauses)


@pytest.hookimpl(tryfirst=True)  # before the mark plugin deselects by -m
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        # Where the test function was written (tests/test_backends.py collects others' again).
        function = getattr(item, "function", None)
        module = getattr(function, "__module__", None) or (
            item.module.__name__ if item.module else "")
        module = module.rpartition(".")[2]
        if module in INTEGRATION_MODULES:
            item.add_marker(pytest.mark.integration)
        if module in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)

# ======================================================================================
# end of the SIOTLS_* test gates
# ======================================================================================
