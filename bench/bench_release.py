"""Release engine throughput: 10,000 items x 32 partners on one core.

Prints ``BENCH <name> <value> <unit>`` lines:
- release_decisions_per_s: steady state, compiled policies, over the whole corpus
- release_decisions_cold_per_s: first pass, compiling every partner's policy from scratch
- release_decisions_uncompiled_per_s: plain ``decide()`` (compiles per call), a sample
- release_compiled_speedup: steady state over uncompiled, same run
- release_policy_memory_mb: memory held by the compiled policies and their memos

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
from liaison.domain.release import ReleaseFacts, ReleasePolicy, decide

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


def corpus(rng: random.Random, facts: ReleaseFacts, names: list[str], n: int) -> list[Item]:
    created = datetime(2023, 5, 1, tzinfo=UTC)
    vocabulary = [label(rng, facts.owner, names, created) for _ in range(60)]
    out = []
    for i in range(n):
        portions = tuple(Portion(f"p{j + 1}", PortionKind.TEXT, "text", rng.choice(vocabulary))
                         for j in range(rng.randint(1, 4)))
        out.append(Item(f"I{i}", "KOR", rng.choice(DISCIPLINES), rng.choice(TOPICS),
                        Grade("B", 2), "t", created, portions))
    return out


def timed_pass(policy: ReleasePolicy, items: list[Item], names: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    n = 0
    for name in names:
        n += len(policy.for_partner(name, ON).decide_all(items))
    return time.perf_counter() - start, n


def main() -> int:
    quick = "--quick" in sys.argv
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    rng = random.Random(20191123)
    facts, names = world(rng)
    items = corpus(rng, facts, names, 500 if quick else 10_000)
    gc.collect()
    tracemalloc.start()
    policy = ReleasePolicy(facts)
    cold_s, n = timed_pass(policy, items, names)
    held_mb = tracemalloc.get_traced_memory()[0] / 1e6
    tracemalloc.stop()
    policy = ReleasePolicy(facts)
    cold_s, n = timed_pass(policy, items, names)
    warm_s = min(timed_pass(policy, items, names)[0] for _ in range(3))
    sample = [(it, names[i % len(names)]) for i, it in enumerate(items[:2000])]
    start = time.perf_counter()
    plain = [decide(it, to, ON, facts) for it, to in sample]
    plain_s = time.perf_counter() - start
    if plain != [policy.for_partner(to, ON).decide(it) for it, to in sample]:
        print("# compiled decisions differ from decide()", file=sys.stderr)
        return 1
    outcomes = Counter(policy.for_partner(to, ON).decide(it).outcome.value for it, to in sample)
    memo = sum(len(p._memo) for p in policy._partners.values())
    print(f"# {len(items)} items x {len(names)} partners = {n} decisions; outcomes in the "
          f"sample: {dict(outcomes)}; memo entries {memo}")
    print(f"BENCH release_decisions_per_s {n / warm_s:.0f} decisions/s")
    print(f"BENCH release_decisions_cold_per_s {n / cold_s:.0f} decisions/s")
    print(f"BENCH release_decisions_uncompiled_per_s {len(sample) / plain_s:.0f} decisions/s")
    print(f"BENCH release_compiled_speedup {(n / warm_s) / (len(sample) / plain_s):.1f} x")
    print(f"BENCH release_policy_memory_mb {held_mb:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
