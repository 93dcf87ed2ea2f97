"""A partner's return after an outage: JPN is down while KOR's outbox to it holds a backlog
of N releases, S of them with one report time (an archive with date-only times, a replayed
feed); JPN comes back and KOR's sender drains the backlog over the real path (batches
sealed, sent over mutual TLS, applied at JPN, signed receipts settled at KOR, durable on
both sides). Once the drain is under way a FLASH is sent on the KOR–JPN hotline.

The backlog is queued fast, not measured: KOR is stopped and its outbox filled in one
transaction through the project's own ``federation.enqueue``, with release payloads
shaped as ``releases._send`` shapes them. Then KOR starts (JPN still down: it fails and
backs off) and JPN comes back.

Checked on the way (exit 1 otherwise): every release arrives exactly once (one inbox row,
accepted, one stored item each) and in the order it was queued.

Prints ``BENCH backlog_drain_per_s`` (releases per second from JPN's return, healthy again,
to KOR's last settled receipt; the comment line gives the part the sender's backoff took
before the first delivery) and ``BENCH backlog_flash_ms`` (the FLASH posted at KOR to the
frame at JPN's watch page that shows it). ``--quick``: 1,000 releases, 600 at one time;
``--n`` and ``--same`` choose.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).parent))
import node_processes
from bench_federation import PASSWORD, healthy, launch, setup, trust
from bench_federation import port as free_port
from liaison.config import Settings
from liaison.domain.codec import item_to
from liaison.domain.items import Discipline, Grade, Item, Portion, PortionKind
from liaison.domain.labels import make_label
from liaison.domain.parties import default_parties
from liaison.node.composition import build_node
from liaison.services import attachments, federation
from liaison.storage.engine import connect_file
from report import bench

AGREEMENT = "KOR-JPN-GSOMIA"  # a GSOMIA opens a hotline too (the channel's id)
CLEARANCE = {"KOR": "군사I급비밀", "JPN": "特定秘密"}
ZONES = {"KOR": "Asia/Seoul", "JPN": "Asia/Tokyo"}
NODE_ENV = {"LIAISON_LOGIN_ATTEMPTS_PER_MINUTE": "1000", "LIAISON_HOTLINE_TICK_S": "3600"}
FLASH_AT = 0.1  # the FLASH is sent once this share of the backlog is settled
APPLIED = ("applied", "accepted")  # the inbox's verdict ("accepted": older nodes)
STALL_S = 90.0  # no receipt for this long: the queue is stuck


@dataclass
class Node:
    party: str
    data: str
    fingerprint: str
    port: int = field(default_factory=free_port)
    federation_port: int = field(default_factory=free_port)
    proc: Any = None
    admin: str = ""
    watch: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        self.proc = launch(self.data, self.port, self.federation_port, NODE_ENV)

    def healthy(self) -> None:
        healthy(self.proc, self.data, self.port)

    def call(self, method: str, path: str, token: str = "", **kw: Any) -> Any:
        r = httpx.request(method, self.url + path, timeout=60, headers={
            "Authorization": f"Bearer {token or self.admin}"}, **kw)
        if r.status_code >= 400:
            raise RuntimeError(f"{self.party} {method} {path}: {r.status_code} {r.text}")
        return r.json()

    def login(self, user: str) -> str:
        r = httpx.post(self.url + "/api/auth/login", json={"username": user,
                                                           "password": PASSWORD}, timeout=60)
        r.raise_for_status()
        return str(r.json()["token"])

    def db(self) -> contextlib.closing[Any]:
        """Its SQLite database, to read (also while it runs: WAL)."""
        return contextlib.closing(connect_file(Path(self.data) / "liaison.db"))


@dataclass
class Backlog:
    """What one run saw: queue order at KOR, arrival order at JPN, times."""

    n: int
    same: int
    queued: list[str]  # the backlog's message ids in queue order
    arrived: list[tuple[str, str, str]]  # JPN's inbox from KOR: (id, kind, outcome), in order
    items: int  # items from KOR stored at JPN
    settled: dict[str, str]  # KOR's outbox: id -> state
    queue_s: float
    resume_s: float  # JPN's return to KOR's first settled receipt
    drain_s: float  # JPN's return to KOR's last settled receipt
    flash_id: str
    flash_ms: float
    flash_after: int  # backlog releases settled when the FLASH was sent

    @property
    def per_s(self) -> float:
        return self.n / self.drain_s

    def problems(self) -> list[str]:
        """Exactly once, in order: what is wrong, if anything."""
        ids = [m for m, kind, _ in self.arrived if kind == "release"]
        queued = set(self.queued)
        got = [m for m in ids if m in queued]
        found = []
        once = set(got)
        if len(got) != len(once):
            found.append(f"{len(got) - len(once)} release(s) arrived twice")
        if once != queued:
            found.append(f"{len(queued - once)} of {self.n} releases never arrived")
        expected = [m for m in self.queued if m in once]
        if got != expected:
            first = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True))
                         if a != b)
            found.append(f"out of order from the {first + 1}th arrival on")
        refused = [m for m, kind, out in self.arrived if m in queued and out not in APPLIED]
        if refused:
            found.append(f"{len(refused)} release(s) not accepted at JPN")
        if self.items != self.n:
            found.append(f"JPN stored {self.items} items from KOR, not {self.n}")
        unsettled = [m for m in self.queued if self.settled.get(m) != "delivered"]
        if unsettled:
            found.append(f"{len(unsettled)} release(s) not settled as delivered at KOR")
        return found

    def delivered(self) -> int:
        """Backlog releases that arrived at JPN and were accepted there."""
        queued = set(self.queued)
        return len({m for m, _, out in self.arrived if m in queued and out in APPLIED})

    def flash_overtook(self) -> int:
        """Backlog releases JPN received after the FLASH."""
        order = [m for m, _, _ in self.arrived]
        if self.flash_id not in order:
            return 0
        after = set(order[order.index(self.flash_id) + 1:])
        return sum(1 for m in self.queued if m in after)


def release_payloads(n: int, same: int) -> list[dict[str, Any]]:
    """``n`` releases to JPN, a block of ``same`` in the middle with one report time (the
    others a second apart), each as ``releases._send`` queues it."""
    kor, now = default_parties()["KOR"], datetime.now(UTC)
    label = make_label(kor.scheme, "군사III급비밀", originator="KOR", created=now,
                       rel_to={"JPN"})
    one_time = now - timedelta(days=1)
    first = (n - same) // 2
    payloads = []
    for i in range(n):
        at = one_time if first <= i < first + same else now - timedelta(seconds=n - i)
        item = Item(f"BL{i:06d}", "KOR", Discipline.ELINT, "DPRK/missile", Grade("B", 2),
                    f"backlog emission {i}", at,
                    (Portion("p1", PortionKind.TEXT, f"radar emission {i}", label),))
        payloads.append({"item": attachments.inline(item_to(item), {}),
                         "agreement": AGREEMENT, "request_id": f"backlog-{i}",
                         "recipient": "JPN", "route": [], "purpose": "backlog"})
    return payloads


def queue(data: str, payloads: list[dict[str, Any]]) -> list[str]:
    """Into the stopped node's outbox, in one transaction; the message ids in order."""
    node = build_node(Settings(data_dir=Path(data)))
    try:
        with node.deps.uow() as uow:
            ids = [federation.enqueue(uow, node.deps, "JPN", "release", p).id
                   for p in payloads]
            uow.commit()
    finally:
        node.engine.dispose()
    return ids


