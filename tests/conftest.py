"""Servers the suite needs, started by the suite itself unless given by environment:

- PostgreSQL: ``LIAISON_TEST_POSTGRES_URL`` (a server URL; each test gets its own fresh
  database in it), else a throw-away cluster started from the ``pgserver`` wheel's binaries.
"""

from __future__ import annotations

import os
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

USED: dict[str, str] = {}


def pytest_report_header(config: pytest.Config) -> str:
    given = os.environ.get("LIAISON_TEST_POSTGRES_URL")
    where = f"server from LIAISON_TEST_POSTGRES_URL ({_redact(given)})" if given else \
        "a throw-away cluster started on first use (pgserver binaries)"
    return f"liaison: PostgreSQL tests use {where}; SQLite tests use temporary files"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if USED:
        terminalreporter.write_line(f"liaison: PostgreSQL used: {USED['postgres']}")


def _redact(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A libpq URL of a PostgreSQL server the suite may create databases in."""
    given = os.environ.get("LIAISON_TEST_POSTGRES_URL")
    if given:
        USED["postgres"] = f"given server {_redact(given)}"
        yield given.replace("postgresql+psycopg://", "postgresql://")
        return
    yield from _throwaway_cluster()


def _throwaway_cluster() -> Iterator[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import pgserver
        except ImportError:
            pytest.skip("no PostgreSQL: install the dev extras (pgserver) or set "
                        "LIAISON_TEST_POSTGRES_URL=postgresql://user@host:port/db")
        data = Path(tempfile.mkdtemp(prefix="liaison-pg-"))
        server = pgserver.get_server(data, cleanup_mode="delete")
    uri: str = server.get_uri()
    USED["postgres"] = f"throw-away cluster (pgserver) at {data}"
    try:
        yield uri
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server.cleanup()


def _admin_dsn(server: str) -> str:
    parts = urlsplit(server)
    return urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))


@pytest.fixture
def postgres_db_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database for one test (SQLAlchemy URL); dropped afterwards."""
    name = f"liaison_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_dsn(postgres_server)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(postgres_server)
    url = urlunsplit(("postgresql+psycopg", parts.netloc, f"/{name}", parts.query, ""))
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
