"""Partner nodes and their cards, the outbox and inbox, requests, our keys, the transport."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from liaison.crypto.keys import Card


@dataclass(frozen=True)
class Peer:
    """A partner node: its address and the card verified against the fingerprint that was
    exchanged out of band."""

    party: str
    address: str
    fingerprint: str
    card: Card
    added_at: datetime


class PeerRepo(Protocol):
    def get(self, party: str) -> Peer | None: ...
    def list(self) -> list[Peer]: ...
    def put(self, peer: Peer) -> None: ...


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    peer: str
    seq: int  # order per peer
    kind: str
    payload: Mapping[str, Any]
    created_at: datetime
    state: str  # pending | delivered | refused
    attempts: int = 0
    delivered_at: datetime | None = None
    receipt: Mapping[str, Any] | None = None
    lane: str = "routine"  # domain.lanes: set from the kind when queued
    last_error: str = ""  # the partner failed to apply it: why (a short class name)
    retry_at: datetime | None = None  # ... and when it is offered again


@dataclass(frozen=True)
class LaneState:
    """One partner's lane as an operator sees it. ``failures``: whole-envelope failures
    (partner down, 5xx, TLS) since the last delivery."""

    peer: str
    lane: str
    pending: int = 0
    oldest_pending_at: datetime | None = None
    failures: int = 0
    last_error: str = ""
    last_error_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_delivery_at: datetime | None = None
    stuck_since: datetime | None = None


class OutboxRepo(Protocol):
    def enqueue(self, *, message_id: str, peer: str, kind: str, payload: Mapping[str, Any],
                at: datetime) -> OutboxMessage:
        """Append to ``peer``'s queue with the next sequence number, in the caller's
        transaction (so a release and its message commit together)."""
    def pending(self, peer: str, limit: int, lane: str | None = None,
                now: datetime | None = None) -> list[OutboxMessage]:
        """Pending messages in sequence order; with ``now``, not those whose ``retry_at``
        is later."""
    def peers_with_pending(self) -> list[str]: ...
    def lanes_with_pending(self) -> list[tuple[str, str]]:
        """(peer, lane) pairs with pending messages, by peer, then lane by precedence
        (flash, urgent, routine): a worker with a limited share starts flash lanes first."""
    def retry(self, message_id: str, error: str, at: datetime, retry_at: datetime) -> None:
        """The partner failed to apply a pending message: count the attempt, keep the
        error, offer it again at ``retry_at`` (it stays pending)."""
    def refused(self, peer: str | None, limit: int) -> list[OutboxMessage]:
        """Refused messages, latest first."""
    def lanes(self) -> list[LaneState]:
        """Every lane with pending messages or a recorded state, sorted by (peer, lane)."""
    def note_attempt(self, peer: str, lane: str, at: datetime, error: str | None) -> None:
        """A batch was sent: delivered (``error`` None) or failed as a whole."""
    def mark_stuck(self, peer: str, lane: str, since: datetime | None) -> bool:
        """Set (``since``) or clear (None) the lane's stuck mark; True only when this call
        changed it (one caller among concurrent workers wins)."""
    def settle(self, message_id: str, state: str, at: datetime,
               receipt: Mapping[str, Any]) -> None: ...
    def settle_all(self, rows: list[tuple[str, str, Mapping[str, Any]]],
                   at: datetime) -> None: ...
    def count(self, *, peer: str | None = None, state: str | None = None) -> int: ...
    def list(self, *, peer: str | None, limit: int) -> list[OutboxMessage]: ...


@dataclass(frozen=True)
class InboxRecord:
    """A message a partner sent, with this node's verdict on it."""
    sender: str
    message_id: str
    seq: int
    kind: str
    envelope_id: str
    outcome: str  # applied | refused
    reason: str
    received_at: datetime


class InboxRepo(Protocol):
    def seen(self, sender: str, message_id: str) -> bool: ...
    def seen_many(self, sender: str, message_ids: set[str]) -> set[str]: ...
    def add(self, *, sender: str, message_id: str, seq: int, kind: str, envelope_id: str,
            outcome: str, reason: str, at: datetime) -> None: ...
    def count(self, *, sender: str | None = None) -> int: ...
    def last_seq(self, sender: str) -> int: ...
    def refused(self, sender: str | None, limit: int) -> list[InboxRecord]: ...


@dataclass(frozen=True)
class PartnerRequest:
    """A request for information (RFI) or for an originator's consent, either sent to a
    partner (outgoing) or received from one (incoming). ``id`` is shared by both sides."""

    id: str
    kind: str  # rfi | consent
    direction: str  # outgoing | incoming
    party: str  # the other side
    state: str  # open | answered | declined
    data: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime


class RequestRepo(Protocol):
    """Outgoing requests are keyed by our own id; incoming ones by (sender, id), so that
    two partners' ids never collide (issue 17: identifiers from partners are namespaced
    by their sender)."""

    def get(self, request_id: str, direction: str, party: str = "") -> PartnerRequest | None:
        """``party``: the sender of an incoming request (ignored for outgoing ones)."""
    def with_id(self, request_id: str, direction: str) -> list[PartnerRequest]:
        """Every request with this id in this direction, whoever sent it."""
    def put(self, request: PartnerRequest) -> None: ...
    def list(self, *, kind: str | None, direction: str | None) -> list[PartnerRequest]: ...


class KeyRing(Protocol):
    """The node's own private keys (files on disk in production)."""

    @property
    def fingerprint(self) -> str: ...
    def signer(self, now: datetime) -> tuple[str, Ed25519PrivateKey]: ...
    def decryptor(self, key_id: str, now: datetime) -> X25519PrivateKey | None: ...
    def card(self, party: str, address: str, now: datetime) -> Card: ...
    @property
    def tls_files(self) -> tuple[Path, Path]: ...


class Transport(Protocol):
    """Carries envelope bytes to a partner's inbox and returns its answer's bytes."""

    async def send(self, peer: Peer, wire: bytes) -> bytes: ...
    async def fetch_card(self, address: str) -> dict[str, Any]: ...
