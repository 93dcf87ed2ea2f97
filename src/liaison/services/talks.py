"""Talks between governments: proposals and answers, the live call's record (presence,
WebRTC signals, chat) and the minutes both sides sign — all carried node to node like every
message, under an MOU in force that opens talks.

Each side's delegates only ever talk to their own node: a signal for a remote delegate is
stored here, sent to the partner's node over the signed, encrypted channel, stored there
and pushed to that delegate's page.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from liaison.domain import talks as dt
from liaison.domain.agreements import AgreementKind, status_at
from liaison.domain.users import Role, User
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Invalid, NotFound, Refused
from liaison.services.federation import keyring
from liaison.services.ports import UnitOfWork

DELEGATES = (Role.DELEGATE,)
LIVE_KINDS = ("presence", "signal", "chat")
MAX_SIGNAL = 64 * 1024


# --- proposals and answers -----------------------------------------------------------


def _mou(uow: UnitOfWork, deps: Deps, other: str) -> str:
    """The MOU in force today between this party and ``other`` that opens talks."""
    today = deps.clock().date()
    for a in uow.agreements.list():
        if (a.kind is AgreementKind.MOU and "talks" in a.opens
                and {deps.party, other} <= set(a.parties)
                and status_at(a, today, deps.rules).in_force):
            return a.id
    raise Refused(f"no MOU in force today between {deps.party} and {other} opens talks")


def _load(uow: UnitOfWork, talks_id: str) -> tuple[dt.Talks, dt.Minutes | None]:
    found = uow.talks.get(talks_id)
    if found is None:
        raise NotFound(f"no talks {talks_id}")
    data, minutes = found
    return dt.talks_from(data), dt.minutes_from(minutes) if minutes else None


def _save(uow: UnitOfWork, deps: Deps, t: dt.Talks, m: dt.Minutes | None) -> None:
    uow.talks.put(t.id, dt.talks_to(t), dt.minutes_to(m) if m else None, deps.clock())
    deps.publish(f"talks:{t.id}")


def _send(uow: UnitOfWork, deps: Deps, t: dt.Talks, kind: str, body: dict[str, Any]) -> None:
    uow.outbox.enqueue(message_id=deps.ids(), peer=t.other(deps.party), kind=kind,
                       payload={"talks_id": t.id, **body}, at=deps.clock())


def _domain(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except dt.TalksError as exc:
        raise Refused(str(exc)) from exc


def propose(deps: Deps, user: User, counterpart: str, data: dict[str, Any]) -> dict[str, Any]:
    require(user, *DELEGATES)
    try:
        proposal = dt.proposal_from({**data, "version": 1, "by": deps.party}, "proposal")
    except (dt.TalksError, ValueError) as exc:
        raise Invalid(str(exc)) from exc
    with deps.uow() as uow:
        agreement = _mou(uow, deps, counterpart)
        t = _domain(dt.propose, f"{deps.party}-{deps.ids()[:12]}", agreement, deps.party,
                    counterpart, proposal)
        _save(uow, deps, t, None)
        _send(uow, deps, t, "talks", {"action": "propose", "talks": dt.talks_to(t)})
        record(uow, deps, user.username, "talks.proposed", f"talks:{t.id}",
               {"with": counterpart, "title": proposal.title})
        uow.commit()
    return view_of(t, None)


def answer(deps: Deps, user: User, talks_id: str, action: str,
           data: dict[str, Any]) -> dict[str, Any]:
    """accept (version), amend (a proposal), decline or cancel (a reason), as this party."""
    require(user, *DELEGATES)
    with deps.uow() as uow:
        t, m = _load(uow, talks_id)
        body: dict[str, Any] = {"action": action}
        if action == "accept":
            body["version"] = int(data.get("version") or t.current.version)
            t = _domain(dt.accept, t, deps.party, body["version"])
        elif action == "amend":
            try:
                p = dt.proposal_from({**data, "version": t.current.version + 1,
                                      "by": deps.party}, "proposal")
            except (dt.TalksError, ValueError) as exc:
                raise Invalid(str(exc)) from exc
            body["proposal"] = dt.proposal_to(p)
            t = _domain(dt.amend, t, deps.party, p)
        elif action in ("decline", "cancel"):
            body["reason"] = str(data.get("reason") or "")
            t = _domain(dt.decline if action == "decline" else dt.cancel, t, deps.party,
                        body["reason"])
        else:
            raise Invalid(f"action {action!r}: accept, amend, decline or cancel")
        _save(uow, deps, t, m)
        _send(uow, deps, t, "talks", body)
        record(uow, deps, user.username, f"talks.{action}", f"talks:{t.id}",
               {"version": t.current.version})
        uow.commit()
    return view_of(t, m)


def apply_talks(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """The partner proposed or answered: the same rules, applied to our copy."""
    try:
        action, talks_id = str(body["action"]), str(body["talks_id"])
        if action == "propose":
            t = dt.talks_from(body["talks"])
            if t.parties != (sender, deps.party) or len(t.proposals) != 1 \
                    or t.current.by != sender or t.id != talks_id:
                return "a proposal must come from its proposer, to this party"
            if uow.talks.get(t.id) is not None:
                return f"talks {t.id} already exist here"
            try:
                _mou(uow, deps, sender)
            except Refused as exc:
                return exc.message
            m = None
        else:
            found = uow.talks.get(talks_id)
            if found is None:
                return f"no talks {talks_id} here"
            t = dt.talks_from(found[0])
            m = dt.minutes_from(found[1]) if found[1] else None
            if action == "accept":
                t = dt.accept(t, sender, int(body["version"]))
            elif action == "amend":
                t = dt.amend(t, sender, dt.proposal_from(body["proposal"], "proposal"))
            elif action in ("decline", "cancel"):
                t = (dt.decline if action == "decline" else dt.cancel)(
                    t, sender, str(body["reason"]))
            else:
                return f"unknown talks action {action!r}"
    except dt.TalksError as exc:
        return str(exc)
    except (KeyError, TypeError, ValueError) as exc:
        return f"malformed talks message: {exc}"
    _save(uow, deps, t, m)
    record(uow, deps, f"peer:{sender}", f"talks.{action}.received", f"talks:{t.id}",
           {"version": t.current.version})
    return None


def view_of(t: dt.Talks, m: dt.Minutes | None,
            relay: dict[str, Any] | None = None) -> dict[str, Any]:
    data = dt.talks_to(t)
    data["current"] = dt.proposal_to(t.current)
    data["local_start"] = dt.local_start(t.current).isoformat()
    data["relay"] = relay  # None: host candidates only (a closed network has no STUN/TURN)
    # an MOU opens talks, not the exchange of classified information (DOMAIN: Agreements)
    data["classification"] = "UNCLASSIFIED"
    data["minutes"] = dt.minutes_to(m) if m else None
    data["minutes_sealed"] = bool(m and dt.sealed(m))
    return data


def view(deps: Deps, user: User, talks_id: str) -> dict[str, Any]:
    require(user, *DELEGATES)
    with deps.uow() as uow:
        t, m = _load(uow, talks_id)
    return view_of(t, m, deps.talks_relay)


def list_talks(deps: Deps, user: User) -> list[dict[str, Any]]:
    require(user, *DELEGATES)
    with deps.uow() as uow:
        return [view_of(dt.talks_from(d), None) for d in uow.talks.list()]


# --- minutes -------------------------------------------------------------------------


def _own_keys(deps: Deps) -> dict[str, Ed25519PublicKey]:
    card = keyring(deps).card(deps.party, deps.address, deps.clock())
    return _keys(card.signing_keys, deps.clock())


def _keys(infos: Any, now: datetime) -> dict[str, Ed25519PublicKey]:
    return {k.id: Ed25519PublicKey.from_public_bytes(base64.b64decode(k.public))
            for k in infos if k.usable(now)}


def minutes(deps: Deps, user: User, talks_id: str, changes: dict[str, Any] | None,
            sign: bool) -> dict[str, Any]:
    """Draft, edit and/or sign the minutes; every change goes to the partner."""
    require(user, *DELEGATES)
    with deps.uow() as uow:
        t, m = _load(uow, talks_id)
        if m is None:
            m = _domain(dt.draft, t, deps.party)
        if changes:
            try:
                m = dt.edit(m, deps.party, attendance=_attendance(changes.get("attendance")),
                            outcomes=changes.get("outcomes"), agreed=_agreed(changes))
            except dt.TalksError as exc:
                raise Refused(str(exc)) from exc
        if sign:
            key_id, key = keyring(deps).signer(deps.clock())
            m = _domain(dt.sign, m, deps.party, key_id, key, deps.clock())
        _save(uow, deps, t, m)
        _send(uow, deps, t, "talks_minutes", {"minutes": dt.minutes_to(m)})
        record(uow, deps, user.username, "talks.minutes.signed" if sign else
               "talks.minutes.edited", f"talks:{t.id}", {"revision": m.revision})
        uow.commit()
    return view_of(t, m)


def _attendance(raw: Any) -> dict[str, tuple[str, ...]] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise Invalid("attendance: {party: [names]}")
    return {str(k): tuple(str(n) for n in v) for k, v in raw.items()}


def _agreed(changes: dict[str, Any]) -> tuple[str, ...] | None:
    raw = changes.get("agreed")
    return None if raw is None else tuple(str(x) for x in raw)


def apply_minutes(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """The partner's edit or signature: kept only if every signature on it verifies."""
    try:
        incoming = dt.minutes_from(body["minutes"])
        t, m = _load(uow, str(body["talks_id"]))
    except NotFound as exc:
        return exc.message
    except (dt.TalksError, KeyError, TypeError, ValueError) as exc:
        return f"malformed minutes: {exc}"
    if sender not in t.parties or incoming.talks_id != t.id:
        return "minutes of talks the sender is not part of"
    if m is not None and dt.sealed(m):
        return "the minutes here are signed by both sides and cannot change"
    if m is not None and incoming.revision < m.revision:
        return f"revision {incoming.revision} is older than ours ({m.revision})"
    peer = uow.peers.get(sender)
    if peer is None:
        return f"{sender} is not a partner here"
    keys = {sender: _keys(peer.card.signing_keys, deps.clock()), deps.party: _own_keys(deps)}
    for party in incoming.signatures:
        try:
            dt.verify(incoming, party, keys.get(party, {}))
        except dt.TalksError as exc:
            return f"signature of {party} does not verify: {exc}"
    _save(uow, deps, t, incoming)
    record(uow, deps, f"peer:{sender}", "talks.minutes.received", f"talks:{t.id}",
           {"revision": incoming.revision, "signed_by": sorted(incoming.signatures)})
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
            dt.verify(m, party, keys)
            out[party] = "verified"
        except dt.TalksError as exc:
            out[party] = f"not verified: {exc}"
    return out


