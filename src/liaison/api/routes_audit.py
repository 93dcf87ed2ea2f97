"""The tamper-evident audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from liaison.api.security import CurrentUser, NodeDeps
from liaison.api.views import audit_view
from liaison.services import audit_trail, checkpoints

router = APIRouter(prefix="/api", tags=["audit"])


@router.get("/audit", summary="Audit records after a sequence number (admin)")
def audit(user: CurrentUser, deps: NodeDeps, after: int = Query(-1, ge=-1, le=2**62),
          limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    return [audit_view(r) for r in audit_trail.read(deps, user, after, limit)]


@router.get("/audit/verify", summary="Re-hash the whole chain and check it against every "
                                     "checkpoint partners countersigned")
def verify(user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    result = audit_trail.verify(deps, user)
    witnessed = checkpoints.verify(deps, user)
    problem = result.problem or "; ".join(witnessed["problems"])
    return {"ok": result.ok and witnessed["ok"], "checked": result.checked,
            "first_bad_seq": result.first_bad_seq, "problem": problem,
            "checkpoints": witnessed}


@router.post("/audit/checkpoints", status_code=201,
             summary="Send a checkpoint of this node's log to every partner to countersign")
def checkpoint(user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return checkpoints.send(deps, user)


@router.get("/audit/checkpoints", summary="Checkpoints: this node's, countersigned by "
                                          "partners, and partners' witnessed here")
def checkpoint_list(user: CurrentUser, deps: NodeDeps) -> list[dict[str, Any]]:
    return checkpoints.listing(deps, user)
