"""The audit log and its checkpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from liaison.domain.audit import AuditRecord


class AuditRepo(Protocol):
    def append(self, *, at: datetime, actor: str, action: str, subject: str,
               details: Mapping[str, Any]) -> AuditRecord:
        """Append the next record to the hash chain, serialised against concurrent
        writers (the chain head is locked for the rest of the transaction)."""
    def list(self, *, after_seq: int = -1, limit: int = 1000) -> list[AuditRecord]: ...
    def count(self) -> int: ...


class CheckpointRepo(Protocol):
    """Audit checkpoints as rows: log_of, witness, size, root, head_hash, at, state,
    key_id, signature, reason, recorded_at."""

    def put(self, row: Mapping[str, Any]) -> None: ...
    def latest(self, log_of: str, witness: str,
               states: Sequence[str]) -> dict[str, Any] | None: ...
    def list(self, log_of: str | None = None) -> list[dict[str, Any]]: ...
