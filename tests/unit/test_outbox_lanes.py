"""No message can stop a partner's queue, and a FLASH never waits behind a backlog: per
message verdicts (applied, duplicate, refused, failed) with a savepoint around each, the
bounded retry of a failed message and its poison refusal, lanes and their order rules
(``services.federation``), and the stuck-lane alert. Two in-memory nodes with real keys."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from memory_nodes import MemoryNode
from tests.twins import MemoryUnitOfWork

from liaison.domain.labels import Clearance
from liaison.domain.lanes import FLASH, KIND_LANES, ROUTINE, URGENT, lane_for
from liaison.domain.users import Role, User
from liaison.services import (
    agreements,
    areas,
    checkpoints,
    federation,
    hotline,
    outbox_lanes,
    protection,
    receiving,
    requests,
    talks,
)
from liaison.services.federation import Outcome
from liaison.services.federation.inbox import seal_receipt
from liaison.services.ports import UnitOfWork

from factories import seed_agreements

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)
ADMIN = User("root", "Root", frozenset({Role.ADMIN}), Clearance(0))
RETRY_S, ATTEMPTS, STUCK_S = 5.0, 3, 300.0


class Node(MemoryNode):
    def __init__(self, party: str, root: Path) -> None:
        super().__init__(party, root, NOW, seed_agreements())
        self.deps = replace(self.deps, outbox_retry_s=RETRY_S,
                            outbox_failed_attempts=ATTEMPTS, outbox_stuck_s=STUCK_S)
        self.partner = self

    def applied(self) -> list[int]:
        """The probes this node applied, in the order it applied them."""
        log = self.state.settings.get("log", "")
        return [int(n) for n in log.split(",") if n]

    def actions(self) -> list[str]:
        return [r.action for r in self.state.audit]


class Faults:
    """What the probe applier does to each probe number: fail (raise) some number of
    times, or refuse."""

    def __init__(self) -> None:
        self.fail: dict[int, int] = {}
        self.fail_until: dict[int, datetime] = {}  # by the receiver's clock
        self.refuse: set[int] = set()

    def probe(self, uow: UnitOfWork, deps: Any, sender: str, body: Any) -> str | None:
        n = int(body["n"])
        uow.settings.put(f"effect:{n}", "written before the fault")
        if self.fail.get(n, 0) > 0 or deps.clock() < self.fail_until.get(n, NOW):
            self.fail[n] = self.fail.get(n, 0) - 1
            raise RuntimeError("UNIQUE constraint failed: search_portions.id (secret detail)")
        if n in self.refuse:
            return f"probe {n} refused for the test"
        uow.settings.put("log", (uow.settings.get("log") or "") + f"{n},")
        return None


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Node, Node]:
    kor, jpn = Node("KOR", tmp_path), Node("JPN", tmp_path)
    kor.trust(jpn)
    jpn.trust(kor)
    kor.partner, jpn.partner = jpn, kor
    return kor, jpn


@pytest.fixture
def faults() -> Faults:
    return Faults()


def queue(kor: Node, numbers: range | list[int], kind: str = "release") -> None:
    with kor.deps.uow() as uow:
        for n in numbers:
            federation.enqueue(uow, kor.deps, "JPN", kind, {"n": n})
        uow.commit()


def exchange(kor: Node, jpn: Node, faults: Faults, lane: str | None = None,
             ) -> list[Outcome] | None:
    """One batch of one lane from KOR to JPN and back: what the sender's lane does."""
    found = federation.next_batch(kor.deps, "JPN", lane)
    if found is None:
        return None
    peer, messages = found
    header, wire = federation.seal_batch(kor.deps, peer, messages)
    appliers = {kind: faults.probe for kind in ("release", "hotline", "note")}
    receipt = federation.receive(jpn.deps, wire, appliers)
    return federation.settle_receipt(kor.deps, peer, header, messages, receipt)


def states(kor: Node) -> dict[int, str]:
    return {int(m.payload["n"]): m.state for m in kor.state.outbox.values()}


def drain(kor: Node, jpn: Node, faults: Faults, lane: str | None = None) -> None:
    while exchange(kor, jpn, faults, lane) is not None:
        pass


def later(kor: Node, seconds: float, jpn: Node | None = None) -> None:
    """Both nodes' clocks move on (the receiver refuses an envelope from its future)."""
    for node in (kor, jpn or kor.partner):
        node.now += timedelta(seconds=seconds)


# --- a message the receiver cannot apply -------------------------------------------------


def poison_run(kor: Node, jpn: Node, faults: Faults) -> dict[str, Any]:
    """Five probes, the third raising at JPN every time; what each side ends with."""
    faults.fail[3] = 99
    queue(kor, range(1, 6))
    first = exchange(kor, jpn, faults)
    assert first is not None
    tries = 1
    while exchange(kor, jpn, faults) is None and tries < 10:  # waiting for its retry
        later(kor, RETRY_S * 2 ** (tries - 1))
        tries += 1
    drain_retries(kor, jpn, faults)
    poison = next(m for m in kor.state.outbox.values() if m.payload["n"] == 3)
    return {"verdicts": [o.outcome for o in first], "reason": first[2].reason,
            "applied": jpn.applied(), "effect_kept": "effect:3" in jpn.state.settings,
            "poison": poison, "failed_audited": jpn.actions().count("inbox.failed")}


