"""Items, their search index and the files they carry."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from liaison.domain.items import Item
from liaison.domain.search import SearchPage, SearchQuery, Visibility


@dataclass(frozen=True, slots=True)
class StoredItem:
    item: Item
    created_by: str
    created_at: datetime


class ItemRepo(Protocol):
    def get(self, item_id: str) -> StoredItem | None: ...
    def add(self, stored: StoredItem, min_rank: int) -> None:
        """Insert; ``min_rank`` is the lowest portion rank (for visibility pre-filtering).
        Raises ``Conflict`` when the id exists."""
    def list(self, *, max_min_rank: int, limit: int, offset: int) -> list[StoredItem]:
        """Items with at least one portion at or below ``max_min_rank``, newest first."""
    def count(self) -> int: ...
    def replace(self, stored: StoredItem, min_rank: int) -> None:
        """Overwrite an existing item (a re-marking); its history is in the audit log."""
    def remove(self, item_id: str) -> None: ...


class SearchRepo(Protocol):
    """The items repository keeps the index; this answers queries over it."""

    def query(self, q: SearchQuery, vis: Visibility) -> SearchPage: ...


@dataclass(frozen=True, slots=True)
class BlobRecord:
    address: str
    sha256: str
    size: int
    media_type: str
    created_by: str
    created_at: datetime


class BlobRepo(Protocol):
    """Records of the files in the blob store (the bytes are in the store itself)."""

    def add(self, record: BlobRecord) -> None:
        """Insert, and note that ``record.created_by`` uploaded this content; a second
        upload of the same content keeps the first record and notes its uploader."""
    def by_sha256(self, sha256: str) -> BlobRecord | None: ...
    def uploaded_by(self, sha256: str, username: str) -> BlobRecord | None:
        """The record of this content only if ``username`` uploaded it."""


class BlobPort(Protocol):
    """The encrypted, content-addressed file store (``storage.blobs.BlobStore``)."""

    def put_stream(self, chunks: Iterable[bytes], max_size: int) -> Any: ...
    def open(self, address: str) -> Iterator[bytes]: ...
    def read_all(self, address: str, max_size: int) -> bytes: ...
