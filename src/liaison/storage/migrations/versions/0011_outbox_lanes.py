"""Outbox lanes: each partner's queue is read per lane (flash, urgent, routine) so that a
FLASH never waits behind a backlog of releases; a message the partner failed to apply keeps
its last error and when it is offered again; each lane's failures, last error, last
delivery and stuck state are kept for operators. Existing messages get their lane from
their kind (``domain.lanes.KIND_LANES`` as it stood at this revision, copied here so that
the migration does not change when the table does).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
ROUTINE = "routine"
LANES_AT_0011 = {"flash": ["hotline", "hotline_ack", "hotline_reopen", "hotline_sever"],
                 "urgent": ["consent_answer", "consent_request", "note", "talks",
                            "talks_live", "talks_minutes"]}


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("lane", sa.String(length=8), nullable=False,
                                   server_default=ROUTINE))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))
    outbox = sa.table("outbox", sa.column("kind", sa.String), sa.column("lane", sa.String))
    for lane, kinds in LANES_AT_0011.items():
        op.execute(outbox.update().where(outbox.c.kind.in_(kinds)).values(lane=lane))
    op.create_index("ix_outbox_peer_lane_state_seq", "outbox",
                    ["peer", "lane", "state", "seq"])
    op.create_table(
        "outbox_lanes",
        sa.Column("peer", sa.String(length=3), nullable=False),
        sa.Column("lane", sa.String(length=8), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_delivery_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stuck_since", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("peer", "lane"),
    )


def downgrade() -> None:
    op.drop_table("outbox_lanes")
    op.drop_index("ix_outbox_peer_lane_state_seq", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("retry_at")
        batch.drop_column("last_error")
        batch.drop_column("lane")
