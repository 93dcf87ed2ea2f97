"""An agreement's terms on any date, changed by dated amendments.

Pure: no I/O. The terms the release engine reads (equivalence table, scope, reciprocity
limit, permitted purposes) are those recorded with the agreement, changed only by an
``Amendment``: our administrator's dated, audited act, in force from its effective date.
``terms_at(agreement, day)`` applies the amendments in force on ``day``, so a check dated
before an amendment sees the old terms: history stays true.

Amendments are this node's own acts (docs/rules.md#own-acts): the partners' administrators
record the same change on their own nodes. A partner's note never carries one
(``note_authority`` admits only lifecycle events).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

from liaison.domain.agreement_lifecycle import Status, status_at
from liaison.domain.agreements import (
    Agreement,
    AgreementError,
    AgreementKind,
    EquivalenceTable,
    Scope,
    validate_agreement,
)
from liaison.domain.labels import Party

ENDED = frozenset({Status.TERMINATED, Status.EXPIRED, Status.WITHDRAWN})


@dataclass(frozen=True, slots=True)
class ReciprocityLimit:
    """The new reciprocity hold threshold; ``None``: never hold (docs/rules.md#reciprocity)."""

    limit: int | None


@dataclass(frozen=True, slots=True)
class Amendment:
    """A change of terms in force from ``effective`` (inclusive); a term left ``None`` is
    unchanged. ``recorded_by``/``recorded_on``: who recorded it and the node's date then."""

    effective: date
    recorded_by: str
    recorded_on: date
    note: str = ""
    table: EquivalenceTable | None = None
    scope: Scope | None = None
    reciprocity: ReciprocityLimit | None = None
    purposes: frozenset[str] | None = None

    @property
    def changes(self) -> tuple[str, ...]:
        """The names of the terms it changes, in the import format's words."""
        named = (("table", self.table), ("scope", self.scope),
                 ("max_imbalance", self.reciprocity), ("purposes", self.purposes))
        return tuple(name for name, value in named if value is not None)


def terms_at(agreement: Agreement, day: date) -> Agreement:
    """``agreement`` with the terms in force on ``day``: the amendments effective by then,
    by effective date, then in the order recorded. Without one in force, ``agreement``
    itself; otherwise a copy that carries no amendments (its terms are final for ``day``)."""
    due = sorted((a for a in agreement.amendments if a.effective <= day),
                 key=lambda a: a.effective)
    if not due:
        return agreement
    table, scope, limit, purposes = (agreement.table, agreement.scope, agreement.max_imbalance,
                                     agreement.purposes)
    for a in due:
        table = a.table if a.table is not None else table
        scope = a.scope if a.scope is not None else scope
        limit = a.reciprocity.limit if a.reciprocity is not None else limit
        purposes = a.purposes if a.purposes is not None else purposes
    return replace(agreement, table=table, scope=scope, max_imbalance=limit,
                   purposes=purposes, amendments=())


def amend(agreement: Agreement, amendment: Amendment, today: date,
          parties: Mapping[str, Party]) -> Agreement:
    """A copy with ``amendment`` recorded; ``AgreementError`` naming the broken rule.

    Rules: it changes at least one term; it takes effect no earlier than ``today`` (the
    node's date: terms in force on a past day are history, never rewritten); the agreement
    has not ended by then (docs/rules.md#after-termination) and is not an
    MOU (which carries no classified exchange); the new terms are valid for its parties."""
    who = agreement.id
    if not amendment.changes:
        raise AgreementError(f"{who}: an amendment changes at least one term (table, scope, "
                             "max_imbalance or purposes)")
    if amendment.effective < today:
        raise AgreementError(f"{who}: an amendment takes effect no earlier than today "
                             f"({today}), not {amendment.effective}: past terms are history")
    if agreement.kind is AgreementKind.MOU:
        raise AgreementError(f"{who} is an MOU: it carries no classified exchange, so it has "
                             "no terms of release to amend")
    state = status_at(agreement, amendment.effective).state
    if state in ENDED:
        raise AgreementError(f"{who} is {state} on {amendment.effective}: an agreement that "
                             "has ended is not amended")
    limit = amendment.reciprocity.limit if amendment.reciprocity else None
    if limit is not None and limit < 0:
        raise AgreementError(f"{who}: a reciprocity limit is a whole number >= 0 (0 holds "
                             "every release), or none")
    changed = replace(agreement, amendments=(*agreement.amendments, amendment))
    validate_agreement(changed, parties)
    return changed