def staff(node: Node) -> None:
    """The hotline channel on this side (no scheduled calls) and a signed-in watch
    officer."""
    node.call("POST", "/api/hotline", json={"agreement_id": AGREEMENT, "times": ["09:00"],
                                            "tz": ZONES[node.party], "places_calls": False})
    node.call("POST", "/api/users", json={"username": "watch", "roles": ["watch_officer"],
                                          "clearance": CLEARANCE[node.party],
                                          "password": PASSWORD})


class Watch(threading.Thread):
    """JPN's watch page (the live WebSocket): when the frame showing ``marker`` came."""

    def __init__(self, node: Node, marker: str) -> None:
        super().__init__(daemon=True)
        self.url = (f"ws://127.0.0.1:{node.port}/api/hotline/{AGREEMENT}/live"
                    f"?token={node.watch}")
        self.marker, self.ready, self.seen_at = marker, threading.Event(), 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._watch())
        except BaseException as exc:
            self.error = exc
            self.ready.set()

    async def _watch(self) -> None:
        async with websockets.connect(self.url, max_size=None) as ws:
            await ws.recv()
            self.ready.set()
            while self.marker not in str(await ws.recv()):
                pass
            self.seen_at = time.perf_counter()


def log_tail(node: Node) -> str:
    path = Path(node.data) / f"serve-{node.port}.log"
    return f"--- {node.party}'s log:\n" + path.read_text(errors="replace")[-3000:]


