"""Sending: the outbox, cut into batch envelopes per partner and lane, and the partner's
receipts settled.

A batch envelope carries up to ``deps.outbox_batch`` outbox messages of one peer and one
lane (``domain.lanes``), in sequence order; one HPKE encryption and one signature cover the
batch (docs/rules.md#exactly-once).

What "in order" means (kept by tests/unit/test_outbox_lanes.py):
1. Per partner and lane, messages are first offered in sequence order, one batch in flight
   per lane, and the partner applies a batch's messages in the batch's order: messages of
   one lane applied on their first offer are applied in sequence order.
2. Lanes are independent: no order is kept across lanes. A FLASH or an agreement note may
   overtake releases queued before it; kinds whose effects depend on each other share a
   lane (``domain.lanes``).
3. A whole-envelope failure (partner down, 5xx, TLS) retries the lane from its first
   unsettled message, with backoff, recorded per lane: order is kept.
4. A refused message is skipped: settled as refused with its reason, never applied; the
   lane goes on.
5. A failed message stays pending and is offered again ``outbox_retry_s`` later (doubling),
   after the messages behind it, so it may be applied after later ones of its lane; after
   ``outbox_failed_attempts`` attempts it is settled as refused (poison) and the lane goes
   on.
6. Whatever the retries and workers, a message id is applied at most once (the inbox).

Size: the receiver refuses an envelope over ``MAX_ENVELOPE``, on every retry, so nothing
larger may be sealed or that partner's queue would never move. A batch is cut where its
messages would pass ``MAX_BATCH_BYTES``; a message that could not fit even alone is
refused when it is queued (``enqueue``), and one that reached the queue some other way is
settled as refused here, unsent, rather than left to block the messages behind it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from liaison.crypto.envelope import MAX_ENVELOPE, EnvelopeError, Header, payload_json, seal, utc
from liaison.crypto.keys import x25519_public
from liaison.services.audit_trail import record
from liaison.services.context import Deps
from liaison.services.errors import Refused
from liaison.services.federation.envelopes import (
    ENVELOPE_LIFETIME,
    Outcome,
    Refresh,
    keyring,
    open_from_peer,
    usable_key,
)
from liaison.services.ports import OutboxMessage, Peer, UnitOfWork

DELIVERED = frozenset({"applied", "accepted", "duplicate"})  # "accepted": older nodes
# The sealed envelope adds to the batch's JSON a header (a few hundred bytes), a signature
# (64), the HPKE encapsulated key and tag (48) and the magic and length (8).
ENVELOPE_MARGIN = 64 * 1024
MAX_BATCH_BYTES = MAX_ENVELOPE - ENVELOPE_MARGIN  # a batch's messages, as JSON


def enqueue(uow: UnitOfWork, deps: Deps, peer: str, kind: str,
            payload: dict[str, Any]) -> OutboxMessage:
    """Queue a message for ``peer`` in the caller's transaction; ``Refused`` (and so the
    caller's transaction is not committed) when it could never fit one envelope."""
    size = message_size("0" * 64, 2**63 - 1, kind, payload)
    if size > MAX_BATCH_BYTES:
        raise Refused(f"the {kind} message for {peer} would be {size / 2**20:.1f} MiB, over "
                      f"the {MAX_BATCH_BYTES / 2**20:.1f} MiB one envelope may carry; nothing "
                      f"is queued: send less in one go (fewer or smaller files)")
    return uow.outbox.enqueue(message_id=deps.ids(), peer=peer, kind=kind, payload=payload,
                              at=deps.clock())


def message_size(message_id: str, seq: int, kind: str, payload: Any) -> int:
    """Bytes the message takes in a batch's JSON (with the comma that separates it)."""
    return len(payload_json({"id": message_id, "seq": seq, "kind": kind,
                             "payload": payload})) + 1


def next_batch(deps: Deps, peer: str, lane: str | None = None,
               ) -> tuple[Peer, list[OutboxMessage]] | None:
    """The partner and the next messages of one of its lanes, in sequence order, as many
    as fit one envelope (at most ``deps.outbox_batch``); not those waiting for a retry."""
    while True:
        with deps.uow() as uow:
            known = uow.peers.get(peer)
            pending = uow.outbox.pending(peer, deps.outbox_batch, lane,
                                         deps.clock()) if known else []
            batch, too_large = _cut(pending)
            if too_large:
                _refuse_unsent(uow, deps, peer, too_large)
                uow.commit()
        if known is None or not (batch or too_large):
            return None
        if batch:
            return known, batch


def _cut(pending: list[OutboxMessage]) -> tuple[list[OutboxMessage], list[OutboxMessage]]:
    """The first messages of ``pending`` that fit ``MAX_BATCH_BYTES`` together, and the
    messages among them that could never fit one envelope, even alone."""
    empty = len(payload_json({"messages": []}))
    batch: list[OutboxMessage] = []
    too_large: list[OutboxMessage] = []
    total = empty
    for m in pending:
        size = message_size(m.id, m.seq, m.kind, m.payload)
        if empty + size > MAX_BATCH_BYTES:
            too_large.append(m)
        elif total + size > MAX_BATCH_BYTES:
            break
        else:
            batch.append(m)
            total += size
    return batch, too_large


