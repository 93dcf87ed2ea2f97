"""Use cases over the in-memory twins: the release desk, and failing closed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from tests.twins import MemoryState, MemoryUnitOfWork

from liaison.domain.labels import Clearance
from liaison.domain.users import Role, User
from liaison.services import releases
from liaison.services.context import Deps
from liaison.services.errors import Forbidden, Invalid, NotFound, Refused
from liaison.services.items import create_item, get_item, list_items

from factories import seed_agreements

NOW = datetime(2019, 11, 23, 9, tzinfo=UTC)


def person(name: str, role: Role, rank: int = 4, topics: frozenset[str] | None = None) -> User:
    return User(name, name, frozenset({role}), Clearance(rank, frozenset(), topics))


KIM, LEE = person("kim", Role.ANALYST), person("lee", Role.RELEASE_OFFICER)
PARK, CHOI = person("park", Role.REVIEWER), person("choi", Role.REVIEWER)
ITEM: dict[str, Any] = {
    "id": "R1", "discipline": "HUMINT", "topic": "DPRK/missile", "grade": "B2", "title": "t",
    "reported_at": "2019-10-31T08:00:00Z",
    "portions": [{"id": "p1", "content": "two projectiles", "label": {
        "policy": "KOR", "classification": "군사II급비밀", "originator": "KOR",
        "created": "2019-10-31T08:00:00Z", "rel_to": ["JPN", "USA"]}},
        {"id": "p2", "content": "source", "label": {
            "policy": "KOR", "classification": "군사I급비밀", "originator": "KOR",
            "created": "2019-10-31T08:00:00Z", "rel_to": ["USA"]}}]}


@pytest.fixture
def deps() -> Deps:
    state = MemoryState()
    for a in seed_agreements():
        state.agreements[a.id] = a
    counter = iter(range(10**6))
    return Deps(uow=lambda: MemoryUnitOfWork(state), party="KOR", clock=lambda: NOW,
                ids=lambda: f"id{next(counter)}")


def test_release_desk_end_to_end(deps: Deps) -> None:
    create_item(deps, KIM, ITEM)
    req = releases.request_release(deps, LEE, "R1", "JPN", "warning", date(2019, 11, 23))
    assert req.tearline == ("p1",)
    assert req.required_reviews == 2
    releases.review(deps, PARK, req.id, True, None, "")
    done = releases.review(deps, CHOI, req.id, True, None, "")
    assert done.state.value == "released"
    entries = releases.ledger(deps, LEE, None, "JPN")
    assert [(e.level, e.discipline) for e in entries] == [("SECRET", "HUMINT")]


def test_a_database_fault_at_release_releases_nothing(deps: Deps,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail closed: a storage fault while releasing rolls the whole review back."""
    create_item(deps, KIM, ITEM)
    req = releases.request_release(deps, LEE, "R1", "JPN", "warning", date(2019, 11, 23))
    releases.review(deps, PARK, req.id, True, None, "")

    def broken(self: object, entry: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("tests.twins.sharing.MemoryLedger.add", broken)
    with pytest.raises(OSError, match="disk full"):
        releases.review(deps, CHOI, req.id, True, None, "")
    after = releases.get_request(deps, LEE, req.id)
    assert after.state.value == "pending"
    assert after.approvals == 1
    monkeypatch.undo()
    assert releases.ledger(deps, LEE, None, None) == []


def test_an_agreement_ended_before_approval_voids_it(deps: Deps) -> None:
    """Issue 18: the engine is asked again, on the node's clock, at the moment of review;
    the GSOMIA's end (the route moves to the relay through USA) voids the approval given
    before it, and only approvals given on the new route release it."""
    create_item(deps, KIM, ITEM)
    req = releases.request_release(deps, LEE, "R1", "JPN", "warning")
    releases.review(deps, PARK, req.id, True, None, "")
    with deps.uow() as uow:
        ended = seed_agreements(drop_events=("NOTICE_SUSPENDED", "NOTICE_WITHDRAWN"))[0]
        uow.agreements.put(ended)
        uow.commit()
    later = replace(deps, clock=lambda: datetime(2019, 12, 1, 9, tzinfo=UTC))
    voided = releases.review(later, CHOI, req.id, True, None, "")
    assert (voided.state.value, voided.approvals) == ("pending", 1)
    assert "no longer count (park)" in voided.voidings[-1].text
    assert voided.voidings[-1].changed == ("agreements", "route")
    assert voided.decision.route == ("USA",)
    done = releases.review(later, PARK, req.id, True, None, "")
    assert done.state.value == "released"
    assert [r.reviewer for r in done.reviews] == ["park", "choi", "park"]
    assert done.decision.at == date(2019, 12, 1)


def test_a_request_names_no_date_of_its_own(deps: Deps) -> None:
    """Issue 18: a release is never backdated; only the node's own date is accepted."""
    create_item(deps, KIM, ITEM)
    with pytest.raises(Invalid, match="node's clock"):
        releases.request_release(deps, LEE, "R1", "JPN", "warning", date(2003, 6, 1))
    assert releases.list_requests(deps, LEE, None, 10, 0) == []


def test_need_to_know_hides_items(deps: Deps) -> None:
    create_item(deps, KIM, ITEM)
    navy = person("navy", Role.ANALYST, topics=frozenset({"CHN/navy"}))
    with pytest.raises(NotFound):
        get_item(deps, navy, "R1")
    assert list_items(deps, navy, 10, 0) == ([], 0)
    junior = person("junior", Role.ANALYST, rank=3)
    assert [p.id for p in get_item(deps, junior, "R1").portions] == ["p1"]


def test_partial_clearance_cannot_release(deps: Deps) -> None:
    create_item(deps, KIM, ITEM)
    junior = person("junior", Role.RELEASE_OFFICER, rank=3)
    with pytest.raises(NotFound) as partly:  # issue 18: as for a missing item, no "part"
        releases.request_release(deps, junior, "R1", "USA", "x", None)
    with pytest.raises(NotFound) as missing:
        releases.request_release(deps, junior, "R9", "USA", "x", None)
    assert str(partly.value).replace("R1", "R9") == str(missing.value)
    assert "part of" not in str(partly.value)


def test_analysts_cannot_create_above_their_clearance(deps: Deps) -> None:
    junior = person("junior", Role.ANALYST, rank=3)
    with pytest.raises(Forbidden):
        create_item(deps, junior, ITEM)
    with deps.uow() as uow:
        assert uow.items.count() == 0


def test_mou_release_is_refused(deps: Deps) -> None:
    create_item(deps, KIM, ITEM)
    with pytest.raises(Refused, match="MOU"):
        releases.request_release(deps, LEE, "R1", "CHN", "x")


def test_memory_unit_of_work_discards_uncommitted(deps: Deps) -> None:
    with deps.uow() as uow:
        uow.settings.put("k", "v")
    with deps.uow() as uow:
        assert uow.settings.get("k") is None
