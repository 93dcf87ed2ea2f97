"""Parties and agreements: the node's reference data, and changes to it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from liaison.domain.agreement_lifecycle import AgreementStatus, status_at
from liaison.domain.agreement_terms import amend
from liaison.domain.agreements import Agreement, AgreementError, AgreementEvent
from liaison.domain.codec import (
    AMENDMENT_FIELDS,
    agreement_from,
    agreement_to,
    amendment_from,
    amendment_to,
    event_from,
)
from liaison.domain.decoding import CodecError
from liaison.domain.labels import Party
from liaison.domain.note_authority import act_refusal, as_recorded, note_refusal
from liaison.domain.parties import default_parties
from liaison.domain.users import Role, User
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Exists, Invalid, NotFound
from liaison.services.ports import UnitOfWork
from liaison.services.release_intake import unstorable_text


def load_parties(uow: UnitOfWork) -> dict[str, Party]:
    """The default parties, overridden and extended by those configured on this node."""
    parties = default_parties()
    parties.update({p.code: p for p in uow.parties.list()})
    return parties


def list_parties(deps: Deps) -> list[Party]:
    with deps.uow() as uow:
        return sorted(load_parties(uow).values(), key=lambda p: p.code)


def list_agreements(deps: Deps, on: date) -> list[tuple[Agreement, AgreementStatus]]:
    with deps.uow() as uow:
        agreements = uow.agreements.list()
    return [(a, status_at(a, on, deps.rules)) for a in sorted(agreements, key=lambda a: a.id)]


def get_agreement(deps: Deps, agreement_id: str, on: date) -> tuple[Agreement, AgreementStatus]:
    with deps.uow() as uow:
        agreement = uow.agreements.get(agreement_id)
    if agreement is None:
        raise NotFound(f"no agreement {agreement_id}")
    return agreement, status_at(agreement, on, deps.rules)


def add_agreement(deps: Deps, user: User, data: dict[str, Any]) -> Agreement:
    require(user, Role.ADMIN)
    with deps.uow() as uow:
        agreement = decode_agreement(uow, data)
        if uow.agreements.get(agreement.id) is not None:
            raise Exists(f"agreement {agreement.id} already exists; add events to change it")
        uow.agreements.put(agreement)
        record(uow, deps, user.username, "agreement.added", f"agreement:{agreement.id}",
               {"kind": agreement.kind.value, "parties": sorted(agreement.parties)})
        uow.commit()
    return agreement


def add_event(deps: Deps, user: User, agreement_id: str, data: dict[str, Any]) -> Agreement:
    """Append a dated event (notice, suspension, withdrawal...); history is never rewritten.
    Our own record is in date order; partners' statements never block it."""
    require(user, Role.ADMIN)
    with deps.uow() as uow:
        changed = append_event(uow, deps, user.username, agreement_id, data)
        uow.commit()
    return changed


AMENDED_BY_REQUEST = AMENDMENT_FIELDS - {"recorded_by", "recorded_on"}


def amend_terms(deps: Deps, user: User, agreement_id: str, data: dict[str, Any]) -> Agreement:
    """Record our amendment of the terms (table, scope, reciprocity limit, purposes), in
    force from its effective date, no earlier than today; audited with what it changes.
    Validated whole first: a refused amendment changes nothing. An administrator's act:
    agreements are reference data (as ``add_agreement``); never a partner's note."""
    require(user, Role.ADMIN)
    unknown = sorted(str(k)[:32] for k in data if k not in AMENDED_BY_REQUEST)
    if unknown:
        raise Invalid(f"unknown fields {', '.join(unknown)}; an amendment has "
                      f"{', '.join(sorted(AMENDED_BY_REQUEST))}")
    bad = unstorable_text(data, "amendment")
    if bad:
        raise Invalid(bad)
    today = deps.clock().date()
    with deps.uow() as uow:
        agreement = _agreement(uow, agreement_id)
        parties = load_parties(uow)
        try:
            amendment = amendment_from({**data, "recorded_by": user.username,
                                        "recorded_on": today.isoformat()}, parties)
            changed = amend(agreement, amendment, today, parties)
        except (CodecError, AgreementError) as exc:
            raise Invalid(str(exc)) from exc
        uow.agreements.put(changed)
        record(uow, deps, user.username, "agreement.amended", f"agreement:{agreement_id}",
               amendment_to(amendment))
        uow.commit()
    return changed


