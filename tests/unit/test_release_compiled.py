"""The compiled release path (``ReleasePolicy``: shapes, memos, ``decide_all``) decides
exactly as plain ``decide()`` for arbitrary items, recipients, dates and facts, with a cold
policy and with one already warmed by other items (hypothesis). A wrong compiled decision
leaks: these tests compare every one, and check the rules that must hold whatever the
engine remembers (NOFORN, REL TO, compartments, the reciprocity hold). Worlds include
agreements that list permitted purposes or were amended, and consents for other purposes;
each ask states a purpose or none."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.domain.agreement_terms import Amendment, ReciprocityLimit, terms_at
from liaison.domain.agreements import Agreement, Scope
from liaison.domain.items import Discipline, Grade, Item, Portion, PortionKind
from liaison.domain.labels import Label
from liaison.domain.release import ReleasePolicy, decide
from liaison.domain.release_decision import Decision, Outcome
from liaison.domain.release_facts import Consent, ReleaseFacts

from factories import CREATED, KOR, facts, label, seed_agreements

LEVELS = [lv.name for lv in KOR.scheme.levels]
FOREIGN = ["USA", "JPN", "CHN", "PRK"]
RECIPIENTS = [*FOREIGN, "KOR", "XYZ"]
# caveat values: the known ones, and ones whose text collides with other labels' tokens
CAVEATS = ["ORCON", "NOFORN", "ORCON;REL TO:PERMISSIVE=JPN", "ORCON;REL TO:PERMISSIVE=USA",
           "X,Y"]
PORTION_IDS = ["p1", "p2", "p3", "p#1", "p1~KOR"]
TOPICS = ["DPRK/missile", "DPRK/nuclear/test", "CHN/navy", "RUS", "DPRK#p1~x"]
DISCIPLINES = ["HUMINT", "COMINT", "SIGINT", "IMINT", "OSINT", "NOT-A-DISCIPLINE"]
GRADE = Grade("B", 2)
BROKEN = Label("KOR", "NO SUCH LEVEL", "KOR", CREATED)
dates = st.dates(date(2012, 1, 1), date(2025, 12, 31))
PURPOSES = [None, "warning", " Warning ", "training"]
purposes = st.sampled_from(PURPOSES)


@st.composite
def labels(draw: st.DrawFn) -> Label:
    if draw(st.integers(0, 30)) == 0:
        return BROKEN  # fails closed, the same way on both paths
    level = draw(st.sampled_from(LEVELS))
    originator = draw(st.sampled_from(["KOR", "KOR", "USA", "JPN"]))
    kw: dict[str, object] = {}
    if level != "평문":
        control = draw(st.sampled_from(["rel_to", "eyes_only", "none", "none"]))
        if control != "none":
            kw[control] = set(draw(st.lists(st.sampled_from(FOREIGN), min_size=1,
                                            unique=True)))
        kw["caveats"] = caveats = set(draw(st.lists(st.sampled_from(CAVEATS), max_size=2,
                                                    unique=True)))
        if "NOFORN" in caveats:  # ISM-ID-00033: NOFORN excludes REL TO and EYES ONLY
            kw.pop("rel_to", None)
            kw.pop("eyes_only", None)
    if draw(st.integers(0, 4)) == 0:
        kw["compartments"] = {"TK"}
    if level != "평문" and set(kw) == {"caveats"} and not kw["caveats"] \
            and draw(st.integers(0, 6)) == 0:  # an informative category with a rule's tag
        kw["informative"] = {"CAVEAT": frozenset({"NOFORN"})}
    return label(level, originator, **kw)


@st.composite
def items(draw: st.DrawFn, item_id: str) -> Item:
    ls = draw(st.lists(labels(), min_size=1, max_size=4))
    ids = draw(st.lists(st.sampled_from(PORTION_IDS), min_size=len(ls), max_size=len(ls),
                        unique=True))
    portions = tuple(Portion(i, PortionKind.TEXT, "text", lb) for i, lb in zip(ids, ls,
                                                                              strict=True))
    discipline = draw(st.sampled_from(DISCIPLINES))
    return Item(item_id, "KOR", cast(Discipline, discipline), draw(st.sampled_from(TOPICS)),
                GRADE, "t", CREATED, portions)


def batches(n: int, prefix: str = "I") -> st.SearchStrategy[list[Item]]:
    return st.tuples(*(items(f"{prefix}{i}") for i in range(n))).map(list)


@st.composite
def worlds(draw: st.DrawFn) -> ReleaseFacts:
    """The seed agreements, some changed: reciprocity limits and balances, scopes, a
    notice dropped; consents for some items and for any item."""
    drop = draw(st.sampled_from([(), ("NOTICE_SUSPENDED", "NOTICE_WITHDRAWN")]))
    agreements: list[Agreement] = []
    for ag in seed_agreements(drop_events=drop):
        if draw(st.booleans()):
            ag = replace(ag, max_imbalance=draw(st.integers(0, 3)))
        if ag.kind.value == "GSOMIA" and draw(st.integers(0, 3)) == 0:
            ag = replace(ag, scope=draw(st.sampled_from([
                Scope(disciplines=frozenset({"SIGINT"})),
                Scope(topics=frozenset({"DPRK"})),
                Scope(max_level={"KOR": "군사II급비밀"})])))
        if draw(st.integers(0, 2)) == 0:
            ag = replace(ag, purposes=frozenset({"warning"}))
        if draw(st.integers(0, 2)) == 0:
            ag = replace(ag, amendments=(Amendment(
                draw(dates), "admin", date(2012, 1, 1),
                reciprocity=ReciprocityLimit(draw(st.sampled_from([None, 0, 2]))),
                purposes=draw(st.sampled_from([None, frozenset(), frozenset({"training"})])),
                scope=draw(st.sampled_from([None, Scope(topics=frozenset({"DPRK"}))]))),))
        agreements.append(ag)
    balances = {ag.id: draw(st.integers(-2, 5)) for ag in agreements}
    consents = tuple(
        Consent(draw(st.sampled_from(["KOR", "USA", "JPN"])), draw(st.sampled_from(FOREIGN)),
                draw(st.sampled_from(["I0", "I1", "N2", "*"])),
                draw(st.sampled_from(["warning", "training", ""])), "x",
                date(2012, 1, 1))
        for _ in range(draw(st.integers(0, 3))))
    return facts(tuple(agreements), consents, balances)


def plain(batch: list[Item], to: str, on: date, f: ReleaseFacts,
          purpose: str | None = None) -> list[Decision]:
    return [decide(it, to, on, f, purpose) for it in batch]


def twins(batch: list[Item], prefix: str) -> list[Item]:
    """The same shapes again: new items, new ids, fresh copies of every label."""
    return [replace(it, id=f"{prefix}{i}",
                    portions=tuple(replace(p, label=replace(p.label)) for p in it.portions))
            for i, it in enumerate(batch)]


@settings(max_examples=25, deadline=None)
@given(worlds(), batches(6), st.lists(st.tuples(st.sampled_from(RECIPIENTS), dates, purposes),
                                      min_size=1, max_size=3))
def test_a_cold_policy_decides_as_decide(f: ReleaseFacts, batch: list[Item],
                                         asks: list[tuple[str, date, str | None]]) -> None:
    policy = ReleasePolicy(f)
    for to, on, why in asks:
        expected = plain(batch + batch, to, on, f, why)
        assert policy.for_partner(to, on, why).decide_all(batch + batch) == expected
        assert ([policy.for_partner(to, on, why).decide(it) for it in batch]
                == expected[:len(batch)])


@settings(max_examples=25, deadline=None)
@given(worlds(), batches(5), batches(5, "N"), st.sampled_from(RECIPIENTS), dates, purposes)
def test_a_warm_policy_decides_as_decide(f: ReleaseFacts, first: list[Item],
                                         later: list[Item], to: str, on: date,
                                         why: str | None) -> None:
    """Warmed by other items (and other partners), the policy still answers each new item,
    each item of a known shape under another id, and each known item again, as ``decide``."""
    policy = ReleasePolicy(f)
    for other in RECIPIENTS:
        for purpose in PURPOSES:
            policy.for_partner(other, on, purpose).decide_all(first)
    partner = policy.for_partner(to, on, why)
    for batch in (later, twins(first, "I"), twins(later, "N"), first):
        assert partner.decide_all(batch) == plain(batch, to, on, f, why)
        assert [partner.decide(it) for it in batch] == plain(batch, to, on, f, why)


@settings(max_examples=25, deadline=None)
@given(worlds(), batches(8), st.sampled_from(FOREIGN), dates)
def test_compiled_decisions_keep_the_rules(f: ReleaseFacts, batch: list[Item], to: str,
                                           on: date) -> None:
    """Whatever the memo holds: no NOFORN, compartment or unlisted REL TO portion in a
    tearline, and nothing ALLOWED under an agreement whose reciprocity limit is reached."""
    policy = ReleasePolicy(f).for_partner(to, on)
    limits = {ag.id: terms_at(ag, on).max_imbalance for ag in f.agreements}
    for _ in range(2):
        for it, dec in zip(batch, policy.decide_all(batch), strict=True):
            labels_by_id = {p.id: p.label for p in it.portions}
            for pid in dec.tearline:
                lb = labels_by_id[pid]
                assert "NOFORN" not in lb.caveats
                assert not lb.compartments
                assert not lb.rel_to or {to, *dec.route} <= lb.rel_to
            if dec.outcome is Outcome.ALLOWED:
                limit = limits[dec.agreement_id or ""]
                assert limit is None or f.balances.get(dec.agreement_id or "", 0) < limit


def test_labels_with_colliding_tokens_are_told_apart() -> None:
    """``Label.token`` joins values with separators a caveat may contain: the compiled path
    must not take one label's verdict for the other's."""
    orcon = label("군사II급비밀", "JPN", rel_to={"JPN"}, caveats={"ORCON"})
    odd = label("군사II급비밀", "JPN", caveats={"ORCON;REL TO:PERMISSIVE=JPN"})
    assert orcon.token == odd.token
    f = facts()
    on = date(2017, 1, 1)
    one, two = (Item(f"I{i}", "KOR", Discipline.HUMINT, "DPRK/missile", GRADE, "t", CREATED,
                     (Portion("p1", PortionKind.TEXT, "x", lb),))
                for i, lb in enumerate((orcon, odd)))
    for order in ([one, two], [two, one]):
        policy = ReleasePolicy(f).for_partner("JPN", on)
        assert policy.decide_all(order) == plain(order, "JPN", on, f)
    assert decide(one, "JPN", on, f).tearline == ("p1",)
    assert decide(two, "JPN", on, f).outcome is Outcome.DENIED


def test_a_consent_naming_one_item_is_not_lent_to_its_twin() -> None:
    """Written consent names an item: another item of the same shape stays held."""
    us = label("군사II급비밀", "USA", rel_to={"JPN", "USA"})
    on = date(2017, 1, 1)
    f = facts(consents=(Consent("USA", "JPN", "I1", "warning", "USFK J2", on),))
    named, twin = (Item(i, "KOR", Discipline.HUMINT, "DPRK/missile", GRADE, "t", CREATED,
                        (Portion("p1", PortionKind.TEXT, "x", us),))
                   for i in ("I1", "I2"))
    policy = ReleasePolicy(f).for_partner("JPN", on, "warning")
    for batch in ([named, twin], [twin, named]):
        got = policy.decide_all(batch)
        assert got == plain(batch, "JPN", on, f, "warning")
    assert [d.outcome for d in policy.decide_all([named, twin])] == [Outcome.ALLOWED,
                                                                      Outcome.HELD]