def start(*nodes: Node) -> None:
    """Launch them all, then wait until each is healthy."""
    for node in nodes:
        node.launch()
    for node in nodes:
        node.healthy()


def backlog_seqs(kor: Node, queued: list[str]) -> tuple[int, int]:
    """The first and last sequence number of the backlog (one transaction: contiguous)."""
    with kor.db() as db:
        first, last = db.execute("select min(seq), max(seq) from outbox where id in "
                                 "(?, ?)", (queued[0], queued[-1])).fetchone()
    return int(first), int(last)


def settled(kor: Node, seqs: tuple[int, int]) -> int:
    """Backlog messages settled at KOR so far (read from its database as it runs)."""
    with kor.db() as db:
        return int(db.execute("select count(*) from outbox where peer = 'JPN' and seq "
                              "between ? and ? and state != 'pending'", seqs).fetchone()[0])


def drain(kor: Node, jpn: Node, seqs: tuple[int, int]) -> tuple[str, float, int]:
    """Wait for the backlog to drain; send the FLASH once ``FLASH_AT`` of it is settled.
    The FLASH's outbox message id, its send-to-watch-page time in ms, and how many of the
    backlog were settled when it was sent."""
    n = seqs[1] - seqs[0] + 1
    marker = f"FLASH during the backlog {time.time_ns()}"
    watch = Watch(jpn, marker)
    watch.start()
    if not watch.ready.wait(60) or watch.error:
        raise RuntimeError(f"JPN's watch page did not open: {watch.error}")
    sent_at, flash_after, last, moved = 0.0, 0, -1, time.monotonic()
    while True:
        done = settled(kor, seqs)
        if done != last:
            last, moved = done, time.monotonic()
        elif time.monotonic() - moved > STALL_S:
            raise RuntimeError(f"the queue is stuck: nothing settled for {STALL_S:.0f} s, "
                               f"{done} of {n}\n{log_tail(kor)}\n{log_tail(jpn)}")
        if not sent_at and done >= max(1, int(n * FLASH_AT)):
            flash_after, sent_at = done, time.perf_counter()
            kor.call("POST", f"/api/hotline/{AGREEMENT}/messages", token=kor.watch,
                     json={"precedence": "FLASH", "text": marker})
        if sent_at and done == n:
            break
        time.sleep(0.05)
    watch.join(60)
    if not watch.seen_at:
        raise RuntimeError(f"the FLASH never showed on JPN's watch page: {watch.error}")
    with kor.db() as db:
        row = db.execute("select id from outbox where peer = 'JPN' and kind = 'hotline' "
                         "order by seq desc limit 1").fetchone()
    return str(row[0]), (watch.seen_at - sent_at) * 1000, flash_after


