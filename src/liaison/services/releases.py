"""Release checks, requests, reviews, consents and the reciprocity ledger.

docs/rules.md#two-person-review: nothing leaves unless the engine allows it *and* human review
approves it.
The engine is asked again at the moment of release (fail closed if anything changed).

Issue 18: a release is decided on the node's clock, never on a date the requester chose
(a what-if date belongs to ``check``). Every time a pending request is read or reviewed,
what its decision rests on is computed again (``release_basis``); a change voids the
approvals given before it, says so in the request and the audit trail, and the number of
reviews is derived again from the item as it now is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from liaison.domain.agreement_terms import terms_at
from liaison.domain.agreements import Agreement
from liaison.domain.codec import item_to
from liaison.domain.decoding import CodecError, field_of, parse_date
from liaison.domain.items import Item
from liaison.domain.ledger import Direction, LedgerEntry, balances_by_agreement
from liaison.domain.release import decide
from liaison.domain.release_basis import basis_of
from liaison.domain.release_decision import Decision, Outcome
from liaison.domain.release_facts import Consent, ReleaseFacts
from liaison.domain.review import (
    Basis,
    ReleaseRequest,
    RequestState,
    Review,
    ReviewError,
    add_review,
    conclude,
    open_request,
    ready,
    refresh,
    reviews_needed,
)
from liaison.domain.users import Role, User
from liaison.services import attachments, content, origin, sight, taxii
from liaison.services.agreements import load_parties
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Invalid, NotFound, Refused
from liaison.services.federation.outbox import enqueue
from liaison.services.items import visible_part, whole_item
from liaison.services.ports import StoredConsent, UnitOfWork

OFFICERS = (Role.RELEASE_OFFICER, Role.REVIEWER)


def facts(uow: UnitOfWork, deps: Deps) -> ReleaseFacts:
    parties = load_parties(uow)
    balances = {ag: b.net for ag, b in balances_by_agreement(uow.ledger.list()).items()}
    return ReleaseFacts(parties[deps.party], parties, tuple(uow.agreements.list()),
                        tuple(c.consent for c in uow.consents.list()), balances, deps.rules)


def check(deps: Deps, user: User, item_id: str, recipient: str, on: date,
          purpose: str | None = None) -> Decision:
    """"Could this go to JPN on 2019-11-23 for this purpose?" — the engine's answer with its
    reasons. Without a purpose, purpose-limited consents and agreements unlock nothing."""
    require(user, *OFFICERS)
    item = whole_item(deps, user, item_id)
    with deps.uow() as uow:
        f = facts(uow, deps)
        _known_party(f, recipient)
        decision = decide(item, recipient, on, f, purpose)
        record(uow, deps, user.username, "release.checked", f"item:{item_id}",
               {"recipient": recipient, "on": on.isoformat(), "purpose": purpose,
                "outcome": decision.outcome.value,
                "tearline": list(decision.tearline)})
        uow.commit()
    return decision


ON_REFUSED = ("a release is decided on this node's clock at the moment of approval, never on "
              "a date the requester chooses; leave 'on' out (for a what-if date ask the "
              "release check: GET /api/items/{id}/release-check?to=…&at=YYYY-MM-DD, or "
              "`liaison release check ITEM --to … --at …`)")


def request_release(deps: Deps, user: User, item_id: str, recipient: str, purpose: str,
                    on: date | None = None) -> ReleaseRequest:
    """A request to release ``item_id`` to ``recipient``, decided on the node's clock.
    ``on`` is accepted only when it is the node's own date (older callers passed it);
    any other date is refused: a release is never backdated nor postdated."""
    require(user, Role.RELEASE_OFFICER)
    item = whole_item(deps, user, item_id)
    now = deps.clock()
    if on is not None and on != now.date():
        raise Invalid(f"on {on.isoformat()}: {ON_REFUSED}")
    with deps.uow() as uow:
        f = facts(uow, deps)
        _known_party(f, recipient)
        decision = decide(item, recipient, now.date(), f, purpose)
        try:
            request = open_request(
                request_id=deps.ids(), item_id=item_id, recipient=recipient, purpose=purpose,
                requested_by=user.username, requested_at=now, decision=decision,
                required=reviews_needed(item, decision.tearline, f.owner),
                basis=basis_of(item, decision, f, now.date()))
        except ReviewError as exc:
            raise Refused(str(exc)) from exc
        uow.releases.add(request)
        record(uow, deps, user.username, "release.requested", f"release:{request.id}",
               {"item": item_id, "recipient": recipient, "purpose": request.purpose,
                "outcome": decision.outcome.value, "reviews_required": request.required_reviews,
                "decided_on": now.date().isoformat(), "basis": request.basis.digest})
        uow.commit()
    return request


def _known_party(f: ReleaseFacts, code: str) -> None:
    if code not in f.parties:
        raise Invalid(f"unknown party {code!r}: known parties are {', '.join(sorted(f.parties))}")


class _Now:
    """What a pending request's decision rests on now: the item as stored, the engine's
    decision on the node's clock, its basis and the number of reviews it needs."""

    def __init__(self, uow: UnitOfWork, deps: Deps, request: ReleaseRequest,
                 f: ReleaseFacts) -> None:
        stored = uow.items.get(request.item_id)
        if stored is None:
            raise NotFound(f"item {request.item_id} is gone")
        self.at: datetime = deps.clock()
        self.item = stored.item
        self.facts = f
        self.decision = decide(self.item, request.recipient, self.at.date(), f,
                               request.purpose)
        self.basis: Basis = basis_of(self.item, self.decision, f, self.at.date())
        allowed = tuple(p for p in request.tearline if p in self.decision.tearline)
        self.required = max(reviews_needed(self.item, allowed, f.owner),
                            reviews_needed(self.item, self.decision.tearline, f.owner))


