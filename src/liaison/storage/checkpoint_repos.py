"""Countersigned audit checkpoints, as plain rows (``services.checkpoints`` reads them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from liaison.storage import tables as t

_C = t.audit_checkpoints.c


class SqlCheckpoints:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def put(self, row: Mapping[str, Any]) -> None:
        """Insert, or replace the row for the same log, witness and size."""
        key = (_C.log_of == row["log_of"], _C.witness == row["witness"],
               _C.size == row["size"])
        self.conn.execute(t.audit_checkpoints.delete().where(*key))
        self.conn.execute(t.audit_checkpoints.insert().values(**row))

    def latest(self, log_of: str, witness: str,
               states: Sequence[str]) -> dict[str, Any] | None:
        row = self.conn.execute(sa.select(t.audit_checkpoints).where(
            _C.log_of == log_of, _C.witness == witness, _C.state.in_(list(states)))
            .order_by(_C.size.desc()).limit(1)).first()
        return dict(row._mapping) if row else None

    def list(self, log_of: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(t.audit_checkpoints).order_by(_C.log_of, _C.witness, _C.size)
        if log_of:
            query = query.where(_C.log_of == log_of)
        return [dict(r._mapping) for r in self.conn.execute(query)]
