"""Scale-out: one Korean node as one worker, then as three, over the same PostgreSQL and
the same NATS JetStream, in one run, with the same load generator. Each worker is a
``liaison serve`` process with its own API port and LIAISON_WORKER_INDEX set (the
federation port shared by SO_REUSEPORT), as in tests/integration/test_scale_out.py.

Tracks: a sensor posts batches of updates (``POST /api/tracks/ingest``, BATCH a request,
CLIENTS concurrent async HTTP clients spread evenly over the workers' API ports, request
bodies encoded before the clock starts). An update counts once the API has accepted it
(the stream stored it) and a watch officer's WebSocket on the node (worker 0) has received
it; the clients keep at most WINDOW updates in flight so the watch officer's queue never
overflows. The best of ROUNDS runs counts. The accepted-only rate (no WebSocket, no
window) is printed as a comment.

Envelopes: three partner nodes (single workers on the embedded defaults), ENVELOPES
releases queued for each (each partner's in its own transaction, committed one after the
other, each followed by a wake-up through another worker); the time from the first commit
until every partner's inbox holds them all. A partner's lane runs in one worker at a time
(a lease per partner), so three partners are the most three workers can share out; which
worker held each lane is printed.

Before each run every worker has handled the stream so far and the processes are idle;
after it, a comment line says where the CPU went (this run's processes and the whole
machine: on a shared machine other users' load shows there).

Prints ``BENCH cores``, ``BENCH scale_tracks_per_s_1w`` / ``_3w``,
``BENCH scale_tracks_ratio_3v1``, ``BENCH scale_envelopes_per_s_1w`` / ``_3w`` and
``BENCH scale_envelopes_ratio_3v1``. PostgreSQL and NATS: ``LIAISON_TEST_POSTGRES_URL`` and
``LIAISON_TEST_NATS_URL`` when set, else throw-away servers started as the test suite
starts them (tests/servers.py). ``--quick`` runs small loads (a smoke test, not the
figures).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets

sys.path.insert(0, str(Path(__file__).parents[1]))  # the repository: tests.servers
from tests.integration.node_fixtures import PASSWORD
from tests.integration.processes import NodeProcess, free_port
from tests.servers import (
    ServerFailed,
    ServerUnavailable,
    admin_url,
    create_database,
    drop_database,
    start_nats,
    start_postgres,
    unreachable,
)

import node_processes
from liaison.config import Settings
from liaison.domain.codec import item_to, party_from
from liaison.domain.items import Discipline, Grade, Item, Portion, PortionKind
from liaison.domain.labels import make_label
from liaison.domain.parties import default_parties
from liaison.federation.keystore import Keystore
from liaison.node.composition import build_node, keys_dir, open_storage
from liaison.services import federation
from liaison.services.context import utc_now
from liaison.services.importer import import_document
from liaison.services.setup import initialise_node
from liaison.storage.engine import connect_file
from report import bench

PG_ENV, NATS_ENV = "LIAISON_TEST_POSTGRES_URL", "LIAISON_TEST_NATS_URL"
QUICK = "--quick" in sys.argv
PARTNERS = ["QSA", "QSB", "QSC"]  # generated partners, each with a GSOMIA with KOR
TRACKS = 200  # distinct tracks (the analytics' correlator works on all of them)
BATCH = 250  # updates per POST
CLIENTS = 12  # concurrent HTTP clients, spread evenly over the workers
WINDOW = 10_000  # updates posted but not yet at the watch officer (its queue holds 20,000)
ACCEPT_N = 4_000 if QUICK else 30_000  # accepted-only run
E2E_N = 4_000 if QUICK else 40_000  # accepted and delivered run
ENVELOPES = 200 if QUICK else 1_000  # releases per partner
ROUNDS = 1 if QUICK else 2  # watched track runs: the best counts
ENVELOPE_ROUNDS = 1  # envelope runs: the best counts
NODE_ENV = {"LIAISON_LOGIN_ATTEMPTS_PER_MINUTE": "1000"}
LABEL = {"policy": "KOR", "classification": "군사II급비밀", "originator": "KOR",
         "created": "2026-01-05T00:00:00+00:00", "rel_to": ["KOR"]}  # no partner links
STEP_TIMEOUT_S = 120.0


class BenchError(Exception):
    """A step of the benchmark failed; the message says which."""


# --- servers -------------------------------------------------------------------------------


@dataclass
class Servers:
    postgres: str = ""  # libpq URL of a server we may create databases in
    nats: str = ""
    database: str = ""  # the node's database (SQLAlchemy URL)
    stops: list[Callable[[], None]] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)  # the servers this run started


def start_servers(s: Servers) -> None:
    given = os.environ.get(PG_ENV)
    if given:
        problem = unreachable(given)
        if problem:
            raise BenchError(f"{PG_ENV} is set but unusable: {problem}")
        s.postgres = admin_url(given)
    else:
        cluster = start_postgres()
        s.stops.append(cluster.stop)
        s.postgres = cluster.url
        if cluster.proc is not None:
            s.pids["PostgreSQL"] = cluster.proc.pid
    s.database = create_database(s.postgres)
    if given:
        s.stops.append(lambda: drop_database(s.postgres, s.database))
    if os.environ.get(NATS_ENV):
        s.nats = os.environ[NATS_ENV]
    else:
        server = start_nats()
        s.stops.append(server.stop)
        s.nats = server.url
        if server.proc is not None:
            s.pids["NATS"] = server.proc.pid


# --- the nodes -----------------------------------------------------------------------------


def partners_doc() -> dict[str, Any]:
    """The generated partners and a GSOMIA between each and KOR."""
    parties, agreements = [], []
    for code in PARTNERS:
        parties.append({"code": code, "name": f"Partner {code}", "unclassified": "U",
                        "levels": [{"name": "SECRET", "mark": "S"},
                                   {"name": "CONFIDENTIAL", "mark": "C"}],
                        "secret_level": "SECRET"})
        agreements.append({
            "id": f"KOR-{code}-GSOMIA", "kind": "GSOMIA", "parties": ["KOR", code],
            "table": [{"common": "SECRET", "levels": {"KOR": ["군사II급비밀"],
                                                      code: ["SECRET"]}},
                      {"common": "CONFIDENTIAL", "levels": {"KOR": ["군사III급비밀"],
                                                            code: ["CONFIDENTIAL"]}}],
            "events": [{"kind": "SIGNED", "date": "2020-01-01"},
                       {"kind": "ENTERED_INTO_FORCE", "date": "2020-01-01"}]})
    return {"parties": parties, "agreements": agreements}


def init_node(settings: Settings, party: str, doc: dict[str, Any]) -> str:
    """What ``liaison init`` and ``liaison import`` do, in this process (it is quicker):
    the generated parties known first, then the node, its keys and the agreements. The
    identity fingerprint."""
    engine, uow = open_storage(settings)
    try:
        with uow() as u:
            for entry in doc["parties"]:
                u.parties.put(party_from(entry))
            u.commit()
        initialise_node(uow, party, "admin", PASSWORD, utc_now)
    finally:
        engine.dispose()
    ring = Keystore.create(keys_dir(settings), utc_now())
    node = build_node(settings)
    try:
        import_document(node.deps, "bench", {"agreements": doc["agreements"]})
    finally:
        node.engine.dispose()
    return ring.fingerprint


def kor_worker(root: Path, s: Servers, federation_port: int) -> NodeProcess:
    return NodeProcess("KOR", root, federation_port=federation_port,
                       database_url=s.database, bus_url=s.nats, data_name="kor")


@dataclass
class World:
    root: Path
    servers: Servers
    federation_port: int
    kor_print: str = ""
    partners: dict[str, NodeProcess] = field(default_factory=dict)
    prints: dict[str, str] = field(default_factory=dict)
    workers: list[NodeProcess] = field(default_factory=list)
    configured: bool = False

    @property
    def kor_data(self) -> str:
        return str(self.root / "kor")

    def build(self) -> None:
        """Initialise KOR (on PostgreSQL) and start the partners (embedded defaults)."""
        doc = partners_doc()
        self.partners = {p: NodeProcess(p, self.root) for p in PARTNERS}
        self.kor_print = init_node(Settings(data_dir=Path(self.kor_data),
                                            database_url=self.servers.database), "KOR", doc)
        self.prints = {code: init_node(Settings(data_dir=Path(node.data)), code, doc)
                       for code, node in self.partners.items()}

        def start(node: NodeProcess) -> None:
            node.start(NODE_ENV)
            node_processes.adopt(node.proc)  # stopped on any way out
            node.login()

        with ThreadPoolExecutor(len(self.partners)) as pool:
            list(pool.map(start, self.partners.values()))

    def start_kor(self, n: int) -> list[NodeProcess]:
        self.workers = [kor_worker(self.root, self.servers, self.federation_port)
                        for _ in range(n)]

        def start(i: int) -> None:
            self.workers[i].start({**NODE_ENV, "LIAISON_WORKER_INDEX": str(i)})
            node_processes.adopt(self.workers[i].proc)
            self.workers[i].login()

        with ThreadPoolExecutor(n) as pool:
            list(pool.map(start, range(n)))
        if not self.configured:
            self.configure(self.workers[0])
        return self.workers

    def configure(self, kor: NodeProcess) -> None:
        """Once: the partners trusted both ways, a sensor, a watch officer, the feed."""
        for code, node in self.partners.items():
            kor.trust(node, self.prints[code])
            node.trust(kor, self.kor_print)
        for name, roles in (("sensor", ["sensor"]), ("watch", ["watch_officer"])):
            kor.call("POST", "/api/users", json={"username": name, "roles": roles,
                                                 "clearance": "군사II급비밀",
                                                 "password": PASSWORD})
        kor.call("POST", "/api/tracks/feeds", json={
            "name": "radar", "title": "bench radar", "topic": "DPRK/missile",
            "discipline": "ELINT", "label": LABEL})
        kor.call("POST", "/api/tracks/feeds/radar/sensors", json={"username": "sensor"})
        self.configured = True

    def holders(self) -> dict[str, int]:
        """Node-wide job -> the index of the worker holding it (-1: none of ours)."""
        leases: dict[str, str] = self.workers[0].call("GET", "/api/workers")["leases"]
        pids = {str(w.proc.pid): i for i, w in enumerate(self.workers) if w.proc}
        return {job: pids.get(holder.split(":")[1], -1) for job, holder in leases.items()}

    def jobs_here(self) -> bool:
        return self.holders().get("tracks-analytics", -1) >= 0

    def stop_kor(self) -> None:
        stop_all(self.workers)
        self.workers = []

    def stop(self) -> None:
        stop_all([*self.workers, *self.partners.values()])

    def pids(self) -> list[int]:
        return [n.proc.pid for n in [*self.workers, *self.partners.values()]
                if n.proc and n.proc.poll() is None]

    def groups(self) -> dict[str, list[int]]:
        """Processes by role, for the CPU account (servers: only those this run started;
        a server's children are added when sampled)."""
        return {"KOR workers": [n.proc.pid for n in self.workers if n.proc],
                "partners": [n.proc.pid for n in self.partners.values() if n.proc],
                **{name: [pid] for name, pid in self.servers.pids.items()},
                "load generator": [os.getpid()]}

    def check_alive(self) -> None:
        for n in [*self.workers, *self.partners.values()]:
            if n.proc is None or n.proc.poll() is not None:
                raise BenchError(f"{n.party} (port {n.port}) exited; log tail:\n"
                                 f"{n._log_tail()}")


def stop_all(nodes: list[NodeProcess], grace: float = 10.0) -> None:
    """SIGTERM to every node at once; SIGKILL to those still running after ``grace``."""
    running = [n.proc for n in nodes if n.proc is not None and n.proc.poll() is None]
    for proc in running:
        with contextlib.suppress(OSError):
            proc.terminate()
    deadline = time.monotonic() + grace
    for proc in running:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")


def quiesce(pids: list[int], timeout: float = 30.0) -> float:
    """Wait until the node processes are idle (a backlog of the last run, e.g. the
    analytics' queue, must not bill the next); the seconds it took."""
    began = time.monotonic()
    procs = [psutil.Process(p) for p in pids]

    def busy() -> float:
        return sum(sum(p.cpu_times()[:2]) for p in procs)

    while time.monotonic() - began < timeout:
        before = busy()
        time.sleep(0.5)
        if busy() - before < 0.03 * 0.5 * len(procs) + 0.05:
            break
    return time.monotonic() - began


# --- tracks --------------------------------------------------------------------------------


SENSOR_CLOCK = [datetime.now(UTC) - timedelta(hours=2)]  # advances: no run goes back


def bodies(n: int, tag: str) -> list[bytes]:
    """``n`` updates of TRACKS tracks (a position each a second), BATCH a request, encoded;
    ``tag`` as callsign."""
    start = SENSOR_CLOCK[0]
    SENSOR_CLOCK[0] = start + timedelta(seconds=n // TRACKS + 1)
    rows = [{"uid": f"B{i % TRACKS:04d}",
             "time": (start + timedelta(seconds=i // TRACKS)).isoformat(),
             "lat": 38.0 + (i % TRACKS) * 0.01, "lon": 125.0 + (i // TRACKS) * 0.0005,
             "alt_m": 100.0, "callsign": tag} for i in range(n)]
    return [json.dumps({"feed": "radar", "updates": rows[i:i + BATCH]}).encode()
            for i in range(0, n, BATCH)]


@dataclass
class Flow:
    posted: int = 0
    accepted: int = 0
    seen: int = 0
    last_accept: float = 0.0
    progress: asyncio.Event = field(default_factory=asyncio.Event)


async def post_all(urls: list[str], token: str, work: list[bytes], flow: Flow,
                   window: int | None) -> None:
    """CLIENTS clients (client i posts to urls[i % len(urls)]) post every body once."""
    queue = deque(work)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def client(url: str) -> None:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
            while True:
                while window is not None and flow.posted - flow.seen > window - BATCH:
                    flow.progress.clear()
                    await flow.progress.wait()
                if not queue:
                    return
                body = queue.popleft()
                flow.posted += BATCH
                r = await http.post("/api/tracks/ingest", content=body)
                if r.status_code != 200 or r.json()["refused"]:
                    raise BenchError(f"ingest at {url}: {r.status_code} {r.text[:500]}")
                flow.accepted += r.json()["accepted"]
                flow.last_accept = time.perf_counter()

    await asyncio.gather(*(client(urls[i % len(urls)]) for i in range(CLIENTS)))


async def watch(url: str, token: str, tag: str, flow: Flow, ready: asyncio.Event,
                until: int) -> float:
    """Count the updates tagged ``tag`` a watch officer's WebSocket receives; the
    time the ``until``-th arrived."""
    uri = url.replace("http", "ws", 1) + f"/api/tracks/live?token={token}"
    async with websockets.connect(uri, max_size=None) as ws:
        await ws.recv()  # the snapshot
        ready.set()
        while flow.seen < until:
            text = await ws.recv()
            flow.seen += str(text).count(tag)
            flow.progress.set()
    return time.perf_counter()


async def barrier(w: World, sensor: str, watcher: str, mark: str) -> None:
    """Every worker has handled every record before this one (each follows the stream
    in order): a marked update, seen by a watch officer on each worker."""
    flows = [Flow() for _ in w.workers]
    ready = [asyncio.Event() for _ in w.workers]
    tasks = [asyncio.create_task(watch(k.url, watcher, mark, f, r, 1))
             for k, f, r in zip(w.workers, flows, ready, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 30)
    row = {"uid": "B0000", "time": SENSOR_CLOCK[0].isoformat(), "lat": 38.0, "lon": 125.0,
           "callsign": mark}
    SENSOR_CLOCK[0] += timedelta(seconds=1)
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(w.workers[0].url + "/api/tracks/ingest", json={
            "feed": "radar", "updates": [row]},
            headers={"Authorization": f"Bearer {sensor}"})
        if r.status_code != 200:
            raise BenchError(f"barrier ingest: {r.status_code} {r.text[:300]}")
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), STEP_TIMEOUT_S)
    except TimeoutError:
        raise BenchError(f"not every worker handled the stream within {STEP_TIMEOUT_S:.0f} s "
                         f"(barrier {mark})") from None


async def tracks_run(w: World, sensor: str, watcher: str, work: list[bytes], tag: str,
                     e2e: bool) -> float:
    """Updates per second: accepted (and, with ``e2e``, at the watch officer)."""
    n = len(work) * BATCH
    flow = Flow()
    urls = [k.url for k in w.workers]
    watcher_task = None
    if e2e:
        ready = asyncio.Event()
        watcher_task = asyncio.create_task(watch(urls[0], watcher, tag, flow, ready, n))
        await asyncio.wait_for(ready.wait(), 30)
    began = time.perf_counter()
    posting = asyncio.create_task(post_all(urls, sensor, work, flow,
                                           WINDOW if e2e else None))
    waits: list[asyncio.Task[Any]] = [posting] + ([watcher_task] if watcher_task else [])
    done, pending = await asyncio.wait(waits, timeout=STEP_TIMEOUT_S,
                                       return_when=asyncio.FIRST_EXCEPTION)
    for task in pending:
        task.cancel()
    for task in done:
        task.result()  # raises what failed
    if pending:
        raise BenchError(f"{tag}: {flow.accepted} of {n} accepted, {flow.seen} at the watch "
                         f"officer after {STEP_TIMEOUT_S:.0f} s (stats: "
                         f"{drops(w)})")
    end = watcher_task.result() if watcher_task else flow.last_accept
    return n / (max(end, flow.last_accept) - began)


def drops(w: World) -> dict[str, int]:
    out = {"subscriber_dropped": 0, "analytics_dropped": 0}
    for k in w.workers:
        stats = k.call("GET", "/api/tracks/stats")
        for key in out:
            out[key] += int(stats[key])
    return out


def warm_up(w: World, sensor: str) -> None:
    """Every track numbered and in every worker's cache; the connections made."""
    work = bodies(TRACKS * 2, "warm")
    for k in w.workers:
        for body in work:
            r = httpx.post(k.url + "/api/tracks/ingest", content=body, timeout=60, headers={
                "Authorization": f"Bearer {sensor}", "Content-Type": "application/json"})
            if r.status_code != 200 or r.json()["refused"]:
                raise BenchError(f"warm-up ingest: {r.status_code} {r.text[:300]}")


# --- envelopes -----------------------------------------------------------------------------


def enqueue_and_wake(w: World, first: int, starting: Callable[[], None]) -> float:
    """ENVELOPES releases for each partner, each partner's in its own transaction, all
    written before the first commits; then, partner by partner, the commit and a wake-up
    through worker i (as if each partner's releases had been approved through another
    worker behind a load balancer: a request other than GET wakes the worker's sender,
    and the other workers' through the bus). ``starting`` is called just before the first
    commit; the time of that commit is returned."""
    node = build_node(Settings(data_dir=Path(w.kor_data), database_url=w.servers.database))
    kor, now = default_parties()["KOR"], datetime.now(UTC)
    try:
        with contextlib.ExitStack() as stack:
            units = [stack.enter_context(node.deps.uow()) for _ in PARTNERS]
            for uow, code in zip(units, PARTNERS, strict=True):
                label = make_label(kor.scheme, "군사III급비밀", originator="KOR", created=now,
                                   rel_to={code})
                for i in range(first, first + ENVELOPES):
                    it = Item(f"S{code}{i:06d}", "KOR", Discipline.ELINT, "DPRK/missile",
                              Grade("B", 2), f"emission {i}", now,
                              (Portion("p1", PortionKind.TEXT, "x", label),))
                    federation.enqueue(uow, node.deps, code, "release",
                                       {"item": item_to(it),
                                        "agreement": f"KOR-{code}-GSOMIA"})
            starting()
            began = time.perf_counter()
            for i, uow in enumerate(units):
                uow.commit()
                httpx.post(w.workers[i % len(w.workers)].url + "/api/health", timeout=30)
        return began
    finally:
        node.engine.dispose()


def inbox(node: NodeProcess, refused: bool = False) -> int:
    """Messages from KOR in a partner's inbox (with ``refused``: those not accepted)."""
    path = Path(node.data) / "liaison.db"
    with closing(connect_file(path)) as db:
        query = "select count(*) from inbox where sender = 'KOR'"
        if refused:
            query += " and outcome not in ('applied', 'accepted')"
        return int(db.execute(query).fetchone()[0])


def envelopes_run(w: World, began: float, base: dict[str, int]
                  ) -> tuple[float, dict[str, float], dict[str, set[int]]]:
    """Releases per second to all partners, from the first commit; each partner's time;
    which workers held each partner's lane."""
    finished: dict[str, float] = {}
    lanes: dict[str, set[int]] = {code: set() for code in PARTNERS}
    last_look = 0.0
    while len(finished) < len(PARTNERS):
        now = time.perf_counter()
        if now - began > STEP_TIMEOUT_S:
            got = {c: inbox(n) - base[c] for c, n in w.partners.items()}
            raise BenchError(f"envelopes: {got} of {ENVELOPES} each after "
                             f"{STEP_TIMEOUT_S:.0f} s")
        for code, node in w.partners.items():
            if code not in finished and inbox(node) - base[code] >= ENVELOPES:
                finished[code] = time.perf_counter() - began
        if now - last_look > 0.25:
            last_look = now
            for job, index in w.holders().items():
                if job.startswith("outbox:") and index >= 0:
                    lanes[job.split(":")[1]].add(index)  # outbox:<party>:<lane>
        time.sleep(0.05)
    elapsed = max(finished.values())
    refused = {c: inbox(n, refused=True) for c, n in w.partners.items()}
    if any(refused.values()):
        raise BenchError(f"partners refused releases: {refused}")
    return len(PARTNERS) * ENVELOPES / elapsed, finished, lanes


# --- the run -------------------------------------------------------------------------------


class Meter:
    """CPU seconds of each group of processes, and of the whole machine, over one step:
    whether the step was short of CPU, and who used it."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.began, self.machine = time.perf_counter(), self._machine()
        self.start = self._sample()

    @staticmethod
    def _machine() -> float:
        t = psutil.cpu_times()
        return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))

    def _sample(self) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = {}
        for name, pids in self.groups.items():
            seen = out[name] = {}
            for pid in pids:
                with contextlib.suppress(psutil.Error):
                    proc = psutil.Process(pid)
                    family = [proc] if name in ("KOR workers", "partners", "load generator") \
                        else [proc, *proc.children(recursive=True)]
                    for member in family:
                        with contextlib.suppress(psutil.Error):
                            seen[member.pid] = sum(member.cpu_times()[:2])
        return out

    def report(self, units: int = 0, unit: str = "") -> str:
        """Where the CPU went; with ``units``, also the KOR workers' CPU per unit."""
        end, elapsed = self._sample(), time.perf_counter() - self.began
        used = {name: sum(cpu - self.start[name].get(pid, 0.0) for pid, cpu in pids.items())
                for name, pids in end.items()}
        per = (f" ({used['KOR workers'] / units * 1e6:.0f} µs of KOR worker CPU per {unit})"
               if units else "")
        cores = os.cpu_count() or 1
        return (f"CPU s over {elapsed:.1f} s: "
                + ", ".join(f"{name} {cpu:.1f}" for name, cpu in used.items())
                + f"{per}; this run's processes {sum(used.values()):.1f}, every process on "
                  f"the machine {self._machine() - self.machine:.1f}, of "
                  f"{cores * elapsed:.1f} available")


@dataclass
class Result:
    accepted: float
    e2e: float
    envelopes: float


def phase(w: World, n: int, first: int) -> Result:
    """The measurements with ``n`` KOR workers (releases numbered from ``first``)."""
    workers = w.start_kor(n)
    kor = workers[0]
    sensor, watcher = kor.login("sensor"), kor.login("watch")
    wait_for(lambda: all("radar" in k.call("GET", "/api/tracks/stats")["policy"]["feeds"]
                         for k in workers), 30, "the feed on every worker")
    warm_up(w, sensor)
    # a stopped worker's lease runs out (leases.TTL) before another takes the job
    wait_for(w.jobs_here, 30, "the track analytics lease held by a running worker")
    label = f"{n} worker{'s' if n > 1 else ''}"

    def ready(mark: str) -> None:
        """The last step's records handled by every worker, the processes idle."""
        asyncio.run(barrier(w, sensor, watcher, mark))
        w.check_alive()
        quiesce(w.pids())

    work = bodies(ACCEPT_N, f"acc{n}w")
    ready(f"bar{n}a")
    meter = Meter(w.groups())
    accepted = asyncio.run(tracks_run(w, sensor, watcher, work, f"acc{n}w", e2e=False))
    print(f"# {label}: {ACCEPT_N} updates accepted (stored in the stream), no WebSocket: "
          f"{accepted:,.0f}/s; {meter.report(ACCEPT_N, 'update')}")
    e2e = []
    for r in range(ROUNDS):
        work = bodies(E2E_N, f"e2e{n}w{r}")
        ready(f"bar{n}b{r}")
        before = drops(w)
        meter = Meter(w.groups())
        e2e.append(asyncio.run(tracks_run(w, sensor, watcher, work, f"e2e{n}w{r}",
                                          e2e=True)))
        print(f"# {label}, round {r + 1}: {E2E_N} updates accepted and at the watch "
              f"officer's WebSocket on worker 0: {e2e[-1]:,.0f}/s; "
              f"{meter.report(E2E_N, 'update')}")
        after = drops(w)
        lost = {k: after[k] - before[k] for k in after}
        if any(lost.values()):
            print(f"# {label}, round {r + 1}: dropped during the run: {lost}")
    rates = []
    for r in range(ENVELOPE_ROUNDS):
        ready(f"bar{n}c{r}")
        base = {code: inbox(node) for code, node in w.partners.items()}
        meters: list[Meter] = []

        def starting(meters: list[Meter] = meters) -> None:
            meters.append(Meter(w.groups()))

        began = enqueue_and_wake(w, first + r * ENVELOPES, starting)
        rate, finished, lanes = envelopes_run(w, began, base)
        meter = meters[0]
        rates.append(rate)
        total = len(PARTNERS) * ENVELOPES
        print(f"# {label}, round {r + 1}: {ENVELOPES} releases to each of {len(PARTNERS)} "
              f"partners: {rate:,.0f}/s; {meter.report(total, 'release')}; done per "
              "partner " + ", ".join(f"{c} {t:.2f} s" for c, t in sorted(finished.items()))
              + "; lane held by worker " + ", ".join(
                  f"{c} {'/'.join(map(str, sorted(i))) or '?'}"
                  for c, i in sorted(lanes.items())))
    w.check_alive()
    w.stop_kor()
    return Result(accepted, max(e2e), max(rates))


def main() -> int:
    began = time.monotonic()
    servers = Servers()
    root = Path(tempfile.mkdtemp(prefix="liaison-bench-scale-"))
    world = World(root, servers, free_port())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on the way out
    try:
        start_servers(servers)
        world.build()
        one = phase(world, 1, 0)
        three = phase(world, 3, ENVELOPE_ROUNDS * ENVELOPES)
    except Exception as exc:
        if not isinstance(exc, BenchError | ServerFailed | ServerUnavailable):
            traceback.print_exc()
        print(f"bench_scale: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        world.stop()
        for stop in reversed(servers.stops):
            with contextlib.suppress(Exception):
                stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"# PostgreSQL {'given' if os.environ.get(PG_ENV) else 'throw-away'}, NATS "
          f"{'given' if os.environ.get(NATS_ENV) else 'throw-away'}; {TRACKS} tracks, "
          f"{BATCH} updates a POST, {CLIENTS} HTTP clients; accepted-only ratio 3v1 "
          f"{three.accepted / one.accepted:.2f}; the whole run {time.monotonic() - began:.0f} s")
    bench("cores", str(os.cpu_count()), "count", "the cores this machine offers the run "
          "(the nodes, PostgreSQL, NATS and the load generator share them)")
    tracks = ("track updates accepted by POST /api/tracks/ingest at KOR and received by a "
              "watch officer's WebSocket, best of two runs: HTTP, ingest into NATS "
              "JetStream, the fan-out to subscribers; {w}, one PostgreSQL, one NATS")
    bench("scale_tracks_per_s_1w", f"{one.e2e:.0f}", "updates/s", tracks.format(w="1 worker"))
    bench("scale_tracks_per_s_3w", f"{three.e2e:.0f}", "updates/s",
          tracks.format(w="3 workers"))
    bench("scale_tracks_ratio_3v1", f"{three.e2e / one.e2e:.2f}", "ratio",
          "the two figures above, 3 workers over 1, same run")
    envelopes = ("releases queued at KOR until three partner nodes' inboxes hold them all: "
                 "the lane holders' batching, signing, encryption, mutual TLS on loopback, "
                 "the partners storing them; {w}, one PostgreSQL, one NATS")
    bench("scale_envelopes_per_s_1w", f"{one.envelopes:.0f}", "releases/s",
          envelopes.format(w="1 KOR worker"))
    bench("scale_envelopes_per_s_3w", f"{three.envelopes:.0f}", "releases/s",
          envelopes.format(w="3 KOR workers"))
    bench("scale_envelopes_ratio_3v1", f"{three.envelopes / one.envelopes:.2f}", "ratio",
          "the two figures above, 3 workers over 1, same run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
