"""Applying what partners send: releases are re-marked in this node's own scheme with the
originator's name (GSOMIA Art. 4), refused when a level has no equivalent, and from then on
protected by the third-party rule (the originator stays on every portion's label)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from liaison.domain.agreements import Agreement, AgreementKind, status_at
from liaison.domain.codec import CodecError, item_from
from liaison.domain.items import Item
from liaison.domain.labels import Category, CategoryType, Label, LabelError, Party
from liaison.domain.ledger import Direction, LedgerEntry
from liaison.services import attachments
from liaison.services.agreements import load_parties
from liaison.services.audit_trail import record
from liaison.services.context import Deps
from liaison.services.errors import ServiceError
from liaison.services.ports import Conflict, StoredItem, UnitOfWork

RECEIVED_FROM = "RECEIVED FROM"


def received_id(item_id: str, sender: str) -> str:
    return f"{item_id}@{sender}"


def apply_release(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """Store a released item (or, at a hub, forward it); the refusal reason, or ``None``
    when accepted."""
    parties = load_parties(uow)
    try:
        final, origin = str(body.get("recipient") or deps.party), str(body.get("origin") or
                                                                     sender)
        agreement = _agreement(uow, deps, origin, str(body["agreement"]))
        item = item_from(body["item"], parties, origin, "item")
    except (CodecError, KeyError, TypeError, AttributeError) as exc:
        return f"malformed release: {exc}"
    if isinstance(agreement, str):
        return agreement
    route = _route_problem(agreement, sender, origin, final, deps.party)
    if route:
        return route
    if final != deps.party:
        return _relay(uow, deps, sender, body, agreement, item, final)
    try:
        attachments.take_inline(deps, uow, body["item"], sender)
        item = item_from(body["item"], parties, origin, "item")
        local = remark(item, parties[origin], agreement, parties[deps.party])
    except (LabelError, CodecError, ValueError, ServiceError) as exc:
        return exc.message if isinstance(exc, ServiceError) else str(exc)
    own = parties[deps.party].scheme
    try:
        uow.items.add(StoredItem(local, f"peer:{sender}", deps.clock()),
                      min(own.level(p.label.classification).rank for p in local.portions))
    except Conflict:
        return f"item {local.id} was already received"
    top = max(local.portions, key=lambda p: own.level(p.label.classification).rank)
    level = agreement.table.common_name(deps.party, top.label.classification) or "UNCLASSIFIED"
    uow.ledger.add(LedgerEntry(agreement.id, origin, Direction.RECEIVED, level,
                               item.discipline.value, local.id, deps.clock()))
    return None


def _route_problem(agreement: Agreement, sender: str, origin: str, final: str,
                   me: str) -> str | None:
    """DOMAIN Protection 6: under an arrangement with a hub, transfers between the other
    parties go through the hub; only the hub relays."""
    hub = agreement.hub
    if agreement.kind is not AgreementKind.ARRANGEMENT or hub in (origin, final):
        return None if origin == sender and final == me else \
            f"{agreement.id} carries no relay: only a hub forwards"
    if final == me and sender != hub:
        return f"under {agreement.id} transfers from {origin} come through the hub {hub}"
    if final != me and (me != hub or final not in agreement.parties):
        return f"this node is not {agreement.id}'s hub; it forwards nothing"
    return None


def _relay(uow: UnitOfWork, deps: Deps, sender: str, body: Any, agreement: Agreement,
           item: Item, final: str) -> str | None:
    """At the hub: forward only within the arrangement's scope and only what its
    originator sent for relay (the originator's consent) — DOMAIN Protection 6."""
    if not agreement.scope.covers_topic(item.topic):
        return f"topic {item.topic!r} is outside {agreement.id}'s scope; not forwarded"
    others = sorted({p.label.originator for p in item.portions} - {sender, deps.party})
    if others:
        return (f"portions originated by {', '.join(others)} need their consent; "
                f"the hub forwards only with the originator's consent")
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
    """GSOMIA Art. 4: the receiver marks every portion with the originator's name and its
    own equivalent level; a level with no equivalent is refused (``LabelError``)."""
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
