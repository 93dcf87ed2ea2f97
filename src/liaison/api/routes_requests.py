"""Requests for information and for an originator's consent, between partners."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import Field

from liaison.api.schemas import Body, plain
from liaison.api.security import CurrentUser, NodeDeps
from liaison.services import protection, requests
from liaison.services.ports import PartnerRequest

router = APIRouter(prefix="/api", tags=["requests between partners"])
Direction = Query(None, pattern="^(incoming|outgoing)$")
Sender = Query("", pattern="^([A-Za-z]{3})?$",
               description="the partner that sent the request, where two partners used "
                           "the same id (or name it as <party>:<id>)")


class RfiIn(Body):
    to: str = Field(min_length=3, max_length=3)
    topic: str = Field(min_length=1, max_length=256)
    event: str = Field(default="", max_length=500)
    priority: str = Field(pattern="^(urgent|high|routine)$")
    deadline: str = Field(description="ISO 8601 date-time with a time zone")
    purpose: str = Field(min_length=1, max_length=2000)


class RfiAnswerIn(Body):
    answer: str = Field(pattern="^(answered|declined)$")
    reason: str = Field(default="", max_length=4000)
    releases: list[str] = Field(default=[], description="ids of releases made in answer")


class ConsentRequestIn(Body):
    item_id: str
    recipient: str = Field(min_length=3, max_length=3)
    purpose: str = Field(min_length=1, max_length=2000)


class ConsentAnswerIn(Body):
    grant: bool
    reason: str = Field(default="", max_length=4000)


def view(r: PartnerRequest, deps: Any) -> dict[str, Any]:
    """``ref`` names the request unambiguously: a partner's ids are its own."""
    ref = f"{r.party}:{r.id}" if r.direction == "incoming" else r.id
    return {"id": r.id, "ref": ref, "kind": r.kind, "direction": r.direction, "party": r.party,
            "state": r.state, "overdue": requests.overdue(r, deps.clock()), **dict(r.data),
            "created_at": r.created_at.isoformat(), "updated_at": r.updated_at.isoformat()}


@router.post("/rfis", status_code=201, summary="Ask a partner for information")
def ask(body: RfiIn, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return view(requests.ask(deps, user, plain(body)), deps)


@router.get("/rfis", summary="Requests for information, sent and received")
def rfis(user: CurrentUser, deps: NodeDeps,
         direction: str | None = Direction) -> list[dict[str, Any]]:
    return [view(r, deps) for r in requests.list_requests(deps, user, "rfi", direction)]


@router.post("/rfis/{rfi_id}/answer", summary="Answer an RFI with releases, or decline it",
             description="``rfi_id``: ``<party>:<id>`` (the request's ``ref``), or ``<id>`` "
                         "when one partner alone sent that id (409 otherwise)")
def answer(rfi_id: str, body: RfiAnswerIn, user: CurrentUser, deps: NodeDeps,
           party: str = Sender) -> dict[str, Any]:
    return view(requests.answer_rfi(deps, user, rfi_id, body.answer, body.reason,
                                    body.releases, party), deps)


@router.post("/consent-requests", status_code=201,
             summary="Ask the originator of a received item for written consent")
def ask_consent(body: ConsentRequestIn, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return view(requests.request_consent(deps, user, body.item_id, body.recipient.upper(),
                                         body.purpose), deps)


@router.get("/consent-requests", summary="Consent requests, sent and received")
def consent_requests(user: CurrentUser, deps: NodeDeps,
                     direction: str | None = Direction) -> list[dict[str, Any]]:
    return [view(r, deps) for r in requests.list_requests(deps, user, "consent", direction)]


@router.post("/consent-requests/{request_id}/answer",
             summary="Grant or decline consent (at the originator's node)",
             description="``request_id``: ``<party>:<id>`` (the request's ``ref``), or "
                         "``<id>`` when one partner alone sent that id (409 otherwise)")
def answer_consent(request_id: str, body: ConsentAnswerIn, user: CurrentUser,
                   deps: NodeDeps, party: str = Sender) -> dict[str, Any]:
    return view(requests.answer_consent(deps, user, request_id, body.grant, body.reason,
                                        party), deps)


class RegradeIn(Body):
    portion_id: str
    level: str = Field(description="the new level, in this node's scheme")
    reason: str = Field(min_length=1, max_length=2000)


class ReportIn(Body):
    kind: str = Field(pattern="^(compromise|destruction)$")
    description: str = Field(min_length=1, max_length=8000)
    measures: str = Field(default="", max_length=8000,
                          description="investigation and measures (compromise) or method "
                                      "and witness (destruction)")


@router.post("/items/{item_id}/regrade",
             summary="Change a portion's level (originator only); partners re-mark copies")
def regrade(item_id: str, body: RegradeIn, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    item = protection.regrade(deps, user, item_id, body.portion_id, body.level, body.reason)
    return {"id": item.id, "portions": [{"id": p.id, "classification": p.label.classification}
                                        for p in item.portions]}


@router.post("/items/{item_id}/reports", status_code=201,
             summary="Report a compromise or a destruction of a received item to its "
                     "originator")
def report(item_id: str, body: ReportIn, user: CurrentUser, deps: NodeDeps) -> dict[str, str]:
    protection.report(deps, user, item_id, body.kind, {"description": body.description,
                                                       "measures": body.measures})
    return {"status": f"{body.kind} recorded and reported to the originator"}


@router.get("/reports", summary="Compromise and destruction reports received from partners")
def reports(user: CurrentUser, deps: NodeDeps) -> list[dict[str, Any]]:
    rows = [*requests.list_requests(deps, user, "compromise", "incoming"),
            *requests.list_requests(deps, user, "destruction", "incoming")]
    return [view(r, deps) for r in rows]
