"""The release engine: may this item go to that partner on that date, and which portions?

Pure: no I/O. ``decide(item, recipient, at, facts)`` never raises: any fault in the facts
or the engine denies, with the reason (fail closed).

Speed: ``ReleasePolicy(facts).for_partner(recipient, at)`` compiles the agreements that
bind the node's party and the recipient on that date into a ``PartnerPolicy``. One
decision is then a memo lookup by the item's release token; on a miss, a lookup per
portion label and one per (discipline, topic).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from liaison.domain.agreements import (
    Agreement,
    AgreementKind,
    AgreementStatus,
    LifecycleRules,
    status_at,
)
from liaison.domain.items import Discipline, Item, discipline_family
from liaison.domain.labels import (
    CAVEAT,
    COMPARTMENT,
    EYES,
    NOFORN,
    ORCON,
    REL_TO,
    CategoryType,
    Label,
    LabelError,
    Party,
)


class Outcome(StrEnum):
    ALLOWED = "allowed"
    HELD = "held"
    DENIED = "denied"


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a secret
    DENY = "deny"
    CONSENT = "needs consent"


@dataclass(frozen=True, slots=True)
class Consent:
    """Written consent of an originator (GSOMIA Art. 6 / DOMAIN Protection 1): its
    information in ``item_id`` may go to ``recipient`` for ``purpose``."""

    originator: str
    recipient: str
    item_id: str
    purpose: str
    granted_by: str
    granted_on: date


@dataclass(frozen=True)
class ReleaseFacts:
    """What the engine knows besides the item. ``balances``: per agreement id, how many
    more releases this node has given than received (reciprocity ledger)."""

    owner: Party
    parties: Mapping[str, Party]
    agreements: tuple[Agreement, ...]
    consents: tuple[Consent, ...] = ()
    balances: Mapping[str, int] = field(default_factory=dict)
    rules: LifecycleRules = field(default_factory=LifecycleRules)


@dataclass(frozen=True, slots=True)
class Reason:
    portion_id: str | None  # None: a reason about the whole item
    verdict: Verdict
    text: str  # cites the rule, e.g. "GSOMIA Art. 4: ..."


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


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    recipient: str
    at: date
    agreement_id: str | None
    route: tuple[str, ...]
    recipient_level: str | None
    tearline: tuple[str, ...]  # ids of the portions that pass
    reasons: tuple[Reason, ...]

    @property
    def summary(self) -> str:
        head = f"{self.outcome.value.upper()} to {self.recipient} on {self.at}"
        if self.outcome is Outcome.ALLOWED:
            via = f" via {', '.join(self.route)}" if self.route else ""
            return f"{head} as {self.recipient_level}{via}: {len(self.tearline)} portion(s)"
        first = next((r.text for r in self.reasons if r.verdict is not Verdict.PASS), "")
        return f"{head}: {first}"


def decide(item: Item, recipient: str, at: date, facts: ReleaseFacts) -> Decision:
    """Decide one release. Never raises: a fault denies, with the reason."""
    try:
        return ReleasePolicy(facts).for_partner(recipient, at).decide(item)
    except Exception as exc:  # fail closed
        return denied(recipient, at, f"fail closed: the engine could not decide ({exc})")


def denied(recipient: str, at: date, text: str) -> Decision:
    return Decision(Outcome.DENIED, recipient, at, None, (), None, (),
                    (Reason(None, Verdict.DENY, text),))


class ReleasePolicy:
    """The node's compiled view of its agreements; one ``PartnerPolicy`` per (partner, date)."""

    def __init__(self, facts: ReleaseFacts) -> None:
        self.facts = facts
        self._partners: dict[tuple[str, date], PartnerPolicy] = {}

    def for_partner(self, recipient: str, at: date) -> PartnerPolicy:
        key = (recipient, at)
        if key not in self._partners:
            self._partners[key] = PartnerPolicy(self.facts, recipient, at)
        return self._partners[key]


