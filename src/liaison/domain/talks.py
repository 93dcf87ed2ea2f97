"""Talks between two governments: proposals, counter-proposals, and signed minutes.

Pure: no I/O apart from ``zoneinfo`` look-ups of the time zone a proposal names.

Either party proposes talks under an agreement (version 1). The other party of the *current*
version accepts it, amends it (a counter-proposal: version n+1, made by that party, which the
first party must now answer) or declines it with a reason. Either party may cancel proposed or
accepted talks, with a reason, and either may end accepted talks (the call is over: no more
signals or chat). ``answered_by``/``reason`` record the last answer (accept, decline, cancel or
end); a cancellation or an end after acceptance therefore records who did it.

Only the people named in a party's delegation of the accepted proposal join the call
(``on_delegation``).

During or after the talks either side drafts the minutes from the accepted proposal (its
delegations as the attendance, one empty outcome per agenda item), both sides edit them, then
each signs the canonical bytes (``minutes_bytes``) with its node's Ed25519 key. Once both have
signed, the minutes are sealed and cannot change (nor be signed again); each side can verify
the other's signature. ``receive_minutes`` decides what a side keeps of the other's copy when
both edit or sign at the same time.

Every ``...Error`` message names the field (``proposals[1].agenda[0].kind``) and the rule, so
a person can fix the input.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from liaison.domain.labels import PARTY_CODE

Data = Mapping[str, Any]
T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

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
AGREED_MAX = 100  # agreed points in the minutes
AGREED_POINT_MAX = 2000
OUTCOME_MAX = 4000
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")  # agenda item ids
RECORD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")  # talks, agreement, key ids
TZ_KEY = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")
HOST_ZONES = frozenset({"localtime", "posixrules"})  # mean different things on each host
SIGNATURE_BYTES = 64  # Ed25519
MINUTES_DOMAIN = b"liaison-minutes-v1\0"


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


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _text(value: object, path: str, *, max_len: int, min_len: int = 1) -> str:
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


def _party(value: object, path: str) -> str:
    if not isinstance(value, str) or not PARTY_CODE.fullmatch(value):
        raise TalksError(f"{value!r} is not a party code (three capital letters, e.g. KOR)",
                         path)
    return value


def _record_id(value: object, path: str) -> str:
    if not isinstance(value, str) or not RECORD_ID.fullmatch(value):
        raise TalksError(f"{value!r} is not a valid id (1–128 letters, digits, '.', '_', ':' "
                         "or '-', starting with a letter or digit)", path)
    return value


def _aware(value: object, path: str) -> datetime:
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


def _names(value: object, path: str, who: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, tuple | list):
        raise TalksError(f"expected a list of names, got {type(value).__name__}", path)
    if not 1 <= len(value) <= DELEGATES_MAX:
        raise TalksError(f"{who} has {len(value)} names; 1–{DELEGATES_MAX} are allowed", path)
    names = tuple(_text(n, f"{path}[{i}]", max_len=NAME_MAX) for i, n in enumerate(value))
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise TalksError(f"{who} lists {', '.join(dupes)} more than once", path)
    return names


def _by_party(value: object, parties: tuple[str, str], path: str,
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
    return {p: _names(value[p], f"{path}.{p}", p) for p in parties}


# --- proposals --------------------------------------------------------------------------


def validate_proposal(p: Proposal, parties: tuple[str, str]) -> None:
    """Raise ``TalksError`` naming the first field of ``p`` that breaks a rule."""
    _check_proposal(p, parties, "")


def _check_proposal(p: Proposal, parties: tuple[str, str], path: str) -> None:
    if isinstance(p.version, bool) or not isinstance(p.version, int) or p.version < 1:
        raise TalksError(f"{p.version!r} is not a version number (1, 2, ...)",
                         _join(path, "version"))
    if p.by not in parties:
        raise TalksError(f"{p.by!r} is not a party to these talks ({parties[0]}–{parties[1]})",
                         _join(path, "by"))
    _text(p.title, _join(path, "title"), max_len=TITLE_MAX)
    _start(p.starts_at, zone(p.tz, _join(path, "tz")), _join(path, "starts_at"))
    d = p.duration_min
    if isinstance(d, bool) or not isinstance(d, int) or not DURATION_MIN <= d <= DURATION_MAX:
        raise TalksError(f"{d!r} minutes is outside {DURATION_MIN}–{DURATION_MAX} minutes",
                         _join(path, "duration_min"))
    _by_party(p.delegations, parties, _join(path, "delegations"), "the delegations")
    _check_agenda(p.agenda, _join(path, "agenda"))
    _text(p.note, _join(path, "note"), max_len=NOTE_MAX, min_len=0)


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
                             "'_' or '-', starting with a letter or digit)", _join(ip, "id"))
        if item.id in seen:
            raise TalksError(f"{item.id!r} is already used by {path}[{seen[item.id]}]",
                             _join(ip, "id"))
        seen[item.id] = i
        if not isinstance(item.kind, AgendaKind):
            raise TalksError(f"{item.kind!r} is not one of {_allowed(AgendaKind)}",
                             _join(ip, "kind"))
        _text(item.title, _join(ip, "title"), max_len=AGENDA_TITLE_MAX)


def _start(value: object, tz: ZoneInfo, path: str) -> datetime:
    """An aware start that converts to UTC and to the talks' zone, in ``START_YEARS``
    both ways (a start that cannot be shown in the talks' zone is refused here, not when
    the talks are listed)."""
    at = _aware(value, path)
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
    return _aware(p.starts_at, "starts_at").astimezone(zone(p.tz))


# --- transitions ------------------------------------------------------------------------


def _reason(reason: object, what: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise TalksError(f"{what} needs a reason the other side can read", "reason")
    return _text(reason, "reason", max_len=REASON_MAX)


def _need_state(t: Talks, action: str, *allowed: TalksState) -> None:
    if t.state not in allowed:
        by = f" by {t.answered_by}" if t.answered_by else ""
        names = " or ".join(s.value for s in allowed)
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
    _record_id(talks_id, "id")
    _record_id(agreement_id, "agreement_id")
    _party(proposer, "parties[0]")
    _party(counterpart, "parties[1]")
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
    _need_state(t, "accepted", TalksState.PROPOSED)
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
    _need_state(t, "amended", TalksState.PROPOSED)
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
    _need_state(t, "declined", TalksState.PROPOSED)
    _need_answerer(t, by, "decline")
    return replace(t, state=TalksState.DECLINED, answered_by=by,
                   reason=_reason(reason, "declining talks"))


def cancel(t: Talks, by: str, reason: str) -> Talks:
    """Either party calls off proposed or accepted talks, with a reason."""
    t.other(by)
    _need_state(t, "cancelled", TalksState.PROPOSED, TalksState.ACCEPTED)
    return replace(t, state=TalksState.CANCELLED, answered_by=by,
                   reason=_reason(reason, "cancelling talks"))


def end(t: Talks, by: str, reason: str = "") -> Talks:
    """Either party ends accepted talks: the call is over (nobody joins, no signal or chat is
    taken any more); the minutes can still be edited and signed. The reason is optional."""
    t.other(by)
    _need_state(t, "ended", TalksState.ACCEPTED)
    if not isinstance(reason, str):
        raise TalksError(f"expected text, got {type(reason).__name__}", "reason")
    return replace(t, state=TalksState.ENDED, answered_by=by,
                   reason=_text(reason, "reason", max_len=REASON_MAX, min_len=0))


# --- the call ---------------------------------------------------------------------------


def need_live(t: Talks) -> None:
    """Raise unless the call of ``t`` is open: the talks are accepted and not ended."""
    _need_state(t, "joined", TalksState.ACCEPTED)


def person(name: str) -> str:
    """A name as delegations are compared: Unicode NFC, case-folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def on_delegation(t: Talks, party: str, names: Iterable[str]) -> bool:
    """True when one of ``names`` (a user's username, display name) is named in ``party``'s
    delegation of the current proposal, compared as ``person`` does. Empty names never
    match."""
    listed = {person(n) for n in t.current.delegations.get(party, ())}
    return any(person(n) in listed for n in names if isinstance(n, str) and n.strip())


