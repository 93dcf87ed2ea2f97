"""Who uploaded each attachment's content: an item may refer only to a file its author
uploaded (the first uploader was all the blob record kept). Existing records count as
uploaded by the user who created them.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "blob_uploads",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", "uploaded_by"),
    )
    op.execute("INSERT INTO blob_uploads (sha256, uploaded_by, uploaded_at) "
               "SELECT sha256, created_by, MIN(created_at) FROM blobs "
               "GROUP BY sha256, created_by")


def downgrade() -> None:
    op.drop_table("blob_uploads")
