"""The UUIDv4 id a node serves for each STIX object it derives a key id for (report,
note, location, identity, marking-definition, grouping…), so a re-release keeps the id
and only ``modified`` moves.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"


def upgrade() -> None:
    op.create_table(
        "stix_ids",
        sa.Column("key_id", sa.String(length=128), nullable=False),
        sa.Column("stix_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
        sa.UniqueConstraint("stix_id"),
    )


def downgrade() -> None:
    op.drop_table("stix_ids")
