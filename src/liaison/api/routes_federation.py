"""The federation endpoints partners call, and the administration of partners."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field

from liaison.api.errors import error_body
from liaison.api.schemas import Body
from liaison.api.security import CurrentUser, NodeDeps
from liaison.crypto.envelope import MAX_ENVELOPE, EnvelopeError
from liaison.domain.users import Role
from liaison.services import federation, inbox_refusals, leases, outbox_lanes
from liaison.services.auth_roles import require
from liaison.services.errors import Invalid, ServiceError
from liaison.services.ports import Peer

card_router = APIRouter(prefix="/federation/v1", tags=["federation (node to node)"])
inbox_router = APIRouter(prefix="/federation/v1", tags=["federation (node to node)"])
admin = APIRouter(prefix="/api", tags=["partners"])


@card_router.get("/card", summary="This node's card, signed by its identity key")
def card(deps: NodeDeps) -> dict[str, Any]:
    ring = federation.keyring(deps)
    return asdict(ring.card(deps.party, deps.address, deps.clock()))


@inbox_router.post("/inbox", summary="Deliver a signed, encrypted batch; answers a signed receipt",
             response_class=Response)
async def inbox(request: Request, deps: NodeDeps) -> Response:
    wire = await request.body()
    if len(wire) > MAX_ENVELOPE:
        raise Invalid(f"envelope larger than {MAX_ENVELOPE} bytes")
    appliers = request.app.state.appliers
    # the partner certificate of the mutual TLS connection (federation.tls), checked
    # against the envelope's signed sender
    chain = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_chain", [])
    try:
        receipt = await asyncio.to_thread(
            federation.receive, deps, wire, appliers, chain[0] if chain else "",
            getattr(request.app.state, "card_refresher", None))
    except EnvelopeError as exc:
        return JSONResponse(error_body("envelope_refused", str(exc)), 400)
    return Response(content=receipt, media_type="application/octet-stream")


class PeerIn(Body):
    party: str = Field(min_length=3, max_length=3)
    address: str = Field(pattern=r"^https?://", max_length=512)
    fingerprint: str = Field(min_length=32, max_length=95,
                             description="the identity key fingerprint exchanged out of band")


def peer_view(p: Peer) -> dict[str, Any]:
    return {"party": p.party, "address": p.address, "fingerprint": p.fingerprint,
            "added_at": p.added_at.isoformat(), "card_issued": p.card.issued,
            "signing_keys": [asdict(k) for k in p.card.signing_keys],
            "encryption_keys": [asdict(k) for k in p.card.encryption_keys]}


@admin.get("/peers", summary="Partner nodes")
def peers(user: CurrentUser, deps: NodeDeps) -> list[dict[str, Any]]:
    """The node's own staff; not sensor or partner-tool accounts."""
    require(user, Role.ADMIN, Role.ANALYST, Role.RELEASE_OFFICER, Role.REVIEWER,
            Role.WATCH_OFFICER, Role.DELEGATE)
    return [peer_view(p) for p in federation.list_peers(deps)]


@admin.post("/peers", status_code=201,
            summary="Trust a partner node: its card must match the fingerprint")
async def add_peer(body: PeerIn, request: Request, user: CurrentUser,
                   deps: NodeDeps) -> dict[str, Any]:
    require(user, Role.ADMIN)  # before the node reaches out to any address it is given
    transport = request.app.state.transport
    try:
        card_data = await transport.fetch_card(body.address.rstrip("/"))
    except Exception as exc:
        raise ServiceError(f"cannot fetch the node card: {exc}") from exc
    peer = await asyncio.to_thread(federation.add_peer, deps, user, body.party.upper(),
                                   body.address, body.fingerprint, card_data)
    for hook in request.app.state.trust_hooks:
        hook(peer.card.tls_cert)
    return peer_view(peer)


@admin.get("/outbox", summary="Messages per partner: pending, delivered, refused, and each "
                             "lane's state with its stuck alert")
def outbox(user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    """Per partner: ``pending``, ``delivered``, ``refused`` (counts); ``lanes`` (flash,
    urgent, routine: pending, oldest_pending_age_s, failures, last_error, last_error_at,
    last_attempt_at, last_delivery_at, stuck, stuck_since, alert); ``stuck`` and
    ``alerts`` (one line per stuck lane)."""
    return outbox_lanes.status(deps, user)


@admin.get("/outbox/refused", summary="Refused messages, latest first, with their reasons")
def outbox_refused(user: CurrentUser, deps: NodeDeps, peer: str | None = None,
                   limit: int = 100) -> list[dict[str, Any]]:
    return outbox_lanes.refused(deps, user, peer.upper() if peer else None, limit)


@admin.get("/inbox/refused", summary="What partners sent that this node refused, latest "
                                     "first, with the reason their receipt gave")
def inbox_refused(user: CurrentUser, deps: NodeDeps, peer: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
    return inbox_refusals.refused(deps, user, peer.upper() if peer else None, limit)


@admin.get("/workers", summary="This node's workers: which one answered, its bus, and who "
                               "holds each node-wide job (administrators)")
def workers(request: Request, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    require(user, Role.ADMIN)
    return {"worker": leases.worker_id(), "bus": request.app.state.bus.view(),
            "leases": leases.holders(deps)}
