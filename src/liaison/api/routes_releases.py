"""Release checks, requests, reviews, consents and the ledger."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Query

from liaison.api.schemas import ConsentIn, ReleaseIn, ReviewIn, plain
from liaison.api.security import CurrentUser, NodeDeps
from liaison.api.views import (
    balance_view,
    consent_view,
    decision_view,
    ledger_entry_view,
    request_view,
)
from liaison.domain.ledger import balances_by_agreement
from liaison.services import content, releases
from liaison.services.errors import Invalid

router = APIRouter(prefix="/api", tags=["release"])


@router.get("/items/{item_id}/release-check",
            summary="Could this item go to a partner on a date? The engine's decision")
def release_check(item_id: str, user: CurrentUser, deps: NodeDeps,
                  to: str = Query(min_length=3, max_length=3, description="partner, alpha-3"),
                  at: date | None = Query(None, description=(
                      "a what-if date; default: today on the node's clock. A real release "
                      "is always decided on the node's clock when it is approved")),
                  purpose: str | None = Query(None, min_length=1, max_length=2000,
                                              description="what the release is for; without "
                                                          "it, purpose-limited consents and "
                                                          "agreements unlock nothing")
                  ) -> dict[str, Any]:
    decision = releases.check(deps, user, item_id, to.upper(), at or deps.clock().date(),
                              purpose)
    return decision_view(decision)


@router.post("/releases", status_code=201, summary="Request a release (goes to review)")
def request_release(body: ReleaseIn, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    """Decided on the node's clock: a body naming a date ``on`` is refused (422), since
    silently ignoring it would let a requester believe the release was decided for it."""
    if body.on is not None:
        raise Invalid(f"on {body.on!r}: {releases.ON_REFUSED}")
    r = releases.request_release(deps, user, body.item_id, body.recipient.upper(),
                                 body.purpose)
    return request_view(r)


@router.get("/releases", summary="Release requests, newest first")
def list_releases(user: CurrentUser, deps: NodeDeps,
                  state: str | None = Query(None, pattern="^(pending|rejected|blocked|released"
                                                          "|withdrawn)$"),
                  limit: int = Query(50, ge=1, le=500),
                  offset: int = Query(0, ge=0, le=10**9)) -> list[dict[str, Any]]:
    return [request_view(r) for r in releases.list_requests(deps, user, state, limit, offset)]


@router.get("/releases/{request_id}", summary="One release request")
def get_release(request_id: str, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return request_view(releases.get_request(deps, user, request_id))


@router.get("/releases/{request_id}/content-check",
            summary="Findings of the content check over the request's tearline")
def content_check(request_id: str, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return releases.content_check(deps, user, request_id)


@router.get("/content-check/wordlist", summary="The content check's word list")
def get_wordlist(user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return content.get_wordlist(deps, user)


@router.put("/content-check/wordlist", summary="Replace the word list (admin)")
def set_wordlist(body: dict[str, Any], user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return content.set_wordlist(deps, user, body)


@router.post("/releases/{request_id}/reviews",
             summary="Approve (optionally narrowing the tearline) or reject")
def review(request_id: str, body: ReviewIn, user: CurrentUser,
           deps: NodeDeps) -> dict[str, Any]:
    r = releases.review(deps, user, request_id, body.approve, body.tearline, body.comment)
    return request_view(r)


@router.post("/consents", status_code=201,
             summary="Record an originator's written consent (third-party rule)")
def record_consent(body: ConsentIn, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return consent_view(releases.record_consent(deps, user, plain(body)))


@router.get("/consents", summary="Recorded consents")
def list_consents(user: CurrentUser, deps: NodeDeps) -> list[dict[str, Any]]:
    return [consent_view(c) for c in releases.list_consents(deps, user)]


@router.get("/ledger", summary="Reciprocity: entries and balance per agreement")
def ledger(user: CurrentUser, deps: NodeDeps, agreement: str | None = None,
           partner: str | None = None) -> dict[str, Any]:
    entries = releases.ledger(deps, user, agreement, partner)
    return {"entries": [ledger_entry_view(e) for e in entries],
            "balances": {ag: balance_view(b)
                         for ag, b in balances_by_agreement(entries).items()}}
