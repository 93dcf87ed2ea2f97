"""What a person may see of the records that name items: partners' requests and reports,
consents and ledger entries (issue 18: every read, listing, count and error is cut to the
caller's clearance and need-to-know).

The rules, after GSOMIA Art. 8 (clearance at the level AND need-to-know) and the item reads
(``services.items``: a hidden item answers as a missing one; a partly hidden item shows
only the portions the reader may see):

1. A record about an item is shown only to someone who may see that item; one whose item is
   not held here (destroyed, never received) is shown to no one (fail closed).
2. A record that states a level or a discipline of the item, or quotes text that cannot be
   tied to one portion (a ledger entry, a consent, a compromise or destruction report), is
   shown only to someone who may see the whole item: the part they may see would not
   explain it, and the rest may be what it states.
3. A partner's consent request quotes our own portions: it is shown to someone who may see
   part of the item, with only the portions they may see (as the item read shows them).
4. A request for information is shown within the reader's topic scope (need-to-know).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TypeVar

from liaison.domain.items import Item
from liaison.domain.labels import topic_in
from liaison.domain.ledger import LedgerEntry
from liaison.domain.users import User
from liaison.services.agreements import load_parties
from liaison.services.context import Deps
from liaison.services.items import visible_part
from liaison.services.ports import PartnerRequest, StoredConsent, UnitOfWork

T = TypeVar("T")
Sight = Callable[[str], tuple[Item | None, bool]]  # item id -> (visible part, whole?)


def sight(uow: UnitOfWork, deps: Deps, user: User) -> Sight:
    """The reader's view of items by id, each item read once."""
    party = load_parties(uow)[deps.party]
    seen: dict[str, tuple[Item | None, bool]] = {}

    def of(item_id: str) -> tuple[Item | None, bool]:
        if item_id not in seen:
            stored = uow.items.get(item_id)
            part = visible_part(stored.item, user, party) if stored else None
            seen[item_id] = part, part is not None and stored is not None and \
                len(part.portions) == len(stored.item.portions)
        return seen[item_id]
    return of


def _whole(look: Sight, item_id: object) -> bool:
    return isinstance(item_id, str) and look(item_id)[1]


def request_as_seen(r: PartnerRequest, user: User, look: Sight) -> PartnerRequest | None:
    """The request as ``user`` may see it (rules 1–4), or ``None``."""
    if r.kind == "rfi":
        topics = user.clearance.topics
        return r if topics is None or topic_in(str(r.data.get("topic", "")), topics) else None
    item_id = r.data.get("item_id")
    if r.kind == "consent" and r.direction == "incoming":
        part = look(item_id)[0] if isinstance(item_id, str) else None
        if part is None:
            return None
        ids = {p.id for p in part.portions}
        quoted = [p for p in r.data.get("portions", []) if p.get("id") in ids]
        return replace(r, data={**r.data, "portions": quoted})
    return r if _whole(look, item_id) else None


def requests_as_seen(rows: Iterable[PartnerRequest], user: User,
                     look: Sight) -> list[PartnerRequest]:
    return [s for r in rows if (s := request_as_seen(r, user, look)) is not None]


def _cut(rows: Iterable[T], item_of: Callable[[T], str], look: Sight) -> list[T]:
    return [r for r in rows if _whole(look, item_of(r))]


def consents_as_seen(rows: Iterable[StoredConsent], look: Sight) -> list[StoredConsent]:
    return _cut(rows, lambda c: c.consent.item_id, look)


def entries_as_seen(rows: Iterable[LedgerEntry], look: Sight) -> list[LedgerEntry]:
    return _cut(rows, lambda e: e.item_id, look)


def visible_consents(deps: Deps, user: User, rows: list[StoredConsent]) -> list[StoredConsent]:
    with deps.uow() as uow:
        return consents_as_seen(rows, sight(uow, deps, user))


def visible_entries(deps: Deps, user: User, rows: list[LedgerEntry]) -> list[LedgerEntry]:
    with deps.uow() as uow:
        return entries_as_seen(rows, sight(uow, deps, user))
