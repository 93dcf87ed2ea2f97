"""What a person may see of the records that name items: partners' requests and reports,
consents and ledger entries (issue 18: every read, listing, count and error is cut to the
caller's clearance and need-to-know).

The rules, after docs/rules.md#need-to-know (clearance at the level AND need-to-know) and the
item reads (``services.items``: a hidden item answers as a missing one; a partly hidden item shows
only the portions the reader may see):

1. A record about an item is shown only to someone who may see that item; one whose item is
   not held here (destroyed, never received) is shown to no one (fail closed).
2. A record that states a level or a discipline of the item, or quotes text that cannot be
   tied to one portion (a ledger entry, a consent, a compromise or destruction report), is
   shown only to someone who may see the whole item: the part they may see would not
   explain it, and the rest may be what it states.
3. A partner's consent request quotes our own portions: it is shown to someone who may see
   part of the item, with only the portions they may see (as the item read shows them).
   When the item is not held here (our information entered at the partner's node), each
   quoted portion is judged by its stated level, made ours through the equivalence tables
   of our agreements with the sender (the highest equivalent: fail closed); no level, no
   equivalent: not shown. Its topic is not known here: only readers bound to no topic
   scope see it.
4. A request for information is shown within the reader's topic scope (need-to-know).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from liaison.domain.items import Item
from liaison.domain.labels import Party, topic_in
from liaison.domain.ledger import LedgerEntry
from liaison.domain.users import User
from liaison.services.agreements import load_parties
from liaison.services.context import Deps
from liaison.services.items import visible_part
from liaison.services.ports import PartnerRequest, StoredConsent, UnitOfWork

T = TypeVar("T")


@dataclass(frozen=True)
class View:
    part: Item | None  # what the reader may see of the item; None: nothing, or not held
    whole: bool  # the reader may see all of it
    held: bool  # the item is held here


@dataclass
class Sight:
    """The reader's view of items by id (each item read once), and of a partner's levels."""

    uow: UnitOfWork
    deps: Deps
    user: User
    party: Party
    views: dict[str, View] = field(default_factory=dict)

    def __call__(self, item_id: str) -> View:
        if item_id not in self.views:
            stored = self.uow.items.get(item_id)
            part = visible_part(stored.item, self.user, self.party) if stored else None
            whole = part is not None and stored is not None and \
                len(part.portions) == len(stored.item.portions)
            self.views[item_id] = View(part, whole, stored is not None)
        return self.views[item_id]

    def rank_of(self, sender: str, level: object) -> int | None:
        """Our rank for ``sender``'s ``level``: the highest equivalent in our agreements
        with ``sender`` (docs/rules.md#equivalence), ``None`` when no table has a row for it."""
        mine = {ag.table.translate(sender, level, self.deps.party)
                for ag in self.uow.agreements.list()
                if {sender, self.deps.party} <= ag.parties} if isinstance(level, str) else set()
        ranks = [self.party.scheme.level(m).rank for m in mine
                 if m is not None and self.party.scheme.has(m)]
        return max(ranks) if ranks else None


def sight(uow: UnitOfWork, deps: Deps, user: User) -> Sight:
    return Sight(uow, deps, user, load_parties(uow)[deps.party])


def _whole(look: Sight, item_id: object) -> bool:
    return isinstance(item_id, str) and look(item_id).whole


def _quoted(r: PartnerRequest, user: User, look: Sight) -> list[Any]:
    """The portions a consent request quotes that ``user`` may see (rule 3)."""
    quoted = [p for p in r.data.get("portions", []) if isinstance(p, dict)]
    view = look(str(r.data.get("item_id")))
    if view.held:
        ids = {p.id for p in view.part.portions} if view.part is not None else set()
        return [p for p in quoted if p.get("id") in ids]
    if user.clearance.topics is not None:
        return []
    return [p for p in quoted if (rank := look.rank_of(r.party, p.get("classification")))
            is not None and rank <= user.clearance.level_rank]


def request_as_seen(r: PartnerRequest, user: User, look: Sight) -> PartnerRequest | None:
    """The request as ``user`` may see it (rules 1–4), or ``None``."""
    if r.kind == "rfi":
        topics = user.clearance.topics
        return r if topics is None or topic_in(str(r.data.get("topic", "")), topics) else None
    if r.kind == "consent" and r.direction == "incoming":
        quoted = _quoted(r, user, look)
        return replace(r, data={**r.data, "portions": quoted}) if quoted else None
    return r if _whole(look, r.data.get("item_id")) else None


def consent_in_full(r: PartnerRequest, user: User, look: Sight) -> bool:
    """``user`` may answer this incoming consent request: they may see the whole item, or,
    when it is not held here, every portion it quotes (a consent is granted by someone
    who sees all it concerns, as a release)."""
    view = look(str(r.data.get("item_id")))
    if view.held:
        return view.whole
    quoted = [p for p in r.data.get("portions", []) if isinstance(p, dict)]
    return bool(quoted) and len(_quoted(r, user, look)) == len(quoted)


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
