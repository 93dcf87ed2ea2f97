"""In-memory twins of the storage ports, for unit tests of the use cases.

Same contract as the SQL unit of work: changes made inside ``with uow:`` become visible to
later units of work only after ``commit()``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

from liaison.domain import audit as chain
from liaison.domain.agreements import Agreement
from liaison.domain.audit import AuditRecord
from liaison.domain.hotline import changed_after
from liaison.domain.labels import Party, topic_in
from liaison.domain.lanes import LANES, lane_for
from liaison.domain.ledger import LedgerEntry
from liaison.domain.parties import default_parties
from liaison.domain.review import ReleaseRequest
from liaison.domain.search import SearchPage, SearchQuery, Visibility, page_of, rows_in_order
from liaison.domain.tracks import number_block
from liaison.domain.users import User
from liaison.interop.stix_ids import new_id
from liaison.services.ports import (
    BlobRecord,
    Conflict,
    InboxRecord,
    LaneState,
    OutboxMessage,
    PartnerRequest,
    Peer,
    StoredConsent,
    StoredItem,
    TalksEvent,
    TaxiiObject,
    TaxiiQuery,
    TokenRecord,
)


@dataclass
class MemoryState:
    parties: dict[str, Party] = field(default_factory=dict)
    agreements: dict[str, Agreement] = field(default_factory=dict)
    items: dict[str, tuple[StoredItem, int]] = field(default_factory=dict)
    releases: dict[str, ReleaseRequest] = field(default_factory=dict)
    consents: dict[str, StoredConsent] = field(default_factory=dict)
    ledger: list[LedgerEntry] = field(default_factory=list)
    users: dict[str, tuple[User, str | None]] = field(default_factory=dict)
    tokens: dict[str, TokenRecord] = field(default_factory=dict)
    audit: list[AuditRecord] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    peers: dict[str, Peer] = field(default_factory=dict)
    outbox: dict[str, OutboxMessage] = field(default_factory=dict)
    outbox_lanes: dict[tuple[str, str], LaneState] = field(default_factory=dict)
    inbox: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    inbox_records: list[InboxRecord] = field(default_factory=list)
    requests: dict[tuple[str, str, str], PartnerRequest] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    traffic: dict[tuple[str, str, int], tuple[str, dict[str, Any], datetime]] = field(
        default_factory=dict)
    feeds: dict[str, dict[str, Any]] = field(default_factory=dict)
    areas: dict[str, dict[str, Any]] = field(default_factory=dict)
    numbers: dict[tuple[str, str], int] = field(default_factory=dict)
    launches: dict[tuple[str, int], tuple[dict[str, Any], datetime]] = field(
        default_factory=dict)
    alerts: list[tuple[dict[str, Any], datetime]] = field(default_factory=list)
    taxii: list[tuple[str, int, datetime, TaxiiObject]] = field(default_factory=list)
    taxii_status: dict[str, dict[str, Any]] = field(default_factory=dict)
    stix_ids: dict[str, str] = field(default_factory=dict)
    blobs: dict[str, BlobRecord] = field(default_factory=dict)
    blob_uploads: set[tuple[str, str]] = field(default_factory=set)  # (sha256, username)
    talks: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = field(
        default_factory=dict)
    talks_events: list[tuple[int, str, str, str, dict[str, Any], datetime]] = field(
        default_factory=list)
    leases: dict[str, tuple[str, datetime, int]] = field(default_factory=dict)
    checkpoints: dict[tuple[str, str, int], dict[str, Any]] = field(default_factory=dict)


K = TypeVar("K")
V = TypeVar("V")


def _add(table: dict[K, V], key: K, value: V, what: str) -> None:
    """Insert; ``Conflict`` naming ``what`` when the key exists (as a primary key would)."""
    if key in table:
        raise Conflict(f"{what} already exists")
    table[key] = value


class MemoryParties:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def get(self, code: str) -> Party | None:
        return self.s.parties.get(code)

    def list(self) -> list[Party]:
        return [self.s.parties[k] for k in sorted(self.s.parties)]

    def put(self, party: Party) -> None:
        self.s.parties[party.code] = party


class MemoryAgreements:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def get(self, agreement_id: str) -> Agreement | None:
        return self.s.agreements.get(agreement_id)

    def list(self) -> list[Agreement]:
        return [self.s.agreements[k] for k in sorted(self.s.agreements)]

    def put(self, agreement: Agreement) -> None:
        self.s.agreements[agreement.id] = agreement


class MemoryItems:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def get(self, item_id: str) -> StoredItem | None:
        entry = self.s.items.get(item_id)
        return entry[0] if entry else None

    def add(self, stored: StoredItem, min_rank: int) -> None:
        _add(self.s.items, stored.item.id, (stored, min_rank), f"item {stored.item.id}")

    def list(self, *, max_min_rank: int, limit: int, offset: int) -> list[StoredItem]:
        rows = sorted((e for e in self.s.items.values() if e[1] <= max_min_rank),
                      key=lambda e: (-e[0].created_at.timestamp(), e[0].item.id))
        return [e[0] for e in rows[offset:offset + limit]]

    def count(self) -> int:
        return len(self.s.items)

    def replace(self, stored: StoredItem, min_rank: int) -> None:
        old = self.s.items.get(stored.item.id)
        if old:
            kept = replace(stored, created_by=old[0].created_by, created_at=old[0].created_at)
            self.s.items[stored.item.id] = (kept, min_rank)

    def remove(self, item_id: str) -> None:
        self.s.items.pop(item_id, None)


class MemorySearch:
    """The reference semantics of ``domain.search`` over the items held in memory."""

    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def query(self, q: SearchQuery, vis: Visibility) -> SearchPage:
        parties = default_parties() | self.s.parties
        rows = rows_in_order([stored.item for stored, _ in self.s.items.values()],
                             lambda item: parties[item.portions[0].label.policy].scheme)
        return page_of(rows, q, vis)


class MemoryTaxii:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def add(self, collection: str, objects: Sequence[TaxiiObject], at: datetime) -> int:
        have = {(c, o.data["id"], o.version) for c, _, _, o in self.s.taxii}
        added = 0
        for o in objects:
            if (collection, o.data["id"], o.version) not in have:
                have.add((collection, o.data["id"], o.version))
                self.s.taxii.append((collection, len(self.s.taxii) + 1, at, o))
                added += 1
        return added

    def page(self, q: TaxiiQuery) -> list[tuple[int, datetime, TaxiiObject]]:
        rows = [(seq, at, o) for c, seq, at, o in self.s.taxii if c == q.collection]
        versions: dict[str, list[str]] = {}
        for _, _, o in rows:
            versions.setdefault(o.data["id"], []).append(o.version)

        def wanted(seq: int, at: datetime, o: TaxiiObject) -> bool:
            vis, mine = q.visibility, versions[o.data["id"]]
            return (seq > q.after_seq
                    and (vis is None or (o.rank <= vis.max_rank
                                         and o.compartments in vis.compartment_sets
                                         and (vis.topics is None or o.topic == ""
                                              or topic_in(o.topic, vis.topics))))
                    and (q.added_after is None or at > q.added_after)
                    and (not q.ids or o.data["id"] in q.ids)
                    and (not q.types or o.data["type"] in q.types)
                    and (q.versions == "all"
                         or (q.versions == "last" and o.version == max(mine))
                         or (q.versions == "first" and o.version == min(mine))
                         or o.version in q.versions.split(",")))
        return [(seq, at, replace(o, raw=json.dumps(dict(o.data))))
                for seq, at, o in rows if wanted(seq, at, o)][:q.limit + 1]

    def put_status(self, status_id: str, data: Mapping[str, Any], at: datetime) -> None:
        self.s.taxii_status[status_id] = dict(data)

    def status(self, status_id: str) -> dict[str, Any] | None:
        found = self.s.taxii_status.get(status_id)
        return dict(found) if found else None

    def stix_ids(self, key_ids: Sequence[str]) -> dict[str, str]:
        for key in key_ids:
            self.s.stix_ids.setdefault(key, new_id(key))
        return {key: self.s.stix_ids[key] for key in key_ids}


class MemoryBlobs:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def add(self, record: BlobRecord) -> None:
        self.s.blobs.setdefault(record.sha256, record)
        self.s.blob_uploads.add((record.sha256, record.created_by))

    def by_sha256(self, sha256: str) -> BlobRecord | None:
        return self.s.blobs.get(sha256)

    def uploaded_by(self, sha256: str, username: str) -> BlobRecord | None:
        return self.s.blobs.get(sha256) if (sha256, username) in self.s.blob_uploads else None


class MemoryTalks:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def get(self, talks_id: str) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        return self.s.talks.get(talks_id)

    def put(self, talks_id: str, data: Mapping[str, Any], minutes: Mapping[str, Any] | None,
            at: datetime) -> None:
        self.s.talks.pop(talks_id, None)
        self.s.talks[talks_id] = (dict(data), dict(minutes) if minutes else None)

    def add_event(self, talks_id: str, kind: str, party: str, data: Mapping[str, Any],
                  at: datetime) -> None:
        self.s.talks_events.append((len(self.s.talks_events) + 1, talks_id, kind, party,
                                    dict(data), at))

    def events(self, talks_id: str, after: int = 0,
               kinds: tuple[str, ...] = ()) -> list[TalksEvent]:
        return [(seq, kind, party, data, at) for seq, tid, kind, party, data, at
                in self.s.talks_events
                if tid == talks_id and seq > after and (not kinds or kind in kinds)]

    def last_seq(self, talks_id: str) -> int:
        return max((e[0] for e in self.s.talks_events if e[1] == talks_id), default=0)
    def list(self) -> list[dict[str, Any]]:
        return [data for data, _ in reversed(self.s.talks.values())]



class MemoryReleases:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def get(self, request_id: str) -> ReleaseRequest | None:
        return self.s.releases.get(request_id)

    def add(self, request: ReleaseRequest) -> None:
        _add(self.s.releases, request.id, request, f"release request {request.id}")

    def update(self, request: ReleaseRequest) -> None:
        self.s.releases[request.id] = request

    def list(self, *, state: str | None, limit: int, offset: int) -> list[ReleaseRequest]:
        rows = sorted((r for r in self.s.releases.values() if state in (None, r.state.value)),
                      key=lambda r: r.id)
        rows.sort(key=lambda r: r.requested_at, reverse=True)
        return rows[offset:offset + limit]


class MemoryConsents:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def add(self, stored: StoredConsent) -> None:
        _add(self.s.consents, stored.id, stored, f"consent {stored.id}")

    def list(self) -> list[StoredConsent]:
        return sorted(self.s.consents.values(), key=lambda c: (c.recorded_at, c.id))


class MemoryLedger:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def add(self, entry: LedgerEntry) -> None:
        self.s.ledger.append(entry)

    def list(self, *, agreement_id: str | None = None,
             partner: str | None = None) -> list[LedgerEntry]:
        return [e for e in self.s.ledger if agreement_id in (None, e.agreement_id)
                and partner in (None, e.partner)]


class MemoryUsers:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def get(self, username: str) -> User | None:
        entry = self.s.users.get(username)
        return entry[0] if entry else None

    def list(self) -> list[User]:
        return [self.s.users[k][0] for k in sorted(self.s.users)]

    def add(self, user: User, password_hash: str | None) -> None:
        _add(self.s.users, user.username, (user, password_hash), f"user {user.username}")

    def update(self, user: User) -> None:
        entry = self.s.users.get(user.username)
        if entry:
            self.s.users[user.username] = (user, entry[1])

    def password_hash(self, username: str) -> str | None:
        entry = self.s.users.get(username)
        return entry[1] if entry else None

    def set_password_hash(self, username: str, password_hash: str) -> None:
        entry = self.s.users.get(username)
        if entry:
            self.s.users[username] = (entry[0], password_hash)


class MemoryTokens:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def add(self, token: TokenRecord) -> None:
        _add(self.s.tokens, token.token_hash, token, "token")

    def get(self, token_hash: str) -> TokenRecord | None:
        return self.s.tokens.get(token_hash)

    def revoke(self, token_hash: str) -> None:
        token = self.s.tokens.get(token_hash)
        if token:
            self.s.tokens[token_hash] = replace(token, revoked=True)

    def list(self, username: str) -> list[TokenRecord]:
        return sorted((t for t in self.s.tokens.values() if t.username == username),
                      key=lambda t: (t.created_at, t.token_hash))


class MemoryAudit:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def append(self, *, at: datetime, actor: str, action: str, subject: str,
               details: Mapping[str, Any]) -> AuditRecord:
        head = self.s.audit[-1] if self.s.audit else None
        record = chain.append(head, at=at, actor=actor, action=action, subject=subject,
                              details=details)
        self.s.audit.append(record)
        return record

    def list(self, *, after_seq: int = -1, limit: int = 1000) -> list[AuditRecord]:
        return [r for r in self.s.audit if r.seq > after_seq][:limit]

    def count(self) -> int:
        return len(self.s.audit)


class MemorySettings:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def get(self, key: str) -> str | None:
        return self.s.settings.get(key)

    def put(self, key: str, value: str) -> None:
        self.s.settings[key] = value


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
        _add(self.s.outbox, message_id, msg, f"message {message_id}")
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
        _add(self.s.inbox, (sender, message_id), (seq, outcome),
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


def _request_key(request_id: str, direction: str, party: str) -> tuple[str, str, str]:
    """As ``SqlRequests``: incoming requests are keyed by their sender too."""
    return request_id, direction, party if direction == "incoming" else ""


class MemoryRequests:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def get(self, request_id: str, direction: str, party: str = "") -> PartnerRequest | None:
        return self.s.requests.get(_request_key(request_id, direction, party))

    def with_id(self, request_id: str, direction: str) -> list[PartnerRequest]:
        return sorted((r for r in self.s.requests.values()
                       if r.id == request_id and r.direction == direction),
                      key=lambda r: r.party)

    def put(self, request: PartnerRequest) -> None:
        self.s.requests[_request_key(request.id, request.direction, request.party)] = request

    def list(self, *, kind: str | None, direction: str | None) -> list[PartnerRequest]:
        rows = sorted((r for r in self.s.requests.values() if kind in (None, r.kind)
                       and direction in (None, r.direction)), key=lambda r: (r.direction, r.id))
        rows.sort(key=lambda r: r.created_at, reverse=True)
        return rows


class MemoryHotline:
    """The twin of ``storage.federation_repos.SqlHotline``: the same revisions, change
    log and open entries, kept beside the channels here."""

    CHANGE_LOG = 128

    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def channel(self, channel_id: str) -> dict[str, Any] | None:
        found = self.s.channels.get(channel_id)
        return self._shown(found) if found else None

    @staticmethod
    def _shown(data: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy({k: v for k, v in data.items() if not k.startswith("_")})

    def channels(self) -> list[dict[str, Any]]:
        return [self._shown(self.s.channels[k]) for k in sorted(self.s.channels)]

    def put_channel(self, channel_id: str, data: Mapping[str, Any]) -> None:
        stored = self.s.channels.get(channel_id, {"_revision": 0, "_changes": [], "_open": []})
        kept = {k: v for k, v in stored.items() if k.startswith("_")}
        self.s.channels[channel_id] = {**self._shown(dict(data)), **kept}

    def revision(self, channel_id: str) -> int:
        return int(self.s.channels.get(channel_id, {}).get("_revision", 0))

    def _entries(self, channel_id: str) -> list[dict[str, Any]]:
        return [{**copy.deepcopy(v[1]), "sender": k[1], "seq": k[2], "kind": v[0],
                 "_at": v[2]} for k, v in self.s.traffic.items() if k[0] == channel_id]

    @staticmethod
    def _order(e: dict[str, Any]) -> tuple[datetime, int, str]:
        return e["_at"], e["seq"], e["sender"]

    def traffic(self, channel_id: str) -> list[dict[str, Any]]:
        return self._strip(sorted(self._entries(channel_id), key=self._order))

    @staticmethod
    def _strip(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.items() if k != "_at"} for e in entries]

    def page(self, channel_id: str, limit: int, *,
             before: tuple[datetime, int, str] | None = None,
             after: tuple[datetime, int, str] | None = None) -> list[dict[str, Any]]:
        rows = sorted(self._entries(channel_id), key=self._order)
        if after is not None:
            return self._strip([e for e in rows if self._order(e) > after][:limit])
        if before is not None:
            rows = [e for e in rows if self._order(e) < before]
        return self._strip(rows[-limit:] if limit else [])

    def changed_since(self, channel_id: str,
                      revision: int) -> tuple[int, list[dict[str, Any]] | None]:
        now, keys = changed_after(self.s.channels.get(channel_id, {}), revision)
        if keys is None:
            return now, None
        found = (self.get_traffic(channel_id, s, q) for s, q in keys)
        return now, [e for e in found if e is not None]

    def awaiting(self, channel_id: str) -> list[dict[str, Any]]:
        keys = self.s.channels.get(channel_id, {}).get("_open", [])
        found = [e for s, q in keys if (e := self.get_traffic(channel_id, s, q))]
        return sorted(found, key=lambda e: (e["sent_at"], e["seq"], e["sender"]))

    def get_traffic(self, channel_id: str, sender: str, seq: int) -> dict[str, Any] | None:
        found = self.s.traffic.get((channel_id, sender, seq))
        if found is None:
            return None
        return {**copy.deepcopy(found[1]), "sender": sender, "seq": seq, "kind": found[0]}

    def put_traffic(self, channel_id: str, sender: str, seq: int, kind: str,
                    data: Mapping[str, Any], sent_at: datetime) -> None:
        self.s.traffic[channel_id, sender, seq] = (kind, copy.deepcopy(dict(data)), sent_at)
        channel = self.s.channels.get(channel_id)
        if channel is None:
            return
        revision = int(channel.get("_revision", 0)) + 1
        opened = [k for k in channel.get("_open", []) if k != [sender, seq]]
        if not data.get("acknowledged_at") and not data.get("outcome"):
            opened.append([sender, seq])
        channel.update(_revision=revision, _open=opened, _changes=[
            *channel.get("_changes", []), [revision, sender, seq]][-self.CHANGE_LOG:])

    def last_seq(self, channel_id: str, sender: str) -> int:
        return max((k[2] for k in self.s.traffic if k[:2] == (channel_id, sender)), default=0)


class MemoryTracks:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def put_feed(self, name: str, data: dict[str, Any], at: datetime) -> None:
        self.s.feeds[name] = copy.deepcopy(data)

    def feeds(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(self.s.feeds[k]) for k in sorted(self.s.feeds)]

    def put_area(self, area_id: str, data: dict[str, Any], at: datetime) -> None:
        self.s.areas[area_id] = copy.deepcopy(data)

    def remove_area(self, area_id: str) -> bool:
        return self.s.areas.pop(area_id, None) is not None

    def areas(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(self.s.areas[k]) for k in sorted(self.s.areas)]

    def number_for(self, source: str, uid: str, at: datetime) -> int:
        key = (source, uid)
        if key not in self.s.numbers:  # as storage does, without probing for a free block
            ours = [n for (s, _), n in self.s.numbers.items() if s == source]
            self.s.numbers[key] = max(ours) + 1 if ours else (number_block(source) << 32) + 1
        return self.s.numbers[key]

    def numbers(self) -> dict[tuple[str, str], int]:
        return dict(self.s.numbers)

    def add_launch(self, event_id: str, revision: int, data: dict[str, Any],
                   at: datetime) -> None:
        _add(self.s.launches, (event_id, revision), (copy.deepcopy(data), at),
             f"launch event {event_id} revision {revision}")

    def launches(self, limit: int) -> list[dict[str, Any]]:
        latest: dict[str, tuple[int, dict[str, Any], datetime]] = {}
        for (eid, rev), (data, at) in self.s.launches.items():
            if eid not in latest or rev > latest[eid][0]:
                latest[eid] = (rev, data, at)
        rows = sorted(latest.values(), key=lambda r: r[2], reverse=True)
        return [copy.deepcopy(r[1]) for r in rows[:limit]]

    def launch_history(self, event_id: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(d) for (eid, _), (d, _) in sorted(self.s.launches.items())
                if eid == event_id]

    def add_alert(self, alert_id: str, area: str, data: dict[str, Any], at: datetime) -> None:
        self.s.alerts.append((copy.deepcopy(data), at))

    def alerts(self, limit: int) -> list[dict[str, Any]]:
        rows = sorted(self.s.alerts, key=lambda r: r[1], reverse=True)
        return [copy.deepcopy(d) for d, _ in rows[:limit]]


class MemoryLeases:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def claim(self, name: str, holder: str, now: datetime, ttl: timedelta) -> int | None:
        current = self.s.leases.get(name)
        if current is not None and current[0] != holder and current[1] >= now:
            return None
        position = current[2] if current else 0
        self.s.leases[name] = (holder, now + ttl, position)
        return position

    def record(self, name: str, holder: str, position: int) -> bool:
        current = self.s.leases.get(name)
        if current is None or current[0] != holder or current[2] >= position:
            return False
        self.s.leases[name] = (holder, current[1], position)
        return True

    def release(self, name: str, holder: str, now: datetime) -> None:
        current = self.s.leases.get(name)
        if current is not None and current[0] == holder:
            self.s.leases[name] = (holder, now, current[2])

    def holders(self, now: datetime) -> dict[str, str]:
        return {n: h for n, (h, until, _) in self.s.leases.items() if until >= now}


class MemoryCheckpoints:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def put(self, row: Mapping[str, Any]) -> None:
        self.s.checkpoints[(row["log_of"], row["witness"], row["size"])] = dict(row)

    def latest(self, log_of: str, witness: str,
               states: Sequence[str]) -> dict[str, Any] | None:
        rows = [r for (lo, w, _), r in sorted(self.s.checkpoints.items())
                if lo == log_of and w == witness and r["state"] in states]
        return dict(rows[-1]) if rows else None

    def list(self, log_of: str | None = None) -> list[dict[str, Any]]:
        return [dict(r) for k, r in sorted(self.s.checkpoints.items())
                if log_of is None or k[0] == log_of]


class MemoryUnitOfWork:
    """Works on a private copy of ``shared`` taken at ``__enter__``; ``commit`` publishes
    the copy, leaving without it drops it. Units of work are not isolated from each other
    beyond that: the last commit wins (unit tests run one at a time)."""

    def __init__(self, shared: MemoryState) -> None:
        self.shared = shared

    def __enter__(self) -> Self:
        self.state = copy.deepcopy(self.shared)
        s = self.state
        self.parties, self.agreements = MemoryParties(s), MemoryAgreements(s)
        self.items, self.releases = MemoryItems(s), MemoryReleases(s)
        self.consents, self.ledger = MemoryConsents(s), MemoryLedger(s)
        self.users, self.tokens = MemoryUsers(s), MemoryTokens(s)
        self.audit, self.settings = MemoryAudit(s), MemorySettings(s)
        self.peers, self.outbox, self.inbox = MemoryPeers(s), MemoryOutbox(s), MemoryInbox(s)
        self.requests = MemoryRequests(s)
        self.hotline = MemoryHotline(s)
        self.tracks = MemoryTracks(s)
        self.search = MemorySearch(s)
        self.taxii = MemoryTaxii(s)
        self.blobs = MemoryBlobs(s)
        self.talks = MemoryTalks(s)
        self.leases = MemoryLeases(s)
        self.checkpoints = MemoryCheckpoints(s)
        return self

    def commit(self) -> None:
        self.shared.__dict__.update(copy.deepcopy(self.state).__dict__)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """The SQL savepoint's twin: a copy taken on entry is put back on an exception."""
        before = copy.deepcopy(self.state)
        try:
            yield
        except BaseException:
            self.state.__dict__.update(before.__dict__)
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None
