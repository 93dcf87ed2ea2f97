"""What every use case gets: a unit-of-work factory, a clock, an id source and the
node's own party. Built once in ``liaison.node.composition``; unit tests build it with
in-memory twins."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from liaison.domain.agreement_lifecycle import LifecycleRules
from liaison.services.ports import BlobPort, KeyRing, UnitOfWork


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Deps:
    uow: Callable[[], UnitOfWork]
    party: str  # the node's own party (ISO alpha-3)
    clock: Callable[[], datetime] = utc_now
    ids: Callable[[], str] = new_id
    rules: LifecycleRules = field(default_factory=LifecycleRules)
    session_hours: int = 8
    api_token_days: int = 90  # an API token's life when its maker names none
    api_token_max_days: int = 365  # the longest an API token may be made for
    keyring: KeyRing | None = None  # None: this node cannot federate (no keys)
    address: str = ""  # this node's federation URL, as partners reach it
    outbox_batch: int = 256
    outbox_failed_attempts: int = 3  # see ``Settings``
    outbox_retry_s: float = 5.0
    outbox_stuck_s: float = 300.0
    check_call_answer_s: int = 600
    publish: Callable[[str], None] = lambda _topic: None  # real-time bus: "hotline:<id>"
    blobs: BlobPort | None = None  # None: this node stores no attachments
    max_attachment: int = 256 * 1024 * 1024
    talks_relay: dict[str, Any] | None = None  # {"urls", "username", "credential"} or None
