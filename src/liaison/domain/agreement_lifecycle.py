"""An agreement's lifecycle: its status on any date, replayed from its dated events.

Pure: no I/O. ``status_at(agreement, day, rules)`` replays the agreement's dated events
and answers for any date, so history ("was it in force on 2019-11-23?") is a query, not a
stored flag. GSOMIA Art. 21: entry into force on the later notification, a one-year term
renewed at each anniversary, written notice of termination 90 days before one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

from liaison.domain.agreements import Agreement, AgreementEvent, EventKind


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
class LifecycleRules:
    """Node settings for the lifecycle. ``notice_cutoff_inclusive``: notice given exactly
    ``notice_days`` before the anniversary is in time (docs/rules.md#notice-cut-off)."""

    notice_cutoff_inclusive: bool = True


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
