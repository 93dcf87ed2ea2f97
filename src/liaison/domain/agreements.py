"""Agreements between parties: kinds, equivalence tables, scope and lifecycle.

Pure: no I/O. ``status_at(agreement, day, rules)`` replays the agreement's dated events
and answers for any date, so history ("was it in force on 2019-11-23?") is a query, not a
stored flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum

from liaison.domain.labels import Party, topic_in


class AgreementError(ValueError):
    """An agreement or an event on it that breaks a rule; the message says which."""


class AgreementKind(StrEnum):
    GSOMIA = "GSOMIA"  # bilateral, binding: classified exchange
    ARRANGEMENT = "ARRANGEMENT"  # e.g. TISA 2014: through a hub, topic scope, not binding
    MOU = "MOU"  # opens a channel or talks; no classified exchange


class EventKind(StrEnum):
    SIGNED = "SIGNED"
    ENTERED_INTO_FORCE = "ENTERED_INTO_FORCE"
    NOTICE_GIVEN = "NOTICE_GIVEN"  # written notice of termination (GSOMIA Art. 21)
    NOTICE_SUSPENDED = "NOTICE_SUSPENDED"  # stays in force; may be reactivated
    NOTICE_REACTIVATED = "NOTICE_REACTIVATED"
    NOTICE_WITHDRAWN = "NOTICE_WITHDRAWN"  # back to ordinary renewal
    TERMINATED = "TERMINATED"  # ends on this date (mutual consent or immediate)
    WITHDRAWN = "WITHDRAWN"  # a party left before entry into force


class Status(StrEnum):
    NEGOTIATING = "NEGOTIATING"
    SIGNED = "SIGNED"
    IN_FORCE = "IN_FORCE"
    NOTICE_GIVEN = "NOTICE_GIVEN"
    NOTICE_SUSPENDED = "NOTICE_SUSPENDED"
    WITHDRAWN = "WITHDRAWN"
    TERMINATED = "TERMINATED"
    EXPIRED = "EXPIRED"


IN_FORCE_STATES = frozenset({Status.IN_FORCE, Status.NOTICE_GIVEN, Status.NOTICE_SUSPENDED})


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
        (nothing then passes: DOMAIN 'An item whose level has no row is not released')."""
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
class LifecycleRules:
    """Node settings for the lifecycle. ``notice_cutoff_inclusive``: notice given exactly
    ``notice_days`` before the anniversary is in time (DOMAIN: the cut-off day is a setting;
    default inclusive, I)."""

    notice_cutoff_inclusive: bool = True


@dataclass(frozen=True, slots=True)
class Agreement:
    id: str
    kind: AgreementKind
    title: str
    parties: frozenset[str]
    table: EquivalenceTable = EquivalenceTable(())
    scope: Scope = Scope()
    hub: str | None = None
    term_years: int = 1  # GSOMIA Art. 21: one-year term
    auto_renew: bool = True  # GSOMIA Art. 21: renewed at each anniversary
    notice_days: int = 90  # GSOMIA Art. 21: written notice 90 days before
    events: tuple[AgreementEvent, ...] = ()
    max_imbalance: int | None = None  # reciprocity hold threshold, None = never hold
    opens: frozenset[str] = frozenset()  # MOU: "hotline", "talks", "exchanges"

    def with_event(self, event: AgreementEvent) -> Agreement:
        """A copy with ``event`` appended; history is never rewritten."""
        if self.events and event.on < self.events[-1].on:
            raise AgreementError(
                f"{self.id}: event {event.kind} on {event.on} is dated before the last "
                f"recorded event ({self.events[-1].kind} on {self.events[-1].on})"
            )
        return replace(self, events=(*self.events, event))


@dataclass(frozen=True, slots=True)
class AgreementStatus:
    state: Status
    in_force_since: date | None = None
    ends_on: date | None = None  # last day in force, where a notice or term fixes it
    explanation: str = ""

    @property
    def in_force(self) -> bool:
        return self.state in IN_FORCE_STATES


