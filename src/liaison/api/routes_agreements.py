"""Parties and agreements, with their status on any date."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Body, Query

from liaison.api.schemas import EventIn, plain
from liaison.api.security import CurrentUser, NodeDeps
from liaison.api.views import agreement_view, party_view
from liaison.services import agreements

router = APIRouter(prefix="/api", tags=["agreements"])
AtDate = Query(default=None, description="the date to answer for (default: today)")


@router.get("/parties", summary="Parties and their national classification schemes")
def parties(user: CurrentUser, deps: NodeDeps) -> list[dict[str, Any]]:
    return [party_view(p) for p in agreements.list_parties(deps)]


@router.get("/agreements", summary="Agreements with their status on a date")
def list_agreements(user: CurrentUser, deps: NodeDeps,
                    at: date | None = AtDate) -> list[dict[str, Any]]:
    on = at or deps.clock().date()
    return [agreement_view(a, s) for a, s in agreements.list_agreements(deps, on)]


@router.get("/agreements/{agreement_id}", summary="One agreement and its status on a date")
def get_agreement(agreement_id: str, user: CurrentUser, deps: NodeDeps,
                  at: date | None = AtDate) -> dict[str, Any]:
    a, s = agreements.get_agreement(deps, agreement_id, at or deps.clock().date())
    return agreement_view(a, s)


@router.post("/agreements", status_code=201, summary="Add an agreement (admin)")
def add_agreement(user: CurrentUser, deps: NodeDeps,
                  body: dict[str, Any] = Body(description="agreement as in the import "
                                                          "format")) -> dict[str, Any]:
    a = agreements.add_agreement(deps, user, body)
    return agreement_view(*agreements.get_agreement(deps, a.id, deps.clock().date()))


@router.post("/agreements/{agreement_id}/events",
             summary="Record a dated event: notice, suspension, withdrawal... (admin)")
def add_event(agreement_id: str, body: EventIn, user: CurrentUser,
              deps: NodeDeps) -> dict[str, Any]:
    a = agreements.add_event(deps, user, agreement_id, plain(body))
    return agreement_view(*agreements.get_agreement(deps, a.id, deps.clock().date()))


@router.post("/agreements/{agreement_id}/notes",
             summary="Send a signed note of this party's act (notice, suspension, withdrawal) "
                     "to the other parties' nodes (admin)",
             description="The note meets the rule every partner applies to it "
                         "(domain.note_authority): this party's own act, dated no later "
                         "than tomorrow, of a kind its role allows (in an arrangement of "
                         "several parties: its notification or its own withdrawal); 422 "
                         "names the rule otherwise. ENTERED_INTO_FORCE is recorded as this "
                         "party's notification (NOTIFIED): the agreement enters into force "
                         "on the later of all parties' notifications.")
def send_note(agreement_id: str, body: EventIn, user: CurrentUser,
              deps: NodeDeps) -> dict[str, Any]:
    a = agreements.send_note(deps, user, agreement_id, plain(body))
    return agreement_view(*agreements.get_agreement(deps, a.id, deps.clock().date()))
