"""Loader for the RFC 8448 test vectors.

A copy of the team's verified ``shared/vectors/rfc8448.json`` is kept in
``tests/data/`` so the tests never depend on what sits beside the checkout;
``SIOTLS_VECTORS`` overrides the path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "rfc8448.json"
PATH = Path(os.environ.get("SIOTLS_VECTORS") or DEFAULT_PATH)

#: RFC 8448 section number -> key of the section in the JSON.
SECTION_KEYS = {
    3: "section_3_simple_1_rtt_handshake",
    4: "section_4_resumed_0_rtt_handshake",
    5: "section_5_helloretryrequest",
    6: "section_6_client_authentication",
    7: "section_7_compatibility_mode",
}


def _load() -> dict[str, Any] | None:
    try:
        with PATH.open(encoding="utf-8") as file:
            return json.load(file)  # type: ignore[no-any-return]
    except FileNotFoundError:
        return None


VECTORS = _load()
SECTIONS: tuple[int, ...] = tuple(SECTION_KEYS) if VECTORS is not None else ()


def section(number: int) -> dict[str, Any]:
    assert VECTORS is not None
    return VECTORS[SECTION_KEYS[number]]  # type: ignore[no-any-return]


def named(number: int) -> dict[str, bytes]:
    """The section's named values, as bytes."""
    return {name: bytes.fromhex(value) for name, value in section(number)["named"].items()}


def records(number: int) -> list[dict[str, Any]]:
    return section(number)["records"]  # type: ignore[no-any-return]


def rsa_key_numbers() -> dict[str, int]:
    """The §2 server RSA key, every component as an int."""
    assert VECTORS is not None
    key = VECTORS["section_2_private_keys"]["server_rsa_key"]
    return {name: int(value, 16) for name, value in key.items() if name != "note"}
