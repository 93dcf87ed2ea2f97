"""Ports the use cases depend on. Storage implements them over SQL; ``services.memory``
holds the in-memory twins used by unit tests.

Every method runs inside the unit of work's transaction; nothing is visible to others
until ``commit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from liaison.domain.agreements import Agreement
from liaison.domain.audit import AuditRecord
from liaison.domain.items import Item
from liaison.domain.labels import Party
from liaison.domain.ledger import LedgerEntry
from liaison.domain.release import Consent
from liaison.domain.review import ReleaseRequest
from liaison.domain.users import User


@dataclass(frozen=True, slots=True)
class StoredItem:
    item: Item
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredConsent:
    id: str
    consent: Consent
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRecord:
    token_hash: str  # SHA-256 hex of the bearer token; the token itself is never stored
    username: str
    kind: str  # "session" | "api"
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked: bool = False


class PartyRepo(Protocol):
    def get(self, code: str) -> Party | None: ...
    def list(self) -> list[Party]: ...
    def put(self, party: Party) -> None: ...


class AgreementRepo(Protocol):
    def get(self, agreement_id: str) -> Agreement | None: ...
    def list(self) -> list[Agreement]: ...
    def put(self, agreement: Agreement) -> None: ...


class ItemRepo(Protocol):
    def get(self, item_id: str) -> StoredItem | None: ...
    def add(self, stored: StoredItem, min_rank: int) -> None:
        """Insert; ``min_rank`` is the lowest portion rank (for visibility pre-filtering).
        Raises ``Conflict`` when the id exists."""
    def list(self, *, max_min_rank: int, limit: int, offset: int) -> list[StoredItem]:
        """Items with at least one portion at or below ``max_min_rank``, newest first."""
    def count(self) -> int: ...


class ReleaseRepo(Protocol):
    def get(self, request_id: str) -> ReleaseRequest | None: ...
    def add(self, request: ReleaseRequest) -> None: ...
    def update(self, request: ReleaseRequest) -> None: ...
    def list(self, *, state: str | None, limit: int, offset: int) -> list[ReleaseRequest]: ...


class ConsentRepo(Protocol):
    def add(self, stored: StoredConsent) -> None: ...
    def list(self) -> list[StoredConsent]: ...


class LedgerRepo(Protocol):
    def add(self, entry: LedgerEntry) -> None: ...
    def list(self, *, agreement_id: str | None = None,
             partner: str | None = None) -> list[LedgerEntry]: ...


class UserRepo(Protocol):
    def get(self, username: str) -> User | None: ...
    def list(self) -> list[User]: ...
    def add(self, user: User, password_hash: str | None) -> None:
        """Raises ``Conflict`` when the username exists."""
    def update(self, user: User) -> None: ...
    def password_hash(self, username: str) -> str | None: ...
    def set_password_hash(self, username: str, password_hash: str) -> None: ...


class TokenRepo(Protocol):
    def add(self, token: TokenRecord) -> None: ...
    def get(self, token_hash: str) -> TokenRecord | None: ...
    def revoke(self, token_hash: str) -> None: ...
    def list(self, username: str) -> list[TokenRecord]: ...


class AuditRepo(Protocol):
    def append(self, *, at: datetime, actor: str, action: str, subject: str,
               details: Mapping[str, Any]) -> AuditRecord:
        """Append the next record to the hash chain, serialised against concurrent
        writers (the chain head is locked for the rest of the transaction)."""
    def list(self, *, after_seq: int = -1, limit: int = 1000) -> list[AuditRecord]: ...
    def count(self) -> int: ...


class SettingRepo(Protocol):
    def get(self, key: str) -> str | None: ...
    def put(self, key: str, value: str) -> None: ...


class Conflict(Exception):
    """The record already exists (unique key)."""


class UnitOfWork(Protocol):
    @property
    def parties(self) -> PartyRepo: ...
    @property
    def agreements(self) -> AgreementRepo: ...
    @property
    def items(self) -> ItemRepo: ...
    @property
    def releases(self) -> ReleaseRepo: ...
    @property
    def consents(self) -> ConsentRepo: ...
    @property
    def ledger(self) -> LedgerRepo: ...
    @property
    def users(self) -> UserRepo: ...
    @property
    def tokens(self) -> TokenRepo: ...
    @property
    def audit(self) -> AuditRepo: ...
    @property
    def settings(self) -> SettingRepo: ...

    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Roll back unless ``commit`` was called."""
    def commit(self) -> None: ...
