"""Agreements between parties: kinds, equivalence tables, scope, dated events, permitted
purposes, and the rules an agreement must keep to be recorded.

Pure: no I/O. What an agreement's events make of it on a given date (in force, under
notice, ended) is ``agreement_lifecycle``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING

from liaison.domain.labels import Party, topic_in

if TYPE_CHECKING:
    from liaison.domain.agreement_terms import Amendment


class AgreementError(ValueError):
    """An agreement or an event on it that breaks a rule; the message says which."""


class AgreementKind(StrEnum):
    GSOMIA = "GSOMIA"  # bilateral, binding: classified exchange
    ARRANGEMENT = "ARRANGEMENT"  # e.g. TISA 2014: through a hub, topic scope, not binding
    MOU = "MOU"  # opens a channel or talks; no classified exchange


class EventKind(StrEnum):
    SIGNED = "SIGNED"
    # our administrator's record that the agreement entered into force (on signature, or
    # on the later notification); a partner's note of it is recorded as NOTIFIED
    ENTERED_INTO_FORCE = "ENTERED_INTO_FORCE"
    # one party's notification that its internal procedures are complete: in force from
    # the later of all parties' notifications (docs/rules.md#term-and-renewal)
    NOTIFIED = "NOTIFIED"
    NOTICE_GIVEN = "NOTICE_GIVEN"  # written notice (docs/rules.md#term-and-renewal)
    NOTICE_SUSPENDED = "NOTICE_SUSPENDED"  # stays in force; may be reactivated
    NOTICE_REACTIVATED = "NOTICE_REACTIVATED"
    NOTICE_WITHDRAWN = "NOTICE_WITHDRAWN"  # back to ordinary renewal
    TERMINATED = "TERMINATED"  # ends on this date (mutual consent or immediate)
    WITHDRAWN = "WITHDRAWN"  # a party left (bilateral: before entry into force)


@dataclass(frozen=True, slots=True)
class EquivalenceRow:
    """One row of an equivalence table: each party's level(s) that match, and the common
    name. The first level listed for a party is the one it marks received items with."""

    common: str
    levels: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class EquivalenceTable:
    rows: tuple[EquivalenceRow, ...]

    def translate(self, from_party: str, level: str, to_party: str) -> str | None:
        """The receiver's equivalent of ``level``; ``None`` when the table has no row
        (nothing then passes: docs/rules.md#no-equivalent)."""
        for row in self.rows:
            if level in row.levels.get(from_party, ()) and row.levels.get(to_party):
                return row.levels[to_party][0]
        return None

    def common_name(self, party: str, level: str) -> str | None:
        for row in self.rows:
            if level in row.levels.get(party, ()):
                return row.common
        return None


@dataclass(frozen=True, slots=True)
class Scope:
    """What may be exchanged: ``None`` means no limit on that axis."""

    disciplines: frozenset[str] | None = None
    topics: frozenset[str] | None = None
    max_level: Mapping[str, str] = field(default_factory=dict)  # party -> its ceiling level
    # the finest imagery (ground sample distance, metres) either party may receive: finer
    # images go as a reduced copy, never the original
    imagery_min_gsd_m: float | None = None

    def covers_discipline(self, family: frozenset[str]) -> bool:
        """``family`` is a discipline with its parent (COMINT, SIGINT)."""
        return self.disciplines is None or not family.isdisjoint(self.disciplines)

    def covers_topic(self, topic: str) -> bool:
        return self.topics is None or topic_in(topic, self.topics)


@dataclass(frozen=True, slots=True)
class AgreementEvent:
    kind: EventKind
    on: date
    by: str | None = None  # the party that acted, where one did
    note: str = ""


@dataclass(frozen=True, slots=True)
class Agreement:
    id: str
    kind: AgreementKind
    title: str
    parties: frozenset[str]
    table: EquivalenceTable = EquivalenceTable(())
    scope: Scope = Scope()
    hub: str | None = None
    term_years: int = 1  # docs/rules.md#term-and-renewal: one year
    auto_renew: bool = True  # ... renewed at each anniversary
    notice_days: int = 90  # ... unless notice 90 days before
    events: tuple[AgreementEvent, ...] = ()
    max_imbalance: int | None = None  # reciprocity hold threshold, None = never hold
    opens: frozenset[str] = frozenset()  # MOU: "hotline", "talks", "exchanges"
    # the purposes information may be released for under it; empty: not restricted
    # (docs/rules.md#consent: no use for another purpose)
    purposes: frozenset[str] = frozenset()
    # dated changes of the terms above, in the order recorded (``agreement_terms``)
    amendments: tuple[Amendment, ...] = ()

    def with_event(self, event: AgreementEvent,
                   ordered_after: Callable[[AgreementEvent], bool] = lambda e: True,
                   ) -> Agreement:
        """A copy with ``event`` placed in date order (after events of the same day);
        history is never rewritten. ``event`` may not be dated before the last recorded
        event that ``ordered_after`` selects: by default every event; the services select
        the actor's own acts, so that another party's statement never blocks ours."""
        own = [e for e in self.events if ordered_after(e)]
        if own and event.on < own[-1].on:
            raise AgreementError(
                f"{self.id}: event {event.kind} on {event.on} is dated before the last "
                f"recorded event ({own[-1].kind} on {own[-1].on})"
            )
        at = bisect_right([e.on for e in self.events], event.on)
        return replace(self, events=(*self.events[:at], event, *self.events[at:]))

    @property
    def signed_on(self) -> date | None:
        """The signature's date; without one, the entry into force our administrator
        recorded (an agreement in force was signed by then)."""
        return next((e.on for e in self.events if e.kind in (
            EventKind.SIGNED, EventKind.ENTERED_INTO_FORCE)), None)

    @property
    def multilateral(self) -> bool:
        """More than two parties: each party's act binds only itself (docs/rules.md#own-acts)."""
        return len(self.parties) > 2


def validate_agreement(agreement: Agreement, parties: Mapping[str, Party]) -> None:
    """Raise ``AgreementError`` naming the first broken rule."""
    unknown = sorted(p for p in agreement.parties if p not in parties)
    if unknown:
        raise AgreementError(f"{agreement.id}: unknown parties {', '.join(unknown)}")
    if len(agreement.parties) < 2:
        raise AgreementError(f"{agreement.id}: an agreement binds at least two parties")
    if agreement.kind is AgreementKind.GSOMIA and len(agreement.parties) != 2:
        raise AgreementError(f"{agreement.id}: a GSOMIA is bilateral (two parties)")
    if agreement.kind is AgreementKind.ARRANGEMENT and agreement.hub not in agreement.parties:
        raise AgreementError(f"{agreement.id}: an arrangement names its hub among its parties")
    if agreement.term_years < 1 or agreement.notice_days < 0:
        raise AgreementError(f"{agreement.id}: term must be >= 1 year and notice >= 0 days")
    _validate_table(agreement, parties)
    _validate_events(agreement)
    validate_purposes(agreement.id, agreement.purposes)
    for amendment in agreement.amendments:
        _validate_table(replace(agreement, table=amendment.table or agreement.table,
                                scope=amendment.scope or agreement.scope), parties)
        validate_purposes(agreement.id, amendment.purposes or frozenset())


def _validate_table(agreement: Agreement, parties: Mapping[str, Party]) -> None:
    for row in agreement.table.rows:
        for party, levels in row.levels.items():
            if party not in agreement.parties:
                raise AgreementError(f"{agreement.id}: table row {row.common} names {party}")
            for level in levels:
                if not parties[party].scheme.has(level):
                    raise AgreementError(
                        f"{agreement.id}: table row {row.common}: {party} has no level {level!r}"
                    )
    for party, level in agreement.scope.max_level.items():
        if party not in parties or not parties[party].scheme.has(level):
            raise AgreementError(f"{agreement.id}: scope ceiling {party} {level!r} is unknown")


def _validate_events(agreement: Agreement) -> None:
    days = [e.on for e in agreement.events]
    if days != sorted(days):
        raise AgreementError(f"{agreement.id}: events must be in date order")
    for e in agreement.events:
        if e.by is not None and e.by not in agreement.parties:
            raise AgreementError(f"{agreement.id}: {e.kind} by {e.by}, not a party")


MAX_PURPOSES = 50
MAX_PURPOSE_CHARS = 200


def purpose_key(purpose: str) -> str:
    """How purposes compare: case and spacing aside, the same words are the same purpose."""
    return " ".join(purpose.split()).casefold()


def validate_purposes(agreement_id: str, purposes: frozenset[str]) -> None:
    if len(purposes) > MAX_PURPOSES:
        raise AgreementError(f"{agreement_id}: at most {MAX_PURPOSES} permitted purposes")
    for purpose in sorted(purposes):
        if (not purpose.strip() or len(purpose) > MAX_PURPOSE_CHARS
                or any(ord(ch) < 32 or ch == "\x7f" for ch in purpose)):
            raise AgreementError(f"{agreement_id}: a permitted purpose is 1 to "
                                 f"{MAX_PURPOSE_CHARS} printable characters, not "
                                 f"{purpose[:40]!r}")
    if len({purpose_key(p) for p in purposes}) != len(purposes):
        raise AgreementError(f"{agreement_id}: permitted purposes repeat one another")


def applicable(agreements: list[Agreement], a: str, b: str) -> list[Agreement]:
    """Agreements that bind both ``a`` and ``b``."""
    return [ag for ag in agreements if a in ag.parties and b in ag.parties]

