"""The defense hotline: precedence, answer deadlines and escalation, check calls and the
line's state. Pure: no I/O (time zones are passed in as ``tzinfo`` objects).

docs/rules.md#precedence: FLASH 10 min, IMMEDIATE 30 min, PRIORITY 3 h, ROUTINE 6 h to answer;
FLASH and IMMEDIATE at most 200 words; higher precedence goes first; delivery and a
person's acknowledgement are different events; an unacknowledged message escalates.
Check calls: inter-Korean 09:00 and 17:00 on weekdays, military lines 09:00 and 16:00 every
day; a missed call makes the line UNRESPONSIVE and counts consecutive missed days; an
answered call makes it NORMAL; a SEVERED line gets no more calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, tzinfo
from enum import IntEnum, StrEnum
from typing import Any


class HotlineError(ValueError):
    """A message, call or state change that breaks a hotline rule."""


class Precedence(IntEnum):
    """Lower value goes first (FLASH preempts queued lower traffic)."""

    FLASH = 0
    IMMEDIATE = 1
    PRIORITY = 2
    ROUTINE = 3


@dataclass(frozen=True)
class HotlineRules:
    """Settings with the defaults of docs/rules.md#precedence and docs/rules.md#check-calls."""

    answer_within: dict[Precedence, timedelta] = field(default_factory=lambda: {
        Precedence.FLASH: timedelta(minutes=10), Precedence.IMMEDIATE: timedelta(minutes=30),
        Precedence.PRIORITY: timedelta(hours=3), Precedence.ROUTINE: timedelta(hours=6)})
    word_limit: dict[Precedence, int] = field(default_factory=lambda: {
        Precedence.FLASH: 200, Precedence.IMMEDIATE: 200})
    # Escalation after the deadline, as fractions of the answer time: re-alert at the
    # deadline, the duty officer at +50 %, the alternate channel at +100 % (I).
    escalation: tuple[tuple[float, str], ...] = ((0.0, "re-alert"), (0.5, "duty officer"),
                                                 (1.0, "alternate channel"))


def check_message(text: str, precedence: Precedence, rules: HotlineRules) -> None:
    words = len(text.split())
    if not words:
        raise HotlineError("a hotline message has text")
    limit = rules.word_limit.get(precedence)
    if limit is not None and words > limit:
        raise HotlineError(f"{precedence.name} messages are at most {limit} words "
                           f"(this one has {words})")


@dataclass(frozen=True, slots=True)
class Message:
    channel: str
    seq: int  # one sequence per channel gives the order
    precedence: Precedence
    text: str
    sender: str  # the party
    sent_at: datetime
    author: str = ""
    delivered_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str = ""

    def deadline(self, rules: HotlineRules) -> datetime:
        return self.sent_at + rules.answer_within[self.precedence]

    def overdue(self, now: datetime, rules: HotlineRules) -> bool:
        return self.acknowledged_at is None and now > self.deadline(rules)

    def escalation(self, now: datetime, rules: HotlineRules) -> list[str]:
        """The escalation steps due by ``now`` for an unacknowledged message."""
        if self.acknowledged_at is not None:
            return []
        span = rules.answer_within[self.precedence]
        due = self.deadline(rules)
        return [step for fraction, step in rules.escalation if now > due + span * fraction]


def flags_change_at(message: Message, now: datetime, rules: HotlineRules) -> datetime | None:
    """The first instant after ``now`` at which ``overdue`` or ``escalation`` of
    ``message`` will read differently (its deadline, then each escalation step); ``None``
    once acknowledged or past the last step. A live view re-reads the flags then."""
    if message.acknowledged_at is not None:
        return None
    span, due = rules.answer_within[message.precedence], message.deadline(rules)
    steps = [due] + [due + span * fraction for fraction, _ in rules.escalation]
    # overdue and each step turn on strictly after their instant (``now > ...``)
    return min((at + timedelta(microseconds=1) for at in steps if at >= now), default=None)


def acknowledge(message: Message, by: str, at: datetime) -> Message:
    """A person on the receiving side acknowledges (distinct from delivery)."""
    if message.acknowledged_at is not None:
        raise HotlineError(f"message {message.seq} was already acknowledged by "
                           f"{message.acknowledged_by}")
    if at < message.sent_at:
        raise HotlineError("an acknowledgement cannot precede the message")
    return replace(message, acknowledged_at=at, acknowledged_by=by)


def send_order(pending: list[Message]) -> list[Message]:
    """Higher precedence first; within one precedence, channel order."""
    return sorted(pending, key=lambda m: (m.precedence, m.seq))


