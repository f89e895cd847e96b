"""The maps stay true: the core's module table, the docs' index, the names the docs cite.

* every module of :mod:`siotls.core` has its line in the package docstring's table
  (the "which file holds what" of the README and docs/design.rst);
* every page in docs/ is in a toctree of docs/index.rst;
* every dotted ``siotls.…`` name in README.md and docs/*.rst exists: a module, or an
  attribute, dataclass field or instance attribute (``self.name =`` in ``__init__``)
  of what comes before it.

Sphinx without nitpicky mode renders a reference to a name that does not exist as
plain text, silently; this module is what catches a renamed or removed name.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

import siotls.core

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CORE = ROOT / "src" / "siotls" / "core"
DOTTED = re.compile(r"\bsiotls(?:\.[A-Za-z_]\w*)+")


def test_core_table_lists_every_core_module() -> None:
    assert siotls.core.__doc__ is not None
    listed = set(re.findall(r"^(\w+\.py) {2,}\S", siotls.core.__doc__, re.MULTILINE))
    modules = {path.name for path in CORE.glob("*.py") if path.name != "__init__.py"}
    assert modules - listed == set(), "core modules without a line in siotls/core/__init__.py"
    assert listed - modules == set(), "lines in siotls/core/__init__.py for no module"


def test_index_links_every_page() -> None:
    index = (DOCS / "index.rst").read_text()
    linked = set(re.findall(r"^ {3}([\w-]+)$", index, re.MULTILINE))
    pages = {path.stem for path in DOCS.glob("*.rst")} - {"index"}
    assert pages - linked == set(), "pages missing from docs/index.rst's toctrees"
    assert linked - pages == set(), "docs/index.rst links pages that do not exist"


def _has_name(obj: object, name: str) -> bool:
    if hasattr(obj, name) or name in getattr(obj, "__dataclass_fields__", {}):
        return True
    init = getattr(obj, "__init__", None) if inspect.isclass(obj) else None
    try:
        source = inspect.getsource(init) if init is not None else ""
    except (OSError, TypeError):  # a builtin __init__
        return False
    return re.search(rf"\bself\.{name}\s*[:=]", source) is not None


def _resolve(dotted: str) -> bool:
    """Whether ``dotted`` names a module, or a name reachable from the longest module."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError as exc:
            if exc.name is not None and not exc.name.startswith("siotls"):
                pytest.skip(f"{dotted} needs {exc.name}, not installed")
            continue
        for part in parts[split:]:
            if not _has_name(obj, part):
                return False
            obj = getattr(obj, part, None)  # a field or instance attribute: no deeper
            if obj is None:
                return part == parts[-1]
        return True
    return False


def _cited_names() -> list[tuple[str, str]]:
    cited = set()
    for path in [ROOT / "README.md", *sorted(DOCS.glob("*.rst"))]:
        for match in DOTTED.finditer(path.read_text()):
            cited.add((path.name, match.group(0)))
    return sorted(cited)


@pytest.mark.parametrize(("page", "dotted"), _cited_names())
def test_cited_name_exists(page: str, dotted: str) -> None:
    assert _resolve(dotted), f"{page} cites {dotted}, which does not exist"
