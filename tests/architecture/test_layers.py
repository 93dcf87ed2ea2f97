"""The layer check of ``make lint`` passes on the tree, and fails on each kind of import
it exists to stop: planted in a copy of the package, and in small made-up packages."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.architecture.layers import KNOWN_VIOLATIONS, findings

SRC = Path(__file__).resolve().parents[2] / "src" / "liaison"
SCRIPT = Path(__file__).with_name("layers.py")


def package(tmp_path: Path, files: dict[str, str]) -> Path:
    """A made-up ``liaison`` package holding ``files`` (path under it -> source)."""
    root = tmp_path / "liaison"
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source + "\n")
    return root


def test_the_tree_keeps_its_layers() -> None:
    assert findings(SRC) == []


def test_a_storage_import_planted_in_the_domain_fails_make_lint(tmp_path: Path) -> None:
    copy = tmp_path / "liaison"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    clean = subprocess.run([sys.executable, str(SCRIPT), str(copy)], capture_output=True,
                           text=True, check=False)
    assert clean.returncode == 0, clean.stdout
    with (copy / "domain" / "items.py").open("a") as f:
        f.write("\nfrom liaison.storage import engine  # planted\n")
    broken = subprocess.run([sys.executable, str(SCRIPT), str(copy)], capture_output=True,
                            text=True, check=False)
    assert broken.returncode == 1
    assert "liaison.domain.items imports liaison.storage.engine" in broken.stdout


@pytest.mark.parametrize(("where", "source"), [
    ("domain/rules.py", "from liaison.services import items"),
    ("domain/rules.py", "from ..storage import engine"),
    ("domain/rules.py", "import liaison.node.serving"),
    ("domain/rules.py", "import requests"),
    ("domain/rules.py", "from PIL import Image"),
    ("services/items.py", "from liaison.node import serving"),
    ("services/items.py", "from liaison.storage.engine import connect"),
    ("services/items.py", "from liaison.tracks import hub"),
    ("tracks/hub.py", "from liaison.api.app import create_app"),
    ("federation/listeners.py", "from liaison.bootstrap import Node"),
    ("api/app.py", "from liaison.cli import main"),
    ("storage/repos.py", "from liaison.federation import transport"),
    ("realtime/bus.py", "from liaison.storage import engine"),
    ("realtime/bus.py", "from liaison.services.leases import worker_id"),
    ("federation/transport.py", "from liaison.services import federation"),
])
def test_each_rule_stops_its_import(tmp_path: Path, where: str, source: str) -> None:
    found = findings(package(tmp_path, {where: source}), frozenset())
    assert len(found) == 1, found


@pytest.mark.parametrize(("where", "source"), [
    ("domain/imagery.py", "from PIL import Image"),
    ("domain/launch.py", "from geographiclib.geodesic import Geodesic"),
    ("domain/rules.py", "from liaison.crypto.envelope import seal"),
    ("domain/rules.py", "from . import labels"),
    ("cli/node_commands.py", "from liaison.node import serving"),
    ("node/serving.py", "from liaison.api.app import create_app"),
    ("node/compose.py", "from liaison.storage.engine import connect"),
    ("storage/repos.py", "from liaison.services.ports import ItemRepo"),
    ("federation/transport.py", "from liaison.services.errors import Unavailable"),
    ("services/items.py", "from liaison.services.ports.holdings import ItemRepo"),
])
def test_what_the_layers_allow_passes(tmp_path: Path, where: str, source: str) -> None:
    assert findings(package(tmp_path, {where: source}), frozenset()) == []


def test_a_known_violation_hides_only_its_import(tmp_path: Path) -> None:
    root = package(tmp_path, {"realtime/nats_bus.py": "from liaison.services.leases import x\n"
                                                      "from liaison.storage import engine"})
    allowed = frozenset({("liaison.realtime.nats_bus", "liaison.services.leases")})
    found = findings(root, allowed)
    assert len(found) == 1
    assert "liaison.storage.engine" in found[0]


def test_a_known_violation_that_is_gone_is_reported(tmp_path: Path) -> None:
    root = package(tmp_path, {"domain/talks.py": "import json"})
    found = findings(root, frozenset({("liaison.domain.talks", "cryptography")}))
    assert found == ["KNOWN_VIOLATIONS: liaison.domain.talks -> cryptography no longer occurs: "
                     "remove the entry"]


def test_every_known_violation_names_a_module_of_the_tree() -> None:
    modules = {".".join(p.relative_to(SRC.parent).with_suffix("").parts)
               for p in SRC.rglob("*.py")}
    assert {module for module, _ in KNOWN_VIOLATIONS} <= modules
