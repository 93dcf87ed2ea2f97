"""Repositories for partner nodes, the outbox and the inbox."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Mapping
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from liaison.crypto.keys import verify_card
from liaison.domain.hotline import changed_after
from liaison.domain.lanes import LANES, lane_for
from liaison.services.ports import (
    Conflict,
    InboxRecord,
    LaneState,
    OutboxMessage,
    PartnerRequest,
    Peer,
)
from liaison.storage import tables as t
from liaison.storage.repositories import insert


class SqlPeers:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def get(self, party: str) -> Peer | None:
        row = self.conn.execute(sa.select(t.peers).where(t.peers.c.party == party)).first()
        return self._decode(row) if row else None

    def list(self) -> list[Peer]:
        rows = self.conn.execute(sa.select(t.peers).order_by(t.peers.c.party))
        return [self._decode(r) for r in rows]

    def put(self, peer: Peer) -> None:
        self.conn.execute(t.peers.delete().where(t.peers.c.party == peer.party))
        self.conn.execute(t.peers.insert().values(
            party=peer.party, address=peer.address, fingerprint=peer.fingerprint,
            card=asdict(peer.card), added_at=peer.added_at))

    @staticmethod
    def _decode(row: Any) -> Peer:
        # The stored card is re-verified against the pinned fingerprint on every load.
        return Peer(row.party, row.address, row.fingerprint,
                    verify_card(row.card, row.fingerprint), row.added_at)


class SqlOutbox:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def enqueue(self, *, message_id: str, peer: str, kind: str, payload: Mapping[str, Any],
                at: datetime) -> OutboxMessage:
        if self.conn.dialect.name == "postgresql":
            lock = zlib.crc32(f"outbox:{peer}".encode())
            self.conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
        last = self.conn.execute(sa.select(sa.func.max(t.outbox.c.seq))
                                 .where(t.outbox.c.peer == peer)).scalar()
        lane = lane_for(kind)
        msg = OutboxMessage(message_id, peer, (last or 0) + 1, kind, dict(payload), at,
                            "pending", lane=lane)
        insert(self.conn, t.outbox, f"message {message_id}", id=msg.id, peer=peer,
               seq=msg.seq, kind=kind, payload=dict(payload), created_at=at, state="pending",
               attempts=0, lane=lane)
        return msg

    def pending(self, peer: str, limit: int, lane: str | None = None,
                now: datetime | None = None) -> list[OutboxMessage]:
        o = t.outbox.c
        query = sa.select(t.outbox).where(o.peer == peer, o.state == "pending")
        if lane is not None:
            query = query.where(o.lane == lane)
        if now is not None:
            query = query.where(sa.or_(o.retry_at.is_(None), o.retry_at <= now))
        rows = self.conn.execute(query.order_by(o.seq).limit(limit))
        return [self._decode(r) for r in rows]

    def peers_with_pending(self) -> list[str]:
        rows = self.conn.execute(sa.select(t.outbox.c.peer).where(t.outbox.c.state ==
                                                                  "pending").distinct())
        return sorted(r.peer for r in rows)

    def lanes_with_pending(self) -> list[tuple[str, str]]:
        o = t.outbox.c
        found = []
        for peer in self._peers():
            for lane in LANES:
                if self.conn.execute(sa.select(o.seq).where(
                        o.peer == peer, o.lane == lane, o.state == "pending").limit(1)).first():
                    found.append((peer, lane))
        return found

    def _peers(self) -> list[str]:
        """The outbox's partners by a loose index scan (``uq_outbox_peer_seq``): one seek
        per partner, not a read of every message ever sent."""
        rows = self.conn.execute(sa.text(
            "WITH RECURSIVE p(peer) AS (SELECT MIN(peer) FROM outbox UNION ALL "
            "SELECT (SELECT MIN(peer) FROM outbox WHERE peer > p.peer) FROM p "
            "WHERE p.peer IS NOT NULL) SELECT peer FROM p WHERE peer IS NOT NULL"))
        return sorted(str(r.peer) for r in rows)

    def retry(self, message_id: str, error: str, at: datetime, retry_at: datetime) -> None:
        o = t.outbox.c
        self.conn.execute(t.outbox.update().where(o.id == message_id, o.state == "pending")
                          .values(attempts=o.attempts + 1, last_error=error,
                                  retry_at=retry_at))

    def refused(self, peer: str | None, limit: int) -> list[OutboxMessage]:
        o = t.outbox.c
        query = sa.select(t.outbox).where(o.state == "refused")
        if peer:
            query = query.where(o.peer == peer)
        rows = self.conn.execute(query.order_by(o.delivered_at.desc(), o.seq.desc())
                                 .limit(limit))
        return [self._decode(r) for r in rows]

    def lanes(self) -> list[LaneState]:
        o, lanes = t.outbox.c, t.outbox_lanes
        found: dict[tuple[str, str], LaneState] = {}
        for r in self.conn.execute(sa.select(lanes)):
            found[(r.peer, r.lane)] = LaneState(
                r.peer, r.lane, failures=r.failures, last_error=r.last_error or "",
                last_error_at=r.last_error_at, last_attempt_at=r.last_attempt_at,
                last_delivery_at=r.last_delivery_at, stuck_since=r.stuck_since)
        for peer, lane in self.lanes_with_pending():
            where = (o.peer == peer, o.lane == lane, o.state == "pending")
            n = self.conn.execute(sa.select(sa.func.count()).select_from(t.outbox)
                                  .where(*where)).scalar_one()
            oldest = self.conn.execute(sa.select(o.created_at).where(*where)
                                       .order_by(o.seq).limit(1)).scalar()
            known = found.get((peer, lane), LaneState(peer, lane))
            found[(peer, lane)] = replace(known, pending=int(n), oldest_pending_at=oldest)
        return [found[k] for k in sorted(found)]

    def note_attempt(self, peer: str, lane: str, at: datetime, error: str | None) -> None:
        self._ensure_lane(peer, lane)
        c = t.outbox_lanes.c
        values: dict[str, Any] = {"last_attempt_at": at}
        if error is None:
            values.update(failures=0, last_delivery_at=at)
        else:
            values.update(failures=c.failures + 1, last_error=error, last_error_at=at)
        self.conn.execute(t.outbox_lanes.update()
                          .where(c.peer == peer, c.lane == lane).values(**values))

    def mark_stuck(self, peer: str, lane: str, since: datetime | None) -> bool:
        self._ensure_lane(peer, lane)
        c = t.outbox_lanes.c
        unchanged = c.stuck_since.is_(None) if since is None else c.stuck_since.is_not(None)
        done = self.conn.execute(t.outbox_lanes.update()
                                 .where(c.peer == peer, c.lane == lane, sa.not_(unchanged))
                                 .values(stuck_since=since))
        return bool(done.rowcount)

    def _ensure_lane(self, peer: str, lane: str) -> None:
        with contextlib.suppress(Conflict):
            insert(self.conn, t.outbox_lanes, f"lane {peer}:{lane}", peer=peer, lane=lane,
                   failures=0)

    _SETTLE = (t.outbox.update()
               .where(t.outbox.c.id == sa.bindparam("mid"), t.outbox.c.state == "pending")
               .values(state=sa.bindparam("new_state"), delivered_at=sa.bindparam("at"),
                       receipt=sa.bindparam("rcpt"), attempts=t.outbox.c.attempts + 1))

    def settle(self, message_id: str, state: str, at: datetime,
               receipt: Mapping[str, Any]) -> None:
        self.settle_all([(message_id, state, receipt)], at)

    def settle_all(self, rows: list[tuple[str, str, Mapping[str, Any]]],
                   at: datetime) -> None:
        """Settle many pending messages in one statement (executemany)."""
        if rows:
            self.conn.execute(self._SETTLE, [{"mid": m, "new_state": s, "at": at,
                                              "rcpt": dict(r)} for m, s, r in rows])

    def count(self, *, peer: str | None = None, state: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(t.outbox)
        if peer:
            query = query.where(t.outbox.c.peer == peer)
        if state:
            query = query.where(t.outbox.c.state == state)
        return int(self.conn.execute(query).scalar_one())

    def list(self, *, peer: str | None, limit: int) -> list[OutboxMessage]:
        query = (sa.select(t.outbox).order_by(t.outbox.c.created_at.desc(), t.outbox.c.id)
                 .limit(limit))
        if peer:
            query = query.where(t.outbox.c.peer == peer)
        return [self._decode(r) for r in self.conn.execute(query)]

    @staticmethod
    def _decode(r: Any) -> OutboxMessage:
        return OutboxMessage(r.id, r.peer, r.seq, r.kind, r.payload, r.created_at, r.state,
                             r.attempts, r.delivered_at, r.receipt, r.lane,
                             r.last_error or "", r.retry_at)


class SqlInbox:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def seen(self, sender: str, message_id: str) -> bool:
        row = self.conn.execute(sa.select(t.inbox.c.seq).where(
            t.inbox.c.sender == sender, t.inbox.c.message_id == message_id)).first()
        return row is not None

    def seen_many(self, sender: str, message_ids: set[str]) -> set[str]:
        if not message_ids:
            return set()
        rows = self.conn.execute(sa.select(t.inbox.c.message_id).where(
            t.inbox.c.sender == sender, t.inbox.c.message_id.in_(sorted(message_ids))))
        return {r.message_id for r in rows}

    def add(self, *, sender: str, message_id: str, seq: int, kind: str, envelope_id: str,
            outcome: str, reason: str, at: datetime) -> None:
        insert(self.conn, t.inbox, f"message {message_id} from {sender}", sender=sender,
               message_id=message_id, seq=seq, kind=kind, envelope_id=envelope_id,
               outcome=outcome, reason=reason, received_at=at)

    def count(self, *, sender: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(t.inbox)
        if sender:
            query = query.where(t.inbox.c.sender == sender)
        return int(self.conn.execute(query).scalar_one())

    def last_seq(self, sender: str) -> int:
        value = self.conn.execute(sa.select(sa.func.max(t.inbox.c.seq))
                                  .where(t.inbox.c.sender == sender)).scalar()
        return int(value or 0)

    def refused(self, sender: str | None, limit: int) -> list[InboxRecord]:
        """Messages this node refused, latest first (a message that failed is rolled back
        and offered again by its sender, so it has no row until its final verdict)."""
        c = t.inbox.c
        query = sa.select(t.inbox).where(c.outcome == "refused")
        if sender:
            query = query.where(c.sender == sender)
        rows = self.conn.execute(query.order_by(c.received_at.desc(), c.seq.desc())
                                 .limit(limit))
        return [InboxRecord(r.sender, r.message_id, r.seq, r.kind, r.envelope_id, r.outcome,
                            r.reason, r.received_at) for r in rows]


class SqlRequests:
    """Outgoing requests keyed ``o:<id>`` (our own ids); incoming ones ``i:<sender>:<id>``,
    so that two partners' ids never collide (issue 17; migration 0013). A partner's ids
    hold no ``:`` (``services.requests`` refuses them), so the key splits back."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def get(self, request_id: str, direction: str, party: str = "") -> PartnerRequest | None:
        row = self.conn.execute(sa.select(t.partner_requests).where(
            t.partner_requests.c.id == _key(request_id, direction, party))).first()
        return self._decode(row) if row else None

    def with_id(self, request_id: str, direction: str) -> list[PartnerRequest]:
        c = t.partner_requests.c
        keys = c.id.endswith(f":{request_id}", autoescape=True) if direction == "incoming" \
            else c.id == _key(request_id, direction, "")
        rows = self.conn.execute(sa.select(t.partner_requests).where(
            keys, c.direction == direction).order_by(c.party))
        return [r for r in map(self._decode, rows) if r.id == request_id]

    def put(self, request: PartnerRequest) -> None:
        key = _key(request.id, request.direction, request.party)
        self.conn.execute(t.partner_requests.delete().where(t.partner_requests.c.id == key))
        self.conn.execute(t.partner_requests.insert(), {
            "id": key, "kind": request.kind, "direction": request.direction,
            "party": request.party, "state": request.state, "data": dict(request.data),
            "created_at": request.created_at, "updated_at": request.updated_at})

    def list(self, *, kind: str | None, direction: str | None) -> list[PartnerRequest]:
        query = sa.select(t.partner_requests).order_by(t.partner_requests.c.created_at.desc(),
                                                       t.partner_requests.c.id)
        if kind:
            query = query.where(t.partner_requests.c.kind == kind)
        if direction:
            query = query.where(t.partner_requests.c.direction == direction)
        return [self._decode(r) for r in self.conn.execute(query)]

    @staticmethod
    def _decode(r: Any) -> PartnerRequest:
        request_id = r.id.split(":", 2)[2] if r.direction == "incoming" else r.id.split(":", 1)[1]
        return PartnerRequest(request_id, r.kind, r.direction, r.party, r.state,
                              r.data, r.created_at, r.updated_at)


def _key(request_id: str, direction: str, party: str) -> str:
    if direction == "incoming":
        return f"i:{party}:{request_id}"
    return f"{direction[0]}:{request_id}"


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