def drain_retries(kor: Node, jpn: Node, faults: Faults) -> None:
    for _ in range(ATTEMPTS + 2):
        later(kor, RETRY_S * 2 ** ATTEMPTS)
        drain(kor, jpn, faults)


def test_poison_in_the_middle_of_a_batch(pair: tuple[Node, Node], faults: Faults) -> None:
    """The others are applied; the failing one's effects are undone (its savepoint), it is
    retried ATTEMPTS times, then settled as refused (poison) with an audit record; the
    partner learns only the error's class name; the lane goes on."""
    kor, jpn = pair
    run = poison_run(kor, jpn, faults)
    assert run["verdicts"] == ["applied", "applied", "failed", "applied", "applied"]
    assert run["reason"] == "internal error at JPN (RuntimeError)"  # no detail leaks
    assert run["applied"] == [1, 2, 4, 5]
    assert run["effect_kept"] is False
    assert run["failed_audited"] == ATTEMPTS
    failed = next(r for r in jpn.state.audit if r.action == "inbox.failed")
    assert "secret detail" in failed.details["error"]  # the receiver's own log has it
    poison = run["poison"]
    assert poison.state == "refused" and poison.attempts == ATTEMPTS
    assert poison.receipt["reason"] == (f"poison: failed {ATTEMPTS} times at the partner: "
                                        "internal error at JPN (RuntimeError)")
    assert "outbox.poison" in kor.actions()
    queue(kor, [6])
    drain(kor, jpn, faults)
    assert jpn.applied() == [1, 2, 4, 5, 6]
    listed = outbox_lanes.refused(kor.deps, ADMIN, "JPN", 10)
    assert [r["reason"][:7] for r in listed] == ["poison:"]
    others = sum(m.state == "delivered" for m in kor.state.outbox.values())
    print(f"poison refused 1 of 1 after {poison.attempts} attempts; delivered {others} of "
          f"{len(kor.state.outbox) - 1} "
          "others")


