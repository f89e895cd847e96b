"""The SIOTLS_* test gates, read from the environment (see tests/conftest.py).

=====================  =======================  =========================================
variable               unset (the default)      ``0`` / ``1``
=====================  =======================  =========================================
SIOTLS_INTEGRATION     integration tests run    ``0`` deselects them: engine tests only
SIOTLS_SLOW            slow tests run, with     ``0`` deselects them; ``1`` fuzzes ten
                       the usual budget         times longer (:func:`fuzz_examples`)
SIOTLS_EXTERNAL        internet tests do not    ``1`` runs them too (as ``-m internet``
                       run                      runs only them)
=====================  =======================  =========================================

So the README's ``pytest`` runs every test that needs no internet. Any other value
than ``0``, ``1`` or the empty string is a usage error, not silently "off".
"""

from __future__ import annotations

import os

__all__ = ["EXTERNAL", "INTEGRATION", "LONG_FUZZING", "SLOW", "fuzz_examples", "gate"]

#: How much longer ``SIOTLS_SLOW=1`` fuzzes.
LONG_FUZZING_FACTOR = 10


def gate(name: str) -> bool | None:
    """``True`` for ``1``, ``False`` for ``0``, ``None`` when unset or empty."""
    value = os.environ.get(name, "").strip()
    if value == "":
        return None
    if value in ("0", "1"):
        return value == "1"
    raise ValueError(f"{name}={value!r}: use 1 (on) or 0 (off), or leave it unset")


INTEGRATION = gate("SIOTLS_INTEGRATION") is not False
SLOW = gate("SIOTLS_SLOW") is not False
LONG_FUZZING = gate("SIOTLS_SLOW") is True
EXTERNAL = gate("SIOTLS_EXTERNAL") is True


def fuzz_examples(default: int) -> int:
    """A hypothesis ``max_examples``: ``default``, times ten under ``SIOTLS_SLOW=1``."""
    return default * LONG_FUZZING_FACTOR if LONG_FUZZING else default
