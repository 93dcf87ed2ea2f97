"""Agreements between parties: kinds, equivalence tables, scope and lifecycle.

Pure: no I/O. ``status_at(agreement, day, rules)`` replays the agreement's dated events
and answers for any date, so history ("was it in force on 2019-11-23?") is a query, not a
stored flag.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
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
class LifecycleRules:
    """Node settings for the lifecycle. ``notice_cutoff_inclusive``: notice given exactly
    ``notice_days`` before the anniversary is in time (docs/rules.md#notice-cut-off)."""

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


@dataclass(frozen=True, slots=True)
class AgreementStatus:
    state: Status
    in_force_since: date | None = None
    ends_on: date | None = None  # last day in force, where a notice or term fixes it
    explanation: str = ""
    # parties of a multilateral arrangement that have left it; the others stay bound
    withdrawn: frozenset[str] = frozenset()
    # who gave the notice of termination in effect (None: recorded without a party)
    notice_by: tuple[str | None, ...] = ()

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

    docs/rules.md#term-and-renewal: the agreement renews at each anniversary unless notice is given
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
    return _replay(agreement, day, rules or LifecycleRules()).result(day)


def _replay(agreement: Agreement, day: date, rules: LifecycleRules) -> _Replay:
    replay = _Replay(agreement, rules)
    for event in agreement.events:
        if event.on > day or replay.ended_before(event.on):
            break
        replay.apply(event)
    return replay


@dataclass
class _Notice:
    given: date
    ends: date
    suspended: bool = False


class _Replay:
    """Replays events in date order. Each party's acts count as that party's only
    (docs/rules.md#own-acts); an act without ``by`` is our
    administrator's record of a fact and counts as it reads."""

    def __init__(self, agreement: Agreement, rules: LifecycleRules) -> None:
        self.a, self.rules = agreement, rules
        self.state = Status.NEGOTIATING
        self.since: date | None = None
        self.ends: date | None = None
        self.why = "under negotiation: no signature recorded"
        self.notified: dict[str, date] = {}
        self.notices: dict[str | None, _Notice] = {}
        self.left: set[str] = set()

    def ended_before(self, day: date) -> bool:
        """Over before ``day``: later events change nothing. Termination is final
        (docs/rules.md#after-termination), whatever notice is recorded afterwards."""
        ended = self.state in IN_FORCE_STATES or self.state is Status.TERMINATED
        return self.ends is not None and ended and day > self.ends

    def apply(self, e: AgreementEvent) -> None:
        getattr(self, "_" + e.kind.lower())(e)

    def _signed(self, e: AgreementEvent) -> None:
        if self.state is Status.NEGOTIATING:
            self.state, self.why = Status.SIGNED, f"signed {e.on}, not yet in force"

    def _entered_into_force(self, e: AgreementEvent) -> None:
        self._into_force(e.on, f"in force since {e.on}")  # our administrator's record

    def _notified(self, e: AgreementEvent) -> None:
        # in force from the later notification; one side's notification is never the other's
        # (docs/rules.md#term-and-renewal, docs/rules.md#own-acts)
        if e.by is not None and self.state in (Status.NEGOTIATING, Status.SIGNED):
            self.notified.setdefault(e.by, e.on)
            self._in_force_if_all_notified(e.on)

    def _in_force_if_all_notified(self, on: date) -> None:
        waiting = sorted(self.members() - set(self.notified))
        if not waiting:
            self._into_force(on, f"in force since {on}, the later notification")
        elif self.state in (Status.NEGOTIATING, Status.SIGNED) and self.notified:
            self.why = (f"notified by {', '.join(sorted(self.notified))}; waiting for "
                        f"{', '.join(waiting)}")

    def _into_force(self, on: date, why: str) -> None:
        self.state, self.since, self.notices = Status.IN_FORCE, on, {}
        self.ends, self.why = term_end(self.a, on), why

    def members(self) -> set[str]:
        return set(self.a.parties) - self.left

    def _notice_given(self, e: AgreementEvent) -> None:
        if self.since is None:
            return
        self.notices[e.by] = _Notice(e.on, notice_end(self.a, self.since, e.on, self.rules))
        self._settle(e.on)

    def _target(self, e: AgreementEvent) -> tuple[bool, str | None]:
        """The notice an act on a notice applies to, if any: only the party that gave it
        may suspend, reactivate or withdraw it (docs/rules.md#own-acts); an act without
        ``by`` (our administrator's record) applies to the latest notice."""
        if e.by is not None:
            return e.by in self.notices, e.by
        latest = max(self.notices.items(), key=lambda kv: kv[1].given, default=None)
        return (True, latest[0]) if latest else (False, None)

    def _notice_reactivated(self, e: AgreementEvent) -> None:
        found, target = self._target(e)
        # no notice to reactivate: it counts as notice given that day
        self._notice_given(replace(e, by=target) if found else e)

    def _notice_suspended(self, e: AgreementEvent) -> None:
        found, target = self._target(e)
        if found and self.state in IN_FORCE_STATES:
            self.notices[target].suspended = True
            self._settle(e.on, f"notice suspended on {e.on}: stays in force, may be "
                               "reactivated")

    def _notice_withdrawn(self, e: AgreementEvent) -> None:
        found, target = self._target(e)
        if found and self.state in IN_FORCE_STATES:
            del self.notices[target]
            self._settle(e.on, f"in force since {self.since}; notice withdrawn on {e.on}")

    def _settle(self, on: date, why: str = "") -> None:
        """State and last day from the notices in effect: the earliest active notice ends
        the agreement; suspended ones keep it renewing (docs/rules.md#notice-2019)."""
        active = {k: n for k, n in self.notices.items() if not n.suspended}
        if active:
            by, first = min(active.items(), key=lambda kv: kv[1].ends)
            self.state, self.ends = Status.NOTICE_GIVEN, first.ends
            self.why = (f"notice of termination by {by or 'a party'} on {first.given}; "
                        f"ends after {first.ends}")
            return
        self.ends = term_end(self.a, self.since or on)
        self.state = Status.NOTICE_SUSPENDED if self.notices else Status.IN_FORCE
        self.why = why or f"in force since {self.since}"

    def _terminated(self, e: AgreementEvent) -> None:
        self.state, self.ends = Status.TERMINATED, e.on - timedelta(days=1)
        self.why = f"terminated on {e.on}"

    def _withdrawn(self, e: AgreementEvent) -> None:
        if self.a.multilateral and e.by is not None:
            self._leaves(e.by, e.on)
        elif self.state in (Status.NEGOTIATING, Status.SIGNED):
            self.state = Status.WITHDRAWN
            self.why = f"{e.by or 'a party'} withdrew on {e.on}, before entry into force"

    def _leaves(self, party: str, on: date) -> None:
        """A party leaves a multilateral arrangement: its act binds only itself, unless the
        arrangement cannot go on without it (fewer than two parties, or the hub left)."""
        self.left.add(party)
        self.notified.pop(party, None)
        if len(self.members()) >= 2 and self.a.hub not in self.left:
            if self.state in (Status.NEGOTIATING, Status.SIGNED) and self.notified:
                self._in_force_if_all_notified(on)
            return
        if self.state in IN_FORCE_STATES:
            self._terminated(AgreementEvent(EventKind.TERMINATED, on))
            self.why = f"{party} left on {on}: the arrangement cannot go on without it"
        elif self.state in (Status.NEGOTIATING, Status.SIGNED):
            self.state, self.why = Status.WITHDRAWN, f"{party} withdrew on {on}"

    def result(self, day: date) -> AgreementStatus:
        left = frozenset(self.left)
        notice_by = tuple(k for k, n in self.notices.items() if not n.suspended)
        if self.state in IN_FORCE_STATES and self.ends is not None and day > self.ends:
            final = Status.TERMINATED if self.state is Status.NOTICE_GIVEN else Status.EXPIRED
            why = f"ended after {self.ends} ({self.why})"
            return AgreementStatus(final, self.since, self.ends, why, left, notice_by)
        return AgreementStatus(self.state, self.since, self.ends, self.why, left, notice_by)


def notice_givers(agreement: Agreement, day: date,
                  rules: LifecycleRules | None = None) -> dict[str | None, bool]:
    """The notices of termination in effect on ``day``: giver -> suspended."""
    replay = _replay(agreement, day, rules or LifecycleRules())
    return {k: n.suspended for k, n in replay.notices.items()}


def notified(agreement: Agreement, day: date, rules: LifecycleRules | None = None,
             ) -> dict[str, date]:
    """The parties whose notification of entry into force is recorded by ``day``."""
    return dict(_replay(agreement, day, rules or LifecycleRules()).notified)


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

