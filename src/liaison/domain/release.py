"""The release engine: may this item go to that partner on that date, for that purpose, and
which portions?

Pure: no I/O. ``decide(item, recipient, at, facts)`` never raises: any fault in the facts
or the engine denies, with the reason (fail closed).

Purpose (docs/rules.md#consent: no use for another purpose without the
originator's written consent naming grantee and purpose): an agreement that lists permitted
purposes carries only those; a consent unlocks only the purpose it names. No purpose stated
(``None``) matches neither: fail closed.

Speed: ``ReleasePolicy(facts).for_partner(recipient, at, purpose)`` compiles the agreements
that bind the node's party and the recipient, with their terms in force on that date
(``agreement_terms``), into a ``PartnerPolicy``. The purpose is part of that key, not of
the item's shape: one batch is one purpose, so the shape memo stays as fast as before. Items are
reduced once, for all partners, to interned shapes (``release_shapes``: discipline, topic,
portion ids and label classes). One decision is then a memo lookup by shape; on a miss, a
lookup by (governing agreement, portions), and on a miss there one per portion. Every
table is keyed by the values the rules read, so a compiled decision equals ``decide()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import NamedTuple

from liaison.domain.agreement_terms import terms_at
from liaison.domain.agreements import (
    Agreement,
    AgreementKind,
    AgreementStatus,
    LifecycleRules,
    purpose_key,
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
from liaison.domain.release_shapes import (
    GateKey,
    LabelClass,
    PortionShape,
    PortionsShape,
    Shape,
    Shapes,
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
    """Written consent of an originator (docs/rules.md#consent): its
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
    text: str  # cites the rule, e.g. "GSOMIA Art. 4: ..." (docs/rules.md names them)


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


class Decision(NamedTuple):
    """One release decision. A named tuple, not a frozen dataclass, because a cold pass
    builds one per (partner, item shape) and a frozen dataclass's ``__init__`` costs as
    much as the rest of the decision; it is just as immutable. Compare decisions with
    each other only (a tuple of the same values also compares equal)."""

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


def decide(item: Item, recipient: str, at: date, facts: ReleaseFacts,
           purpose: str | None = None) -> Decision:
    """Decide one release for ``purpose`` (``None``: not stated). Never raises: a fault
    denies, with the reason."""
    try:
        return ReleasePolicy(facts).for_partner(recipient, at, purpose).decide(item)
    except Exception as exc:  # fail closed
        return denied(recipient, at, f"fail closed: the engine could not decide ({exc})")


def denied(recipient: str, at: date, text: str) -> Decision:
    return Decision(Outcome.DENIED, recipient, at, None, (), None, (),
                    (Reason(None, Verdict.DENY, text),))


class ReleasePolicy:
    """The node's compiled view of its agreements; one ``PartnerPolicy`` per (partner, date).

    Items are reduced to interned shapes once (``release_shapes``), for every partner."""

    def __init__(self, facts: ReleaseFacts) -> None:
        self.facts = facts
        self.shapes = Shapes()
        self._partners: dict[tuple[str, date, str | None], PartnerPolicy] = {}

    def for_partner(self, recipient: str, at: date, purpose: str | None = None,
                    ) -> PartnerPolicy:
        key = (recipient, at, purpose_key(purpose) if purpose is not None else None)
        if key not in self._partners:
            self._partners[key] = PartnerPolicy(self.facts, recipient, at, self.shapes, purpose)
        return self._partners[key]


# one portion's part of a decision under one governing agreement and route:
# (reason, passes, awaits a consent, the equivalent level's rank, the level)
_Entry = tuple[Reason, bool, bool, int, str | None]
_NOTHING_PASSES = Reason(None, Verdict.DENY, "tearline: no portion may pass")


@dataclass(slots=True, eq=False)
class _Kind:
    """What a decision under one governing agreement and route is built from: the
    item-level reasons, each label class's verdict, each portion's entry, and a memo of
    decisions by the item's portions."""

    gate: Gate
    agreement: Agreement
    prefix: tuple[Reason, ...]
    agreement_id: str = ""
    route: tuple[str, ...] = ()
    verdicts: dict[LabelClass, PortionVerdict] = field(default_factory=dict)
    entries: dict[PortionShape, _Entry] = field(default_factory=dict)
    memo: dict[PortionsShape, Decision] = field(default_factory=dict)
    tearlines: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)
    hold: tuple[Reason | None] | None = None  # computed when first needed


