"""The authority rule for a partner's agreement note (domain.note_authority; issue 17)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.domain.agreement_lifecycle import Status, status_at
from liaison.domain.agreements import Agreement, AgreementEvent, EventKind
from liaison.domain.note_authority import act_refusal, as_recorded, note_refusal

from factories import agreement, d

TODAY = d("2026-01-05")
US = "KOR"


def signed_only() -> Agreement:
    return agreement("KOR-JPN-GSOMIA", events=[{"kind": "SIGNED", "date": "2016-11-23"}])


def ev(kind: str, on: str, by: str | None = "JPN", note: str = "") -> AgreementEvent:
    return AgreementEvent(EventKind(kind), d(on), by, note)


def apply(a: Agreement, sender: str, e: AgreementEvent) -> tuple[Agreement, str | None]:
    """What the service does: the rule, then the event in date order."""
    reason = note_refusal(a, sender, US, e, TODAY)
    if reason:
        return a, reason
    return a.with_event(as_recorded(e), lambda x: x.by == sender), None


def test_a_partners_entry_into_force_alone_is_its_notification_only() -> None:
    """Art. 21: in force from the later notification; one side's note is never the other's."""
    a, reason = apply(signed_only(), "JPN", ev("ENTERED_INTO_FORCE", "2025-12-01"))
    assert reason is None
    assert status_at(a, TODAY).state is Status.SIGNED
    assert "waiting for KOR" in status_at(a, TODAY).explanation
    assert a.events[-1] == ev("NOTIFIED", "2025-12-01")  # recorded as JPN's notification
    ours = a.with_event(ev("NOTIFIED", "2026-01-02", "KOR"))
    s = status_at(ours, TODAY)
    assert (s.state, s.in_force_since) == (Status.IN_FORCE, d("2026-01-02"))  # the later one
    _, why = apply(ours, "JPN", ev("ENTERED_INTO_FORCE", "2026-01-05"))
    assert why and "already in force" in why


def test_a_partner_cannot_withdraw_or_suspend_our_notice() -> None:
    a = agreement("KOR-JPN-GSOMIA")  # KOR's notice 2019, suspended, withdrawn 2023
    noticed = a.with_event(ev("NOTICE_GIVEN", "2025-12-01", "KOR"))
    for kind in ("NOTICE_WITHDRAWN", "NOTICE_SUSPENDED", "NOTICE_REACTIVATED"):
        after, reason = apply(noticed, "JPN", ev(kind, "2026-01-02"))
        assert reason and "given by KOR, not JPN" in reason, kind
        assert after is noticed
    assert act_refusal(noticed, ev("NOTICE_WITHDRAWN", "2026-01-02")) is not None
    assert act_refusal(noticed, ev("NOTICE_WITHDRAWN", "2026-01-02", None)) is None


def test_a_partner_withdrawing_its_own_notice_leaves_ours_in_effect() -> None:
    a = agreement("KOR-JPN-GSOMIA").with_event(ev("NOTICE_GIVEN", "2025-06-01", "KOR"))
    ends = status_at(a, TODAY).ends_on
    for kind, on in (("NOTICE_GIVEN", "2025-07-01"), ("NOTICE_WITHDRAWN", "2025-08-01")):
        a, reason = apply(a, "JPN", ev(kind, on))
        assert reason is None
    s = status_at(a, d("2025-09-01"))
    assert (s.state, s.ends_on) == (Status.NOTICE_GIVEN, ends)


def test_a_partner_withdrawing_its_earlier_notice_leaves_our_later_one() -> None:
    """Notices are kept per party: JPN's withdrawal removes JPN's notice, never ours, even
    when ours is the later one."""
    a, reason = apply(agreement("KOR-JPN-GSOMIA"), "JPN", ev("NOTICE_GIVEN", "2025-05-01"))
    assert reason is None
    a = a.with_event(ev("NOTICE_GIVEN", "2025-06-01", "KOR"))
    ours = status_at(a.with_event(ev("NOTICE_WITHDRAWN", "2025-07-01", "JPN")),
                     d("2025-08-01"))
    a, reason = apply(a, "JPN", ev("NOTICE_WITHDRAWN", "2025-07-01"))
    assert reason is None
    s = status_at(a, d("2025-08-01"))
    assert (s.state, s.notice_by, s.ends_on) == (Status.NOTICE_GIVEN, ("KOR",), ours.ends_on)
    assert s.ends_on == d("2025-11-22")


def test_dates_are_bounded_and_never_freeze_our_record() -> None:
    a = agreement("KOR-JPN-GSOMIA")
    for on, words in (("2099-12-31", "in the future"), ("2016-11-22", "before")):
        _, reason = apply(a, "JPN", ev("NOTICE_GIVEN", on))
        assert reason and words in reason
    a, reason = apply(a, "JPN", ev("NOTICE_GIVEN", "2026-01-06"))  # within the skew
    assert reason is None
    ours = a.with_event(ev("TERMINATED", "2026-01-05", None),
                        lambda x: x.by in (None, US))
    assert [e.kind for e in ours.events[-2:]] == [EventKind.TERMINATED, EventKind.NOTICE_GIVEN]
    assert status_at(ours, TODAY).state is Status.TERMINATED


def test_no_partner_touches_an_agreement_between_others_and_acts_only_for_itself() -> None:
    usa_jpn = agreement("USA-JPN-GSOMIA")
    _, reason = apply(usa_jpn, "JPN", ev("TERMINATED", "2026-01-01"))
    assert reason and "not a party" in reason
    _, reason = apply(agreement("KOR-JPN-GSOMIA"), "JPN", ev("TERMINATED", "2026-01-01", "KOR"))
    assert reason and "own act" in reason
    _, reason = apply(signed_only(), "JPN", ev("SIGNED", "2020-01-01"))
    assert reason and "signature" in reason


def test_a_tisa_party_binds_only_itself() -> None:
    tisa = agreement("TISA-2014")
    for kind in ("TERMINATED", "NOTICE_GIVEN"):
        _, reason = apply(tisa, "JPN", ev(kind, "2026-01-01"))
        assert reason and "binds 3 parties" in reason
    left, reason = apply(tisa, "JPN", ev("WITHDRAWN", "2026-01-01"))
    assert reason is None
    s = status_at(left, TODAY)
    assert (s.in_force, s.withdrawn) == (True, frozenset({"JPN"}))
    hub_left = left.with_event(ev("WITHDRAWN", "2026-01-02", "USA"))
    assert status_at(hub_left, TODAY).state is Status.TERMINATED


def test_unknown_party_on_a_notice_cannot_be_forged_into_the_record() -> None:
    """An act on a notice without a notice in effect is refused."""
    _, reason = apply(agreement("USA-KOR-GSOMIA"), "USA", ev("NOTICE_WITHDRAWN", "2026-01-01",
                                                             "USA"))
    assert reason and "no notice" in reason


# --- properties: whatever a partner sends, our status changes only as the rules allow ---

KINDS = [k.value for k in EventKind]
# mostly dates within the bounds and acts in JPN's name, so that most notes reach the later
# rules; the rest anywhere, in anyone's name
DAYS = st.one_of(st.dates(date(2016, 11, 23), TODAY + timedelta(days=1)),
                 st.dates(date(2015, 1, 1), date(2100, 1, 1)))
NOTE = st.tuples(st.sampled_from(KINDS), DAYS,
                 st.sampled_from(["JPN", "JPN", "JPN", "KOR", "USA", None]),
                 st.text(max_size=3))
NOTES = st.one_of(st.lists(NOTE, max_size=8),
                  st.lists(NOTE, max_size=8).map(lambda ns: sorted(ns, key=lambda n: n[1])))
PROBES = [date(2016, 11, 22) + timedelta(days=k) for k in range(0, 3700, 37)] + [TODAY]


def sent(a: Agreement, sender: str, notes: list[tuple[str, date, str | None, str]]
         ) -> tuple[Agreement, int]:
    accepted = 0
    for kind, on, by, text in notes:
        a, reason = apply(a, sender, AgreementEvent(EventKind(kind), on, by, text))
        accepted += reason is None
    return a, accepted


@st.composite
def our_record(draw: st.DrawFn) -> Agreement:
    """KOR–JPN signed 2016-11-23; maybe in force (our administrator's record), maybe
    KOR's notice, maybe KOR's suspension of it."""
    events = [{"kind": "SIGNED", "date": "2016-11-23"}]
    day = date(2016, 11, 23)
    steps = (("ENTERED_INTO_FORCE", None), ("NOTICE_GIVEN", "KOR"), ("NOTICE_SUSPENDED", "KOR"))
    for kind, by in steps[:draw(st.sampled_from([0, 1, 1, 2, 2, 2, 3]))]:
        day += timedelta(days=draw(st.integers(0, 1000)))
        events.append({"kind": kind, "date": day.isoformat(), "by": by})
    return agreement("KOR-JPN-GSOMIA", events=events)


@st.composite
def record_and_notes(draw: st.DrawFn) -> tuple[Agreement, list[tuple[str, date, str | None,
                                                                     str]]]:
    """Our record, and notes dated mostly close after one of our own events (where a
    partner's act on our notice would show)."""
    ours = draw(our_record())
    near = st.sampled_from([e.on for e in ours.events]).flatmap(
        lambda on: st.integers(0, 400).map(lambda k: on + timedelta(days=k)))
    acts_on_notices = ["NOTICE_GIVEN", "NOTICE_SUSPENDED", "NOTICE_WITHDRAWN",
                       "NOTICE_REACTIVATED"] * 2
    note = st.tuples(st.sampled_from(KINDS + acts_on_notices), st.one_of(near, DAYS),
                     st.sampled_from(["JPN", "JPN", "JPN", "KOR", None]), st.just(""))
    notes = draw(st.lists(note, max_size=8))
    return ours, sorted(notes, key=lambda n: n[1]) if draw(st.booleans()) else notes


@settings(max_examples=150, deadline=None)
@given(record_and_notes())
def test_a_partner_can_only_restrict_what_our_record_allows(
        world: tuple[Agreement, list[tuple[str, date, str | None, str]]]) -> None:
    """On every date: in force with the partner's notes only where our own record alone is
    in force; every act recorded is the partner's own, dated within bounds; our
    administrator can still record a termination today."""
    ours, notes = world
    full, _ = sent(ours, "JPN", notes)
    for day in PROBES:
        assert not status_at(full, day).in_force or status_at(ours, day).in_force, day
    theirs = [e for e in full.events if e not in ours.events]
    assert all(e.by == "JPN" and d("2016-11-23") <= e.on <= TODAY + timedelta(days=1)
               for e in theirs)
    ended = full.with_event(AgreementEvent(EventKind.TERMINATED, TODAY),
                            lambda e: e.by in (None, US))
    assert not status_at(ended, TODAY).in_force


@settings(max_examples=100, deadline=None)
@given(st.booleans(), NOTES)
def test_entry_into_force_needs_our_own_notification(
        we_notify: bool, notes: list[tuple[str, date, str | None, str]]) -> None:
    a = signed_only()
    if we_notify:
        a = a.with_event(AgreementEvent(EventKind.NOTIFIED, date(2020, 1, 1), "KOR"))
    full, _ = sent(a, "JPN", notes)
    for day in PROBES:
        s = status_at(full, day)
        assert not s.in_force or (we_notify and day >= date(2020, 1, 1)), day


@settings(max_examples=100, deadline=None)
@given(NOTES)
def test_a_tisa_party_cannot_end_the_arrangement_for_the_others(
        notes: list[tuple[str, date, str | None, str]]) -> None:
    tisa = agreement("TISA-2014")
    full, _ = sent(tisa, "JPN", notes)
    for day in PROBES:
        s = status_at(full, day)
        assert s.in_force == status_at(tisa, day).in_force, day
        assert s.withdrawn <= {"JPN"}
