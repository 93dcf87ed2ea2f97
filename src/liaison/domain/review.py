"""Human review of release requests. Pure: no I/O.

docs/rules.md#two-person-review: nothing leaves a node unless the engine allows it *and* a
human review approves it — two different reviewers at SECRET-equivalent and above,
neither of them the requester. A reviewer may narrow the tearline, never widen it.

Issue 18: an approval is given to what the decision rests on at that moment — the item,
its labels, the agreements, the consents and the route (a ``Basis``). Each approval
records the basis it was given on; it counts only while the basis is still the same. Any
change voids the approvals given before it (``refresh``), and the number of reviews is
derived again from the item as it is now (``reviews_needed``), never fixed at request
time. A release is decided on the node's clock when the last approval comes in.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum
from hashlib import sha256

from liaison.domain.items import Item
from liaison.domain.labels import Party
from liaison.domain.release_decision import Decision, Outcome


class ReviewError(ValueError):
    """A request or review that breaks a rule; the message says which."""


class RequestState(StrEnum):
    PENDING = "pending"  # awaiting reviews
    REJECTED = "rejected"  # a reviewer refused it
    BLOCKED = "blocked"  # approved, but the engine no longer allows it at release time
    RELEASED = "released"  # approved by enough reviewers and released
    WITHDRAWN = "withdrawn"  # the requester took it back


@dataclass(frozen=True, slots=True)
class Basis:
    """What a release decision rests on, each part as a digest (``release_basis``)."""

    labels: str = ""  # the portions' levels, caveats, categories, releasability
    content: str = ""  # everything else about the item: its text, attachments, metadata
    agreements: str = ""  # terms, events and today's status of every agreement that could
    #                       carry it
    consents: str = ""  # the originators' consents naming the recipient
    route: str = ""  # the governing agreement and the hubs it passes through

    @property
    def digest(self) -> str:
        """One fingerprint of all the parts; empty for a basis never computed (a request
        stored before issue 18), which matches no real basis (fail closed)."""
        parts = [getattr(self, f.name) for f in fields(self)]
        if not all(parts):
            return ""
        return sha256("|".join(parts).encode()).hexdigest()

    def changed_since(self, before: Basis) -> tuple[str, ...]:
        """The names of the parts that differ from ``before`` (all of them when ``before``
        was never computed)."""
        return tuple(f.name for f in fields(self)
                     if getattr(self, f.name) != getattr(before, f.name))


PART_NAMES = {"labels": "the portions' levels or markings", "content": "the item's content",
              "agreements": "the agreement", "consents": "the consents",
              "route": "the governing agreement or route"}


@dataclass(frozen=True, slots=True)
class Review:
    reviewer: str
    approve: bool
    tearline: tuple[str, ...]
    comment: str
    at: datetime
    basis: str = ""  # the Basis digest this review was given on


@dataclass(frozen=True, slots=True)
class Voiding:
    """A change noticed after approvals were given: those approvals no longer count."""

    at: datetime
    changed: tuple[str, ...]  # Basis part names
    voided: tuple[str, ...]  # reviewers whose approvals were voided
    reviews_required: int  # derived again from the item as it now is

    @property
    def text(self) -> str:
        what = ", ".join(PART_NAMES.get(c, c) for c in self.changed) or "the basis"
        who = f" ({', '.join(self.voided)})" if self.voided else ""
        return (f"approvals before the change of {what} on {self.at:%Y-%m-%d %H:%M} UTC "
                f"no longer count{who}; {self.reviews_required} new approval(s) needed")


@dataclass(frozen=True, slots=True)
class ReleaseRequest:
    id: str
    item_id: str
    recipient: str
    purpose: str
    requested_by: str
    requested_at: datetime
    decision: Decision  # the engine's decision on the node's clock, last asked
    required_reviews: int  # derived from the item as it is now (reviews_needed)
    tearline: tuple[str, ...]  # the engine's tearline, narrowed by reviews
    reviews: tuple[Review, ...] = ()
    state: RequestState = RequestState.PENDING
    state_reason: str = ""
    basis: Basis = Basis()  # what the decision rests on now; approvals on another don't count
    voidings: tuple[Voiding, ...] = ()

    @property
    def approvals(self) -> int:
        """Approvals that count: those given on the current basis."""
        return len(counted_approvers(self))


def counted_approvers(request: ReleaseRequest) -> tuple[str, ...]:
    """The distinct reviewers whose approval was given on the request's current basis,
    none of them the requester. Anything else never counts."""
    current = request.basis.digest
    seen: list[str] = []
    for r in request.reviews:
        if (r.approve and current and r.basis == current
                and r.reviewer != request.requested_by and r.reviewer not in seen):
            seen.append(r.reviewer)
    return tuple(seen)


def required_reviews(tearline_rank: int, two_person_rank: int) -> int:
    """docs/rules.md#two-person-review: two reviewers at SECRET-equivalent and above, one below."""
    return 2 if tearline_rank >= two_person_rank else 1


