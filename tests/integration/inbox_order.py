"""What a receiver applied from a sender, in the order it applied it, read from its
database: the order is the audit log's (one ``envelope.received`` record per envelope,
numbered as committed, listing its messages' verdicts in the order they were applied). The
inbox's ``received_at`` is one instant for a whole batch and its ``seq`` is the sender's
number, so neither can show a reordering."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa


def as_dict(details: object) -> dict[str, Any]:
    """A JSON column as a plain query reads it: a dict (PostgreSQL) or its text (SQLite)."""
    return dict(json.loads(details) if isinstance(details, str | bytes) else details)


def verdicts(conn: sa.Connection, sender: str) -> list[tuple[str, str]]:
    """(message id, verdict) of every message from ``sender``, in the order received."""
    out = []
    for details in conn.execute(sa.text("select details from audit where action = "
                                        "'envelope.received' order by seq")).scalars():
        doc = as_dict(details)
        if doc.get("sender") == sender:
            out += [(str(mid), str(outcome)) for mid, outcome, _ in doc.get("messages", [])]
    return out


def applied_in_order(conn: sa.Connection, sender: str) -> list[tuple[str, int]]:
    """(message id, the sender's seq) of each message applied, in the order applied. The
    audit log is read first: a message it reports applied has its inbox row committed by
    then (in the same transaction or an earlier one), even while the receiver runs on."""
    applied = [mid for mid, verdict in verdicts(conn, sender) if verdict == "applied"]
    seqs = {str(mid): int(seq) for mid, seq in conn.execute(sa.text(
        "select message_id, seq from inbox where sender = :sender"), {"sender": sender})}
    return [(mid, seqs[mid]) for mid in applied]
