"""The in-memory unit of work: the same contract as the SQL one."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self

from liaison.services.ports.unit_of_work import UnitOfWork
from tests.twins.conversations import MemoryHotline, MemoryTalks
from tests.twins.coordination import MemoryLeases, MemorySettings
from tests.twins.holdings import MemoryBlobs, MemoryItems, MemorySearch
from tests.twins.interop import MemoryTaxii
from tests.twins.partners import MemoryInbox, MemoryOutbox, MemoryPeers, MemoryRequests
from tests.twins.people import MemoryTokens, MemoryUsers
from tests.twins.records import MemoryAudit, MemoryCheckpoints
from tests.twins.sharing import (
    MemoryAgreements,
    MemoryConsents,
    MemoryLedger,
    MemoryParties,
    MemoryReleases,
)
from tests.twins.state import MemoryState
from tests.twins.tracks import MemoryTracks


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


def as_unit_of_work(shared: MemoryState) -> UnitOfWork:
    """The twin where the use cases expect a unit of work: mypy checks here that it offers
    every repository of the port, with the same signatures."""
    return MemoryUnitOfWork(shared)
