"""The contributor workflow: dependency groups, pre-commit hooks, the SIOTLS_* test gates.

* ``pyproject.toml``'s PEP 735 ``[dependency-groups]`` (``uv sync --group tests --group
  docs``) are valid and each one is the extra of the same purpose, so pip and uv install
  the same things; the ``test`` extra brings Sphinx and pyhacl, so the README's
  ``pytest`` builds the docs and runs both crypto backends.
* ``.pre-commit-config.yaml`` validates, and its hooks, run by ``pre-commit`` in a
  scratch git repository, fail on a lint error and on a type error, and pass once fixed.
* The gates (tests/gates.py) select the right tests of a tiny test tree, in subprocess
  pytest runs, for each value of each variable.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PRE_COMMIT = shutil.which("pre-commit")
GIT = shutil.which("git")


# -- dependency groups and extras -----------------------------------------------------------
def _extras_of(requirement: str) -> set[str]:
    """The extras of a self-reference ``siotls[a,b]`` (empty for another package)."""
    from packaging.requirements import Requirement

    parsed = Requirement(requirement)  # raises InvalidRequirement unless PEP 508
    return set(parsed.extras) if parsed.name == "siotls" else set()


def _closure(extra: str) -> set[str]:
    """``extra`` and every extra it pulls in through self-references."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    seen, todo = set(), [extra]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            for requirement in extras[name]:
                todo.extend(_extras_of(requirement))
    return seen


def test_dependency_groups_are_the_extras() -> None:
    groups = PYPROJECT["dependency-groups"]
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(groups) >= {"tests", "docs", "precommit"}
    for entries in groups.values():
        for entry in entries:
            assert isinstance(entry, str), entry  # no include-group needed so far
            assert _extras_of(entry) <= set(extras), entry
    assert groups["tests"] == ["siotls[test]"]
    assert groups["docs"] == ["siotls[docs]"]
    assert {"pre-commit", "mypy", "ruff"} <= {r.split(">")[0].split("=")[0]
                                             for r in groups["precommit"]}


def test_the_test_extra_builds_the_docs_and_runs_both_backends() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"test", "docs", "hacl"} <= _closure("test")
    assert any(r.startswith("sphinx") for r in extras["docs"])
    assert any(r.startswith("pyhacl") for r in extras["hacl"])
    assert "test" in _closure("dev")


def test_ci_runs_the_readme_test_command_with_every_extra_it_needs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    installed = re.search(r"pip install [^\n]*-e '\.\[(\w+)\]'", ci)
    assert installed is not None
    assert {"test", "docs", "hacl"} <= _closure(installed.group(1))
    assert "pip install -e '.[test]'" in readme
    assert re.search(r"^python3 -m pytest$", ci, re.MULTILINE)  # the README's `pytest`


# -- pre-commit ---------------------------------------------------------------------------------
requires_pre_commit = pytest.mark.skipif(PRE_COMMIT is None or GIT is None,
                                         reason="needs pre-commit and git")


