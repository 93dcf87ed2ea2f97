"""Twins of the ``records`` ports: the audit log and its checkpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from liaison.domain import audit as chain
from liaison.domain.audit import AuditRecord
from tests.twins.state import MemoryState


class MemoryAudit:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def append(self, *, at: datetime, actor: str, action: str, subject: str,
               details: Mapping[str, Any]) -> AuditRecord:
        head = self.s.audit[-1] if self.s.audit else None
        record = chain.append(head, at=at, actor=actor, action=action, subject=subject,
                              details=details)
        self.s.audit.append(record)
        return record

    def list(self, *, after_seq: int = -1, limit: int = 1000) -> list[AuditRecord]:
        return [r for r in self.s.audit if r.seq > after_seq][:limit]

    def count(self) -> int:
        return len(self.s.audit)


class MemoryCheckpoints:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def put(self, row: Mapping[str, Any]) -> None:
        self.s.checkpoints[(row["log_of"], row["witness"], row["size"])] = dict(row)

    def latest(self, log_of: str, witness: str,
               states: Sequence[str]) -> dict[str, Any] | None:
        rows = [r for (lo, w, _), r in sorted(self.s.checkpoints.items())
                if lo == log_of and w == witness and r["state"] in states]
        return dict(rows[-1]) if rows else None

    def list(self, log_of: str | None = None) -> list[dict[str, Any]]:
        return [dict(r) for k, r in sorted(self.s.checkpoints.items())
                if log_of is None or k[0] == log_of]
