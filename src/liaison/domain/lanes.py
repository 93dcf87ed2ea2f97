"""Outbox lanes: which partner messages travel ahead of which.

Each partner has three lanes, sent independently of each other (a FLASH goes out while a
routine batch of releases is in flight). Within a lane, messages are offered in sequence
order; across lanes no order is kept. So a kind goes in the lane of the messages its effect
depends on: a message that needs an earlier one to have arrived travels in the same lane.

The lane is a function of the kind alone (stored with each message when it is queued;
migration 0011 gives existing rows theirs the same way)."""

from __future__ import annotations

from datetime import datetime

FLASH, URGENT, ROUTINE = "flash", "urgent", "routine"
LANES = (FLASH, URGENT, ROUTINE)

# kind → lane, with the reason. Every kind a node queues (``enqueue`` call sites) is here;
# an unknown kind goes ROUTINE.
KIND_LANES: dict[str, str] = {
    # docs/rules.md#precedence: FLASH 10 min, IMMEDIATE 30 min, a check call answered within 10 min.
    # All hotline traffic (every precedence; check calls; acknowledgements) shares one lane
    # with the line's sever and reopen: the partner refuses traffic on a line it holds
    # severed, so a message must never overtake the reopen before it. Hotline traffic is
    # typed by watch officers, so this lane never holds a backlog.
    "hotline": FLASH,
    "hotline_ack": FLASH,
    "hotline_sever": FLASH,
    "hotline_reopen": FLASH,
    # Time-bound exchanges between people and the state they depend on: agreement notes
    # (notice, suspension, withdrawal: docs/rules.md#own-acts), originators' consent
    # (docs/rules.md#consent) and talks signalling (a live call cannot wait behind a backlog of
    # releases). A note may overtake releases queued before it (see ``federation``'s order rules).
    "note": URGENT,
    "consent_request": URGENT,
    "consent_answer": URGENT,
    "talks": URGENT,
    "talks_minutes": URGENT,
    "talks_live": URGENT,
    # Bulk and background traffic: releases and relays (products ride in releases);
    # regrades of released items (behind the release they regrade, in the same lane);
    # compromise and destruction reports to an originator; RFIs and their answers;
    # shared areas; audit checkpoints and countersignatures.
    "release": ROUTINE,
    "regrade": ROUTINE,
    "compromise": ROUTINE,
    "destruction": ROUTINE,
    "rfi": ROUTINE,
    "rfi_answer": ROUTINE,
    "area": ROUTINE,
    "audit_checkpoint": ROUTINE,
    "audit_countersign": ROUTINE,
}


def lane_for(kind: str) -> str:
    return KIND_LANES.get(kind, ROUTINE)


def stuck(pending: int, oldest_pending_at: datetime | None,
          last_delivery_at: datetime | None, now: datetime, after_s: float) -> bool:
    """A lane is stuck when it holds pending messages and has delivered nothing for
    ``after_s`` seconds since the oldest of them was queued (a lane draining a backlog
    delivers, so it is not stuck however old its backlog)."""
    if not pending or oldest_pending_at is None:
        return False
    since = max(oldest_pending_at, last_delivery_at or oldest_pending_at)
    return (now - since).total_seconds() > after_s
