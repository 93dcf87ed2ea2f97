"""Traffic for the crash and partition soaks (the assurance issue, parts 1 and 2): Korea
sends Japan releases and track updates; what Japan got is read back from its database and
from a watch officer's WebSocket.

- Releases are queued at KOR the way a release does it (``federation.enqueue`` in one
  transaction, straight into KOR's database, also while KOR is down); at JPN the inbox
  rows (in the order JPN applied them) and the ledger's "received" entries (the release's
  effect) are counted.
- Track updates are posted to KOR's ``POST /api/tracks/ingest`` by a sensor account, a
  small batch at a time; an update counts as *accepted* only when the API answered 200 with
  every update of its batch accepted. Each update has its own ``uid``: the picture a watch
  officer gets when (re)connecting (``{"type": "snapshot"}``, the newest update of every
  track) then also lists every single update the node took while they were away.
- A watch officer at JPN keeps one ``/api/tracks/live`` WebSocket open, reconnecting as
  soon as JPN answers again after a restart, and counts every update shown to them: live,
  or in the picture sent on (re)connecting (an update already shown by the same JPN
  process is not counted again from a later picture).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from liaison.config import Settings
from liaison.domain.codec import item_to
from liaison.domain.items import Discipline, Grade, Item, Portion, PortionKind
from liaison.domain.labels import make_label
from liaison.domain.parties import default_parties
from liaison.node.composition import build_node
from liaison.services import federation
from liaison.storage.engine import connect_file

from ..integration.node_fixtures import PASSWORD
from ..integration.processes import NodeProcess, wait_for

FEED = {"name": "radar", "title": "Korean coastal radar", "topic": "DPRK/missile",
        "discipline": "ELINT",
        "label": {"policy": "KOR", "classification": "군사II급비밀", "originator": "KOR",
                  "created": "2026-01-05T00:00:00+00:00", "rel_to": ["KOR", "JPN"]}}
# small outbox batches (more envelopes in flight at a kill), the track policy taken up
# quickly, sign-ins not rate-limited, no hourly audit checkpoint in the outbox
NODE_ENV = {"LIAISON_OUTBOX_BATCH": "25", "LIAISON_TRACK_REFRESH_S": "0.5",
            "LIAISON_LOGIN_ATTEMPTS_PER_MINUTE": "1000", "LIAISON_AUDIT_CHECKPOINT_S": "0"}
KOR = default_parties()["KOR"]


def embedded(node: NodeProcess) -> NodeProcess:
    """The node on SQLite and the in-process bus, whatever stack the suite's other node
    processes were given."""
    node.database_url, node.bus_url = "", ""
    return node


def connect_pair(kor: NodeProcess, jpn: NodeProcess, env: dict[str, str]) -> None:
    """Initialise and start KOR and JPN, trusting each other; KOR's radar feed routed to
    JPN; a sensor account at KOR and a watch officer at JPN."""
    with ThreadPoolExecutor(2) as pool:  # both at once: each is mostly Python starting up
        prints = dict(zip(("KOR", "JPN"), pool.map(NodeProcess.init, (kor, jpn)),
                          strict=True))
        list(pool.map(lambda n: n.start(env), (kor, jpn)))
    for node in (kor, jpn):
        node.login()
    kor.trust(jpn, prints["JPN"])
    jpn.trust(kor, prints["KOR"])
    kor.call("POST", "/api/users", json={"username": "radar", "roles": ["sensor"],
                                         "clearance": "군사II급비밀", "password": PASSWORD})
    jpn.call("POST", "/api/users", json={"username": "watch", "roles": ["watch_officer"],
                                         "clearance": "極秘", "password": PASSWORD})
    kor.call("POST", "/api/tracks/feeds", json=FEED)
    kor.call("POST", "/api/tracks/feeds/radar/sensors", json={"username": "radar"})
    wait_for(lambda: [r["partner"] for r in kor.call("GET", "/api/tracks/stats")["policy"]
                      ["feeds"].get("radar", {}).get("to", [])] == ["JPN"],
             what="the radar feed routed to JPN")


def link_to_jpn(kor: NodeProcess) -> dict[str, Any]:
    """KOR's track link to JPN as KOR reports it (counters of this KOR process)."""
    view: dict[str, Any] = kor.call("GET", "/api/tracks/stats")["partners"].get("JPN", {})
    return view


