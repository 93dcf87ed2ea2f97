"""Search time does not depend on hidden matches.

A word found only in portions the user may not see (half above their level, half in a
compartment they do not hold) must be answered as fast as a word found nowhere: a slower
answer tells the user the word is in the hidden data. The index is the real one (SQLite
FTS5 in the node's encrypted file, filled by ``index_item``); the queries are the ones the
API runs, in-process.

Prints:
- search_hidden_vs_absent_ratio: median time for the hidden-only word / for an absent word
  (goal ≤ 1.2), with both medians in ms.

``--quick``: 2,000 hidden portions instead of 20,000 (the test suite runs it).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from liaison.domain import codec
from liaison.domain.labels import Clearance
from liaison.domain.parties import default_parties
from liaison.domain.search import SearchQuery, Term, visibility
from liaison.storage.engine import make_engine
from liaison.storage.schema import migrate
from liaison.storage.search_repos import index_item
from liaison.storage.unit_of_work import uow_factory
from report import bench

QUICK = "--quick" in sys.argv
PARTIES = default_parties()
KOR = PARTIES["KOR"]
T0 = datetime(2024, 1, 1, tzinfo=UTC)
LOW, HIGH = "군사III급비밀", "군사I급비밀"


def item(n: int, text: str, level: str, compartments: list[str]) -> object:
    return codec.item_from({
        "id": f"H{n:06d}", "discipline": "SIGINT", "topic": "DPRK/missile", "grade": "B2",
        "title": f"report {n}", "reported_at": (T0 + timedelta(minutes=n)).isoformat(),
        "portions": [{"id": "p1", "content": text, "label": {
            "policy": "KOR", "classification": level, "originator": "KOR",
            "created": T0.isoformat(), "compartments": compartments}}]}, PARTIES, "KOR")


def fill(engine: object, hidden: int, visible: int) -> None:
    filler = "launch site activity observed near the coast"
    with engine.begin() as conn:  # type: ignore[attr-defined]
        for n in range(hidden):
            level, comps = (HIGH, []) if n % 2 else (LOW, ["K9"])
            index_item(conn, item(n, f"{filler} zanthoxylum {n}", level, comps),  # type: ignore[arg-type]
                       KOR.scheme, new=True)
        for n in range(hidden, hidden + visible):
            index_item(conn, item(n, f"{filler} {n}", LOW, []), KOR.scheme,  # type: ignore[arg-type]
                       new=True)
        conn.exec_driver_sql("INSERT INTO search_fts(search_fts) VALUES ('optimize')")
        conn.exec_driver_sql("ANALYZE")


def main() -> int:
    hidden = 2_000 if QUICK else 20_000
    rounds = 60 if QUICK else 200
    with tempfile.TemporaryDirectory(prefix="liaison-bench-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'liaison.db'}")
        migrate(engine)
        start = time.perf_counter()
        fill(engine, hidden, hidden // 4)
        print(f"# {hidden:,} hidden portions with the word and {hidden // 4:,} visible "
              f"without it, indexed in {time.perf_counter() - start:.0f} s")
        uow = uow_factory(engine)
        vis = visibility(Clearance(KOR.scheme.level(LOW).rank))
        words = {"hidden": "zanthoxylum", "absent": "quillwort"}
        times: dict[str, list[float]] = {k: [] for k in words}
        for r in range(rounds + 5):
            for kind in (list(words) if r % 2 else list(reversed(words))):
                q = SearchQuery(terms=(Term((words[kind],)),))
                t = time.perf_counter()
                with uow() as u:
                    page = u.search.query(q, vis)
                elapsed = (time.perf_counter() - t) * 1000
                assert page.total == 0, "the user sees none of the hidden portions"
                if r >= 5:  # warm-up rounds are not counted
                    times[kind].append(elapsed)
        engine.dispose()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"# median of {rounds}: hidden-only word {med['hidden']:.2f} ms, absent word "
          f"{med['absent']:.2f} ms")
    inc = ("one full-text query through the storage port (SQLite, FTS5) by a user cleared "
           "for none of the hidden portions, open to answer; median of the counted rounds")
    bench("search_hidden_median_ms", f"{med['hidden']:.2f}", "ms",
          "a word only in hidden portions: " + inc)
    bench("search_absent_median_ms", f"{med['absent']:.2f}", "ms", "a word in no portion: " + inc)
    bench("search_hidden_vs_absent_ratio", f"{med['hidden'] / med['absent']:.2f}", "ratio",
          "the two medians above, measured interleaved in one run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
