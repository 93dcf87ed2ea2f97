"""Items: create, read and list — each user sees only the portions their clearance and
need-to-know allow (docs/rules.md#need-to-know: clearance at the level AND need-to-know)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from liaison.domain.codec import item_from
from liaison.domain.decoding import CodecError
from liaison.domain.items import REPORT_TIMES, Attachment, Item, local_id_problem
from liaison.domain.labels import Party
from liaison.domain.users import Role, User
from liaison.services import attachments
from liaison.services.agreements import load_parties
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Exists, Forbidden, Invalid, NotFound, ServiceError
from liaison.services.ports import Conflict, StoredItem, UnitOfWork

READERS = (Role.ANALYST, Role.RELEASE_OFFICER, Role.REVIEWER, Role.WATCH_OFFICER, Role.ADMIN)


def visible_part(item: Item, user: User, party: Party) -> Item | None:
    """The item cut to the portions ``user`` may see; ``None`` when none."""
    scheme = party.scheme
    seen = tuple(p for p in item.portions if user.clearance.may_see(
        p.label, scheme.level(p.label.classification).rank, item.topic))
    if not seen:
        return None
    return item if len(seen) == len(item.portions) else replace(item, portions=seen)


def not_found(item_id: str) -> NotFound:
    """The same answer for a missing item and a hidden one: existence never leaks."""
    return NotFound(f"no item {item_id} that you may see")


def create_item(deps: Deps, user: User, data: dict[str, Any]) -> Item:
    return create_items(deps, user, [data])[0]


def create_items(deps: Deps, user: User, datas: list[dict[str, Any]],
                 names: list[str] | None = None) -> list[Item]:
    """Create every item or none: each is checked in one unit of work that commits only
    when all passed. The first refusal is raised, prefixed with ``names[i]`` (say, the
    STIX report it came from) when given."""
    require(user, Role.ANALYST, Role.RELEASE_OFFICER)
    created = []
    with deps.uow() as uow:
        parties = load_parties(uow)
        for i, data in enumerate(datas):
            try:
                created.append(_create(uow, deps, user, data, parties))
            except ServiceError as exc:
                if names is None:
                    raise
                raise type(exc)(f"{names[i]}: {exc.message}; nothing was imported") from exc
        uow.commit()
    return created


def _create(uow: UnitOfWork, deps: Deps, user: User, data: dict[str, Any],
            parties: dict[str, Party]) -> Item:
    data = attachments.with_stored_types(uow, data, user)
    try:
        item = item_from(data, parties, deps.party)
    except CodecError as exc:
        raise Invalid(str(exc)) from exc
    except OverflowError as exc:  # a time that leaves the calendar once made UTC
        raise Invalid(f"a date-time is out of range ({exc}); report times are "
                      f"{REPORT_TIMES}") from exc
    if problem := local_id_problem(item.id):
        raise Invalid(problem)
    item = attachments.resolve(uow, deps, item, user)
    if visible_part(item, user, parties[deps.party]) != item:
        raise Forbidden("you may only create portions within your clearance and "
                        "need-to-know")
    min_rank = min(parties[deps.party].scheme.level(p.label.classification).rank
                   for p in item.portions)
    try:
        uow.items.add(StoredItem(item, user.username, deps.clock()), min_rank)
    except Conflict as exc:
        raise Exists(f"item {item.id} already exists") from exc
    record(uow, deps, user.username, "item.created", f"item:{item.id}",
           {"portions": len(item.portions), "banner": item.banner(parties[deps.party].scheme)})
    return item


def get_item(deps: Deps, user: User, item_id: str) -> Item:
    require(user, *READERS)
    with deps.uow() as uow:
        stored, party = uow.items.get(item_id), load_parties(uow)[deps.party]
    seen = visible_part(stored.item, user, party) if stored else None
    if seen is None:
        raise not_found(item_id)
    return seen


def whole_item(deps: Deps, user: User, item_id: str) -> Item:
    """The item, only if ``user`` may see every portion of it (to release or review it).
    Missing, hidden and partly hidden items get one answer (404, one message): a refusal
    that named a partial clearance would tell the reader hidden portions exist (issue 18)."""
    require(user, *READERS)
    with deps.uow() as uow:
        stored, party = uow.items.get(item_id), load_parties(uow)[deps.party]
    if stored is None or visible_part(stored.item, user, party) != stored.item:
        raise NotFound(f"no item {item_id} that you may see in full: a release is checked, "
                       f"requested and reviewed by people cleared for all of it")
    return stored.item


def list_items(deps: Deps, user: User, limit: int, offset: int) -> tuple[list[Item], int]:
    """One page of the items ``user`` may see, and how many they may see in all."""
    require(user, *READERS)
    with deps.uow() as uow:
        party = load_parties(uow)[deps.party]
        candidates = uow.items.list(max_min_rank=user.clearance.level_rank, limit=10**9,
                                    offset=0)
    seen = [v for s in candidates if (v := visible_part(s.item, user, party)) is not None]
    return seen[offset:offset + limit], len(seen)


def open_attachment(deps: Deps, user: User, item_id: str,
                    portion_id: str) -> tuple[Attachment, Iterator[bytes]]:
    """The file of a portion the user may see (the same answer for hidden and missing)."""
    portion = next((p for p in get_item(deps, user, item_id).portions if p.id == portion_id),
                   None)
    if portion is None or portion.attachment is None:
        raise NotFound(f"no attachment on portion {portion_id} of item {item_id} that you "
                       f"may see")
    return portion.attachment, attachments.store(deps).open(portion.attachment.address)
