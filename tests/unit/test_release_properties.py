"""Properties of the release engine and review, over generated items, partners and dates
(hypothesis). These are the rules where leaks are born."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.domain.codec import agreement_from, agreement_to, item_from, item_to
from liaison.domain.items import Item, Portion, PortionKind
from liaison.domain.labels import Label
from liaison.domain.release import ReleasePolicy, decide
from liaison.domain.release_decision import Outcome, Verdict
from liaison.domain.release_facts import Consent
from liaison.domain.review import (
    Basis,
    Review,
    ReviewError,
    add_review,
    open_request,
    required_reviews,
)

from factories import KOR, PARTIES, facts, item, label, seed_agreements

LEVELS = [lv.name for lv in KOR.scheme.levels]
FOREIGN = ["USA", "JPN", "CHN", "PRK"]
RECIPIENTS = [*FOREIGN, "KOR", "XYZ"]
AGREEMENTS = seed_agreements()


@st.composite
def labels(draw: st.DrawFn) -> Label:
    level = draw(st.sampled_from(LEVELS))
    originator = draw(st.sampled_from(["KOR", "KOR", "KOR", "USA", "JPN"]))
    if level == "평문":
        return label(level, originator)
    control = draw(st.sampled_from(["rel_to", "eyes_only", "noforn", "none"]))
    kw: dict[str, object] = {}
    if control in ("rel_to", "eyes_only"):
        kw[control] = set(draw(st.lists(st.sampled_from(FOREIGN), min_size=1, unique=True)))
    caveats = set(draw(st.lists(st.sampled_from(["ORCON"]), max_size=1)))
    if control == "noforn":
        caveats.add("NOFORN")
    if draw(st.booleans()) and draw(st.booleans()):
        kw["compartments"] = {"TK"}
    return label(level, originator, caveats=caveats, **kw)


@st.composite
def items(draw: st.DrawFn) -> Item:
    ls = draw(st.lists(labels(), min_size=1, max_size=5))
    topic = draw(st.sampled_from(["DPRK/missile", "DPRK/nuclear/test", "CHN/navy", "RUS"]))
    discipline = draw(st.sampled_from(["HUMINT", "COMINT", "IMINT", "OSINT"]))
    return item(*ls, topic=topic, discipline=discipline)


dates = st.dates(date(2012, 1, 1), date(2025, 12, 31))
recipients = st.sampled_from(RECIPIENTS)


def consents_for(it: Item, recipient: str, grant: bool) -> tuple[Consent, ...]:
    if not grant:
        return ()
    return tuple(Consent(o, recipient, it.id, "p", "x", date(2012, 1, 1))
                 for o in {"KOR", "USA", "JPN"})


@settings(max_examples=300, deadline=None)
@given(items(), recipients, dates, st.booleans())
def test_a_denied_portion_is_never_in_a_tearline(it: Item, to: str, on: date,
                                                 grant: bool) -> None:
    dec = decide(it, to, on, facts(AGREEMENTS, consents_for(it, to, grant)))
    by_id = {r.portion_id: r.verdict for r in dec.reasons if r.portion_id}
    assert all(by_id[p] is Verdict.PASS for p in dec.tearline)
    assert all(p in dec.tearline for p, v in by_id.items() if v is Verdict.PASS)
    if dec.outcome is Outcome.ALLOWED:
        assert dec.tearline
        assert dec.recipient_level is not None
    if dec.outcome is Outcome.DENIED:
        assert not dec.tearline
    for p in it.portions:
        if p.id in dec.tearline:
            assert "NOFORN" not in p.label.caveats
            assert not p.label.rel_to or to in p.label.rel_to


UNDELIVERABLE = [label("군사II급비밀", caveats={"NOFORN"}), label("군사I급비밀", rel_to={"USA"}),
                 label("군사II급비밀", compartments={"TK"})]


@settings(max_examples=300, deadline=None)
@given(items(), st.sampled_from(["JPN", "USA"]), dates,
       st.lists(st.sampled_from(UNDELIVERABLE), min_size=1, max_size=3))
def test_undeliverable_portions_only_add_denials(it: Item, to: str, on: date,
                                                 extra: list[Label]) -> None:
    """The decision never depends on portions the recipient cannot receive, beyond
    denying them (no leak through outcome, level or other verdicts)."""
    f = facts(AGREEMENTS)
    base = decide(it, to, on, f)
    more = tuple(Portion(f"x{i}", PortionKind.TEXT, "x", lb) for i, lb in enumerate(extra))
    wider = decide(replace(it, portions=it.portions + more), to, on, f)
    if to == "USA":  # the TOP SECRET REL TO USA portion is deliverable to USA
        return
    assert wider.tearline == base.tearline
    assert wider.recipient_level == base.recipient_level
    if base.tearline:
        assert wider.outcome is base.outcome
    old = {r.portion_id: r for r in base.reasons if r.portion_id}
    for r in wider.reasons:
        if r.portion_id in old:
            assert r == old[r.portion_id]
        elif r.portion_id:
            assert r.verdict is Verdict.DENY


@settings(max_examples=100, deadline=None)
@given(st.lists(items(), min_size=1, max_size=20), recipients, dates, st.booleans())
def test_the_compiled_memo_is_transparent(batch: list[Item], to: str, on: date,
                                          grant: bool) -> None:
    batch = [replace(it, id=f"I{i}") for i, it in enumerate(batch)]
    consents = tuple(c for it in batch[::2] for c in consents_for(it, to, grant))
    f = facts(AGREEMENTS, consents)
    policy = ReleasePolicy(f).for_partner(to, on)
    for it in batch + batch:
        assert policy.decide(it) == decide(it, to, on, f)


def _request(tearline: tuple[str, ...], rank: int) -> object:
    dec = decide(item(*(label("군사III급비밀", rel_to={"USA"}) for _ in tearline)), "USA",
                 date(2017, 1, 1), facts(AGREEMENTS))
    return open_request(request_id="r", item_id="I1", recipient="USA", purpose="p",
                        requested_by="lee", requested_at=datetime(2017, 1, 1, tzinfo=UTC),
                        decision=dec, required=required_reviews(rank, KOR.two_person_rank),
                        basis=BASIS)


BASIS = Basis("l", "c", "a", "k", "r")
ON_BASIS = BASIS.digest


NOW = datetime(2017, 1, 2, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5), st.lists(st.sampled_from([f"p{i}" for i in range(1, 8)]),
                                   min_size=1, unique=True))
def test_reviewers_narrow_never_widen(n: int, chosen: list[str]) -> None:
    """docs/rules.md#two-person-review: a reviewer may narrow the tearline, never widen it."""
    req = _request(tuple(f"p{i}" for i in range(1, n + 1)), 1)
    allowed = set(req.tearline)  # type: ignore[attr-defined]
    review = Review("park", True, tuple(chosen), "", NOW, ON_BASIS)
    if set(chosen) <= allowed:
        after = add_review(req, review)  # type: ignore[arg-type]
        assert set(after.tearline) == set(chosen)
    else:
        with pytest.raises(ReviewError, match="never widen"):
            add_review(req, review)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 4))
