"""One node as three workers over one PostgreSQL and one NATS JetStream (issue 9).

Korea runs three worker processes (their own API ports, one shared federation port); a
feed posts track updates to them in turn and releases are queued while the worker that
holds the partner lanes is killed with SIGKILL mid-stream. Japan (a single worker on the
embedded defaults) must get every track update and every envelope exactly once, and a
watch officer's WebSocket on each surviving Korean worker every update exactly once.
Also: ``liaison serve --workers 3`` starts a worker again when one is killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from liaison.config import Settings
from liaison.node.composition import build_node, open_storage
from liaison.services import federation

from ..servers import create_database
from .inbox_order import applied_in_order, verdicts
from .node_fixtures import PASSWORD
from .processes import CLI, NodeProcess, free_port, wait_for
from .test_no_loss import release_payload

TRACKS, STEPS = 40, 50  # 2,000 updates: 40 tracks, 50 positions each
BATCH = 20
ENVELOPES = 600
FEED = {"name": "radar", "title": "Korean coastal radar", "topic": "DPRK/missile",
        "discipline": "ELINT",
        "label": {"policy": "KOR", "classification": "군사II급비밀", "originator": "KOR",
                  "created": "2026-01-05T00:00:00+00:00", "rel_to": ["KOR", "JPN"]}}
FAST = {"LIAISON_TRACK_REFRESH_S": "0.5", "LIAISON_LOGIN_ATTEMPTS_PER_MINUTE": "1000",
        "LIAISON_OUTBOX_BATCH": "50"}

pytestmark = pytest.mark.postgres


def korean_workers(root: Path, db: str, bus: str, n: int) -> list[NodeProcess]:
    federation_port = free_port()
    return [NodeProcess("KOR", root, federation_port=federation_port, database_url=db,
                        bus_url=bus, data_name="kor") for _ in range(n)]


@pytest.fixture
def cluster(tmp_path: Path, postgres_server: str,
            nats_url: str) -> Iterator[tuple[list[NodeProcess], NodeProcess]]:
    workers = korean_workers(tmp_path, create_database(postgres_server), nats_url, 3)
    jpn = NodeProcess("JPN", tmp_path, database_url="-", bus_url="")
    jpn.database_url = ""  # the embedded defaults, whatever the suite's stack
    try:
        kor_print, jpn_print = workers[0].init(), jpn.init()
        for i, w in enumerate(workers):
            w.start({**FAST, "LIAISON_WORKER_INDEX": str(i)})
            w.login()
        jpn.start(FAST)
        jpn.login()
        workers[0].trust(jpn, jpn_print)
        jpn.trust(workers[0], kor_print)
        kor = workers[0]
        for name, roles, level in (("radar", ["sensor"], "군사II급비밀"),
                                   ("watch", ["watch_officer"], "군사II급비밀")):
            kor.call("POST", "/api/users", json={"username": name, "roles": roles,
                                                 "clearance": level, "password": PASSWORD})
        jpn.call("POST", "/api/users", json={"username": "watch", "roles": ["watch_officer"],
                                             "clearance": "極秘", "password": PASSWORD})
        kor.call("POST", "/api/tracks/feeds", json=FEED)
        kor.call("POST", "/api/tracks/feeds/radar/sensors", json={"username": "radar"})
        for w in workers:  # each worker's policy routes the feed to Japan
            wait_for(lambda w=w: [r["partner"] for r in w.call("GET", "/api/tracks/stats")
                                  ["policy"]["feeds"].get("radar", {}).get("to", [])]
                     == ["JPN"], what="the radar feed routed to JPN on every worker")
        yield workers, jpn
    finally:
        for node in [*workers, jpn]:
            node.stop()


def updates(start: datetime) -> list[dict[str, Any]]:
    return [{"uid": f"T{t:02d}", "time": (start + timedelta(seconds=s)).isoformat(),
             "lat": 39.0 + t * 0.01, "lon": 125.0 + s * 0.001, "alt_m": 100.0}
            for s in range(STEPS) for t in range(TRACKS)]


def holder(kor: NodeProcess, job: str) -> str:
    leases: dict[str, str] = kor.call("GET", "/api/workers")["leases"]
    return leases.get(job, "")


async def listen(url: str, token: str, seen: Counter[tuple[str, str]],
                 stop: asyncio.Event) -> None:
    """Count every track update a watch officer's WebSocket receives."""
    uri = url.replace("http", "ws") + f"/api/tracks/live?token={token}"
    async with websockets.connect(uri, max_size=None) as ws:
        while not stop.is_set():
            try:
                text = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            data = json.loads(text)
            for item in data if isinstance(data, list) else []:
                if item.get("type") == "track":
                    seen[(item["uid"], item["time"])] += 1


