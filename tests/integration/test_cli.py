"""The CLI against real storage and a real `liaison serve` process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from liaison.cli.main import app
from liaison.storage.engine import connect_file

from .node_fixtures import PASSWORD, SEED

runner = CliRunner()
ENV = {"LIAISON_ADMIN_PASSWORD": PASSWORD}


def liaison(*args: str, home: Path | None = None) -> tuple[int, str]:
    env = {**ENV, "LIAISON_HOME": str(home)} if home else ENV
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    data = tmp_path / "kor"
    code, out = liaison("init", "--data-dir", str(data), "--party", "KOR", "--admin", "admin")
    assert code == 0, out
    return data


def agreement_count(data: Path) -> int:
    with closing(connect_file(data / "liaison.db")) as db, db:
        return int(db.execute("select count(*) from agreements").fetchone()[0])


def test_init_is_idempotent_and_refuses_another_party(node_dir: Path) -> None:
    code, out = liaison("init", "--data-dir", str(node_dir), "--party", "KOR", "--admin", "a")
    assert code == 0
    assert "already initialised" in out
    code, out = liaison("init", "--data-dir", str(node_dir), "--party", "JPN", "--admin", "a")
    assert code == 1
    assert "already initialised for KOR" in out


def test_import_seed_and_verify_audit(node_dir: Path) -> None:
    code, out = liaison("import", str(SEED), "--data-dir", str(node_dir))
    assert code == 0, out
    assert "6 agreements" in out
    code, out = liaison("audit", "verify", "--data-dir", str(node_dir))
    assert code == 0, out
    assert "chain intact" in out


def test_broken_import_names_the_line_and_stores_nothing(node_dir: Path,
                                                         tmp_path: Path) -> None:
    """All or nothing, with line-numbered errors."""
    lines = SEED.read_text().splitlines()
    target = next(i for i, line in enumerate(lines) if "levels: {JPN: [秘]" in line)
    lines[target] = lines[target].replace("[秘]", "[秘X]")
    broken = tmp_path / "broken.yaml"
    broken.write_text("\n".join(lines))
    code, out = liaison("import", str(broken), "--data-dir", str(node_dir))
    assert code == 1
    assert f"broken.yaml:{target + 1}:" in out.replace("\n", "")
    assert "nothing was imported" in out.replace("\n", " ")
    assert agreement_count(node_dir) == 0


def test_audit_verify_catches_a_tampered_record(node_dir: Path) -> None:
    """docs/rules.md#audit-log: an altered record is detected."""
    liaison("import", str(SEED), "--data-dir", str(node_dir))
    with closing(connect_file(node_dir / "liaison.db")) as db, db:
        db.execute("update audit set actor = 'mallory' where seq = 2")
    code, out = liaison("audit", "verify", "--data-dir", str(node_dir))
    assert code == 1
    assert "record 2" in out
    assert "altered" in out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(node_dir: Path) -> Iterator[str]:
    liaison("import", str(SEED), "--data-dir", str(node_dir))
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "liaison.cli.main", "serve", "--data-dir",
                             str(node_dir), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(url + "/api/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_over_a_running_node(served: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, out = liaison("login", "--url", served, "--user", "admin", "--password", PASSWORD,
                        home=home)
    assert code == 0, out
    assert (home / "session.json").stat().st_mode & 0o777 == 0o600
    code, out = liaison("agreements", "list", "--at", "2019-11-23", "--json", home=home)
    assert code == 0, out
    assert '"NOTICE_SUSPENDED"' in out
    code, out = liaison("agreements", "list", "--at", "not-a-date", home=home)
    assert code == 2
    code, out = liaison("whoami", home=home)
    assert "admin on node KOR" in out
    code, out = liaison("release", "check", "X", "--to", "JPN", home=home)
    assert code == 1
    assert "release_officer" in out
    code, out = liaison("release", "request", "X", "--to", "JPN", "--purpose", "p", "--on",
                        "2003-06-01", home=home)  # issue 18: never backdated
    assert code == 1
    assert "node's clock" in " ".join(out.split())
    code, _ = liaison("logout", home=home)
    assert code == 0
    code, out = liaison("whoami", "--url", served, home=home)
    assert code == 1


def test_cli_amends_an_agreement_and_checks_a_purpose(served: str, tmp_path: Path) -> None:
    """`liaison agreements amend` over a running node: dated, shown with the terms in force;
    a bad amendment exits non-zero and changes nothing; `release check --purpose` is
    passed on (the check refuses only for the role here: admin is no release officer)."""
    home = tmp_path / "home"
    code, out = liaison("login", "--url", served, "--user", "admin", "--password", PASSWORD,
                        home=home)
    assert code == 0, out
    today = time.strftime("%Y-%m-%d", time.gmtime())
    code, out = liaison("agreements", "amend", "KOR-JPN-GSOMIA", "--effective", "2019-01-01",
                        "--max-imbalance", "3", home=home)
    assert code == 1 and "past terms are history" in out, out
    code, out = liaison("agreements", "amend", "KOR-JPN-GSOMIA", "--effective", today,
                        "--max-imbalance", "3", "--purpose", "missile warning",
                        "--note", "exchange of notes", home=home)
    assert code == 0, out
    assert "reciprocity limit 3" in out and "missile warning" in out
    code, out = liaison("agreements", "show", "KOR-JPN-GSOMIA", "--at", "2019-11-23",
                        "--json", home=home)
    assert code == 0 and '"max_imbalance": null' in out, out
    code, out = liaison("release", "check", "X", "--to", "JPN", "--purpose", "training",
                        home=home)
    assert code == 1 and "release_officer" in out
