"""Repositories over one SQLAlchemy connection (the unit of work's transaction): parties,
agreements, items, release requests, consents and the ledger."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from liaison.domain import codec, decoding, request_codec
from liaison.domain.agreements import Agreement
from liaison.domain.items import Item
from liaison.domain.labels import Party, Scheme
from liaison.domain.ledger import Direction, LedgerEntry
from liaison.domain.parties import default_parties
from liaison.domain.release_facts import Consent
from liaison.domain.review import ReleaseRequest
from liaison.services.ports import Conflict, StoredConsent, StoredItem
from liaison.storage import tables as t
from liaison.storage.search_repos import index_item, unindex_item

_INSERTS: dict[tuple[str, str], Any] = {}


def _insert_stmt(dialect: str, table: sa.Table) -> Any:
    key = (dialect, table.name)
    if key not in _INSERTS:
        module = postgresql if dialect == "postgresql" else sqlite
        pk = next(iter(table.primary_key.columns))
        _INSERTS[key] = module.insert(table).on_conflict_do_nothing().returning(pk)
    return _INSERTS[key]


def insert(conn: sa.Connection, table: sa.Table, what: str, **values: Any) -> None:
    """Insert one row; ``Conflict`` naming ``what`` when the key exists (the transaction
    stays usable: the row is skipped, not failed)."""
    inserted = conn.execute(_insert_stmt(conn.dialect.name, table), values).first()
    if inserted is None:
        raise Conflict(f"{what} already exists")


class SqlParties:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self._all: list[Party] | None = None  # cached for the unit of work
        self.version = 0  # bumped by every ``put``; tells ``PartyCache`` to reload

    def get(self, code: str) -> Party | None:
        row = self.conn.execute(sa.select(t.parties.c.data)
                                .where(t.parties.c.code == code)).first()
        return codec.party_from(row.data) if row else None

    def list(self) -> list[Party]:
        if self._all is None:
            rows = self.conn.execute(sa.select(t.parties.c.data).order_by(t.parties.c.code))
            self._all = [codec.party_from(r.data) for r in rows]
        return list(self._all)

    def put(self, party: Party) -> None:
        self._all = None
        self.version += 1
        self.conn.execute(t.parties.delete().where(t.parties.c.code == party.code))
        self.conn.execute(t.parties.insert().values(code=party.code, data=codec.party_to(party)))


class PartyCache:
    """The parties needed to decode agreements and items: the built-in defaults overlaid
    with the stored ones. Loaded once per transaction and again after a ``put``."""

    def __init__(self, parties: SqlParties) -> None:
        self._repo = parties
        self._parties: dict[str, Party] | None = None
        self._version = -1

    def __call__(self) -> dict[str, Party]:
        if self._parties is None or self._version != self._repo.version:
            merged = default_parties()
            merged.update({p.code: p for p in self._repo.list()})
            self._parties, self._version = merged, self._repo.version
        return self._parties


class SqlAgreements:
    def __init__(self, conn: sa.Connection, parties: Callable[[], dict[str, Party]]) -> None:
        self.conn, self.parties = conn, parties
        self._seen: dict[str, Agreement | None] = {}  # cached for the unit of work

    def get(self, agreement_id: str) -> Agreement | None:
        if agreement_id not in self._seen:
            row = self.conn.execute(sa.select(t.agreements.c.data)
                                    .where(t.agreements.c.id == agreement_id)).first()
            self._seen[agreement_id] = codec.agreement_from(row.data, self.parties()) \
                if row else None
        return self._seen[agreement_id]

    def list(self) -> list[Agreement]:
        rows = self.conn.execute(sa.select(t.agreements.c.data).order_by(t.agreements.c.id))
        return [codec.agreement_from(r.data, self.parties()) for r in rows]

    def put(self, agreement: Agreement) -> None:
        self._seen.pop(agreement.id, None)
        self.conn.execute(t.agreements.delete().where(t.agreements.c.id == agreement.id))
        self.conn.execute(t.agreements.insert().values(
            id=agreement.id, data=codec.agreement_to(agreement), updated_at=datetime.now(UTC)))


# Built once: the receiver looks up and stores an item per received release.
_ITEM_BY_ID = sa.select(t.items).where(t.items.c.id == sa.bindparam("id"))
_LEDGER_ADD = t.ledger.insert()


class SqlItems:
    def __init__(self, conn: sa.Connection, parties: Callable[[], dict[str, Party]]) -> None:
        self.conn, self.parties = conn, parties

    def _decode(self, row: Any) -> StoredItem:
        owner = row.data["portions"][0]["label"]["policy"]
        return StoredItem(codec.item_from(row.data, self.parties(), owner), row.created_by,
                          row.created_at)

    def get(self, item_id: str) -> StoredItem | None:
        row = self.conn.execute(_ITEM_BY_ID, {"id": item_id}).first()
        return self._decode(row) if row else None

    def add(self, stored: StoredItem, min_rank: int) -> None:
        item = stored.item
        insert(self.conn, t.items, f"item {item.id}", id=item.id, data=codec.item_to(item),
               created_by=stored.created_by, created_at=stored.created_at, min_rank=min_rank,
               topic=item.topic, discipline=item.discipline.value, originator=item.originator)
        index_item(self.conn, item, self._scheme(item), new=True)

    def _scheme(self, item: Item) -> Scheme:
        return self.parties()[item.portions[0].label.policy].scheme

    def replace(self, stored: StoredItem, min_rank: int) -> None:
        """Overwrite the item and the columns derived from it; keeps who created it and
        when. No effect when the id is unknown."""
        item = stored.item
        self.conn.execute(t.items.update().where(t.items.c.id == item.id).values(
            data=codec.item_to(item), min_rank=min_rank, topic=item.topic,
            discipline=item.discipline.value, originator=item.originator))
        if self.get(item.id) is not None:
            index_item(self.conn, item, self._scheme(item))

    def remove(self, item_id: str) -> None:
        self.conn.execute(t.items.delete().where(t.items.c.id == item_id))
        unindex_item(self.conn, item_id)

    def list(self, *, max_min_rank: int, limit: int, offset: int) -> list[StoredItem]:
        query = (sa.select(t.items).where(t.items.c.min_rank <= max_min_rank)
                 .order_by(t.items.c.created_at.desc(), t.items.c.id)
                 .limit(limit).offset(offset))
        return [self._decode(r) for r in self.conn.execute(query)]

    def count(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(t.items)).scalar_one())


class SqlReleases:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def get(self, request_id: str) -> ReleaseRequest | None:
        row = self.conn.execute(sa.select(t.release_requests.c.data)
                                .where(t.release_requests.c.id == request_id)).first()
        return request_codec.request_from(row.data) if row else None

    def add(self, request: ReleaseRequest) -> None:
        insert(self.conn, t.release_requests, f"release request {request.id}", id=request.id,
               item_id=request.item_id, state=request.state.value, recipient=request.recipient,
               data=request_codec.request_to(request), requested_at=request.requested_at,
               updated_at=datetime.now(UTC))

    def update(self, request: ReleaseRequest) -> None:
        self.conn.execute(t.release_requests.update()
                          .where(t.release_requests.c.id == request.id)
                          .values(state=request.state.value, data=request_codec.request_to(request),
                                  updated_at=datetime.now(UTC)))

    def list(self, *, state: str | None, limit: int, offset: int) -> list[ReleaseRequest]:
        query = sa.select(t.release_requests.c.data)
        if state:
            query = query.where(t.release_requests.c.state == state)
        query = query.order_by(t.release_requests.c.requested_at.desc(),
                               t.release_requests.c.id).limit(limit).offset(offset)
        return [request_codec.request_from(r.data) for r in self.conn.execute(query)]


class SqlConsents:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, stored: StoredConsent) -> None:
        c = stored.consent
        data = {"originator": c.originator, "recipient": c.recipient, "item_id": c.item_id,
                "purpose": c.purpose, "granted_by": c.granted_by,
                "granted_on": c.granted_on.isoformat(), "recorded_by": stored.recorded_by}
        insert(self.conn, t.consents, f"consent {stored.id}", id=stored.id, data=data,
               recorded_at=stored.recorded_at)

    def list(self) -> list[StoredConsent]:
        rows = self.conn.execute(sa.select(t.consents).order_by(t.consents.c.recorded_at,
                                                                t.consents.c.id))
        return [self._decode(r) for r in rows]

    @staticmethod
    def _decode(row: Any) -> StoredConsent:
        d = row.data
        consent = Consent(d["originator"], d["recipient"], d["item_id"], d["purpose"],
                          d["granted_by"], decoding.parse_date(d["granted_on"], "granted_on"))
        return StoredConsent(row.id, consent, d["recorded_by"], row.recorded_at)


class SqlLedger:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, entry: LedgerEntry) -> None:
        self.conn.execute(_LEDGER_ADD, {
            "agreement_id": entry.agreement_id, "partner": entry.partner,
            "direction": entry.direction.value, "level": entry.level,
            "discipline": entry.discipline, "item_id": entry.item_id, "at": entry.at})

    def list(self, *, agreement_id: str | None = None,
             partner: str | None = None) -> list[LedgerEntry]:
        query = sa.select(t.ledger).order_by(t.ledger.c.id)
        if agreement_id:
            query = query.where(t.ledger.c.agreement_id == agreement_id)
        if partner:
            query = query.where(t.ledger.c.partner == partner)
        return [LedgerEntry(r.agreement_id, r.partner, Direction(r.direction), r.level,
                            r.discipline, r.item_id, r.at) for r in self.conn.execute(query)]