async def feed(workers: list[NodeProcess], token: str,
               batches: list[list[dict[str, Any]]]) -> int:
    """Post the batches to the workers in turn; a batch whose worker died goes to the
    next one (the stream stores a repeated batch once). The number of retries."""
    retries = 0
    async with httpx.AsyncClient(timeout=10) as client:
        for n, batch in enumerate(batches):
            for attempt in range(len(workers) * 3):
                w = workers[(n + attempt) % len(workers)]
                try:
                    r = await client.post(w.url + "/api/tracks/ingest", json={
                        "feed": "radar", "updates": batch},
                        headers={"Authorization": f"Bearer {token}"})
                except httpx.HTTPError:
                    retries += 1
                    continue
                assert r.status_code == 200 and r.json()["accepted"] == len(batch), r.text
                break
            else:
                raise AssertionError(f"batch {n} was not accepted by any worker")
            await asyncio.sleep(0.02)
    return retries


def enqueue_envelopes(data_dir: str, db: str, start: int, count: int) -> None:
    node = build_node(Settings(data_dir=Path(data_dir), database_url=db))
    try:
        with node.deps.uow() as uow:
            for i in range(start, start + count):
                federation.enqueue(uow, node.deps, "JPN", "release", release_payload(i))
            uow.commit()
    finally:
        node.engine.dispose()  # the lane holder finds them at its next poll


def inbox_at(jpn: NodeProcess) -> list[tuple[str, str, int]]:
    """(message id, verdict, KOR's seq) of every message from KOR at JPN, in the order JPN
    received them (``inbox_order``), whatever its verdict."""
    engine, _ = open_storage(Settings(data_dir=Path(jpn.data),
                                      database_url=jpn.database_url))
    try:
        with engine.connect() as conn:
            applied = dict(applied_in_order(conn, "KOR"))
            return [(mid, verdict, applied.get(mid, -1))
                    for mid, verdict in verdicts(conn, "KOR")]
    finally:
        engine.dispose()