def _brought_up_to_date(uow: UnitOfWork, deps: Deps, request: ReleaseRequest,
                        now: _Now) -> ReleaseRequest:
    """``refresh`` the request against ``now``; a voiding is stored and audited."""
    updated, voiding = refresh(request, now.basis, now.decision, now.required, now.at)
    if voiding is not None:
        record(uow, deps, "engine", "release.approvals_voided", f"release:{request.id}",
               {"item": request.item_id, "changed": list(voiding.changed),
                "voided": list(voiding.voided), "reviews_required": voiding.reviews_required,
                "reason": voiding.text, "basis": now.basis.digest})
    if updated != request:
        uow.releases.update(updated)
    return updated


def review(deps: Deps, user: User, request_id: str, approve: bool,
           tearline: list[str] | None, comment: str) -> ReleaseRequest:
    """Record a review, given on what the decision rests on now (a change since the
    earlier approvals voids them first); with enough approvals on that same basis, the
    engine decides on the node's clock and the release goes. When the engine, asked now,
    denies the release, the request is BLOCKED with its reason and the review is not
    recorded (fail closed)."""
    require(user, Role.REVIEWER)
    request = get_request(deps, user, request_id)
    whole_item(deps, user, request.item_id)
    with deps.uow() as uow:
        request = _locked_request(uow, request_id)
        now = _Now(uow, deps, request, facts(uow, deps))
        request = _brought_up_to_date(uow, deps, request, now)
        if now.decision.outcome is Outcome.DENIED:  # fail closed, with the engine's reason
            request = replace(request, state=RequestState.BLOCKED,
                              state_reason=now.decision.summary)
            record(uow, deps, "engine", "release.blocked", f"release:{request_id}",
                   {"item": request.item_id, "recipient": request.recipient,
                    "reason": request.state_reason,
                    "decided_on": now.at.date().isoformat()})
            uow.releases.update(request)
            uow.commit()
            return request
        if approve and not request.tearline:
            raise Refused(f"the engine lets no portion of this request pass now "
                          f"({now.decision.summary}); wait for what it awaits, or reject")
        chosen = tuple(tearline) if tearline is not None else request.tearline
        if approve:
            found = content.check(uow, deps, now.item, chosen)
            if found.hold:
                raise Refused("the content check holds this release: "
                              + " ".join(found.reasons())
                              + " Leave those portions out of the tearline or correct the "
                                "item.")
        try:
            request = add_review(request, Review(user.username, approve, chosen, comment.strip(),
                                                 now.at, request.basis.digest))
        except ReviewError as exc:
            raise Refused(str(exc)) from exc
        record(uow, deps, user.username, "release.reviewed", f"release:{request_id}",
               {"approve": approve, "tearline": list(chosen), "comment": comment.strip(),
                "basis": request.basis.digest, "approvals": request.approvals,
                "reviews_required": request.required_reviews})
        if ready(request):
            request = _release(uow, deps, request, now)
        uow.releases.update(request)
        uow.commit()
    return request


