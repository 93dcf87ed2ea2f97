"""Applying what partners send: releases are re-marked in this node's own scheme with the
originator's name (docs/rules.md#receiver-marks), refused when a level has no equivalent, and
from then on protected by the third-party rule (the originator stays on every portion's label)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from liaison.domain.agreement_lifecycle import status_at
from liaison.domain.agreement_terms import terms_at
from liaison.domain.agreements import Agreement, AgreementKind
from liaison.domain.codec import item_from, item_to
from liaison.domain.decoding import CodecError
from liaison.domain.items import Item
from liaison.domain.labels import Category, CategoryType, Label, LabelError, Party
from liaison.domain.ledger import Direction, LedgerEntry
from liaison.domain.release_facts import Consent
from liaison.services import attachments
from liaison.services.agreements import load_parties
from liaison.services.audit_trail import record
from liaison.services.context import Deps
from liaison.services.origin import origin_problem
from liaison.services.ports import StoredItem, UnitOfWork
from liaison.services.release_intake import (
    carried_consents,
    engine_problem,
    files_problem,
    shape_problem,
    times_problem,
)

RECEIVED_FROM = "RECEIVED FROM"


def received_id(item_id: str, sender: str) -> str:
    return f"{item_id}@{sender}"


def apply_release(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """Store a released item (or, at a hub, forward it); the refusal reason, or ``None``
    when accepted. Everything is checked before anything is stored: a refused release
    leaves no item, ledger entry or file, only its audit record (issue 17)."""
    reason = _take(uow, deps, sender, body)
    if reason:
        item = body.get("item") if isinstance(body, dict) else None
        record(uow, deps, "federation", "release.refused",
               f"item:{str(item.get('id') if isinstance(item, dict) else '')[:200]}",
               {"from": sender, "reason": reason[:2000]})
    return reason


def _take(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    shape = shape_problem(body)
    if shape:
        return shape
    parties = load_parties(uow)
    final, origin = str(body.get("recipient") or deps.party), str(body.get("origin") or sender)
    try:
        agreement = _agreement(uow, deps, origin, str(body["agreement"]))
        item = item_from(body["item"], parties, origin, "item")
        consents = carried_consents(body, final, parties)
    except (CodecError, KeyError, TypeError, AttributeError, OverflowError) as exc:
        return f"malformed release: {exc}"
    if isinstance(agreement, str):
        return agreement
    agreement = terms_at(agreement, deps.clock().date())  # the terms in force today
    problem = times_problem(item) or _route_problem(agreement, sender, origin, final,
                                                    deps.party)
    if problem:
        return problem
    if final != deps.party:
        return _relay(uow, deps, sender, body, agreement, item, final, consents)
    # Issue 17 point 4: relayed, the item must carry its originator's own signature.
    problem = origin_problem(uow, deps, origin, body, required=origin != sender) or \
        engine_problem(deps, item, origin, agreement, parties, consents, deps.party,
                       _purpose(body))
    return problem or _store(uow, deps, sender, body, agreement, item, origin)


def _purpose(body: Any) -> str | None:
    """The purpose the sender stated: its consents and our agreement's permitted purposes
    are checked against it (docs/rules.md#consent)."""
    purpose = body.get("purpose")
    return purpose if isinstance(purpose, str) and purpose.strip() else None


def _store(uow: UnitOfWork, deps: Deps, sender: str, body: Any, agreement: Agreement,
           item: Item, origin: str) -> str | None:
    """Re-mark, refuse a conflicting resend, then store files, item and ledger entry."""
    parties = load_parties(uow)
    try:
        local = remark(item, parties[origin], agreement, parties[deps.party])
    except LabelError as exc:
        return str(exc)
    known = uow.items.get(local.id)
    if known is not None:
        return _resent(uow, deps, sender, known.item, local)
    problem = files_problem(deps, body["item"])
    if problem:
        return problem
    attachments.take_inline(deps, uow, body["item"], sender)
    local = remark(item_from(body["item"], parties, origin, "item"), parties[origin],
                   agreement, parties[deps.party])
    own = parties[deps.party].scheme
    uow.items.add(StoredItem(local, f"peer:{sender}", deps.clock()),
                  min(own.level(p.label.classification).rank for p in local.portions))
    top = max(local.portions, key=lambda p: own.level(p.label.classification).rank)
    level = agreement.table.common_name(deps.party, top.label.classification) or "UNCLASSIFIED"
    uow.ledger.add(LedgerEntry(agreement.id, origin, Direction.RECEIVED, level,
                               item.discipline.value, local.id, deps.clock()))
    record(uow, deps, "federation", "release.received", f"item:{local.id}",
           {"from": sender, "origin": origin, "agreement": agreement.id,
            "origin_signed": "origin_signature" in body})
    return None


def _resent(uow: UnitOfWork, deps: Deps, sender: str, held: Item, local: Item) -> str | None:
    """Issue 17 point 3: an identical resend is a duplicate (nothing changes); a resend of
    the id with other content is a conflict, refused and recorded, never applied."""
    if _comparable(held) == _comparable(local):
        record(uow, deps, "federation", "release.duplicate", f"item:{local.id}",
               {"from": sender})
        return None
    record(uow, deps, "federation", "release.conflict", f"item:{local.id}",
           {"from": sender})
    return f"item {local.id} was already received with other content; conflict refused, " \
           f"the copy held is kept"


def _comparable(item: Item) -> dict[str, Any]:
    """The item's wire form without node-local file addresses."""
    data = item_to(item)
    for p in data["portions"]:
        if p.get("attachment"):
            p["attachment"]["address"] = ""
    return data


def _route_problem(agreement: Agreement, sender: str, origin: str, final: str,
                   me: str) -> str | None:
    """docs/rules.md#hub-relay: under an arrangement with a hub, transfers between the other
    parties go through the hub; only the hub relays. A release not relayed comes from its
    originator (the envelope's signer)."""
    hub = agreement.hub
    if agreement.kind is not AgreementKind.ARRANGEMENT or hub in (origin, final):
        return None if origin == sender and final == me else \
            f"{agreement.id} carries no relay: only a hub forwards"
    if final == me and sender != hub:
        return f"under {agreement.id} transfers from {origin} come through the hub {hub}"
    if final != me and (me != hub or final not in agreement.parties or origin != sender):
        return f"this node is not {agreement.id}'s hub; it forwards nothing"
    return None


def _relay(uow: UnitOfWork, deps: Deps, sender: str, body: Any, agreement: Agreement,
           item: Item, final: str, consents: tuple[Consent, ...]) -> str | None:
    """At the hub: forward only within the arrangement's scope and only what its
    originator sent for relay (the originator's consent) — docs/rules.md#hub-relay — and
    only as the originator signed it (issue 17 point 4): the message goes on unchanged."""
    if not agreement.scope.covers_topic(item.topic):
        return f"topic {item.topic!r} is outside {agreement.id}'s scope; not forwarded"
    others = sorted({p.label.originator for p in item.portions} - {sender, deps.party})
    if others:
        return (f"portions originated by {', '.join(others)} need their consent; "
                f"the hub forwards only with the originator's consent")
    problem = origin_problem(uow, deps, sender, body, required=True) or \
        engine_problem(deps, item, sender, agreement, load_parties(uow), consents, final,
                       _purpose(body))
    if problem:
        return f"{problem}; not forwarded"
    uow.outbox.enqueue(message_id=deps.ids(), peer=final, kind="release", at=deps.clock(),
                       payload={**body, "origin": sender, "relayed_by": deps.party})
    record(uow, deps, "federation", "release.relayed", f"item:{item.id}",
           {"from": sender, "to": final, "agreement": agreement.id})
    return None


def _agreement(uow: UnitOfWork, deps: Deps, sender: str, agreement_id: str) -> Agreement | str:
    agreement = uow.agreements.get(agreement_id)
    if agreement is None or sender not in agreement.parties or \
            deps.party not in agreement.parties:
        return f"no agreement {agreement_id} binds {sender} and {deps.party} here"
    status = status_at(agreement, deps.clock().date(), deps.rules)
    if not status.in_force:
        return f"GSOMIA Art. 21: {agreement_id} is not in force here ({status.explanation})"
    return agreement


def remark(item: Item, sender: Party, agreement: Agreement, own: Party) -> Item:
    """docs/rules.md#receiver-marks: the receiver marks every portion with the originator's
    name and its own equivalent level; a level with no equivalent is refused (``LabelError``)."""
    portions = tuple(replace(p, label=remark_label(p.label, sender, agreement, own))
                     for p in item.portions)
    return replace(item, id=received_id(item.id, sender.code), portions=portions)


def remark_label(label: Label, sender: Party, agreement: Agreement, own: Party) -> Label:
    theirs = sender.scheme.level(label.classification)
    lowest = own.scheme.levels[-1]
    if theirs.rank == 0:
        level = lowest.name if lowest.rank == 0 else None
    else:
        level = agreement.table.translate(sender.code, theirs.name, own.code)
    if not level:
        raise LabelError(f"GSOMIA Art. 4: no equivalent for {sender.code}'s {theirs.name} in "
                         f"{own.code}'s scheme under {agreement.id}; refused")
    categories = (*label.categories, Category(RECEIVED_FROM, CategoryType.INFORMATIVE,
                                              frozenset({sender.code})))
    return Label(own.code, level, label.originator, label.created, categories, label.review)