# --- releases ----------------------------------------------------------------------------


def release_payload(prefix: str, i: int) -> dict[str, object]:
    now = datetime.now(UTC)
    lab = make_label(KOR.scheme, "군사III급비밀", originator="KOR", created=now,
                     rel_to={"JPN"})
    it = Item(f"{prefix}{i:06d}", "KOR", Discipline.ELINT, "DPRK/missile", Grade("B", 2),
              f"radar emission {i}", now, (Portion("p1", PortionKind.TEXT, "x", lab),))
    return {"item": item_to(it), "agreement": "KOR-JPN-GSOMIA"}



def enqueue_releases(node: NodeProcess, prefix: str, start: int,
                     count: int) -> list[tuple[str, int]]:
    """Queue ``count`` releases for JPN in KOR's database, in one transaction, as a
    release does; their (message id, sequence number)."""
    built = build_node(Settings(data_dir=Path(node.data), database_url=node.database_url))
    try:
        with built.deps.uow() as uow:
            queued = [federation.enqueue(uow, built.deps, "JPN", "release",
                                         release_payload(prefix, i))
                      for i in range(start, start + count)]
            uow.commit()
    finally:
        built.engine.dispose()
    return [(m.id, m.seq) for m in queued]


@dataclass
class Received:
    """What JPN's database holds of KOR's releases."""

    inbox: list[tuple[str, int, str]]  # (message id, seq, outcome), in the order applied
    ledger: Counter[str]  # item id -> "received" ledger entries

    @property
    def ids(self) -> list[str]:
        return [m for m, _, _ in self.inbox]


def received_releases(jpn: NodeProcess, prefix: str) -> Received:
    with closing(connect_file(Path(jpn.data) / "liaison.db")) as db, db:
        inbox = [(str(m), int(s), str(o)) for m, s, o in db.execute(
            "select message_id, seq, outcome from inbox where sender = 'KOR' and "
            "kind = 'release' order by rowid")]
        ledger = Counter(str(r[0]) for r in db.execute(
            "select item_id from ledger where partner = 'KOR' and direction = 'received' "
            "and item_id like ?", (f"{prefix}%",)))
    return Received(inbox, ledger)


def release_verdict(queued: list[tuple[str, int]], got: Received,
                    settled: int) -> tuple[str, list[str]]:
    """A figure (delivered of queued, duplicates, order) and the failures, if any."""
    ids = got.ids
    wanted = {m for m, _ in queued}
    problems = []
    missing = wanted - set(ids)
    dupes = len(ids) - len(set(ids)) + sum(n - 1 for n in got.ledger.values())
    if missing:
        problems.append(f"{len(missing)} releases never arrived, e.g. {sorted(missing)[:3]}")
    if dupes:
        problems.append(f"{dupes} duplicates (inbox or ledger)")
    if set(ids) - wanted:
        problems.append(f"{len(set(ids) - wanted)} unexpected releases")
    refused = [m for m, _, o in got.inbox if o not in ("applied", "accepted")]
    if refused:
        problems.append(f"{len(refused)} refused by JPN, e.g. {refused[:3]}")
    if len(got.ledger) != len(wanted):
        problems.append(f"ledger shows {len(got.ledger)} items received, not {len(wanted)}")
    seqs = [s for _, s, _ in got.inbox]
    in_order = seqs == sorted(s for _, s in queued)
    if not in_order:
        problems.append(f"not in KOR's order: first inversion at position "
                        f"{next((i for i in range(1, len(seqs)) if seqs[i] < seqs[i - 1]), -1)}")
    if settled != len(queued):
        problems.append(f"KOR holds {settled} receipts, not {len(queued)}")
    once = " exactly once" if dupes == 0 else ""
    figure = (f"releases delivered {len(wanted & set(ids)):,} of {len(queued):,}{once}, "
              f"{dupes} duplicates, {'in order' if in_order else 'OUT OF ORDER'}")
    return figure, problems


