"""TAXII collections over SQL: objects per collection in the order they were added, with
who at this node may read each; status resources of posted bundles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from liaison.interop.stix_ids import new_id
from liaison.services.ports import TaxiiObject, TaxiiQuery
from liaison.storage import tables as t
from liaison.storage.search_repos import visible_to

tx = t.taxii_objects


class SqlTaxii:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, collection: str, objects: Sequence[TaxiiObject], at: datetime) -> int:
        """Append the versions not yet in ``collection``; how many were new."""
        if not objects:
            return 0
        have = {(r.stix_id, r.version) for r in self.conn.execute(
            sa.select(tx.c.stix_id, tx.c.version).where(
                tx.c.collection == collection,
                tx.c.stix_id.in_(sorted({o.data["id"] for o in objects}))))}
        new, seen = [], set(have)
        for o in objects:
            key = (o.data["id"], o.version)
            if key not in seen:
                seen.add(key)
                new.append({"collection": collection, "stix_id": key[0],
                            "type": o.data["type"], "version": o.version, "date_added": at,
                            "rank": o.rank, "compartments": o.compartments,
                            "topic": o.topic, "data": dict(o.data)})
        if new:
            self.conn.execute(tx.insert(), new)
        return len(new)

    def page(self, q: TaxiiQuery) -> list[tuple[int, datetime, TaxiiObject]]:
        """Up to ``q.limit + 1`` rows after ``q.after_seq`` (one more tells of a next page)."""
        where: list[Any] = [tx.c.collection == q.collection, tx.c.seq > q.after_seq]
        if q.visibility is not None:
            where += visible_to(tx, q.visibility)
        if q.added_after is not None:
            where.append(tx.c.date_added > q.added_after)
        if q.ids:
            where.append(tx.c.stix_id.in_(sorted(q.ids)))
        if q.types:
            where.append(tx.c.type.in_(sorted(q.types)))
        if q.versions == "last":
            newer = tx.alias("newer")
            where.append(~sa.exists().where(newer.c.collection == tx.c.collection,
                                            newer.c.stix_id == tx.c.stix_id,
                                            newer.c.version > tx.c.version))
        elif q.versions == "first":
            older = tx.alias("older")
            where.append(~sa.exists().where(older.c.collection == tx.c.collection,
                                            older.c.stix_id == tx.c.stix_id,
                                            older.c.version < tx.c.version))
        elif q.versions != "all":
            where.append(tx.c.version.in_(sorted(q.versions.split(","))))
        rows = self.conn.execute(
            sa.select(tx.c.seq, tx.c.date_added, tx.c.stix_id, tx.c.type, tx.c.version,
                      sa.cast(tx.c.data, sa.Text).label("raw"))
            .where(*where).order_by(tx.c.seq).limit(q.limit + 1))
        return [(r.seq, r.date_added, TaxiiObject({"id": r.stix_id, "type": r.type},
                                                  r.version, raw=r.raw)) for r in rows]

    def put_status(self, status_id: str, data: Mapping[str, Any], at: datetime) -> None:
        self.conn.execute(t.taxii_status.insert().values(id=status_id, data=dict(data), at=at))

    def status(self, status_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(sa.select(t.taxii_status.c.data)
                                .where(t.taxii_status.c.id == status_id)).first()
        return dict(row.data) if row else None

    def stix_ids(self, key_ids: Sequence[str]) -> dict[str, str]:
        """The UUIDv4 id served for each key id; one not seen before gets a new one, kept
        in this transaction (two releases racing for a new key: the later commit fails
        on the primary key and is retried like any conflict)."""
        ids = t.stix_ids
        found: dict[str, str] = {}
        wanted = sorted(set(key_ids))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            found.update((r.key_id, r.stix_id) for r in self.conn.execute(
                sa.select(ids.c.key_id, ids.c.stix_id).where(ids.c.key_id.in_(chunk))))
        new = [{"key_id": k, "stix_id": new_id(k)} for k in wanted if k not in found]
        if new:
            self.conn.execute(ids.insert(), new)
            found.update((row["key_id"], row["stix_id"]) for row in new)
        return {k: found[k] for k in key_ids}
