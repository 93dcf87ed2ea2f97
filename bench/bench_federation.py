"""Envelope throughput between two real node processes (KOR → JPN) on loopback.

Prints ``BENCH envelopes_per_s <n> releases/s``: releases queued at KOR until every one is
stored at JPN (re-marked, ledger, audit, inbox: durable) and its signed receipt is settled
at KOR (durable). ``--quick`` sends fewer.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

import node_processes
from liaison.config import Settings
from liaison.domain.codec import item_to
from liaison.domain.items import Discipline, Grade, Item, Portion, PortionKind
from liaison.domain.labels import make_label
from liaison.domain.parties import default_parties
from liaison.node.composition import build_node
from liaison.services import federation
from report import bench

CLI = [sys.executable, "-m", "liaison.cli.main"]
SEED = Path(__file__).parents[1] / "src" / "liaison" / "reference" / "seed.yaml"
PASSWORD = "bench-password-0123"


def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup(root: Path, party: str) -> tuple[str, str]:
    data = str(root / party)
    env = {**os.environ, "LIAISON_ADMIN_PASSWORD": PASSWORD, "COLUMNS": "200"}
    out = subprocess.run([*CLI, "init", "--data-dir", data, "--party", party, "--admin",
                          "admin"], env=env, capture_output=True, text=True, check=True).stdout
    subprocess.run([*CLI, "import", str(SEED), "--data-dir", data], check=True,
                   capture_output=True)
    found = re.search(r"fingerprint: ([0-9a-f]{32})", out)
    assert found, out
    return data, found.group(1)


def serve(data: str, p: int, federation_port: int = 0,
          env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``liaison serve``, once healthy (``launch`` then ``healthy``)."""
    return healthy(launch(data, p, federation_port, env), data, p)


def launch(data: str, p: int, federation_port: int = 0,
           env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``liaison serve`` in its own process group, stopped on any way out of the benchmark
    (``node_processes``). The same ``federation_port`` again after a stop keeps the
    address partners hold from its card. Its output goes to ``serve-<port>.log``."""
    with (Path(data) / f"serve-{p}.log").open("ab") as log:
        return node_processes.spawn(
            [*CLI, "serve", "--data-dir", data, "--port", str(p), "--federation-port",
             str(federation_port or port())], stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})})


def healthy(proc: subprocess.Popen[bytes], data: str, p: int) -> subprocess.Popen[bytes]:
    """Wait until the node answers its health check; stop it and say why if it does not."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{p}/api/health", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    node_processes.stop(proc)
    tail = (Path(data) / f"serve-{p}.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the node at {data} did not start:\n{tail}")


def trust(url: str, party: str, address: str, fingerprint: str) -> str:
    token = httpx.post(url + "/api/auth/login", json={"username": "admin",
                                                      "password": PASSWORD}).json()["token"]
    httpx.post(url + "/api/peers", headers={"Authorization": f"Bearer {token}"},
               json={"party": party, "address": address, "fingerprint": fingerprint},
               timeout=30).raise_for_status()
    return str(token)


def enqueue(data: str, n: int) -> None:
    node = build_node(Settings(data_dir=Path(data)))
    kor, now = default_parties()["KOR"], datetime.now(UTC)
    label = make_label(kor.scheme, "군사III급비밀", originator="KOR", created=now,
                       rel_to={"JPN"})
    with node.deps.uow() as uow:
        for i in range(n):
            it = Item(f"B{i:06d}", "KOR", Discipline.ELINT, "DPRK/missile", Grade("B", 2),
                      "emission", now, (Portion("p1", PortionKind.TEXT, "x", label),))
            federation.enqueue(uow, node.deps, "JPN", "release",
                               {"item": item_to(it), "agreement": "KOR-JPN-GSOMIA"})
        uow.commit()
    node.engine.dispose()


def main() -> int:
    n = 500 if "--quick" in sys.argv else 10_000
    with tempfile.TemporaryDirectory(prefix="liaison-bench-") as tmp:
        root = Path(tmp)
        with ThreadPoolExecutor(2) as pool:
            (kor, kor_fp), (jpn, jpn_fp) = pool.map(lambda p: setup(root, p), ("KOR", "JPN"))
        kp, jp = port(), port()
        procs = [launch(jpn, jp), launch(kor, kp)]  # both start at once
        try:
            healthy(procs[0], jpn, jp)
            healthy(procs[1], kor, kp)
            trust(f"http://127.0.0.1:{jp}", "KOR", f"http://127.0.0.1:{kp}", kor_fp)
            kor_token = trust(f"http://127.0.0.1:{kp}", "JPN", f"http://127.0.0.1:{jp}",
                              jpn_fp)
            enqueue(kor, n)  # one commit: the sender finds a full queue
            start = time.perf_counter()
            elapsed = drain(f"http://127.0.0.1:{kp}", kor_token, n, start)
        finally:
            node_processes.stop_many(procs)
    print(f"# {n} releases KOR → JPN, durable on both sides with receipts, in {elapsed:.2f} s")
    bench("envelopes_per_s", f"{n / elapsed:.0f}", "releases/s",
          "releases already queued at KOR (queued in one transaction before the clock "
          "starts) until all are stored at JPN and their receipts settled at KOR: "
          "batching, Ed25519 signing, HPKE encryption, mutual TLS on loopback, JPN's "
          "checks, applying and storing (SQLite), receipts; two node processes")
    return 0


def drain(url: str, token: str, n: int, start: float) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        counts = httpx.get(url + "/api/outbox", headers=headers, timeout=30).json()
        if counts.get("JPN", {}).get("delivered", 0) >= n:
            return time.perf_counter() - start
        if time.perf_counter() - start > 600:
            raise RuntimeError(f"not drained: {counts}")
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
