"""Sphinx configuration for the siotls documentation.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
No network access is needed (intersphinx is deliberately not used).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
# The package is normally installed (editable); fall back on the source tree.
try:
    import siotls
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(HERE.parent / "src"))
    import siotls

project = "siotls"
author = "the siotls authors"
copyright = "the siotls authors"
release = siotls.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "siotls_docs",  # docs/_ext/siotls_docs.py: tables generated from the code
]

exclude_patterns = ["_build"]
templates_path: list[str] = []
root_doc = "index"
language = "en"
pygments_style = "sphinx"


# -- autodoc ------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "description"      # long defaults stay readable in signatures
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_class_signature = "mixed"
# trio and anyio come with the [trio]/[anyio]/[test] extras, not with [docs]: when
# they are missing, the adapter pages are built against mocks instead of failing.
autodoc_mock_imports = [name for name in ("trio", "anyio")
                        if importlib.util.find_spec(name) is None]

# -- HTML ---------------------------------------------------------------------
html_theme = "alabaster"
html_theme_options = {
    "description": "A sans-IO TLS 1.3 implementation in Python",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "240px",
}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}
html_static_path: list[str] = []
html_show_sourcelink = False
html_copy_source = False
