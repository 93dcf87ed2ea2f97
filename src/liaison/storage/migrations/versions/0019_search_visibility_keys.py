"""Search: SQLite's full-text index keeps each word behind its portion's visibility key, so
a search reads only the postings of what the user may see (``domain.search``).

Adds ``search_classes`` (the classes present, by key) and rewrites every ``search_text``
body with its words keyed (SQLite: the update trigger of 0012 keeps FTS5 in step;
PostgreSQL: the generated ``tsv`` column follows).

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
WORD = re.compile(r"[^\W_]+")  # as domain.search stood at this revision
sp = sa.table("search_portions", sa.column("id", sa.BigInteger), sa.column("rank", sa.Integer),
              sa.column("compartments", sa.String))
st = sa.table("search_text", sa.column("id", sa.BigInteger), sa.column("body", sa.Text))


def _key(rank: int, compartments: str) -> str:
    return f"v{rank:02d}" + hashlib.sha256(compartments.encode()).hexdigest()[:12]


def _fold(word: str) -> str:
    return unicodedata.normalize("NFKC", word).lower()


def _keyed(body: str, key: str) -> str:
    return WORD.sub(lambda m: key + _fold(m.group()), body)


def upgrade() -> None:
    classes = op.create_table(
        "search_classes",
        sa.Column("key", sa.String(16), primary_key=True),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("compartments", sa.String(512), nullable=False))
    conn = op.get_bind()
    present = conn.execute(sa.select(sp.c.rank, sp.c.compartments).distinct()).all()
    if present:
        op.bulk_insert(classes, [{"key": _key(r.rank, r.compartments), "rank": r.rank,
                                  "compartments": r.compartments} for r in present])
    rows = conn.execute(sa.select(st.c.id, st.c.body, sp.c.rank, sp.c.compartments)
                        .join(sp, sp.c.id == st.c.id)).all()
    update = st.update().where(st.c.id == sa.bindparam("row")).values(
        body=sa.bindparam("keyed"))
    for start in range(0, len(rows), 5000):
        conn.execute(update, [{"row": r.id, "keyed": _keyed(r.body, _key(r.rank,
                                                                          r.compartments))}
                              for r in rows[start:start + 5000]])


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(st.c.id, st.c.body)).all()
    plain = re.compile(r"\bv\d\d[0-9a-f]{12}")
    for r in rows:
        conn.execute(st.update().where(st.c.id == r.id).values(body=plain.sub("", r.body)))
    op.drop_table("search_classes")
