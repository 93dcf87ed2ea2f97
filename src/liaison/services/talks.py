"""Talks between governments: proposals and answers, the live call's record (presence,
WebRTC signals, chat) and the minutes both sides sign — all carried node to node like every
message, under an MOU in force that opens talks.

Each side's delegates only ever talk to their own node: a signal for a remote delegate is
stored here, sent to the partner's node over the signed, encrypted channel, stored there
and pushed to that delegate's page.

Who may do what: the node's ``delegate`` role (its talks team) lists, views, proposes,
answers and keeps the minutes; only the people its party's delegation of the accepted
proposal names join the call. Everything but calling talks off (cancel, end) needs the MOU
in force today, here and on the partner's node. Every refusal changes nothing.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from liaison.crypto import signed_minutes
from liaison.crypto.passwords import token_hash
from liaison.domain import minutes as dm
from liaison.domain import talks as dt
from liaison.domain import talks_wire as wire
from liaison.domain.agreements import Agreement, AgreementKind, status_at
from liaison.domain.users import Role, User
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Forbidden, Invalid, NotFound, Refused, ServiceError
from liaison.services.federation import keyring
from liaison.services.ports import UnitOfWork

DELEGATES = (Role.DELEGATE,)
ANSWERS = ("accept", "amend", "decline", "cancel", "end")
CLOSING = ("cancel", "end")  # calling talks off needs no MOU in force
LIVE_KINDS = ("presence", "signal", "chat")
MAX_EVENT = 64 * 1024  # bytes of a live event as JSON (an SDP offer is a few KiB)
MAX_EVENTS = 1 + dt.DELEGATES_MAX  # recorded at once: a join and an offer per remote delegate
CHAT_MAX = 2000  # characters
NAME_MAX = 200  # a participant's shown name
FLAGS = ("muted", "camera", "hand", "sharing")
PRESENCE_ACTIONS = ("join", "state", "leave")
PARTICIPANT = re.compile(r"^[A-Z]{3}:[a-z][a-z0-9._-]{1,62}$")  # party:username
FIELDS = {"presence": {"action", *FLAGS}, "signal": {"to", "data"}, "chat": {"text"}}
T = TypeVar("T")


# --- shared --------------------------------------------------------------------------


def _mou(uow: UnitOfWork, deps: Deps, other: str, likely: str | None = None) -> str:
    """The MOU in force today between this party and ``other`` that opens talks. ``likely``
    (the talks' own agreement) is looked at first: the live call checks on every event, and
    decoding one agreement instead of all of them is most of that check's cost."""
    today = deps.clock().date()

    def opens(a: Agreement) -> bool:
        return (a.kind is AgreementKind.MOU and "talks" in a.opens
                and {deps.party, other} <= set(a.parties)
                and status_at(a, today, deps.rules).in_force)

    found = uow.agreements.get(likely) if likely is not None else None
    if found is not None and opens(found):
        return found.id
    for a in uow.agreements.list():
        if opens(a):
            return a.id
    raise Refused(f"no MOU in force today between {deps.party} and {other} opens talks")


def _load(uow: UnitOfWork, talks_id: str) -> tuple[dt.Talks, dm.Minutes | None]:
    found = uow.talks.get(talks_id)
    if found is None:
        raise NotFound(f"no talks {talks_id} here")
    data, minutes = found
    try:
        return wire.talks_from(data), wire.minutes_from(minutes) if minutes else None
    except dt.TalksError as exc:
        raise Refused(f"talks {talks_id} as stored here break a rule ({exc}); an "
                      "administrator must look at them") from exc


def _save(uow: UnitOfWork, deps: Deps, t: dt.Talks, m: dm.Minutes | None) -> None:
    uow.talks.put(t.id, wire.talks_to(t), wire.minutes_to(m) if m else None, deps.clock())
    deps.publish(f"talks:{t.id}")


def _send(uow: UnitOfWork, deps: Deps, t: dt.Talks, kind: str, body: dict[str, Any]) -> None:
    uow.outbox.enqueue(message_id=deps.ids(), peer=t.other(deps.party), kind=kind,
                       payload={"talks_id": t.id, **body}, at=deps.clock())


def _domain(fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(*args)
    except dt.TalksError as exc:
        raise Refused(str(exc)) from exc


def _refusal(exc: Exception, what: str) -> str:
    """Why a partner's message is refused: a rule's own message, else what was malformed."""
    if isinstance(exc, ServiceError):
        return exc.message
    if isinstance(exc, dt.TalksError):
        return str(exc)
    return f"malformed {what}: {exc}"


def _field(body: Any, name: str, kind: type[T]) -> T:
    """``body[name]`` of type ``kind`` (a partner's message); ``TypeError`` otherwise."""
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{name} must be {kind.__name__}, not {type(value).__name__}")
    return value


# --- proposals and answers -----------------------------------------------------------


def propose(deps: Deps, user: User, counterpart: str, data: dict[str, Any]) -> dict[str, Any]:
    require(user, *DELEGATES)
    try:
        proposal = wire.proposal_from({**data, "version": 1, "by": deps.party}, "proposal")
    except (dt.TalksError, ValueError) as exc:
        raise Invalid(str(exc)) from exc
    with deps.uow() as uow:
        agreement = _mou(uow, deps, counterpart)
        t = _domain(dt.propose, f"{deps.party}-{deps.ids()[:12]}", agreement, deps.party,
                    counterpart, proposal)
        view = view_of(t, None)  # before anything is stored: a view that fails stores nothing
        _save(uow, deps, t, None)
        _send(uow, deps, t, "talks", {"action": "propose", "talks": wire.talks_to(t)})
        record(uow, deps, user.username, "talks.proposed", f"talks:{t.id}",
               {"with": counterpart, "title": proposal.title})
        uow.commit()
    return view


def answer(deps: Deps, user: User, talks_id: str, action: str,
           data: dict[str, Any]) -> dict[str, Any]:
    """accept (version), amend (a proposal), decline or cancel (a reason), or end (an
    optional reason), as this party."""
    require(user, *DELEGATES)
    if action not in ANSWERS:
        raise Invalid(f"action {action!r}: accept, amend, decline, cancel or end")
    with deps.uow() as uow:
        t, m = _load(uow, talks_id)
        if action not in CLOSING:
            _mou(uow, deps, t.other(deps.party))
        t, body = _answered(t, deps.party, action, data)
        _save(uow, deps, t, m)
        _send(uow, deps, t, "talks", body)
        record(uow, deps, user.username, f"talks.{action}", f"talks:{t.id}",
               {"version": t.current.version})
        uow.commit()
    return view_of(t, m)


def _answered(t: dt.Talks, party: str, action: str,
              data: dict[str, Any]) -> tuple[dt.Talks, dict[str, Any]]:
    """``t`` after ``party``'s answer, and the message that tells the partner."""
    body: dict[str, Any] = {"action": action}
    if action == "accept":
        version = data.get("version")
        body["version"] = t.current.version if version is None else version
        return _domain(dt.accept, t, party, body["version"]), body
    if action == "amend":
        try:
            p = wire.proposal_from({**data, "version": t.current.version + 1, "by": party},
                                 "proposal")
        except (dt.TalksError, ValueError) as exc:
            raise Invalid(str(exc)) from exc
        body["proposal"] = wire.proposal_to(p)
        return _domain(dt.amend, t, party, p), body
    body["reason"] = str(data.get("reason") or "")
    fn = {"decline": dt.decline, "cancel": dt.cancel, "end": dt.end}[action]
    return _domain(fn, t, party, body["reason"]), body


def apply_talks(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """The partner proposed or answered: the same rules (and the MOU), applied to our
    copy. A refusal stores nothing."""
    try:
        action, talks_id = _field(body, "action", str), _field(body, "talks_id", str)
        if action == "propose":
            t, m = _received_proposal(uow, deps, sender, talks_id, body["talks"]), None
        else:
            t, m = _load(uow, talks_id)
            t.other(sender)
            if action not in CLOSING:
                _mou(uow, deps, sender)
            t = _received_answer(t, sender, action, body)
    except (ServiceError, KeyError, TypeError, ValueError) as exc:  # TalksError: a ValueError
        return _refusal(exc, "talks message")
    _save(uow, deps, t, m)
    record(uow, deps, f"peer:{sender}", f"talks.{action}.received", f"talks:{t.id}",
           {"version": t.current.version})
    return None


def _received_proposal(uow: UnitOfWork, deps: Deps, sender: str, talks_id: str,
                       data: Any) -> dt.Talks:
    t = wire.talks_from(data)
    if t.parties != (sender, deps.party) or len(t.proposals) != 1 \
            or t.state is not dt.TalksState.PROPOSED or t.id != talks_id:
        raise Refused("a proposal must come from its proposer, to this party")
    if uow.talks.get(t.id) is not None:
        raise Refused(f"talks {t.id} already exist here")
    _mou(uow, deps, sender)
    return t


def _received_answer(t: dt.Talks, sender: str, action: str, body: Any) -> dt.Talks:
    if action == "accept":
        return dt.accept(t, sender, _field(body, "version", int))
    if action == "amend":
        return dt.amend(t, sender, wire.proposal_from(_field(body, "proposal", dict),
                                                    "proposal", t.parties))
    if action == "decline":
        return dt.decline(t, sender, _field(body, "reason", str))
    if action == "cancel":
        return dt.cancel(t, sender, _field(body, "reason", str))
    if action == "end":
        return dt.end(t, sender, _field(body, "reason", str))
    raise Refused(f"unknown talks action {action!r}")


def view_of(t: dt.Talks, m: dm.Minutes | None,
            relay: dict[str, Any] | None = None) -> dict[str, Any]:
    data = wire.talks_to(t)
    data["current"] = wire.proposal_to(t.current)
    data["local_start"] = dt.local_start(t.current).isoformat()
    data["relay"] = relay  # None: host candidates only (a closed network has no STUN/TURN)
    # an MOU opens talks, not the exchange of classified information (DOMAIN: Agreements)
    data["classification"] = "UNCLASSIFIED"
    data["minutes"] = wire.minutes_to(m) if m else None
    data["minutes_sealed"] = bool(m and dm.sealed(m))
    return data


def view(deps: Deps, user: User, talks_id: str) -> dict[str, Any]:
    require(user, *DELEGATES)
    with deps.uow() as uow:
        t, m = _load(uow, talks_id)
    return view_of(t, m, deps.talks_relay)


def list_talks(deps: Deps, user: User) -> list[dict[str, Any]]:
    """Newest first. Talks stored before a rule existed and that break it now are left
    out (``view`` of one of them says why)."""
    require(user, *DELEGATES)
    with deps.uow() as uow:
        rows = uow.talks.list()
    out = []
    for data in rows:
        try:
            out.append(view_of(wire.talks_from(data), None))
        except dt.TalksError:
            continue
    return out


# --- minutes -------------------------------------------------------------------------


def _own_keys(deps: Deps) -> dict[str, Ed25519PublicKey]:
    card = keyring(deps).card(deps.party, deps.address, deps.clock())
    return _keys(card.signing_keys, deps.clock())


def _keys(infos: Any, now: datetime) -> dict[str, Ed25519PublicKey]:
    return {k.id: Ed25519PublicKey.from_public_bytes(base64.b64decode(k.public))
            for k in infos if k.usable(now)}


def minutes(deps: Deps, user: User, talks_id: str, changes: dict[str, Any] | None,
            sign: bool, revision: int | None = None) -> dict[str, Any]:
    """Draft, edit and/or sign the minutes; every change goes to the partner.

    ``revision`` is the revision the user last saw (0: none yet): when the minutes have
    changed since (the partner's edit arrived), nothing is done and the user is told to
    reload. A request that changes nothing on existing minutes stores and sends nothing.
    """
    require(user, *DELEGATES)
    with deps.uow() as uow:
        t, m = _load(uow, talks_id)
        _domain(dm.need_minutes, t)
        _mou(uow, deps, t.other(deps.party))
        now = m.revision if m else 0
        if revision is not None and revision != now:
            raise Refused(f"the minutes changed (now revision {now}); reload and edit again")
        if m is not None and not changes and not sign:
            return view_of(t, m)
        if m is None:
            m = _domain(dm.draft, t, deps.party)
        if changes:
            m = _domain(_edit, m, deps.party, changes)
        if sign:
            key_id, key = keyring(deps).signer(deps.clock())
            m = _domain(signed_minutes.sign, m, deps.party, key_id, key, deps.clock())
        _save(uow, deps, t, m)
        _send(uow, deps, t, "talks_minutes", {"minutes": wire.minutes_to(m)})
        record(uow, deps, user.username, "talks.minutes.signed" if sign else
               "talks.minutes.edited", f"talks:{t.id}", {"revision": m.revision})
        uow.commit()
    return view_of(t, m)


def _edit(m: dm.Minutes, party: str, changes: dict[str, Any]) -> dm.Minutes:
    """``dm.edit`` with the request's plain data (lists become tuples; anything else is
    left for the domain to refuse, naming the field)."""
    def seq(raw: Any) -> Any:
        return tuple(raw) if isinstance(raw, list) else raw

    attendance = changes.get("attendance")
    if isinstance(attendance, dict):
        attendance = {str(k): seq(v) for k, v in attendance.items()}
    return dm.edit(m, party, attendance=attendance, outcomes=changes.get("outcomes"),
                   agreed=seq(changes.get("agreed")))


def apply_minutes(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """The partner's edit or signature, kept as ``signed_minutes.receive_minutes`` decides: every
    signature on it verifies against the signer's published keys, the talks may have
    minutes, the MOU is in force, and the minutes fit the talks."""
    try:
        incoming = wire.minutes_from(_field(body, "minutes", dict), "minutes")
        t, m = _load(uow, _field(body, "talks_id", str))
        t.other(sender)
        dm.check_minutes(t, incoming)
        _mou(uow, deps, sender)
        peer = uow.peers.get(sender)
        if peer is None:
            raise Refused(f"{sender} is not a partner here")
        keys = {sender: _keys(peer.card.signing_keys, deps.clock()),
                deps.party: _own_keys(deps)}
        kept = signed_minutes.receive_minutes(m, incoming, sender, keys)
    except (ServiceError, KeyError, TypeError, ValueError) as exc:  # TalksError: a ValueError
        return _refusal(exc, "minutes")
    _save(uow, deps, t, kept)
    record(uow, deps, f"peer:{sender}", "talks.minutes.received", f"talks:{t.id}",
           {"revision": kept.revision, "signed_by": sorted(kept.signatures)})
    return None


def verify_minutes(deps: Deps, user: User, talks_id: str) -> dict[str, str]:
    """Each side's signature checked against that side's published keys."""
    require(user, *DELEGATES)
    with deps.uow() as uow:
        t, m = _load(uow, talks_id)
        peers = {p.party: p for p in uow.peers.list()}
    if m is None:
        raise NotFound(f"talks {talks_id} have no minutes yet")
    out = {}
    for party in t.parties:
        keys = _own_keys(deps) if party == deps.party else (
            _keys(peers[party].card.signing_keys, deps.clock()) if party in peers else {})
        try:
            signed_minutes.verify(m, party, keys)
            out[party] = "verified"
        except dt.TalksError as exc:
            out[party] = f"not verified: {exc}"
    return out


# --- the live call -------------------------------------------------------------------


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
        _domain(dt.need_live, t)
        _mou(uow, deps, t.other(deps.party), t.agreement_id)
    if not dt.on_delegation(t, deps.party, (user.username, user.display_name)):
        raise Forbidden(f"you are not on {deps.party}'s delegation for these talks "
                        f"(signed in as {user.username})")


def may_join(deps: Deps, user: User, talks_id: str) -> None:
    """Raise unless ``user`` may join the call of ``talks_id`` now: ``Forbidden`` when not
    a delegate of these talks, ``Refused`` when the call is not open, ``NotFound``."""
    require(user, *DELEGATES)
    with deps.uow() as uow:
        t, _ = _load(uow, talks_id)
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
        t, _ = _load(uow, talks_id)
        other = t.other(deps.party)
        _check_joins(uow, deps, t, user, all(_leaving(t, k, e) for k, e in checked))
        for kind, event in checked:
            if kind == "signal" and not str(event["to"]).startswith(f"{other}:"):
                raise Invalid(f"to: signals go to {other}'s participants, not "
                              f"{event['to']!r}")
            uow.talks.add_event(t.id, kind, deps.party, event, deps.clock())
            _send(uow, deps, t, "talks_live", {"kind": kind, "event": event})
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
        talks_id, kind = _field(body, "talks_id", str), _field(body, "kind", str)
        event = _event(kind, _field(body, "event", dict))
        t, _ = _load(uow, talks_id)
        t.other(sender)
        if not _leaving(t, kind, event):
            dt.need_live(t)
            _mou(uow, deps, sender, t.agreement_id)
        _check_remote(uow, deps, t, sender, kind, event)
    except (ServiceError, KeyError, TypeError, ValueError) as exc:  # TalksError: a ValueError
        return _refusal(exc, "live event")
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


APPLIERS = {"talks": apply_talks, "talks_minutes": apply_minutes, "talks_live": apply_live}
