"""A local Sphinx extension for the siotls docs.

``.. dataclass-fields:: siotls.TLSConfiguration`` renders a table of a
dataclass's fields with their type and default, read from the class itself
(``dataclasses.fields``), so the table cannot drift from the code;
``.. alert-errors::`` does the same for ``siotls.errors.ALERT_ERRORS``, and
``.. argparse-help:: siotls.cli:build_parser client`` prints a parser's ``--help``
and ``.. extras-table::`` lists the extras of ``pyproject.toml``.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective


def _import(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _show(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, tuple):
        if not value:
            return "``()``"
        return ", ".join(_show(item) for item in value)
    if callable(value):
        return f"``{getattr(value, '__name__', repr(value))}()``"
    return f"``{value!r}``"


def _default(field: dataclasses.Field[Any], factories: dict[str, str]) -> str:
    if field.default is not dataclasses.MISSING:
        return _show(field.default)
    if field.default_factory is not dataclasses.MISSING:
        return factories.get(field.name, f"``{field.default_factory.__name__}()``")
    return "*required*"


class DataclassFields(SphinxDirective):
    required_arguments = 1
    option_spec = {"factory": directives.unchanged}  # "name: text; name: text"

    def run(self) -> list[nodes.Node]:
        cls = _import(self.arguments[0])
        factories = {}
        for item in (self.options.get("factory") or "").split(";"):
            if item.strip():
                name, _, text = item.partition(":")
                factories[name.strip()] = text.strip()
        lines = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 22 30 48",
            "",
            "   * - Field",
            "     - Type",
            "     - Default",
        ]
        for field in dataclasses.fields(cls):
            kind = field.type if isinstance(field.type, str) else getattr(
                field.type, "__name__", str(field.type))
            lines += [
                f"   * - ``{field.name}``",
                f"     - ``{kind}``",
                f"     - {_default(field, factories)}",
            ]
        node = nodes.container()
        self.state.nested_parse(StringList(lines, source=self.get_source_info()[0]),
                                self.content_offset, node)
        return node.children


class AlertErrors(SphinxDirective):
    """``.. alert-errors::``: one row per ``siotls.errors.ALERT_ERRORS`` entry.

    With ``:autodoc:``, an ``autoexception`` per class instead of the table.
    """

    option_spec = {"autodoc": directives.flag}

    def run(self) -> list[nodes.Node]:
        from siotls.errors import ALERT_ERRORS  # noqa: PLC0415

        if "autodoc" in self.options:
            lines = []
            for description, cls in sorted(ALERT_ERRORS.items()):
                lines += [f".. autoexception:: siotls.errors.{cls.__name__}", "",
                          f"   Alert: ``{description.name.lower()}`` "
                          f"({int(description)}).", ""]
            node = nodes.container()
            self.state.nested_parse(StringList(lines, source=self.get_source_info()[0]),
                                    self.content_offset, node)
            return node.children
        lines = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 45 40 15",
            "",
            "   * - Exception",
            "     - Alert sent",
            "     - Value",
        ]
        for description, cls in sorted(ALERT_ERRORS.items()):
            lines += [
                f"   * - :class:`~siotls.errors.{cls.__name__}`",
                f"     - ``{description.name.lower()}``",
                f"     - {int(description)}",
            ]
        node = nodes.container()
        self.state.nested_parse(StringList(lines, source=self.get_source_info()[0]),
                                self.content_offset, node)
        return node.children


class ArgparseHelp(SphinxDirective):
    """``.. argparse-help:: module:function [subcommand]``: the ``--help`` text of an
    argparse parser (as ``python -m siotls [subcommand] --help`` prints it)."""

    required_arguments = 1
    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        import argparse  # noqa: PLC0415
        import os  # noqa: PLC0415

        module, _, function = self.arguments[0].partition(":")
        parser = getattr(importlib.import_module(module), function)()
        if len(self.arguments) > 1:
            actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
            parser = actions[0].choices[self.arguments[1]]
        columns = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = "88"
        try:
            text = parser.format_help()
        finally:
            if columns is None:
                del os.environ["COLUMNS"]
            else:
                os.environ["COLUMNS"] = columns
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


class Extras(SphinxDirective):
    """``.. extras-table::``: the optional dependencies of ``pyproject.toml``."""

    def run(self) -> list[nodes.Node]:
        import tomllib  # noqa: PLC0415
        from pathlib import Path  # noqa: PLC0415

        path = Path(self.env.srcdir).parent / "pyproject.toml"
        self.env.note_dependency(str(path))
        extras = tomllib.loads(path.read_text())["project"]["optional-dependencies"]
        lines = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 15 85",
            "",
            "   * - Extra",
            "     - Installs",
        ]
        for name, requirements in extras.items():
            shown = ", ".join(f"``{requirement}``" for requirement in requirements)
            lines += [f"   * - ``{name}``", f"     - {shown}"]
        node = nodes.container()
        self.state.nested_parse(StringList(lines, source=self.get_source_info()[0]),
                                self.content_offset, node)
        return node.children


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("argparse-help", ArgparseHelp)
    app.add_directive("extras-table", Extras)
    app.add_directive("dataclass-fields", DataclassFields)
    app.add_directive("alert-errors", AlertErrors)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