@requires_pre_commit
def test_pre_commit_config_validates() -> None:
    assert PRE_COMMIT is not None
    result = subprocess.run([PRE_COMMIT, "validate-config", ".pre-commit-config.yaml"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _git(repo: Path, *args: str) -> None:
    assert GIT is not None
    subprocess.run([GIT, "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
                   cwd=repo, check=True, capture_output=True, timeout=60)


def _pre_commit_run(repo: Path, home: Path) -> subprocess.CompletedProcess[str]:
    assert PRE_COMMIT is not None
    env = {**os.environ, "PRE_COMMIT_HOME": str(home),
           # the hooks run `python3 -m ruff/mypy`: this interpreter's
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([PRE_COMMIT, "run", "--all-files"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@requires_pre_commit
@pytest.mark.timeout(240)
def test_pre_commit_hooks_catch_lint_and_type_errors(tmp_path: Path) -> None:
    """The project's hooks and ruff/mypy settings, on a scratch package of one module."""
    repo = tmp_path / "repo"
    package = repo / "src" / "scratch"
    package.mkdir(parents=True)
    shutil.copy(ROOT / ".pre-commit-config.yaml", repo)
    shutil.copy(ROOT / "pyproject.toml", repo)
    (package / "__init__.py").write_text(textwrap.dedent("""\
        import os

        def half(n: int) -> int:
            return n / 2
        """))
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    result = _pre_commit_run(repo, tmp_path / "home")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert re.search(r"ruff check\.+Failed", output), output
    assert "F401" in output  # `import os` unused
    assert re.search(r"mypy --strict \(src\)\.+Failed", output), output
    assert "Incompatible return value type" in output

    (package / "__init__.py").write_text(textwrap.dedent('''\
        """A scratch package."""


        def half(n: int) -> float:
            return n / 2
        '''))
    _git(repo, "add", "-A")
    result = _pre_commit_run(repo, tmp_path / "home")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"ruff check\.+Passed", output), output
    assert re.search(r"mypy --strict \(src\)\.+Passed", output), output


# -- the SIOTLS_* gates ---------------------------------------------------------------------
TREE = {
    "conftest.py": "from gates import pytest_collection_modifyitems, pytest_configure  # noqa\n",
    "pytest.ini": "[pytest]\nmarkers =\n    integration\n    slow\n    internet\n",
    "test_engine.py": "def test_unit():\n    pass\n",
    # module names the gates sort: an integration one and a slow one
    "test_ssl_interop.py": "def test_integration():\n    pass\n",
    "test_fuzz.py": textwrap.dedent("""\
        import os
        from gates import fuzz_examples

        def test_slow():
            assert fuzz_examples(10) == int(os.environ["EXPECT_EXAMPLES"])
        """),
    "test_internet.py": textwrap.dedent("""\
        import pytest
        pytestmark = pytest.mark.internet

        def test_external():
            pass
        """),
    # collected again elsewhere (as tests/test_backends.py does): sorted by where written
    "test_again.py": "from test_ssl_interop import test_integration as test_rerun  # noqa\n",
}
ALL = {"test_unit", "test_integration", "test_rerun", "test_slow", "test_external"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gates")
    for name, text in TREE.items():
        (root / name).write_text(text)
    return root


def run_tree(tree: Path, *args: str, **env: str) -> tuple[int, set[str], str]:
    """Run pytest on the tree; return its exit code, the tests that passed, its output."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIOTLS_")}
    clean.update({"PYTHONPATH": os.pathsep.join([str(TESTS), clean.get("PYTHONPATH", "")]),
                  "EXPECT_EXAMPLES": "10",
                  "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # the tree needs no plugin: start fast
                  **env})
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", *args],
        cwd=tree, env=clean, capture_output=True, text=True, timeout=120, check=False)
    output = result.stdout + result.stderr
    passed = set(re.findall(r"^PASSED \S+::(\w+)", result.stdout, re.MULTILINE))
    return result.returncode, passed, output


@pytest.mark.parametrize(("env", "args", "expected"), [
    ({}, (), ALL - {"test_external"}),
    ({"SIOTLS_INTEGRATION": "1", "SIOTLS_SLOW": "", "SIOTLS_EXTERNAL": "0"}, (),
     ALL - {"test_external"}),
    ({"SIOTLS_INTEGRATION": "0"}, (), {"test_unit", "test_slow"}),
    ({"SIOTLS_SLOW": "0"}, (), {"test_unit", "test_integration", "test_rerun"}),
    ({"SIOTLS_SLOW": "1", "EXPECT_EXAMPLES": "100"}, (), ALL - {"test_external"}),
    ({"SIOTLS_EXTERNAL": "1"}, (), ALL),
    ({}, ("-m", "internet"), {"test_external"}),
    ({"SIOTLS_INTEGRATION": "0", "SIOTLS_SLOW": "0"}, ("-m", "not internet"), {"test_unit"}),
], ids=["default", "explicit-defaults", "no-integration", "no-slow", "long-fuzzing",
        "external", "only-internet", "engine-only"])
def test_gates_select_the_tests(tree: Path, env: dict[str, str], args: tuple[str, ...],
                                expected: set[str]) -> None:
    code, passed, output = run_tree(tree, *args, **env)
    assert passed == expected, output
    assert code == 0, output


def test_a_bad_gate_value_is_a_usage_error(tree: Path) -> None:
    code, passed, output = run_tree(tree, SIOTLS_SLOW="yes")
    assert code == pytest.ExitCode.USAGE_ERROR, output
    assert "SIOTLS_SLOW='yes': use 1 (on) or 0 (off)" in output
    assert not passed
