"""The hotline's channels and their traffic, with the change log a watcher reads."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from liaison.domain.hotline import changed_after
from liaison.storage import tables as t


class SqlHotline:
    """Channels and their traffic. Each channel row also keeps, under keys of its own
    (``_revision``, ``_changes``, ``_open``; never shown to callers, kept by every
    ``put_channel``): a revision counted up by each ``put_traffic``, the last
    ``CHANGE_LOG`` changes as ``[revision, sender, seq]``, and the keys of the entries still
    open (neither ``acknowledged_at`` nor ``outcome``). A watcher then reads what changed
    since its revision, and the open entries, without reading the line's history. The
    channel row is read for update, so writers to one channel take revisions in commit
    order (PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers already)."""

    CHANGE_LOG = 128
    OWN = ("_revision", "_changes", "_open")

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def _row(self, channel_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        query = sa.select(t.hotline_channels.c.data).where(
            t.hotline_channels.c.id == channel_id)
        row = self.conn.execute(query.with_for_update() if lock else query).first()
        return dict(row.data) if row else None

    def _shown(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in data.items() if k not in self.OWN}

    def channel(self, channel_id: str) -> dict[str, Any] | None:
        data = self._row(channel_id)
        return self._shown(data) if data is not None else None

    def channels(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(sa.select(t.hotline_channels.c.data)
                                 .order_by(t.hotline_channels.c.id))
        return [self._shown(r.data) for r in rows]

    def put_channel(self, channel_id: str, data: Mapping[str, Any]) -> None:
        stored = self._row(channel_id, lock=True)
        kept = ({k: stored[k] for k in self.OWN if k in stored} if stored else
                {"_revision": 0, "_changes": [], "_open": []})  # a new channel: nothing yet
        self._write_channel(channel_id, {**self._shown(data), **kept}, stored is not None)

    def _write_channel(self, channel_id: str, data: dict[str, Any], exists: bool) -> None:
        c = t.hotline_channels
        if exists:
            self.conn.execute(c.update().where(c.c.id == channel_id).values(data=data))
        else:
            self.conn.execute(c.insert(), {"id": channel_id, "data": data})

    def revision(self, channel_id: str) -> int:
        data = self._row(channel_id)
        return int(data.get("_revision", 0)) if data else 0

    def traffic(self, channel_id: str) -> list[dict[str, Any]]:
        m = t.hotline_messages.c
        rows = self.conn.execute(sa.select(t.hotline_messages).where(
            m.channel == channel_id).order_by(m.sent_at, m.seq, m.sender))
        return [self._entry(r) for r in rows]

    @staticmethod
    def _entry(row: Any) -> dict[str, Any]:
        return {**row.data, "sender": row.sender, "seq": row.seq, "kind": row.kind}

    def page(self, channel_id: str, limit: int, *,
             before: tuple[datetime, int, str] | None = None,
             after: tuple[datetime, int, str] | None = None) -> list[dict[str, Any]]:
        """Up to ``limit`` entries in transcript order (sent, seq, sender), oldest first:
        the latest ones before ``before``, else the first ones after ``after``, else the
        latest of the line."""
        m = t.hotline_messages.c
        query = sa.select(t.hotline_messages).where(m.channel == channel_id)
        if after is not None:
            query = query.where(_beyond(after, newer=True)).order_by(m.sent_at, m.seq,
                                                                      m.sender)
            return [self._entry(r) for r in self.conn.execute(query.limit(limit))]
        if before is not None:
            query = query.where(_beyond(before, newer=False))
        rows = self.conn.execute(query.order_by(m.sent_at.desc(), m.seq.desc(),
                                                m.sender.desc()).limit(limit))
        return [self._entry(r) for r in rows][::-1]

    def changed_since(self, channel_id: str,
                      revision: int) -> tuple[int, list[dict[str, Any]] | None]:
        """The channel's revision now, and the entries changed after ``revision`` in the
        order of their last change; ``None`` for them when the change log no longer
        reaches back to ``revision`` (read a page afresh then)."""
        now, keys = changed_after(self._row(channel_id) or {}, revision)
        return now, None if keys is None else self._by_keys(channel_id, keys)

    def awaiting(self, channel_id: str) -> list[dict[str, Any]]:
        """The open entries (neither acknowledged nor with an outcome), oldest first."""
        data = self._row(channel_id) or {}
        if "_open" not in data:  # a channel from before open entries were kept
            return [e for e in self.traffic(channel_id) if _open(e)]
        found = self._by_keys(channel_id, [(s, q) for s, q in data["_open"]])
        return sorted(found, key=lambda e: (e["sent_at"], e["seq"], e["sender"]))

    def _by_keys(self, channel_id: str, keys: list[tuple[str, int]]) -> list[dict[str, Any]]:
        if not keys:
            return []
        m = t.hotline_messages.c
        rows = {(r.sender, r.seq): self._entry(r) for r in self.conn.execute(
            sa.select(t.hotline_messages).where(
                m.channel == channel_id, sa.tuple_(m.sender, m.seq).in_(keys)))}
        return [rows[k] for k in keys if k in rows]

    def get_traffic(self, channel_id: str, sender: str, seq: int) -> dict[str, Any] | None:
        row = self.conn.execute(sa.select(t.hotline_messages).where(
            t.hotline_messages.c.channel == channel_id, t.hotline_messages.c.sender == sender,
            t.hotline_messages.c.seq == seq)).first()
        return {**row.data, "sender": sender, "seq": seq, "kind": row.kind} if row else None

    def put_traffic(self, channel_id: str, sender: str, seq: int, kind: str,
                    data: Mapping[str, Any], sent_at: datetime) -> None:
        """Store an entry, or update the one held under (sender, seq) in place (its
        acknowledgement or outcome): the row is never deleted. Whether a partner may change
        an entry is the service's rule (``services.hotline``), not this store's."""
        m = t.hotline_messages
        where = (m.c.channel == channel_id, m.c.sender == sender, m.c.seq == seq)
        values = {"kind": kind, "data": dict(data), "sent_at": sent_at}
        if not self.conn.execute(m.update().where(*where).values(**values)).rowcount:
            self.conn.execute(m.insert(), {"channel": channel_id, "sender": sender,
                                           "seq": seq, **values})
        channel = self._row(channel_id, lock=True)
        if channel is None:
            return
        if "_open" not in channel:  # from before open entries were kept: found once
            channel["_open"] = [[e["sender"], e["seq"]] for e in self.traffic(channel_id)
                                if _open(e)]
        self._write_channel(channel_id, _logged(channel, sender, seq, data, self.CHANGE_LOG),
                            True)

    def last_seq(self, channel_id: str, sender: str) -> int:
        value = self.conn.execute(sa.select(sa.func.max(t.hotline_messages.c.seq)).where(
            t.hotline_messages.c.channel == channel_id,
            t.hotline_messages.c.sender == sender)).scalar()
        return int(value or 0)


def _beyond(position: tuple[datetime, int, str], *, newer: bool) -> Any:
    """Entries after (``newer``) or before ``position`` in transcript order."""
    m = t.hotline_messages.c
    at, seq, sender = position
    if newer:
        return sa.or_(m.sent_at > at, sa.and_(m.sent_at == at, sa.or_(
            m.seq > seq, sa.and_(m.seq == seq, m.sender > sender))))
    return sa.or_(m.sent_at < at, sa.and_(m.sent_at == at, sa.or_(
        m.seq < seq, sa.and_(m.seq == seq, m.sender < sender))))


def _open(data: Mapping[str, Any]) -> bool:
    return not data.get("acknowledged_at") and not data.get("outcome")


def _logged(channel: dict[str, Any], sender: str, seq: int, data: Mapping[str, Any],
            keep: int) -> dict[str, Any]:
    """``channel`` with one more change of entry ``(sender, seq)`` logged."""
    revision = int(channel.get("_revision", 0)) + 1
    opened = [k for k in channel["_open"] if k != [sender, seq]]
    if _open(data):
        opened.append([sender, seq])
    changes = [*channel.get("_changes", []), [revision, sender, seq]][-keep:]
    return {**channel, "_revision": revision, "_changes": changes, "_open": opened}