class PartnerPolicy:
    """Decisions for one recipient on one date for one purpose. A decision is a memo lookup
    by the item's shape; on a miss, a lookup by (governing agreement, portions) and one per
    portion."""

    def __init__(self, facts: ReleaseFacts, recipient: str, at: date,
                 shapes: Shapes | None = None, purpose: str | None = None) -> None:
        self.facts, self.recipient, self.at, self.purpose = facts, recipient, at, purpose
        self.owner = facts.owner.code
        self.shapes = shapes or Shapes()
        self._gates: dict[GateKey, _Kind | Decision] = {}
        self._kinds: dict[tuple[int, tuple[str, ...], tuple[str, ...]], _Kind] = {}
        self._memo: dict[Shape, Decision] = {}
        wanted = purpose_key(purpose) if purpose is not None else None
        mine = [c for c in facts.consents if c.recipient == recipient]
        # docs/rules.md#consent: a consent unlocks only the purpose it names; one naming none
        # unlocks nothing (fail closed)
        self._consents = {(c.originator, c.item_id): c for c in mine
                          if wanted and purpose_key(c.purpose) == wanted}
        self._other_purpose = {(c.originator, c.item_id): c for c in mine}
        # items named by a consent are decided alone (their decision depends on their id)
        self._consent_items = frozenset(item_id for _, item_id in self._other_purpose)
        self._candidates = [(terms_at(ag, at), route) for ag, route in _candidates(facts,
                                                                                   recipient)]
        self._statuses = {id(ag): status_at(ag, at, facts.rules) for ag, _ in self._candidates}

    def decide(self, item: Item) -> Decision:
        """Decide, through the memo unless a consent names this item."""
        try:
            shape = self.shapes.of(item)
            if item.id in self._consent_items:
                return self._decide_shape(shape, item.id)
            memo = self._memo.get(shape)
            if memo is None:
                memo = self._memo[shape] = self._decide_shape(shape, None)
            return memo
        except (LabelError, KeyError, ValueError) as exc:  # fail closed
            return denied(self.recipient, self.at, f"fail closed: {exc}")

    def decide_all(self, items: list[Item]) -> list[Decision]:
        """``decide`` for many items (one partner, one date), with ``decide``'s lookups
        inline; anything unusual (a new item, a new gate, a fault) goes through ``decide``."""
        if self._consent_items:
            return [self.decide(it) for it in items]
        seen, memo, gates, decide = self.shapes.seen.get, self._memo, self._gates, self.decide
        out = []
        for it in items:
            known = seen(id(it))
            if known is None or known[0]() is not it:
                out.append(decide(it))
                continue
            shape = known[1]
            decision = memo.get(shape)
            if decision is None:
                kind = gates.get(shape.gate)
                if kind is None:
                    decision = decide(it)
                elif isinstance(kind, Decision):
                    decision = memo[shape] = kind
                else:
                    decision = kind.memo.get(shape.portions)
                    if decision is None:
                        try:
                            decision = self._compose(kind, shape.portions, None)
                        except (LabelError, KeyError, ValueError):
                            out.append(decide(it))  # the same fault: denied, with its reason
                            continue
                        kind.memo[shape.portions] = decision
                    memo[shape] = decision
            out.append(decision)
        return out

    def _decide_shape(self, shape: Shape, item_id: str | None) -> Decision:
        """``item_id``: the item named by a consent, or None (then only consents for any
        item count: the decision is the same for every item of this shape)."""
        kind = self._gates.get(shape.gate) or self._gate(shape.gate)
        if isinstance(kind, Decision):
            return kind
        if item_id is not None:
            return self._compose(kind, shape.portions, item_id)
        decision = kind.memo.get(shape.portions)
        if decision is None:
            decision = kind.memo[shape.portions] = self._compose(kind, shape.portions, None)
        return decision

    def _compose(self, kind: _Kind, portions: PortionsShape, item_id: str | None) -> Decision:
        """The decision for ``portions`` under ``kind``: each portion's verdict in order,
        the tearline of those that pass, the highest level among them, then the
        reciprocity hold. ``item_id``: resolve consents naming that item (no caching)."""
        entries = kind.entries if item_id is None else {}
        reasons = [*kind.prefix]
        tearline: list[str] = []
        top: _Entry | None = None
        awaiting = False
        for part in portions.portions:
            entry = entries.get(part)
            if entry is None:
                entry = entries[part] = self._entry(kind, part, item_id)
            reason, passes, waits, rank, _ = entry
            reasons.append(reason)
            if passes:
                tearline.append(part.id)
                if top is None or rank > top[3]:
                    top = entry
            elif waits:
                awaiting = True
        if top is None:
            reasons.append(_NOTHING_PASSES)
            return _new(Decision, (Outcome.HELD if awaiting else Outcome.DENIED,
                                   self.recipient, self.at, kind.agreement_id, kind.route,
                                   None, (), tuple(reasons)))
        hold = kind.hold
        if hold is None:
            text = self._reciprocity_hold(kind.agreement)
            hold = kind.hold = (Reason(None, Verdict.DENY, text) if text else None,)
        passing = tuple(tearline)
        passing = kind.tearlines.setdefault(passing, passing)  # one tuple per tearline
        if hold[0] is not None:
            reasons.append(hold[0])
            return _new(Decision, (Outcome.HELD, self.recipient, self.at, kind.agreement_id,
                                   kind.route, top[4], passing, tuple(reasons)))
        return _new(Decision, (Outcome.ALLOWED, self.recipient, self.at, kind.agreement_id,
                               kind.route, top[4], passing, tuple(reasons)))

    def _entry(self, kind: _Kind, part: PortionShape, item_id: str | None) -> _Entry:
        """(reason, passes, awaits a consent, the equivalent level's rank, the level)."""
        pv = kind.verdicts.get(part.label)
        if pv is None:
            pv = kind.verdicts[part.label] = _portion(self.facts, self.recipient, kind.gate,
                                                      part.label.label)
        if pv.verdict is Verdict.CONSENT:
            pv = self._resolve_consent(pv, item_id)
        return (Reason(part.id, pv.verdict, pv.text), pv.verdict is Verdict.PASS,
                pv.verdict is Verdict.CONSENT, pv.level_rank, pv.level)

    def _deny_all(self, texts: tuple[str, ...]) -> Decision:
        return Decision(Outcome.DENIED, self.recipient, self.at, None, (), None, (),
                        tuple(Reason(None, Verdict.DENY, t) for t in texts))

    def _reciprocity_hold(self, ag: Agreement) -> str | None:
        """docs/rules.md#reciprocity: hold releases under ``ag`` while this node has given
        too many more than it received."""
        if ag.max_imbalance is None:
            return None
        balance = self.facts.balances.get(ag.id, 0)
        if balance < ag.max_imbalance:
            return None
        return (f"reciprocity: {self.owner} has given {balance} more than received under "
                f"{ag.id} (limit {ag.max_imbalance}); held for reciprocity")

    def _resolve_consent(self, pv: PortionVerdict, item_id: str | None) -> PortionVerdict:
        """A consent naming the item, else one for any item (``"*"``). ``item_id`` None:
        no consent names the item (the caller checked)."""
        origin = pv.needs_consent_of or ""
        consent = ((self._consents.get((origin, item_id)) if item_id is not None else None)
                   or self._consents.get((origin, "*")))
        if consent is None:
            return self._wrong_purpose(pv, origin, item_id)
        rule = pv.text.split(":", 1)[0]
        text = (f"{rule}: originated by {origin}; written consent naming {self.recipient} "
                f"granted {consent.granted_on} by {consent.granted_by} "
                f"(purpose: {consent.purpose})")
        return PortionVerdict(Verdict.PASS, text, pv.level, pv.level_rank)

    def _wrong_purpose(self, pv: PortionVerdict, origin: str,
                       item_id: str | None) -> PortionVerdict:
        """Still awaiting consent; when the originator has consented for another purpose
        (or none), say so, so the officer knows what to ask for."""
        other = ((self._other_purpose.get((origin, item_id)) if item_id is not None else None)
                 or self._other_purpose.get((origin, "*")))
        if other is None:
            return pv
        rule = pv.text.split(":", 1)[0]
        named = (f"for purpose {other.purpose.strip()!r} only" if other.purpose.strip()
                 else "naming no purpose, so for none")
        asked = (f"not for {self.purpose.strip()!r}" if self.purpose is not None
                 else "and no purpose is stated for this release")
        text = (f"{rule}: originated by {origin}; {origin}'s written consent naming "
                f"{self.recipient} (granted {other.granted_on} by {other.granted_by}) is "
                f"{named}, {asked}; a consent unlocks only the purpose it names (GSOMIA "
                f"Art. 6, DOMAIN Protection 1); held until {origin} consents for this purpose")
        return PortionVerdict(Verdict.CONSENT, text, pv.level, pv.level_rank, origin)

    def _gate(self, key: GateKey) -> _Kind | Decision:
        """The governing agreement's ``_Kind`` for (discipline, topic), or the whole
        decision when nothing governs. Computed once per key."""
        entry = self._gates.get(key)
        if entry is None:
            gate = _gate(self.facts, self.recipient, self.at, self._candidates,
                         key.discipline, key.topic, self._statuses, self.purpose)
            if gate.agreement is None:
                entry = self._deny_all(gate.reasons)
            else:
                kind_key = (id(gate.agreement), gate.route, gate.reasons)
                entry = self._kinds.get(kind_key)
                if entry is None:
                    prefix = tuple(Reason(None, Verdict.PASS, text) for text in gate.reasons)
                    entry = self._kinds[kind_key] = _Kind(gate, gate.agreement, prefix,
                                                          gate.agreement.id, gate.route)
            self._gates[key] = entry
        return entry


_new = tuple.__new__  # Decision(...) without its Python-level __new__: the hot path


def _candidates(facts: ReleaseFacts, recipient: str) -> list[tuple[Agreement, tuple[str, ...]]]:
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


def _gate(facts: ReleaseFacts, recipient: str, at: date,
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
    return (f"purpose limitation (GSOMIA Arts 6-8, DOMAIN Protection 1): {ag.id} permits "
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