def run(root: Path, n: int, same: int) -> Backlog:
    """The whole scenario; every node process is stopped on the way out."""
    with ThreadPoolExecutor(2) as pool:
        made = dict(zip(("KOR", "JPN"), pool.map(lambda p: setup(root, p), ("KOR", "JPN")),
                        strict=True))
    kor, jpn = (Node(p, *made[p]) for p in ("KOR", "JPN"))
    try:
        start(kor, jpn)
        for node in (kor, jpn):
            node.admin = node.login("admin")
        trust(kor.url, "JPN", jpn.url, jpn.fingerprint)
        trust(jpn.url, "KOR", kor.url, kor.fingerprint)
        for node in (kor, jpn):
            staff(node)
        node_processes.stop_many([jpn.proc, kor.proc])  # the partner goes down
        began = time.perf_counter()
        queued = queue(kor.data, release_payloads(n, same))
        seqs = backlog_seqs(kor, queued)
        queue_s = time.perf_counter() - began
        start(kor)  # it tries JPN, fails and backs off until JPN is back
        start(jpn)
        back = datetime.now(UTC)  # the partner is back
        kor.admin, kor.watch = kor.login("admin"), kor.login("watch")
        jpn.watch = jpn.login("watch")
        flash_id, flash_ms, flash_after = drain(kor, jpn, seqs)
    finally:
        node_processes.stop_many([p for p in (kor.proc, jpn.proc) if p is not None])
    return collect(kor, jpn, queued, back, queue_s, flash_id, flash_ms, flash_after, same)


def collect(kor: Node, jpn: Node, queued: list[str], back: datetime, queue_s: float,
            flash_id: str, flash_ms: float, flash_after: int, same: int) -> Backlog:
    """Both databases, read after the nodes stopped."""
    with kor.db() as db:
        rows = db.execute("select id, state, delivered_at from outbox "
                          "where peer = 'JPN'").fetchall()
    mine = set(queued)
    times = sorted(_utc(at) for mid, _, at in rows if mid in mine and at)
    with jpn.db() as db:
        arrived = [(str(m), str(k), str(o)) for m, k, o in db.execute(
            "select message_id, kind, outcome from inbox where sender = 'KOR' "
            "order by rowid")]
        items = db.execute("select count(*) from items where id like 'BL%@KOR'").fetchone()
    return Backlog(len(queued), same, queued, arrived, int(items[0]),
                   {str(m): str(s) for m, s, _ in rows}, queue_s,
                   (times[0] - back).total_seconds() if times else 0.0,
                   (times[-1] - back).total_seconds() if times else 0.0,
                   flash_id, flash_ms, flash_after)


def _utc(at: str) -> datetime:
    value = datetime.fromisoformat(at)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n", type=int)
    parser.add_argument("--same", type=int)
    args = parser.parse_args()
    n = args.n or (1_000 if args.quick else 50_000)
    same = min(n, args.same if args.same is not None else (600 if args.quick else 5_000))
    with tempfile.TemporaryDirectory(prefix="liaison-bench-") as tmp:
        b = run(Path(tmp), n, same)
    wrong = b.problems()
    print(f"# {n} releases KOR → JPN ({same} with one report time) queued in "
          f"{b.queue_s:.1f} s while JPN was down; drained in {b.drain_s:.2f} s from JPN's "
          f"return (first receipt after {b.resume_s:.2f} s: the sender's backoff; "
          f"{n / max(b.drain_s - b.resume_s, 1e-9):.0f}/s from there)")
    print(f"# FLASH sent with {b.flash_after} of {n} settled; JPN received "
          f"{b.flash_overtook()} backlog releases after it")
    if wrong:
        print("bench_backlog: FAILED: " + "; ".join(wrong), file=sys.stderr)
        return 1
    print("# every release arrived exactly once, in queue order")
    bench("backlog_drain_per_s", f"{b.per_s:.0f}", "releases/s",
          "releases per second from JPN's return after the outage to KOR's last settled "
          "receipt: the sender's backoff before the first delivery, batching, signing, "
          "encryption, mutual TLS on loopback, JPN applying and storing each release, "
          "receipts settled at KOR; not the queueing of the backlog (one transaction, "
          "before the clock starts)")
    bench("backlog_flash_ms", f"{b.flash_ms:.1f}", "ms",
          "a FLASH sent on the KOR-JPN hotline once 10 % of the backlog is settled, from "
          "the API call at KOR to the frame at JPN's watch page that shows it: the flash "
          "lane overtaking the routine backlog, envelope, TLS, applying, the WebSocket push")
    return 0


if __name__ == "__main__":
    sys.exit(main())
