"""The running node has one home: only the command line imports ``liaison.node``, and no
package below it (domain, services, storage, federation, realtime, tracks, interop, crypto,
api) imports the layers above it (``api`` from outside api, ``cli``, ``node``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[2] / "src" / "liaison"
BELOW_NODE = ("domain", "services", "storage", "federation", "realtime", "tracks", "interop",
              "crypto", "api")
MAY_IMPORT_NODE = ("node", "cli")


def imported(source: str) -> set[str]:
    """Every ``liaison`` module a source names in an import, anywhere in it (lazy imports
    inside functions too), with each ``from m import name`` also as ``m.name``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.startswith("liaison.")}


def breaks_layers(package: str, target: str) -> bool:
    """Whether a module of ``package`` may not import from the package ``target``."""
    if target == "node":
        return package not in MAY_IMPORT_NODE
    return package in BELOW_NODE and target in ("api", "cli", "bootstrap") and target != package


def crossings(package: str, source: str) -> list[str]:
    """The imports of a module of ``package`` that break the node's layering."""
    return [name for name in sorted(imported(source))
            if breaks_layers(package, name.split(".")[1])]


def test_no_module_below_the_node_imports_upwards() -> None:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        package = path.relative_to(SRC).parts[0]
        wrong = crossings(package, path.read_text(encoding="utf-8"))
        if wrong:
            found[str(path.relative_to(SRC))] = wrong
    assert found == {}


@pytest.mark.parametrize(("package", "source"), [
    ("federation", "from liaison.api.app import create_app\n"),
    ("realtime", "def f():\n    from liaison.node import composition\n"),
    ("api", "import liaison.node.serving\n"),
    ("tracks", "from liaison.cli import main\n"),
    ("services", "from liaison import node\n"),
])
def test_a_planted_upward_import_is_found(package: str, source: str) -> None:
    assert crossings(package, source)


def test_the_command_line_and_the_api_keep_their_own_imports() -> None:
    assert crossings("cli", "from liaison.node.serving import run\n") == []
    assert crossings("api", "from liaison.api.app import wake\n") == []
    assert crossings("node", "from liaison.api.app import create_app\n") == []
