"""The tamper-evident audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from liaison.api.security import CurrentUser, NodeDeps
from liaison.api.views import audit_view
from liaison.services import audit_trail

router = APIRouter(prefix="/api", tags=["audit"])


@router.get("/audit", summary="Audit records after a sequence number (admin)")
def audit(user: CurrentUser, deps: NodeDeps, after: int = Query(-1, ge=-1, le=2**62),
          limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    return [audit_view(r) for r in audit_trail.read(deps, user, after, limit)]


@router.get("/audit/verify", summary="Re-hash the whole chain and report the first break")
def verify(user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    result = audit_trail.verify(deps, user)
    return {"ok": result.ok, "checked": result.checked, "first_bad_seq": result.first_bad_seq,
            "problem": result.problem}
