"""The state every twin works on, as the tables would hold it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from liaison.domain.agreements import Agreement
from liaison.domain.audit import AuditRecord
from liaison.domain.labels import Party
from liaison.domain.ledger import LedgerEntry
from liaison.domain.review import ReleaseRequest
from liaison.domain.users import User
from liaison.services.ports.holdings import BlobRecord, StoredItem
from liaison.services.ports.interop import TaxiiObject
from liaison.services.ports.partners import (
    InboxRecord,
    LaneState,
    OutboxMessage,
    PartnerRequest,
    Peer,
)
from liaison.services.ports.people import TokenRecord
from liaison.services.ports.sharing import StoredConsent
from liaison.services.ports.unit_of_work import Conflict


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


def insert_new(table: dict[K, V], key: K, value: V, what: str) -> None:
    """Insert; ``Conflict`` naming ``what`` when the key exists (as a primary key would)."""
    if key in table:
        raise Conflict(f"{what} already exists")
    table[key] = value
