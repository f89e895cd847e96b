"""pytest configuration shared by the whole suite.

Each section below belongs to one concern; keep them apart.
"""

from __future__ import annotations

# =================================================================================
# The SIOTLS_* test gates (workflow, issue 12): SIOTLS_INTEGRATION, SIOTLS_SLOW and
# SIOTLS_EXTERNAL mapped onto the integration / slow / internet markers. The hooks
# live in gates.py, which says what each variable does and sorts modules onto markers.
# =================================================================================
from gates import pytest_collection_modifyitems, pytest_configure  # noqa: F401 (hooks)

# =================================================================================
# End of the SIOTLS_* test gates.
# =================================================================================
# isort: split
import pytest

from helpers import connected, new_client, new_server
from siotls import TLSConnection

# =================================================================================
# Connection fixtures (core, issue 13). The functions behind them live in
# helpers.py (new_client, new_server, connected, connection_pair) so that module-
# level code and tests with arguments can use them too.
# =================================================================================


@pytest.fixture
def tls_client() -> TLSConnection:
    """An initiated client of the default configuration, its ClientHello queued."""
    return new_client()


@pytest.fixture
def tls_server() -> TLSConnection:
    """An initiated server of the default configuration, waiting for a ClientHello."""
    return new_server()


@pytest.fixture
def tls_pair() -> tuple[TLSConnection, TLSConnection]:
    """``(client, server)`` of the default configurations, handshake completed in memory."""
    return connected()

# =================================================================================
# End of the connection fixtures.
# =================================================================================
