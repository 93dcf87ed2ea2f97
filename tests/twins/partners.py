"""Twins of the ``partners`` ports: peers, outbox, inbox, partner requests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from liaison.domain.lanes import LANES, lane_for
from liaison.services.ports.partners import (
    InboxRecord,
    LaneState,
    OutboxMessage,
    PartnerRequest,
    Peer,
)
from tests.twins.state import MemoryState, insert_new


class MemoryPeers:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def get(self, party: str) -> Peer | None:
        return self.s.peers.get(party)

    def list(self) -> list[Peer]:
        return [self.s.peers[k] for k in sorted(self.s.peers)]

    def put(self, peer: Peer) -> None:
        self.s.peers[peer.party] = peer


class MemoryOutbox:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def enqueue(self, *, message_id: str, peer: str, kind: str, payload: Mapping[str, Any],
                at: datetime) -> OutboxMessage:
        seq = 1 + max((m.seq for m in self.s.outbox.values() if m.peer == peer), default=0)
        msg = OutboxMessage(message_id, peer, seq, kind, dict(payload), at, "pending",
                            lane=lane_for(kind))
        insert_new(self.s.outbox, message_id, msg, f"message {message_id}")
        return msg

    def pending(self, peer: str, limit: int, lane: str | None = None,
                now: datetime | None = None) -> list[OutboxMessage]:
        rows = sorted((m for m in self.s.outbox.values()
                       if m.peer == peer and m.state == "pending" and lane in (None, m.lane)
                       and (now is None or m.retry_at is None or m.retry_at <= now)),
                      key=lambda m: m.seq)
        return rows[:limit]

    def peers_with_pending(self) -> list[str]:
        return sorted({m.peer for m in self.s.outbox.values() if m.state == "pending"})

    def lanes_with_pending(self) -> list[tuple[str, str]]:
        return sorted({(m.peer, m.lane) for m in self.s.outbox.values()
                       if m.state == "pending"}, key=lambda k: (k[0], LANES.index(k[1])))

    def retry(self, message_id: str, error: str, at: datetime, retry_at: datetime) -> None:
        m = self.s.outbox.get(message_id)
        if m and m.state == "pending":
            self.s.outbox[message_id] = replace(m, attempts=m.attempts + 1, last_error=error,
                                                retry_at=retry_at)

    def refused(self, peer: str | None, limit: int) -> list[OutboxMessage]:
        rows = sorted((m for m in self.s.outbox.values()
                       if m.state == "refused" and peer in (None, m.peer)),
                      key=lambda m: (m.delivered_at or m.created_at, m.seq), reverse=True)
        return rows[:limit]

    def lanes(self) -> list[LaneState]:
        found = dict(self.s.outbox_lanes)
        for m in self.s.outbox.values():
            if m.state == "pending":
                known = found.get((m.peer, m.lane), LaneState(m.peer, m.lane))
                oldest = min(filter(None, (known.oldest_pending_at, m.created_at)))
                found[(m.peer, m.lane)] = replace(known, oldest_pending_at=oldest,
                                                  pending=known.pending + 1)
        return [found[k] for k in sorted(found)]

    def note_attempt(self, peer: str, lane: str, at: datetime, error: str | None) -> None:
        known = self.s.outbox_lanes.get((peer, lane), LaneState(peer, lane))
        self.s.outbox_lanes[(peer, lane)] = (
            replace(known, failures=0, last_attempt_at=at, last_delivery_at=at)
            if error is None else
            replace(known, failures=known.failures + 1, last_error=error, last_error_at=at,
                    last_attempt_at=at))

    def mark_stuck(self, peer: str, lane: str, since: datetime | None) -> bool:
        known = self.s.outbox_lanes.get((peer, lane), LaneState(peer, lane))
        if (known.stuck_since is None) == (since is None):
            return False
        self.s.outbox_lanes[(peer, lane)] = replace(known, stuck_since=since)
        return True

    def settle(self, message_id: str, state: str, at: datetime,
               receipt: Mapping[str, Any]) -> None:
        m = self.s.outbox.get(message_id)
        if m and m.state == "pending":
            self.s.outbox[message_id] = replace(m, state=state, delivered_at=at,
                                                receipt=dict(receipt), attempts=m.attempts + 1)

    def settle_all(self, rows: list[tuple[str, str, Mapping[str, Any]]],
                   at: datetime) -> None:
        for mid, state, receipt in rows:
            self.settle(mid, state, at, receipt)

    def count(self, *, peer: str | None = None, state: str | None = None) -> int:
        return sum(1 for m in self.s.outbox.values() if peer in (None, m.peer)
                   and state in (None, m.state))

    def list(self, *, peer: str | None, limit: int) -> list[OutboxMessage]:
        rows = sorted((m for m in self.s.outbox.values() if peer in (None, m.peer)),
                      key=lambda m: m.id)
        rows.sort(key=lambda m: m.created_at, reverse=True)
        return rows[:limit]


class MemoryInbox:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def seen(self, sender: str, message_id: str) -> bool:
        return (sender, message_id) in self.s.inbox

    def seen_many(self, sender: str, message_ids: set[str]) -> set[str]:
        return {m for m in message_ids if (sender, m) in self.s.inbox}

    def add(self, *, sender: str, message_id: str, seq: int, kind: str, envelope_id: str,
            outcome: str, reason: str, at: datetime) -> None:
        insert_new(self.s.inbox, (sender, message_id), (seq, outcome),
             f"message {message_id} from {sender}")
        self.s.inbox_records.append(InboxRecord(sender, message_id, seq, kind, envelope_id,
                                                outcome, reason, at))

    def count(self, *, sender: str | None = None) -> int:
        return sum(1 for s, _ in self.s.inbox if sender in (None, s))

    def last_seq(self, sender: str) -> int:
        return max((v[0] for (s, _), v in self.s.inbox.items() if s == sender), default=0)

    def refused(self, sender: str | None, limit: int) -> list[InboxRecord]:
        found = [r for r in self.s.inbox_records
                 if r.outcome == "refused" and sender in (None, r.sender)]
        return sorted(found, key=lambda r: (r.received_at, r.seq), reverse=True)[:limit]


def request_key(request_id: str, direction: str, party: str) -> tuple[str, str, str]:
    """As ``SqlRequests``: incoming requests are keyed by their sender too."""
    return request_id, direction, party if direction == "incoming" else ""


class MemoryRequests:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def get(self, request_id: str, direction: str, party: str = "") -> PartnerRequest | None:
        return self.s.requests.get(request_key(request_id, direction, party))

    def with_id(self, request_id: str, direction: str) -> list[PartnerRequest]:
        return sorted((r for r in self.s.requests.values()
                       if r.id == request_id and r.direction == direction),
                      key=lambda r: r.party)

    def put(self, request: PartnerRequest) -> None:
        self.s.requests[request_key(request.id, request.direction, request.party)] = request

    def list(self, *, kind: str | None, direction: str | None) -> list[PartnerRequest]:
        rows = sorted((r for r in self.s.requests.values() if kind in (None, r.kind)
                       and direction in (None, r.direction)), key=lambda r: (r.direction, r.id))
        rows.sort(key=lambda r: r.created_at, reverse=True)
        return rows
