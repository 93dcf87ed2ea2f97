"""The command line's modules share only public names: a helper another module needs lives
in a shared module (options, client, output, inputs, transfer) under a public name."""

from __future__ import annotations

import ast
from pathlib import Path

import liaison.cli

CLI = Path(liaison.cli.__file__).parent


def private_imports(source: str) -> list[str]:
    """``module.name`` of each private (``_x``, not dunder) name a module imports."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            found += [f"{node.module}.{alias.name}" for alias in node.names
                      if alias.name.startswith("_") and not alias.name.startswith("__")]
    return found


def test_no_cli_module_imports_a_private_name() -> None:
    crossing = {str(path.relative_to(CLI)): names for path in sorted(CLI.rglob("*.py"))
                if (names := private_imports(path.read_text(encoding="utf-8")))}
    assert crossing == {}


def test_the_check_sees_a_private_import() -> None:
    assert private_imports("from liaison.cli.client import Api, _message\n") == [
        "liaison.cli.client._message"]
    assert private_imports("from liaison import __version__\n") == []


def test_every_cli_module_says_what_lives_there() -> None:
    undocumented = [str(path.relative_to(CLI)) for path in sorted(CLI.rglob("*.py"))
                    if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))]
    assert undocumented == []