class PartnerPolicy:
    def __init__(self, facts: ReleaseFacts, recipient: str, at: date) -> None:
        self.facts, self.recipient, self.at = facts, recipient, at
        self.owner = facts.owner.code
        self._gates: dict[tuple[str, str], tuple[Gate, tuple[Reason, ...],
                                                 Decision | None]] = {}
        self._verdicts: dict[tuple[str, str], PortionVerdict] = {}
        self._portions: dict[tuple[str, str, str], tuple[Reason, PortionVerdict]] = {}
        self._holds: dict[str, str | None] = {}
        self._memo: dict[str, Decision] = {}
        self._consents = {(c.originator, c.item_id): c for c in facts.consents
                          if c.recipient == recipient}
        self._candidates = _candidates(facts, recipient)
        self._statuses = {ag.id: status_at(ag, at, facts.rules) for ag, _ in self._candidates}

    def decide(self, item: Item) -> Decision:
        """Decide, through the memo unless consents for this item matter."""
        try:
            memo = self._memo.get(item.release_token)
            if memo is not None:
                return memo
            decision, consent_free = self._decide(item)
            if consent_free:
                self._memo[item.release_token] = decision
            return decision
        except (LabelError, KeyError, ValueError) as exc:  # fail closed
            return denied(self.recipient, self.at, f"fail closed: {exc}")

    def decide_all(self, items: list[Item]) -> list[Decision]:
        """``decide`` for many items (one partner, one date): the memo's fast path inline."""
        memo, decide = self._memo.get, self.decide
        return [memo(it.release_token) or decide(it) for it in items]

    def _decide(self, item: Item) -> tuple[Decision, bool]:
        gate, prefix, denial = self.gate(item.discipline, item.topic)
        if denial is not None:
            return denial, True
        reasons = list(prefix)
        tearline: list[str] = []
        top: PortionVerdict | None = None
        consent_free, awaiting = True, False
        for p in item.portions:
            reason, pv = self.portion(gate, p.id, p.label)
            if pv.verdict is Verdict.CONSENT:
                consent_free = False
                pv = self._resolve_consent(pv, item.id)
                reason = Reason(p.id, pv.verdict, pv.text)
                awaiting = awaiting or pv.verdict is Verdict.CONSENT
            reasons.append(reason)
            if pv.verdict is Verdict.PASS:
                tearline.append(p.id)
                if top is None or pv.level_rank > top.level_rank:
                    top = pv
        return self._outcome(gate, tuple(tearline), top, reasons, awaiting), consent_free

    def _outcome(self, gate: Gate, tearline: tuple[str, ...], top: PortionVerdict | None,
                 reasons: list[Reason], awaiting: bool) -> Decision:
        ag = gate.agreement
        assert ag is not None
        if top is None:
            outcome = Outcome.HELD if awaiting else Outcome.DENIED
            reasons.append(Reason(None, Verdict.DENY, "tearline: no portion may pass"))
            return Decision(outcome, self.recipient, self.at, ag.id, gate.route, None, (),
                            tuple(reasons))
        outcome = Outcome.ALLOWED
        hold = self._holds.get(ag.id, "")
        if hold == "":
            hold = self._holds[ag.id] = self._reciprocity_hold(ag)
        if hold:
            outcome = Outcome.HELD
            reasons.append(Reason(None, Verdict.DENY, hold))
        return Decision(outcome, self.recipient, self.at, ag.id, gate.route, top.level,
                        tearline, tuple(reasons))

    def _deny_all(self, texts: tuple[str, ...]) -> Decision:
        return Decision(Outcome.DENIED, self.recipient, self.at, None, (), None, (),
                        tuple(Reason(None, Verdict.DENY, t) for t in texts))

    def _reciprocity_hold(self, ag: Agreement) -> str | None:
        if ag.max_imbalance is None:
            return None
        balance = self.facts.balances.get(ag.id, 0)
        if balance < ag.max_imbalance:
            return None
        return (f"reciprocity: {self.owner} has given {balance} more than received under "
                f"{ag.id} (limit {ag.max_imbalance}); held for reciprocity")

    def _resolve_consent(self, pv: PortionVerdict, item_id: str) -> PortionVerdict:
        origin = pv.needs_consent_of or ""
        consent = self._consents.get((origin, item_id)) or self._consents.get((origin, "*"))
        if consent is None:
            return pv
        rule = pv.text.split(":", 1)[0]
        text = (f"{rule}: originated by {origin}; written consent naming {self.recipient} "
                f"granted {consent.granted_on} by {consent.granted_by} "
                f"(purpose: {consent.purpose})")
        return PortionVerdict(Verdict.PASS, text, pv.level, pv.level_rank)

    def gate(self, discipline: str, topic: str) -> tuple[Gate, tuple[Reason, ...],
                                                         Decision | None]:
        """The governing agreement for (discipline, topic), the item-level reasons, and
        the whole decision when nothing governs. Computed once per key."""
        key = (discipline, topic)
        entry = self._gates.get(key)
        if entry is None:
            gate = _gate(self.facts, self.recipient, self.at, self._candidates, discipline,
                         topic, self._statuses)
            prefix = tuple(Reason(None, Verdict.PASS, text) for text in gate.reasons)
            denial = self._deny_all(gate.reasons) if gate.agreement is None else None
            entry = self._gates[key] = (gate, prefix, denial)
        return entry

    def portion(self, gate: Gate, portion_id: str, label: Label) -> tuple[Reason,
                                                                         PortionVerdict]:
        assert gate.agreement is not None
        key = (gate.agreement.id, portion_id, label.token)
        entry = self._portions.get(key)
        if entry is None:
            pv = self._verdicts.get((gate.agreement.id, label.token))
            if pv is None:
                pv = _portion(self.facts, self.recipient, gate, label)
                self._verdicts[gate.agreement.id, label.token] = pv
            entry = self._portions[key] = (Reason(portion_id, pv.verdict, pv.text), pv)
        return entry


def _candidates(facts: ReleaseFacts, recipient: str) -> list[tuple[Agreement, tuple[str, ...]]]:
    """Agreements that could carry a release from the owner to ``recipient``, in order of
    preference: bilateral GSOMIA, arrangement with one end at the hub, relay via the hub
    (DOMAIN Protection 6), then MOUs (which never carry classified exchange)."""
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


def _gate(facts: ReleaseFacts, recipient: str, at: date,
          candidates: list[tuple[Agreement, tuple[str, ...]]],
          discipline: str, topic: str, statuses: Mapping[str, AgreementStatus]) -> Gate:
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
        why_not = _why_not(ag, at, statuses[ag.id], family, topic)
        if why_not is None:
            return Gate(ag, route, (_governs(ag, route, at, statuses[ag.id]),))
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


def _governs(ag: Agreement, route: tuple[str, ...], at: date, status: AgreementStatus) -> str:
    text = f"{ag.id} ({ag.kind}) in force on {at}: {status.explanation}"
    if route:
        text += (f"; relayed through hub {route[0]} (arrangement: no bilateral agreement "
                 f"in force between the ends)")
    return text


def _portion(facts: ReleaseFacts, recipient: str, gate: Gate, label: Label) -> PortionVerdict:
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
    """GSOMIA Art. 6 (third-party rule) and ORCON: the originator must consent in writing,
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
