"""Track latency and throughput between real node processes on loopback, signing and
encryption on: updates ingested at the US node (WebSocket JSON ingest) and timed at a
subscriber on the Korean node (WebSocket live feed); latency is the subscriber's wall clock
minus the update's time, stamped by the sender just before it sends.

Prints:
  BENCH track_p50_ms_at_1000 / track_p99_ms_at_1000 / track_p999_ms_at_1000
                                   (the sensor sends a frame per 10 ms scan, 10 updates;
                                   one update per frame is printed as a comment line)
  BENCH track_sustained_per_s      highest offered rate with every update delivered and
                                   nothing dropped (steps of increasing rate)
  BENCH track_p99_ms_1_partner / track_p99_ms_32_partners
                                   the same rate with 1 partner and with 32 partners (31
                                   more node processes), p99 at the Korean subscriber
``--quick``: short runs, two rate steps and 2 partners instead of 32 (a smoke test, not
the figures).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import string
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import websockets
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from bench_federation import PASSWORD, port, serve, setup
from liaison.bootstrap import open_storage
from liaison.config import Settings
from liaison.domain.codec import party_from

SCAN = 10  # updates per ingest frame at 1,000/s: a radar reporting every 10 ms
LABEL = {"policy": "USA", "classification": "SECRET", "originator": "USA",
         "created": "2019-10-31T00:00:00+00:00"}


def extra_parties(n: int) -> list[str]:
    """Three-letter codes for generated partners (Q.. so none is a real country here)."""
    letters = string.ascii_uppercase
    return [f"Q{letters[i // 26]}{letters[i % 26]}" for i in range(n)]


def partner_yaml(root: Path, codes: list[str]) -> Path:
    """Generated partners and a GSOMIA between each and the USA."""
    doc: dict[str, Any] = {"parties": [], "agreements": []}
    for code in codes:
        doc["parties"].append({"code": code, "name": f"Partner {code}", "unclassified": "U",
                               "levels": [{"name": "SECRET", "mark": "S"},
                                          {"name": "CONFIDENTIAL", "mark": "C"}],
                               "secret_level": "SECRET"})
        doc["agreements"].append({
            "id": f"USA-{code}-GSOMIA", "kind": "GSOMIA", "parties": ["USA", code],
            "table": [{"common": "SECRET", "levels": {"USA": ["SECRET"], code: ["SECRET"]}}],
            "events": [{"kind": "SIGNED", "date": "2020-01-01"},
                       {"kind": "ENTERED_INTO_FORCE", "date": "2020-01-01"}]})
    path = root / "partners.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    (root / "agreements.yaml").write_text(yaml.safe_dump({"agreements": doc["agreements"]},
                                                         allow_unicode=True))
    return path


def known_parties(data: Path, doc: Path) -> None:
    settings = Settings(data_dir=data)
    engine, uow = open_storage(settings)
    parties = yaml.safe_load(doc.read_text())["parties"]
    with uow() as u:
        for entry in parties:
            u.parties.put(party_from(entry))
        u.commit()
    engine.dispose()


class Cluster:
    """USA (sender) and KOR (measured receiver), plus ``extra`` more partners of USA."""

    def __init__(self, root: Path, extra: int) -> None:
        self.root, self.codes = root, extra_parties(extra)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.urls: dict[str, str] = {}

    def __enter__(self) -> Cluster:
        try:
            self._start()
        except BaseException:
            self.__exit__()  # no node process outlives a failed start
            raise
        return self

    def _start(self) -> None:
        parties = ["USA", "KOR", *self.codes]
        self.root.mkdir(parents=True, exist_ok=True)
        doc = partner_yaml(self.root, self.codes)
        for code in ["USA", *self.codes]:  # generated parties: known before `liaison init`
            known_parties(self.root / code, doc)
        with ThreadPoolExecutor(4) as pool:
            made = dict(zip(parties, pool.map(lambda p: setup(self.root, p), parties),
                            strict=True))
        if self.codes:
            cli = [sys.executable, "-m", "liaison.cli.main", "import",
                   str(self.root / "agreements.yaml")]
            for party in parties:
                if party != "KOR":
                    subprocess.run([*cli, "--data-dir", made[party][0]], check=True,
                                   capture_output=True)
        for party in parties:
            p = port()
            self.procs.append(serve(made[party][0], p))
            self.urls[party] = f"http://127.0.0.1:{p}"
        # one sign-in per node: sign-ins are rate-limited per user and address
        self.admins = {party: login(url, "admin") for party, url in self.urls.items()}
        usa = self.urls["USA"]
        for party in parties[1:]:
            add_peer(usa, self.admins["USA"], party, self.urls[party], made[party][1])
            add_peer(self.urls[party], self.admins[party], "USA", usa, made["USA"][1])
        headers = {"Authorization": f"Bearer {self.admins['USA']}"}
        httpx.post(usa + "/api/users", headers=headers, json={
            "username": "sensor", "roles": ["sensor"], "clearance": "SECRET",
            "password": PASSWORD}, timeout=30).raise_for_status()
        httpx.post(usa + "/api/tracks/feeds", headers=headers, json={
            "name": "radar", "title": "bench radar", "topic": "DPRK/missile",
            "label": {**LABEL, "rel_to": ["USA", "KOR", *self.codes]}},
            timeout=30).raise_for_status()
        self.sensor = login(usa, "sensor")
        httpx.post(self.urls["KOR"] + "/api/users", headers={
            "Authorization": f"Bearer {self.admins['KOR']}"}, json={
            "username": "watch", "roles": ["watch_officer"], "clearance": "군사II급비밀",
            "password": PASSWORD}, timeout=30).raise_for_status()
        self.watch = login(self.urls["KOR"], "watch")
        want = len(parties) - 1
        for _ in range(200):
            routes = httpx.get(usa + "/api/tracks/stats", headers=headers,
                               timeout=30).json()["policy"]["feeds"]["radar"]["to"]
            if len(routes) == want:
                break
            time.sleep(0.25)
        else:
            raise RuntimeError(f"the feed reaches {len(routes)} partners, not {want}")

    def stats(self, party: str = "USA") -> dict[str, Any]:
        return dict(httpx.get(self.urls[party] + "/api/tracks/stats", headers={
            "Authorization": f"Bearer {self.admins[party]}"}, timeout=30).json())

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def add_peer(url: str, token: str, party: str, address: str, fingerprint: str) -> None:
    httpx.post(url + "/api/peers", headers={"Authorization": f"Bearer {token}"},
               json={"party": party, "address": address, "fingerprint": fingerprint},
               timeout=30).raise_for_status()


def login(url: str, user: str) -> str:
    r = httpx.post(url + "/api/auth/login", json={"username": user, "password": PASSWORD},
                   timeout=30)
    r.raise_for_status()
    return str(r.json()["token"])


async def run_rate(c: Cluster, rate: int, seconds: float, per_frame: int = 1,
                   ) -> tuple[list[float], int, int]:
    """Offer ``rate`` updates/s for ``seconds``; latencies (ms) at KOR, sent, received."""
    ingest = (c.urls["USA"].replace("http", "ws") + f"/api/tracks/ingest/ws?feed=radar"
              f"&token={c.sensor}")
    live = c.urls["KOR"].replace("http", "ws") + f"/api/tracks/live?token={c.watch}"
    total = int(rate * seconds)
    latencies: list[float] = []
    async with websockets.connect(live, max_size=None) as sub, \
            websockets.connect(ingest, max_size=None) as feed:
        await sub.recv()  # the snapshot

        async def acks() -> None:
            for _ in range(total // per_frame):
                answer = json.loads(await feed.recv())
                if answer["refused"]:
                    raise RuntimeError(f"ingest refused: {answer}")

        async def receive() -> None:
            while len(latencies) < total:
                for track in json.loads(await sub.recv()):
                    if track.get("type") == "track":
                        sent = datetime.fromisoformat(track["time"]).timestamp()
                        latencies.append((time.time() - sent) * 1000)

        reader, acker = asyncio.create_task(receive()), asyncio.create_task(acks())
        start = time.perf_counter()
        for i in range(0, total, per_frame):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            now = time.time()
            rows = [{"uid": f"T{(i + j) % 200}", "time": datetime.fromtimestamp(now, UTC)
                     .isoformat(), "lat": 39.0 + ((i + j) % 200) / 1000, "lon": 127.0,
                     "alt_m": 9000.0, "kind": "a-h-A"} for j in range(per_frame)]
            await feed.send(json.dumps(rows if per_frame > 1 else rows[0]))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(reader, acker), timeout=max(10, seconds))
        reader.cancel()
        acker.cancel()
    return latencies, total, len(latencies)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))] if s else float("nan")


def clean(c: Cluster) -> bool:
    s = c.stats("USA")
    kor = s["partners"]["KOR"]
    return not (kor["dropped_overflow"] or kor["stale_discarded"] or s["subscriber_dropped"]
                or c.stats("KOR")["subscriber_dropped"])


def main() -> int:
    quick = "--quick" in sys.argv
    seconds = 2.0 if quick else 10.0
    extra = 1 if quick else 31
    with tempfile.TemporaryDirectory(prefix="liaison-bench-") as tmp:
        with Cluster(Path(tmp) / "two", 0) as c:
            asyncio.run(run_rate(c, 200, 1.0))  # warm up the links
            single, _, _ = asyncio.run(run_rate(c, 1000, seconds))
            print(f"# 1,000 updates/s, one update per ingest frame: p50 {pct(single, 0.5):.1f}"
                  f" ms, p99 {pct(single, 0.99):.1f} ms")
            lat, sent, got = asyncio.run(run_rate(c, 1000, seconds, per_frame=SCAN))
            print(f"# 1,000 updates/s for {seconds:.0f} s USA → KOR subscriber, a frame per "
                  f"10 ms scan ({SCAN} updates): {got} of {sent} delivered; max "
                  f"{max(lat):.1f} ms")
            print(f"BENCH track_p50_ms_at_1000 {pct(lat, 0.5):.2f} ms")
            print(f"BENCH track_p99_ms_at_1000 {pct(lat, 0.99):.2f} ms")
            print(f"BENCH track_p999_ms_at_1000 {pct(lat, 0.999):.2f} ms")
            best = 0
            for rate in (2_000, 5_000) if quick else (2_000, 5_000, 10_000, 15_000, 20_000,
                                                      30_000):
                lat, sent, got = asyncio.run(run_rate(c, rate, 3.0 if not quick else 1.0,
                                                      per_frame=100))
                ok = got == sent and clean(c)
                print(f"# offered {rate}/s: delivered {got} of {sent}, p99 "
                      f"{pct(lat, 0.99):.1f} ms{'' if ok else ' — loss or drops: stop'}")
                if not ok:
                    break
                best = rate
            print(f"BENCH track_sustained_per_s {best} updates/s")
            lat1, _, _ = asyncio.run(run_rate(c, 100, seconds, per_frame=1))
        with Cluster(Path(tmp) / "many", extra) as c:
            asyncio.run(run_rate(c, 100, 1.0))
            lat32, sent, got = asyncio.run(run_rate(c, 100, seconds))
            print(f"# 100 updates/s, feed shared with {extra + 1} partners: KOR got {got} of "
                  f"{sent}")
    print(f"BENCH track_p99_ms_1_partner {pct(lat1, 0.99):.2f} ms")
    print(f"BENCH track_p99_ms_{extra + 1}_partners {pct(lat32, 0.99):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
