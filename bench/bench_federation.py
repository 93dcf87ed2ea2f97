"""Envelope throughput between two real node processes (KOR → JPN) on loopback.

Prints ``BENCH envelopes_per_s <n> releases/s``: releases queued at KOR until every one is
stored at JPN (re-marked, ledger, audit, inbox: durable) and its signed receipt is settled
at KOR (durable). ``--quick`` sends fewer.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from liaison.bootstrap import build_node
from liaison.config import Settings
from liaison.domain.codec import item_to
from liaison.domain.items import Discipline, Grade, Item, Portion, PortionKind
from liaison.domain.labels import make_label
from liaison.domain.parties import default_parties
from liaison.services import federation

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


def serve(data: str, p: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([*CLI, "serve", "--data-dir", data, "--port", str(p),
                             "--federation-port", str(port())],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{p}/api/health", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("node did not start")


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
        (kor, kor_fp), (jpn, jpn_fp) = setup(root, "KOR"), setup(root, "JPN")
        kp, jp = port(), port()
        procs = [serve(jpn, jp), serve(kor, kp)]
        trust(f"http://127.0.0.1:{jp}", "KOR", f"http://127.0.0.1:{kp}", kor_fp)
        kor_token = trust(f"http://127.0.0.1:{kp}", "JPN", f"http://127.0.0.1:{jp}", jpn_fp)
        enqueue(kor, n)  # one commit: the sender finds a full queue
        start = time.perf_counter()
        elapsed = drain(f"http://127.0.0.1:{kp}", kor_token, n, start)
        for p in procs:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)
    print(f"# {n} releases KOR → JPN, durable on both sides with receipts, in {elapsed:.2f} s")
    print(f"BENCH envelopes_per_s {n / elapsed:.0f} releases/s")
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
