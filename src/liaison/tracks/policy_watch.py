"""When the track hub's policy snapshot must be recomputed: on change, not on a timer.

The snapshot (``services.tracks.track_policy``, the peers and the areas) depends on the
parties, agreements, consents, peers, track feeds and areas stored here, on the
reciprocity ledger (only through agreements with a ``max_imbalance``) and on the date
(an agreement's status is decided per day). Users and clearances are not in it: each
subscriber's clearance is checked per update, and the live routes re-check sessions.

Every write of those inputs is recorded in the audit log in the same transaction, by this
process, another worker or the CLI alike (the log is hash-chained: its sequence numbers
commit in order). So the hub reads the log's tail since the last record it has seen
(one short indexed query, off the event loop) and recomputes when a record names one of
those inputs, when the date changes, or, as a safety net for a writer that forgot to
audit, every ``SAFETY_S``. With nothing changed, nothing is recomputed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from liaison.services.context import Deps
from liaison.services.tracks import TrackPolicy

SAFETY_S = 60.0  # a full recompute at least this often, changed or not
TAIL = 1_000  # audit records read per check; a full page recomputes without reading on

# Audit actions that write a policy input (prefixes). "envelope.received" covers what a
# partner's batch applies without an audit record of its own (a consent answer, a shared
# area, the reciprocity ledger); the agreement notes it carries are "agreement.changed".
INPUTS = ("agreement.", "party.", "peer.", "track_feed.", "consent.", "area.",
          "envelope.received")
# Actions that move the reciprocity ledger: relevant only while an agreement the policy
# uses holds releases past an imbalance (``Agreement.max_imbalance``).
LEDGER = ("release.", "envelope.")


def names_an_input(action: str, reciprocity: bool) -> bool:
    return action.startswith(INPUTS) or (reciprocity and action.startswith(LEDGER))


def uses_reciprocity(policy: TrackPolicy) -> bool:
    """Whether a ledger entry can change this policy's routes (a reciprocity hold)."""
    return any(ag.max_imbalance is not None for agreements in policy.inbound.values()
               for ag in agreements.values()) or any(
        "reciprocity" in why for refusals in policy.refusals.values()
        for why in refusals.values())


@dataclass
class PolicyWatch:
    """The hub's record of what its snapshot has seen. ``check`` runs in a thread."""

    seen_seq: int = -1  # the last audit record the snapshot accounts for
    computed_at: float = 0.0  # monotonic time of the last full recompute
    recomputes: int = 0
    checks: int = 0
    last_reason: str = ""

    def position(self, deps: Deps) -> int:
        """The audit position a snapshot computed from now on accounts for: the newest
        record (numbered from 0) the first time, then the end of the next unread page."""
        with deps.uow() as uow:
            if self.seen_seq < 0:
                return uow.audit.count() - 1
            tail = uow.audit.list(after_seq=self.seen_seq, limit=TAIL)
        return tail[-1].seq if tail else self.seen_seq

    def check(self, deps: Deps, policy: TrackPolicy) -> tuple[str, int]:
        """Why the snapshot must be recomputed ("" if it need not) and the audit position
        to record once it has been (``seen``)."""
        self.checks += 1
        if deps.clock().date() != policy.day:
            return f"the date is now {deps.clock().date()}", self.seen_seq
        if policy.error:
            return f"the last snapshot failed: {policy.error}", self.seen_seq
        with deps.uow() as uow:
            tail = uow.audit.list(after_seq=self.seen_seq, limit=TAIL)
        last = tail[-1].seq if tail else self.seen_seq
        why = _first_input((r.action for r in tail), uses_reciprocity(policy))
        if why:
            return f"audit: {why}", last
        if len(tail) == TAIL:  # more unread: cheaper to recompute than to page on
            return f"more than {TAIL} audit records since the last check", last
        if time.monotonic() - self.computed_at >= SAFETY_S:
            return f"safety refresh (every {SAFETY_S:.0f} s)", last
        self.seen_seq = last  # nothing that matters: move on without recomputing
        return "", last

    def seen(self, seq: int, reason: str) -> None:
        self.seen_seq = max(self.seen_seq, seq)
        self.computed_at = time.monotonic()
        self.recomputes += 1
        self.last_reason = reason[:200]

    def view(self) -> dict[str, object]:
        return {"recomputes": self.recomputes, "checks": self.checks,
                "last_reason": self.last_reason, "audit_seq": self.seen_seq}


def _first_input(actions: Iterable[str], reciprocity: bool) -> str:
    return next((a for a in actions if names_an_input(a, reciprocity)), "")
