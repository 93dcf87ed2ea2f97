"""The node's tables (SQLAlchemy Core). Domain objects live in JSON columns through the
codec; the plain columns are what queries filter and sort on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

metadata = sa.MetaData()
Json = sa.JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, on SQLite as on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


parties = sa.Table(
    "parties", metadata,
    sa.Column("code", sa.String(3), primary_key=True),
    sa.Column("data", Json, nullable=False),
)

agreements = sa.Table(
    "agreements", metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("data", Json, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

items = sa.Table(
    "items", metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("data", Json, nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("min_rank", sa.Integer, nullable=False, index=True),
    sa.Column("topic", sa.String(256), nullable=False),
    sa.Column("discipline", sa.String(16), nullable=False),
    sa.Column("originator", sa.String(3), nullable=False),
)

release_requests = sa.Table(
    "release_requests", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("item_id", sa.String(128), nullable=False, index=True),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("recipient", sa.String(3), nullable=False),
    sa.Column("data", Json, nullable=False),
    sa.Column("requested_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

consents = sa.Table(
    "consents", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("data", Json, nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
)

ledger = sa.Table(
    "ledger", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("agreement_id", sa.String(128), nullable=False, index=True),
    sa.Column("partner", sa.String(3), nullable=False, index=True),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("level", sa.String(64), nullable=False),
    sa.Column("discipline", sa.String(16), nullable=False),
    sa.Column("item_id", sa.String(128), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
)

users = sa.Table(
    "users", metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("data", Json, nullable=False),
    sa.Column("password_hash", sa.String(256), nullable=True),
)

tokens = sa.Table(
    "tokens", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=True),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)

audit = sa.Table(
    "audit", metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(256), nullable=False),
    sa.Column("details", Json, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

settings = sa.Table(
    "settings", metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

peers = sa.Table(
    "peers", metadata,
    sa.Column("party", sa.String(3), primary_key=True),
    sa.Column("address", sa.String(512), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("card", Json, nullable=False),
    sa.Column("added_at", UtcDateTime, nullable=False),
)

outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("peer", sa.String(3), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("payload", Json, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("delivered_at", UtcDateTime, nullable=True),
    sa.Column("receipt", Json, nullable=True),
    # the lane (domain.lanes) and, for a message the partner failed to apply, the last
    # error and when it is offered again
    sa.Column("lane", sa.String(8), nullable=False, server_default="routine"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("retry_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("peer", "seq", name="uq_outbox_peer_seq"),
    sa.Index("ix_outbox_peer_state_seq", "peer", "state", "seq"),
    sa.Index("ix_outbox_peer_lane_state_seq", "peer", "lane", "state", "seq"),
)

# What an operator needs to see of each partner's lane: the whole-envelope failures since
# the last delivery, the last error and when, the last delivery, and since when the lane
# has been held stuck (set and cleared once each, with an audit record).
outbox_lanes = sa.Table(
    "outbox_lanes", metadata,
    sa.Column("peer", sa.String(3), primary_key=True),
    sa.Column("lane", sa.String(8), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("last_error_at", UtcDateTime, nullable=True),
    sa.Column("last_attempt_at", UtcDateTime, nullable=True),
    sa.Column("last_delivery_at", UtcDateTime, nullable=True),
    sa.Column("stuck_since", UtcDateTime, nullable=True),
)

inbox = sa.Table(
    "inbox", metadata,
    sa.Column("sender", sa.String(3), primary_key=True),
    sa.Column("message_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("envelope_id", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Index("ix_inbox_outcome_received", "outcome", "received_at"),
)

partner_requests = sa.Table(
    "partner_requests", metadata,
    # outgoing "o:<id>", incoming "i:<sender>:<id>" (a partner's ids are its own)
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # rfi | consent
    sa.Column("direction", sa.String(8), nullable=False),  # outgoing | incoming
    sa.Column("party", sa.String(3), nullable=False),  # the other side
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("data", Json, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

hotline_channels = sa.Table(
    "hotline_channels", metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("data", Json, nullable=False),
)

hotline_messages = sa.Table(
    "hotline_messages", metadata,
    sa.Column("channel", sa.String(128), primary_key=True),
    sa.Column("sender", sa.String(3), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False),  # message | check_call
    sa.Column("data", Json, nullable=False),
    sa.Column("sent_at", UtcDateTime, nullable=False),
    # transcript order, so a page of a long line is an index range, not a sort (0014)
    sa.Index("ix_hotline_messages_transcript", "channel", "sent_at", "seq", "sender"),
)

track_feeds = sa.Table(
    "track_feeds", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("data", Json, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

track_numbers = sa.Table(  # (source, source's track id) -> this node's track number, forever
    "track_numbers", metadata,
    sa.Column("source", sa.String(80), primary_key=True),
    sa.Column("uid", sa.String(128), primary_key=True),
    sa.Column("number", sa.BigInteger, nullable=False, unique=True),
    sa.Column("first_seen", UtcDateTime, nullable=False),
)

launch_events = sa.Table(  # append-only: a revision is never overwritten
    "launch_events", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("revision", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("data", Json, nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
)

areas = sa.Table(
    "areas", metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("data", Json, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

alerts = sa.Table(
    "alerts", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("area", sa.String(128), nullable=False),
    sa.Column("data", Json, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False, index=True),
)

# One row per item portion: what visibility and the fields filter on (narrow, so walking the
# matches reads few pages); its text, the item's title included, is in ``search_text``.
# SQLite indexes that text in the FTS5 table ``search_fts`` (external content, kept by
# triggers); PostgreSQL in a generated ``tsv`` column with a GIN index. Both live in
# migrations 0006 and 0012, not here.
search_portions = sa.Table(
    "search_portions", metadata,
    # seq << 10 | portion index: report-time order and grouping (domain.search)
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("item_id", sa.String(128), nullable=False, index=True),
    sa.Column("portion_id", sa.String(64), nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("compartments", sa.String(512), nullable=False),  # "A,B" sorted; "" for none
    sa.Column("topic", sa.String(256), nullable=False),
    sa.Column("discipline", sa.String(16), nullable=False),
    sa.Column("source", sa.String(3), nullable=False),
    sa.Column("lat", sa.Float, nullable=True),
    sa.Column("lon", sa.Float, nullable=True),
    sa.Column("reported_us", sa.BigInteger, nullable=False),  # microseconds since 1970
    sa.Index("ix_search_portions_reported", "reported_us", "id"),  # migration 0012
)

search_text = sa.Table(
    "search_text", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("body", sa.Text, nullable=False),
)
# SQLite: the visibility classes (level, compartment set) present in the index, by their
# FTS5 token key (domain.search.access_key); a search ORs the keys the user may see
search_classes = sa.Table(
    "search_classes", metadata,
    sa.Column("key", sa.String(16), primary_key=True),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("compartments", sa.String(512), nullable=False),
)
SEARCH_INDEX_OBJECTS = frozenset({"search_fts", "search_fts_data", "search_fts_idx",
                                  "search_fts_docsize", "search_fts_config",
                                  "ix_search_text_tsv", "tsv"})

taxii_objects = sa.Table(  # one row per (collection, object, version); seq orders additions
    "taxii_objects", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("collection", sa.String(64), nullable=False),
    sa.Column("stix_id", sa.String(128), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("version", sa.String(40), nullable=False),
    sa.Column("date_added", UtcDateTime, nullable=False),
    # who at this node may read the object (the partner reads its whole collection):
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("compartments", sa.String(512), nullable=False),
    sa.Column("topic", sa.String(256), nullable=False),  # "" = not topic-bound
    sa.Column("data", Json, nullable=False),
    sa.UniqueConstraint("collection", "stix_id", "version", name="uq_taxii_object_version"),
    sa.Index("ix_taxii_objects_collection", "collection", "seq"),
)

taxii_status = sa.Table(
    "taxii_status", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("data", Json, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
)

blobs = sa.Table(  # attachments: the bytes are in the encrypted blob store, by address
    "blobs", metadata,
    sa.Column("address", sa.String(64), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("media_type", sa.String(64), nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

blob_uploads = sa.Table(  # who uploaded which content: only they may attach it (migration 0010)
    "blob_uploads", metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("uploaded_by", sa.String(64), primary_key=True),
    sa.Column("uploaded_at", UtcDateTime, nullable=False),
)

talks = sa.Table(
    "talks", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("data", Json, nullable=False),  # domain.talks_wire.talks_to
    sa.Column("minutes", Json, nullable=True),  # domain.talks_wire.minutes_to
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

talks_events = sa.Table(  # the live record: presence, WebRTC signals, chat (kept)
    "talks_events", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("talks_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # presence | signal | chat
    sa.Column("party", sa.String(3), nullable=False),  # whose participant it comes from
    sa.Column("data", Json, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Index("ix_talks_events_talks", "talks_id", "seq"),
)

leases = sa.Table(  # node-wide jobs among a node's workers (migration 0008)
    "leases", metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False, server_default="0"),
)

audit_checkpoints = sa.Table(  # migration 0009
    "audit_checkpoints", metadata,
    sa.Column("log_of", sa.String(3), primary_key=True),  # whose audit log
    sa.Column("witness", sa.String(3), primary_key=True),  # the party that countersigned
    sa.Column("size", sa.BigInteger, primary_key=True),
    sa.Column("root", sa.String(64), nullable=False),
    sa.Column("head_hash", sa.String(64), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # countersigned | inconsistent | ...
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("signature", sa.Text, nullable=False),  # base64 Ed25519, or empty
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
)
