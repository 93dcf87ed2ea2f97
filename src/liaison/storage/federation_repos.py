"""Repositories for partner nodes, the outbox, the inbox and partners' requests."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Mapping
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from liaison.crypto.keys import verify_card
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
