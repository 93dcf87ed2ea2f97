"""Hotline latency: a message sent at KOR's node to the live console (WebSocket) at CHN's
node, signed, encrypted and over mutual TLS between the two node processes.

Prints ``BENCH hotline_p50_ms`` and ``BENCH hotline_p99_ms`` over N messages sent one at a
time (``--quick``: fewer).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).parent))
from bench_federation import PASSWORD, port, serve, setup, trust

CHANNEL = "KOR-CHN-HOTLINE-MOU"


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


async def measure(kor: str, kt: str, chn_port: int, ct: str, n: int) -> list[float]:
    url = f"ws://127.0.0.1:{chn_port}/api/hotline/{CHANNEL}/live?token={ct}"
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=kor, headers={"Authorization": f"Bearer {kt}"}) as c, \
            websockets.connect(url) as ws:
        await ws.recv()
        for i in range(n):
            start = time.perf_counter()
            r = await c.post(f"/api/hotline/{CHANNEL}/messages",
                             json={"precedence": "FLASH", "text": f"test {i}"})
            r.raise_for_status()
            while len(json.loads(await ws.recv())["traffic"]) < i + 1:
                pass
            latencies.append((time.perf_counter() - start) * 1000)
    return latencies


def main() -> int:
    n = 30 if "--quick" in sys.argv else 300
    with tempfile.TemporaryDirectory(prefix="liaison-bench-") as tmp:
        root = Path(tmp)
        (kor, kfp), (chn, cfp) = setup(root, "KOR"), setup(root, "CHN")
        kp, cp = port(), port()
        procs = [serve(kor, kp), serve(chn, cp)]
        ku, cu = f"http://127.0.0.1:{kp}", f"http://127.0.0.1:{cp}"
        kadmin = trust(ku, "CHN", cu, cfp)
        cadmin = trust(cu, "KOR", ku, kfp)
        kt, ct = staff(ku, kadmin, "군사I급비밀"), staff(cu, cadmin, "绝密")
        lat = sorted(asyncio.run(measure(ku, kt, cp, ct, n)))
        for p in procs:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=15)
    p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print(f"# {n} FLASH messages KOR → CHN console, one at a time; max {lat[-1]:.1f} ms")
    print(f"BENCH hotline_p50_ms {p50:.1f} ms")
    print(f"BENCH hotline_p99_ms {p99:.1f} ms")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LIAISON_HOTLINE_TICK_S", "15")
    sys.exit(main())
