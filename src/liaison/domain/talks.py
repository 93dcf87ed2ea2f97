"""Talks between two governments: proposals, counter-proposals and answers.

Pure: no I/O apart from ``zoneinfo`` look-ups of the time zone a proposal names.

Either party proposes talks under an agreement (version 1). The other party of the *current*
version accepts it, amends it (a counter-proposal: version n+1, made by that party, which the
first party must now answer) or declines it with a reason. Either party may cancel proposed or
accepted talks, with a reason, and either may end accepted talks (the call is over: no more
signals or chat). ``answered_by``/``reason`` record the last answer (accept, decline, cancel or
end); a cancellation or an end after acceptance therefore records who did it.

Only the people named in a party's delegation of the accepted proposal join the call
(``on_delegation``).

The minutes of accepted talks are in ``domain.minutes``, their signatures in
``crypto.signed_minutes``, and the plain-data forms of both in ``domain.talks_wire``.

Every ``...Error`` message names the field (``proposals[1].agenda[0].kind``) and the rule, so
a person can fix the input.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from liaison.domain.decoding import allowed, join
from liaison.domain.labels import PARTY_CODE

# --- limits ---------------------------------------------------------------------------

TITLE_MAX = 200
DURATION_MIN, DURATION_MAX = 5, 600  # minutes
START_YEARS = (2000, 2100)  # I: a start outside them is a typo (and year 9999 overflows)
DELEGATES_MAX = 30  # per party, in a delegation and in the attendance
NAME_MAX = 100
AGENDA_MAX = 50
AGENDA_TITLE_MAX = 300
NOTE_MAX = 2000
REASON_MAX = 2000
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")  # agenda item ids
RECORD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")  # talks, agreement, key ids
TZ_KEY = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")
HOST_ZONES = frozenset({"localtime", "posixrules"})  # mean different things on each host


class TalksError(ValueError):
    """Talks, a proposal, an answer or minutes that break a rule. ``path`` names the field
    (empty when the error is about the whole object or a transition)."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path, self.message = path, message


class AgendaKind(StrEnum):
    """The three kinds of agenda item Seoul proposed for the 2021 inter-Korean talks."""

    AGREED = "agreed"  # matters already agreed (implementation)
    CONCERNS = "concerns"  # concerns that require discussion
    URGENT = "urgent"  # urgent issues


@dataclass(frozen=True, slots=True)
class AgendaItem:
    id: str
    kind: AgendaKind
    title: str


@dataclass(frozen=True)
class Proposal:
    """One version of the proposed talks. ``starts_at`` is an aware instant; ``tz`` is the
    IANA zone the talks are scheduled in (``local_start`` gives the wall-clock start there)."""

    version: int  # 1, 2, ...
    by: str  # the party that made this version
    title: str
    starts_at: datetime
    tz: str
    duration_min: int
    delegations: Mapping[str, tuple[str, ...]]  # party -> delegate names; both parties
    agenda: tuple[AgendaItem, ...]
    note: str = ""