def _locked_request(uow: UnitOfWork, request_id: str) -> ReleaseRequest:
    request = uow.releases.get(request_id)
    if request is None:
        raise NotFound(f"no release request {request_id}")
    return request


def _release(uow: UnitOfWork, deps: Deps, request: ReleaseRequest, now: _Now) -> ReleaseRequest:
    """Decided on the node's clock at this moment (``now``), on the basis the approvals
    were given on; anything else is BLOCKED or stays pending (fail closed)."""
    concluded = conclude(request, now.decision, now.basis, now.required)
    record(uow, deps, "engine", f"release.{concluded.state.value}", f"release:{request.id}",
           {"item": request.item_id, "recipient": request.recipient,
            "tearline": list(concluded.tearline), "reason": concluded.state_reason,
            "decided_on": now.at.date().isoformat(), "basis": now.basis.digest})
    if concluded.decision.agreement_id and concluded.state is RequestState.RELEASED:
        _ledger_given(uow, deps, concluded, now.item, now.facts)
        _send(uow, deps, concluded, now.item)
    return concluded


def _send(uow: UnitOfWork, deps: Deps, request: ReleaseRequest, item: Item) -> None:
    """Queue the tearline for the partner in the release's own transaction (a release is
    never committed without its message, nor a message without its release)."""
    cut = replace(item, portions=tuple(p for p in item.portions if p.id in request.tearline))
    agreement = uow.agreements.get(str(request.decision.agreement_id))
    if agreement is None:
        raise Refused(f"agreement {request.decision.agreement_id} is gone; nothing is released")
    cut, files = attachments.for_partner(deps, cut, terms_at(agreement, request.decision.at))
    hop = request.decision.route[0] if request.decision.route else request.recipient
    payload = {
        "item": attachments.inline(item_to(cut), files),
        "agreement": request.decision.agreement_id,
        "request_id": request.id, "recipient": request.recipient,
        "route": list(request.decision.route), "purpose": request.purpose,
        "consents": _consents_for(uow, deps, cut, request.recipient)}
    # Issue 17: signed end to end, so a hub relaying it can neither forge nor alter it.
    enqueue(uow, deps, hop, "release", origin.sign_release(deps, payload,
                                                           bool(request.decision.route)))
    taxii.publish_release(uow, deps, request.recipient, cut)


def _consents_for(uow: UnitOfWork, deps: Deps, item: Item, recipient: str,
                  ) -> list[dict[str, str]]:
    """docs/rules.md#consent: the written consents of other originators this release relies on,
    carried so the recipient's own engine can check the third-party rule."""
    others = {p.label.originator for p in item.portions} - {deps.party, recipient}
    return [{"originator": c.originator, "recipient": c.recipient, "item_id": c.item_id,
             "purpose": c.purpose, "granted_by": c.granted_by,
             "granted_on": c.granted_on.isoformat()}
            for c in (s.consent for s in uow.consents.list())
            if c.originator in others and c.recipient == recipient
            and c.item_id in (item.id, "*")]


def _ledger_given(uow: UnitOfWork, deps: Deps, request: ReleaseRequest, item: Item,
                  f: ReleaseFacts) -> None:
    agreement = terms_at(next(a for a in f.agreements if a.id == request.decision.agreement_id),
                         request.decision.at)
    uow.ledger.add(LedgerEntry(agreement.id, request.recipient, Direction.GIVEN,
                               _common_level(agreement, item, request, f), item.discipline.value,
                               item.id, deps.clock()))


def _common_level(agreement: Agreement, item: Item, request: ReleaseRequest,
                  f: ReleaseFacts) -> str:
    top = max((p for p in item.portions if p.id in request.tearline),
              key=lambda p: f.owner.scheme.level(p.label.classification).rank)
    name = agreement.table.common_name(f.owner.code, top.label.classification)
    return name or "UNCLASSIFIED"


def content_check(deps: Deps, user: User, request_id: str) -> dict[str, Any]:
    """What the reviewer sees: findings over the request's current tearline."""
    request = get_request(deps, user, request_id)
    item = whole_item(deps, user, request.item_id)
    with deps.uow() as uow:
        return content.result_view(content.check(uow, deps, item, request.tearline))


