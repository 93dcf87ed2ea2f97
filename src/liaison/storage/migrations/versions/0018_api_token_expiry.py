"""API tokens expire (issue 18: they never did). Tokens made before this revision without
an expiry are given one: 90 days (the default ``api_token_days``) from the upgrade.
Revoked tokens are left as they are. A downgrade keeps the expiries (an older node
honours them too).

Revision ID: 0018
Revises: 0015
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from liaison.storage.tables import UtcDateTime

revision = "0018"
down_revision = "0015"
LEGACY_DAYS = 90
tokens = sa.table("tokens", sa.column("kind", sa.String), sa.column("revoked", sa.Boolean),
                  sa.column("expires_at", UtcDateTime()))


def upgrade() -> None:
    until = datetime.now(UTC) + timedelta(days=LEGACY_DAYS)
    op.get_bind().execute(tokens.update()
                          .where(tokens.c.kind == "api", tokens.c.expires_at.is_(None),
                                 tokens.c.revoked.is_(False))
                          .values(expires_at=until))


def downgrade() -> None:
    """Nothing to undo: the expiries stay."""
