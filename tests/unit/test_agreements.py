"""Agreement lifecycle (docs/rules.md#term-and-renewal)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from liaison.domain.agreement_lifecycle import LifecycleRules, Status, status_at
from liaison.domain.agreements import (
    Agreement,
    AgreementError,
    AgreementEvent,
    AgreementKind,
    EventKind,
    validate_agreement,
)
from liaison.domain.codec import agreement_from
from liaison.domain.decoding import CodecError

from factories import PARTIES, agreement, d, seed_data


def test_korea_japan_history_2016_to_2023() -> None:
    """docs/rules.md#notice-2019: signed and in force 2016-11-23; notice 2019-08-23 ends
    it after 2019-11-22; suspended 2019-11-22; withdrawn 2023-03-21."""
    g = agreement("KOR-JPN-GSOMIA")
    expected = {
        "2016-11-22": (Status.NEGOTIATING, False),
        "2016-11-23": (Status.IN_FORCE, True),
        "2019-08-22": (Status.IN_FORCE, True),
        "2019-08-23": (Status.NOTICE_GIVEN, True),
        "2019-11-21": (Status.NOTICE_GIVEN, True),
        "2019-11-22": (Status.NOTICE_SUSPENDED, True),
        "2019-11-23": (Status.NOTICE_SUSPENDED, True),
        "2022-01-01": (Status.NOTICE_SUSPENDED, True),
        "2023-03-21": (Status.IN_FORCE, True),
        "2026-11-23": (Status.IN_FORCE, True),
    }
    for day, (state, in_force) in expected.items():
        s = status_at(g, d(day))
        assert (s.state, s.in_force) == (state, in_force), day
    assert status_at(g, d("2019-09-01")).ends_on == d("2019-11-22")


def test_without_the_suspension_the_agreement_ends_after_2019_11_22() -> None:
    """docs/rules.md#term-and-renewal: notice 90 days before the anniversary ends it at the
    anniversary."""
    events = [e for e in seed_data()[0]["events"] if e["kind"] in ("SIGNED",
              "ENTERED_INTO_FORCE", "NOTICE_GIVEN")]
    g = agreement("KOR-JPN-GSOMIA", events=events)
    assert status_at(g, d("2019-11-22")).in_force
    ended = status_at(g, d("2019-11-23"))
    assert ended.state is Status.TERMINATED
    assert not ended.in_force


def test_events_after_the_end_do_not_revive_it() -> None:
    """A suspension dated after the effective end cannot bring the agreement back."""
    events = [e for e in seed_data()[0]["events"][:3]]
    events.append({"kind": "NOTICE_SUSPENDED", "date": "2019-12-01", "by": "KOR"})
    g = agreement("KOR-JPN-GSOMIA", events=events)
    assert status_at(g, d("2020-01-01")).state is Status.TERMINATED


def _gsomia(notice: date) -> Agreement:
    return Agreement("X", AgreementKind.GSOMIA, "x", frozenset({"KOR", "USA"}), events=(
        AgreementEvent(EventKind.ENTERED_INTO_FORCE, date(2020, 1, 1)),
        AgreementEvent(EventKind.NOTICE_GIVEN, notice, "KOR")))


@pytest.mark.parametrize(("lead", "inclusive", "last_day"), [
    (91, True, "2022-12-31"), (90, True, "2022-12-31"), (90, False, "2023-12-31"),
    (89, True, "2023-12-31"), (89, False, "2023-12-31")])
def test_ninety_day_cut_off_is_a_setting(lead: int, inclusive: bool, last_day: str) -> None:
    """docs/rules.md#notice-cut-off: the cut-off day (is the 90th day inclusive?) is a setting."""
    notice = date(2023, 1, 1) - timedelta(days=lead)
    s = status_at(_gsomia(notice), notice, LifecycleRules(notice_cutoff_inclusive=inclusive))
    assert s.ends_on == d(last_day)


def test_non_renewing_agreement_expires() -> None:
    a = Agreement("X", AgreementKind.ARRANGEMENT, "x", frozenset({"KOR", "USA"}), hub="USA",
                  auto_renew=False, term_years=2,
                  events=(AgreementEvent(EventKind.ENTERED_INTO_FORCE, date(2020, 3, 1)),))
    assert status_at(a, date(2022, 2, 28)).in_force
    assert status_at(a, date(2022, 3, 1)).state is Status.EXPIRED


def test_withdrawal_before_entry_into_force() -> None:
    a = Agreement("X", AgreementKind.GSOMIA, "x", frozenset({"KOR", "USA"}), events=(
        AgreementEvent(EventKind.SIGNED, date(2020, 1, 1)),
        AgreementEvent(EventKind.WITHDRAWN, date(2020, 6, 1), "USA")))
    assert status_at(a, date(2020, 3, 1)).state is Status.SIGNED
    assert status_at(a, date(2020, 7, 1)).state is Status.WITHDRAWN


def test_liaison_office_terminated_2020_06_16() -> None:
    """docs/rules.md#reference-dates: inter-Korean liaison office 2018-09-14 to 2020-06-16."""
    a = agreement("KOR-PRK-LIAISON")
    assert status_at(a, d("2020-06-15")).in_force
    assert status_at(a, d("2020-06-16")).state is Status.TERMINATED


def test_history_is_appended_never_rewritten() -> None:
    g = agreement("KOR-JPN-GSOMIA")
    with pytest.raises(AgreementError, match="dated before"):
        g.with_event(AgreementEvent(EventKind.NOTICE_GIVEN, d("2020-01-01"), "KOR"))


@pytest.mark.parametrize(("change", "message"), [
    ({"parties": ["KOR", "JPN", "USA"]}, "bilateral"),
    ({"parties": ["KOR"]}, "at least two"),
    ({"parties": ["KOR", "XXX"]}, "unknown parties"),
    ({"kind": "ARRANGEMENT", "hub": None}, "hub"),
    ({"table": [{"common": "S", "levels": {"JPN": ["極秘X"], "KOR": ["군사II급비밀"]}}]},
     "no level"),
    ({"events": [{"kind": "SIGNED", "date": "2020-01-02"},
                 {"kind": "ENTERED_INTO_FORCE", "date": "2020-01-01"}]}, "date order"),
    ({"events": [{"kind": "NOTICE_GIVEN", "date": "2020-01-02", "by": "USA"}]}, "not a party"),
])
def test_invalid_agreements_are_refused(change: dict[str, object], message: str) -> None:
    data = {**seed_data()[0], **change}
    with pytest.raises(CodecError, match=message):
        agreement_from(data, PARTIES)


def test_a_node_holds_dozens_of_agreements() -> None:
    """docs/rules.md#reference-dates: Korea counts 31–32 GSOMIAs; a node must hold dozens."""
    from liaison.domain.labels import Party
    from liaison.domain.parties import scheme_from_names

    parties = dict(PARTIES)
    agreements = []
    for i in range(32):
        code = "Q" + chr(65 + i // 26) + chr(65 + i % 26)
        parties[code] = Party(code, code, scheme_from_names(code, [("S", "S"), ("C", "C")],
                                                            "U"))
        a = Agreement(f"KOR-{code}", AgreementKind.GSOMIA, code, frozenset({"KOR", code}),
                      events=(AgreementEvent(EventKind.ENTERED_INTO_FORCE,
                                             date(1990 + i % 30, 1, 1)),))
        validate_agreement(a, parties)
        agreements.append(a)
    in_force = [a for a in agreements if status_at(a, date(2010, 1, 1)).in_force]
    assert len(in_force) == 23  # 1990–2010 (21) and the two that wrap to 1990, 1991
