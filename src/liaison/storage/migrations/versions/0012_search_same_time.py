"""Search: any number of items with the same report time. Index rows keep the exact report
time (``reported_us``, microseconds since 1970) with an index on ``(reported_us, id)``, ids
may spill past a millisecond's 2,048 numbers (``domain.search``), and renumbered rows keep
SQLite's FTS5 table in step through an update trigger.

Existing rows are renumbered as the new code numbers them: in report-time order to the
microsecond (ties: the order they were indexed), each item at its millisecond's base or just
above the item before it. Only rows whose number changes are written. An index row whose
item is missing keeps the millisecond its old id encodes.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
PORTION_BITS, SAME_MS_BITS = 10, 11  # as domain.search stood at this revision
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SQLITE_UPDATE_TRIGGER = (
    "CREATE TRIGGER search_text_au AFTER UPDATE ON search_text BEGIN "
    "INSERT INTO search_fts(search_fts, rowid, body) VALUES ('delete', old.id, old.body); "
    "INSERT INTO search_fts(rowid, body) VALUES (new.id, new.body); END")
sp = sa.table("search_portions", sa.column("id", sa.BigInteger),
              sa.column("item_id", sa.String), sa.column("reported_us", sa.BigInteger))
st = sa.table("search_text", sa.column("id", sa.BigInteger))
items = sa.table("items", sa.column("id", sa.String), sa.column("data", JSON))


def upgrade() -> None:
    conn = op.get_bind()
    op.add_column("search_portions", sa.Column("reported_us", sa.BigInteger(), nullable=True))
    _fill_report_times(conn)
    with op.batch_alter_table("search_portions") as batch:
        batch.alter_column("reported_us", existing_type=sa.BigInteger(), nullable=False)
    op.create_index("ix_search_portions_reported", "search_portions", ["reported_us", "id"])
    if conn.dialect.name == "sqlite":
        op.execute(SQLITE_UPDATE_TRIGGER)
    _renumber(conn, _new_numbers(conn))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER search_text_au")
    op.drop_index("ix_search_portions_reported", table_name="search_portions")
    with op.batch_alter_table("search_portions") as batch:
        batch.drop_column("reported_us")


def _micros(text: str) -> int:
    at = datetime.fromisoformat(text)
    return (at.replace(tzinfo=at.tzinfo or UTC) - EPOCH) // timedelta(microseconds=1)


def _fill_report_times(conn: sa.Connection) -> None:
    indexed = sa.select(sp.c.item_id).distinct().scalar_subquery()
    rows = conn.execute(sa.select(items.c.id, items.c.data).where(items.c.id.in_(indexed))
                        .execution_options(yield_per=5000))
    update = sp.update().where(sp.c.item_id == sa.bindparam("item")).values(
        reported_us=sa.bindparam("at"))
    for batch in rows.partitions():
        conn.execute(update, [{"item": r.id, "at": _micros(r.data["reported_at"])}
                              for r in batch])
    orphans = conn.execute(sa.select(sp.c.id).where(sp.c.reported_us.is_(None))).scalars()
    if rest := [{"row": i, "at": (i >> (PORTION_BITS + SAME_MS_BITS)) * 1000}
                for i in orphans.all()]:
        conn.execute(sp.update().where(sp.c.id == sa.bindparam("row")).values(
            reported_us=sa.bindparam("at")), rest)


def _new_numbers(conn: sa.Connection) -> dict[int, int]:
    """Old item number → new, for the items whose number changes."""
    changes: dict[int, int] = {}
    rows = conn.execute(sa.select(sp.c.id, sp.c.reported_us).order_by(
        sp.c.reported_us, sp.c.id).execution_options(yield_per=10_000))
    last_old, last_new = -1, -1
    for row_id, at in rows:
        old = row_id >> PORTION_BITS
        if old == last_old:
            continue
        new = max(max(0, at // 1000) << SAME_MS_BITS, last_new + 1)
        if new != old:
            changes[old] = new
        last_old, last_new = old, new
    return changes


def _renumber(conn: sa.Connection, changes: dict[int, int]) -> None:
    """Through negative numbers first (row ``new << 10 | p`` is parked at
    ``p - ((new + 1) << 10)``), so that no two rows ever share an id."""
    if not changes:
        return
    for table in (sp, st):
        step = table.update().where(
            table.c.id >= sa.bindparam("lo"), table.c.id < sa.bindparam("hi")).values(
            id=table.c.id + sa.bindparam("delta"))
        conn.execute(step, [{"lo": old << PORTION_BITS, "hi": (old + 1) << PORTION_BITS,
                             "delta": -((old + new + 1) << PORTION_BITS)}
                            for old, new in changes.items()])
        conn.execute(step, [{"lo": -((new + 1) << PORTION_BITS),
                             "hi": -(new << PORTION_BITS),
                             "delta": (2 * new + 1) << PORTION_BITS}
                            for new in changes.values()])
