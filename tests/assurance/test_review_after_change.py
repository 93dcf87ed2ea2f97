"""Issue 18: approvals given before a change never count (hypothesis state machine).

Requests, then changes in any order — a regrade, a relabel (releasability), a change of a
portion's text, an agreement event, a route change (the KOR–JPN GSOMIA terminated, so JPN
is reached through the US hub under TISA, and restored), a consent recorded or withdrawn,
the clock moving on — interleaved with reviews by anyone (reviewers, the requester, an
analyst) and releases. The model keeps, per request, the reviewers who approved since the
last change that touches it, and derives the number of reviews needed from the item as it
now is and the engine's tearline (two at 군사II급비밀 and above), never from the request's
stored count. Invariants: a request is released only with that many fresh approvals from
distinct reviewers other than the requester (a release short of them counted a stale or
invalid approval); once it has them, it is released, or blocked when the engine no longer
allows it. Faults planted in the code (the fingerprint check skipped, a non-reviewer
approving, the requester approving) are each caught.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import liaison.domain.review as review_domain
from liaison.domain.codec import agreement_from, item_from, item_to
from liaison.domain.labels import Clearance
from liaison.domain.parties import default_parties
from liaison.domain.release import decide
from liaison.domain.release_decision import Outcome
from liaison.domain.users import Role, User
from liaison.services import agreements, protection, releases
from liaison.services.context import Deps
from liaison.services.errors import ServiceError
from liaison.services.items import create_item
from liaison.services.ports import StoredItem
from tests.twins import MemoryState, MemoryUnitOfWork

SEED = Path(__file__).parents[2] / "src" / "liaison" / "reference" / "seed.yaml"
PARTIES = default_parties()
START = datetime(2024, 6, 3, 9, tzinfo=UTC)
PURPOSE = "warning"  # every request and the consents name it (issue 18: purpose limitation)
# KOR's two-person levels (docs/rules.md#two-person-review)
SECRET_EQUIVALENT = {"군사I급비밀", "군사II급비밀"}
LEVELS = ["군사I급비밀", "군사II급비밀", "군사III급비밀", "대외비"]


def person(name: str, *roles: Role) -> User:
    return User(name, name, frozenset(roles), Clearance(4))


KIM = person("kim", Role.ANALYST)
ADMIN = person("admin", Role.ADMIN)
OFFICERS = [person("lee", Role.RELEASE_OFFICER),
            person("han", Role.RELEASE_OFFICER, Role.REVIEWER)]
PEOPLE = [*OFFICERS, person("park", Role.REVIEWER), person("choi", Role.REVIEWER),
          person("seo", Role.REVIEWER), person("jung", Role.ANALYST)]


def may_review(user: User) -> bool:
    return Role.REVIEWER in user.roles


@dataclass
class Tally:
    sequences: int = 0
    changes: int = 0
    approvals_voided: int = 0  # approvals the model saw lose their count to a change
    releases: int = 0
    stale_counted: int = 0  # releases short of the fresh, valid approvals they need


TOTALS = Tally()


def seed_agreements() -> dict[str, Any]:
    return {a["id"]: agreement_from(a, PARTIES)
            for a in yaml.safe_load(SEED.read_text())["agreements"]}


def new_item(n: int, levels: tuple[str, str]) -> dict[str, Any]:
    def label(level: str, originator: str = "KOR") -> dict[str, Any]:
        return {"policy": "KOR", "classification": level, "originator": originator,
                "created": "2019-10-31T08:00:00Z", "rel_to": ["JPN", "USA"]}
    return {"id": f"I{n}", "discipline": "HUMINT", "topic": "DPRK/missile", "grade": "B2",
            "title": "launch report", "reported_at": "2019-10-31T08:00:00Z", "portions": [
                {"id": "p1", "content": "two projectiles", "label": label(levels[0])},
                {"id": "p2", "content": "US imagery", "label": label("군사III급비밀", "USA")},
                {"id": "p3", "content": "TEL movement", "label": label(levels[1])}]}


@dataclass
class Model:
    """What the model knows of one request."""

    item_id: str
    recipient: str
    requester: str
    fresh: set[str] = field(default_factory=set)  # valid approvers since the last change
    done: bool = False


class ReviewAfterChange(RuleBasedStateMachine):
    tally = TOTALS

    def __init__(self) -> None:
        super().__init__()
        self.state = MemoryState()
        self.state.agreements.update(seed_agreements())
        self.now = START
        counter = iter(range(10**6))
        self.deps = Deps(uow=lambda: MemoryUnitOfWork(self.state), party="KOR",
                         clock=lambda: self.now, ids=lambda: f"id{next(counter)}")
        self.items = 0
        self.requests: dict[str, Model] = {}
        self.notices: set[str] = set()  # agreements with a notice of termination given
        self.problems: list[str] = []
        self.tally.sequences += 1

    # --- requests and reviews ---------------------------------------------------------

    @rule(levels=st.tuples(st.sampled_from(LEVELS), st.sampled_from(LEVELS)),
          to=st.sampled_from(["JPN", "USA"]), officer=st.sampled_from(OFFICERS))
    def request(self, levels: tuple[str, str], to: str, officer: User) -> None:
        self.items += 1
        create_item(self.deps, KIM, new_item(self.items, levels))
        try:
            r = releases.request_release(self.deps, officer, f"I{self.items}", to, PURPOSE)
        except ServiceError:
            return  # the engine denies it: nothing to review
        self.requests[r.id] = Model(f"I{self.items}", to, officer.username)

    def open_requests(self) -> list[str]:
        return sorted(k for k, m in self.requests.items() if not m.done)

    @precondition(lambda self: self.open_requests())
    @rule(data=st.data(), who=st.sampled_from(PEOPLE),
          approve=st.sampled_from([True] * 9 + [False]))
    def review(self, data: st.DataObject, who: User, approve: bool) -> None:
        request_id = data.draw(st.sampled_from(self.open_requests()))
        model = self.requests[request_id]
        needed, outcome = self.expected(model)  # as the review finds the world
        try:
            after = releases.review(self.deps, who, request_id, approve, None, "")
        except ServiceError:
            return
        if outcome is Outcome.DENIED or not approve:
            model.done = True  # blocked with the engine's reason, or rejected
            want = "blocked" if outcome is Outcome.DENIED else "rejected"
            if after.state.value != want:
                self.problems.append(f"{request_id}: {after.state.value}, not {want}")
            return
        if may_review(who) and who.username != model.requester:
            model.fresh.add(who.username)
        if len(model.fresh) >= needed:
            model.done = True
            want = "released" if outcome is Outcome.ALLOWED else "blocked"
            if after.state.value != want:
                self.problems.append(
                    f"{request_id}: {len(model.fresh)} fresh approvals of {needed} needed "
                    f"and the engine {outcome.value}, but the request is {after.state.value}")
        elif after.state.value != "pending":
            model.done = True
            self.tally.stale_counted += after.state.value == "released"
            self.problems.append(
                f"{request_id}: {after.state.value} with {sorted(model.fresh)} fresh and "
                f"valid of {needed} needed (approvals that no longer count were counted)")
        self.tally.releases += after.state.value == "released"

    def expected(self, model: Model) -> tuple[int, Outcome]:
        """Reviews needed, from the item as it now is and the engine's tearline today."""
        with self.deps.uow() as uow:
            stored = uow.items.get(model.item_id)
            assert stored is not None
            facts = releases.facts(uow, self.deps)
        # for the request's purpose, as the node decides it: a consent unlocks only the
        # purpose it names
        decision = decide(stored.item, model.recipient, self.now.date(), facts, PURPOSE)
        levels = {p.label.classification for p in stored.item.portions
                  if p.id in decision.tearline}
        return (2 if levels & SECRET_EQUIVALENT else 1), decision.outcome

    # --- changes ----------------------------------------------------------------------

    def changed(self, touches: Callable[[Model], bool]) -> None:
        self.tally.changes += 1
        for model in self.requests.values():
            if not model.done and touches(model):
                self.tally.approvals_voided += len(model.fresh)
                model.fresh.clear()

    def item_ids(self) -> list[str]:
        return sorted({m.item_id for m in self.requests.values()})

    @precondition(lambda self: self.requests)
    @rule(data=st.data(), kind=st.sampled_from(["regrade", "relabel", "edit", "agreement",
                                                "route", "consent"]))
    def change(self, data: st.DataObject, kind: str) -> None:
        """One change, of any kind (a rule each would crowd the reviews out)."""
        item_id = data.draw(st.sampled_from(self.item_ids()))
        if kind == "regrade":
            self.regrade(item_id, data.draw(st.sampled_from(["p1", "p3"])),
                         data.draw(st.sampled_from(LEVELS)))
        elif kind in ("relabel", "edit"):
            self.relabel_or_edit(item_id, data.draw(st.sampled_from(["p1", "p2", "p3"])),
                                 "rel_to" if kind == "relabel" else "content")
        elif kind == "agreement":
            self.agreement_event(data.draw(st.sampled_from(["KOR-JPN-GSOMIA",
                                                            "USA-KOR-GSOMIA"])))
        elif kind == "route":
            self.route(data.draw(st.booleans()))
        else:
            self.consent("*" if data.draw(st.booleans()) else item_id)

    def regrade(self, item_id: str, portion: str, level: str) -> None:
        before = self.item(item_id)
        protection.regrade(self.deps, OFFICERS[0], item_id, portion, level, "reassessed")
        if self.item(item_id) != before:
            self.changed(lambda m: m.item_id == item_id)

    def relabel_or_edit(self, item_id: str, portion: str, what: str) -> None:
        """No service edits an item in place yet; the store is changed as an import
        with --replace would."""
        doc = item_to(self.item(item_id))
        p = next(p for p in doc["portions"] if p["id"] == portion)
        if what == "rel_to":
            rel = p["label"].get("rel_to") or []
            p["label"]["rel_to"] = ["USA"] if "JPN" in rel else ["JPN", "USA"]
        else:
            p["content"] += " (amended)"
        changed = item_from(doc, PARTIES, "KOR")
        with self.deps.uow() as uow:
            stored = uow.items.get(item_id)
            assert stored is not None
            uow.items.replace(StoredItem(changed, stored.created_by, stored.created_at),
                              min(PARTIES["KOR"].scheme.level(x.label.classification).rank
                                  for x in changed.portions))
            uow.commit()
        self.changed(lambda m: m.item_id == item_id)

    def agreement_event(self, agreement: str) -> None:
        """A notice of termination given or withdrawn (the agreement stays in force)."""
        kind = "NOTICE_WITHDRAWN" if agreement in self.notices else "NOTICE_GIVEN"
        self.now += timedelta(days=1)
        try:
            agreements.add_event(self.deps, ADMIN, agreement, {
                "kind": kind, "date": self.now.date().isoformat(), "by": "KOR"})
        except ServiceError:
            return  # e.g. the agreement was terminated by a route change
        self.notices ^= {agreement}
        party = "JPN" if agreement.startswith("KOR-JPN") else "USA"
        self.changed(lambda m: m.recipient == party)

    def route(self, end: bool) -> None:
        """The KOR–JPN GSOMIA ends today (JPN is then reached through the US hub under
        TISA), or is restored as first imported."""
        self.now += timedelta(days=1)
        if end:
            try:
                agreements.add_event(self.deps, ADMIN, "KOR-JPN-GSOMIA", {
                    "kind": "TERMINATED", "date": self.now.date().isoformat(), "by": "KOR"})
            except ServiceError:
                return
        else:
            with self.deps.uow() as uow:
                uow.agreements.put(seed_agreements()["KOR-JPN-GSOMIA"])
                uow.commit()
        self.notices.discard("KOR-JPN-GSOMIA")
        self.changed(lambda m: m.recipient == "JPN")

    def consent(self, item_id: str) -> None:
        """USA's written consent for its portion to go to JPN, recorded or withdrawn."""
        key = next((k for k, c in self.state.consents.items()
                    if c.consent.item_id == item_id), None)
        if key is not None:
            del self.state.consents[key]  # withdrawn
        else:
            releases.record_consent(self.deps, OFFICERS[0], {
                "originator": "USA", "recipient": "JPN", "item_id": item_id,
                "purpose": PURPOSE, "granted_by": "USFK J2", "granted_on": "2019-11-20"})
        self.changed(lambda m: m.recipient == "JPN" and item_id in ("*", m.item_id))

    @rule(hours=st.integers(1, 30))
    def time_passes(self, hours: int) -> None:
        """The clock moves on; nothing the decisions rest on changes with it here."""
        self.now += timedelta(hours=hours)

    def item(self, item_id: str) -> Any:
        with self.deps.uow() as uow:
            stored = uow.items.get(item_id)
            assert stored is not None
            return stored.item

    # --- invariants -------------------------------------------------------------------

    @invariant()
    def nothing_counted_that_should_not(self) -> None:
        assert not self.problems, self.problems[0]

    @invariant()
    def only_released_requests_left(self) -> None:
        with self.deps.uow() as uow:
            sent = {m.payload["request_id"] for m in uow.outbox.list(peer=None, limit=10**6)
                    if m.kind == "release"}
            released = {r.id for r in uow.releases.list(state="released", limit=10**6,
                                                         offset=0)}
        assert sent == released