def test_two_person_rule(rank: int) -> None:
    """docs/rules.md#two-person-review: two different reviewers at SECRET-equivalent, neither the
    requester."""
    req = _request(("p1",), rank)
    need = 2 if rank >= KOR.two_person_rank else 1
    assert req.required_reviews == need  # type: ignore[attr-defined]
    with pytest.raises(ReviewError, match="own request"):
        add_review(req, Review("lee", True, ("p1",), "", NOW, ON_BASIS))  # type: ignore[arg-type]
    once = add_review(req, Review("park", True, ("p1",), "", NOW, ON_BASIS))  # type: ignore[arg-type]
    with pytest.raises(ReviewError, match="already reviewed"):
        add_review(once, Review("park", True, ("p1",), "", NOW, ON_BASIS))


@settings(max_examples=150, deadline=None)
@given(items())
def test_item_codec_round_trip(it: Item) -> None:
    assert item_from(item_to(it), PARTIES, "KOR") == it


def test_agreement_codec_round_trip() -> None:
    for a in AGREEMENTS:
        assert agreement_from(agreement_to(a), PARTIES) == a


@settings(max_examples=100, deadline=None)
@given(items(), st.integers(0, 3650))
def test_decisions_are_stable_in_time_order(it: Item, days: int) -> None:
    """Deciding for a later date never changes an earlier decision (dates are inputs)."""
    f = facts(AGREEMENTS)
    first = decide(it, "JPN", date(2019, 11, 23), f)
    decide(it, "JPN", date(2019, 11, 23) + timedelta(days=days), f)
    assert decide(it, "JPN", date(2019, 11, 23), f) == first


@settings(max_examples=50, deadline=None)
@given(st.lists(items(), min_size=1, max_size=20), recipients, dates)
def test_decide_all_equals_decide(batch: list[Item], to: str, on: date) -> None:
    f = facts(AGREEMENTS)
    policy = ReleasePolicy(f).for_partner(to, on)
    assert policy.decide_all(batch + batch) == [decide(it, to, on, f) for it in batch + batch]
