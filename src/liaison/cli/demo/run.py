"""``liaison demo``: the seed scenario on real nodes, narrated.

One node per party (KOR, USA, JPN), each a separate ``liaison serve`` process with its own
SQLite database, set up with ``liaison init`` and ``liaison import``. The walk-through then
talks to the nodes over HTTP only, as a release officer's tools would.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import httpx
import yaml
from rich.console import Console
from rich.table import Table

from liaison.cli.demo.story import Story
from liaison.cli.output import CliConsole

PARTIES = ("KOR", "USA", "JPN", "CHN", "PRK")
# Demo speed: check calls count as missed after 3 s and the hotline clock ticks each second.
DEMO_ENV = {"LIAISON_CHECK_CALL_ANSWER_S": "3", "LIAISON_HOTLINE_TICK_S": "1"}


@dataclass
class DemoNode:
    party: str
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None
    admin_password: str = ""
    fingerprint: str = ""


def run_demo(serve: bool = False, base_dir: Path | None = None) -> int:
    console = CliConsole()
    with _workspace(base_dir) as root, _nodes(root, console) as nodes:
        story = Story(console, {n.party: n.url for n in nodes},
                      {n.party: n.admin_password for n in nodes},
                      {n.party: n.fingerprint for n in nodes})
        story.run()
        if serve:
            _serve_forever(console, nodes, story)
    return 0


@contextmanager
def _workspace(base_dir: Path | None) -> Iterator[Path]:
    if base_dir is not None:
        base_dir.mkdir(parents=True, exist_ok=True)
        yield base_dir
        return
    with tempfile.TemporaryDirectory(prefix="liaison-demo-") as tmp:
        yield Path(tmp)


@contextmanager
def _nodes(root: Path, console: Console) -> Iterator[list[DemoNode]]:
    nodes = [DemoNode(p, f"http://127.0.0.1:{_free_port()}", root / p.lower()) for p in PARTIES]
    try:
        for node in nodes:
            _start(node, console)
        for node in nodes:
            _wait_healthy(node)
        console.print(f"[green]✓[/] {len(nodes)} nodes up: "
                      + ", ".join(f"{n.party} {n.url}" for n in nodes))
        yield nodes
    finally:
        for node in nodes:
            _stop(node)


def _liaison(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "liaison.cli.main", *args]
    env = {**(env or os.environ), "COLUMNS": "200"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"`liaison {' '.join(args)}` failed:\n{result.stdout}{result.stderr}")
    return result


def _start(node: DemoNode, console: Console) -> None:
    node.admin_password = secrets.token_urlsafe(18)
    env = {**os.environ, "LIAISON_ADMIN_PASSWORD": node.admin_password}
    data = str(node.data_dir)
    console.print(f"[bold]{node.party}[/]: liaison init --party {node.party} --admin admin")
    out = _liaison("init", "--data-dir", data, "--party", node.party, "--admin", "admin",
                   env=env).stdout
    found = re.search(r"fingerprint: ([0-9a-f]{32})", out)
    if not found:
        raise RuntimeError(f"`liaison init` printed no fingerprint:\n{out}")
    node.fingerprint = found.group(1)
    _liaison("import", str(_demo_seed(node.data_dir)), "--data-dir", data)
    port = node.url.rsplit(":", 1)[1]
    federation_port = str(_free_port())
    with (node.data_dir / "serve.log").open("wb") as log:
        node.process = subprocess.Popen(
            [sys.executable, "-m", "liaison.cli.main", "serve", "--data-dir", data,
             "--port", port, "--federation-port", federation_port], stdout=log,
            stderr=subprocess.STDOUT, env={**os.environ, **DEMO_ENV})


def _demo_seed(directory: Path) -> Path:
    """The seed without KOR's 2019–2023 notes on the KOR–JPN GSOMIA (the demo sends them as
    signed notes between the nodes) and with the inter-Korean line still open (the demo
    plays June 2020 on it)."""
    seed = yaml.safe_load(resources.files("liaison.reference").joinpath("seed.yaml")
                          .read_text(encoding="utf-8"))
    for agreement in seed["agreements"]:
        if agreement["id"] in ("KOR-JPN-GSOMIA", "KOR-PRK-LIAISON"):
            agreement["events"] = [e for e in agreement["events"] if e["kind"] in
                                   ("SIGNED", "ENTERED_INTO_FORCE")]
    path = directory / "seed.yaml"
    path.write_text(yaml.safe_dump(seed, allow_unicode=True), encoding="utf-8")
    return path


def _wait_healthy(node: DemoNode, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.process is not None and node.process.poll() is not None:
            log = (node.data_dir / "serve.log").read_text(errors="replace")
            raise RuntimeError(f"node {node.party} exited:\n{log}")
        try:
            if httpx.get(node.url + "/api/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"node {node.party} did not answer at {node.url} in {timeout:.0f} s")


def _stop(node: DemoNode) -> None:
    if node.process is None or node.process.poll() is not None:
        return
    node.process.send_signal(signal.SIGTERM)
    try:
        node.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        node.process.kill()
        node.process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _serve_forever(console: Console, nodes: list[DemoNode], story: Story) -> None:
    table = Table(title="Nodes (Ctrl-C to stop)")
    for col in ("party", "API docs", "users (password)"):
        table.add_column(col)
    for n in nodes:
        users = ", ".join(f"{u}" for u in story.users.get(n.party, {}))
        table.add_row(n.party, n.url + "/api/docs", f"admin ({n.admin_password}) {users}")
    console.print(table)
    console.print(f"demo users' password: {story.password}")
    try:
        while all(n.process is not None and n.process.poll() is None for n in nodes):
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping")