def get_request(deps: Deps, user: User, request_id: str) -> ReleaseRequest:
    """One request, for an officer cleared for all of its item; the same answer for a
    hidden request as for a missing one, so neither the item nor the request leaks.
    A pending request is first brought up to date (a change voids earlier approvals)."""
    require(user, *OFFICERS)
    with deps.uow() as uow:
        request = uow.releases.get(request_id)
        if request is None or not _cleared_for_all(uow, deps, user)(request.item_id):
            raise NotFound(f"no release request {request_id} that you may see")
        request = _current(uow, deps, [request])[0]
        uow.commit()
        return request


def list_requests(deps: Deps, user: User, state: str | None, limit: int,
                  offset: int) -> list[ReleaseRequest]:
    """The requests about items ``user`` is cleared for in full (release work needs all
    of an item), newest first; pending ones brought up to date."""
    require(user, *OFFICERS)
    with deps.uow() as uow:
        cleared = _cleared_for_all(uow, deps, user)
        seen = [r for r in uow.releases.list(state=state, limit=10**9, offset=0)
                if cleared(r.item_id)][offset:offset + limit]
        seen = _current(uow, deps, seen)
        uow.commit()
    return seen


def _current(uow: UnitOfWork, deps: Deps, requests: list[ReleaseRequest],
             ) -> list[ReleaseRequest]:
    """Pending requests brought up to what their decisions rest on now (one set of facts
    for all of them)."""
    pending = [r for r in requests if r.state is RequestState.PENDING]
    if not pending:
        return requests
    f = facts(uow, deps)
    out = []
    for r in requests:
        if r.state is RequestState.PENDING and uow.items.get(r.item_id) is not None:
            r = _brought_up_to_date(uow, deps, r, _Now(uow, deps, r, f))
        out.append(r)
    return out


def _cleared_for_all(uow: UnitOfWork, deps: Deps, user: User) -> Callable[[str], bool]:
    """Whether ``user`` may see every portion of an item. Fail closed: an item that is
    gone (destroyed) counts as hidden, so its requests are shown to no one."""
    party = load_parties(uow)[deps.party]

    def cleared(item_id: str) -> bool:
        stored = uow.items.get(item_id)
        return stored is not None and visible_part(stored.item, user, party) == stored.item

    return cleared


def record_consent(deps: Deps, user: User, data: dict[str, Any]) -> StoredConsent:
    """docs/rules.md#consent: the originator's written consent naming grantee and purpose."""
    require(user, Role.RELEASE_OFFICER)
    with deps.uow() as uow:
        parties = load_parties(uow)
        consent = _consent_from(data, parties)
        stored = StoredConsent(deps.ids(), consent, user.username, deps.clock())
        uow.consents.add(stored)
        record(uow, deps, user.username, "consent.recorded", f"item:{consent.item_id}",
               {"originator": consent.originator, "recipient": consent.recipient,
                "purpose": consent.purpose, "granted_by": consent.granted_by})
        uow.commit()
    return stored


def _consent_from(data: dict[str, Any], parties: dict[str, Any]) -> Consent:
    try:
        text = {k: field_of(data, k, "", str) for k in
                ("originator", "recipient", "item_id", "purpose", "granted_by")}
        c = Consent(**text, granted_on=parse_date(field_of(data, "granted_on", "", str),
                                                 "granted_on"))
    except CodecError as exc:
        raise Invalid(str(exc)) from exc
    for name in ("originator", "recipient"):
        if getattr(c, name) not in parties:
            raise Invalid(f"{name}: unknown party {getattr(c, name)!r}")
    if not c.purpose.strip() or not c.granted_by.strip():
        raise Invalid("a consent names its purpose and who granted it")
    return c


def list_consents(deps: Deps, user: User) -> list[StoredConsent]:
    require(user, *OFFICERS)
    with deps.uow() as uow:
        rows = uow.consents.list()
    return sight.visible_consents(deps, user, rows)  # issue 18: only items the caller sees


def ledger(deps: Deps, user: User, agreement_id: str | None,
           partner: str | None) -> list[LedgerEntry]:
    require(user, Role.RELEASE_OFFICER, Role.REVIEWER, Role.ADMIN)
    with deps.uow() as uow:
        rows = uow.ledger.list(agreement_id=agreement_id, partner=partner)
    return sight.visible_entries(deps, user, rows)  # issue 18: only items the caller sees
