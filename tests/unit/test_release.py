"""The release engine, rule by rule (docs/rules.md)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from liaison.domain.agreements import AgreementEvent, EventKind
from liaison.domain.labels import Label
from liaison.domain.release import decide
from liaison.domain.release_decision import Outcome, Verdict
from liaison.domain.release_facts import Consent

from factories import agreement, d, facts, item, label, seed_agreements


def verdicts(decision: object) -> dict[str | None, Verdict]:
    return {r.portion_id: r.verdict for r in decision.reasons if r.portion_id}  # type: ignore[attr-defined]


def texts(decision: object) -> str:
    return " | ".join(r.text for r in decision.reasons)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("level", "equivalent"), [("군사II급비밀", "極秘"),
                                                    ("군사III급비밀", "秘")])
def test_korea_japan_equivalence(level: str, equivalent: str) -> None:
    """docs/rules.md#equivalence: 軍事II = 極秘 = SECRET, III = 秘 = CONFIDENTIAL."""
    dec = decide(item(label(level, rel_to={"JPN"})), "JPN", d("2017-01-01"), facts())
    assert dec.outcome is Outcome.ALLOWED
    assert dec.recipient_level == equivalent


@pytest.mark.parametrize("level", ["군사I급비밀", "대외비"])
def test_no_row_no_release(level: str) -> None:
    """docs/rules.md#no-equivalent: no TOP SECRET row; an item whose level has no row is not
    released."""
    dec = decide(item(label(level, rel_to={"JPN"})), "JPN", d("2017-01-01"), facts())
    assert dec.outcome is Outcome.DENIED
    assert "GSOMIA Art. 4: no equivalent" in texts(dec)


def test_unclassified_needs_no_row() -> None:
    dec = decide(item(label("평문")), "JPN", d("2017-01-01"), facts())
    assert dec.outcome is Outcome.ALLOWED
    assert dec.recipient_level == "指定なし"


@pytest.mark.parametrize(("on", "outcome", "route"), [
    ("2014-06-01", Outcome.DENIED, ()),
    ("2015-06-01", Outcome.ALLOWED, ("USA",)),
    ("2016-11-22", Outcome.ALLOWED, ("USA",)),
    ("2016-11-23", Outcome.ALLOWED, ()),
    ("2019-09-01", Outcome.ALLOWED, ()),
    ("2019-11-23", Outcome.ALLOWED, ()),
    ("2023-06-01", Outcome.ALLOWED, ()),
])
def test_korea_to_japan_across_the_years(on: str, outcome: Outcome,
                                         route: tuple[str, ...]) -> None:
    """docs/rules.md#reference-dates: TISA 2014-12-29 (hub USA), GSOMIA 2016-11-23, notice
    2019-08-23, suspension 2019-11-22, withdrawal 2023-03-21."""
    dec = decide(item(label("군사II급비밀", rel_to={"JPN", "USA"})), "JPN", d(on), facts())
    assert (dec.outcome, dec.route) == (outcome, route)


def test_without_suspension_only_the_hub_remains() -> None:
    """Counterfactual: without the suspension the GSOMIA ends after 2019-11-22; only TISA's
    scope (DPRK nuclear and missile) can still pass, through the hub."""
    ags = seed_agreements(drop_events=("NOTICE_SUSPENDED", "NOTICE_WITHDRAWN"))
    missile = decide(item(label("군사II급비밀", rel_to={"JPN", "USA"})), "JPN",
                     d("2019-12-01"), facts(ags))
    assert missile.route == ("USA",)
    navy = decide(item(label("군사II급비밀", rel_to={"JPN", "USA"}), topic="CHN/navy"), "JPN",
                  d("2019-12-01"), facts(ags))
    assert navy.outcome is Outcome.DENIED
    assert "not in force" in texts(navy)
    assert "outside TISA-2014's topics" in texts(navy)


def test_relay_needs_the_hub_in_rel_to() -> None:
    """docs/rules.md#hub-relay: under TISA the hub receives the item, so it must be releasable
    to the hub too."""
    dec = decide(item(label("군사II급비밀", rel_to={"JPN"})), "JPN", d("2015-06-01"), facts())
    assert dec.outcome is Outcome.DENIED
    assert "does not include USA" in texts(dec)


def test_noforn_and_rel_to_and_compartments() -> None:
    """STANAG 4774: every RESTRICTIVE value, one value of each PERMISSIVE category."""
    it = item(label("군사II급비밀", caveats={"NOFORN"}), label("군사II급비밀", rel_to={"USA"}),
              label("군사II급비밀", compartments={"TK"}), label("군사II급비밀", rel_to={"JPN"}))
    dec = decide(it, "JPN", d("2017-01-01"), facts())
    v = verdicts(dec)
    assert [v["p1"], v["p2"], v["p3"], v["p4"]] == [Verdict.DENY] * 3 + [Verdict.PASS]
    assert dec.tearline == ("p4",)


