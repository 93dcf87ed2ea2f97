"""Domain objects as JSON for responses, with display marks for people."""

from __future__ import annotations

from datetime import date
from typing import Any

from liaison.domain.agreement_lifecycle import AgreementStatus
from liaison.domain.agreement_terms import terms_at
from liaison.domain.agreements import Agreement
from liaison.domain.audit import AuditRecord
from liaison.domain.codec import agreement_to, amendment_to, item_to, party_to
from liaison.domain.items import Item
from liaison.domain.labels import Party, portion_mark
from liaison.domain.ledger import Balance, LedgerEntry
from liaison.domain.release_decision import Decision
from liaison.domain.request_codec import decision_to, request_to
from liaison.domain.review import ReleaseRequest, counted_approvers
from liaison.domain.users import User
from liaison.services.ports import StoredConsent


def user_view(user: User, party: Party) -> dict[str, Any]:
    level = next(lv for lv in party.scheme.levels if lv.rank <= user.clearance.level_rank)
    return {"username": user.username, "display_name": user.display_name,
            "roles": sorted(user.roles), "clearance": level.name,
            "compartments": sorted(user.clearance.compartments),
            "topics": sorted(user.clearance.topics) if user.clearance.topics is not None else None,
            "disabled": user.disabled, "party": user.party}


def agreement_view(a: Agreement, status: AgreementStatus, on: date | None = None,
                   ) -> dict[str, Any]:
    """The agreement with the terms in force ``on`` (default: as recorded) at the top
    level, and every amendment, past and future, under ``amendments``."""
    terms = terms_at(a, on) if on is not None else a
    return {**agreement_to(terms), "amendments": [{**amendment_to(x), "changes": list(x.changes)}
                                                     for x in a.amendments],
            "terms_on": on.isoformat() if on else None, "status": {
        "state": status.state.value, "in_force": status.in_force,
        "in_force_since": status.in_force_since.isoformat() if status.in_force_since else None,
        "ends_on": status.ends_on.isoformat() if status.ends_on else None,
        "explanation": status.explanation}}


def item_view(item: Item, party: Party) -> dict[str, Any]:
    data = item_to(item)
    data["banner"] = item.banner(party.scheme)
    data["level"] = item.level(party.scheme).name
    for portion, out in zip(item.portions, data["portions"], strict=True):
        out["mark"] = portion_mark(portion.label, party.scheme)
    return data


def item_summary(item: Item, party: Party) -> dict[str, Any]:
    return {"id": item.id, "title": item.title, "banner": item.banner(party.scheme),
            "discipline": item.discipline.value, "topic": item.topic, "grade": str(item.grade),
            "reported_at": item.reported_at.isoformat(), "portions": len(item.portions)}


def decision_view(d: Decision) -> dict[str, Any]:
    return decision_to(d)


def request_view(r: ReleaseRequest) -> dict[str, Any]:
    data = request_to(r)
    data["approvals"] = r.approvals  # only those given on what the decision rests on now
    data["counted_approvers"] = list(counted_approvers(r))
    data["basis_digest"] = r.basis.digest  # a review counts when its basis equals this
    data["voided_notice"] = r.voidings[-1].text if r.voidings else ""
    return data


def consent_view(c: StoredConsent) -> dict[str, Any]:
    k = c.consent
    return {"id": c.id, "originator": k.originator, "recipient": k.recipient,
            "item_id": k.item_id, "purpose": k.purpose, "granted_by": k.granted_by,
            "granted_on": k.granted_on.isoformat(), "recorded_by": c.recorded_by,
            "recorded_at": c.recorded_at.isoformat()}


def ledger_entry_view(e: LedgerEntry) -> dict[str, Any]:
    return {"agreement_id": e.agreement_id, "partner": e.partner,
            "direction": e.direction.value, "level": e.level, "discipline": e.discipline,
            "item_id": e.item_id, "at": e.at.isoformat()}


def balance_view(b: Balance) -> dict[str, Any]:
    return {"given": b.given, "received": b.received, "net": b.net,
            "by_discipline": {k: {"given": g, "received": r}
                              for k, (g, r) in b.by_discipline.items()},
            "by_level": {k: {"given": g, "received": r} for k, (g, r) in b.by_level.items()}}


def audit_view(r: AuditRecord) -> dict[str, Any]:
    return {"seq": r.seq, "at": r.at.isoformat(), "actor": r.actor, "action": r.action,
            "subject": r.subject, "details": dict(r.details), "prev_hash": r.prev_hash,
            "hash": r.hash}


def party_view(p: Party) -> dict[str, Any]:
    return party_to(p)