# --- track updates -----------------------------------------------------------------------


def track_rows(prefix: str, start: int, count: int) -> list[dict[str, Any]]:
    """``count`` updates, each of its own track (uid), timed now."""
    now = datetime.now(UTC).isoformat()
    return [{"uid": f"{prefix}{i:07d}", "time": now, "lat": 39.0 + (i % 500) * 0.001,
             "lon": 125.0 + (i % 700) * 0.001, "alt_m": 100.0, "kind": "a-h-A"}
            for i in range(start, start + count)]


@dataclass
class TrackSender:
    """Posts batches of updates to KOR's ingest from a thread until stopped. A batch whose
    answer did not come back is posted again when ``retry_same`` (a stream stores a
    repeated batch once), else given up (never counted as accepted)."""

    node: NodeProcess
    prefix: str
    batch: int = 5
    interval_s: float = 0.1
    retry_same: bool = False
    accepted: list[str] = field(default_factory=list)
    given_up: list[str] = field(default_factory=list)
    retries: int = 0
    last_error: str = ""
    failure: str = ""  # what stopped the thread early
    _next: int = 0
    _pending: list[dict[str, Any]] | None = None
    _paused: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _token: str = ""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="track-sender", daemon=True)
        self._thread.start()

    def pause(self) -> None:
        """No post in flight on return, none started until ``resume``."""
        self._paused = True
        with self._lock:
            pass

    def resume(self) -> None:
        self._paused = False

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    def take(self, rows: list[dict[str, Any]]) -> None:
        """Record updates accepted outside the thread (e.g. a burst)."""
        with self._lock:
            self.accepted.extend(r["uid"] for r in rows)

    def post(self, client: httpx.Client, rows: list[dict[str, Any]]) -> bool:
        """One ingest call; whether KOR accepted every update of it."""
        if not self._token:
            self._token = self.node.login("radar")
        r = client.post(self.node.url + "/api/tracks/ingest", json={
            "feed": "radar", "updates": rows}, headers={"Authorization": f"Bearer {self._token}"})
        if r.status_code == 401:
            self._token = ""
        if r.status_code != 200:
            self.last_error = f"{r.status_code} {r.text[:200]}"
            return False
        answer = r.json()
        if answer.get("accepted") != len(rows):
            raise AssertionError(f"KOR accepted only part of a batch: {answer}")
        return True

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.wait(self.interval_s):
                with self._lock:
                    if self._paused:
                        continue
                    try:
                        self._once(client)
                    except Exception as exc:  # reported by the test, not by the thread
                        self.failure = f"{exc.__class__.__name__}: {exc}"
                        return

    def _once(self, client: httpx.Client) -> None:
        if self._pending is None:
            self._pending = track_rows(self.prefix, self._next, self.batch)
            self._next += self.batch
        rows = self._pending
        try:
            ok = self.post(client, rows)
        except (httpx.HTTPError, OSError) as exc:
            self.last_error = f"{exc.__class__.__name__}: {exc}"
            ok = False
        if ok:
            self.accepted.extend(r["uid"] for r in rows)
            self._pending = None
        elif self.retry_same:
            self.retries += 1
        else:
            self.given_up.extend(r["uid"] for r in rows)
            self._pending = None


