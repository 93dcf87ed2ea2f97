"""Search: a portion's compartments are keyed with "," and "\\" escaped in each name
(``domain.search.compartment_key``), so a compartment named "A,B" no longer matches the
set {A, B} (issue 18). Only rows of items with such a name change: the plain "A,B" form of
every other name is unchanged. The key is recomputed from the item's own labels.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
sp = sa.table("search_portions", sa.column("id", sa.BigInteger),
              sa.column("item_id", sa.String), sa.column("portion_id", sa.String),
              sa.column("compartments", sa.String))
items = sa.table("items", sa.column("id", sa.String), sa.column("data", JSON))


def _key(names: list[str]) -> str:  # as domain.search.compartment_key at this revision
    return ",".join(sorted(n.replace("\\", "\\\\").replace(",", "\\,") for n in names))


def _special(portion: dict[str, Any]) -> bool:
    names = (portion.get("label") or {}).get("compartments") or []
    return any("," in n or "\\" in n for n in names)


def upgrade() -> None:
    conn = op.get_bind()
    update = sp.update().where(sp.c.item_id == sa.bindparam("item"),
                               sp.c.portion_id == sa.bindparam("portion")).values(
        compartments=sa.bindparam("key"))
    rows = conn.execute(sa.select(items.c.id, items.c.data)
                        .execution_options(yield_per=5000))
    for batch in rows.partitions():
        changes = [{"item": r.id, "portion": p["id"],
                    "key": _key(p["label"]["compartments"])}
                   for r in batch for p in r.data.get("portions", []) if _special(p)]
        if changes:
            conn.execute(update, changes)


def downgrade() -> None:
    """The old key cannot tell "A,B" from {A, B}: rows are left as they are."""
