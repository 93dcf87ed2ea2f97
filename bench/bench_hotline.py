"""Hotline latency: a FLASH sent through KOR's API until it shows on the watch page's
WebSocket at CHN's node, signed, encrypted and over mutual TLS between the two node
processes (durable on both sides).

Prints ``BENCH hotline_p50_ms`` and ``BENCH hotline_p99_ms`` over N messages sent one at a
time on a fresh line, then ``BENCH hotline_p99_ms_long_line`` (and its p50) over N more on
the same line once it holds ``LONG_LINE`` older entries (both nodes' copies, written
straight into their tables before the second run: check calls twice a day since 2015 and
acknowledged messages from both sides). A run ends at a delta naming the FLASH's
(sender, seq); the largest push is printed too. ``--quick``: fewer messages.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import websockets

import node_processes
from bench_federation import PASSWORD, healthy, launch, port, setup, trust
from liaison.config import Settings
from liaison.node.composition import build_node
from liaison.storage import tables
from report import bench

CHANNEL = "KOR-CHN-HOTLINE-MOU"
LONG_LINE = 10_000


def staff(url: str, token: str, clearance: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    httpx.post(url + "/api/hotline", headers=headers, json={
        "agreement_id": CHANNEL, "times": ["09:00"], "weekdays": [0], "tz": "Asia/Seoul"},
        timeout=30).raise_for_status()
    httpx.post(url + "/api/users", headers=headers, json={
        "username": "watch", "roles": ["watch_officer"], "clearance": clearance,
        "password": PASSWORD}, timeout=30).raise_for_status()
    r = httpx.post(url + "/api/auth/login", json={"username": "watch", "password": PASSWORD})
    return str(r.json()["token"])


def seed(data: str, n: int, kor_from: int) -> None:
    """``n`` older entries on this node's copy of the line, written straight into its
    table in one statement (the node keeps running: SQLite lets one writer in at a time).
    All are acknowledged or answered, so none is open and no watcher needs their change:
    a socket opened afterwards starts from a snapshot. KOR's entries are numbered from
    ``kor_from`` (KOR has already sent that many), CHN's from 1."""
    node = build_node(Settings(data_dir=Path(data)))
    start = datetime(2015, 1, 1, tzinfo=UTC)
    step = (datetime.now(UTC) - timedelta(days=1) - start) / n
    seqs, rows = {"KOR": kor_from, "CHN": 0}, []
    for i in range(n):
        at = start + step * i
        sender = "KOR" if i % 2 == 0 else "CHN"
        seqs[sender] += 1
        body = ({"text": "check call", "outcome": "answered"} if i % 5 else
                {"text": f"routine traffic {i}", "precedence": "ROUTINE"})
        rows.append({"channel": CHANNEL, "sender": sender, "seq": seqs[sender],
                     "kind": "message" if "precedence" in body else "check_call",
                     "sent_at": at, "data": {
                         **body, "sent_at": at.isoformat(), "author": "seed",
                         "acknowledged_at": (at + timedelta(minutes=2)).isoformat(),
                         "acknowledged_by": "seed"}})
    with node.engine.begin() as conn:
        conn.execute(tables.hotline_messages.insert(), rows)
    node.engine.dispose()


async def measure(kor: str, kt: str, chn_port: int, ct: str, n: int,
                  ) -> tuple[list[float], int, int]:
    """Latencies (ms) of ``n`` FLASH messages, the snapshot's size and the largest push."""
    url = f"ws://127.0.0.1:{chn_port}/api/hotline/{CHANNEL}/live?token={ct}"
    latencies: list[float] = []
    largest = 0
    async with httpx.AsyncClient(base_url=kor, headers={"Authorization": f"Bearer {kt}"}) as c, \
            websockets.connect(url, max_size=2**26) as ws:
        snapshot = len(await ws.recv())
        for i in range(n):
            start = time.perf_counter()
            r = await c.post(f"/api/hotline/{CHANNEL}/messages",
                             json={"precedence": "FLASH", "text": f"test {i}"})
            r.raise_for_status()
            want = ("KOR", r.json()["seq"])
            while True:
                frame = await asyncio.wait_for(ws.recv(), 60)
                largest = max(largest, len(frame))
                push = json.loads(frame)
                shown = push.get("changed") or push.get("traffic") or []
                if any((e["sender"], e["seq"]) == want for e in shown):
                    break
            latencies.append((time.perf_counter() - start) * 1000)
    return sorted(latencies), snapshot, largest


def quantiles(lat: list[float]) -> tuple[float, float]:
    return lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]


def main() -> int:
    n = 30 if "--quick" in sys.argv else 300
    with tempfile.TemporaryDirectory(prefix="liaison-bench-") as tmp:
        root = Path(tmp)
        with ThreadPoolExecutor(2) as pool:
            (kor, kfp), (chn, cfp) = pool.map(lambda p: setup(root, p), ("KOR", "CHN"))
        kp, cp = port(), port()
        procs = [launch(kor, kp), launch(chn, cp)]
        try:
            healthy(procs[0], kor, kp)
            healthy(procs[1], chn, cp)
            ku, cu = f"http://127.0.0.1:{kp}", f"http://127.0.0.1:{cp}"
            kadmin = trust(ku, "CHN", cu, cfp)
            cadmin = trust(cu, "KOR", ku, kfp)
            kt, ct = staff(ku, kadmin, "군사I급비밀"), staff(cu, cadmin, "绝密")
            fresh, _, fresh_push = asyncio.run(measure(ku, kt, cp, ct, n))
            began = time.perf_counter()
            for data in (kor, chn):
                seed(data, LONG_LINE, n)
            seeded = time.perf_counter() - began
            long, snapshot, long_push = asyncio.run(measure(ku, kt, cp, ct, n))
        finally:
            node_processes.stop_many(procs)
    (p50, p99), (l50, l99) = quantiles(fresh), quantiles(long)
    print(f"# {n} FLASH messages KOR → CHN watch page, one at a time; max {fresh[-1]:.1f} ms,"
          f" largest push {fresh_push} bytes")
    what = ("a FLASH from the API call at KOR to the frame at CHN's watch page WebSocket "
            "that shows it, one message at a time: KOR storing it, the flash lane, "
            "envelope, mutual TLS on loopback, CHN applying it, the push")
    bench("hotline_p50_ms", f"{p50:.1f}", "ms", what)
    bench("hotline_p99_ms", f"{p99:.1f}", "ms", what)
    print(f"# the line then holds {LONG_LINE + n} entries (seeded in {seeded:.1f} s); "
          f"{n} more: max {long[-1]:.1f} ms, snapshot {snapshot} bytes, largest push "
          f"{long_push} bytes")
    what += f"; on a line already holding {LONG_LINE:,} entries (seeded into the table)"
    bench("hotline_p50_ms_long_line", f"{l50:.1f}", "ms", what)
    bench("hotline_p99_ms_long_line", f"{l99:.1f}", "ms", what)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LIAISON_HOTLINE_TICK_S", "15")
    sys.exit(main())
