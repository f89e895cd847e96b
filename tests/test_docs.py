"""The Sphinx documentation (docs/) builds without a single warning.

Runs ``python -m sphinx -W --keep-going -b html docs <tmp>`` in a subprocess, as
a reader or CI would. Sphinx comes with the ``test`` extra (through ``docs``), so the
README's ``pytest`` runs this; it is skipped only where Sphinx is missing. The build
needs no network (no intersphinx).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.timeout(150)
def test_sphinx_build_is_warning_free(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, f"sphinx-build failed:\n{result.stdout}\n{result.stderr}"
    assert (tmp_path / "html" / "index.html").is_file()
