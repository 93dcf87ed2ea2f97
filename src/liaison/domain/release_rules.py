"""The rules a release reads, one function each, citing the rule in every reason. Pure.

Which agreement governs (``gate_for``): the candidates that bind the node's party and the
recipient (``candidates``), in order of preference; the first in force on the date, whose
scope covers the discipline and topic, that no end of the route has left, and whose
permitted purposes include the release's, governs. Purpose (docs/rules.md#consent):
an agreement that lists permitted purposes carries only those; no purpose stated
(``None``) matches none of them: fail closed.

What each portion may carry (``portion_verdict``): its dissemination controls (STANAG
4774), the agreement's ceiling, the recipient's (and every hub's) equivalent level
(GSOMIA Art. 4), and the originator's written consent (GSOMIA Art. 6, ORCON).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from liaison.domain.agreement_lifecycle import AgreementStatus
from liaison.domain.agreements import Agreement, AgreementKind, purpose_key
from liaison.domain.items import Discipline, discipline_family
from liaison.domain.labels import (
    CAVEAT,
    COMPARTMENT,
    EYES,
    NOFORN,
    ORCON,
    REL_TO,
    CategoryType,
    Label,
    Party,
)
from liaison.domain.release_decision import Verdict
from liaison.domain.release_facts import ReleaseFacts


@dataclass(frozen=True, slots=True)
class PortionVerdict:
    verdict: Verdict
    text: str
    level: str | None = None  # the recipient's equivalent level when it passes
    level_rank: int = -1
    needs_consent_of: str | None = None


@dataclass(frozen=True, slots=True)
class Gate:
    """The item-level answer for one (discipline, topic): the governing agreement and
    route, or the reasons nothing governs."""

    agreement: Agreement | None
    route: tuple[str, ...]  # parties the envelope passes through before the recipient
    reasons: tuple[str, ...]


def candidates(facts: ReleaseFacts, recipient: str) -> list[tuple[Agreement, tuple[str, ...]]]:
    """Agreements that could carry a release from the owner to ``recipient``, in order of
    preference: bilateral GSOMIA, arrangement with one end at the hub, relay via the hub
    (docs/rules.md#hub-relay), then MOUs (which never carry classified exchange)."""
    owner = facts.owner.code
    Candidate = tuple[Agreement, tuple[str, ...]]
    direct: list[Candidate] = []
    relayed: list[Candidate] = []
    mous: list[Candidate] = []
    for ag in facts.agreements:
        if owner not in ag.parties or recipient not in ag.parties:
            continue
        if ag.kind is AgreementKind.MOU:
            mous.append((ag, ()))
        elif ag.kind is AgreementKind.ARRANGEMENT and ag.hub not in (owner, recipient):
            relayed.append((ag, (ag.hub or "",)))
        else:
            direct.append((ag, ()))
    direct.sort(key=lambda c: c[0].kind is not AgreementKind.GSOMIA)
    return direct + relayed + mous


def gate_for(facts: ReleaseFacts, recipient: str, at: date,
          candidates: list[tuple[Agreement, tuple[str, ...]]],
          discipline: str, topic: str, statuses: Mapping[int, AgreementStatus],
          purpose: str | None = None) -> Gate:
    owner = facts.owner.code
    if recipient == owner:
        return Gate(None, (), (f"{recipient} is this node's own party: nothing to release",))
    if recipient not in facts.parties:
        return Gate(None, (), (f"unknown party {recipient!r}: no agreement can cover it",))
    if not candidates:
        return Gate(None, (), (f"no agreement binds {owner} and {recipient}: nothing may pass",))
    family = discipline_family(Discipline(discipline))
    refusals: list[str] = []
    for ag, route in candidates:
        why_not = (_why_not(ag, at, statuses[id(ag)], family, topic)
                   or _left(ag, statuses[id(ag)], (owner, recipient, *route))
                   or _purpose_refused(ag, purpose))
        if why_not is None:
            return Gate(ag, route, (_governs(ag, route, at, statuses[id(ag)]),))
        refusals.append(why_not)
    return Gate(None, (), tuple(refusals))


def _why_not(ag: Agreement, at: date, status: AgreementStatus, family: frozenset[str],
             topic: str) -> str | None:
    if ag.kind is AgreementKind.MOU:
        return f"{ag.id} is an MOU: it opens a channel or talks, not classified exchange"
    if not status.in_force:
        return f"GSOMIA Art. 21: {ag.id} is not in force on {at} ({status.explanation})"
    if not ag.scope.covers_discipline(family):
        allowed = ", ".join(sorted(ag.scope.disciplines or ()))
        return f"scope: {min(family)} is outside {ag.id}'s disciplines ({allowed})"
    if not ag.scope.covers_topic(topic):
        allowed = ", ".join(sorted(ag.scope.topics or ()))
        return f"scope: topic {topic!r} is outside {ag.id}'s topics ({allowed})"
    return None


def _purpose_refused(ag: Agreement, purpose: str | None) -> str | None:
    """An agreement that lists permitted purposes carries information for those only
    (docs/rules.md#consent: no use for another purpose); empty: any."""
    if not ag.purposes:
        return None
    if purpose is not None and purpose_key(purpose) in {purpose_key(p) for p in ag.purposes}:
        return None
    allowed = "; ".join(repr(p) for p in sorted(ag.purposes))
    asked = (f"{purpose.strip()!r} is not among them" if purpose is not None
             else "no purpose is stated for this release")
    return (f"purpose limitation (GSOMIA Arts 6-8): {ag.id} permits "
            f"release only for {allowed}; {asked}")


def _left(ag: Agreement, status: AgreementStatus, ends: tuple[str, ...]) -> str | None:
    """An arrangement of several parties binds only those that have not left it: a party
    that withdrew neither sends, receives nor relays under it (the others stay bound)."""
    gone = sorted(status.withdrawn.intersection(ends))
    if not gone:
        return None
    return f"{ag.id}: {', '.join(gone)} withdrew from the arrangement; it carries nothing for them"


def _governs(ag: Agreement, route: tuple[str, ...], at: date, status: AgreementStatus) -> str:
    text = f"{ag.id} ({ag.kind}) in force on {at}: {status.explanation}"
    if route:
        text += (f"; relayed through hub {route[0]} (arrangement: no bilateral agreement "
                 f"between the ends carries it on {at}: none in force, or outside its scope "
                 f"or permitted purposes)")
    return text


def portion_verdict(facts: ReleaseFacts, recipient: str, gate: Gate,
                    label: Label) -> PortionVerdict:
    ag = gate.agreement
    assert ag is not None
    owner = facts.owner
    level = owner.scheme.level(label.classification)
    denial = _dissemination_denial(label, recipient, gate.route)
    if denial:
        return PortionVerdict(Verdict.DENY, denial)
    ceiling = ag.scope.max_level.get(owner.code)
    if ceiling and level.rank > owner.scheme.level(ceiling).rank:
        return PortionVerdict(Verdict.DENY, f"scope: {level.name} is above {ag.id}'s ceiling "
                                            f"{ceiling}")
    equivalent = _equivalent(ag, owner, level.name, level.rank, recipient, facts)
    if equivalent is None:
        return PortionVerdict(Verdict.DENY, f"GSOMIA Art. 4: no equivalent for {level.name} in "
                                            f"{recipient}'s scheme under {ag.id}; not released")
    for hop in gate.route:
        if _equivalent(ag, owner, level.name, level.rank, hop, facts) is None:
            return PortionVerdict(Verdict.DENY, f"GSOMIA Art. 4: hub {hop} has no equivalent "
                                                f"for {level.name} under {ag.id}")
    rank = facts.parties[recipient].scheme.level(equivalent).rank
    text = f"GSOMIA Art. 4: {level.name} = {equivalent} in {recipient}'s scheme ({ag.id})"
    consent_of = _consent_needed(label, owner.code, recipient)
    if consent_of:
        return PortionVerdict(Verdict.CONSENT, _consent_text(label, consent_of, recipient),
                              equivalent, rank, consent_of)
    return PortionVerdict(Verdict.PASS, text, equivalent, rank)


def _equivalent(ag: Agreement, owner: Party, level: str, rank: int, to: str,
                facts: ReleaseFacts) -> str | None:
    if rank == 0:  # unclassified needs no table row
        lowest = facts.parties[to].scheme.levels[-1]
        return lowest.name if lowest.rank == 0 else None
    return ag.table.translate(owner.code, level, to)


def _dissemination_denial(label: Label, recipient: str, route: tuple[str, ...]) -> str | None:
    """STANAG 4774: every RESTRICTIVE value held, one value of each PERMISSIVE category."""
    if NOFORN in label.caveats:
        return "NOFORN: never released to a foreign government (ISM-ID-00033)"
    for cat in label.categories:
        if cat.type is CategoryType.PERMISSIVE and cat.tag in (REL_TO, EYES):
            for party in (*route, recipient):
                if party not in cat.values:
                    listed = ", ".join(sorted(cat.values))
                    return f"STANAG 4774 {cat.tag} {listed}: does not include {party}"
        elif cat.type is CategoryType.PERMISSIVE:
            return f"STANAG 4774: {recipient} holds no value of permissive category {cat.tag}"
        elif cat.type is CategoryType.RESTRICTIVE and cat.tag == COMPARTMENT:
            return (f"STANAG 4774: compartment {', '.join(sorted(cat.values))} is never "
                    f"released to a foreign government")
        elif cat.type is CategoryType.RESTRICTIVE and cat.tag == CAVEAT:
            unknown = sorted(cat.values - {ORCON})
            if unknown:
                return f"STANAG 4774: {recipient} does not hold restrictive {', '.join(unknown)}"
    return None


def _consent_needed(label: Label, owner: str, recipient: str) -> str | None:
    """docs/rules.md#consent (third-party rule) and ORCON: the originator must consent in writing,
    unless the information goes back to its originator."""
    if label.originator == recipient:
        return None
    if label.originator != owner or ORCON in label.caveats:
        return label.originator
    return None


def _consent_text(label: Label, originator: str, recipient: str) -> str:
    rule = "ORCON" if ORCON in label.caveats and originator == label.policy else "GSOMIA Art. 6"
    return (f"{rule}: originated by {originator}; no written consent naming {recipient} "
            f"recorded; held until {originator} consents")