def test_planted_fault_without_the_savepoint_is_caught(
        pair: tuple[Node, Node], faults: Faults, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the savepoint made a no-op, the failing message's partial write survives at
    the receiver: the check in the poison test above sees it."""
    kor, jpn = pair

    @contextlib.contextmanager
    def no_savepoint(self: MemoryUnitOfWork) -> Iterator[None]:
        yield

    monkeypatch.setattr(MemoryUnitOfWork, "savepoint", no_savepoint)
    try:
        run = poison_run(kor, jpn, faults)
        caught = run["effect_kept"] or run["applied"] != [1, 2, 4, 5]
    except Exception:  # the batch no longer completes at all
        caught = True
    assert caught
    print("planted fault (no savepoint) caught 1 of 1")


def test_a_refused_message_is_settled_with_its_reason_and_skipped(
        pair: tuple[Node, Node], faults: Faults) -> None:
    kor, jpn = pair
    faults.refuse.add(2)
    queue(kor, range(1, 4))
    out = exchange(kor, jpn, faults)
    assert out is not None and [o.outcome for o in out] == ["applied", "refused", "applied"]
    assert states(kor) == {1: "delivered", 2: "refused", 3: "delivered"}
    assert jpn.applied() == [1, 3]
    listed = outbox_lanes.refused(kor.deps, ADMIN, None, 10)
    assert [(r["seq"], r["reason"]) for r in listed] == [(2, "probe 2 refused for the test")]
    assert kor.actions().count("outbox.refused") == 1
    again = federation.receive(jpn.deps, federation.seal_batch(
        kor.deps, kor.state.peers["JPN"], list(kor.state.outbox.values()))[1], {})
    assert again  # a replayed batch is answered as duplicates, applied nowhere twice
    assert jpn.applied() == [1, 3]
    print("refused 1 of 1 with its reason; delivered 2 of 2 others")


def test_a_receipt_from_an_older_node_saying_accepted_settles_delivered(
        pair: tuple[Node, Node]) -> None:
    kor, jpn = pair
    queue(kor, [1, 2])
    found = federation.next_batch(kor.deps, "JPN")
    assert found is not None
    peer, messages = found
    header, _ = federation.seal_batch(kor.deps, peer, messages)
    old_receipt = seal_receipt(jpn.deps, jpn.state.peers["KOR"], header, [
        Outcome(messages[0].id, "accepted"), Outcome(messages[1].id, "refused", "no")])
    federation.settle_receipt(kor.deps, peer, header, messages, old_receipt)
    assert states(kor) == {1: "delivered", 2: "refused"}


# --- order -------------------------------------------------------------------------------


def test_a_failed_message_is_retried_after_later_ones_of_its_lane(
        pair: tuple[Node, Node], faults: Faults) -> None:
    """Order rules 1 and 5: first offers in sequence order; a failed message is applied
    after the ones behind it once its retry comes, exactly once."""
    kor, jpn = pair
    faults.fail_until[2] = NOW + timedelta(seconds=RETRY_S)  # a transient fault
    queue(kor, range(1, 5))
    drain(kor, jpn, faults)
    assert jpn.applied() == [1, 3, 4]
    queue(kor, [5])
    drain(kor, jpn, faults)
    assert jpn.applied() == [1, 3, 4, 5]  # the retry waits; the lane does not
    later(kor, RETRY_S)
    drain(kor, jpn, faults)
    assert jpn.applied() == [1, 3, 4, 5, 2]
    assert set(states(kor).values()) == {"delivered"}


def test_a_flash_goes_ahead_of_a_routine_backlog(pair: tuple[Node, Node],
                                                 faults: Faults) -> None:
    """Lanes are read apart: the FLASH queued behind 600 releases is the flash lane's
    first batch, alone, while the routine lane still holds all 600."""
    kor, jpn = pair
    queue(kor, range(1, 601))
    queue(kor, [9999], kind="hotline")
    found = federation.next_batch(kor.deps, "JPN", FLASH)
    assert found is not None and [m.payload["n"] for m in found[1]] == [9999]
    exchange(kor, jpn, faults, FLASH)
    assert jpn.applied() == [9999]
    drain(kor, jpn, faults, ROUTINE)
    assert jpn.applied() == [9999, *range(1, 601)]  # the routine lane in sequence order
    print("FLASH applied before 600 of 600 queued routine releases")


def test_every_kind_a_partner_is_sent_has_a_lane() -> None:
    """The lane table covers every kind the inbox applies (an unknown kind would go
    routine silently)."""
    kinds = {"release", "note", *requests.APPLIERS, *protection.APPLIERS, *hotline.APPLIERS,
             *areas.APPLIERS, *talks.APPLIERS, *checkpoints.APPLIERS}
    assert kinds == set(KIND_LANES)
    assert receiving.apply_release and agreements.apply_note
    assert lane_for("hotline") == FLASH and lane_for("note") == URGENT
    assert lane_for("release") == ROUTINE and lane_for("something new") == ROUTINE


# --- operators ---------------------------------------------------------------------------


def test_a_stuck_lane_raises_an_alert_once_and_clears_once(pair: tuple[Node, Node],
                                                           faults: Faults) -> None:
    kor, jpn = pair
    queue(kor, [1])
    federation.note_failure(kor.deps, "JPN", ROUTINE, "ConnectError: connection refused")
    view = outbox_lanes.status(kor.deps, ADMIN)["JPN"]
    assert view["stuck"] is False and view["lanes"][ROUTINE]["failures"] == 1
    assert view["pending"] == 1 and view["lanes"][ROUTINE]["pending"] == 1
    later(kor, STUCK_S + 1)
    view = outbox_lanes.status(kor.deps, ADMIN)["JPN"]
    assert view["stuck"] is True and view["lanes"][FLASH]["stuck"] is False
    assert "JPN routine lane stuck" in view["alerts"][0]
    assert "connection refused" in view["alerts"][0]
    assert view["lanes"][ROUTINE]["oldest_pending_age_s"] == STUCK_S + 1
    assert outbox_lanes.check(kor.deps) == [("JPN", ROUTINE, True)]
    assert outbox_lanes.check(kor.deps) == []  # once, not every check
    drain(kor, jpn, faults)
    assert outbox_lanes.status(kor.deps, ADMIN)["JPN"]["stuck"] is False
    assert outbox_lanes.check(kor.deps) == [("JPN", ROUTINE, False)]
    assert outbox_lanes.check(kor.deps) == []
    assert [a for a in kor.actions() if a.startswith("outbox.lane")] == [
        "outbox.lane_stuck", "outbox.lane_recovered"]


def test_a_lane_draining_a_backlog_is_not_stuck(pair: tuple[Node, Node],
                                                faults: Faults) -> None:
    kor, jpn = pair
    queue(kor, range(1, 600))
    later(kor, STUCK_S * 3)
    exchange(kor, jpn, faults)  # a delivery: the lane moves
    later(kor, 1)
    view = outbox_lanes.status(kor.deps, ADMIN)["JPN"]["lanes"][ROUTINE]
    assert view["pending"] > 0 and view["oldest_pending_age_s"] > STUCK_S
    assert view["stuck"] is False


def test_savepoint_twin_undoes_only_its_block(pair: tuple[Node, Node]) -> None:
    kor, _ = pair
    with kor.deps.uow() as uow:
        uow.settings.put("outer", "1")
        with contextlib.suppress(RuntimeError), uow.savepoint():
            uow.settings.put("inner", "1")
            raise RuntimeError("undo the block")
        with uow.savepoint():
            uow.settings.put("kept", "1")
        uow.commit()
    assert {k: kor.state.settings.get(k) for k in ("outer", "inner", "kept")} == {
        "outer": "1", "inner": None, "kept": "1"}
