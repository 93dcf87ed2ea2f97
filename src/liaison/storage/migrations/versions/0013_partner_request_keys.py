"""Requests from partners are keyed by their sender: ``i:<sender>:<id>`` instead of
``i:<id>``, so that two partners' ids never collide (issue 17: a consent request from one
partner replaced another partner's RFI with the same id). Outgoing requests keep
``o:<id>``. The key column grows to 128 characters to hold the sender.

Downgrading puts the old keys back; it stops, changing nothing, if two partners' requests
share an id (the old keys cannot hold both).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
requests = sa.table("partner_requests", sa.column("id", sa.String),
                    sa.column("direction", sa.String), sa.column("party", sa.String))


def upgrade() -> None:
    with op.batch_alter_table("partner_requests") as batch:
        batch.alter_column("id", existing_type=sa.String(length=64),
                           type_=sa.String(length=128), existing_nullable=False)
    _rekey(lambda key, party: f"i:{party}:{key.split(':', 1)[1]}")


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(requests.c.id).where(
        requests.c.direction == "incoming")).all()
    old = [f"i:{r.id.split(':', 2)[2]}" for r in rows]
    if len(set(old)) != len(old):
        raise RuntimeError("partners' requests share ids: the keys of revision 0012 cannot "
                           "hold them all; downgrade refused")
    _rekey(lambda key, _party: f"i:{key.split(':', 2)[2]}")
    with op.batch_alter_table("partner_requests") as batch:
        batch.alter_column("id", existing_type=sa.String(length=128),
                           type_=sa.String(length=64), existing_nullable=False)


def _rekey(new_key: Callable[[str, str], str]) -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(requests.c.id, requests.c.party).where(
        requests.c.direction == "incoming")).all()
    for row in rows:
        key = new_key(row.id, row.party)
        conn.execute(requests.update().where(requests.c.id == row.id).values(id=key))
