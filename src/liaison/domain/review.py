"""Human review of release requests. Pure: no I/O.

MISSION 3: nothing leaves a node unless the engine allows it *and* a human review
approves it — two different reviewers at SECRET-equivalent and above, neither of them the
requester. A reviewer may narrow the tearline, never widen it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from liaison.domain.release import Decision, Outcome


class ReviewError(ValueError):
    """A request or review that breaks a rule; the message says which."""


class RequestState(StrEnum):
    PENDING = "pending"  # awaiting reviews
    REJECTED = "rejected"  # a reviewer refused it
    BLOCKED = "blocked"  # approved, but the engine no longer allows it at release time
    RELEASED = "released"  # approved by enough reviewers and released
    WITHDRAWN = "withdrawn"  # the requester took it back


@dataclass(frozen=True, slots=True)
class Review:
    reviewer: str
    approve: bool
    tearline: tuple[str, ...]
    comment: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ReleaseRequest:
    id: str
    item_id: str
    recipient: str
    purpose: str
    requested_by: str
    requested_at: datetime
    on: date  # the date the release is decided for
    decision: Decision
    required_reviews: int
    tearline: tuple[str, ...]  # the engine's tearline, narrowed by reviews
    reviews: tuple[Review, ...] = ()
    state: RequestState = RequestState.PENDING
    state_reason: str = ""

    @property
    def approvals(self) -> int:
        return sum(1 for r in self.reviews if r.approve)


def required_reviews(tearline_rank: int, two_person_rank: int) -> int:
    """MISSION 3: two reviewers at SECRET-equivalent and above, one below."""
    return 2 if tearline_rank >= two_person_rank else 1


def open_request(*, request_id: str, item_id: str, recipient: str, purpose: str,
                 requested_by: str, requested_at: datetime, on: date, decision: Decision,
                 tearline_rank: int, two_person_rank: int) -> ReleaseRequest:
    """A new request; the engine must not have denied it (held ones wait for review)."""
    if decision.outcome is Outcome.DENIED:
        raise ReviewError(f"the release engine denies this release: {decision.summary}")
    if not purpose.strip():
        raise ReviewError("a release request states its purpose (GSOMIA Art. 6: use is "
                          "limited to the stated purpose)")
    return ReleaseRequest(request_id, item_id, recipient, purpose.strip(), requested_by,
                          requested_at, on, decision,
                          required_reviews(tearline_rank, two_person_rank), decision.tearline)


def add_review(request: ReleaseRequest, review: Review) -> ReleaseRequest:
    """Record ``review``; the request becomes REJECTED on a refusal. Reaching the required
    approvals does not release: the caller re-asks the engine (``conclude``)."""
    _check_reviewer(request, review)
    if not review.approve:
        return replace(request, reviews=(*request.reviews, review), state=RequestState.REJECTED,
                       state_reason=f"rejected by {review.reviewer}: {review.comment}".strip())
    widened = sorted(set(review.tearline) - set(request.tearline))
    if widened:
        raise ReviewError(f"a reviewer may narrow the tearline, never widen it: "
                          f"{', '.join(widened)} not in the current tearline")
    if not review.tearline:
        raise ReviewError("an approval names at least one portion; reject instead")
    narrowed = tuple(p for p in request.tearline if p in review.tearline)
    return replace(request, reviews=(*request.reviews, review), tearline=narrowed)


def _check_reviewer(request: ReleaseRequest, review: Review) -> None:
    if request.state is not RequestState.PENDING:
        raise ReviewError(f"request {request.id} is {request.state}, not pending review")
    if review.reviewer == request.requested_by:
        raise ReviewError("the requester may not review their own request (two-person rule)")
    if any(r.reviewer == review.reviewer for r in request.reviews):
        raise ReviewError(f"{review.reviewer} has already reviewed this request; "
                          f"a second reviewer must be a different person")


def ready(request: ReleaseRequest) -> bool:
    return request.state is RequestState.PENDING and request.approvals >= request.required_reviews


def conclude(request: ReleaseRequest, fresh: Decision) -> ReleaseRequest:
    """Release if the engine, asked again now, still allows every approved portion;
    otherwise BLOCKED with the engine's reason (fail closed)."""
    if not ready(request):
        return request
    if fresh.outcome is not Outcome.ALLOWED:
        return replace(request, state=RequestState.BLOCKED, state_reason=fresh.summary)
    before = request.decision
    if (fresh.agreement_id, fresh.route) != (before.agreement_id, before.route):
        return replace(request, state=RequestState.BLOCKED,
                       state_reason=f"the governing agreement or route changed since the "
                                    f"request ({before.agreement_id} → {fresh.agreement_id}); "
                                    f"request the release again")
    lost = sorted(set(request.tearline) - set(fresh.tearline))
    if lost:
        return replace(request, state=RequestState.BLOCKED,
                       state_reason=f"the engine no longer allows {', '.join(lost)}")
    return replace(request, state=RequestState.RELEASED, decision=fresh)