def test_three_workers_one_killed_mid_stream_deliver_everything_once(
        cluster: tuple[list[NodeProcess], NodeProcess]) -> None:
    workers, jpn = cluster
    kor = workers[0]
    all_updates = updates(datetime.now(UTC).replace(microsecond=0))
    batches = [all_updates[i:i + BATCH] for i in range(0, len(all_updates), BATCH)]
    expected = {(u["uid"], datetime.fromisoformat(u["time"]).isoformat())
                for u in all_updates}
    sensor = kor.login("radar")
    seen = {i: Counter[tuple[str, str]]() for i in range(len(workers))}
    at_jpn: Counter[tuple[str, str]] = Counter()
    dead: set[int] = set()

    async def scenario() -> int:
        stop = asyncio.Event()
        listeners = [asyncio.create_task(listen(w.url, w.login("watch"), seen[i], stop))
                     for i, w in enumerate(workers)]
        listeners.append(asyncio.create_task(listen(jpn.url, jpn.login("watch"), at_jpn,
                                                    stop)))
        await asyncio.sleep(1.0)
        posting = asyncio.create_task(feed(workers, sensor, batches))
        await asyncio.to_thread(enqueue_envelopes, kor.data, kor.database_url, 0,
                                ENVELOPES // 2)
        await asyncio.sleep(1.5)  # mid-stream: kill the worker running Japan's links
        lane = await asyncio.to_thread(holder, kor, "tracks-link:JPN")
        victim = next(i for i, w in enumerate(workers)
                      if w.proc and lane.split(":")[1] == str(w.proc.pid))
        workers[victim].kill()
        dead.add(victim)
        assert not posting.done(), "the stream ended before the kill: make it longer"
        await asyncio.to_thread(enqueue_envelopes, kor.data, kor.database_url,
                                ENVELOPES // 2, ENVELOPES - ENVELOPES // 2)
        retries = await posting
        alive = [i for i in range(len(workers)) if i not in dead]

        def complete() -> bool:
            return set(at_jpn) >= expected and all(set(seen[i]) >= expected
                                                   for i in alive)

        await asyncio.to_thread(wait_for, complete, 90.0, "every update everywhere")
        await asyncio.sleep(1.0)  # late duplicates would show now
        stop.set()
        await asyncio.gather(*listeners, return_exceptions=True)
        return retries

    retries = asyncio.run(scenario())
    alive = [i for i in range(len(workers)) if i not in dead]
    received = wait_for(lambda: (lambda rows: rows if len({m for m, _, _ in rows}) >= ENVELOPES
                                 else None)(inbox_at(jpn)), timeout=90,
                        what="a verdict on every envelope at JPN")
    ids = [m for m, verdict, _ in received if verdict == "applied"]
    # a batch resent after a worker died mid-delivery is answered "duplicate" (the inbox
    # dropping a repeat, as it should); refused or failed messages are not
    resent = sum(1 for _, verdict, _ in received if verdict == "duplicate")
    not_applied = Counter(verdict for _, verdict, _ in received
                          if verdict not in ("applied", "duplicate"))
    seqs = [s for _, verdict, s in received if verdict == "applied"]
    in_order = all(a < b for a, b in pairwise(seqs))
    jpn_dupes = sum(n - 1 for n in at_jpn.values())
    kor_dupes = sum(n - 1 for i in alive for n in seen[i].values())
    print(f"\nscale-out: 3 workers, worker {sorted(dead)} (holding Japan's track link) "
          f"SIGKILLed mid-stream "
          f"({retries} ingest retries); track updates at JPN {len(set(at_jpn) & expected)} "
          f"of {len(expected)}, duplicates {jpn_dupes}; on each surviving worker "
          f"{min(len(set(seen[i]) & expected) for i in alive)} of {len(expected)}, "
          f"duplicates {kor_dupes}; envelopes applied at JPN {len(set(ids))} of {ENVELOPES}"
          f", duplicates {len(ids) - len(set(ids))} ({resent} resent and dropped as "
          f"repeats), in KOR's order {in_order}")
    assert set(at_jpn) == expected and jpn_dupes == 0
    assert kor_dupes == 0
    assert not not_applied, f"messages JPN did not apply: {dict(not_applied)}"
    assert len(ids) == len(set(ids)) == ENVELOPES
    # applied in the order KOR queued them (KOR's seq), across the kill
    assert in_order, seqs


def test_serve_workers_starts_a_killed_worker_again(tmp_path: Path, postgres_server: str,
                                                    nats_url: str) -> None:
    node = NodeProcess("KOR", tmp_path, database_url=create_database(postgres_server),
                       bus_url=nats_url)
    node.init()
    log = tmp_path / "supervisor.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*CLI, "serve", "--data-dir", node.data, "--port",
                                 str(node.port), "--federation-port",
                                 str(node.federation_port), "--workers", "3"],
                                stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **node.backend_env})
    try:
        def pids() -> list[int]:
            text = log.read_text()
            line = next((x for x in text.splitlines() if "workers, pids" in x), "")
            return [int(p) for p in line.split("pids")[-1].split()] if line else []

        first = wait_for(pids, 30, "the supervisor's worker list")
        assert len(first) == 3
        wait_for(lambda: _healthy(node.url), 60, "the workers answering")
        node.login()
        answered = {node.call("GET", "/api/workers")["worker"] for _ in range(30)}
        os.kill(first[1], signal.SIGKILL)
        wait_for(lambda: "starting it again" in log.read_text(), 30, "a restart")
        wait_for(lambda: "worker 1 is pid" in log.read_text(), 30, "the new worker")
        for _ in range(20):  # the port keeps answering throughout
            assert httpx.get(node.url + "/api/health", timeout=5).status_code == 200
        print(f"\nserve --workers 3: {len(answered)} distinct workers answered 30 calls; "
              f"worker 1 killed and started again")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode == 0, log.read_text()[-2000:]


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/api/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
