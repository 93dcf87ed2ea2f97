"""The layer check ``make lint`` runs: reads every module under ``src/liaison`` with ``ast``
(nothing is imported or run) and reports each import that crosses a layer the wrong way.

Layers are the packages under ``liaison``; ``liaison.bootstrap`` counts as ``node`` (it is
the node's composition until the ``node`` package holds it). What is enforced:

1. ``domain`` imports, of this project, only ``domain`` and ``crypto``; of other libraries
   only the standard library and the computation-only libraries named in ``DOMAIN_LIBRARIES``.
2. ``node`` is imported only by ``node`` and ``cli``.
3. ``api`` is imported only by ``api``, ``node`` and ``cli``; ``cli`` only by ``cli``.
4. The adapters ``storage``, ``federation`` and ``realtime`` never import one another, and
   of ``services`` they import only the ports (``services.ports``) and ``services.errors``.
5. ``services`` imports no adapter: not ``storage``, ``federation``, ``realtime``,
   ``tracks`` or ``web``.

``KNOWN_VIOLATIONS`` lists the imports of today's tree that break these rules and are being
moved; an entry that no longer occurs is reported too, so the list only shrinks.

Usage: ``python tests/architecture/layers.py [src/liaison]``; exit status 1 on a finding.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ADAPTERS = frozenset({"storage", "federation", "realtime"})
SERVICES_FOR_ADAPTERS = ("liaison.services.ports", "liaison.services.errors")
NOT_FOR_SERVICES = frozenset({"storage", "federation", "realtime", "tracks", "web"})
DOMAIN_MAY_IMPORT = frozenset({"domain", "crypto", ""})

# third-party libraries the domain may use (pure computation, no I/O), and where
DOMAIN_LIBRARIES = {
    "PIL": frozenset({"liaison.domain.imagery"}),
    "geographiclib": frozenset({"liaison.domain.areas", "liaison.domain.launch"}),
}

# (importing module, imported name prefix): imports that break a rule, each to go when its
# code moves. None today; an entry that no longer occurs fails the check.
KNOWN_VIOLATIONS: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # what it imports, dotted (``from a import b`` gives ``a.b``)
    path: Path
    line: int


def module_name(path: Path, root: Path) -> str:
    """``src/liaison/services/ports/__init__.py`` -> ``liaison.services.ports``."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_in(path: Path, root: Path) -> Iterator[Import]:
    module = module_name(path, root)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, path, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, path.name == "__init__.py")
            for alias in node.names:
                yield Import(module, f"{source}.{alias.name}", path, node.lineno)


def layer(dotted: str) -> str:
    """The package under ``liaison`` a dotted name belongs to ("" for ``liaison`` itself)."""
    parts = dotted.split(".")
    name = parts[1] if len(parts) > 1 and parts[0] == "liaison" else ""
    return "node" if name == "bootstrap" else name


def _under(dotted: str, prefix: str) -> bool:
    return dotted == prefix or dotted.startswith(prefix + ".")


def domain_rule(imp: Import) -> str | None:
    top = imp.target.split(".")[0]
    if top == "liaison":
        if layer(imp.target) in DOMAIN_MAY_IMPORT:
            return None
        return "the domain imports only domain and crypto"
    if top in sys.stdlib_module_names or top == "__future__":
        return None
    if imp.module in DOMAIN_LIBRARIES.get(top, frozenset()):
        return None
    return f"the domain uses {top} only where DOMAIN_LIBRARIES allows it"


def project_rule(imp: Import) -> str | None:
    source, target = layer(imp.module), layer(imp.target)
    if source == target or not imp.target.startswith("liaison."):
        return None
    if target == "node" and source != "cli":
        return "only the CLI imports node"
    if target == "api" and source not in {"node", "cli"}:
        return "only node and the CLI import api"
    if target == "cli":
        return "nothing imports cli"
    return adapter_rule(source, target, imp.target)


def adapter_rule(source: str, target: str, dotted: str) -> str | None:
    if source in ADAPTERS and target in ADAPTERS:
        return "adapters do not import one another"
    if source in ADAPTERS and target == "services" and not any(
            _under(dotted, allowed) for allowed in SERVICES_FOR_ADAPTERS):
        return "adapters import the ports of services, nothing else there"
    if source == "services" and target in NOT_FOR_SERVICES:
        return "services reach adapters only through ports"
    return None


def rule_broken(imp: Import) -> str | None:
    if layer(imp.module) == "domain":
        return domain_rule(imp)
    return project_rule(imp)


def known(imp: Import, allowed: frozenset[tuple[str, str]]) -> tuple[str, str] | None:
    for module, prefix in allowed:
        if imp.module == module and _under(imp.target, prefix):
            return module, prefix
    return None


def findings(root: Path, allowed: frozenset[tuple[str, str]] = KNOWN_VIOLATIONS) -> list[str]:
    """Every broken rule under ``root`` (the ``liaison`` package directory), and every entry
    of ``allowed`` that no import needs any more."""
    found, used = [], set()
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.relative_to(root).parts:
            continue
        for imp in imports_in(path, root):
            why = rule_broken(imp)
            if why is None:
                continue
            entry = known(imp, allowed)
            if entry:
                used.add(entry)
            else:
                found.append(f"{imp.path}:{imp.line}: {imp.module} imports {imp.target}: {why}")
    found += [f"KNOWN_VIOLATIONS: {m} -> {p} no longer occurs: remove the entry"
              for m, p in sorted(allowed - used)]
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "src/liaison")
    problems = findings(root)
    for line in problems:
        print(line)
    print(f"layers: {len(problems)} finding(s) in {root}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
