"""No message can stop a partner's queue, and a FLASH never waits behind a backlog: real
node processes on loopback (issue 16).

- A message the receiver cannot apply (a fault planted in the receiver's database: a
  trigger that aborts the insert of one item) in the middle of a batch: the others are
  applied, that one fails at the partner, is retried and settled as refused (poison) at
  the sender, audited on both sides, listed by `liaison peer outbox --refused`; a message
  the partner refuses is settled with its reason; the lane goes on.
- A FLASH queued behind thousands of routine releases to a partner that is down reaches
  the partner's hotline within seconds of its return, ahead of the backlog.
- A lane stuck past the threshold raises an alert (API, `liaison peer outbox --check`
  exits 3) recorded once in the audit log, and clears, recorded once, after recovery.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from liaison.config import Settings
from liaison.domain.codec import item_to
from liaison.domain.items import Discipline, Grade, Item, Portion, PortionKind
from liaison.domain.labels import make_label
from liaison.domain.parties import default_parties
from liaison.node.composition import build_node, open_storage
from liaison.services import federation

from .node_fixtures import PASSWORD
from .processes import CLI, NodeProcess, cli, wait_for

KOR = default_parties()["KOR"]
HOTLINE = "KOR-CHN-HOTLINE-MOU"
EXERCISE = "KOR-CHN-EXERCISE-GSOMIA"  # made up for the test: releases KOR → CHN
BACKLOG = 3000
BATCH = 256
FAST = {"LIAISON_OUTBOX_RETRY_S": "0.5", "LIAISON_OUTBOX_FAILED_ATTEMPTS": "3",
        "LIAISON_OUTBOX_STUCK_S": "3", "LIAISON_LOGIN_ATTEMPTS_PER_MINUTE": "1000"}


def release(i: int, to: str, agreement: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    lab = make_label(KOR.scheme, "군사III급비밀", originator="KOR", created=now, rel_to={to})
    it = Item(f"N{i:05d}", "KOR", Discipline.ELINT, "DPRK/missile", Grade("B", 2),
              f"radar emission {i}", now, (Portion("p1", PortionKind.TEXT, "x", lab),))
    return {"item": item_to(it), "agreement": agreement}


def enqueue(node: NodeProcess, to: str, payloads: list[dict[str, Any]]) -> None:
    """Queue releases in one transaction of the node's database, as the release use case
    does (the running sender finds them at its next poll)."""
    built = build_node(Settings(data_dir=Path(node.data), database_url=node.database_url))
    with built.deps.uow() as uow:
        for payload in payloads:
            federation.enqueue(uow, built.deps, to, "release", payload)
        uow.commit()
    built.engine.dispose()


def query(node: NodeProcess, sql: str) -> list[Any]:
    engine, _ = open_storage(Settings(data_dir=Path(node.data),
                                      database_url=node.database_url))
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql))
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def plant_fault(node: NodeProcess, item_id: str) -> None:
    """The receiver's database refuses to store one item: an internal error in the middle
    of the applier, after it has written other rows for that message."""
    if node.database_url:
        query(node, "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.id = '{item_id}' THEN RAISE EXCEPTION 'planted fault'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql")
        query(node, "CREATE TRIGGER poison BEFORE INSERT ON items FOR EACH ROW "
                    "EXECUTE FUNCTION poison()")
    else:
        query(node, f"CREATE TRIGGER poison BEFORE INSERT ON items WHEN NEW.id = '{item_id}' "
                    "BEGIN SELECT RAISE(ABORT, 'planted fault'); END")


def actions(node: NodeProcess, prefix: str) -> list[dict[str, Any]]:
    return [r for r in node.call("GET", "/api/audit", params={"limit": 1000})
            if r["action"].startswith(prefix)]


def outbox(node: NodeProcess, party: str) -> dict[str, Any]:
    return dict(node.call("GET", "/api/outbox")[party])


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    kor, jpn = NodeProcess("KOR", tmp_path), NodeProcess("JPN", tmp_path)
    try:
        prints = {n.party: n.init() for n in (kor, jpn)}
        for node in (kor, jpn):
            node.start(FAST)
            node.login()
        kor.trust(jpn, prints["JPN"])
        jpn.trust(kor, prints["KOR"])
        yield kor, jpn
    finally:
        for node in (kor, jpn):
            node.stop()


def test_a_poison_message_and_a_refused_one_do_not_stop_the_lane(
        pair: tuple[NodeProcess, NodeProcess]) -> None:
    kor, jpn = pair
    plant_fault(jpn, "N00005@KOR")
    payloads = [release(i, "JPN", "KOR-JPN-GSOMIA") for i in range(1, 11)]
    payloads[6] = release(7, "JPN", "NO-SUCH-AGREEMENT")
    enqueue(kor, "JPN", payloads)  # one transaction: one batch
    wait_for(lambda: outbox(kor, "JPN")["pending"] == 0, timeout=90, what="lane settled")
    counts = outbox(kor, "JPN")
    assert (counts["delivered"], counts["refused"]) == (8, 2)
    stored = {r[0] for r in query(jpn, "SELECT id FROM items")}
    assert stored == {f"N{i:05d}@KOR" for i in (1, 2, 3, 4, 6, 8, 9, 10)}
    failed = actions(jpn, "inbox.failed")
    assert len(failed) == 3 and "planted fault" in failed[0]["details"]["error"]
    refused = kor.call("GET", "/api/outbox/refused", params={"peer": "JPN"})
    reasons = {r["seq"]: r["reason"] for r in refused}
    assert reasons[5].startswith("poison: failed 3 times at the partner: internal error at "
                                 "JPN (")
    assert "planted fault" not in reasons[5]  # the partner's internals stay there
    assert "NO-SUCH-AGREEMENT" in reasons[7]
    assert [r["action"] for r in actions(kor, "outbox.")
            if r["action"] in ("outbox.poison", "outbox.refused")] == [
        "outbox.refused", "outbox.poison"]
    listed = cli("peer", "outbox", "--refused", "--url", kor.url, "--token", kor.token)
    assert "poison: failed 3 times" in listed and "NO-SUCH-AGREEMENT" in listed
    enqueue(kor, "JPN", [release(11, "JPN", "KOR-JPN-GSOMIA")])
    wait_for(lambda: outbox(kor, "JPN")["delivered"] == 9, what="the lane goes on")
    print(f"delivered 9 of 9, poison refused 1 of 1 after 3 attempts "
          f"({len(failed)} failures audited at JPN), refused 1 of 1 with its reason")


def test_a_stuck_lane_raises_an_alert_and_clears_after_recovery(
        pair: tuple[NodeProcess, NodeProcess]) -> None:
    kor, jpn = pair
    jpn.stop()
    enqueue(kor, "JPN", [release(1, "JPN", "KOR-JPN-GSOMIA")])
    stuck = wait_for(lambda: (o := outbox(kor, "JPN"))["stuck"] and o, timeout=30,
                     what="the stuck alert")
    lane = stuck["lanes"]["routine"]
    assert lane["failures"] >= 1 and lane["last_error"] and lane["last_error_at"]
    # stuck once the wait reached the threshold (3 s here; ages are shown rounded)
    assert lane["oldest_pending_age_s"] >= 3 and not stuck["lanes"]["flash"]["stuck"]
    assert stuck["alerts"][0].startswith("JPN routine lane stuck: 1 pending")
    checked = subprocess.run([*CLI, "peer", "outbox", "--check", "--url", kor.url,
                              "--token", kor.token], capture_output=True, text=True,
                             check=False, env={**os.environ, "COLUMNS": "200"})
    assert checked.returncode == 3, checked.stdout + checked.stderr
    assert "ALERT" in checked.stdout and "JPN routine lane stuck" in checked.stdout
    wait_for(lambda: actions(kor, "outbox.lane_stuck"), what="the audit record")
    jpn.start(FAST)
    wait_for(lambda: outbox(kor, "JPN")["delivered"] == 1, timeout=60, what="recovery")
    wait_for(lambda: actions(kor, "outbox.lane_recovered"), timeout=30, what="the record")
    time.sleep(2)  # several more checks: still one record each
    assert not outbox(kor, "JPN")["stuck"]
    assert len(actions(kor, "outbox.lane_stuck")) == 1
    assert len(actions(kor, "outbox.lane_recovered")) == 1
    cli("peer", "outbox", "--check", "--url", kor.url, "--token", kor.token)  # exit 0
    print("stuck alert raised 1 of 1 and cleared 1 of 1 (audited once each)")


# --- a FLASH behind a backlog --------------------------------------------------------------


@pytest.fixture
def line(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess, str, str]]:
    kor, chn = NodeProcess("KOR", tmp_path), NodeProcess("CHN", tmp_path)
    try:
        prints = {n.party: n.init() for n in (kor, chn)}
        for node in (kor, chn):
            node.start(FAST)
            node.login()
        kor.trust(chn, prints["CHN"])
        chn.trust(kor, prints["KOR"])
        tokens = []
        for node, level in ((kor, "군사I급비밀"), (chn, "绝密")):
            node.call("POST", "/api/agreements", json=_exercise())
            node.call("POST", "/api/hotline", json={"agreement_id": HOTLINE,
                                                    "times": ["09:00"], "weekdays": [0],
                                                    "tz": "Asia/Seoul"})
            node.call("POST", "/api/users", json={"username": "watch",
                                                  "roles": ["watch_officer"],
                                                  "clearance": level, "password": PASSWORD})
            tokens.append(node.login("watch"))
        yield kor, chn, tokens[0], tokens[1]
    finally:
        for node in (kor, chn):
            node.stop()


def _exercise() -> dict[str, Any]:
    return {"id": EXERCISE, "kind": "GSOMIA", "title": "Exercise agreement (test only)",
            "parties": ["KOR", "CHN"],
            "table": [{"common": "CONFIDENTIAL",
                       "levels": {"KOR": ["군사III급비밀"], "CHN": ["秘密"]}}],
            "events": [{"kind": "SIGNED", "date": "2020-01-01"},
                       {"kind": "ENTERED_INTO_FORCE", "date": "2020-01-01"}]}


def test_a_flash_reaches_the_partner_ahead_of_a_backlog(
        line: tuple[NodeProcess, NodeProcess, str, str]) -> None:
    kor, chn, kor_watch, chn_watch = line
    chn.stop()
    enqueue(kor, "CHN", [release(i, "CHN", EXERCISE) for i in range(BACKLOG)])
    kor.call("POST", f"/api/hotline/{HOTLINE}/messages", kor_watch,
             json={"precedence": "FLASH", "text": "two ballistic missiles launched"})
    time.sleep(4)  # both lanes fail and back off while the partner is down
    chn.start(FAST)
    back = time.monotonic()
    wait_for(lambda: chn.call("GET", f"/api/hotline/{HOTLINE}", chn_watch)["traffic"],
             timeout=30, what="the FLASH at CHN's watch page")
    flash_s = time.monotonic() - back
    wait_for(lambda: outbox(kor, "CHN")["delivered"] == BACKLOG + 1, timeout=300,
             what="the backlog")
    drain_s = time.monotonic() - back
    order = [r[0] for r in query(chn, "SELECT kind FROM inbox WHERE sender = 'KOR' "
                                      "ORDER BY received_at, seq")]
    ahead = order.index("hotline")
    assert len(order) == BACKLOG + 1 and order.count("release") == BACKLOG
    print(f"FLASH at CHN's watch page {flash_s:.2f} s after CHN returned, behind {ahead} of "
          f"{BACKLOG} routine releases queued before it; backlog drained in {drain_s:.1f} s")
    assert ahead <= 2 * BATCH  # at most the routine batches already in flight
