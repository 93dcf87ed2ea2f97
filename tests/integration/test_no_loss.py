"""No loss under crashes: releases flow KOR → JPN while JPN is killed with SIGKILL and
restarted several times; every one arrives exactly once, in order (docs/rules.md#exactly-once)."""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest

from liaison.config import Settings
from liaison.domain.codec import item_to
from liaison.domain.items import Discipline, Grade, Item, Portion, PortionKind
from liaison.domain.labels import make_label
from liaison.domain.parties import default_parties
from liaison.node.composition import build_node, open_storage
from liaison.services import federation

from .inbox_order import applied_in_order
from .processes import NodeProcess, wait_for

N = int(os.environ.get("LIAISON_NO_LOSS_N", "1000"))
KILLS = int(os.environ.get("LIAISON_NO_LOSS_KILLS", "4"))
SOAK_N, SOAK_KILLS = 20_000, 12
SMALL_BATCHES = {"LIAISON_OUTBOX_BATCH": "25"}
KOR = default_parties()["KOR"]


def release_payload(i: int) -> dict[str, object]:
    now = datetime.now(UTC)
    lab = make_label(KOR.scheme, "군사III급비밀", originator="KOR", created=now,
                     rel_to={"JPN"})
    it = Item(f"N{i:05d}", "KOR", Discipline.ELINT, "DPRK/missile", Grade("B", 2),
              f"radar emission {i}", now, (Portion("p1", PortionKind.TEXT, "x", lab),))
    return {"item": item_to(it), "agreement": "KOR-JPN-GSOMIA"}


def enqueue(node_process: NodeProcess, start: int, count: int) -> None:
    node = build_node(Settings(data_dir=Path(node_process.data),
                               database_url=node_process.database_url))
    with node.deps.uow() as uow:
        for i in range(start, start + count):
            federation.enqueue(uow, node.deps, "JPN", "release", release_payload(i))
        uow.commit()
    node.engine.dispose()


def received(node: NodeProcess) -> list[tuple[str, int]]:
    """The messages from KOR the receiver applied, in the order it applied them, with KOR's
    sequence numbers, straight from its database (``inbox_order``)."""
    engine, _ = open_storage(Settings(data_dir=Path(node.data),
                                      database_url=node.database_url))
    try:
        with engine.connect() as conn:
            return applied_in_order(conn, "KOR")
    finally:
        engine.dispose()


def test_exactly_once_in_order_through_sigkills(tmp_path: Path) -> None:
    run(tmp_path, N, KILLS)


@pytest.mark.slow
def test_soak_exactly_once_through_many_sigkills(tmp_path: Path) -> None:
    """`make soak`: the long form."""
    run(tmp_path, SOAK_N, SOAK_KILLS)


def run(tmp_path: Path, n: int, kills: int) -> None:
    N, KILLS = n, kills
    kor, jpn = NodeProcess("KOR", tmp_path), NodeProcess("JPN", tmp_path)
    prints = {n.party: n.init() for n in (kor, jpn)}
    kor.start(SMALL_BATCHES)
    jpn.start()
    for a, b in ((kor, jpn), (jpn, kor)):
        a.login()
        a.trust(b, prints[b.party])
    rng = random.Random(7)
    chunk = N // (KILLS + 1)
    started = time.monotonic()
    try:
        for k in range(KILLS + 1):
            count = chunk if k < KILLS else N - chunk * KILLS
            enqueue(kor, k * chunk, count)
            time.sleep(rng.uniform(0.05, 0.4))
            if k < KILLS:
                jpn.kill()
                time.sleep(rng.uniform(0.2, 1.0))
                jpn.start()
        wait_for(lambda: len(received(jpn)) >= N, timeout=240, what=f"{N} deliveries")
        wait_for(lambda: kor.call("GET", "/api/outbox")["JPN"]["delivered"] == N,
                 timeout=120, what="receipts")
    finally:
        kor.stop()
        jpn.stop()
    got = received(jpn)
    ids = [m for m, _ in got]
    seqs = [s for _, s in got]
    print(f"delivered {len(set(ids))} of {N} exactly once through {KILLS} SIGKILLs "
          f"in {time.monotonic() - started:.1f} s; duplicates {len(ids) - len(set(ids))}")
    assert len(ids) == len(set(ids)) == N
    # in KOR's order, as applied: every message after the one before it
    assert seqs == list(range(1, N + 1)), next(
        (f"message seq {b} applied right after {a}" for a, b in pairwise(seqs) if b != a + 1),
        "")
