"""Talks over SQL: each talks as plain data (``services.talks`` decodes it), its minutes,
and the live record in the order it happened."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from liaison.services.ports import TalksEvent
from liaison.storage import tables as t


class SqlTalks:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def get(self, talks_id: str) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        row = self.conn.execute(sa.select(t.talks.c.data, t.talks.c.minutes)
                                .where(t.talks.c.id == talks_id)).first()
        return (dict(row.data), dict(row.minutes) if row.minutes else None) if row else None

    def put(self, talks_id: str, data: Mapping[str, Any], minutes: Mapping[str, Any] | None,
            at: datetime) -> None:
        values = {"data": dict(data), "minutes": dict(minutes) if minutes else None,
                  "updated_at": at}
        if self.conn.execute(t.talks.update().where(t.talks.c.id == talks_id)
                             .values(**values)).rowcount == 0:
            self.conn.execute(t.talks.insert().values(id=talks_id, **values))

    def add_event(self, talks_id: str, kind: str, party: str, data: Mapping[str, Any],
                  at: datetime) -> None:
        self.conn.execute(t.talks_events.insert().values(
            talks_id=talks_id, kind=kind, party=party, data=dict(data), at=at))

    def events(self, talks_id: str, after: int = 0,
               kinds: tuple[str, ...] = ()) -> list[TalksEvent]:
        te = t.talks_events
        query = sa.select(te).where(te.c.talks_id == talks_id, te.c.seq > after)
        if kinds:
            query = query.where(te.c.kind.in_(kinds))
        return [(r.seq, r.kind, r.party, dict(r.data), r.at)
                for r in self.conn.execute(query.order_by(te.c.seq))]

    def last_seq(self, talks_id: str) -> int:
        te = t.talks_events
        return int(self.conn.execute(sa.select(sa.func.coalesce(sa.func.max(te.c.seq), 0))
                                     .where(te.c.talks_id == talks_id)).scalar_one())
    def list(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(sa.select(t.talks.c.data).order_by(t.talks.c.updated_at.desc()))
        return [dict(r.data) for r in rows]

