"""Every package says what lives in it and who may import it, and the ports package offers
every port of its area modules under its own name."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import liaison.services.ports as ports

SRC = Path(__file__).resolve().parents[2] / "src" / "liaison"


def test_every_package_has_a_docstring() -> None:
    missing = [str(init.relative_to(SRC.parent)) for init in sorted(SRC.rglob("__init__.py"))
               if not ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))]
    assert missing == []


def defined_in(path: Path) -> list[str]:
    names = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name) and not target.id.startswith("_"):
                names.append(target.id)
    return names


def test_the_ports_package_re_exports_every_port() -> None:
    missing = []
    for info in pkgutil.iter_modules(ports.__path__):
        module = importlib.import_module(f"{ports.__name__}.{info.name}")
        missing += [f"{info.name}.{name}" for name in defined_in(Path(str(module.__file__)))
                    if getattr(ports, name, None) is not getattr(module, name)]
    assert missing == []
