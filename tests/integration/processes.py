"""Real node processes for federation tests: `liaison init`, `import`, `serve`, SIGKILL."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..servers import create_database
from ..servers import free_port as free_port  # one source of ports for servers and nodes
from .node_fixtures import PASSWORD, SEED

CLI = [sys.executable, "-m", "liaison.cli.main"]
# LIAISON_TEST_STACK=postgres-nats: every node process of the suite on PostgreSQL (a fresh
# database each) and NATS JetStream; filled by the integration conftest
STACK: dict[str, str] = {}


def cli(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, check=False,
                            env={**os.environ, "COLUMNS": "200", **(env or {})})
    if result.returncode != 0:
        raise RuntimeError(f"liaison {' '.join(args)}: {result.stdout}{result.stderr}")
    return result.stdout


# (party, data name) -> a node directory made by `liaison init` and `import`, its fingerprint
_INITIALISED: dict[tuple[str, str], tuple[Path, str]] = {}


@dataclass
class NodeProcess:
    party: str
    root: Path
    port: int = field(default_factory=free_port)
    federation_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    token: str = ""
    started: bool = False
    # a PostgreSQL database and a NATS bus instead of the embedded defaults; data_name:
    # several workers of one node share one data directory
    database_url: str = ""
    bus_url: str = ""
    data_name: str = ""

    def __post_init__(self) -> None:
        if STACK and not self.database_url:
            self.database_url = create_database(STACK["postgres"])
            self.bus_url = STACK["nats"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data(self) -> str:
        return str(self.root / (self.data_name or self.party.lower()))

    @property
    def backend_env(self) -> dict[str, str]:
        return {**({"LIAISON_DATABASE_URL": self.database_url} if self.database_url else {}),
                **({"LIAISON_BUS_URL": self.bus_url} if self.bus_url else {})}

    def init(self) -> str:
        """`liaison init` and `import` of the seed agreements; the identity fingerprint.
        On the embedded stack a node is made once per party and data name and copied after
        (its own SQLite file and keys: nothing outside the directory refers to it)."""
        if self.database_url:
            return self._init()
        key = (self.party, Path(self.data).name)
        if key not in _INITIALISED:
            made = Path(tempfile.mkdtemp(prefix="liaison-made-")) / Path(self.data).name
            atexit.register(shutil.rmtree, made.parent, True)
            maker = NodeProcess(self.party, made.parent, data_name=made.name,
                                database_url="-")  # "-": not given a database by the stack
            maker.database_url = maker.bus_url = ""  # embedded, like this node
            _INITIALISED[key] = (made, maker._init())
        made, fingerprint = _INITIALISED[key]
        shutil.copytree(made, self.data)
        return fingerprint

    def _init(self) -> str:
        out = cli("init", "--data-dir", self.data, "--party", self.party, "--admin", "admin",
                  env={"LIAISON_ADMIN_PASSWORD": PASSWORD, **self.backend_env})
        cli("import", str(SEED), "--data-dir", self.data, env=self.backend_env)
        found = re.search(r"fingerprint: ([0-9a-f]{32})", out)
        assert found, out
        return found.group(1)

    def start(self, env: dict[str, str] | None = None) -> None:
        """Start and wait until healthy. Before partners know its address, a port taken
        in the meantime by another process is replaced and the start retried."""
        for _ in range(3):
            if self._launch(env):
                self.started = True
                return
            if self.started or "already in use" not in self._log_tail():
                break
            self.port, self.federation_port = free_port(), free_port()
        raise RuntimeError(f"{self.party} did not start:\n{self._log_tail()}")

    def serve_command(self) -> tuple[list[str], dict[str, str]]:
        """`liaison serve` for this node, and the environment it adds."""
        return [*CLI, "serve", "--data-dir", self.data, "--port", str(self.port),
                "--federation-port", str(self.federation_port)], {}

    def _launch(self, env: dict[str, str] | None) -> bool:
        Path(self.data).mkdir(parents=True, exist_ok=True)
        command, own_env = self.serve_command()
        with (Path(self.data) / f"serve-{self.port}.log").open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, **self.backend_env, **own_env,
                                              **(env or {})})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.url + "/api/health", timeout=0.5).status_code == 200:
                    return True
            except httpx.HTTPError:
                time.sleep(0.05)
        self.kill()
        return False

    def _log_tail(self) -> str:
        return (Path(self.data) / f"serve-{self.port}.log").read_text(
            errors="replace")[-2000:]

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def login(self, user: str = "admin") -> str:
        r = httpx.post(self.url + "/api/auth/login", json={"username": user,
                                                           "password": PASSWORD})
        r.raise_for_status()
        token: str = r.json()["token"]
        if user == "admin":
            self.token = token
        return token

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        r = httpx.request(method, self.url + path, headers=headers, timeout=30, **kw)
        if r.status_code >= 400:
            raise AssertionError(f"{method} {path}: {r.status_code} {r.text}")
        return r.json()

    def call_raw(self, method: str, path: str, token: str | None = None,
                 **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kw)

    def trust(self, other: NodeProcess, fingerprint: str) -> None:
        self.call("POST", "/api/peers", json={"party": other.party, "address": other.url,
                                              "fingerprint": fingerprint})


def wait_for(check: Any, timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def trusting_pair(root: Path, first: str, second: str) -> Iterator[tuple[NodeProcess,
                                                                          NodeProcess]]:
    """Two started nodes that trust each other, each with a signed-in admin; sign-ins
    are not rate-limited (tests sign in many users). Both stop on the way out."""
    a, b = NodeProcess(first, root), NodeProcess(second, root)
    try:
        prints = {n.party: n.init() for n in (a, b)}
        for node in (a, b):
            node.start(env={"LIAISON_LOGIN_ATTEMPTS_PER_MINUTE": "1000"})
            node.login()
        a.trust(b, prints[second])
        b.trust(a, prints[first])
        yield a, b
    finally:
        for node in (a, b):
            node.stop()