def reviews_needed(item: Item, tearline: tuple[str, ...], owner: Party) -> int:
    """How many approvals a release of ``tearline`` of ``item``, as it is now, needs.
    A portion the item no longer has, or a level the scheme does not know, counts as
    the highest (fail closed)."""
    ranks: list[int] = []
    by_id = {p.id: p for p in item.portions}
    top = max(lv.rank for lv in owner.scheme.levels)
    for pid in tearline:
        portion = by_id.get(pid)
        try:
            ranks.append(owner.scheme.level(portion.label.classification).rank
                         if portion else top)
        except ValueError:
            ranks.append(top)
    return required_reviews(max(ranks, default=0), owner.two_person_rank)


def open_request(*, request_id: str, item_id: str, recipient: str, purpose: str,
                 requested_by: str, requested_at: datetime, decision: Decision,
                 required: int, basis: Basis) -> ReleaseRequest:
    """A new request; the engine must not have denied it (held ones wait for review)."""
    if decision.outcome is Outcome.DENIED:
        raise ReviewError(f"the release engine denies this release: {decision.summary}")
    if not purpose.strip():
        raise ReviewError("a release request states its purpose (GSOMIA Art. 6: use is "
                          "limited to the stated purpose)")
    return ReleaseRequest(request_id, item_id, recipient, purpose.strip(), requested_by,
                          requested_at, decision, required, decision.tearline, basis=basis)


def refresh(request: ReleaseRequest, basis: Basis, fresh: Decision, required: int,
            at: datetime) -> tuple[ReleaseRequest, Voiding | None]:
    """Bring a pending request up to what its decision rests on now. When the basis
    changed, every approval given before counts no more (a ``Voiding`` says which and
    why), the tearline keeps only what the engine still allows, and the decision is the
    fresh one. ``required`` is always the number derived from the item as it is now."""
    if request.state is not RequestState.PENDING:
        return request, None
    if basis == request.basis:
        return replace(request, required_reviews=required), None
    voided = tuple(dict.fromkeys(r.reviewer for r in request.reviews
                                 if r.approve and r.basis != basis.digest))
    voiding = Voiding(at, basis.changed_since(request.basis), voided, required)
    tearline = tuple(p for p in request.tearline if p in fresh.tearline)
    return replace(request, basis=basis, decision=fresh, tearline=tearline,
                   required_reviews=required,
                   voidings=(*request.voidings, voiding)), voiding


def add_review(request: ReleaseRequest, review: Review) -> ReleaseRequest:
    """Record ``review`` (given on the request's current basis); the request becomes
    REJECTED on a refusal. Reaching the required approvals does not release: the caller
    re-asks the engine (``conclude``)."""
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
    if not review.basis or review.basis != request.basis.digest:
        raise ReviewError("this review was not given on what the decision rests on now; "
                          "reload the request and review it again")
    if any(r.reviewer == review.reviewer and r.basis == review.basis for r in request.reviews):
        raise ReviewError(f"{review.reviewer} has already reviewed this request; "
                          f"a second reviewer must be a different person")


def ready(request: ReleaseRequest) -> bool:
    return request.state is RequestState.PENDING and request.approvals >= request.required_reviews


def conclude(request: ReleaseRequest, fresh: Decision, basis: Basis,
             required: int) -> ReleaseRequest:
    """Release if enough approvals were given on ``basis`` — what the decision rests on
    now — and the engine, asked now on the node's clock, still allows every approved
    portion; otherwise BLOCKED with the engine's reason (fail closed). A request whose
    basis is not ``basis`` is not concluded: its approvals do not count."""
    if basis != request.basis or required > request.required_reviews or not ready(request):
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
