"""Purpose limitation in the release engine (issue 18 item 4). docs/rules.md#consent:
no use for another purpose without the originator's prior written consent naming
the grantee *and* the purpose. A consent unlocks only the purpose it names; an agreement may
list the purposes it permits; no purpose stated unlocks neither. Properties over generated
worlds (hypothesis) beside the worked cases."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st
from test_release_properties import dates, items

from liaison.domain.agreement_terms import Amendment, ReciprocityLimit, terms_at
from liaison.domain.agreements import Agreement, purpose_key
from liaison.domain.items import Item
from liaison.domain.release import decide
from liaison.domain.release_decision import Decision, Outcome, Verdict
from liaison.domain.release_facts import Consent, ReleaseFacts

from factories import facts, item, label, seed_agreements

ON = date(2017, 1, 1)
US = label("군사II급비밀", originator="USA", rel_to={"JPN", "USA"})
OURS = label("군사II급비밀", rel_to={"JPN", "USA"})
PURPOSES = ["missile warning", "targeting", "training"]
asked = st.sampled_from([None, *PURPOSES, " Missile  WARNING "])
FOREIGN = ["USA", "JPN", "CHN"]


def consent(purpose: str, item_id: str = "I1") -> Consent:
    return Consent("USA", "JPN", item_id, purpose, "USFK J2", ON)


def text_of(d: Decision, portion: str) -> str:
    return next(r.text for r in d.reasons if r.portion_id == portion)


def test_a_consent_unlocks_only_the_purpose_it_names() -> None:
    """Regression (issue 18: 'a consent for one purpose unlocks every purpose')."""
    f = facts(consents=(consent("missile warning"),))
    it = item(OURS, US)
    assert decide(it, "JPN", ON, f, "Missile  warning").tearline == ("p1", "p2")
    for other in ("targeting", None):
        d = decide(it, "JPN", ON, f, other)
        assert d.tearline == ("p1",)
        assert "for purpose 'missile warning' only" in text_of(d, "p2")
        assert "GSOMIA Arts 6-8" in text_of(d, "p2")


def test_a_consent_naming_no_purpose_unlocks_none() -> None:
    """docs/rules.md#consent: written consent names the purpose; one that names none (an old
    record) unlocks nothing: fail closed, with the reason."""
    d = decide(item(US), "JPN", ON, facts(consents=(consent(" "),)), "missile warning")
    assert d.outcome is Outcome.HELD
    assert "naming no purpose, so for none" in text_of(d, "p1")


def test_an_agreement_carries_only_the_purposes_it_permits() -> None:
    """An agreement listing purposes refuses others, naming them; the engine then tries
    the next agreement, as for scope (TISA relays through the US here)."""
    gsomia = [replace(a, purposes=frozenset({"missile warning"})) if a.id == "KOR-JPN-GSOMIA"
              else a for a in seed_agreements()]
    f = facts(tuple(gsomia))
    it = item(OURS)
    assert decide(it, "JPN", ON, f, "missile warning").agreement_id == "KOR-JPN-GSOMIA"
    other = decide(it, "JPN", ON, f, "targeting")
    assert (other.agreement_id, other.route) == ("TISA-2014", ("USA",))
    everywhere = facts(tuple(replace(a, purposes=frozenset({"missile warning"}))
                             for a in seed_agreements()))
    for purpose, why in ((None, "no purpose is stated"),
                         ("targeting", "'targeting' is not among them")):
        denied = decide(it, "JPN", ON, everywhere, purpose)
        assert denied.outcome is Outcome.DENIED and not denied.tearline
        said = " ".join(r.text for r in denied.reasons)
        assert "purpose limitation (GSOMIA Arts 6-8)" in said
        assert "KOR-JPN-GSOMIA permits release only for 'missile warning'" in said
        assert why in said


def restricted(agreements: tuple[Agreement, ...], allowed: frozenset[str]) -> tuple[Agreement,
                                                                                     ...]:
    return tuple(replace(a, purposes=allowed) for a in agreements)


@st.composite
def worlds(draw: st.DrawFn, it: Item) -> ReleaseFacts:
    consents = tuple(Consent(draw(st.sampled_from(["USA", "JPN", "KOR"])),
                             draw(st.sampled_from(FOREIGN)),
                             draw(st.sampled_from([it.id, "*"])),
                             draw(st.sampled_from([*PURPOSES, ""])), "x", ON)
                     for _ in range(draw(st.integers(0, 3))))
    return facts(consents=consents)


def released(d: Decision) -> set[str]:
    return set(d.tearline) if d.outcome is Outcome.ALLOWED else set()


@settings(max_examples=120, deadline=None)
@given(st.data(), items(), st.sampled_from(FOREIGN), dates, asked,
       st.frozensets(st.sampled_from(PURPOSES), min_size=1))
def test_adding_a_purpose_restriction_never_releases_more(
        data: st.DataObject, it: Item, to: str, on: date, purpose: str | None,
        allowed: frozenset[str]) -> None:
    """Restricting the agreements' purposes never widens a tearline nor turns a refusal
    into a release; a purpose outside the list releases nothing."""
    f = data.draw(worlds(it))
    before = decide(it, to, on, f, purpose)
    after = decide(it, to, on, replace(f, agreements=restricted(f.agreements, allowed)),
                   purpose)
    assert set(after.tearline) <= set(before.tearline)
    assert released(after) <= released(before)
    if purpose is None or purpose_key(purpose) not in {purpose_key(p) for p in allowed}:
        assert not after.tearline and after.outcome is Outcome.DENIED


@settings(max_examples=120, deadline=None)
@given(st.data(), items(), st.sampled_from(FOREIGN), dates, asked)
def test_a_consent_for_another_purpose_counts_as_none(data: st.DataObject, it: Item, to: str,
                                                      on: date, purpose: str | None) -> None:
    """Consents for other purposes (or none) leave the tearline and outcome exactly as with
    no consent at all; and stating no purpose is never more permissive than stating one."""
    f = data.draw(worlds(it))
    wanted = purpose_key(purpose) if purpose is not None else None
    others = tuple(c for c in f.consents if purpose_key(c.purpose) != wanted or not wanted)
    with_others = decide(it, to, on, replace(f, consents=others), purpose)
    without = decide(it, to, on, replace(f, consents=()), purpose)
    assert (with_others.outcome, with_others.tearline) == (without.outcome, without.tearline)
    silent = decide(it, to, on, f, None)
    assert released(silent) <= released(decide(it, to, on, f, purpose))
    assert set(silent.tearline) <= set(decide(it, to, on, f, purpose).tearline)


@settings(max_examples=150, deadline=None)
@given(items(), st.sampled_from(FOREIGN), dates, dates, asked,
       st.sampled_from([None, 0, 1]), st.sampled_from([None, frozenset({"training"})]))
def test_an_amendment_never_changes_a_decision_dated_before_it(
        it: Item, to: str, on: date, effective: date, purpose: str | None,
        limit: int | None, allowed: frozenset[str] | None) -> None:
    """History stays true: amending every agreement from ``effective`` leaves each
    decision dated earlier exactly as it was; from then on the engine reads the new terms."""
    change = Amendment(effective, "admin", effective, reciprocity=ReciprocityLimit(limit),
                       purposes=allowed)
    f = replace(facts(), balances={a.id: 1 for a in seed_agreements()})
    amended = replace(f, agreements=tuple(replace(a, amendments=(change,))
                                          for a in f.agreements))
    got = decide(it, to, on, amended, purpose)
    if on < effective:
        assert got == decide(it, to, on, f, purpose)
    else:
        now = tuple(terms_at(a, on) for a in amended.agreements)
        assert got == decide(it, to, on, replace(f, agreements=now), purpose)
    if got.outcome is Outcome.ALLOWED:
        governing = terms_at(next(a for a in amended.agreements if a.id == got.agreement_id), on)
        assert governing.max_imbalance is None or governing.max_imbalance > 1
        assert all(r.verdict is Verdict.PASS for r in got.reasons if r.portion_id is None)
