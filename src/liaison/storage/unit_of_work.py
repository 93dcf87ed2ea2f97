"""One transaction, the repositories over it; rolled back unless committed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self

import sqlalchemy as sa

from liaison.storage.blob_repos import SqlBlobs
from liaison.storage.checkpoint_repos import SqlCheckpoints
from liaison.storage.federation_repos import SqlInbox, SqlOutbox, SqlPeers, SqlRequests
from liaison.storage.hotline_repos import SqlHotline
from liaison.storage.lease_repos import SqlLeases
from liaison.storage.people import SqlAudit, SqlSettings, SqlTokens, SqlUsers
from liaison.storage.repositories import (
    PartyCache,
    SqlAgreements,
    SqlConsents,
    SqlItems,
    SqlLedger,
    SqlParties,
    SqlReleases,
)
from liaison.storage.search_repos import SqlSearch
from liaison.storage.talks_repos import SqlTalks
from liaison.storage.taxii_repos import SqlTaxii
from liaison.storage.track_repos import SqlTracks


class SqlUnitOfWork:
    """``with SqlUnitOfWork(engine) as u:`` opens a connection and a transaction (on SQLite
    ``BEGIN IMMEDIATE``: writers queue here); ``u.commit()`` makes the work visible;
    leaving the block without it rolls everything back. One use per instance."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._committed = False

    def __enter__(self) -> Self:
        self.conn = self.engine.connect()
        self.tx = self.conn.begin()
        self._repositories()
        return self

    def _repositories(self) -> None:
        self.parties = SqlParties(self.conn)
        cache = PartyCache(self.parties)
        self.agreements = SqlAgreements(self.conn, cache)
        self.items = SqlItems(self.conn, cache)
        self.releases = SqlReleases(self.conn)
        self.consents = SqlConsents(self.conn)
        self.ledger = SqlLedger(self.conn)
        self.users = SqlUsers(self.conn)
        self.tokens = SqlTokens(self.conn)
        self.audit = SqlAudit(self.conn)
        self.settings = SqlSettings(self.conn)
        self.peers = SqlPeers(self.conn)
        self.outbox = SqlOutbox(self.conn)
        self.inbox = SqlInbox(self.conn)
        self.requests = SqlRequests(self.conn)
        self.hotline = SqlHotline(self.conn)
        self.tracks = SqlTracks(self.conn)
        self.search = SqlSearch(self.conn)
        self.taxii = SqlTaxii(self.conn)
        self.blobs = SqlBlobs(self.conn)
        self.talks = SqlTalks(self.conn)
        self.leases = SqlLeases(self.conn)
        self.checkpoints = SqlCheckpoints(self.conn)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """SAVEPOINT … RELEASE, or ROLLBACK TO on an exception. The repositories' caches
        (the audit chain's head, agreements, parties) may hold what was rolled back, so
        they are made afresh over the same transaction."""
        nested = self.conn.begin_nested()
        try:
            yield
        except BaseException:
            nested.rollback()
            self._repositories()
            raise
        nested.commit()

    def commit(self) -> None:
        self.tx.commit()
        self._committed = True

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if not self._committed and self.tx.is_active:
                self.tx.rollback()
        finally:
            self.conn.close()


def uow_factory(engine: sa.Engine) -> Callable[[], SqlUnitOfWork]:
    """What the services take as ``Deps.uow``: a fresh unit of work per call."""
    return lambda: SqlUnitOfWork(engine)
