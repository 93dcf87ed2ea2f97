"""Release checks, requests, reviews, consents and the reciprocity ledger.

MISSION 3: nothing leaves unless the engine allows it *and* human review approves it.
The engine is asked again at the moment of release (fail closed if anything changed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

from liaison.domain.agreement_terms import terms_at
from liaison.domain.agreements import Agreement
from liaison.domain.codec import CodecError, field_of, item_to, parse_date
from liaison.domain.items import Item
from liaison.domain.ledger import Direction, LedgerEntry, balances_by_agreement
from liaison.domain.release import Consent, Decision, ReleaseFacts, decide
from liaison.domain.review import (
    ReleaseRequest,
    Review,
    ReviewError,
    add_review,
    conclude,
    open_request,
    ready,
)
from liaison.domain.users import Role, User
from liaison.services import attachments, content, origin, taxii
from liaison.services.agreements import load_parties
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Invalid, NotFound, Refused
from liaison.services.federation import enqueue
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


def request_release(deps: Deps, user: User, item_id: str, recipient: str, purpose: str,
                    on: date | None) -> ReleaseRequest:
    require(user, Role.RELEASE_OFFICER)
    item = whole_item(deps, user, item_id)
    on = on or deps.clock().date()
    with deps.uow() as uow:
        f = facts(uow, deps)
        _known_party(f, recipient)
        decision = decide(item, recipient, on, f, purpose)
        try:
            request = open_request(
                request_id=deps.ids(), item_id=item_id, recipient=recipient, purpose=purpose,
                requested_by=user.username, requested_at=deps.clock(), on=on,
                decision=decision, tearline_rank=_rank(item, decision.tearline, f),
                two_person_rank=f.owner.two_person_rank)
        except ReviewError as exc:
            raise Refused(str(exc)) from exc
        uow.releases.add(request)
        record(uow, deps, user.username, "release.requested", f"release:{request.id}",
               {"item": item_id, "recipient": recipient, "purpose": request.purpose,
                "outcome": decision.outcome.value, "reviews_required": request.required_reviews})
        uow.commit()
    return request


def _known_party(f: ReleaseFacts, code: str) -> None:
    if code not in f.parties:
        raise Invalid(f"unknown party {code!r}: known parties are {', '.join(sorted(f.parties))}")


def _rank(item: Item, tearline: tuple[str, ...], f: ReleaseFacts) -> int:
    ranks = [f.owner.scheme.level(p.label.classification).rank for p in item.portions
             if p.id in tearline]
    return max(ranks, default=0)


def review(deps: Deps, user: User, request_id: str, approve: bool,
           tearline: list[str] | None, comment: str) -> ReleaseRequest:
    """Record a review; with enough approvals, ask the engine again and release."""
    require(user, Role.REVIEWER)
    request = get_request(deps, user, request_id)
    whole_item(deps, user, request.item_id)
    with deps.uow() as uow:
        request = _locked_request(uow, request_id)
        chosen = tuple(tearline) if tearline is not None else request.tearline
        stored = uow.items.get(request.item_id)
        if approve and stored is not None:
            found = content.check(uow, deps, stored.item, chosen)
            if found.hold:
                raise Refused("the content check holds this release: "
                              + " ".join(found.reasons())
                              + " Leave those portions out of the tearline or correct the "
                                "item.")
        try:
            request = add_review(request, Review(user.username, approve, chosen, comment.strip(),
                                                 deps.clock()))
        except ReviewError as exc:
            raise Refused(str(exc)) from exc
        record(uow, deps, user.username, "release.reviewed", f"release:{request_id}",
               {"approve": approve, "tearline": list(chosen), "comment": comment.strip()})
        if ready(request):
            request = _release(uow, deps, request)
        uow.releases.update(request)
        uow.commit()
    return request


def _locked_request(uow: UnitOfWork, request_id: str) -> ReleaseRequest:
    request = uow.releases.get(request_id)
    if request is None:
        raise NotFound(f"no release request {request_id}")
    return request


def _release(uow: UnitOfWork, deps: Deps, request: ReleaseRequest) -> ReleaseRequest:
    stored = uow.items.get(request.item_id)
    if stored is None:
        raise NotFound(f"item {request.item_id} is gone")
    f = facts(uow, deps)
    concluded = conclude(request, decide(stored.item, request.recipient, request.on, f,
                                         request.purpose))
    record(uow, deps, "engine", f"release.{concluded.state.value}", f"release:{request.id}",
           {"item": request.item_id, "recipient": request.recipient,
            "tearline": list(concluded.tearline), "reason": concluded.state_reason})
    if concluded.decision.agreement_id and concluded.state.value == "released":
        _ledger_given(uow, deps, concluded, stored.item, f)
        _send(uow, deps, concluded, stored.item)
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
    """GSOMIA Art. 6: the written consents of other originators this release relies on,
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
    hidden request as for a missing one, so neither the item nor the request leaks."""
    require(user, *OFFICERS)
    with deps.uow() as uow:
        request = uow.releases.get(request_id)
        if request is None or not _cleared_for_all(uow, deps, user)(request.item_id):
            raise NotFound(f"no release request {request_id} that you may see")
        return request


def list_requests(deps: Deps, user: User, state: str | None, limit: int,
                  offset: int) -> list[ReleaseRequest]:
    """The requests about items ``user`` is cleared for in full (release work needs all
    of an item), newest first."""
    require(user, *OFFICERS)
    with deps.uow() as uow:
        cleared = _cleared_for_all(uow, deps, user)
        seen = [r for r in uow.releases.list(state=state, limit=10**9, offset=0)
                if cleared(r.item_id)]
    return seen[offset:offset + limit]


def _cleared_for_all(uow: UnitOfWork, deps: Deps, user: User) -> Callable[[str], bool]:
    """Whether ``user`` may see every portion of an item. Fail closed: an item that is
    gone (destroyed) counts as hidden, so its requests are shown to no one."""
    party = load_parties(uow)[deps.party]

    def cleared(item_id: str) -> bool:
        stored = uow.items.get(item_id)
        return stored is not None and visible_part(stored.item, user, party) == stored.item

    return cleared


def record_consent(deps: Deps, user: User, data: dict[str, Any]) -> StoredConsent:
    """GSOMIA Art. 6: the originator's written consent naming grantee and purpose."""
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
        return uow.consents.list()


def ledger(deps: Deps, user: User, agreement_id: str | None,
           partner: str | None) -> list[LedgerEntry]:
    require(user, Role.RELEASE_OFFICER, Role.REVIEWER, Role.ADMIN)
    with deps.uow() as uow:
        return uow.ledger.list(agreement_id=agreement_id, partner=partner)
