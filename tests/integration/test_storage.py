"""Storage on SQLite and PostgreSQL: migrations, settings, concurrency of the audit chain."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from liaison.bootstrap import open_storage
from liaison.config import Settings
from liaison.domain.audit import verify_chain
from liaison.services.ports import Conflict
from liaison.storage.tables import metadata
from liaison.storage.unit_of_work import SqlUnitOfWork


def test_migrations_match_the_tables(node_settings: Settings) -> None:
    engine, _ = open_storage(node_settings)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_sqlite_is_wal_and_synchronous_full(tmp_path: object) -> None:
    engine, _ = open_storage(Settings(data_dir=tmp_path / "n"))  # type: ignore[operator]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    engine.dispose()


def test_uncommitted_work_is_rolled_back_and_conflicts_are_reported(
        node_settings: Settings) -> None:
    engine, uow = open_storage(node_settings)
    with uow() as u:
        u.settings.put("a", "1")
    with uow() as u:
        assert u.settings.get("a") is None
        u.audit.append(at=datetime.now(UTC), actor="t", action="x", subject="s", details={})
        u.commit()
    from liaison.domain.labels import Clearance
    from liaison.domain.users import Role, User

    user = User("kim", "", frozenset({Role.ANALYST}), Clearance(1))
    with uow() as u:
        u.users.add(user, None)
        with pytest.raises(Conflict, match="kim"):
            u.users.add(user, None)
        u.commit()
    engine.dispose()


def test_concurrent_audit_appends_keep_one_chain(node_settings: Settings) -> None:
    """Writers serialise on the chain head: 4 threads x 25 appends, one unbroken chain."""
    engine, _ = open_storage(node_settings)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for i in range(25):
                with SqlUnitOfWork(engine) as u:
                    u.audit.append(at=datetime.now(UTC), actor=name, action="x",
                                   subject=f"s{i}", details={"i": i})
                    u.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with SqlUnitOfWork(engine) as u:
        records = u.audit.list(limit=1000)
    engine.dispose()
    assert len(records) == 100
    assert verify_chain(records).ok
