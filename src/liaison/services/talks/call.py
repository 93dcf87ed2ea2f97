"""The live call of accepted talks: who may join, the presence, WebRTC signals and chat of
each side's delegates, recorded here and carried to the partner's node (the browser only ever
talks to its own node), and the roster and record the pages read.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from liaison.crypto.passwords import token_hash
from liaison.domain import talks as dt
from liaison.domain.users import User
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Forbidden, Invalid, Refused, ServiceError
from liaison.services.ports import UnitOfWork
from liaison.services.talks.shared import (
    DELEGATES,
    load,
    mou_opening_talks,
    partner_field,
    refusal,
    ruled,
    send,
)

LIVE_KINDS = ("presence", "signal", "chat")
MAX_EVENT = 64 * 1024  # bytes of a live event as JSON (an SDP offer is a few KiB)
MAX_EVENTS = 1 + dt.DELEGATES_MAX  # recorded at once: a join and an offer per remote delegate
CHAT_MAX = 2000  # characters
NAME_MAX = 200  # a participant's shown name
FLAGS = ("muted", "camera", "hand", "sharing")
PRESENCE_ACTIONS = ("join", "state", "leave")
PARTICIPANT = re.compile(r"^[A-Z]{3}:[a-z][a-z0-9._-]{1,62}$")  # party:username
FIELDS = {"presence": {"action", *FLAGS}, "signal": {"to", "data"}, "chat": {"text"}}


def participant_id(deps: Deps, user: User) -> str:
    return f"{deps.party}:{user.username}"


def _leaving(t: dt.Talks, kind: str, event: dict[str, Any]) -> bool:
    """Leaving the call once the talks ended: still recorded, so the roster empties."""
    return (t.state is dt.TalksState.ENDED and kind == "presence"
            and event.get("action") == "leave")


def _check_joins(uow: UnitOfWork, deps: Deps, t: dt.Talks, user: User,
                 leaving: bool = False) -> None:
    """The call of ``t`` is open, its MOU in force, and ``user`` is on this party's
    delegation of the accepted proposal (by username or display name). ``leaving`` ended
    talks needs neither the open call nor the MOU."""
    if not leaving:
        ruled(dt.need_live, t)
        mou_opening_talks(uow, deps, t.other(deps.party), t.agreement_id)
    if not dt.on_delegation(t, deps.party, (user.username, user.display_name)):
        raise Forbidden(f"you are not on {deps.party}'s delegation for these talks "
                        f"(signed in as {user.username})")


def may_join(deps: Deps, user: User, talks_id: str) -> None:
    """Raise unless ``user`` may join the call of ``talks_id`` now: ``Forbidden`` when not
    a delegate of these talks, ``Refused`` when the call is not open, ``NotFound``."""
    require(user, *DELEGATES)
    with deps.uow() as uow:
        t, _ = load(uow, talks_id)
        _check_joins(uow, deps, t, user)


def session_ends(deps: Deps, token: str) -> datetime | None:
    """When the session behind ``token`` expires (``None``: it does not, or is unknown;
    ``auth.authenticate`` is what refuses it)."""
    with deps.uow() as uow:
        found = uow.tokens.get(token_hash(token))
    return found.expires_at if found else None


def _event(kind: str, event: dict[str, Any]) -> dict[str, Any]:
    """A live event's shape, the same from our page and from the partner: ``Invalid``
    naming what is wrong."""
    if kind not in LIVE_KINDS:
        raise Invalid(f"unknown live event {kind!r}: presence, signal or chat")
    extra = sorted(set(event) - FIELDS[kind] - {"from", "name"})
    if extra:
        raise Invalid(f"a {kind} event has no field {', '.join(map(repr, extra))}")
    who, name = event.get("from"), event.get("name")
    if not isinstance(who, str) or not PARTICIPANT.fullmatch(who):
        raise Invalid(f"from: {who!r} is not a participant (PARTY:username)")
    if not isinstance(name, str) or not 1 <= len(name) <= NAME_MAX:
        raise Invalid(f"name: 1–{NAME_MAX} characters")
    _check_kind(kind, event)
    size = len(json.dumps(event, ensure_ascii=False).encode())
    if size > MAX_EVENT:
        raise Invalid(f"live events are limited to {MAX_EVENT} bytes; this one is {size}")
    return event


def _check_kind(kind: str, event: dict[str, Any]) -> None:
    if kind == "chat":
        text = event.get("text")
        if not isinstance(text, str) or not text.strip():
            raise Invalid("a chat message needs some text")
        if len(text) > CHAT_MAX:
            raise Invalid(f"a chat message is at most {CHAT_MAX:,} characters; this one is "
                          f"{len(text):,}: split it")
    elif kind == "signal":
        to = event.get("to")
        if not isinstance(to, str) or not PARTICIPANT.fullmatch(to):
            raise Invalid(f"to: {to!r} is not a participant (PARTY:username)")
        if not isinstance(event.get("data"), dict):
            raise Invalid("a signal carries an object (an SDP description or ICE candidate)")
    else:
        if event.get("action") not in PRESENCE_ACTIONS:
            raise Invalid(f"action: {event.get('action')!r} is not join, state or leave")
        wrong = [f for f in FLAGS if f in event and not isinstance(event[f], bool)]
        if wrong:
            raise Invalid(f"{', '.join(wrong)}: true or false")


def live_event(deps: Deps, user: User, talks_id: str, kind: str,
               data: dict[str, Any]) -> None:
    """A delegate's presence, signal or chat: recorded here and sent to the partner. Only a
    member of this party's delegation, while the call is open and the MOU in force (leaving
    is recorded after the talks ended too); a signal goes to one of the other party's
    participants."""
    live_events(deps, user, talks_id, [(kind, data)])


def live_events(deps: Deps, user: User, talks_id: str,
                events: list[tuple[str, dict[str, Any]]]) -> None:
    """Several of ``live_event``'s events in order, in one transaction: all recorded and
    queued for the partner together (so they cross in one envelope: a join and the offers
    that follow it), or none when any of them is refused."""
    require(user, *DELEGATES)
    if not 1 <= len(events) <= MAX_EVENTS:
        raise Invalid(f"1 to {MAX_EVENTS} events at once, not {len(events)}")
    me = participant_id(deps, user)
    name = (user.display_name or user.username)[:NAME_MAX]
    checked = [(kind, _event(kind, {**data, "from": me, "name": name}))
               for kind, data in events]
    with deps.uow() as uow:
        t, _ = load(uow, talks_id)
        other = t.other(deps.party)
        _check_joins(uow, deps, t, user, all(_leaving(t, k, e) for k, e in checked))
        for kind, event in checked:
            if kind == "signal" and not str(event["to"]).startswith(f"{other}:"):
                raise Invalid(f"to: signals go to {other}'s participants, not "
                              f"{event['to']!r}")
            uow.talks.add_event(t.id, kind, deps.party, event, deps.clock())
            send(uow, deps, t, "talks_live", {"kind": kind, "event": event})
            if kind == "chat":
                record(uow, deps, user.username, "talks.chat", f"talks:{t.id}",
                       {"text": event["text"]})
        uow.commit()
    deps.publish(f"talks:{talks_id}")


def apply_live(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """The partner's presence, signal or chat: kept only while the call is open and the
    MOU in force (a leave also after the talks ended), from one of the sender's delegates,
    and a signal only to one of our participants in the call now."""
    try:
        talks_id, kind = partner_field(body, "talks_id", str), partner_field(body, "kind", str)
        event = _event(kind, partner_field(body, "event", dict))
        t, _ = load(uow, talks_id)
        t.other(sender)
        if not _leaving(t, kind, event):
            dt.need_live(t)
            mou_opening_talks(uow, deps, sender, t.agreement_id)
        _check_remote(uow, deps, t, sender, kind, event)
    except (ServiceError, KeyError, TypeError, ValueError) as exc:  # TalksError: a ValueError
        return refusal(exc, "live event")
    uow.talks.add_event(talks_id, kind, sender, event, deps.clock())
    return None


def _check_remote(uow: UnitOfWork, deps: Deps, t: dt.Talks, sender: str, kind: str,
                  event: dict[str, Any]) -> None:
    who = str(event["from"])
    party, username = who.split(":", 1)
    if party != sender:
        raise Refused(f"a live event from {sender} must come from one of its own delegates, "
                      f"not {who}")
    if not dt.on_delegation(t, sender, (username, str(event["name"]))):
        raise Refused(f"{who} ({event['name']}) is not on {sender}'s delegation for talks "
                      f"{t.id}")
    if kind == "signal":
        present = {p["id"] for p in roster(uow.talks.events(t.id, kinds=("presence",)))
                   if p["party"] == deps.party}
        if event["to"] not in present:
            raise Refused(f"{event['to']} is not one of {deps.party}'s participants in the "
                          f"call of talks {t.id} now")


def roster(events: list[Any]) -> list[dict[str, Any]]:
    """Who is in the call now: the last presence event of each participant, unless left."""
    last: dict[str, dict[str, Any]] = {}
    for _, kind, party, data, _ in events:
        if kind == "presence":
            last[str(data["from"])] = {**data, "party": party}
    return [{"id": pid, "party": d["party"], "name": d.get("name", pid),
             "muted": bool(d.get("muted")), "camera": bool(d.get("camera", True)),
             "hand": bool(d.get("hand")), "sharing": bool(d.get("sharing"))}
            for pid, d in sorted(last.items()) if d.get("action") != "leave"]


def live_state(deps: Deps, talks_id: str, after: int) -> tuple[list[Any], int]:
    """The record after ``after`` and the newest sequence number."""
    with deps.uow() as uow:
        events = uow.talks.events(talks_id, after)
    return events, (events[-1][0] if events else after)


def record_of(deps: Deps, talks_id: str,
              kinds: tuple[str, ...] = ("presence", "chat")) -> tuple[list[Any], int]:
    """The call's record of ``kinds`` (by default without the WebRTC signals) and the
    newest sequence number of the whole record."""
    with deps.uow() as uow:
        return uow.talks.events(talks_id, kinds=kinds), uow.talks.last_seq(talks_id)
