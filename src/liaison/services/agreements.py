"""Parties and agreements: the node's reference data, and changes to it."""

from __future__ import annotations

from datetime import date
from typing import Any

from liaison.domain.agreements import Agreement, AgreementError, AgreementStatus, status_at
from liaison.domain.codec import CodecError, agreement_from, agreement_to, event_from
from liaison.domain.labels import Party
from liaison.domain.parties import default_parties
from liaison.domain.users import Role, User
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Exists, Invalid, NotFound
from liaison.services.ports import UnitOfWork


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
    """Append a dated event (notice, suspension, withdrawal...); history is never rewritten."""
    require(user, Role.ADMIN)
    with deps.uow() as uow:
        changed = append_event(uow, deps, user.username, agreement_id, data)
        uow.commit()
    return changed


def send_note(deps: Deps, user: User, agreement_id: str, data: dict[str, Any]) -> Agreement:
    """A note of this node's party (notice, suspension, withdrawal): recorded here and sent,
    signed, to every other party's node, whose copy of the agreement it updates."""
    require(user, Role.ADMIN)
    data = {**data, "by": deps.party}
    with deps.uow() as uow:
        changed = append_event(uow, deps, user.username, agreement_id, data)
        for party in sorted(changed.parties - {deps.party}):
            uow.outbox.enqueue(message_id=deps.ids(), peer=party, kind="note", at=deps.clock(),
                               payload={"agreement": agreement_id, "event": data})
        uow.commit()
    return changed


def apply_note(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """A partner's note: only the sending party may be the one that acted."""
    try:
        agreement_id, event = str(body["agreement"]), dict(body["event"])
    except (KeyError, TypeError, ValueError):
        return "malformed note"
    if event.get("by") != sender:
        return f"a note from {sender} can only record {sender}'s own act"
    agreement = uow.agreements.get(agreement_id)
    if agreement is None or sender not in agreement.parties:
        return f"no agreement {agreement_id} with {sender} here"
    try:
        append_event(uow, deps, f"peer:{sender}", agreement_id, event)
    except (Invalid, NotFound) as exc:
        return exc.message
    return None


def append_event(uow: UnitOfWork, deps: Deps, actor: str, agreement_id: str,
                 data: dict[str, Any]) -> Agreement:
    agreement = uow.agreements.get(agreement_id)
    if agreement is None:
        raise NotFound(f"no agreement {agreement_id}")
    try:
        event = event_from(data)
        changed = agreement.with_event(event)
        agreement_from(agreement_to(changed), load_parties(uow))
    except (CodecError, AgreementError) as exc:
        raise Invalid(str(exc)) from exc
    uow.agreements.put(changed)
    record(uow, deps, actor, "agreement.changed", f"agreement:{agreement_id}",
           {"event": event.kind.value, "date": event.on.isoformat(), "by": event.by,
            "note": event.note})
    return changed


def decode_agreement(uow: UnitOfWork, data: dict[str, Any], path: str = "") -> Agreement:
    try:
        return agreement_from(data, load_parties(uow), path)
    except CodecError as exc:
        raise Invalid(str(exc)) from exc