@dataclass(frozen=True, slots=True)
class Schedule:
    """Check calls at ``times`` (local to ``tz``) on ``weekdays`` (0 = Monday)."""

    times: tuple[time, ...]
    weekdays: frozenset[int]
    tz: tzinfo

    def __post_init__(self) -> None:
        if not self.times or not self.weekdays <= set(range(7)) or not self.weekdays:
            raise HotlineError("a schedule needs call times and weekdays 0–6")

    def slots(self, start: datetime, end: datetime) -> list[datetime]:
        """Call times in [start, end), in UTC order."""
        out: list[datetime] = []
        day = start.astimezone(self.tz).date() - timedelta(days=1)
        while True:
            for t in sorted(self.times):
                at = datetime.combine(day, t, self.tz)
                if at >= end:
                    return out
                if at >= start and day.weekday() in self.weekdays:
                    out.append(at)
            day += timedelta(days=1)

    def next_after(self, moment: datetime) -> datetime:
        for days in range(1, 9):
            found = self.slots(moment + timedelta(microseconds=1),
                               moment + timedelta(days=days))
            if found:
                return found[0]
        raise HotlineError("the schedule has no call within a week")


WEEKDAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))


class CallOutcome(StrEnum):
    ANSWERED = "answered"
    UNANSWERED = "unanswered"
    LINK_DOWN = "link down"


class LineState(StrEnum):
    NORMAL = "NORMAL"
    UNRESPONSIVE = "UNRESPONSIVE"
    DOWN = "DOWN"  # the link itself failed
    SEVERED = "SEVERED"  # declared by either side: no traffic, no calls


@dataclass(frozen=True, slots=True)
class LineStatus:
    state: LineState = LineState.NORMAL
    missed_days: int = 0  # consecutive days with a missed call and none answered
    last_missed_day: date | None = None
    last_answered: datetime | None = None
    severed_by: str = ""


def record_call(status: LineStatus, outcome: CallOutcome, at: datetime,
                tz: tzinfo) -> LineStatus:
    """docs/rules.md#check-calls: answered → NORMAL (count reset); unanswered →
    UNRESPONSIVE, one more missed day the first time on a new day; link down is recorded
    as its own outcome."""
    if status.state is LineState.SEVERED:
        raise HotlineError("the line is severed: no check calls")
    if outcome is CallOutcome.ANSWERED:
        return LineStatus(LineState.NORMAL, 0, None, at)
    if outcome is CallOutcome.LINK_DOWN:
        return replace(status, state=LineState.DOWN)
    day = at.astimezone(tz).date()
    missed = status.missed_days
    if status.last_missed_day != day:
        missed += 1
    return replace(status, state=LineState.UNRESPONSIVE, missed_days=missed,
                   last_missed_day=day)


def sever(status: LineStatus, by: str) -> LineStatus:
    """Either side may sever the line, unilaterally."""
    if status.state is LineState.SEVERED:
        raise HotlineError(f"the line is already severed (by {status.severed_by})")
    return replace(status, state=LineState.SEVERED, severed_by=by)


def reopen(status: LineStatus, mou_in_force: bool) -> LineStatus:
    if status.state is not LineState.SEVERED:
        raise HotlineError("the line is not severed")
    if not mou_in_force:
        raise HotlineError("the line can reopen only while its MOU is in force")
    return LineStatus()


def calls_due(status: LineStatus, schedule: Schedule, start: datetime,
              end: datetime) -> list[datetime]:
    """Check calls to place between ``start`` and ``end``; none on a severed line."""
    if status.state is LineState.SEVERED:
        return []
    return schedule.slots(start, end)


def changed_after(data: dict[str, Any], revision: int
                  ) -> tuple[int, list[tuple[str, int]] | None]:
    """From a channel's change log (``_revision``, and ``_changes``: its last entry changes as
    ``(revision, sender, seq)``), the revision now and the ``(sender, seq)`` of the entries
    changed after ``revision``, in the order of their last change; ``None`` for them when
    the log no longer reaches back to ``revision`` (a page is read afresh then)."""
    log, now = data.get("_changes", []), int(data.get("_revision", 0))
    if revision >= now:
        return now, []
    if not log or log[0][0] > revision + 1:
        return now, None
    keys: dict[tuple[str, int], None] = {}
    for rev, sender, seq in log:
        if rev > revision:
            keys.pop((sender, seq), None)
            keys[sender, seq] = None
    return now, list(keys)
