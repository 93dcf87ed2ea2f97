"""Twins of the ``holdings`` ports: items, search, blobs."""

from __future__ import annotations

from dataclasses import replace

from liaison.domain.parties import default_parties
from liaison.domain.search import SearchPage, SearchQuery, Visibility, page_of, rows_in_order
from liaison.services.ports.holdings import BlobRecord, StoredItem
from tests.twins.state import MemoryState, insert_new


class MemoryItems:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def get(self, item_id: str) -> StoredItem | None:
        entry = self.s.items.get(item_id)
        return entry[0] if entry else None

    def add(self, stored: StoredItem, min_rank: int) -> None:
        insert_new(self.s.items, stored.item.id, (stored, min_rank), f"item {stored.item.id}")

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
