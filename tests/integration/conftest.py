from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from liaison.config import Settings

from .node_fixtures import NodeUnderTest, start_node


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
