"""Records of attachments in the blob store, and who uploaded each content."""

from __future__ import annotations

import sqlalchemy as sa

from liaison.services.ports import BlobRecord
from liaison.storage import tables as t


class SqlBlobs:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, record: BlobRecord) -> None:
        if self.by_sha256(record.sha256) is None:
            self.conn.execute(t.blobs.insert().values(
                address=record.address, sha256=record.sha256, size=record.size,
                media_type=record.media_type, created_by=record.created_by,
                created_at=record.created_at))
        up = t.blob_uploads
        if self.conn.execute(sa.select(up.c.sha256).where(
                up.c.sha256 == record.sha256, up.c.uploaded_by == record.created_by)
                ).first() is None:
            self.conn.execute(up.insert().values(sha256=record.sha256,
                                                 uploaded_by=record.created_by,
                                                 uploaded_at=record.created_at))

    def by_sha256(self, sha256: str) -> BlobRecord | None:
        row = self.conn.execute(sa.select(t.blobs).where(t.blobs.c.sha256 == sha256)
                                .limit(1)).first()
        return BlobRecord(row.address, row.sha256, row.size, row.media_type, row.created_by,
                          row.created_at) if row else None

    def uploaded_by(self, sha256: str, username: str) -> BlobRecord | None:
        up = t.blob_uploads
        row = self.conn.execute(
            sa.select(t.blobs).join(up, up.c.sha256 == t.blobs.c.sha256)
            .where(up.c.sha256 == sha256, up.c.uploaded_by == username).limit(1)).first()
        return BlobRecord(row.address, row.sha256, row.size, row.media_type, row.created_by,
                          row.created_at) if row else None