def add_years(day: date, years: int) -> date:
    """Same month and day ``years`` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def notice_end(agreement: Agreement, in_force: date, notice: date, rules: LifecycleRules) -> date:
    """Last day in force after written notice given on ``notice``.

    GSOMIA Art. 21: the agreement renews at each anniversary unless notice is given
    ``notice_days`` before it; it then ends at the end of the day before that anniversary.
    """
    k = 1
    while True:
        anniversary = add_years(in_force, k * agreement.term_years)
        lead = (anniversary - notice).days
        if lead > agreement.notice_days or (
            lead == agreement.notice_days and rules.notice_cutoff_inclusive
        ):
            return anniversary - timedelta(days=1)
        k += 1


def term_end(agreement: Agreement, in_force: date) -> date | None:
    """Last day in force of a non-renewing agreement; ``None`` when it renews."""
    if agreement.auto_renew:
        return None
    return add_years(in_force, agreement.term_years) - timedelta(days=1)


def status_at(
    agreement: Agreement, day: date, rules: LifecycleRules | None = None
) -> AgreementStatus:
    """The agreement's status on ``day``, replaying its events in order."""
    replay = _Replay(agreement, rules or LifecycleRules())
    for event in agreement.events:
        if event.on > day or replay.ended_before(event.on):
            break
        replay.apply(event)
    return replay.result(day)


class _Replay:
    def __init__(self, agreement: Agreement, rules: LifecycleRules) -> None:
        self.a, self.rules = agreement, rules
        self.state = Status.NEGOTIATING
        self.since: date | None = None
        self.ends: date | None = None
        self.why = "under negotiation: no signature recorded"

    def ended_before(self, day: date) -> bool:
        """Over before ``day``: later events change nothing. Termination is final (GSOMIA
        Art. 21: no new transfers after it), whatever notice is recorded afterwards."""
        ended = self.state in IN_FORCE_STATES or self.state is Status.TERMINATED
        return self.ends is not None and ended and day > self.ends

    def apply(self, e: AgreementEvent) -> None:
        getattr(self, "_" + e.kind.lower())(e)

    def _signed(self, e: AgreementEvent) -> None:
        if self.state is Status.NEGOTIATING:
            self.state, self.why = Status.SIGNED, f"signed {e.on}, not yet in force"

    def _entered_into_force(self, e: AgreementEvent) -> None:
        self.state, self.since = Status.IN_FORCE, e.on
        self.ends = term_end(self.a, e.on)
        self.why = f"in force since {e.on}"

    def _notice_given(self, e: AgreementEvent) -> None:
        if self.since is None:
            return
        self.ends = notice_end(self.a, self.since, e.on, self.rules)
        self.state = Status.NOTICE_GIVEN
        self.why = f"notice of termination by {e.by or 'a party'} on {e.on}; ends after {self.ends}"

    def _notice_reactivated(self, e: AgreementEvent) -> None:
        self._notice_given(e)

    def _notice_suspended(self, e: AgreementEvent) -> None:
        if self.state is Status.NOTICE_GIVEN:
            self.state, self.ends = Status.NOTICE_SUSPENDED, term_end(self.a, self.since or e.on)
            self.why = f"notice suspended on {e.on}: stays in force, may be reactivated"

    def _notice_withdrawn(self, e: AgreementEvent) -> None:
        if self.state in (Status.NOTICE_GIVEN, Status.NOTICE_SUSPENDED):
            self.state, self.ends = Status.IN_FORCE, term_end(self.a, self.since or e.on)
            self.why = f"in force since {self.since}; notice withdrawn on {e.on}"

    def _terminated(self, e: AgreementEvent) -> None:
        self.state, self.ends = Status.TERMINATED, e.on - timedelta(days=1)
        self.why = f"terminated on {e.on}"

    def _withdrawn(self, e: AgreementEvent) -> None:
        if self.state in (Status.NEGOTIATING, Status.SIGNED):
            self.state = Status.WITHDRAWN
            self.why = f"{e.by or 'a party'} withdrew on {e.on}, before entry into force"

    def result(self, day: date) -> AgreementStatus:
        if self.state in IN_FORCE_STATES and self.ends is not None and day > self.ends:
            final = Status.TERMINATED if self.state is Status.NOTICE_GIVEN else Status.EXPIRED
            why = f"ended after {self.ends} ({self.why})"
            return AgreementStatus(final, self.since, self.ends, why)
        return AgreementStatus(self.state, self.since, self.ends, self.why)


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


def applicable(agreements: list[Agreement], a: str, b: str) -> list[Agreement]:
    """Agreements that bind both ``a`` and ``b``."""
    return [ag for ag in agreements if a in ag.parties and b in ag.parties]