def test_third_party_rule_holds_until_consent() -> None:
    """docs/rules.md#consent: no release to a third party without the
    originator's prior written consent naming the grantee."""
    us = label("군사II급비밀", originator="USA", rel_to={"JPN", "USA"})
    alone = decide(item(us), "JPN", d("2017-01-01"), facts())
    assert alone.outcome is Outcome.HELD
    mixed = decide(item(label("군사II급비밀", rel_to={"JPN"}), us), "JPN", d("2017-01-01"),
                   facts())
    assert (mixed.outcome, mixed.tearline) == (Outcome.ALLOWED, ("p1",))
    consent = Consent("USA", "JPN", "I1", "warning", "USFK J2", d("2017-01-01"))
    given = decide(item(label("군사II급비밀", rel_to={"JPN"}), us), "JPN", d("2017-01-01"),
                   facts(consents=(consent,)), "warning")
    assert given.tearline == ("p1", "p2")
    other = replace(consent, recipient="CHN")
    assert decide(item(us), "JPN", d("2017-01-01"),
                  facts(consents=(other,))).outcome is Outcome.HELD


def test_information_may_go_back_to_its_originator() -> None:
    us = label("군사II급비밀", originator="USA", rel_to={"USA"})
    assert decide(item(us), "USA", d("2017-01-01"), facts()).outcome is Outcome.ALLOWED


def test_orcon_needs_the_originators_approval() -> None:
    dec = decide(item(label("군사II급비밀", rel_to={"USA"}, caveats={"ORCON"})), "USA",
                 d("2017-01-01"), facts())
    assert dec.outcome is Outcome.HELD
    assert "ORCON" in texts(dec)


def test_mou_never_carries_items() -> None:
    """docs/rules.md#agreement-kinds: an MOU opens a channel or talks, not the exchange of
    classified information."""
    dec = decide(item(label("군사III급비밀", rel_to={"CHN"})), "CHN", d("2019-01-01"), facts())
    assert dec.outcome is Outcome.DENIED
    assert "MOU" in texts(dec)


@pytest.mark.parametrize(("recipient", "message"), [
    ("XYZ", "unknown party"), ("KOR", "own party"), ("PRK", "MOU")])
def test_bad_recipients_are_denied(recipient: str, message: str) -> None:
    dec = decide(item(label("군사II급비밀")), recipient, d("2019-01-01"), facts())
    assert dec.outcome is Outcome.DENIED
    assert message in texts(dec)


@pytest.mark.parametrize(("balance", "outcome"), [(2, Outcome.ALLOWED), (3, Outcome.HELD),
                                                   (9, Outcome.HELD), (-5, Outcome.ALLOWED)])
def test_reciprocity_hold(balance: int, outcome: Outcome) -> None:
    """docs/rules.md#reciprocity: policy may hold releases when the balance is too one-sided."""
    g = agreement("KOR-JPN-GSOMIA", max_imbalance=3)
    dec = decide(item(label("군사II급비밀", rel_to={"JPN"})), "JPN", d("2017-01-01"),
                 facts((g,), balances={"KOR-JPN-GSOMIA": balance}))
    assert dec.outcome is outcome


def test_discipline_scope_covers_children() -> None:
    """docs/rules.md#disciplines: SIGINT (COMINT, ELINT, FISINT)."""
    g = agreement("KOR-JPN-GSOMIA", scope={"disciplines": ["SIGINT"]})
    it = item(label("군사II급비밀", rel_to={"JPN"}), discipline="COMINT")
    assert decide(it, "JPN", d("2017-01-01"), facts((g,))).outcome is Outcome.ALLOWED
    hum = item(label("군사II급비밀", rel_to={"JPN"}), discipline="HUMINT")
    dec = decide(hum, "JPN", d("2017-01-01"), facts((g,)))
    assert dec.outcome is Outcome.DENIED
    assert "outside" in texts(dec)


def test_scope_ceiling() -> None:
    g = agreement("USA-KOR-GSOMIA", scope={"max_level": {"KOR": "군사II급비밀"}})
    dec = decide(item(label("군사I급비밀", rel_to={"USA"})), "USA", d("2017-01-01"), facts((g,)))
    assert dec.outcome is Outcome.DENIED
    assert "ceiling" in texts(dec)


def test_broken_facts_fail_closed() -> None:
    """Fail closed: a fault in the facts denies, with the reason; the engine never raises."""
    broken = Label("KOR", "NO SUCH LEVEL", "KOR", label("군사II급비밀").created)
    dec = decide(item(broken), "JPN", d("2017-01-01"), facts())
    assert dec.outcome is Outcome.DENIED
    assert "fail closed" in texts(dec)


def test_a_party_that_left_an_arrangement_gets_nothing_under_it() -> None:
    """A TISA-style arrangement binds only the parties still in it: once JPN withdrew, the
    counterfactual relay KOR -> USA -> JPN of the test above is denied, naming the
    withdrawal (planted fault: the engine ignoring ``AgreementStatus.withdrawn``)."""
    ags = seed_agreements(drop_events=("NOTICE_SUSPENDED", "NOTICE_WITHDRAWN"))
    event = AgreementEvent(EventKind.WITHDRAWN, d("2019-06-01"), "JPN", "")
    left = tuple(a.with_event(event) if a.id == "TISA-2014" else a for a in ags)
    missile = item(label("군사II급비밀", rel_to={"JPN", "USA"}))
    assert decide(missile, "JPN", d("2019-12-01"), facts(ags)).route == ("USA",)
    dec = decide(missile, "JPN", d("2019-12-01"), facts(left))
    assert dec.outcome is Outcome.DENIED
    assert "JPN withdrew from the arrangement" in texts(dec)
