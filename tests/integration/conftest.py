from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from liaison.config import Settings

from . import processes
from .node_fixtures import NodeUnderTest, start_node

STACK_ENV = "LIAISON_TEST_STACK"


@pytest.fixture(autouse=True, scope="session")
def process_stack(request: pytest.FixtureRequest) -> Iterator[None]:
    """With ``LIAISON_TEST_STACK=postgres-nats``, node processes run on PostgreSQL and NATS
    JetStream instead of SQLite and the in-process bus (``make test-scale``)."""
    stack = os.environ.get(STACK_ENV, "")
    if stack not in ("", "embedded", "postgres-nats"):
        pytest.fail(f"{STACK_ENV}={stack!r}: use 'embedded' or 'postgres-nats'", pytrace=False)
    if stack == "postgres-nats":
        processes.STACK.update(postgres=request.getfixturevalue("postgres_server"),
                               nats=request.getfixturevalue("nats_url"))
    yield
    processes.STACK.clear()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def node_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The same tests on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        return Settings(data_dir=tmp_path / "node")
    url = request.getfixturevalue("postgres_db_url")
    return Settings(data_dir=tmp_path / "node", database_url=url)


@pytest.fixture
def kor(node_settings: Settings) -> Iterator[NodeUnderTest]:
    yield from start_node(node_settings)
