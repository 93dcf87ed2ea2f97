"""Output that is not a terminal is never wrapped: the CLI, its stdout and stderr piped, in a
directory with a long path and with ``COLUMNS=20``, prints each message on one line, so a
script (or a test) finds "6 agreements" whatever the checkout's path. Tables and rules too."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from liaison.cli import output

from .node_fixtures import PASSWORD, SEED
from .processes import CLI

NARROW = "20"


@pytest.fixture
def deep(tmp_path: Path) -> Path:
    """A directory whose path is far longer than any terminal is wide."""
    path = tmp_path.joinpath(*[f"a-directory-with-a-long-name-{n}" for n in range(6)])
    path.mkdir(parents=True)
    return path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": NARROW, "LIAISON_ADMIN_PASSWORD": PASSWORD}
    env.pop("FORCE_COLOR", None)
    env.pop("FORCE_TERMINAL", None)
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def test_piped_cli_output_keeps_each_message_on_one_line(deep: Path) -> None:
    data, seed = deep / "kor", deep / "seed.yaml"
    shutil.copy(SEED, seed)
    init = cli("init", "--data-dir", str(data), "--party", "KOR", "--admin", "admin")
    assert init.returncode == 0, init.stdout + init.stderr
    assert re.fullmatch(rf"node KOR initialised at \S*{re.escape(str(data))}\S*; admin admin\n"
                        r"identity fingerprint: [0-9a-f]+ \(give it to partners out of band\)\n",
                        init.stdout), init.stdout
    imported = cli("import", str(seed), "--data-dir", str(data))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert len(imported.stdout.splitlines()) == 1, imported.stdout
    assert imported.stdout.startswith(f"{seed}: imported ")
    assert "6 agreements" in imported.stdout
    missing = cli("import", str(deep / "no-such-file.yaml"), "--data-dir", str(data))
    assert missing.returncode == 1
    assert missing.stderr == (f"error: {deep / 'no-such-file.yaml'}: No such file or "
                              "directory; nothing was imported\n")


def piped(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """stdout as a pipe would be (not a terminal), with a narrow COLUMNS."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stream)
    monkeypatch.setenv("COLUMNS", NARROW)
    for name in ("FORCE_COLOR", "FORCE_TERMINAL", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    return stream


def test_tables_and_rules_are_not_wrapped_either(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = piped(monkeypatch)
    cells = ["KOR-JPN-GSOMIA (General Security of Military Information Agreement)",
             "군사II급비밀 = 秘 in JPN's scheme, since 2016-11-23"]
    output.table("agreements", ["agreement", "equivalence"], [cells])
    title = "a heading longer than a terminal is wide, which a rule must not cut short"
    output.console.rule(title)
    output.console.rule("short")
    lines = stream.getvalue().splitlines()
    row = next(line for line in lines if cells[0] in line)
    assert cells[1] in row, lines
    assert any(title in line for line in lines), lines
    short = next(line for line in lines if "short" in line)
    assert len(short) == output.RULE_WIDTH, short  # as wide as a terminal's, no wider
