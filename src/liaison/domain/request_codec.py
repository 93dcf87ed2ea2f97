"""Plain-data forms of release decisions and release requests, as this node stores them.
Pure: no I/O.

Decoding trusts its input: it reads what ``request_to`` wrote into this node's own storage,
never a partner's or a user's data (those go through ``codec`` and ``decoding``).
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date, datetime
from typing import Any

from liaison.domain.decoding import Data
from liaison.domain.release_decision import Decision, Outcome, Reason, Verdict
from liaison.domain.review import Basis, ReleaseRequest, RequestState, Review, Voiding


def decision_to(d: Decision) -> dict[str, Any]:
    return {
        "outcome": d.outcome.value,
        "recipient": d.recipient,
        "at": d.at.isoformat(),
        "agreement_id": d.agreement_id,
        "route": list(d.route),
        "recipient_level": d.recipient_level,
        "tearline": list(d.tearline),
        "reasons": [{"portion_id": r.portion_id, "verdict": r.verdict.value, "text": r.text}
                    for r in d.reasons],
        "summary": d.summary,
    }


def decision_from(data: Data) -> Decision:
    """Decode a stored decision (trusted storage, not user input)."""
    return Decision(
        outcome=Outcome(data["outcome"]),
        recipient=data["recipient"],
        at=date.fromisoformat(data["at"]),
        agreement_id=data["agreement_id"],
        route=tuple(data["route"]),
        recipient_level=data["recipient_level"],
        tearline=tuple(data["tearline"]),
        reasons=tuple(Reason(r["portion_id"], Verdict(r["verdict"]), r["text"])
                      for r in data["reasons"]),
    )


def request_to(r: ReleaseRequest) -> dict[str, Any]:
    return {
        "id": r.id,
        "item_id": r.item_id,
        "recipient": r.recipient,
        "purpose": r.purpose,
        "requested_by": r.requested_by,
        "requested_at": r.requested_at.isoformat(),
        # the day the engine last decided it, on the node's clock (never the requester's)
        "on": r.decision.at.isoformat(),
        "decision": decision_to(r.decision),
        "required_reviews": r.required_reviews,
        "tearline": list(r.tearline),
        "reviews": [{"reviewer": v.reviewer, "approve": v.approve, "tearline": list(v.tearline),
                     "comment": v.comment, "at": v.at.isoformat(), "basis": v.basis}
                    for v in r.reviews],
        "state": r.state.value,
        "state_reason": r.state_reason,
        "basis": {f.name: getattr(r.basis, f.name) for f in fields(r.basis)},
        "voidings": [{"at": v.at.isoformat(), "changed": list(v.changed),
                      "voided": list(v.voided), "reviews_required": v.reviews_required,
                      "text": v.text} for v in r.voidings],
    }


def request_from(data: Data) -> ReleaseRequest:
    """Decode a stored release request (trusted storage, not user input). A request
    stored before issue 18 has no basis: its approvals never count (fail closed)."""
    return ReleaseRequest(
        id=data["id"],
        item_id=data["item_id"],
        recipient=data["recipient"],
        purpose=data["purpose"],
        requested_by=data["requested_by"],
        requested_at=datetime.fromisoformat(data["requested_at"]),
        decision=decision_from(data["decision"]),
        required_reviews=data["required_reviews"],
        tearline=tuple(data["tearline"]),
        reviews=tuple(Review(v["reviewer"], v["approve"], tuple(v["tearline"]), v["comment"],
                             datetime.fromisoformat(v["at"]), v.get("basis", ""))
                      for v in data["reviews"]),
        state=RequestState(data["state"]),
        state_reason=data["state_reason"],
        basis=Basis(**{f.name: str(data.get("basis", {}).get(f.name, ""))
                       for f in fields(Basis)}),
        voidings=tuple(Voiding(datetime.fromisoformat(v["at"]), tuple(v["changed"]),
                               tuple(v["voided"]), int(v["reviews_required"]))
                       for v in data.get("voidings", [])),
    )