@dataclass
class WatchOfficer:
    """A watch officer at JPN with the live picture open (one WebSocket at a time, opened
    again as soon as JPN answers after a restart). ``generation`` names the JPN process a
    connection reached (its pid)."""

    node: NodeProcess
    generation: Callable[[], int]
    user: str = "watch"
    live: Counter[str] = field(default_factory=Counter)
    pictured: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    by_generation: dict[int, int] = field(default_factory=dict)
    last_error: str = ""
    failure: str = ""  # what stopped the thread early
    _shown: dict[int, set[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()),
                                        name="watch-officer", daemon=True)
        self._thread.start()
        wait_for(lambda: self.connections > 0, 30, "the watch officer's WebSocket")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def seen(self) -> Counter[str]:
        """Every update shown to the officer, with how often."""
        with self._lock:
            return self.live + self.pictured

    def has_all(self, uids: list[str]) -> bool:
        seen = self.seen()
        return all(u in seen for u in uids)

    def only_pictured(self) -> set[str]:
        """Updates shown only in a picture sent on (re)connecting, never live."""
        with self._lock:
            return {u for u in self.pictured if u not in self.live}

    async def _main(self) -> None:
        token = ""
        while not self._stop.is_set():
            try:
                if not token:
                    token = await asyncio.to_thread(self.node.login, self.user)
                uri = self.node.url.replace("http", "ws", 1) + f"/api/tracks/live?token={token}"
                async with connect(uri, max_size=None, open_timeout=5) as ws:
                    generation = self.generation()
                    with self._lock:
                        self.connections += 1
                        self.by_generation[generation] = \
                            self.by_generation.get(generation, 0) + 1
                    while not self._stop.is_set():
                        try:
                            text = await asyncio.wait_for(ws.recv(), 0.3)
                        except TimeoutError:
                            continue
                        self._take(generation, json.loads(text))
            except InvalidStatus as exc:
                self.last_error = f"refused: {exc}"
                token = ""
            except (OSError, WebSocketException, TimeoutError, httpx.HTTPError) as exc:
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                if "4401" in str(exc):
                    token = ""
            except Exception as exc:  # reported by the test, not by the thread
                self.failure = f"{exc.__class__.__name__}: {exc}"
                return
            await asyncio.sleep(0.05)

    def _take(self, generation: int, data: Any) -> None:
        with self._lock:
            shown = self._shown.setdefault(generation, set())
            if isinstance(data, dict) and data.get("type") == "snapshot":
                for track in data.get("tracks", []):
                    if track.get("uid") not in shown:
                        shown.add(track["uid"])
                        self.pictured[track["uid"]] += 1
            elif isinstance(data, list):
                for item in data:
                    if isinstance(item, dict) and item.get("type") == "track":
                        shown.add(item["uid"])
                        self.live[item["uid"]] += 1


@dataclass
class TrackVerdict:
    accepted: int
    delivered: int
    duplicates: int
    pictured: int
    missing: list[str]
    unasked: int  # shown although no answer said accepted (a batch whose answer was lost)

    @property
    def figure(self) -> str:
        once = " exactly once" if self.duplicates == 0 else ""
        return (f"track updates accepted by KOR's API reached JPN's watch officer "
                f"{self.delivered:,} of {self.accepted:,}{once}, "
                f"{self.duplicates} duplicates")


def track_verdict(sender: TrackSender, officer: WatchOfficer,
                  uids: list[str] | None = None) -> TrackVerdict:
    wanted = sender.accepted if uids is None else uids
    seen = officer.seen()
    only_pictured = officer.only_pictured()
    accepted, wanted_set = set(sender.accepted), set(wanted)
    return TrackVerdict(
        accepted=len(wanted), delivered=sum(1 for u in wanted if seen.get(u, 0) >= 1),
        duplicates=sum(n - 1 for u, n in seen.items() if n > 1 and u in wanted_set),
        pictured=sum(1 for u in wanted if u in only_pictured),
        missing=[u for u in wanted if u not in seen],
        unasked=sum(1 for u in seen if u.startswith(sender.prefix) and u not in accepted))


def settle(seconds: float) -> None:
    """Give late repeats time to show."""
    time.sleep(seconds)
