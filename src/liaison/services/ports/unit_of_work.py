"""The unit of work that hands out every repository in one transaction."""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType
from typing import Protocol, Self

from liaison.services.ports.conversations import HotlineRepo, TalksRepo
from liaison.services.ports.coordination import LeaseRepo, SettingRepo
from liaison.services.ports.holdings import BlobRepo, ItemRepo, SearchRepo
from liaison.services.ports.interop import TaxiiRepo
from liaison.services.ports.partners import InboxRepo, OutboxRepo, PeerRepo, RequestRepo
from liaison.services.ports.people import TokenRepo, UserRepo
from liaison.services.ports.records import AuditRepo, CheckpointRepo
from liaison.services.ports.sharing import (
    AgreementRepo,
    ConsentRepo,
    LedgerRepo,
    PartyRepo,
    ReleaseRepo,
)
from liaison.services.ports.tracks import TrackRepo


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
    @property
    def peers(self) -> PeerRepo: ...
    @property
    def outbox(self) -> OutboxRepo: ...
    @property
    def inbox(self) -> InboxRepo: ...
    @property
    def requests(self) -> RequestRepo: ...
    @property
    def hotline(self) -> HotlineRepo: ...
    @property
    def tracks(self) -> TrackRepo: ...
    @property
    def search(self) -> SearchRepo: ...
    @property
    def taxii(self) -> TaxiiRepo: ...
    @property
    def blobs(self) -> BlobRepo: ...
    @property
    def talks(self) -> TalksRepo: ...
    @property
    def leases(self) -> LeaseRepo: ...
    @property
    def checkpoints(self) -> CheckpointRepo: ...

    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Roll back unless ``commit`` was called."""
    def commit(self) -> None: ...
    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction: an exception leaving the block undoes the block's work
        (and only it) and propagates; the unit of work stays usable."""
