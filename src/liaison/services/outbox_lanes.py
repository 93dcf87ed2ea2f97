"""What operators see of each partner's outbox lanes (pending, the oldest pending
message's age, failures, the last error and when, the last delivery), the stuck-lane
alert, and the refused messages with their reasons.

A lane is stuck when it has held pending messages without a delivery for
``deps.outbox_stuck_s`` (``domain.lanes.stuck``). ``check`` records in the audit log when
a lane becomes stuck and when it recovers, once each (the lane's ``stuck_since`` mark is
set and cleared by one conditional update, so of several workers checking at once one
records it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liaison.domain.lanes import LANES, stuck
from liaison.domain.users import Role, User
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.ports import LaneState

STATES = ("pending", "delivered", "refused")


def status(deps: Deps, user: User) -> dict[str, Any]:
    """Per partner: the message counts by state (as before lanes), each lane's view, and
    the alerts of its stuck lanes."""
    require(user, Role.ADMIN, Role.RELEASE_OFFICER)
    now = deps.clock()
    with deps.uow() as uow:
        peers = [p.party for p in uow.peers.list()]
        counts = {p: {s: uow.outbox.count(peer=p, state=s) for s in STATES} for p in peers}
        states = {(s.peer, s.lane): s for s in uow.outbox.lanes()}
    view: dict[str, Any] = {}
    for p in peers:
        lanes = {lane: lane_view(states.get((p, lane), LaneState(p, lane)), now,
                                 deps.outbox_stuck_s) for lane in LANES}
        alerts = [v["alert"] for v in lanes.values() if v["alert"]]
        view[p] = {**counts[p], "lanes": lanes, "stuck": bool(alerts), "alerts": alerts}
    return view


def lane_view(s: LaneState, now: datetime, after_s: float) -> dict[str, Any]:
    age = (now - s.oldest_pending_at).total_seconds() if s.oldest_pending_at else None
    is_stuck = stuck(s.pending, s.oldest_pending_at, s.last_delivery_at, now, after_s)
    return {"pending": s.pending, "oldest_pending_age_s": _round(age),
            "failures": s.failures, "last_error": s.last_error,
            "last_error_at": _iso(s.last_error_at), "last_attempt_at": _iso(s.last_attempt_at),
            "last_delivery_at": _iso(s.last_delivery_at), "stuck": is_stuck,
            "stuck_since": _iso(s.stuck_since),
            "alert": alert(s, now) if is_stuck else ""}


def alert(s: LaneState, now: datetime) -> str:
    waiting = max(filter(None, (s.oldest_pending_at, s.last_delivery_at)), default=now)
    at = s.last_error_at.isoformat(timespec="seconds") if s.last_error_at else ""
    error = f"; last error {s.last_error} at {at}" if s.last_error else "; no error recorded"
    return (f"{s.peer} {s.lane} lane stuck: {s.pending} pending, nothing delivered for "
            f"{(now - waiting).total_seconds():.0f} s, {s.failures} failed attempts{error}")


def check(deps: Deps) -> list[tuple[str, str, bool]]:
    """Record lanes that became stuck or recovered since the last check: (peer, lane,
    now stuck) for each change this call recorded."""
    now = deps.clock()
    changes = []
    with deps.uow() as uow:
        for s in uow.outbox.lanes():
            is_stuck = stuck(s.pending, s.oldest_pending_at, s.last_delivery_at, now,
                             deps.outbox_stuck_s)
            if is_stuck == (s.stuck_since is not None):
                continue
            if uow.outbox.mark_stuck(s.peer, s.lane, now if is_stuck else None):
                record(uow, deps, "federation",
                       "outbox.lane_stuck" if is_stuck else "outbox.lane_recovered",
                       f"lane:{s.peer}:{s.lane}",
                       {"peer": s.peer, "lane": s.lane, "pending": s.pending,
                        "failures": s.failures, "last_error": s.last_error,
                        "alert": alert(s, now) if is_stuck else ""})
                changes.append((s.peer, s.lane, is_stuck))
        uow.commit()
    return changes


def refused(deps: Deps, user: User, peer: str | None, limit: int) -> list[dict[str, Any]]:
    """Refused messages, latest first, with the reason (the partner's, a poison's, or
    "not sent" for one too large to send)."""
    require(user, Role.ADMIN, Role.RELEASE_OFFICER)
    with deps.uow() as uow:
        rows = uow.outbox.refused(peer, min(max(limit, 1), 1000))
    return [{"id": m.id, "peer": m.peer, "lane": m.lane, "seq": m.seq, "kind": m.kind,
             "queued_at": _iso(m.created_at), "settled_at": _iso(m.delivered_at),
             "attempts": m.attempts, "reason": str((m.receipt or {}).get("reason", ""))}
            for m in rows]


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