def _refuse_unsent(uow: UnitOfWork, deps: Deps, peer: str,
                   messages: list[OutboxMessage]) -> None:
    for m in messages:
        reason = (f"not sent: larger than the {MAX_BATCH_BYTES} bytes one envelope may "
                  f"carry (the partner would refuse it on every retry)")
        uow.outbox.settle(m.id, "refused", deps.clock(),
                          {"id": m.id, "outcome": "refused", "reason": reason, "local": True})
        record(uow, deps, "federation", "outbox.refused_unsent", f"message:{m.id}",
               {"peer": peer, "seq": m.seq, "kind": m.kind, "reason": reason})


def seal_batch(deps: Deps, peer: Peer, messages: list[OutboxMessage],
               agreement: str = "") -> tuple[Header, bytes]:
    now = deps.clock()
    ring = keyring(deps)
    key_id, signer = ring.signer(now)
    enc = usable_key(peer.card.encryption_keys, now, "encryption", peer.party)
    header = Header(deps.party, peer.party, deps.ids(), "batch", agreement, utc(now),
                    utc(now + ENVELOPE_LIFETIME), key_id, enc.id)
    body = {"messages": [{"id": m.id, "seq": m.seq, "kind": m.kind, "payload": m.payload}
                         for m in messages]}
    return header, seal(header, payload_json(body), signer, x25519_public(enc))


def settle_receipt(deps: Deps, peer: Peer, sent: Header, messages: list[OutboxMessage],
                   wire: bytes, refresh: Refresh | None = None) -> list[Outcome]:
    """Verify the partner's signed receipt and settle the batch; keep the receipt. A
    message the partner failed to apply stays pending for a later retry, or is settled as
    refused (poison) once it has failed ``deps.outbox_failed_attempts`` times. A receipt
    signed with a key the partner's held card does not list has its card refreshed first
    (``open_from_peer``, with ``refresh``)."""
    header, payload = open_from_peer(deps, wire, {peer.party: peer}, refresh)
    body = json.loads(payload)
    if header.kind != "receipt" or body.get("envelope_id") != sent.envelope_id:
        raise EnvelopeError("the answer is not the receipt for this envelope")
    results = {r["id"]: Outcome(r["id"], r["outcome"], r.get("reason", ""))
               for r in body["results"]}
    digest = hashlib.sha256(wire).hexdigest()
    now = deps.clock()
    proof = {"receipt_sha256": digest, "envelope_id": sent.envelope_id}
    with deps.uow() as uow:
        settled: list[tuple[str, str, Mapping[str, Any]]] = []
        for m in messages:
            out = results.get(m.id)
            if out is None:
                continue
            if out.outcome in DELIVERED:
                settled.append((m.id, "delivered", {**proof, **out.wire()}))
            elif out.outcome == "failed" and m.attempts + 1 < deps.outbox_failed_attempts:
                _retry_later(uow, deps, m, out.reason)
            else:
                settled.append((m.id, "refused", _refusal(uow, deps, m, out, proof)))
        uow.outbox.settle_all(settled, now)
        if messages:
            uow.outbox.note_attempt(peer.party, messages[0].lane, now, None)
        record(uow, deps, "federation", "envelope.receipted", f"envelope:{sent.envelope_id}",
               {"peer": peer.party, "receipt_sha256": digest, "receipt": wire.hex(),
                "messages": [[m.id, m.seq, m.kind, results[m.id].outcome]
                             for m in messages if m.id in results]})
        uow.commit()
    return list(results.values())


def _retry_later(uow: UnitOfWork, deps: Deps, m: OutboxMessage, reason: str) -> None:
    wait = deps.outbox_retry_s * 2 ** m.attempts
    uow.outbox.retry(m.id, reason, deps.clock(), deps.clock() + timedelta(seconds=wait))


def _refusal(uow: UnitOfWork, deps: Deps, m: OutboxMessage, out: Outcome,
             proof: dict[str, str]) -> dict[str, Any]:
    """The receipt kept with a refused message, and its audit record: refused by the
    partner, or failed there too often (poison)."""
    reason = out.reason or f"outcome {out.outcome!r}"
    if out.outcome != "refused":
        reason = f"poison: failed {m.attempts + 1} times at the partner: {reason}"
    record(uow, deps, "federation", "outbox.poison" if out.outcome != "refused"
           else "outbox.refused", f"message:{m.id}",
           {"peer": m.peer, "lane": m.lane, "seq": m.seq, "kind": m.kind, "reason": reason})
    return {**proof, **out.wire(), "outcome": "refused", "reason": reason}


def note_failure(deps: Deps, peer: str, lane: str, error: str) -> None:
    """A whole envelope failed (partner down, 5xx, TLS, a bad receipt): recorded on the
    lane for operators; the batch is sent again."""
    with deps.uow() as uow:
        uow.outbox.note_attempt(peer, lane, deps.clock(), error[:500])
        uow.commit()
