"""Release engine throughput: 10,000 items x 32 partners on one core.

Prints ``BENCH <name> <value> <unit>`` lines:
- release_decisions_per_s: steady state, compiled policies, over the whole corpus again
  (every decision is a memo hit: the same items, already decided)
- release_decisions_cold_per_s: first pass, compiling every partner's policy from scratch
  (the items have never been decided; includes the garbage collector's share)
- release_decisions_new_items_per_s: after that warm-up, items never seen before, drawn from
  the same label vocabulary (fresh label objects, as decoded from storage): new traffic
- release_decisions_uncompiled_per_s: plain ``decide()`` (compiles per call), the checked sample
- release_compiled_speedup: steady state over uncompiled, same run
- release_policy_memory_mb: memory held by the compiled policies and their memos

Every compiled decision of the checked sample is compared with plain ``decide()``: all of
them with ``--quick``, at least 20,000 otherwise (every partner for the first items of the
cold pass and of the new items). Any difference prints the first ones and exits 1.

``--quick`` runs a small corpus (used by the test suite to keep this script working).
"""

from __future__ import annotations

import gc
import os
import random
import sys
import time
import tracemalloc
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime

from liaison.domain.agreements import (
    Agreement,
    AgreementEvent,
    AgreementKind,
    EquivalenceRow,
    EquivalenceTable,
    EventKind,
    Scope,
)
from liaison.domain.items import Discipline, Grade, Item, Portion, PortionKind
from liaison.domain.labels import Label, Party, make_label
from liaison.domain.parties import default_parties, scheme_from_names
from liaison.domain.release import Decision, ReleaseFacts, ReleasePolicy, decide

KOR_LEVELS = ["군사I급비밀", "군사II급비밀", "군사III급비밀", "대외비"]
LEVEL_WEIGHTS = [1, 5, 5, 2]
TOPICS = [f"{area}/{kind}" for area in ("DPRK", "CHN", "RUS") for kind in
          ("missile/SRBM", "missile/SLBM", "nuclear/test", "navy", "air", "ground", "cyber",
           "leadership", "logistics", "space")]
DISCIPLINES = list(Discipline)
ON = date(2023, 6, 1)


