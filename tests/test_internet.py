"""Real servers on the internet: deselected by default, run with ``pytest -m internet``.

The rest of the suite runs on 127.0.0.1 only; these check siotls against the web's
TLS stacks (with the system trust store) when a network is at hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from siotls.trust import get_truststore

pytestmark = pytest.mark.internet

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from client import fetch  # noqa: E402


@pytest.mark.parametrize("host", ["example.com", "www.google.com", "cloudflare.com",
                                  "www.python.org"])
def test_fetch_over_the_internet(host: str) -> None:
    response = fetch(host, 443, get_truststore())
    assert response.startswith(b"HTTP/1.1 ")
