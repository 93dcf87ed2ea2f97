"""Protection duties that outlive a release (docs/rules.md#level-change,
docs/rules.md#compromise, docs/rules.md#disposal):

- a level changes only when the originator notifies it; receivers re-mark their copies;
- loss or compromise is reported to the originator at once, with investigation and measures;
- information no longer needed is destroyed, and the destruction is recorded and reported.
Each notice travels to the other node as a signed message.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from liaison.domain import protection_authority as pa
from liaison.domain.items import Item
from liaison.domain.labels import LabelError
from liaison.domain.ledger import Direction
from liaison.domain.users import Role, User
from liaison.services.agreements import load_parties
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Invalid, NotFound, Refused
from liaison.services.items import whole_item
from liaison.services.ports import PartnerRequest, UnitOfWork
from liaison.services.receiving import received_id


def _min_rank(uow: UnitOfWork, deps: Deps, item: Item) -> int:
    scheme = load_parties(uow)[deps.party].scheme
    return min(scheme.level(p.label.classification).rank for p in item.portions)


def regrade(deps: Deps, user: User, item_id: str, portion_id: str, level: str,
            reason: str) -> Item:
    """The originator changes a portion's level; every partner that received it is told."""
    require(user, Role.RELEASE_OFFICER)
    item = whole_item(deps, user, item_id)
    portion = next((p for p in item.portions if p.id == portion_id), None)
    if portion is None:
        raise NotFound(f"item {item_id} has no portion {portion_id}")
    if portion.label.originator != deps.party:
        raise Refused(f"only the originator ({portion.label.originator}) changes this level "
                      f"(GSOMIA Art. 7)")
    with deps.uow() as uow:
        scheme = load_parties(uow)[deps.party].scheme
        try:
            new_level = scheme.level(level).name
        except LabelError as exc:
            raise Invalid(str(exc)) from exc
        changed = _with_level(item, portion_id, new_level)
        stored = uow.items.get(item_id)
        assert stored is not None
        uow.items.replace(replace(stored, item=changed), _min_rank(uow, deps, changed))
        partners = sorted({e.partner for e in uow.ledger.list() if e.item_id == item_id
                           and e.direction is Direction.GIVEN})
        for partner in partners:
            uow.outbox.enqueue(message_id=deps.ids(), peer=partner, kind="regrade",
                               at=deps.clock(), payload={"item_id": item_id,
                                                         "portion_id": portion_id,
                                                         "level": new_level, "reason": reason})
        record(uow, deps, user.username, "item.regraded", f"item:{item_id}",
               {"portion": portion_id, "from": portion.label.classification,
                "to": new_level, "reason": reason, "notified": partners})
        uow.commit()
    return changed


def _with_level(item: Item, portion_id: str, level: str) -> Item:
    portions = tuple(replace(p, label=replace(p.label, classification=level))
                     if p.id == portion_id else p for p in item.portions)
    return replace(item, portions=portions)


def apply_regrade(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """docs/rules.md#level-change: re-mark the received copy with this node's equivalent of
    the new level under the agreement it came under — only the portions the sender originated
    (``domain.protection_authority`` rule 1)."""
    try:
        change = pa.regrade_from(body)
    except pa.ProtectionRefused as exc:
        return str(exc)
    local_id = received_id(change["item_id"], sender)
    portion_id, level = change["portion_id"], change["level"]
    stored = uow.items.get(local_id)
    entry = next((e for e in uow.ledger.list(partner=sender) if e.item_id == local_id), None)
    if stored is None or entry is None:
        return f"no received item {local_id} here"
    problem = pa.regrade_refusal(stored.item, portion_id, sender)
    if problem:
        return problem
    agreement = uow.agreements.get(entry.agreement_id)
    mine = agreement.table.translate(sender, level, deps.party) if agreement else None
    if mine is None:
        return f"GSOMIA Art. 4: no equivalent for {sender}'s {level}; copy kept at its level"
    changed = _with_level(stored.item, portion_id, mine)
    uow.items.replace(replace(stored, item=changed), _min_rank(uow, deps, changed))
    record(uow, deps, f"peer:{sender}", "item.regraded", f"item:{local_id}",
           {"portion": portion_id, "to": mine, "originator_level": level,
            "reason": change["reason"]})
    return None


def report(deps: Deps, user: User, item_id: str, kind: str, details: dict[str, Any]) -> None:
    """Report a compromise (docs/rules.md#compromise) or a destruction (docs/rules.md#disposal) of a
    received item to its originator; a destroyed item is removed here."""
    require(user, Role.RELEASE_OFFICER)
    if kind not in ("compromise", "destruction"):
        raise Invalid("kind: compromise or destruction")
    if not any(str(v).strip() for v in details.values()):
        raise Invalid("a report says what happened (and the measures or the method)")
    item = whole_item(deps, user, item_id)
    originators = sorted({p.label.originator for p in item.portions} - {deps.party})
    if not originators:
        raise Invalid(f"item {item_id} originated here: there is no one to report to")
    with deps.uow() as uow:
        for party in originators:
            uow.outbox.enqueue(message_id=deps.ids(), peer=party, kind=kind, at=deps.clock(),
                               payload={"item_id": item_id.rsplit("@", 1)[0], **details})
        if kind == "destruction":
            uow.items.remove(item_id)
        record(uow, deps, user.username, f"item.{kind}", f"item:{item_id}",
               {**details, "reported_to": originators})
        uow.commit()


def _apply(kind: str) -> Any:
    def apply(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
        """docs/rules.md#compromise, docs/rules.md#disposal: a partner's report on information we
        gave it (``domain.protection_authority`` rules 2 and 3)."""
        try:
            report = pa.report_from(body, kind)
        except pa.ProtectionRefused as exc:
            return str(exc)
        given = {e.item_id for e in uow.ledger.list(partner=sender)
                 if e.direction is Direction.GIVEN}
        problem = pa.report_refusal(report["item_id"], sender, kind, given)
        if problem:
            return problem
        now = deps.clock()
        uow.requests.put(PartnerRequest(deps.ids(), kind, "incoming", sender, "received",
                                        report, now, now))
        record(uow, deps, f"peer:{sender}", f"item.{kind}_reported",
               f"item:{report['item_id']}", report)
        return None
    return apply


APPLIERS = {"regrade": apply_regrade, "compromise": _apply("compromise"),
            "destruction": _apply("destruction")}