class TalksState(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    ENDED = "ended"  # accepted talks whose call is over; the minutes may still be finished


@dataclass(frozen=True)
class Talks:
    id: str
    agreement_id: str
    parties: tuple[str, str]  # proposer first
    proposals: tuple[Proposal, ...]
    state: TalksState = TalksState.PROPOSED
    answered_by: str | None = None  # who accepted, declined, cancelled or ended (the last)
    reason: str = ""  # why declined or cancelled (or ended, if a reason was given)

    @property
    def current(self) -> Proposal:
        """The latest version: the one on the table (or accepted, declined, cancelled,
        ended)."""
        return self.proposals[-1]

    def other(self, party: str) -> str:
        """The other party of these talks."""
        a, b = self.parties
        if party == a:
            return b
        if party == b:
            return a
        raise TalksError(f"{party} is not a party to talks {self.id} ({a}–{b})")


# --- small checks -----------------------------------------------------------------------


def checked_text(value: object, path: str, *, max_len: int, min_len: int = 1) -> str:
    """``value`` as text of ``min_len``–``max_len`` characters (spaces alone are empty)."""
    if not isinstance(value, str):
        raise TalksError(f"expected text, got {type(value).__name__}", path)
    if len(value.strip()) < min_len:
        raise TalksError("is required (empty or only spaces)", path)
    if len(value) > max_len:
        raise TalksError(f"is {len(value)} characters; at most {max_len}", path)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TalksError(f"is not valid Unicode text ({exc.reason} at {exc.start})",
                         path) from exc
    return value


def party_code(value: object, path: str) -> str:
    """``value`` as a party code (KOR)."""
    if not isinstance(value, str) or not PARTY_CODE.fullmatch(value):
        raise TalksError(f"{value!r} is not a party code (three capital letters, e.g. KOR)",
                         path)
    return value


def record_id(value: object, path: str) -> str:
    """``value`` as the id of talks, an agreement or a key."""
    if not isinstance(value, str) or not RECORD_ID.fullmatch(value):
        raise TalksError(f"{value!r} is not a valid id (1–128 letters, digits, '.', '_', ':' "
                         "or '-', starting with a letter or digit)", path)
    return value


def aware(value: object, path: str) -> datetime:
    """``value`` as a date-time with a time zone offset."""
    if not isinstance(value, datetime):
        raise TalksError(f"expected a date-time, got {type(value).__name__}", path)
    if value.tzinfo is None or value.utcoffset() is None:
        raise TalksError("needs a time zone offset (e.g. 2021-10-04T10:00:00+09:00)", path)
    return value


def zone(tz: object, path: str = "tz") -> ZoneInfo:
    """The IANA zone named ``tz``; ``TalksError`` at ``path`` when there is none."""
    hint = "an IANA time zone name such as Asia/Seoul or Asia/Pyongyang"
    if not isinstance(tz, str) or not tz or len(tz) > 64 or not TZ_KEY.fullmatch(tz):
        raise TalksError(f"{tz!r} is not {hint}", path)
    if tz in HOST_ZONES:
        raise TalksError(f"{tz!r} depends on the host; use {hint}", path)
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise TalksError(f"{tz!r} is not {hint}", path) from exc


def delegate_names(value: object, path: str, who: str) -> tuple[str, ...]:
    """``value`` as the distinct names ``who`` lists (a delegation, an attendance)."""
    if isinstance(value, str) or not isinstance(value, tuple | list):
        raise TalksError(f"expected a list of names, got {type(value).__name__}", path)
    if not 1 <= len(value) <= DELEGATES_MAX:
        raise TalksError(f"{who} has {len(value)} names; 1–{DELEGATES_MAX} are allowed", path)
    names = tuple(checked_text(n, f"{path}[{i}]", max_len=NAME_MAX) for i, n in enumerate(value))
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise TalksError(f"{who} lists {', '.join(dupes)} more than once", path)
    return names


def by_party(value: object, parties: tuple[str, str], path: str,
             what: str) -> dict[str, tuple[str, ...]]:
    """A party -> names mapping with exactly the two parties."""
    if not isinstance(value, Mapping):
        raise TalksError(f"expected an object of party -> names, got {type(value).__name__}",
                         path)
    keys = set(value)
    if keys != set(parties):
        extra = sorted(str(k) for k in keys - set(parties))
        missing = sorted(set(parties) - keys)
        detail = "; ".join(x for x in (
            f"missing {', '.join(missing)}" if missing else "",
            f"not a party: {', '.join(extra)}" if extra else "") if x)
        raise TalksError(f"{what} must name exactly the two parties {parties[0]} and "
                         f"{parties[1]} ({detail})", path)
    return {p: delegate_names(value[p], f"{path}.{p}", p) for p in parties}


# --- proposals --------------------------------------------------------------------------


def validate_proposal(p: Proposal, parties: tuple[str, str]) -> None:
    """Raise ``TalksError`` naming the first field of ``p`` that breaks a rule."""
    check_proposal(p, parties, "")


def check_proposal(p: Proposal, parties: tuple[str, str], path: str) -> None:
    """``validate_proposal`` for a proposal found at ``path`` (every error names it)."""
    if isinstance(p.version, bool) or not isinstance(p.version, int) or p.version < 1:
        raise TalksError(f"{p.version!r} is not a version number (1, 2, ...)",
                         join(path, "version"))
    if p.by not in parties:
        raise TalksError(f"{p.by!r} is not a party to these talks ({parties[0]}–{parties[1]})",
                         join(path, "by"))
    checked_text(p.title, join(path, "title"), max_len=TITLE_MAX)
    _start(p.starts_at, zone(p.tz, join(path, "tz")), join(path, "starts_at"))
    d = p.duration_min
    if isinstance(d, bool) or not isinstance(d, int) or not DURATION_MIN <= d <= DURATION_MAX:
        raise TalksError(f"{d!r} minutes is outside {DURATION_MIN}–{DURATION_MAX} minutes",
                         join(path, "duration_min"))
    by_party(p.delegations, parties, join(path, "delegations"), "the delegations")
    _check_agenda(p.agenda, join(path, "agenda"))
    checked_text(p.note, join(path, "note"), max_len=NOTE_MAX, min_len=0)


def _check_agenda(agenda: object, path: str) -> None:
    if not isinstance(agenda, tuple):
        raise TalksError(f"expected a tuple of agenda items, got {type(agenda).__name__}", path)
    if not 1 <= len(agenda) <= AGENDA_MAX:
        raise TalksError(f"has {len(agenda)} items; 1–{AGENDA_MAX} are allowed", path)
    seen: dict[str, int] = {}
    for i, item in enumerate(agenda):
        ip = f"{path}[{i}]"
        if not isinstance(item, AgendaItem):
            raise TalksError(f"expected an agenda item, got {type(item).__name__}", ip)
        if not isinstance(item.id, str) or not ID.fullmatch(item.id):
            raise TalksError(f"{item.id!r} is not an agenda id (1–32 letters, digits, '.', "
                             "'_' or '-', starting with a letter or digit)", join(ip, "id"))
        if item.id in seen:
            raise TalksError(f"{item.id!r} is already used by {path}[{seen[item.id]}]",
                             join(ip, "id"))
        seen[item.id] = i
        if not isinstance(item.kind, AgendaKind):
            raise TalksError(f"{item.kind!r} is not one of {allowed(AgendaKind)}",
                             join(ip, "kind"))
        checked_text(item.title, join(ip, "title"), max_len=AGENDA_TITLE_MAX)


def _start(value: object, tz: ZoneInfo, path: str) -> datetime:
    """An aware start that converts to UTC and to the talks' zone, in ``START_YEARS``
    both ways (a start that cannot be shown in the talks' zone is refused here, not when
    the talks are listed)."""
    at = aware(value, path)
    lo, hi = START_YEARS
    refusal = TalksError(f"{at.isoformat()} is outside the years {lo}–{hi} (in UTC or in "
                         f"{tz.key}); give the start of the talks in those years", path)
    try:
        converted = (at.astimezone(UTC), at.astimezone(tz))
    except (OverflowError, ValueError) as exc:
        raise refusal from exc
    if not all(lo <= c.year <= hi for c in converted):
        raise refusal
    return at


def local_start(p: Proposal) -> datetime:
    """``p.starts_at`` as wall-clock time in the zone the talks are scheduled in."""
    return aware(p.starts_at, "starts_at").astimezone(zone(p.tz))


# --- transitions ------------------------------------------------------------------------


def _reason(reason: object, what: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise TalksError(f"{what} needs a reason the other side can read", "reason")
    return checked_text(reason, "reason", max_len=REASON_MAX)


def need_state(t: Talks, action: str, *states: TalksState) -> None:
    """Raise unless ``t`` is in one of ``states`` (``action``: what the others cannot be)."""
    if t.state not in states:
        by = f" by {t.answered_by}" if t.answered_by else ""
        names = " or ".join(s.value for s in states)
        raise TalksError(f"talks {t.id} are {t.state.value}{by}: only {names} talks can be "
                         f"{action}")


def _need_answerer(t: Talks, by: str, action: str) -> None:
    """Only the party that did NOT make the current version answers it."""
    t.other(by)  # a third party is refused
    if by == t.current.by:
        raise TalksError(f"{by} made version {t.current.version} of talks {t.id}; it is for "
                         f"{t.other(by)} to accept, amend or decline it ({by} cannot {action} "
                         "its own proposal)")


def propose(talks_id: str, agreement_id: str, proposer: str, counterpart: str,
            p: Proposal) -> Talks:
    """New talks: ``p`` is version 1, made by ``proposer``."""
    record_id(talks_id, "id")
    record_id(agreement_id, "agreement_id")
    party_code(proposer, "parties[0]")
    party_code(counterpart, "parties[1]")
    if proposer == counterpart:
        raise TalksError(f"talks are between two parties; {proposer} cannot propose talks "
                         "to itself", "parties")
    if p.version != 1:
        raise TalksError(f"a new proposal is version 1, not {p.version!r}", "version")
    if p.by != proposer:
        raise TalksError(f"version 1 is made by the proposer {proposer}, not {p.by!r}", "by")
    parties = (proposer, counterpart)
    validate_proposal(p, parties)
    return Talks(talks_id, agreement_id, parties, (p,))


def accept(t: Talks, by: str, version: int) -> Talks:
    """``by`` accepts ``version``, which must be the current one and made by the other side."""
    t.other(by)
    need_state(t, "accepted", TalksState.PROPOSED)
    cur = t.current
    if version != cur.version:
        if isinstance(version, int) and 1 <= version < cur.version:
            amender = t.proposals[version].by  # who made the next version
            raise TalksError(f"version {version} was amended by {amender} (now version "
                             f"{cur.version}); accept version {cur.version} or amend it")
        raise TalksError(f"talks {t.id} have no version {version!r}; the current one is "
                         f"version {cur.version}")
    _need_answerer(t, by, "accept")
    return replace(t, state=TalksState.ACCEPTED, answered_by=by, reason="")


def amend(t: Talks, by: str, p: Proposal) -> Talks:
    """A counter-proposal by the party that did not make the current version. The talks stay
    proposed; the other side now answers version ``p.version``."""
    t.other(by)
    need_state(t, "amended", TalksState.PROPOSED)
    _need_answerer(t, by, "amend")
    nxt = t.current.version + 1
    if p.version != nxt:
        raise TalksError(f"the amendment of version {t.current.version} is version {nxt}, "
                         f"not {p.version!r}", "version")
    if p.by != by:
        raise TalksError(f"an amendment by {by} is made by {by}, not {p.by!r}", "by")
    validate_proposal(p, t.parties)
    return replace(t, proposals=(*t.proposals, p))


def decline(t: Talks, by: str, reason: str) -> Talks:
    """The party that did not make the current version declines the talks, with a reason."""
    t.other(by)
    need_state(t, "declined", TalksState.PROPOSED)
    _need_answerer(t, by, "decline")
    return replace(t, state=TalksState.DECLINED, answered_by=by,
                   reason=_reason(reason, "declining talks"))


def cancel(t: Talks, by: str, reason: str) -> Talks:
    """Either party calls off proposed or accepted talks, with a reason."""
    t.other(by)
    need_state(t, "cancelled", TalksState.PROPOSED, TalksState.ACCEPTED)
    return replace(t, state=TalksState.CANCELLED, answered_by=by,
                   reason=_reason(reason, "cancelling talks"))


def end(t: Talks, by: str, reason: str = "") -> Talks:
    """Either party ends accepted talks: the call is over (nobody joins, no signal or chat is
    taken any more); the minutes can still be edited and signed. The reason is optional."""
    t.other(by)
    need_state(t, "ended", TalksState.ACCEPTED)
    if not isinstance(reason, str):
        raise TalksError(f"expected text, got {type(reason).__name__}", "reason")
    return replace(t, state=TalksState.ENDED, answered_by=by,
                   reason=checked_text(reason, "reason", max_len=REASON_MAX, min_len=0))


# --- the call ---------------------------------------------------------------------------


def need_live(t: Talks) -> None:
    """Raise unless the call of ``t`` is open: the talks are accepted and not ended."""
    need_state(t, "joined", TalksState.ACCEPTED)


def person(name: str) -> str:
    """A name as delegations are compared: Unicode NFC, case-folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def on_delegation(t: Talks, party: str, names: Iterable[str]) -> bool:
    """True when one of ``names`` (a user's username, display name) is named in ``party``'s
    delegation of the current proposal, compared as ``person`` does. Empty names never
    match."""
    listed = {person(n) for n in t.current.delegations.get(party, ())}
    return any(person(n) in listed for n in names if isinstance(n, str) and n.strip())