# --- plain-data codec: talks --------------------------------------------------------------


def _allowed(kind: type[StrEnum]) -> str:
    return ", ".join(m.value for m in kind)


def _get(data: object, name: str, path: str, kind: type[T], default: Any = ...) -> T:
    """``data[name]`` checked to be a ``kind``; missing and no default is an error."""
    if not isinstance(data, Mapping):
        raise TalksError(f"expected an object, got {type(data).__name__}", path)
    if name not in data or data[name] is None:
        if default is ...:
            raise TalksError("is required", _join(path, name))
        return default  # type: ignore[no-any-return]
    value = data[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TalksError(f"expected {kind.__name__}, got {type(value).__name__}",
                         _join(path, name))
    return value


def _enum(kind: type[E], raw: str, path: str) -> E:
    if raw not in kind.__members__.values():
        raise TalksError(f"{raw!r} is not one of {_allowed(kind)}", path)
    return kind(raw)


def _datetime(raw: object, path: str) -> datetime:
    if not isinstance(raw, str):
        raise TalksError("expected an ISO 8601 date-time with an offset", path)
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise TalksError(f"{raw!r} is not an ISO 8601 date-time "
                         "(e.g. 2021-10-04T10:00:00+09:00)", path) from exc
    return _aware(dt, path)


def _str_list(raw: object, path: str) -> list[str]:
    if not isinstance(raw, list):
        raise TalksError(f"expected a list, got {type(raw).__name__}", path)
    for i, v in enumerate(raw):
        if not isinstance(v, str):
            raise TalksError(f"expected text, got {type(v).__name__}", f"{path}[{i}]")
    return raw


def proposal_to(p: Proposal) -> dict[str, Any]:
    return {
        "version": p.version,
        "by": p.by,
        "title": p.title,
        "starts_at": p.starts_at.isoformat(),
        "tz": p.tz,
        "duration_min": p.duration_min,
        "delegations": {party: list(names) for party, names in p.delegations.items()},
        "agenda": [{"id": a.id, "kind": a.kind.value, "title": a.title} for a in p.agenda],
        "note": p.note,
    }


def proposal_from(data: Data, path: str = "",
                  parties: tuple[str, str] | None = None) -> Proposal:
    """A validated proposal. Without ``parties`` the two parties are the delegations' keys."""
    dp = _join(path, "delegations")
    raw_dels = _get(data, "delegations", path, dict)
    delegations: dict[str, tuple[str, ...]] = {}
    for party, names in raw_dels.items():
        _party(party, dp)
        delegations[party] = tuple(_str_list(names, f"{dp}.{party}"))
    if parties is None:
        if len(delegations) != 2:
            raise TalksError(f"the delegations name exactly two parties, not "
                             f"{len(delegations)}", dp)
        a, b = delegations
        parties = (a, b)
    agenda_path = _join(path, "agenda")
    agenda = []
    for i, item in enumerate(_get(data, "agenda", path, list)):
        ip = f"{agenda_path}[{i}]"
        agenda.append(AgendaItem(
            id=_get(item, "id", ip, str),
            kind=_enum(AgendaKind, _get(item, "kind", ip, str), _join(ip, "kind")),
            title=_get(item, "title", ip, str)))
    p = Proposal(
        version=_get(data, "version", path, int),
        by=_get(data, "by", path, str),
        title=_get(data, "title", path, str),
        starts_at=_datetime(_get(data, "starts_at", path, str), _join(path, "starts_at")),
        tz=_get(data, "tz", path, str),
        duration_min=_get(data, "duration_min", path, int),
        delegations=delegations,
        agenda=tuple(agenda),
        note=_get(data, "note", path, str, default=""),
    )
    _check_proposal(p, parties, path)
    return p


def talks_to(t: Talks) -> dict[str, Any]:
    return {
        "id": t.id,
        "agreement_id": t.agreement_id,
        "parties": list(t.parties),
        "proposals": [proposal_to(p) for p in t.proposals],
        "state": t.state.value,
        "answered_by": t.answered_by,
        "reason": t.reason,
    }


def talks_from(data: Data, path: str = "") -> Talks:
    """Validated talks: the proposals must be the chain ``propose`` and ``amend`` make
    (versions 1, 2, ... alternating between the parties, proposer first), and the state,
    ``answered_by`` and ``reason`` must be an answer the rules allow."""
    raw_parties = _str_list(_get(data, "parties", path, list), _join(path, "parties"))
    if len(raw_parties) != 2:
        raise TalksError(f"talks have exactly two parties, not {len(raw_parties)}",
                         _join(path, "parties"))
    parties = (_party(raw_parties[0], _join(path, "parties[0]")),
               _party(raw_parties[1], _join(path, "parties[1]")))
    raw_proposals = _get(data, "proposals", path, list)
    if not raw_proposals:
        raise TalksError("talks have at least one proposal", _join(path, "proposals"))
    proposals = [proposal_from(p, f"{_join(path, 'proposals')}[{i}]", parties)
                 for i, p in enumerate(raw_proposals)]
    state = _enum(TalksState, _get(data, "state", path, str, default="proposed"),
                  _join(path, "state"))
    answered_by = _get(data, "answered_by", path, str, default=None)
    reason = _get(data, "reason", path, str, default="")
    talks_id = _record_id(_get(data, "id", path, str), _join(path, "id"))
    agreement_id = _record_id(_get(data, "agreement_id", path, str),
                              _join(path, "agreement_id"))

    t = _at(_join(path, "proposals[0]"),
            lambda: propose(talks_id, agreement_id, parties[0], parties[1], proposals[0]))
    for i, p in enumerate(proposals[1:], start=1):
        t = _at(f"{_join(path, 'proposals')}[{i}]", partial(amend, t, p.by, p))
    if state is TalksState.PROPOSED:
        if answered_by is not None or reason:
            raise TalksError("proposed talks have no answer yet (answered_by and reason "
                             "are empty)", path)
        return t
    if answered_by is None:
        raise TalksError(f"{state.value} talks name the party that answered",
                         _join(path, "answered_by"))
    if state is TalksState.ACCEPTED:
        if reason:
            raise TalksError("accepted talks carry no reason", _join(path, "reason"))
        return _at(path, partial(accept, t, answered_by, t.current.version))
    if state is TalksState.DECLINED:
        return _at(path, partial(decline, t, answered_by, reason))
    if state is TalksState.ENDED:
        accepted = _at(path, partial(accept, t, t.other(t.current.by), t.current.version))
        return _at(path, partial(end, accepted, answered_by, reason))
    return _at(path, partial(cancel, t, answered_by, reason))


def _at(path: str, fn: Callable[[], T]) -> T:
    """Run ``fn``; put a ``TalksError`` without a path at ``path``."""
    try:
        return fn()
    except TalksError as exc:
        raise TalksError(exc.message, _join(path, exc.path) if exc.path else path) from exc


# --- minutes ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signature:
    party: str
    key_id: str
    value: str  # base64 of the Ed25519 signature over ``minutes_bytes``
    signed_at: datetime  # not covered by the signature (it is about the signing, not the text)


@dataclass(frozen=True)
class Minutes:
    """The record of the talks. Its outcome keys are the accepted agenda's item ids, fixed
    when the draft is made; edits may change the texts but not the set of ids."""

    talks_id: str
    revision: int
    attendance: Mapping[str, tuple[str, ...]]  # party -> who attended
    outcomes: Mapping[str, str]  # agenda item id -> outcome text
    agreed: tuple[str, ...]  # agreed points
    edited_by: str
    signatures: Mapping[str, Signature] = field(default_factory=dict)  # party -> signature


def need_minutes(t: Talks) -> None:
    """Raise unless ``t`` may have minutes: accepted (the call open or ended)."""
    _need_state(t, "minuted", TalksState.ACCEPTED, TalksState.ENDED)


def check_minutes(t: Talks, m: Minutes) -> None:
    """Raise unless ``m`` can be the minutes of ``t``: talks that may have minutes, the same
    id, an attendance of exactly the talks' parties and outcomes only for items of the
    accepted agenda."""
    need_minutes(t)
    if m.talks_id != t.id:
        raise TalksError(f"these are the minutes of talks {m.talks_id!r}, not {t.id}",
                         "talks_id")
    if set(m.attendance) != set(t.parties):
        raise TalksError(f"the attendance must name the parties {t.parties[0]} and "
                         f"{t.parties[1]}, not {', '.join(sorted(m.attendance))}",
                         "attendance")
    extra = sorted(set(m.outcomes) - {item.id for item in t.current.agenda})
    if extra:
        raise TalksError(f"{', '.join(extra)} not in the accepted agenda of talks {t.id} "
                         f"({', '.join(item.id for item in t.current.agenda)})", "outcomes")


def draft(t: Talks, by: str) -> Minutes:
    """Revision 1 of the minutes of accepted (or ended) talks: the accepted proposal's
    delegations as the attendance, an empty outcome per agenda item, no agreed points."""
    t.other(by)
    need_minutes(t)
    p = t.current
    return Minutes(
        talks_id=t.id,
        revision=1,
        attendance={party: tuple(p.delegations[party]) for party in t.parties},
        outcomes={item.id: "" for item in p.agenda},
        agreed=(),
        edited_by=by,
    )


def sealed(m: Minutes) -> bool:
    """Both parties of the attendance have signed."""
    return len(m.attendance) == 2 and all(p in m.signatures for p in m.attendance)


def _check_editor(m: Minutes, by: str, action: str) -> None:
    if by not in m.attendance:
        raise TalksError(f"{by} is not a party to the minutes of talks {m.talks_id} "
                         f"({' and '.join(m.attendance)}); it cannot {action} them")


def edit(m: Minutes, by: str, *, attendance: Mapping[str, tuple[str, ...]] | None = None,
         outcomes: Mapping[str, str] | None = None,
         agreed: tuple[str, ...] | None = None) -> Minutes:
    """The next revision, edited by ``by`` (either party).

    ``attendance`` replaces the names of the parties it lists; ``outcomes`` replaces the
    texts of the agenda ids it lists (only the ids of the draft, i.e. of the accepted
    agenda); ``agreed`` replaces all agreed points. An edit that changes nothing is refused.

    Signatures: sealed minutes (both sides signed) cannot change. If ONE side has signed,
    the edit removes its signature: it signed an earlier revision, and the new text must be
    signed again (the revision number is part of the signed bytes, so the old signature
    would not verify anyway).
    """
    _check_editor(m, by, "edit")
    if sealed(m):
        raise TalksError("the minutes are signed by both sides and cannot change "
                         f"(talks {m.talks_id}, revision {m.revision})")
    parties = _two(m)
    new_attendance = dict(m.attendance)
    if attendance is not None:
        if not isinstance(attendance, Mapping):
            raise TalksError("expected party -> names", "attendance")
        for party, names in attendance.items():
            if party not in parties:
                raise TalksError(f"{party!r} is not a party to these minutes "
                                 f"({parties[0]}, {parties[1]})", "attendance")
            new_attendance[party] = _names(names, f"attendance.{party}", party)
    new_outcomes = dict(m.outcomes)
    if outcomes is not None:
        if not isinstance(outcomes, Mapping):
            raise TalksError("expected agenda id -> outcome text", "outcomes")
        for item_id, text in outcomes.items():
            if item_id not in m.outcomes:
                raise TalksError(f"{item_id!r} is not an item of the accepted agenda "
                                 f"({', '.join(m.outcomes)})", "outcomes")
            new_outcomes[item_id] = _text(text, f"outcomes.{item_id}", max_len=OUTCOME_MAX,
                                          min_len=0)
    new_agreed = m.agreed if agreed is None else _agreed(agreed, "agreed")
    if (new_attendance, new_outcomes, new_agreed) == (dict(m.attendance), dict(m.outcomes),
                                                     tuple(m.agreed)):
        raise TalksError(f"the edit changes nothing in revision {m.revision}")
    return Minutes(m.talks_id, m.revision + 1, new_attendance, new_outcomes, new_agreed,
                   by, {})


def _two(m: Minutes) -> tuple[str, str]:
    parties = tuple(m.attendance)
    if len(parties) != 2:
        raise TalksError("the minutes name exactly two parties", "attendance")
    return parties[0], parties[1]


def _agreed(value: object, path: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, tuple | list):
        raise TalksError(f"expected a list of agreed points, got {type(value).__name__}", path)
    if len(value) > AGREED_MAX:
        raise TalksError(f"has {len(value)} points; at most {AGREED_MAX}", path)
    return tuple(_text(v, f"{path}[{i}]", max_len=AGREED_POINT_MAX)
                 for i, v in enumerate(value))


def minutes_bytes(m: Minutes) -> bytes:
    """The canonical bytes both sides sign: every field except the signatures, as JSON with
    sorted keys and no spaces, UTF-8 (non-ASCII kept as is), after a domain-separation
    prefix. Names keep their order; no Unicode normalization is applied."""
    body = {k: v for k, v in minutes_to(m).items() if k != "signatures"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return MINUTES_DOMAIN + text.encode("utf-8")


def sign(m: Minutes, party: str, key_id: str, key: Ed25519PrivateKey,
         at: datetime) -> Minutes:
    """``party`` signs the current text with its node key ``key_id``; before the other side
    has signed, a new signature by the same party replaces its old one (the text itself does
    not change). Sealed minutes are not signed again: both copies must stay the same."""
    _check_editor(m, party, "sign")
    if sealed(m):
        raise TalksError("the minutes are signed by both sides and cannot be signed again "
                         f"(talks {m.talks_id}, revision {m.revision})")
    _record_id(key_id, "key_id")
    _aware(at, "signed_at")
    value = base64.b64encode(key.sign(minutes_bytes(m))).decode("ascii")
    return replace(m, signatures={**m.signatures,
                                  party: Signature(party, key_id, value, at)})


def verify(m: Minutes, party: str, keys: Mapping[str, Ed25519PublicKey]) -> None:
    """Raise ``TalksError`` unless ``party``'s signature verifies over ``minutes_bytes(m)``
    with the public key its ``key_id`` names in ``keys``."""
    where = f"revision {m.revision} of the minutes of talks {m.talks_id}"
    sig = m.signatures.get(party)
    if sig is None:
        raise TalksError(f"{party} has not signed {where}")
    if sig.party != party:
        raise TalksError(f"the signature filed under {party} is {sig.party}'s")
    key = keys.get(sig.key_id)
    if key is None:
        known = ", ".join(sorted(keys)) or "none"
        raise TalksError(f"{party} signed {where} with key {sig.key_id!r}, which is not "
                         f"among the known keys ({known})")
    raw = _signature_bytes(sig.value, f"signatures.{party}.value")
    try:
        key.verify(raw, minutes_bytes(m))
    except InvalidSignature as exc:
        raise TalksError(f"{party}'s signature (key {sig.key_id!r}) does not verify over "
                         f"{where}: the text changed after signing or the key is not "
                         "the one that signed") from exc


def receive_minutes(local: Minutes | None, incoming: Minutes, sender: str,
                    keys: Mapping[str, Mapping[str, Ed25519PublicKey]]) -> Minutes:
    """What this side keeps when ``sender`` sends its copy ``incoming`` of the minutes (this
    side's copy is ``local``); ``keys`` are each party's published signing keys.

    Every signature on ``incoming`` must verify. Then, against ``local``:

    * none here, or an older revision here: ``incoming`` replaces it, if ``sender`` made it
      (``edited_by``) and ours is not sealed;
    * the same revision with the same text: the signatures are merged (our own signature as
      we hold it, the sender's as it sends it), so two signatures made at the same time
      both count;
    * the same revision with another text (both sides edited the same revision at the same
      time), or an older revision: refused; our copy stands, and whoever edits next makes a
      revision both sides take.
    """
    for party in incoming.signatures:
        verify(incoming, party, keys.get(party, {}))
    if local is not None and incoming.revision <= local.revision:
        if incoming.revision < local.revision:
            raise TalksError(f"revision {incoming.revision} of the minutes is older than "
                             f"ours ({local.revision}); ours stands")
        if minutes_bytes(incoming) != minutes_bytes(local):
            raise TalksError(f"revision {incoming.revision} of the minutes was edited here "
                             f"(by {local.edited_by}) and by {sender} at the same time; "
                             "ours stands: reload and edit again")
        theirs = {p: s for p, s in incoming.signatures.items()
                  if p == sender or p not in local.signatures}
        return replace(local, signatures={**local.signatures, **theirs})
    if incoming.edited_by != sender:
        raise TalksError(f"revision {incoming.revision} of the minutes is edited by "
                         f"{incoming.edited_by}; {sender} can only send its own edits",
                         "edited_by")
    if local is not None and sealed(local):
        raise TalksError("the minutes here are signed by both sides and cannot change "
                         f"(revision {local.revision})")
    return incoming


def _signature_bytes(value: str, path: str) -> bytes:
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise TalksError("is not base64", path) from exc
    if len(raw) != SIGNATURE_BYTES:
        raise TalksError(f"is {len(raw)} bytes; an Ed25519 signature is {SIGNATURE_BYTES}",
                         path)
    return raw


# --- plain-data codec: minutes -----------------------------------------------------------


def minutes_to(m: Minutes) -> dict[str, Any]:
    return {
        "talks_id": m.talks_id,
        "revision": m.revision,
        "attendance": {p: list(names) for p, names in m.attendance.items()},
        "outcomes": dict(m.outcomes),
        "agreed": list(m.agreed),
        "edited_by": m.edited_by,
        "signatures": {p: {"party": s.party, "key_id": s.key_id, "value": s.value,
                           "signed_at": s.signed_at.isoformat()}
                       for p, s in m.signatures.items()},
    }


def minutes_from(data: Data, path: str = "") -> Minutes:
    """Validated minutes. Structure and limits only: whether the outcome ids are the
    accepted agenda's and whether signatures verify is for ``verify`` and the caller."""
    talks_id = _record_id(_get(data, "talks_id", path, str), _join(path, "talks_id"))
    revision = _get(data, "revision", path, int)
    if revision < 1:
        raise TalksError(f"{revision} is not a revision number (1, 2, ...)",
                         _join(path, "revision"))
    ap = _join(path, "attendance")
    raw_att = _get(data, "attendance", path, dict)
    if len(raw_att) != 2:
        raise TalksError(f"the attendance names exactly two parties, not {len(raw_att)}", ap)
    for party in raw_att:
        _party(party, ap)
    a, b = raw_att
    attendance = _by_party(raw_att, (a, b), ap, "the attendance")
    op = _join(path, "outcomes")
    outcomes: dict[str, str] = {}
    raw_out = _get(data, "outcomes", path, dict)
    if not 1 <= len(raw_out) <= AGENDA_MAX:
        raise TalksError(f"has {len(raw_out)} agenda items; 1–{AGENDA_MAX} are allowed", op)
    for item_id, text in raw_out.items():
        if not ID.fullmatch(item_id):
            raise TalksError(f"{item_id!r} is not an agenda id", op)
        outcomes[item_id] = _text(text, f"{op}.{item_id}", max_len=OUTCOME_MAX, min_len=0)
    agreed = _agreed(_get(data, "agreed", path, list, default=[]), _join(path, "agreed"))
    edited_by = _get(data, "edited_by", path, str)
    if edited_by not in attendance:
        raise TalksError(f"{edited_by!r} is not a party to these minutes",
                         _join(path, "edited_by"))
    sp = _join(path, "signatures")
    signatures: dict[str, Signature] = {}
    for party, raw in _get(data, "signatures", path, dict, default={}).items():
        pp = f"{sp}.{party}"
        if party not in attendance:
            raise TalksError(f"{party!r} is not a party to these minutes", sp)
        signer = _party(_get(raw, "party", pp, str), _join(pp, "party"))
        if signer != party:
            raise TalksError(f"the signature filed under {party} is {signer}'s",
                             _join(pp, "party"))
        value = _get(raw, "value", pp, str)
        _signature_bytes(value, _join(pp, "value"))
        signatures[party] = Signature(
            party=signer,
            key_id=_record_id(_get(raw, "key_id", pp, str), _join(pp, "key_id")),
            value=value,
            signed_at=_datetime(_get(raw, "signed_at", pp, str), _join(pp, "signed_at")),
        )
    return Minutes(talks_id, revision, attendance, outcomes, agreed, edited_by, signatures)
