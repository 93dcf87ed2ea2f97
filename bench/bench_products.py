"""Products: TAXII paged reads and search over a million items.

Prints ``BENCH <name> <value> <unit>`` lines:
- taxii_objects_per_s: a partner's tool (the third-party ``taxii2-client``) reads a
  collection of ~2,000 STIX objects from a node process, 1,000 per page, over HTTP; the
  median of 5 full reads.
- search_p50_ms_1m_items, search_p99_ms_1m_items: the search index (SQLite FTS5) over
  1,000,000 one-portion items: a mixed set of queries (words, phrases, prefixes, with field
  filters) for users of three clearances; each query counts the visible hits, orders them
  and returns a page of 50 — the index query the API runs, in-process, not over HTTP.

``--quick`` uses 300 items for TAXII and 20,000 for search (the test suite runs it).
"""

from __future__ import annotations

import random
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import requests
from taxii2client.v21 import Server, as_pages

from liaison.config import Settings
from liaison.domain import codec
from liaison.domain.labels import Clearance
from liaison.domain.parties import default_parties
from liaison.domain.search import (
    PORTION_BITS,
    SearchQuery,
    Term,
    access_key,
    keyed_text,
    report_us,
    seq_base,
    visibility,
)
from liaison.node.composition import build_node
from liaison.services import taxii
from liaison.storage.engine import connect_file, make_engine
from liaison.storage.schema import migrate
from liaison.storage.unit_of_work import uow_factory

sys.path.insert(0, str(Path(__file__).parent))
from bench_federation import PASSWORD, port, serve, setup, trust
from report import bench

QUICK = "--quick" in sys.argv
KOR = default_parties()["KOR"]
LEVELS = [lv for lv in KOR.scheme.levels if lv.rank > 0]
T0 = datetime(2019, 1, 1, tzinfo=UTC)
SOURCES = ["KOR", "USA", "JPN"]


class Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


def fill_collection(data: str, items: int) -> None:
    node = build_node(Settings(data_dir=Path(data)))
    with node.deps.uow() as uow:
        for i in range(items):
            item = codec.item_from({
                "id": f"T{i:05d}", "discipline": "ELINT", "topic": "DPRK/missile",
                "grade": "B2", "title": f"emitter {i}", "reported_at": T0.isoformat(),
                "portions": [{"id": "p1", "content": f"radar emission {i}", "label": {
                    "policy": "KOR", "classification": "군사III급비밀", "originator": "KOR",
                    "created": T0.isoformat(), "rel_to": ["JPN"]}}]}, default_parties(), "KOR")
            taxii.publish_release(uow, node.deps, "JPN", item)
        uow.commit()
    node.engine.dispose()


def bench_taxii(items: int) -> None:
    with tempfile.TemporaryDirectory(prefix="liaison-bench-") as tmp:
        root = Path(tmp)
        (kor, _), (jpn, jpn_fp) = setup(root, "KOR"), setup(root, "JPN")
        kp, jp = port(), port()
        procs = [serve(kor, kp), serve(jpn, jp)]  # a partner's card is fetched when trusted
        url = f"http://127.0.0.1:{kp}"
        try:
            admin = trust(url, "JPN", f"http://127.0.0.1:{jp}", jpn_fp)
            httpx.post(url + "/api/users", headers={"Authorization": f"Bearer {admin}"},
                       json={"username": "jpn-tool", "roles": ["partner"], "party": "JPN",
                             "clearance": "평문", "password": PASSWORD},
                       timeout=30).raise_for_status()
            fill_collection(kor, items)
            token = httpx.post(url + "/api/auth/login", json={
                "username": "jpn-tool", "password": PASSWORD}).json()["token"]
            collection = Server(f"{url}/taxii2/", auth=Bearer(token)).api_roots[0] \
                .collections[0]
            times, count = [], 0
            for _ in range(5):
                start = time.perf_counter()
                count = sum(len(page.get("objects", [])) for page in
                            as_pages(collection.get_objects, per_request=1000))
                times.append(time.perf_counter() - start)
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=10)
    best = statistics.median(times)
    print(f"# TAXII: {count} objects read by taxii2-client in {best * 1000:.0f} ms "
          f"(median of 5), 1,000 per page")
    bench("taxii_objects_per_s", f"{count / best:.0f}", "objects/s",
          "taxii2-client reading the whole collection from a node process over HTTP on "
          "loopback, 1,000 objects per page, median of 5 reads: the node's paging, "
          "visibility and STIX serialisation, and the client's parsing")


