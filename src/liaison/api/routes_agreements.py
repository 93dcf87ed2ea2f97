"""Parties and agreements, with their status on any date."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Body, Query
from pydantic import Field

from liaison.api.schemas import Body as BodyModel
from liaison.api.schemas import EventIn, plain
from liaison.api.security import CurrentUser, NodeDeps
from liaison.api.views import agreement_view, party_view
from liaison.services import agreements

router = APIRouter(prefix="/api", tags=["agreements"])
AtDate = Query(default=None, description="the date to answer for (default: today)")


class AmendmentIn(BodyModel):
    """Only the terms it changes; an omitted term is unchanged."""

    effective: date = Field(description="in force from this day; today or later")
    note: str = Field(default="", max_length=2000,
                      description="the exchange of notes or decision it records")
    table: list[dict[str, Any]] | None = Field(
        default=None, max_length=50, description="the new equivalence table, as imported")
    scope: dict[str, Any] | None = Field(default=None, description="the new scope, whole")
    max_imbalance: int | None = Field(default=None, ge=0, le=1_000_000,
                                      description="reciprocity limit; null: never hold")
    purposes: list[str] | None = Field(
        default=None, max_length=50,
        description="the purposes releases may serve; [] lifts the restriction")


@router.get("/parties", summary="Parties and their national classification schemes")
def parties(user: CurrentUser, deps: NodeDeps) -> list[dict[str, Any]]:
    return [party_view(p) for p in agreements.list_parties(deps)]


@router.get("/agreements", summary="Agreements with their status on a date")
def list_agreements(user: CurrentUser, deps: NodeDeps,
                    at: date | None = AtDate) -> list[dict[str, Any]]:
    on = at or deps.clock().date()
    return [agreement_view(a, s, on) for a, s in agreements.list_agreements(deps, on)]


@router.get("/agreements/{agreement_id}", summary="One agreement and its status on a date")
def get_agreement(agreement_id: str, user: CurrentUser, deps: NodeDeps,
                  at: date | None = AtDate) -> dict[str, Any]:
    on = at or deps.clock().date()
    a, s = agreements.get_agreement(deps, agreement_id, on)
    return agreement_view(a, s, on)


@router.post("/agreements", status_code=201, summary="Add an agreement (admin)")
def add_agreement(user: CurrentUser, deps: NodeDeps,
                  body: dict[str, Any] = Body(description="agreement as in the import "
                                                          "format")) -> dict[str, Any]:
    a = agreements.add_agreement(deps, user, body)
    return agreement_view(*agreements.get_agreement(deps, a.id, today := deps.clock().date()),
                          today)


@router.post("/agreements/{agreement_id}/events",
             summary="Record a dated event: notice, suspension, withdrawal... (admin)")
def add_event(agreement_id: str, body: EventIn, user: CurrentUser,
              deps: NodeDeps) -> dict[str, Any]:
    a = agreements.add_event(deps, user, agreement_id, plain(body))
    return agreement_view(*agreements.get_agreement(deps, a.id, today := deps.clock().date()),
                          today)


@router.post("/agreements/{agreement_id}/amendments", status_code=201,
             summary="Amend the terms from a date: table, scope, reciprocity limit, permitted "
                     "purposes (admin)",
             description="Dated and audited; in force from `effective` (today or later), so "
                         "checks dated earlier still see the old terms. Send only the terms "
                         "that change (`max_imbalance: null` removes the limit, `purposes: "
                         "[]` lifts the purpose restriction). 422 names the rule broken; "
                         "nothing changes then. The answer shows the terms in force on "
                         "the effective date.")
def amend(agreement_id: str, body: AmendmentIn, user: CurrentUser,
          deps: NodeDeps) -> dict[str, Any]:
    data = body.model_dump(mode="json", exclude_unset=True)
    a = agreements.amend_terms(deps, user, agreement_id, data)
    return agreement_view(*agreements.get_agreement(deps, a.id, body.effective), body.effective)


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
    return agreement_view(*agreements.get_agreement(deps, a.id, today := deps.clock().date()),
                          today)
