"""What partners sent that this node refused, with its reason (issue 17: "a refused message
changes nothing ... and is shown to our administrators"). The partner got the same reason in
its signed receipt; each refusal is also in the audit log (``envelope.received``)."""

from __future__ import annotations

from typing import Any

from liaison.domain.users import Role, User
from liaison.services.auth_roles import require
from liaison.services.context import Deps


def refused(deps: Deps, user: User, sender: str | None, limit: int) -> list[dict[str, Any]]:
    """Latest first; ``sender``: one partner only. The reason is the partner's message as
    refused here, shown as text (it quotes what the partner sent)."""
    require(user, Role.ADMIN, Role.RELEASE_OFFICER)
    with deps.uow() as uow:
        rows = uow.inbox.refused(sender, min(max(limit, 1), 1000))
    return [{"sender": r.sender, "id": r.message_id, "seq": r.seq, "kind": r.kind,
             "envelope_id": r.envelope_id, "received_at": r.received_at.isoformat(),
             "reason": r.reason} for r in rows]
