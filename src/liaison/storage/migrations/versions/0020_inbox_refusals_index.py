"""What partners sent that this node refused or failed to apply, latest first, as an index:
administrators list it (``liaison peer inbox``, the console's Outbox page) without scanning
every message ever received.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"


def upgrade() -> None:
    op.create_index("ix_inbox_outcome_received", "inbox", ["outcome", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_inbox_outcome_received", table_name="inbox")
