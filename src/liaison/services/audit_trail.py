"""Appending to the audit log from a use case, and reading and verifying it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from liaison.domain.audit import AuditRecord, VerifyResult, verify_chain
from liaison.domain.users import Role, User
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.ports import UnitOfWork


def record(uow: UnitOfWork, deps: Deps, actor: str, action: str, subject: str,
           details: Mapping[str, Any]) -> AuditRecord:
    """Append one record in the caller's transaction: it commits or rolls back with the
    change it describes."""
    return uow.audit.append(at=deps.clock(), actor=actor, action=action, subject=subject,
                            details=details)


def read(deps: Deps, user: User, after_seq: int, limit: int) -> list[AuditRecord]:
    require(user, Role.ADMIN)
    with deps.uow() as uow:
        return uow.audit.list(after_seq=after_seq, limit=min(max(limit, 1), 1000))


def verify(deps: Deps, user: User) -> VerifyResult:
    """Re-hash the whole chain in pages; any altered, removed or reordered record shows."""
    require(user, Role.ADMIN)
    with deps.uow() as uow:
        records: list[AuditRecord] = []
        page = uow.audit.list(after_seq=-1, limit=5000)
        while page:
            records.extend(page)
            page = uow.audit.list(after_seq=page[-1].seq, limit=5000)
    return verify_chain(records)