def fill_index(path: Path, n: int) -> None:
    """Rows straight into the index, as ``SqlItems.add`` writes them per portion (words
    behind their visibility key; the items table is left empty: this measures the
    index)."""
    rng = random.Random(5)
    vocab = [f"w{i}" for i in range(5000)]
    weights = [1 / (i + 1) for i in range(len(vocab))]  # Zipf-like word frequencies
    topics = [f"{a}/{k}" for a in ("DPRK", "CHN", "RUS") for k in
              ("missile", "navy", "air", "ground", "nuclear", "cyber")]
    disciplines = ["HUMINT", "SIGINT", "COMINT", "ELINT", "IMINT", "GEOINT", "OSINT"]
    comps = ["", "", "", "", "K1", "K2", "K1,K2"]
    conn = connect_file(path)
    conn.execute("PRAGMA synchronous=OFF")
    batch = []
    for i in range(n):
        at = T0 + timedelta(minutes=i)
        rank, comp = rng.choice(LEVELS).rank, rng.choice(comps)
        topic, disc, src = rng.choice(topics), rng.choice(disciplines), rng.choice(SOURCES)
        words = " ".join(rng.choices(vocab, weights, k=14))
        batch.append((seq_base(report_us(at)) << PORTION_BITS, f"I{i:07d}", "p1", rank, comp,
                      topic, disc, src, rng.uniform(33, 43), rng.uniform(124, 131),
                      report_us(at), keyed_text(f"report {i}\n{words}",
                                                access_key(rank, comp))))
        if len(batch) == 50_000 or i == n - 1:
            conn.executemany(
                "INSERT INTO search_portions (id, item_id, portion_id, rank, compartments, "
                "topic, discipline, source, lat, lon, reported_us) VALUES "
                "(?,?,?,?,?,?,?,?,?,?,?)", [row[:-1] for row in batch])
            conn.executemany("INSERT INTO search_text (id, body) VALUES (?, ?)",
                             [(row[0], row[-1]) for row in batch])
            conn.commit()
            batch = []
    conn.executemany("INSERT INTO search_classes (key, rank, compartments) VALUES (?, ?, ?)",
                     [(access_key(lv.rank, c), lv.rank, c) for lv in LEVELS for c in set(comps)])
    conn.execute("INSERT INTO search_fts(search_fts) VALUES ('optimize')")
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def queries(rng: random.Random) -> list[SearchQuery]:
    out = []
    for _ in range(300):
        a, b = f"w{rng.randint(20, 3000)}", f"w{rng.randint(0, 200)}"
        kind = rng.randrange(5)
        terms = {0: (Term((a,)),), 1: (Term((a,)), Term((b,))), 2: (Term((b, a)),),
                 3: (Term((a[:3],), True), Term((b,))), 4: (Term((a,)),)}[kind]
        out.append(SearchQuery(
            terms=terms, topic="DPRK" if kind == 4 else None,
            disciplines=frozenset({"SIGINT", "COMINT", "ELINT"}) if kind == 1 else None,
            since=T0 + timedelta(days=200) if kind == 2 else None, limit=50))
    return out


def bench_search(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="liaison-bench-") as tmp:
        path = Path(tmp) / "search.db"
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine)
        start = time.perf_counter()
        fill_index(path, n)
        print(f"# search: {n:,} items indexed in {time.perf_counter() - start:.0f} s")
        uow = uow_factory(engine)
        users = [Clearance(4, frozenset({"K1", "K2"})), Clearance(2),
                 Clearance(3, frozenset({"K1"}), frozenset({"DPRK"}))]
        rng, times, hits = random.Random(9), [], 0
        for q in queries(rng):
            vis = visibility(rng.choice(users))
            t = time.perf_counter()
            with uow() as u:
                hits += u.search.query(q, vis).total
            times.append((time.perf_counter() - t) * 1000)
        engine.dispose()
    times.sort()
    p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99) - 1]
    print(f"# search: {len(times)} queries, {hits:,} visible hits counted in all")
    label = "1m" if n >= 1_000_000 else f"{n // 1000}k"
    what = (f"one search over a {n:,}-item SQLite FTS5 index, in-process, of 300 mixed "
            "queries for three clearances: the query with visibility applied per portion "
            "and the exact count of visible hits; no HTTP, no node process")
    bench(f"search_p50_ms_{label}_items", f"{p50:.1f}", "ms", what)
    bench(f"search_p99_ms_{label}_items", f"{p99:.1f}", "ms", what)


def main() -> int:
    bench_taxii(300 if QUICK else 1000)
    bench_search(20_000 if QUICK else 1_000_000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
