"""Migration 0015 re-keys the search rows of portions whose compartment names hold "," or
"\\" (issue 18), on a real SQLite file migrated to 0014 first; other rows are untouched."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from liaison.storage import tables as t
from liaison.storage.engine import make_engine
from liaison.storage.schema import alembic_config


def _portion(pid: str, comps: list[str]) -> dict[str, object]:
    return {"id": pid, "content": "x", "label": {"compartments": comps}}


def test_rows_of_names_with_a_comma_are_rekeyed(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'node.db'}")
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0014")
    with engine.begin() as conn:
        conn.execute(t.items.insert().values(
            id="RC", data={"portions": [_portion("p1", ["X,Y"]), _portion("p2", ["X", "Y"])]},
            created_by="kim", created_at=datetime(2026, 1, 1, tzinfo=UTC), min_rank=0,
            topic="DPRK", discipline="HUMINT", originator="KOR"))
        for i, (pid, key) in enumerate((("p1", "X,Y"), ("p2", "X,Y"))):
            conn.execute(t.search_portions.insert().values(
                id=i, item_id="RC", portion_id=pid, rank=0, compartments=key, topic="",
                discipline="HUMINT", source="KOR", reported_us=0))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0015")
    with engine.connect() as conn:
        keys = dict(conn.execute(sa.select(t.search_portions.c.portion_id,
                                           t.search_portions.c.compartments)).all())
    assert keys == {"p1": "X\\,Y", "p2": "X,Y"}
    engine.dispose()
