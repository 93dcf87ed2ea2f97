"""The hotline's transcript order as an index: a page of a long line (the watch page's
first page, "load older", the streamed transcript) reads an index range instead of sorting
every entry of the channel.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.create_index("ix_hotline_messages_transcript", "hotline_messages",
                    ["channel", "sent_at", "seq", "sender"])


def downgrade() -> None:
    op.drop_index("ix_hotline_messages_transcript", table_name="hotline_messages")
