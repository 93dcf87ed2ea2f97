"""Ports the use cases depend on. Storage implements them over SQL; ``services.memory``
holds the in-memory twins used by unit tests.

Every method runs inside the unit of work's transaction; nothing is visible to others
until ``commit``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from liaison.crypto.keys import Card
from liaison.domain.agreements import Agreement
from liaison.domain.audit import AuditRecord
from liaison.domain.items import Item
from liaison.domain.labels import Party
from liaison.domain.ledger import LedgerEntry
from liaison.domain.release import Consent
from liaison.domain.review import ReleaseRequest
from liaison.domain.search import SearchPage, SearchQuery, Visibility
from liaison.domain.users import User


@dataclass(frozen=True, slots=True)
class StoredItem:
    item: Item
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredConsent:
    id: str
    consent: Consent
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRecord:
    token_hash: str  # SHA-256 hex of the bearer token; the token itself is never stored
    username: str
    kind: str  # "session" | "api"
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked: bool = False


@dataclass(frozen=True)
class Peer:
    """A partner node: its address and the card verified against the fingerprint that was
    exchanged out of band."""

    party: str
    address: str
    fingerprint: str
    card: Card
    added_at: datetime


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


class HotlineRepo(Protocol):
    """Channels as plain data (``services.hotline`` decodes them) and their traffic.

    Traffic is in transcript order: (sent_at, seq, sender), a total order (``page``'s
    positions). Each ``put_traffic`` counts the channel's ``revision`` up by one;
    ``changed_since`` answers the revision now and what changed after a given one without
    reading the history (``None`` once that one is older than the change log kept: a
    watcher reads a page afresh then); ``awaiting`` is the open entries: neither
    ``acknowledged_at`` nor ``outcome`` in their data."""

    def channel(self, channel_id: str) -> dict[str, Any] | None: ...
    def channels(self) -> list[dict[str, Any]]: ...
    def put_channel(self, channel_id: str, data: Mapping[str, Any]) -> None: ...
    def revision(self, channel_id: str) -> int: ...
    def traffic(self, channel_id: str) -> list[dict[str, Any]]: ...
    def page(self, channel_id: str, limit: int, *,
             before: tuple[datetime, int, str] | None = None,
             after: tuple[datetime, int, str] | None = None) -> list[dict[str, Any]]: ...
    def changed_since(self, channel_id: str,
                      revision: int) -> tuple[int, list[dict[str, Any]] | None]: ...
    def awaiting(self, channel_id: str) -> list[dict[str, Any]]: ...
    def get_traffic(self, channel_id: str, sender: str, seq: int) -> dict[str, Any] | None: ...
    def put_traffic(self, channel_id: str, sender: str, seq: int, kind: str,
                    data: Mapping[str, Any], sent_at: datetime) -> None: ...
    def last_seq(self, channel_id: str, sender: str) -> int: ...


class PeerRepo(Protocol):
    def get(self, party: str) -> Peer | None: ...
    def list(self) -> list[Peer]: ...
    def put(self, peer: Peer) -> None: ...


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


class PartyRepo(Protocol):
    def get(self, code: str) -> Party | None: ...
    def list(self) -> list[Party]: ...
    def put(self, party: Party) -> None: ...


class AgreementRepo(Protocol):
    def get(self, agreement_id: str) -> Agreement | None: ...
    def list(self) -> list[Agreement]: ...
    def put(self, agreement: Agreement) -> None: ...


class ItemRepo(Protocol):
    def get(self, item_id: str) -> StoredItem | None: ...
    def add(self, stored: StoredItem, min_rank: int) -> None:
        """Insert; ``min_rank`` is the lowest portion rank (for visibility pre-filtering).
        Raises ``Conflict`` when the id exists."""
    def list(self, *, max_min_rank: int, limit: int, offset: int) -> list[StoredItem]:
        """Items with at least one portion at or below ``max_min_rank``, newest first."""
    def count(self) -> int: ...
    def replace(self, stored: StoredItem, min_rank: int) -> None:
        """Overwrite an existing item (a re-marking); its history is in the audit log."""
    def remove(self, item_id: str) -> None: ...


class ReleaseRepo(Protocol):
    def get(self, request_id: str) -> ReleaseRequest | None: ...
    def add(self, request: ReleaseRequest) -> None: ...
    def update(self, request: ReleaseRequest) -> None: ...
    def list(self, *, state: str | None, limit: int, offset: int) -> list[ReleaseRequest]: ...


class ConsentRepo(Protocol):
    def add(self, stored: StoredConsent) -> None: ...
    def list(self) -> list[StoredConsent]: ...


class LedgerRepo(Protocol):
    def add(self, entry: LedgerEntry) -> None: ...
    def list(self, *, agreement_id: str | None = None,
             partner: str | None = None) -> list[LedgerEntry]: ...


class UserRepo(Protocol):
    def get(self, username: str) -> User | None: ...
    def list(self) -> list[User]: ...
    def add(self, user: User, password_hash: str | None) -> None:
        """Raises ``Conflict`` when the username exists."""
    def update(self, user: User) -> None: ...
    def password_hash(self, username: str) -> str | None: ...
    def set_password_hash(self, username: str, password_hash: str) -> None: ...


class TokenRepo(Protocol):
    def add(self, token: TokenRecord) -> None: ...
    def get(self, token_hash: str) -> TokenRecord | None: ...
    def revoke(self, token_hash: str) -> None: ...
    def list(self, username: str) -> list[TokenRecord]: ...


class AuditRepo(Protocol):
    def append(self, *, at: datetime, actor: str, action: str, subject: str,
               details: Mapping[str, Any]) -> AuditRecord:
        """Append the next record to the hash chain, serialised against concurrent
        writers (the chain head is locked for the rest of the transaction)."""
    def list(self, *, after_seq: int = -1, limit: int = 1000) -> list[AuditRecord]: ...
    def count(self) -> int: ...


class SettingRepo(Protocol):
    def get(self, key: str) -> str | None: ...
    def put(self, key: str, value: str) -> None: ...


class Conflict(Exception):
    """The record already exists (unique key)."""


class TrackRepo(Protocol):
    def put_feed(self, name: str, data: dict[str, Any], at: datetime) -> None: ...
    def feeds(self) -> list[dict[str, Any]]: ...
    def put_area(self, area_id: str, data: dict[str, Any], at: datetime) -> None: ...
    def remove_area(self, area_id: str) -> bool: ...
    def areas(self) -> list[dict[str, Any]]: ...
    def number_for(self, source: str, uid: str, at: datetime) -> int: ...
    def numbers(self) -> dict[tuple[str, str], int]: ...
    def add_launch(self, event_id: str, revision: int, data: dict[str, Any],
                   at: datetime) -> None: ...
    def launches(self, limit: int) -> list[dict[str, Any]]: ...
    def launch_history(self, event_id: str) -> list[dict[str, Any]]: ...
    def add_alert(self, alert_id: str, area: str, data: dict[str, Any],
                  at: datetime) -> None: ...
    def alerts(self, limit: int) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class TaxiiObject:
    """A STIX object in a collection, with who at this node may read it (the partner whose
    collection it is reads all of it)."""

    data: Mapping[str, Any]
    version: str  # the object's ``modified`` (or ``created``)
    rank: int = 0
    compartments: str = ""  # canonical "A,B"
    topic: str = ""  # "" = not bound to a topic
    raw: str = ""  # the object as stored JSON text, when read back (served as it is)


@dataclass(frozen=True)
class TaxiiQuery:
    collection: str
    visibility: Visibility | None  # None: the partner's own collection, all of it
    after_seq: int = 0
    limit: int = 100
    added_after: datetime | None = None
    ids: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    versions: str = "last"  # last | first | all | comma-separated versions


class TaxiiRepo(Protocol):
    def add(self, collection: str, objects: Sequence[TaxiiObject], at: datetime) -> int: ...
    def page(self, q: TaxiiQuery) -> list[tuple[int, datetime, TaxiiObject]]: ...
    def put_status(self, status_id: str, data: Mapping[str, Any], at: datetime) -> None: ...
    def status(self, status_id: str) -> dict[str, Any] | None: ...
    def stix_ids(self, key_ids: Sequence[str]) -> dict[str, str]:
        """The UUIDv4 id served for each key id, drawn and kept the first time."""
        ...


@dataclass(frozen=True, slots=True)
class BlobRecord:
    address: str
    sha256: str
    size: int
    media_type: str
    created_by: str
    created_at: datetime


class BlobRepo(Protocol):
    """Records of the files in the blob store (the bytes are in the store itself)."""

    def add(self, record: BlobRecord) -> None:
        """Insert, and note that ``record.created_by`` uploaded this content; a second
        upload of the same content keeps the first record and notes its uploader."""
    def by_sha256(self, sha256: str) -> BlobRecord | None: ...
    def uploaded_by(self, sha256: str, username: str) -> BlobRecord | None:
        """The record of this content only if ``username`` uploaded it."""


class BlobPort(Protocol):
    """The encrypted, content-addressed file store (``storage.blobs.BlobStore``)."""

    def put_stream(self, chunks: Iterable[bytes], max_size: int) -> Any: ...
    def open(self, address: str) -> Iterator[bytes]: ...
    def read_all(self, address: str, max_size: int) -> bytes: ...


TalksEvent = tuple[int, str, str, dict[str, Any], datetime]  # seq, kind, party, data, at


class CheckpointRepo(Protocol):
    """Audit checkpoints as rows: log_of, witness, size, root, head_hash, at, state,
    key_id, signature, reason, recorded_at."""

    def put(self, row: Mapping[str, Any]) -> None: ...
    def latest(self, log_of: str, witness: str,
               states: Sequence[str]) -> dict[str, Any] | None: ...
    def list(self, log_of: str | None = None) -> list[dict[str, Any]]: ...


class LeaseRepo(Protocol):
    def claim(self, name: str, holder: str, now: datetime, ttl: timedelta) -> int | None:
        """Take or renew a lease; its recorded position, or ``None`` if another holds it."""
    def record(self, name: str, holder: str, position: int) -> bool: ...
    def release(self, name: str, holder: str, now: datetime) -> None: ...
    def holders(self, now: datetime) -> dict[str, str]: ...


class TalksRepo(Protocol):
    def get(self, talks_id: str) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        """The talks and its minutes as plain data."""
    def put(self, talks_id: str, data: Mapping[str, Any], minutes: Mapping[str, Any] | None,
            at: datetime) -> None: ...
    def add_event(self, talks_id: str, kind: str, party: str, data: Mapping[str, Any],
                  at: datetime) -> None: ...
    def events(self, talks_id: str, after: int = 0,
               kinds: tuple[str, ...] = ()) -> list[TalksEvent]: ...
    def last_seq(self, talks_id: str) -> int: ...
    def list(self) -> list[dict[str, Any]]: ...


class SearchRepo(Protocol):
    """The items repository keeps the index; this answers queries over it."""

    def query(self, q: SearchQuery, vis: Visibility) -> SearchPage: ...


class UnitOfWork(Protocol):
    @property
    def parties(self) -> PartyRepo: ...
    @property
    def agreements(self) -> AgreementRepo: ...
    @property
    def items(self) -> ItemRepo: ...
    @property
    def releases(self) -> ReleaseRepo: ...
    @property
    def consents(self) -> ConsentRepo: ...
    @property
    def ledger(self) -> LedgerRepo: ...
    @property
    def users(self) -> UserRepo: ...
    @property
    def tokens(self) -> TokenRepo: ...
    @property
    def audit(self) -> AuditRepo: ...
    @property
    def settings(self) -> SettingRepo: ...
    @property
    def peers(self) -> PeerRepo: ...
    @property
    def outbox(self) -> OutboxRepo: ...
    @property
    def inbox(self) -> InboxRepo: ...
    @property
    def requests(self) -> RequestRepo: ...
    @property
    def hotline(self) -> HotlineRepo: ...
    @property
    def tracks(self) -> TrackRepo: ...
    @property
    def search(self) -> SearchRepo: ...
    @property
    def taxii(self) -> TaxiiRepo: ...
    @property
    def blobs(self) -> BlobRepo: ...
    @property
    def talks(self) -> TalksRepo: ...
    @property
    def leases(self) -> LeaseRepo: ...
    @property
    def checkpoints(self) -> CheckpointRepo: ...

    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Roll back unless ``commit`` was called."""
    def commit(self) -> None: ...
    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction: an exception leaving the block undoes the block's work
        (and only it) and propagates; the unit of work stays usable."""
