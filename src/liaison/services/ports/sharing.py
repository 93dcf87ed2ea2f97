"""Parties, agreements, release requests, originators' consents and the reciprocity ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from liaison.domain.agreements import Agreement
from liaison.domain.labels import Party
from liaison.domain.ledger import LedgerEntry
from liaison.domain.release_facts import Consent
from liaison.domain.review import ReleaseRequest


class PartyRepo(Protocol):
    def get(self, code: str) -> Party | None: ...
    def list(self) -> list[Party]: ...
    def put(self, party: Party) -> None: ...


class AgreementRepo(Protocol):
    def get(self, agreement_id: str) -> Agreement | None: ...
    def list(self) -> list[Agreement]: ...
    def put(self, agreement: Agreement) -> None: ...


class ReleaseRepo(Protocol):
    def get(self, request_id: str) -> ReleaseRequest | None: ...
    def add(self, request: ReleaseRequest) -> None: ...
    def update(self, request: ReleaseRequest) -> None: ...
    def list(self, *, state: str | None, limit: int, offset: int) -> list[ReleaseRequest]: ...


@dataclass(frozen=True, slots=True)
class StoredConsent:
    id: str
    consent: Consent
    recorded_by: str
    recorded_at: datetime


class ConsentRepo(Protocol):
    def add(self, stored: StoredConsent) -> None: ...
    def list(self) -> list[StoredConsent]: ...


class LedgerRepo(Protocol):
    def add(self, entry: LedgerEntry) -> None: ...
    def list(self, *, agreement_id: str | None = None,
             partner: str | None = None) -> list[LedgerEntry]: ...
