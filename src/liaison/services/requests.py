"""Requests between partners, carried as signed messages: requests for information (RFI)
and requests for an originator's written consent (third-party rule).

32 CFR 117.19: an agreement commits no one to share — an RFI is answered by releases (each
through the release engine and review) or declined with a reason; nothing is sent by the
RFI itself. docs/rules.md#consent: the consent answer comes back signed by the originator's node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from liaison.domain.decoding import CodecError, parse_datetime
from liaison.domain.release_facts import Consent
from liaison.domain.request_authority import (
    RequestRefused,
    consent_answer_from,
    consent_request_from,
    request_id,
    resend,
    rfi_answer_from,
    rfi_from,
)
from liaison.domain.users import Role, User
from liaison.services.agreements import load_parties
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Exists, Invalid, NotFound, Refused
from liaison.services.items import whole_item
from liaison.services.ports import PartnerRequest, StoredConsent, UnitOfWork
from liaison.services.sight import consent_in_full, request_as_seen, requests_as_seen, sight

PRIORITIES = ("urgent", "high", "routine")
OFFICERS = (Role.RELEASE_OFFICER,)
READERS = (Role.RELEASE_OFFICER, Role.ANALYST, Role.REVIEWER)


def _new(deps: Deps, kind: str, direction: str, party: str, data: dict[str, Any],
         request_id: str | None = None) -> PartnerRequest:
    now = deps.clock()
    return PartnerRequest(request_id or deps.ids(), kind, direction, party, "open", data,
                          now, now)


def _send(uow: UnitOfWork, deps: Deps, party: str, kind: str, payload: dict[str, Any]) -> None:
    uow.outbox.enqueue(message_id=deps.ids(), peer=party, kind=kind, payload=payload,
                       at=deps.clock())


# --- requests for information ----------------------------------------------------------


def ask(deps: Deps, user: User, data: dict[str, Any]) -> PartnerRequest:
    """Send an RFI (topic, event, priority, deadline, purpose) to a partner."""
    require(user, Role.RELEASE_OFFICER, Role.ANALYST)
    body = _rfi_body(deps, data)
    with deps.uow() as uow:
        if uow.peers.get(body["to"]) is None:
            raise NotFound(f"no partner node {body['to']}: add it with `liaison peer add`")
        rfi = _new(deps, "rfi", "outgoing", body["to"], {**body, "asked_by": user.username})
        uow.requests.put(rfi)
        _send(uow, deps, rfi.party, "rfi", {"id": rfi.id, **body})
        record(uow, deps, user.username, "rfi.sent", f"rfi:{rfi.id}", body)
        uow.commit()
    return rfi


def _rfi_body(deps: Deps, data: dict[str, Any]) -> dict[str, Any]:
    to = str(data.get("to", "")).upper()
    if to == deps.party or to not in _parties(deps):
        raise Invalid(f"to: {to!r} is not a partner party")
    if data.get("priority") not in PRIORITIES:
        raise Invalid(f"priority: one of {', '.join(PRIORITIES)}")
    try:
        deadline = parse_datetime(data.get("deadline"), "deadline")
    except CodecError as exc:
        raise Invalid(str(exc)) from exc
    if deadline <= deps.clock():
        raise Invalid("deadline: must be in the future")
    for name in ("topic", "purpose"):
        if not str(data.get(name, "")).strip():
            raise Invalid(f"{name}: required")
    return {"to": to, "topic": str(data["topic"]), "event": str(data.get("event") or ""),
            "priority": data["priority"], "deadline": deadline.isoformat(),
            "purpose": str(data["purpose"])}


def _parties(deps: Deps) -> set[str]:
    with deps.uow() as uow:
        return set(load_parties(uow))


def answer_rfi(deps: Deps, user: User, rfi_id: str, answer: str, reason: str,
               releases: list[str], party: str = "") -> PartnerRequest:
    """Answer an incoming RFI with releases already made, or decline it with a reason.
    ``rfi_id``: ``<party>:<id>``, or ``<id>`` (with ``party`` where two partners used it)."""
    require(user, *OFFICERS)
    if answer not in ("answered", "declined"):
        raise Invalid("answer: 'answered' or 'declined'")
    if answer == "declined" and not reason.strip():
        raise Invalid("a declined RFI states its reason")
    with deps.uow() as uow:
        rfi = _open(uow, deps, user, rfi_id, "rfi", party)
        for rid in releases:
            req = uow.releases.get(rid)
            if req is None or req.state.value != "released" or req.recipient != rfi.party:
                raise Invalid(f"release {rid} is not a release to {rfi.party}")
        done = replace(rfi, state=answer, updated_at=deps.clock(),
                       data={**rfi.data, "reason": reason, "releases": releases,
                             "answered_by": user.username})
        uow.requests.put(done)
        _send(uow, deps, rfi.party, "rfi_answer", {"id": rfi.id, "state": answer,
                                                   "reason": reason, "releases": releases})
        record(uow, deps, user.username, f"rfi.{answer}", f"rfi:{rfi.id}", {"reason": reason})
        uow.commit()
    return done


def incoming(uow: UnitOfWork, ref: str, kind: str, party: str = "",
             seen: Callable[[PartnerRequest], bool] = lambda _r: True) -> PartnerRequest:
    """An incoming request named ``<party>:<id>``, or ``<id>`` with ``party``, or ``<id>``
    alone when only one partner sent a request of this kind with that id (else 409).
    Requests ``seen`` rejects answer as missing ones: same status, same message."""
    if ":" in ref:
        named, ref = ref.split(":", 1)
        if party and party.upper() != named.upper():
            raise Invalid(f"{named}:{ref} and party {party} name different senders")
        party = named
    if party:
        req = uow.requests.get(ref, "incoming", party.upper())
        found = [req] if req is not None and req.kind == kind else []
    else:
        found = [r for r in uow.requests.with_id(ref, "incoming") if r.kind == kind]
    found = [r for r in found if seen(r)]
    if not found:
        raise NotFound(f"no incoming {kind} {party.upper() + ':' if party else ''}{ref}")
    if len(found) > 1:
        names = " and ".join(f"{r.party}:{r.id}" for r in found)
        raise Exists(f"{kind} {ref} was received from several partners: name it as {names}")
    return found[0]


def _open(uow: UnitOfWork, deps: Deps, user: User, ref: str, kind: str,
          party: str) -> PartnerRequest:
    """An open incoming request the officer may see whole: a consent is granted only by
    someone who may see every portion it concerns (as a release)."""
    look = sight(uow, deps, user)

    def seen(r: PartnerRequest) -> bool:
        if r.kind == "consent":
            return consent_in_full(r, user, look)
        return request_as_seen(r, user, look) is not None
    req = incoming(uow, ref, kind, party, seen)
    if req.state != "open":
        raise Refused(f"{kind} {req.party}:{req.id} is already {req.state}")
    return req


def list_requests(deps: Deps, user: User, kind: str, direction: str | None,
                  ) -> list[PartnerRequest]:
    """The requests of ``kind`` that ``user`` may see, each cut as ``services.sight``
    says (the portions a consent request quotes, to those the reader may see)."""
    require(user, *READERS)
    with deps.uow() as uow:
        look = sight(uow, deps, user)
        return requests_as_seen(uow.requests.list(kind=kind, direction=direction), user, look)


def overdue(request: PartnerRequest, now: datetime) -> bool:
    """Open past its deadline. A deadline that cannot be read (stored before issue 17's
    checks) counts as none: a read never fails on what a partner sent."""
    deadline = request.data.get("deadline")
    if request.state != "open" or not deadline:
        return False
    try:
        return datetime.fromisoformat(str(deadline)) < now
    except (TypeError, ValueError):
        return False


# --- consent across nodes ------------------------------------------------------------


def request_consent(deps: Deps, user: User, item_id: str, recipient: str,
                    purpose: str) -> PartnerRequest:
    """Ask the originator of a received item for written consent to pass it on."""
    require(user, Role.RELEASE_OFFICER)
    item = whole_item(deps, user, item_id)
    others = sorted({p.label.originator for p in item.portions} - {deps.party})
    if not others:
        raise Invalid(f"item {item_id} originated here: no consent is needed")
    if not purpose.strip():
        raise Invalid("purpose: a consent request names its purpose (GSOMIA Art. 6)")
    originator = others[0]
    original_id = item_id.rsplit("@", 1)[0]
    # The originator judges its own information: the portions it originated go with the ask.
    theirs = [{"id": p.id, "content": p.content, "classification": p.label.classification}
              for p in item.portions if p.label.originator == originator]
    with deps.uow() as uow:
        req = _new(deps, "consent", "outgoing", originator, {
            "item_id": item_id, "original_item_id": original_id, "recipient": recipient,
            "purpose": purpose, "asked_by": user.username})
        uow.requests.put(req)
        _send(uow, deps, originator, "consent_request", {
            "id": req.id, "item_id": original_id, "recipient": recipient, "purpose": purpose,
            "portions": theirs})
        record(uow, deps, user.username, "consent.requested", f"item:{item_id}",
               {"originator": originator, "recipient": recipient, "purpose": purpose})
        uow.commit()
    return req


def answer_consent(deps: Deps, user: User, request_id: str, grant: bool,
                   reason: str, party: str = "") -> PartnerRequest:
    """The originator's answer, signed by this node and sent back. ``request_id`` as for
    ``answer_rfi``."""
    require(user, *OFFICERS)
    with deps.uow() as uow:
        req = _open(uow, deps, user, request_id, "consent", party)
        state = "granted" if grant else "declined"
        done = replace(req, state=state, updated_at=deps.clock(),
                       data={**req.data, "reason": reason, "answered_by": user.username})
        uow.requests.put(done)
        _send(uow, deps, req.party, "consent_answer", {
            "id": req.id, "granted": grant, "reason": reason, "granted_by": user.username,
            "granted_on": deps.clock().date().isoformat()})
        record(uow, deps, user.username, f"consent.{state}", f"item:{req.data['item_id']}",
               {"to": req.party, "recipient": req.data["recipient"], "reason": reason})
        uow.commit()
    return done


# --- appliers (messages from partners): the rules are domain.request_authority's ---------


def apply_rfi(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """Rules 1, 3, 4: stored under (sender, id); a resend never erases our answer."""
    return _incoming(uow, deps, sender, body, "rfi", rfi_from)


def apply_consent_request(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    return _incoming(uow, deps, sender, body, "consent", consent_request_from)


def _incoming(uow: UnitOfWork, deps: Deps, sender: str, body: Any, kind: str,
              read: Callable[[Any], dict[str, Any]]) -> str | None:
    try:
        rid, data = request_id(body, kind), read(body)
        held = uow.requests.get(rid, "incoming", sender)
        if held is not None:
            resend({"kind": held.kind, **held.data}, {"kind": kind, **data},
                   f"{kind} {rid} from {sender}")
            return None  # a duplicate: nothing changes
    except RequestRefused as exc:
        return _refused(uow, deps, sender, body, kind, str(exc))
    uow.requests.put(_new(deps, kind, "incoming", sender, data, rid))
    return None


def _refused(uow: UnitOfWork, deps: Deps, sender: str, body: Any, kind: str,
             reason: str) -> str:
    """A conflict is recorded in the audit log as well as refused (rule 3)."""
    if reason.startswith("conflict"):
        rid = body.get("id") if isinstance(body, dict) else None
        record(uow, deps, f"peer:{sender}", "request.conflict", f"{kind}:{sender}:{rid}",
               {"sender": sender, "reason": reason})
    return reason


def apply_rfi_answer(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """Rule 2: only the party we asked answers our RFI; rule 3: once."""
    try:
        req = _ours(uow, sender, body, "rfi")
        answer = rfi_answer_from(body)
        if req.state != "open":
            resend({"state": req.state, **req.data}, answer, f"the answer to rfi {req.id}")
            return None
    except RequestRefused as exc:
        return _refused(uow, deps, sender, body, "rfi_answer", str(exc))
    state = answer.pop("state")
    uow.requests.put(replace(req, state=state, updated_at=deps.clock(),
                             data={**req.data, **answer}))
    return None


def apply_consent_answer(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """Rule 2: the originator we asked answers, once; a grant becomes a recorded consent
    naming grantee and purpose (docs/rules.md#consent). Validated whole before anything is
    stored."""
    try:
        req = _ours(uow, sender, body, "consent")
        answer = consent_answer_from(body, req.created_at.date(), deps.clock().date())
        if req.state != "open":
            held = {"granted": req.state == "granted", **req.data}
            resend(held, answer, f"the answer to consent request {req.id}")
            return None
    except RequestRefused as exc:
        return _refused(uow, deps, sender, body, "consent_answer", str(exc))
    granted = answer.pop("granted")
    uow.requests.put(replace(req, state="granted" if granted else "declined",
                             updated_at=deps.clock(), data={**req.data, **answer}))
    if granted:
        consent = Consent(sender, str(req.data["recipient"]), str(req.data["item_id"]),
                          str(req.data["purpose"]), f"{sender}: {answer['granted_by']}",
                          date.fromisoformat(answer["granted_on"]))
        uow.consents.add(StoredConsent(deps.ids(), consent, f"peer:{sender}", deps.clock()))
    return None


def _ours(uow: UnitOfWork, sender: str, body: Any, kind: str) -> PartnerRequest:
    req = uow.requests.get(request_id(body, f"{kind} answer"), "outgoing")
    if req is None or req.party != sender or req.kind != kind:
        raise RequestRefused(f"no {kind} request of ours to {sender} matches this answer")
    return req


APPLIERS = {"rfi": apply_rfi, "rfi_answer": apply_rfi_answer,
            "consent_request": apply_consent_request, "consent_answer": apply_consent_answer}