FAST = settings(max_examples=60, stateful_step_count=30, deadline=None, database=None)


def test_approvals_before_a_change_never_count() -> None:
    run_state_machine_as_test(ReviewAfterChange, settings=FAST)
    t = TOTALS
    print(f"\nreview after change: {t.sequences} sequences, {t.changes} changes, "
          f"{t.approvals_voided} approvals voided, stale approvals counted "
          f"{t.stale_counted} of {t.releases} releases")
    assert t.stale_counted == 0 and t.releases > 0 and t.approvals_voided > 0


# --- planted faults: each must be caught -------------------------------------------------

def _ignores_the_basis(request: Any) -> tuple[str, ...]:
    """counted_approvers without the fingerprint check: every approval counts."""
    return tuple(dict.fromkeys(r.reviewer for r in request.reviews
                               if r.approve and r.reviewer != request.requested_by))


@contextmanager
def _planted(monkeypatch: pytest.MonkeyPatch, fault: str) -> Iterator[None]:
    with monkeypatch.context() as patch:
        if fault == "fingerprint check skipped":
            patch.setattr(review_domain, "counted_approvers", _ignores_the_basis)
        elif fault == "a non-reviewer approves":
            real = releases.require

            def lax(user: User, *roles: Role) -> None:
                if roles != (Role.REVIEWER,):
                    real(user, *roles)
            patch.setattr(releases, "require", lax)
        elif fault == "the requester approves":
            def check(request: Any, review: Any) -> None:
                if request.state.value != "pending":
                    raise review_domain.ReviewError("not pending")
                if any(r.reviewer == review.reviewer and r.basis == review.basis
                       for r in request.reviews):
                    raise review_domain.ReviewError("already reviewed")
            patch.setattr(review_domain, "_check_reviewer", check)

            def counted(request: Any) -> tuple[str, ...]:
                current = request.basis.digest
                return tuple(dict.fromkeys(r.reviewer for r in request.reviews
                                           if r.approve and r.basis == current))
            patch.setattr(review_domain, "counted_approvers", counted)
        yield


FAULTS = ["fingerprint check skipped", "a non-reviewer approves", "the requester approves"]
CAUGHT: list[str] = []


@pytest.mark.parametrize("fault", FAULTS)
def test_a_planted_fault_is_caught(fault: str, monkeypatch: pytest.MonkeyPatch) -> None:
    class Faulty(ReviewAfterChange):
        tally = Tally()

    hunt = settings(max_examples=200, stateful_step_count=30, deadline=None, database=None,
                    phases=[Phase.generate])
    with _planted(monkeypatch, fault), pytest.raises(AssertionError):
        run_state_machine_as_test(Faulty, settings=hunt)
    CAUGHT.append(fault)


def test_zz_report_the_faults_caught() -> None:
    """Runs after the planted faults in this module (pytest keeps file order)."""
    print(f"\nreview after change: planted faults caught {len(CAUGHT)} of {len(FAULTS)}")
    assert len(CAUGHT) == len(FAULTS)