# --- the live call -------------------------------------------------------------------


def participant_id(deps: Deps, user: User) -> str:
    return f"{deps.party}:{user.username}"


def live_event(deps: Deps, user: User, talks_id: str, kind: str,
               data: dict[str, Any]) -> None:
    """A delegate's presence, signal or chat: recorded here and sent to the partner."""
    require(user, *DELEGATES)
    if kind not in LIVE_KINDS:
        raise Invalid(f"unknown live event {kind!r}")
    if len(str(data)) > MAX_SIGNAL:
        raise Invalid(f"live events are limited to {MAX_SIGNAL} bytes")
    event = {**data, "from": participant_id(deps, user), "name": user.display_name or
             user.username}
    with deps.uow() as uow:
        t, _ = _load(uow, talks_id)
        if t.state is not dt.TalksState.ACCEPTED:
            raise Refused(f"talks {talks_id} are {t.state.value}, not accepted: nobody joins")
        uow.talks.add_event(t.id, kind, deps.party, event, deps.clock())
        _send(uow, deps, t, "talks_live", {"kind": kind, "event": event})
        if kind == "chat":
            record(uow, deps, user.username, "talks.chat", f"talks:{t.id}",
                   {"text": str(data.get("text", ""))[:2000]})
        uow.commit()
    deps.publish(f"talks:{talks_id}")


def apply_live(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    try:
        talks_id, kind, event = str(body["talks_id"]), str(body["kind"]), dict(body["event"])
    except (KeyError, TypeError, ValueError):
        return "malformed live event"
    found = uow.talks.get(talks_id)
    if found is None or sender not in dt.talks_from(found[0]).parties:
        return f"no talks {talks_id} with {sender} here"
    if kind not in LIVE_KINDS or not str(event.get("from", "")).startswith(f"{sender}:"):
        return "a live event must come from one of the sender's own delegates"
    uow.talks.add_event(talks_id, kind, sender, event, deps.clock())
    return None


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
