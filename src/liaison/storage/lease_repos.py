"""Leases in the shared database: one holder per name until it expires or lets go."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from liaison.storage import tables as t


class SqlLeases:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def claim(self, name: str, holder: str, now: datetime, ttl: timedelta) -> int | None:
        """Take or renew ``name`` for ``holder`` when it is free, expired or already
        ours; the position its holders recorded, or ``None`` when another holds it."""
        module = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        stmt = module.insert(t.leases).values(name=name, holder=holder,
                                              expires_at=now + ttl, position=0)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.leases.c.name],
            set_={"holder": holder, "expires_at": now + ttl},
            where=sa.or_(t.leases.c.holder == holder, t.leases.c.expires_at < now))
        self.conn.execute(stmt)
        row = self.conn.execute(sa.select(t.leases.c.holder, t.leases.c.position)
                                .where(t.leases.c.name == name)).one()
        return int(row.position) if row.holder == holder else None

    def record(self, name: str, holder: str, position: int) -> bool:
        """Keep how far the holder got (e.g. the last stream position a partner
        acknowledged), so the next holder resumes there; ``False`` if not the holder."""
        done = self.conn.execute(t.leases.update()
                                 .where(t.leases.c.name == name, t.leases.c.holder == holder,
                                        t.leases.c.position < position)
                                 .values(position=position))
        return done.rowcount > 0

    def release(self, name: str, holder: str, now: datetime) -> None:
        self.conn.execute(t.leases.update()
                          .where(t.leases.c.name == name, t.leases.c.holder == holder)
                          .values(expires_at=now))

    def holders(self, now: datetime) -> dict[str, str]:
        rows = self.conn.execute(sa.select(t.leases.c.name, t.leases.c.holder)
                                 .where(t.leases.c.expires_at >= now))
        return {r.name: r.holder for r in rows}
