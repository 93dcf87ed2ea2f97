"""Agreements amended by dated, audited acts (issue 18 item 5): the terms in force on any
date, the rules an amendment meets, and that a partner's note never amends terms."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from tests.twins import MemoryState, MemoryUnitOfWork

from liaison.domain.agreement_terms import Amendment, ReciprocityLimit, amend, terms_at
from liaison.domain.agreements import AgreementError, Scope
from liaison.domain.codec import agreement_from, agreement_to, amendment_from
from liaison.domain.decoding import CodecError
from liaison.domain.labels import Clearance
from liaison.domain.release import decide
from liaison.domain.release_decision import Outcome
from liaison.domain.users import Role, User
from liaison.services import agreements as service
from liaison.services.context import Deps
from liaison.services.errors import Forbidden, Invalid

from factories import PARTIES, agreement, facts, item, label, seed_agreements

TODAY = date(2024, 6, 1)
GSOMIA = "KOR-JPN-GSOMIA"
ADMIN = User("admin", "admin", frozenset({Role.ADMIN}), Clearance(4, frozenset(), None))
OFFICER = User("lee", "lee", frozenset({Role.RELEASE_OFFICER}), Clearance(4, frozenset(), None))


def amendment(effective: date = TODAY, **terms: Any) -> Amendment:
    return Amendment(effective, "admin", TODAY, "exchange of notes", **terms)


def test_terms_in_force_follow_the_effective_date() -> None:
    """History stays true: a day before the amendment sees the old terms, its day and
    later the new ones; later amendments win over earlier ones, term by term."""
    base = agreement(GSOMIA)
    first = amendment(date(2024, 7, 1), reciprocity=ReciprocityLimit(5),
                      purposes=frozenset({"missile warning"}))
    second = amendment(date(2024, 9, 1), reciprocity=ReciprocityLimit(None))
    a = amend(amend(base, first, TODAY, PARTIES), second, TODAY, PARTIES)
    assert terms_at(a, date(2024, 6, 30)) is a
    assert (terms_at(a, date(2024, 6, 30)).max_imbalance, a.purposes) == (None, frozenset())
    july = terms_at(a, date(2024, 7, 1))
    assert (july.max_imbalance, july.purposes) == (5, frozenset({"missile warning"}))
    sept = terms_at(a, date(2024, 9, 1))
    assert (sept.max_imbalance, sept.purposes) == (None, frozenset({"missile warning"}))
    assert sept.table == base.table and sept.scope == base.scope and not sept.amendments


def test_an_amendment_round_trips_through_the_stored_form() -> None:
    a = amend(agreement(GSOMIA), amendment(
        reciprocity=ReciprocityLimit(None), purposes=frozenset(),
        scope=Scope(topics=frozenset({"DPRK"}), imagery_min_gsd_m=0.5)), TODAY, PARTIES)
    assert agreement_from(agreement_to(a), PARTIES) == a


@pytest.mark.parametrize(("change", "rule"), [
    ({}, "changes at least one term"),
    ({"effective": date(2024, 5, 31), "reciprocity": ReciprocityLimit(3)}, "past terms"),
    ({"reciprocity": ReciprocityLimit(-1)}, ">= 0"),
    ({"purposes": frozenset({"  "})}, "permitted purpose is 1 to"),
    ({"purposes": frozenset({"warn\x00ing"})}, "printable"),
    ({"purposes": frozenset({"Warning", "warning "})}, "repeat"),
    ({"scope": Scope(max_level={"KOR": "NO SUCH LEVEL"})}, "scope ceiling"),
])
def test_a_bad_amendment_names_the_rule(change: dict[str, Any], rule: str) -> None:
    effective = change.pop("effective", TODAY)
    with pytest.raises(AgreementError, match=rule):
        amend(agreement(GSOMIA), amendment(effective, **change), TODAY, PARTIES)


def test_an_ended_agreement_or_an_mou_is_not_amended() -> None:
    terminated = agreement_from({**agreement_to(agreement(GSOMIA)), "events": [
        {"kind": "SIGNED", "date": "2016-11-23"}, {"kind": "ENTERED_INTO_FORCE",
                                                   "date": "2016-11-23"},
        {"kind": "TERMINATED", "date": "2020-01-01"}]}, PARTIES)
    with pytest.raises(AgreementError, match="has ended"):
        amend(terminated, amendment(reciprocity=ReciprocityLimit(1)), TODAY, PARTIES)
    mou = next(a for a in seed_agreements() if a.kind.value == "MOU")
    with pytest.raises(AgreementError, match="MOU"):
        amend(mou, amendment(reciprocity=ReciprocityLimit(1)), TODAY, PARTIES)


def test_the_engine_reads_the_terms_in_force_on_the_decisions_date() -> None:
    """Regression (issue 18, 'terms need a re-import to change'): a reciprocity limit
    amended from a date holds releases from that date on, never before."""
    a = amend(agreement(GSOMIA), amendment(date(2024, 7, 1), reciprocity=ReciprocityLimit(2)),
              TODAY, PARTIES)
    others = tuple(x for x in seed_agreements() if x.id != GSOMIA)
    f = replace(facts((*others, a)), balances={GSOMIA: 2})
    it = item(label("군사II급비밀", rel_to={"JPN"}))
    assert decide(it, "JPN", date(2024, 6, 30), f).outcome is Outcome.ALLOWED
    held = decide(it, "JPN", date(2024, 7, 1), f)
    assert held.outcome is Outcome.HELD and "limit 2" in held.summary


def test_amendment_codec_refuses_unknown_fields() -> None:
    with pytest.raises(CodecError, match="unknown fields"):
        amendment_from({"effective": "2024-06-01", "events": []}, PARTIES)


@pytest.fixture
def deps() -> Deps:
    state = MemoryState()
    for a in seed_agreements():
        state.agreements[a.id] = a
    counter = iter(range(10**6))
    return Deps(uow=lambda: MemoryUnitOfWork(state), party="KOR",
                clock=lambda: datetime(2024, 6, 1, 9, tzinfo=UTC),
                ids=lambda: f"id{next(counter)}")


def stored(deps: Deps) -> dict[str, Any]:
    with deps.uow() as uow:
        found = uow.agreements.get(GSOMIA)
        assert found is not None
        return agreement_to(found)


def audit_count(deps: Deps) -> int:
    with deps.uow() as uow:
        return uow.audit.count()


def test_the_service_amends_audits_and_refuses_whole(deps: Deps) -> None:
    """Only an administrator amends; the act is audited with what it changes; bad input
    changes nothing (neither the agreement nor the audit log)."""
    before, records = stored(deps), audit_count(deps)
    with pytest.raises(Forbidden):
        service.amend_terms(deps, OFFICER, GSOMIA, {"effective": "2024-06-01",
                                                    "max_imbalance": 1})
    refused = [{"effective": "2024-05-01", "max_imbalance": 1},
               {"effective": "2024-06-01"},
               {"effective": "2024-06-01", "purposes": "warning"},
               {"effective": "2024-06-01", "table": [{"common": "SECRET",
                                                      "levels": {"KOR": ["없는 등급"]}}]},
               {"effective": "2024-06-01", "max_imbalance": 1, "recorded_by": "someone"},
               {"effective": "2024-06-01", "max_imbalance": 1, "note": "a\x00b"}]
    for body in refused:
        with pytest.raises(Invalid):
            service.amend_terms(deps, ADMIN, GSOMIA, body)
    assert (stored(deps), audit_count(deps)) == (before, records)
    print(f"bad amendments refused with nothing changed: {len(refused)} of {len(refused)}")
    changed = service.amend_terms(deps, ADMIN, GSOMIA, {
        "effective": "2024-07-01", "purposes": ["missile warning"], "note": "notes of 2024-05"})
    assert changed.amendments[0].recorded_by == "admin"
    with deps.uow() as uow:
        last = uow.audit.list(limit=10**6)[-1]
    assert (last.action, last.details["purposes"]) == ("agreement.amended",
                                                       ["missile warning"])


def test_a_partners_note_never_amends_terms(deps: Deps) -> None:
    """Amendments are our own acts: a note carrying terms, or of an amendment kind, is
    refused as malformed, and the terms stay as they were."""
    before = stored(deps)
    notes = [{"agreement": GSOMIA, "event": {"kind": "NOTICE_GIVEN", "date": "2024-06-01",
                                              "by": "JPN", "purposes": ["anything"]}},
             {"agreement": GSOMIA, "event": {"kind": "AMENDED", "date": "2024-06-01",
                                              "by": "JPN"}},
             {"agreement": GSOMIA, "amendment": {"effective": "2024-06-01",
                                                 "max_imbalance": None},
              "event": {"kind": "NOTIFIED", "date": "2024-06-01", "by": "JPN"}}]
    with deps.uow() as uow:
        reasons = [service.apply_note(uow, deps, "JPN", n) for n in notes]
    assert all(reasons), reasons
    assert stored(deps)["amendments"] == before["amendments"] == []
    print(f"partner notes that tried to amend terms refused: {len(notes)} of {len(notes)}")
