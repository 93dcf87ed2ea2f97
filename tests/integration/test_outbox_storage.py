"""Outbox lanes and savepoints in storage, on SQLite, PostgreSQL and the in-memory twin:
pending reads per lane (not those waiting for a retry), lane states, the stuck mark set
once, a savepoint that undoes only its block (the audit chain stays whole), and migration
0011 giving existing messages their lane."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from liaison.domain.audit import verify_chain
from liaison.services.ports import UnitOfWork
from liaison.storage import tables as t
from liaison.storage.engine import make_engine, sqlite_url_for
from liaison.storage.schema import alembic_config, migrate
from liaison.storage.unit_of_work import SqlUnitOfWork, uow_factory
from tests.twins import MemoryState, MemoryUnitOfWork

UowFactory = Callable[[], UnitOfWork]
POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres)
NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


def _url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "sqlite":
        return sqlite_url_for(tmp_path)
    url: str = request.getfixturevalue("postgres_db_url")
    return url


@pytest.fixture(params=["memory", "sqlite", POSTGRES])
def uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UowFactory]:
    if request.param == "memory":
        state = MemoryState()
        yield lambda: MemoryUnitOfWork(state)
        return
    eng = make_engine(_url(request.param, request, tmp_path))
    migrate(eng)
    yield uow_factory(eng)
    eng.dispose()


@pytest.fixture(params=["sqlite", POSTGRES])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    eng = make_engine(_url(request.param, request, tmp_path))
    yield eng
    eng.dispose()


def test_pending_per_lane_skips_messages_waiting_for_a_retry(uow: UowFactory) -> None:
    with uow() as u:
        for i, kind in enumerate(["release", "hotline", "release", "note", "hotline_ack"]):
            u.outbox.enqueue(message_id=f"m{i}", peer="JPN", kind=kind, payload={"i": i},
                             at=NOW + timedelta(seconds=i))
        u.commit()
    with uow() as u:
        assert [m.id for m in u.outbox.pending("JPN", 10, "flash")] == ["m1", "m4"]
        assert [m.id for m in u.outbox.pending("JPN", 10, "routine")] == ["m0", "m2"]
        assert [m.lane for m in u.outbox.pending("JPN", 10)] == [
            "routine", "flash", "routine", "urgent", "flash"]
        assert u.outbox.lanes_with_pending() == [("JPN", "flash"), ("JPN", "urgent"),
                                                 ("JPN", "routine")]
        u.outbox.retry("m0", "internal error at JPN (IntegrityError)", NOW,
                       NOW + timedelta(seconds=5))
        u.commit()
    with uow() as u:
        assert [m.id for m in u.outbox.pending("JPN", 10, "routine", NOW)] == ["m2"]
        later = u.outbox.pending("JPN", 10, "routine", NOW + timedelta(seconds=5))
        assert [(m.id, m.attempts, m.last_error) for m in later] == [
            ("m0", 1, "internal error at JPN (IntegrityError)"), ("m2", 0, "")]
        u.outbox.settle("m2", "refused", NOW, {"reason": "no agreement"})
        u.commit()
    with uow() as u:
        assert [(m.id, (m.receipt or {})["reason"]) for m in u.outbox.refused("JPN", 5)] == [
            ("m2", "no agreement")]
        assert u.outbox.refused("USA", 5) == []


def test_lane_states_and_the_stuck_mark(uow: UowFactory) -> None:
    with uow() as u:
        u.outbox.enqueue(message_id="m1", peer="JPN", kind="release", payload={}, at=NOW)
        u.outbox.enqueue(message_id="m2", peer="JPN", kind="release", payload={},
                         at=NOW + timedelta(seconds=1))
        u.outbox.note_attempt("JPN", "routine", NOW, "ConnectError: refused")
        u.outbox.note_attempt("JPN", "routine", NOW + timedelta(seconds=2), "ReadTimeout")
        u.outbox.note_attempt("JPN", "flash", NOW, None)
        u.commit()
    with uow() as u:
        lanes = {s.lane: s for s in u.outbox.lanes()}
        routine = lanes["routine"]
        assert (routine.pending, routine.failures, routine.last_error) == (2, 2, "ReadTimeout")
        assert routine.oldest_pending_at == NOW
        assert routine.last_error_at == NOW + timedelta(seconds=2)
        assert routine.last_delivery_at is None
        assert (lanes["flash"].pending, lanes["flash"].last_delivery_at) == (0, NOW)
        assert u.outbox.mark_stuck("JPN", "routine", NOW) is True
        assert u.outbox.mark_stuck("JPN", "routine", NOW) is False
        u.commit()
    with uow() as u:
        assert {s.lane: s.stuck_since for s in u.outbox.lanes()}["routine"] == NOW
        assert u.outbox.mark_stuck("JPN", "routine", None) is True
        assert u.outbox.mark_stuck("JPN", "routine", None) is False
        u.outbox.note_attempt("JPN", "routine", NOW + timedelta(seconds=3), None)
        u.commit()
    with uow() as u:
        routine = {s.lane: s for s in u.outbox.lanes()}["routine"]
        assert (routine.failures, routine.last_error) == (0, "ReadTimeout")  # kept
        assert routine.last_delivery_at == NOW + timedelta(seconds=3)


def test_a_savepoint_undoes_only_its_block_and_the_audit_chain_stays_whole(
        uow: UowFactory) -> None:
    with uow() as u:
        u.audit.append(at=NOW, actor="t", action="before", subject="s", details={})
        with contextlib.suppress(RuntimeError), u.savepoint():
            u.audit.append(at=NOW, actor="t", action="undone", subject="s", details={})
            u.outbox.enqueue(message_id="gone", peer="JPN", kind="release", payload={},
                             at=NOW)
            raise RuntimeError("an applier failed")
        with u.savepoint():
            u.outbox.enqueue(message_id="kept", peer="JPN", kind="release", payload={},
                             at=NOW)
        u.audit.append(at=NOW, actor="t", action="after", subject="s", details={})
        u.commit()
    with uow() as u:
        records = u.audit.list()
        assert [r.action for r in records] == ["before", "after"]
        assert verify_chain(records).ok
        assert [m.id for m in u.outbox.pending("JPN", 10)] == ["kept"]


def test_a_database_error_inside_a_savepoint_leaves_the_transaction_usable(
        engine: sa.Engine) -> None:
    """On PostgreSQL an error aborts the whole transaction unless a savepoint catches it."""
    migrate(engine)
    with SqlUnitOfWork(engine) as u:
        u.outbox.enqueue(message_id="m1", peer="JPN", kind="release", payload={}, at=NOW)
        with pytest.raises(sa.exc.IntegrityError), u.savepoint():
            u.conn.execute(t.outbox.insert(), {
                "id": "m1", "peer": "JPN", "seq": 9, "kind": "release", "payload": {},
                "created_at": NOW, "state": "pending", "attempts": 0, "lane": "routine"})
        u.outbox.enqueue(message_id="m2", peer="JPN", kind="release", payload={}, at=NOW)
        u.commit()
    with SqlUnitOfWork(engine) as u:
        assert [m.id for m in u.outbox.pending("JPN", 10)] == ["m1", "m2"]


def test_migration_0011_gives_existing_messages_their_lane(engine: sa.Engine) -> None:
    cfg = alembic_config()

    def to(revision: str, down: bool = False) -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(cfg, revision)

    to("0010")
    with engine.begin() as conn:
        for seq, kind in enumerate(["hotline", "release", "note", "talks_live", "rfi"], 1):
            conn.execute(sa.text(
                "INSERT INTO outbox (id, peer, seq, kind, payload, created_at, state, "
                "attempts) VALUES (:id, 'JPN', :seq, :kind, '{}', :at, 'pending', 0)"),
                {"id": f"m{seq}", "seq": seq, "kind": kind, "at": NOW})
    to("0011")
    with engine.begin() as conn:
        lanes = [tuple(r) for r in conn.execute(sa.text(
            "SELECT kind, lane FROM outbox ORDER BY seq"))]
    assert lanes == [("hotline", "flash"), ("release", "routine"), ("note", "urgent"),
                     ("talks_live", "urgent"), ("rfi", "routine")]
    to("0010", down=True)
    to("0011")
