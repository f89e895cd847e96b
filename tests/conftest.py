# ======================================================================================
# The SIOTLS_* test gates: SIOTLS_INTEGRATION, SIOTLS_SLOW, SIOTLS_EXTERNAL mapped onto
# the integration / slow / internet markers. The hooks live in tests/gates.py, which
# says what each variable does and sorts the modules onto the markers.
# ======================================================================================
from gates import pytest_collection_modifyitems, pytest_configure  # noqa: F401 (hooks)

# ======================================================================================
# end of the SIOTLS_* test gates
# ======================================================================================