def send_note(deps: Deps, user: User, agreement_id: str, data: dict[str, Any]) -> Agreement:
    """A note of this node's party (notice, suspension, withdrawal): recorded here and sent,
    signed, to every other party's node, whose copy of the agreement it updates. It meets
    the rule the partners apply to it (``domain.note_authority``): dated no later than
    today plus the skew, of a kind this party's role allows."""
    require(user, Role.ADMIN)
    data = {**data, "by": deps.party}
    with deps.uow() as uow:
        agreement = _agreement(uow, agreement_id)
        event = as_recorded(_event(data))  # ours is our notification, as at the partners'
        data = {**data, "kind": event.kind.value}
        for other in sorted(agreement.parties - {deps.party}):
            reason = note_refusal(agreement, deps.party, other, event, deps.clock().date(),
                                  deps.rules)
            if reason:
                raise Invalid(f"{other} would refuse this note: {reason}")
        changed = append_event(uow, deps, user.username, agreement_id, data)
        for party in sorted(changed.parties - {deps.party}):
            uow.outbox.enqueue(message_id=deps.ids(), peer=party, kind="note", at=deps.clock(),
                               payload={"agreement": agreement_id, "event": data})
        uow.commit()
    return changed


NOTE_FIELDS = frozenset({"kind", "date", "by", "note"})
MAX_ID_CHARS = 128


def apply_note(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """A partner's note, applied only when ``domain.note_authority.note_refusal`` allows it
    (who may send it: a party; about which agreement: one binding it and us; changing what:
    its own acts, as its role allows, dated within bounds). Validated whole before anything
    is stored; a refused note changes nothing."""
    parsed = _note_from(body)
    if isinstance(parsed, str):
        return parsed
    agreement_id, event = parsed
    agreement = uow.agreements.get(agreement_id)
    if agreement is None:
        return f"no agreement {agreement_id} with {sender} here"
    reason = note_refusal(agreement, sender, deps.party, event, deps.clock().date(),
                          deps.rules)
    if reason:
        return reason
    event = as_recorded(event)
    try:
        _store(uow, deps, f"peer:{sender}", agreement, event, lambda e: e.by == sender)
    except Invalid as exc:
        return exc.message
    return None


def _note_from(body: Any) -> tuple[str, AgreementEvent] | str:
    """The note's agreement id and event, or why it is malformed (types, sizes, kinds)."""
    if not isinstance(body, dict) or not isinstance(body.get("event"), dict):
        return "malformed note: an object with 'agreement' and 'event'"
    agreement_id, raw = body.get("agreement"), body["event"]
    if not isinstance(agreement_id, str) or not 0 < len(agreement_id) <= MAX_ID_CHARS:
        return "malformed note: 'agreement' is an id of at most 128 characters"
    unknown = sorted(str(k)[:32] for k in raw if k not in NOTE_FIELDS)
    if unknown:
        return f"malformed note: unknown fields {', '.join(unknown)}"
    try:
        return agreement_id, event_from(raw)
    except CodecError as exc:
        return f"malformed note: {exc}"


def append_event(uow: UnitOfWork, deps: Deps, actor: str, agreement_id: str,
                 data: dict[str, Any]) -> Agreement:
    """Our administrator's act: ordered after our side's own acts only (ours, or recorded
    without a party); a partner's statement, even dated later, never blocks it."""
    agreement = _agreement(uow, agreement_id)
    event = _event(data)
    reason = act_refusal(agreement, event, deps.rules)
    if reason:
        raise Invalid(reason)
    return _store(uow, deps, actor, agreement, event,
                  lambda e: e.by is None or e.by == deps.party)


def _agreement(uow: UnitOfWork, agreement_id: str) -> Agreement:
    agreement = uow.agreements.get(agreement_id)
    if agreement is None:
        raise NotFound(f"no agreement {agreement_id}")
    return agreement


def _event(data: dict[str, Any]) -> AgreementEvent:
    try:
        return event_from(data)
    except CodecError as exc:
        raise Invalid(str(exc)) from exc


def _store(uow: UnitOfWork, deps: Deps, actor: str, agreement: Agreement,
           event: AgreementEvent, ordered_after: Callable[[AgreementEvent], bool]) -> Agreement:
    try:
        changed = agreement.with_event(event, ordered_after)
        agreement_from(agreement_to(changed), load_parties(uow))
    except (CodecError, AgreementError) as exc:
        raise Invalid(str(exc)) from exc
    uow.agreements.put(changed)
    record(uow, deps, actor, "agreement.changed", f"agreement:{agreement.id}",
           {"event": event.kind.value, "date": event.on.isoformat(), "by": event.by,
            "note": event.note})
    return changed


def decode_agreement(uow: UnitOfWork, data: dict[str, Any], path: str = "") -> Agreement:
    try:
        return agreement_from(data, load_parties(uow), path)
    except CodecError as exc:
        raise Invalid(str(exc)) from exc

