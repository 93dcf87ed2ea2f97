"""Tracks: feeds, the track-number map, launch-event revisions, areas and alerts."""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from liaison.domain.tracks import NUMBER_BLOCKS, number_block
from liaison.storage import tables as t
from liaison.storage.repositories import insert


class SqlTracks:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    # feeds and areas: whole JSON documents keyed by name / id
    def put_feed(self, name: str, data: dict[str, Any], at: datetime) -> None:
        self.conn.execute(t.track_feeds.delete().where(t.track_feeds.c.name == name))
        self.conn.execute(t.track_feeds.insert().values(name=name, data=data, updated_at=at))

    def feeds(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(sa.select(t.track_feeds.c.data)
                                 .order_by(t.track_feeds.c.name))
        return [dict(r.data) for r in rows]

    def put_area(self, area_id: str, data: dict[str, Any], at: datetime) -> None:
        self.conn.execute(t.areas.delete().where(t.areas.c.id == area_id))
        self.conn.execute(t.areas.insert().values(id=area_id, data=data, updated_at=at))

    def remove_area(self, area_id: str) -> bool:
        return bool(self.conn.execute(t.areas.delete().where(t.areas.c.id == area_id))
                    .rowcount)

    def areas(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(sa.select(t.areas.c.data).order_by(t.areas.c.id))
        return [dict(r.data) for r in rows]

    def number_for(self, source: str, uid: str, at: datetime) -> int:
        """This node's number for a source's track, allocated on first sight and never
        given to another track. Each source numbers its own tracks (1, 2, 3, ...) in a
        block of its own (``slot << 32``, the slot from a hash of the source's name), so a
        number says nothing of other sources' tracks: a person or partner who may see one
        feed cannot count another's from the gaps."""
        found = self.conn.execute(sa.select(t.track_numbers.c.number).where(
            t.track_numbers.c.source == source, t.track_numbers.c.uid == uid)).scalar()
        if found is not None:
            return int(found)
        if self.conn.dialect.name == "postgresql":  # workers allocate one at a time
            self.conn.execute(sa.select(sa.func.pg_advisory_xact_lock(
                zlib.crc32(b"track_numbers"))))
            found = self.conn.execute(sa.select(t.track_numbers.c.number).where(
                t.track_numbers.c.source == source, t.track_numbers.c.uid == uid)).scalar()
            if found is not None:
                return int(found)
        number = self._next_in_block(source)
        self.conn.execute(t.track_numbers.insert().values(source=source, uid=uid,
                                                          number=number, first_seen=at))
        return number

    def _next_in_block(self, source: str) -> int:
        c = t.track_numbers.c
        top = self.conn.execute(sa.select(sa.func.max(c.number))
                                .where(c.source == source)).scalar()
        if top is not None:
            return int(top) + 1
        slot = number_block(source)
        for _ in range(NUMBER_BLOCKS):  # another source in this block (rare): the next block
            low = slot << 32
            taken = self.conn.execute(sa.select(c.number).where(
                c.number >= low, c.number < low + (1 << 32)).limit(1)).first()
            if taken is None:
                return low + 1
            slot = (slot + 1) % NUMBER_BLOCKS
        raise RuntimeError("every track-number block is in use")

    def numbers(self) -> dict[tuple[str, str], int]:
        rows = self.conn.execute(sa.select(t.track_numbers))
        return {(r.source, r.uid): int(r.number) for r in rows}

    def add_launch(self, event_id: str, revision: int, data: dict[str, Any],
                   at: datetime) -> None:
        insert(self.conn, t.launch_events, f"launch event {event_id} revision {revision}",
               id=event_id, revision=revision, data=data, recorded_at=at)

    def launches(self, limit: int) -> list[dict[str, Any]]:
        """The latest revision of each launch event, newest launch first."""
        latest = (sa.select(t.launch_events.c.id,
                            sa.func.max(t.launch_events.c.revision).label("rev"))
                  .group_by(t.launch_events.c.id).subquery())
        rows = self.conn.execute(
            sa.select(t.launch_events.c.data).join(latest, sa.and_(
                t.launch_events.c.id == latest.c.id,
                t.launch_events.c.revision == latest.c.rev))
            .order_by(t.launch_events.c.recorded_at.desc()).limit(limit))
        return [dict(r.data) for r in rows]

    def launch_history(self, event_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(sa.select(t.launch_events.c.data)
                                 .where(t.launch_events.c.id == event_id)
                                 .order_by(t.launch_events.c.revision))
        return [dict(r.data) for r in rows]

    def add_alert(self, alert_id: str, area: str, data: dict[str, Any], at: datetime) -> None:
        self.conn.execute(t.alerts.insert().values(id=alert_id, area=area, data=data, at=at))

    def alerts(self, limit: int) -> list[dict[str, Any]]:
        rows = self.conn.execute(sa.select(t.alerts.c.data)
                                 .order_by(t.alerts.c.at.desc()).limit(limit))
        return [dict(r.data) for r in rows]
