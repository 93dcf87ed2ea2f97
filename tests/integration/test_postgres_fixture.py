"""The PostgreSQL fixtures give reachable, empty, isolated databases."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def _scalar(url: str, query: str) -> Any:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(query)).scalar_one()
    finally:
        engine.dispose()


def test_session_database_answers_and_is_empty(postgres_url: str) -> None:
    assert make_url(postgres_url).drivername == "postgresql+psycopg"
    assert _scalar(postgres_url, "SELECT 1") == 1
    assert _scalar(postgres_url, "SELECT current_database()").startswith("liaison_test_")
    tables = (
        "SELECT count(*) FROM pg_tables"
        " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    )
    assert _scalar(postgres_url, tables) == 0


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_its_own_database(postgres_db_url: str, postgres_url: str, run: int) -> None:
    assert postgres_db_url != postgres_url
    engine = create_engine(postgres_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE probe (id integer PRIMARY KEY, note text NOT NULL)"))
            conn.execute(text("INSERT INTO probe VALUES (:id, 'here')"), {"id": run})
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM probe")).scalars().all() == [run]
    finally:
        engine.dispose()


def test_tests_using_the_fixtures_are_marked_postgres(
    request: pytest.FixtureRequest, postgres_server: str
) -> None:
    assert request.node.get_closest_marker("postgres") is not None