def partners(rng: random.Random) -> dict[str, Party]:
    parties = default_parties()
    for i in range(30):
        code = "P" + chr(65 + i // 26) + chr(65 + i % 26)
        levels = [(f"{code}-TS", "TS"), (f"{code}-S", "S"), (f"{code}-C", "C")]
        parties[code] = Party(code, code, scheme_from_names(code, levels, f"{code}-U"))
    return parties


def gsomia(rng: random.Random, partner: Party) -> Agreement:
    own = [lv.name for lv in partner.scheme.levels if lv.rank > 0]
    rows = [EquivalenceRow(c, {"KOR": (k,), partner.code: (p,)}) for c, k, p in
            zip(("TOP SECRET", "SECRET", "CONFIDENTIAL"), KOR_LEVELS[:3], own, strict=True)]
    if rng.random() < 0.4:
        rows = rows[1:]  # no TOP SECRET row, as in the Korea–Japan GSOMIA
    scope = Scope()
    if rng.random() < 0.3:
        scope = Scope(topics=frozenset(rng.sample(TOPICS, 8)))
    events = [AgreementEvent(EventKind.ENTERED_INTO_FORCE, date(rng.randint(1987, 2022), 1, 1))]
    if rng.random() < 0.1:
        events.append(AgreementEvent(EventKind.NOTICE_GIVEN, date(2023, 2, 1), "KOR"))
    return Agreement(f"KOR-{partner.code}", AgreementKind.GSOMIA, "", frozenset({"KOR",
                     partner.code}), EquivalenceTable(tuple(rows)), scope,
                     events=tuple(events), max_imbalance=50 if rng.random() < 0.2 else None)


def world(rng: random.Random) -> tuple[ReleaseFacts, list[str]]:
    parties = partners(rng)
    names = [c for c in parties if c not in ("KOR", "CHN", "PRK")]
    agreements = tuple(gsomia(rng, parties[c]) for c in names)
    balances = {a.id: rng.randint(0, 80) for a in agreements}
    return ReleaseFacts(parties["KOR"], parties, agreements, (), balances), names


def label(rng: random.Random, kor: Party, names: list[str], created: datetime) -> Label:
    level = rng.choices(KOR_LEVELS, LEVEL_WEIGHTS)[0]
    originator = "USA" if rng.random() < 0.1 else "KOR"
    roll = rng.random()
    caveats = {"ORCON"} if rng.random() < 0.05 else set()
    if roll < 0.1:
        return make_label(kor.scheme, level, originator=originator, created=created,
                          caveats=caveats | {"NOFORN"})
    rel = set(rng.sample(names, rng.choice([1, 2, 3, 5, 8, len(names)])))
    return make_label(kor.scheme, level, originator=originator, created=created, rel_to=rel,
                      caveats=caveats)


def vocabulary(rng: random.Random, facts: ReleaseFacts, names: list[str]) -> list[Label]:
    created = datetime(2023, 5, 1, tzinfo=UTC)
    return [label(rng, facts.owner, names, created) for _ in range(60)]


def corpus(rng: random.Random, words: list[Label], n: int, prefix: str = "I",
           fresh_labels: bool = False) -> list[Item]:
    """``n`` items of 1-4 portions labelled from ``words``; ``fresh_labels``: each portion
    gets its own copy of the label (equal fields, a new object), as decoding does."""
    created = datetime(2023, 5, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        portions = tuple(
            Portion(f"p{j + 1}", PortionKind.TEXT, "text",
                    replace(lb) if fresh_labels else lb)
            for j, lb in enumerate(rng.choice(words) for _ in range(rng.randint(1, 4))))
        out.append(Item(f"{prefix}{i}", "KOR", rng.choice(DISCIPLINES), rng.choice(TOPICS),
                        Grade("B", 2), "t", created, portions))
    return out


Run = dict[str, list[Decision]]


def timed_pass(policy: ReleasePolicy, items: list[Item], names: list[str]) -> tuple[float, Run]:
    start = time.perf_counter()
    run = {name: policy.for_partner(name, ON).decide_all(items) for name in names}
    return time.perf_counter() - start, run


def size(run: Run) -> int:
    return sum(len(v) for v in run.values())


def differences(facts: ReleaseFacts, items: list[Item], run: Run) -> tuple[int, list[str]]:
    """Compare the compiled decisions in ``run`` for ``items`` with plain ``decide()``."""
    checked, wrong = 0, []
    for name, decisions in run.items():
        for it, compiled in zip(items, decisions, strict=False):
            checked += 1
            if compiled != decide(it, name, ON, facts):
                wrong.append(f"{it.id} to {name}: compiled {compiled.summary!r}")
    return checked, wrong


def main() -> int:
    quick = "--quick" in sys.argv
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rng = random.Random(20191123)
    facts, names = world(rng)
    words = vocabulary(rng, facts, names)
    n = 500 if quick else 10_000
    items = corpus(rng, words, n)
    fresh = corpus(rng, words, n, prefix="N", fresh_labels=True)
    gc.collect()
    tracemalloc.start()
    policy = ReleasePolicy(facts)
    timed_pass(policy, items, names)
    held_mb = tracemalloc.get_traced_memory()[0] / 1e6
    tracemalloc.stop()
    del policy
    gc.collect()
    policy = ReleasePolicy(facts)
    cold_s, cold = timed_pass(policy, items, names)
    warm = [timed_pass(policy, items, names) for _ in range(3)]
    warm_s = min(s for s, _ in warm)
    new_s, new = timed_pass(policy, fresh, names)
    if any(run != cold for _, run in warm):
        print("# the steady state's decisions differ from the cold pass's", file=sys.stderr)
        return 1
    steady = Counter(d.outcome.value for run in (cold, new) for v in run.values() for d in v)
    # the checked sample: every decision (quick), else every partner for the first items
    per = n if quick else 500
    start = time.perf_counter()
    checked_cold, wrong = differences(facts, items[:per], cold)
    checked_new, wrong_new = differences(facts, fresh[:per], new)
    plain_s = time.perf_counter() - start
    checked, wrong = checked_cold + checked_new, wrong + wrong_new
    memo = sum(len(p._memo) for p in policy._partners.values())
    print(f"# {n} items x {len(names)} partners = {size(cold)} decisions per pass; outcomes "
          f"(cold and new items): {dict(steady)}; memo entries {memo}")
    print(f"# compared with plain decide(): {checked} decisions ({checked_cold} cold, "
          f"{checked_new} new items), {len(wrong)} differ")
    if wrong or (not quick and checked < 20_000):
        print("# compiled decisions differ from decide(): " + "; ".join(wrong[:5]),
              file=sys.stderr)
        return 1
    n_all = size(cold)
    print(f"BENCH release_decisions_per_s {n_all / warm_s:.0f} decisions/s")
    print(f"BENCH release_decisions_cold_per_s {n_all / cold_s:.0f} decisions/s")
    print(f"BENCH release_decisions_new_items_per_s {size(new) / new_s:.0f} decisions/s")
    print(f"BENCH release_decisions_uncompiled_per_s {checked / plain_s:.0f} decisions/s")
    print(f"BENCH release_compiled_speedup {(n_all / warm_s) / (checked / plain_s):.1f} x")
    print(f"BENCH release_policy_memory_mb {held_mb:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
