"""The release engine: may this item go to that partner on that date, for that purpose, and
which portions? The rules it reads are in ``release_rules``; what it is given in
``release_facts``; what it answers in ``release_decision``.

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

from dataclasses import dataclass, field
from datetime import date

from liaison.domain import release_rules as rules
from liaison.domain.agreement_lifecycle import status_at
from liaison.domain.agreement_terms import terms_at
from liaison.domain.agreements import Agreement, purpose_key
from liaison.domain.items import Item
from liaison.domain.labels import LabelError
from liaison.domain.release_decision import Decision, Outcome, Reason, Verdict, denied
from liaison.domain.release_facts import ReleaseFacts
from liaison.domain.release_rules import Gate, PortionVerdict
from liaison.domain.release_shapes import (
    GateKey,
    LabelClass,
    PortionShape,
    PortionsShape,
    Shape,
    Shapes,
)


def decide(item: Item, recipient: str, at: date, facts: ReleaseFacts,
           purpose: str | None = None) -> Decision:
    """Decide one release for ``purpose`` (``None``: not stated). Never raises: a fault
    denies, with the reason."""
    try:
        return ReleasePolicy(facts).for_partner(recipient, at, purpose).decide(item)
    except Exception as exc:  # fail closed
        return denied(recipient, at, f"fail closed: the engine could not decide ({exc})")


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
        self._candidates = [(terms_at(ag, at), route)
                            for ag, route in rules.candidates(facts, recipient)]
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
            pv = kind.verdicts[part.label] = rules.portion_verdict(
                self.facts, self.recipient, kind.gate, part.label.label)
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
                f"Arts 6-8); held until {origin} consents for this purpose")
        return PortionVerdict(Verdict.CONSENT, text, pv.level, pv.level_rank, origin)

    def _gate(self, key: GateKey) -> _Kind | Decision:
        """The governing agreement's ``_Kind`` for (discipline, topic), or the whole
        decision when nothing governs. Computed once per key."""
        entry = self._gates.get(key)
        if entry is None:
            gate = rules.gate_for(self.facts, self.recipient, self.at, self._candidates,
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
