"""Release engine throughput: 10,000 items x 32 partners on one core.

Prints ``BENCH <name> <value> <unit>`` lines, each followed by ``# includes: ...``:
- release_decisions_per_s: the same items again (every decision a memo hit)
- release_decisions_cold_per_s: first pass, compiling every partner's policy from scratch
- release_decisions_known_shapes_per_s: items never seen whose shapes are already interned
  (new ids, fresh label objects as decoded from storage): steady traffic
- release_decisions_new_items_per_s: items never seen, drawn afresh from the same label
  vocabulary (mostly new shapes): new traffic
- release_decisions_mix_per_s: 80 % known shapes, 20 % new, in random order
- release_decisions_uncompiled_per_s: plain ``decide()`` over the checked sample
- release_compiled_speedup: steady state over uncompiled, same run
- release_policy_memory_mb: memory held by the compiled policies and their memos

The compiled decisions of every pass (cold, known shapes, new items, mix) are compared with
plain ``decide()``: all of them with ``--quick`` (64,000), every partner for the first 1,000
items of each pass otherwise (128,000). Any difference prints the first ones and exits 1.

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
from dataclasses import dataclass, replace
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
from liaison.domain.release import ReleasePolicy, decide
from liaison.domain.release_decision import Decision
from liaison.domain.release_facts import ReleaseFacts
from report import bench

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


def known_shapes(rng: random.Random, seen: list[Item], n: int, prefix: str) -> list[Item]:
    """``n`` items never seen (new ids, new objects, each label a fresh copy, as decoded
    from storage) whose shapes are already interned: each has the discipline, topic and
    portion labels of an item of ``seen``."""
    out = []
    for i in range(n):
        model = rng.choice(seen)
        portions = tuple(replace(p, label=replace(p.label)) for p in model.portions)
        out.append(replace(model, id=f"{prefix}{i}", portions=portions))
    return out


Run = dict[str, list[Decision]]


def timed_pass(policy: ReleasePolicy, items: list[Item], names: list[str]) -> tuple[float, Run]:
    start = time.perf_counter()
    run = {name: policy.for_partner(name, ON).decide_all(items) for name in names}
    return time.perf_counter() - start, run


def size(run: Run) -> int:
    return sum(len(v) for v in run.values())


def memo_entries(policy: ReleasePolicy) -> int:
    return sum(len(p._memo) for p in policy._partners.values())


def differences(facts: ReleaseFacts, items: list[Item], run: Run) -> tuple[int, list[str]]:
    """Compare the compiled decisions in ``run`` for ``items`` with plain ``decide()``."""
    checked, wrong = 0, []
    for name, decisions in run.items():
        for it, compiled in zip(items, decisions, strict=False):
            checked += 1
            if compiled != decide(it, name, ON, facts):
                wrong.append(f"{it.id} to {name}: compiled {compiled.summary!r}")
    return checked, wrong


@dataclass
class Pass:
    """One timed pass of the compiled policy: its items, decisions and new memo entries."""

    name: str
    items: list[Item]
    seconds: float
    run: Run
    new_shapes: int  # memo entries this pass added: decisions that missed the memo

    @property
    def decisions(self) -> int:
        return size(self.run)

    @property
    def per_s(self) -> float:
        return self.decisions / self.seconds


def measure(policy: ReleasePolicy, name: str, items: list[Item], names: list[str]) -> Pass:
    before = memo_entries(policy)
    gc.collect()
    seconds, run = timed_pass(policy, items, names)
    return Pass(name, items, seconds, run, memo_entries(policy) - before)


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
    known = known_shapes(rng, items, n, "K")
    # the realistic mix: 80 % items of shapes already seen, 20 % of new traffic (drawn
    # after the passes above, so its shapes are mostly new), in random order
    mix = known_shapes(rng, items, n * 4 // 5, "MK") + corpus(
        random.Random(7), words, n - n * 4 // 5, prefix="MN", fresh_labels=True)
    rng.shuffle(mix)
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
    cold_pass = Pass("cold", items, cold_s, cold, memo_entries(policy))
    warm = [timed_pass(policy, items, names) for _ in range(3)]
    warm_s = min(sec for sec, _ in warm)
    if any(run != cold for _, run in warm):
        print("# the steady state's decisions differ from the cold pass's", file=sys.stderr)
        return 1
    passes = [cold_pass, measure(policy, "known shapes", known, names),
              measure(policy, "new items", fresh, names), measure(policy, "mix", mix, names)]
    by = {p.name: p for p in passes}
    steady = Counter(d.outcome.value for p in passes for v in p.run.values() for d in v)
    # the checked sample: every decision (quick), else every partner for the first 1,000
    # items of each pass (128,000 decisions)
    per = n if quick else 1_000
    start = time.perf_counter()
    checked, wrong = 0, []
    for p in passes:
        c, w = differences(facts, p.items[:per], p.run)
        checked, wrong = checked + c, wrong + w
    plain_s = time.perf_counter() - start
    total = sum(p.decisions for p in passes)
    print(f"# {n} items x {len(names)} partners = {cold_pass.decisions} decisions per pass; "
          f"outcomes (every pass but the repeats): {dict(steady)}; memo entries "
          f"{memo_entries(policy)}")
    for p in passes:
        print(f"# pass {p.name}: {p.decisions} decisions, {p.new_shapes} of them memo misses "
              f"(a shape first decided for that partner), {p.per_s:.0f} decisions/s")
    print(f"# compared with plain decide(): {checked} of {total} decisions of these passes "
          f"({'all' if quick else f'every partner for the first {per} items of each'}), "
          f"{len(wrong)} differ")
    if wrong or checked <= 2_000 or (not quick and checked < 100_000):
        print("# compiled decisions differ from decide(): " + "; ".join(wrong[:5]),
              file=sys.stderr)
        return 1
    n_all = cold_pass.decisions
    one_core = "one core, the garbage collector's share included"
    bench("release_decisions_per_s", f"{n_all / warm_s:.0f}", "decisions/s",
          f"the same {n} items decided again for every partner (best of 3 repeats): every "
          f"decision a hit on the item's remembered shape and the memo; {one_core}")
    bench("release_decisions_cold_per_s", f"{n_all / cold_s:.0f}", "decisions/s",
          f"the first pass over {n} items: every partner's policy compiled from scratch, "
          f"every shape interned and decided; {one_core}")
    bench("release_decisions_known_shapes_per_s", f"{by['known shapes'].per_s:.0f}",
          "decisions/s",
          f"{n} items never seen (new ids, new label objects as decoded from storage) whose "
          f"shapes are already interned: each item reduced to its shape, then a memo hit "
          f"({by['known shapes'].new_shapes} misses); {one_core}")
    bench("release_decisions_new_items_per_s", f"{by['new items'].per_s:.0f}", "decisions/s",
          f"{n} items never seen, drawn afresh from the same 60-label vocabulary (1-4 "
          f"portions, so most shapes are new: {by['new items'].new_shapes} memo misses of "
          f"{by['new items'].decisions}); {one_core}")
    bench("release_decisions_mix_per_s", f"{by['mix'].per_s:.0f}", "decisions/s",
          f"a realistic mix of {n} items never seen, in random order: 80 % of shapes already "
          f"interned, 20 % new traffic ({by['mix'].new_shapes} memo misses of "
          f"{by['mix'].decisions}); {one_core}")
    bench("release_decisions_uncompiled_per_s", f"{checked / plain_s:.0f}", "decisions/s",
          f"plain decide() (the policy worked out per call) over the {checked} decisions "
          f"compared; {one_core}")
    bench("release_compiled_speedup", f"{(n_all / warm_s) / (checked / plain_s):.1f}", "x",
          "release_decisions_per_s over release_decisions_uncompiled_per_s, same run")
    bench("release_policy_memory_mb", f"{held_mb:.1f}", "MB",
          f"memory held by the compiled policies, interned shapes and memos after one pass "
          f"over {n} items x {len(names)} partners (tracemalloc)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
