"""Migration 0013: requests from partners are keyed by their sender (issue 17)."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from liaison.storage.engine import make_engine
from liaison.storage.schema import alembic_config
from liaison.storage.unit_of_work import uow_factory
from tests.servers import fresh_database

POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres)
NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


def _migrate(eng: sa.Engine, revision: str, *, down: bool = False) -> None:
    cfg = alembic_config()
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


@pytest.mark.parametrize("backend", ["sqlite", POSTGRES])
def test_migration_0013_keys_incoming_requests_by_their_sender(
        backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    with ExitStack() as stack:
        url = (f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite" else
               stack.enter_context(fresh_database(request.getfixturevalue("postgres_server"))))
        eng = make_engine(url)
        stack.callback(eng.dispose)
        _migrate(eng, "0012")
        rows = [("o:q1", "rfi", "outgoing", "JPN"), ("i:q1", "rfi", "incoming", "JPN"),
                ("i:c7", "consent", "incoming", "USA")]
        with eng.begin() as conn:
            for key, kind, direction, party in rows:
                conn.execute(sa.text(
                    "INSERT INTO partner_requests (id, kind, direction, party, state, data, "
                    "created_at, updated_at) VALUES (:id, :kind, :direction, :party, 'open', "
                    "'{}', :at, :at)"), {"id": key, "kind": kind, "direction": direction,
                                         "party": party, "at": NOW})
        _migrate(eng, "head")
        with eng.connect() as conn:
            keys = sorted(r.id for r in conn.execute(sa.text("SELECT id FROM partner_requests")))
        assert keys == ["i:JPN:q1", "i:USA:c7", "o:q1"]
        with uow_factory(eng)() as u:
            got = u.requests.get("q1", "incoming", "JPN")
            assert got is not None and (got.id, got.party) == ("q1", "JPN")
            assert [r.party for r in u.requests.with_id("c7", "incoming")] == ["USA"]
            assert u.requests.get("q1", "outgoing") is not None
        _migrate(eng, "0012", down=True)
        with eng.connect() as conn:
            keys = sorted(r.id for r in conn.execute(sa.text("SELECT id FROM partner_requests")))
        assert keys == ["i:c7", "i:q1", "o:q1"]
