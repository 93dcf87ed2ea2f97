"""Twins of the ``sharing`` ports: parties, agreements, releases, consents, ledger."""

from __future__ import annotations

from liaison.domain.agreements import Agreement
from liaison.domain.labels import Party
from liaison.domain.ledger import LedgerEntry
from liaison.domain.review import ReleaseRequest
from liaison.services.ports.sharing import StoredConsent
from tests.twins.state import MemoryState, insert_new


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


class MemoryReleases:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def get(self, request_id: str) -> ReleaseRequest | None:
        return self.s.releases.get(request_id)

    def add(self, request: ReleaseRequest) -> None:
        insert_new(self.s.releases, request.id, request, f"release request {request.id}")

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
        insert_new(self.s.consents, stored.id, stored, f"consent {stored.id}")

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
