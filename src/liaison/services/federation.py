"""Node to node: partners, batches of messages in signed and encrypted envelopes, the inbox
(verify, dedupe, apply each message in its own savepoint) and signed receipts.

A batch envelope carries up to ``deps.outbox_batch`` outbox messages of one peer and one
lane (``domain.lanes``), in sequence order; one HPKE encryption and one signature cover the
batch (docs/rules.md#exactly-once). The receiver answers with a receipt envelope giving each
message's verdict: ``applied`` (older nodes say ``accepted``; both are read), ``duplicate`` (applied
before), ``refused`` with the reason (an authority or validity check said no: it will say
no again) or ``failed`` (an internal error here: the message's effects are rolled back to
its savepoint, the rest of the batch is applied and committed, the partner is told only
the error's class name, the log and the audit log get the details).

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
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from liaison.crypto.envelope import (
    MAX_ENVELOPE,
    EnvelopeError,
    Header,
    open_envelope,
    payload_json,
    read_header,
    seal,
    utc,
)
from liaison.crypto.keys import Card, KeyError_, ed25519_public, verify_card, x25519_public
from liaison.crypto.tls import cert_sha256
from liaison.domain.card_acceptance import rollback_problem
from liaison.domain.lanes import ROUTINE, lane_for
from liaison.domain.partner_address import AddressRefused, federation_address
from liaison.domain.users import Role, User
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.card_refresh import facts
from liaison.services.context import Deps
from liaison.services.errors import Invalid, NotFound, Refused
from liaison.services.inbox_turns import CHUNK, TURNS
from liaison.services.ports import KeyRing, OutboxMessage, Peer, UnitOfWork

log = logging.getLogger("liaison.federation")
ENVELOPE_LIFETIME = timedelta(days=7)
DELIVERED = frozenset({"applied", "accepted", "duplicate"})  # "accepted": older nodes
# The sealed envelope adds to the batch's JSON a header (a few hundred bytes), a signature
# (64), the HPKE encapsulated key and tag (48) and the magic and length (8).
ENVELOPE_MARGIN = 64 * 1024
MAX_BATCH_BYTES = MAX_ENVELOPE - ENVELOPE_MARGIN  # a batch's messages, as JSON


@dataclass(frozen=True)
class Outcome:
    message_id: str
    outcome: str  # applied | duplicate | refused | failed
    reason: str = ""

    def wire(self) -> dict[str, str]:
        return {"id": self.message_id, "outcome": self.outcome, "reason": self.reason}


def keyring(deps: Deps) -> KeyRing:
    if deps.keyring is None:
        raise Refused("this node has no keys: run `liaison init` to create them")
    return deps.keyring


# --- partners ------------------------------------------------------------------------


def add_peer(deps: Deps, user: User, party: str, address: str, fingerprint: str,
             card_data: dict[str, Any]) -> Peer:
    """Trust a partner: its card must carry the identity key whose fingerprint was
    exchanged out of band, and name ``party`` (nothing is trusted on first use)."""
    require(user, Role.ADMIN)
    try:
        card = verify_card(card_data, fingerprint)
    except KeyError_ as exc:
        raise Refused(str(exc)) from exc
    if card.party != party:
        raise Refused(f"the card at {address} is for {card.party}, not {party}")
    if party == deps.party:
        raise Invalid("a node is not its own partner")
    # Envelopes go to the federation address the partner states in its signed card, and
    # only over https (issue 17, rule 7): a card naming anything else is not trusted.
    try:
        target = federation_address(card.address or address)
    except AddressRefused as exc:
        raise Refused(f"the card of {party} names a federation address envelopes may not "
                      f"go to: {exc}") from exc
    peer = Peer(party, target, card.fingerprint, card, deps.clock())
    with deps.uow() as uow:
        known = uow.peers.get(party)
        if known is not None:
            _no_rollback(known.card, card)
        uow.peers.put(peer)
        record(uow, deps, user.username, "peer.added", f"peer:{party}",
               {"address": peer.address, "fingerprint": peer.fingerprint})
        uow.commit()
    return peer


def _no_rollback(trusted: Card, card: Card) -> None:
    """A card given again may not be older than the trusted one, nor list as usable a key
    the trusted one revoked: a replayed old card would undo a rotation or a revocation."""
    problem = rollback_problem(facts(trusted), facts(card))
    if problem:
        raise Refused(problem)


def list_peers(deps: Deps) -> list[Peer]:
    with deps.uow() as uow:
        return uow.peers.list()


# --- sending -------------------------------------------------------------------------


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
    enc = _usable(peer.card.encryption_keys, now, "encryption", peer.party)
    header = Header(deps.party, peer.party, deps.ids(), "batch", agreement, utc(now),
                    utc(now + ENVELOPE_LIFETIME), key_id, enc.id)
    body = {"messages": [{"id": m.id, "seq": m.seq, "kind": m.kind, "payload": m.payload}
                         for m in messages]}
    return header, seal(header, payload_json(body), signer, x25519_public(enc))


def _usable(keys: Any, now: datetime, kind: str, party: str) -> Any:
    usable = [k for k in keys if k.usable(now)]
    if not usable:
        raise Refused(f"{party} has no usable {kind} key: refresh its card")
    return usable[-1]


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


# --- receiving -----------------------------------------------------------------------


# card_refresh.CardRefresher: (partner, unknown key id, why) -> refreshed partner or why not
Refresh = Callable[[Peer, str, str], "Peer | str"]


def open_from_peer(deps: Deps, wire: bytes, peers: dict[str, Peer],
                   refresh: Refresh | None = None) -> tuple[Header, bytes]:
    """Decrypt and verify an envelope from a known partner, addressed to this node.

    Signed with a key id the partner's held card does not list, the partner may have
    rotated its keys: with ``refresh``, its card is fetched again (``card_refresh``) and,
    when accepted, put in ``peers`` in place of the held one before the envelope is
    verified; an envelope whose key is still unknown is refused saying why."""
    now = deps.clock()
    ring = keyring(deps)
    header = read_header(wire)[0]
    peer = peers.get(header.sender)
    if refresh is not None and peer is not None and \
            all(k.id != header.sender_key for k in peer.card.signing_keys):
        got = refresh(peer, header.sender_key,
                      f"{header.kind[:16]} envelope {header.envelope_id[:64]} signed with key "
                      f"{header.sender_key[:64]}, not on the card held")
        if isinstance(got, str):
            raise EnvelopeError(f"{header.sender}'s key {header.sender_key} is unknown here "
                                f"and its card was not refreshed: {got}")
        peers[header.sender] = got
        if all(k.id != header.sender_key for k in got.card.signing_keys):
            raise EnvelopeError(f"{header.sender}'s key {header.sender_key} is not on its "
                                f"refreshed card either; refused")

    def verifier(sender: str, key_id: str) -> Ed25519PublicKey | None:
        peer = peers.get(sender)
        if peer is None:
            return None
        info = next((k for k in peer.card.signing_keys if k.id == key_id), None)
        return ed25519_public(info) if info and info.usable(now) else None

    header, payload = open_envelope(wire, lambda k: ring.decryptor(k, now), verifier, now)
    if header.recipient != deps.party:
        raise EnvelopeError(f"envelope is addressed to {header.recipient}, not {deps.party}")
    return header, payload


Applier = Any  # Callable[[UnitOfWork, Deps, str, dict[str, Any]], str | None]


def delivery_problem(peers: dict[str, Peer], sender: str, delivered_by: str) -> str | None:
    """Issue 17 point 7: the certificate that delivered an envelope over mutual TLS
    (``delivered_by``, PEM; ``""`` when none was presented) must be the one on the card of
    the envelope's signed sender. Another partner's certificate means that partner is
    delivering what ``sender`` signed (a replay, or a forgery with stolen keys)."""
    try:
        presented = cert_sha256(delivered_by.encode()) if delivered_by else ""
    except ValueError:
        presented = ""
    if presented and presented == peers[sender].card.tls_cert_sha256:
        return None
    by = next((p for p, peer in sorted(peers.items())
               if presented and peer.card.tls_cert_sha256 == presented), None)
    who = f"{by}'s TLS certificate" if by else "a TLS certificate on no partner's card"
    return (f"the envelope is signed by {sender} but was delivered with {who}: a partner "
            f"delivers only its own envelopes; refused")


def receive(deps: Deps, wire: bytes, appliers: dict[str, Applier],
            delivered_by: str | None = None, refresh: Refresh | None = None) -> bytes:
    """Verify an incoming batch, apply each new message exactly once, and answer with a
    signed receipt. Over the federation listener ``delivered_by`` is the client
    certificate of the TLS connection, which must be the signed sender's
    (``delivery_problem``); ``None`` only for a delivery in this process (tests).

    Messages are applied in chunks of ``inbox_turns.CHUNK``, each chunk in
    one transaction with its messages' inbox rows (each message's effects as in its own
    savepoint), so exactly-once holds per message even when a crash falls between two
    chunks (a resent envelope finds the first chunks' messages as duplicates). Between
    chunks an urgent envelope waiting goes first (``inbox_turns``); the envelope's audit
    record, with every verdict, is written with its last chunk.

    ``refresh``: an envelope signed with a key its partner's held card does not list has
    the card fetched again (``open_from_peer``), only when it was delivered with that
    partner's own TLS certificate (another partner cannot make this node fetch cards)."""
    with deps.uow() as uow:
        peers = {p.party: p for p in uow.peers.list()}
    claimed = read_header(wire)[0].sender
    if refresh is not None and delivered_by is not None and (
            claimed not in peers or delivery_problem(peers, claimed, delivered_by)):
        refresh = None
    header, payload = open_from_peer(deps, wire, peers, refresh)
    problem = None if delivered_by is None else \
        delivery_problem(peers, header.sender, delivered_by)
    if problem:
        with deps.uow() as uow:
            record(uow, deps, "federation", "envelope.refused",
                   f"envelope:{header.envelope_id}", {"sender": header.sender,
                                                      "reason": problem})
            uow.commit()
        raise EnvelopeError(problem)
    try:
        messages = json.loads(payload)["messages"]
        if not isinstance(messages, list):
            raise TypeError("messages is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise EnvelopeError("the envelope's payload is not a batch") from exc
    urgent = any(isinstance(m, dict) and lane_for(str(m.get("kind", ""))) != ROUTINE
                 for m in messages)
    results: list[Outcome] = []
    seen: set[str] = set()
    starts = range(0, len(messages), CHUNK) if messages else range(1)
    for start in starts:
        chunk = messages[start:start + CHUNK]
        with TURNS.turn(urgent), deps.uow() as uow:
            ids = {str(m.get("id")) for m in chunk if isinstance(m, dict)}
            seen |= uow.inbox.seen_many(header.sender, ids)
            results += _apply_batch(uow, deps, header, chunk, appliers, seen)
            if start + CHUNK >= len(messages):
                record(uow, deps, "federation", "envelope.received",
                       f"envelope:{header.envelope_id}",
                       {"sender": header.sender, "sha256": hashlib.sha256(wire).hexdigest(),
                        "messages": [[r.message_id, r.outcome, r.reason] for r in results]})
            uow.commit()
    for topic in _topics(messages):
        deps.publish(topic)
    return _receipt(deps, peers[header.sender], header, results)


def _topics(messages: list[Any]) -> set[str]:
    """Real-time topics touched by a batch (after its commit), e.g. ``hotline:<channel>``."""
    topics = set()
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("payload"), dict):
            continue
        kind = str(m.get("kind", ""))
        if kind.startswith("hotline"):
            topics.add(f"hotline:{m['payload'].get('channel')}")
        elif kind.startswith("talks"):
            topics.add(f"talks:{m['payload'].get('talks_id')}")
    return topics


def _apply_batch(uow: UnitOfWork, deps: Deps, header: Header, messages: list[Any],
                 appliers: dict[str, Applier], seen: set[str]) -> list[Outcome]:
    """The batch under one savepoint (a savepoint per message cost as much as a message's
    rows). When an applier raises, that savepoint is rolled back and the batch applied
    again with that message failed, not applied again: it fails alone, as in its own
    savepoint. From a second such message on, a savepoint per message (bounded work)."""
    raised: dict[int, Exception] = {}
    held = set(seen)
    while len(raised) < 2:
        done: list[Outcome] = []
        try:
            with uow.savepoint():
                for i, m in enumerate(messages):
                    done.append(_receive_one(uow, deps, header, m, appliers, seen,
                                             alone=False, raised=raised.get(i)))
            return done
        except _ApplierRaised as exc:
            raised[len(done)] = exc.error
            seen.clear()
            seen.update(held)
    return [_receive_one(uow, deps, header, m, appliers, seen, raised=raised.get(i))
            for i, m in enumerate(messages)]


class _ApplierRaised(Exception):
    """An applier raised inside the batch's savepoint. Only this starts another pass: an
    error outside the appliers (the inbox row, say) fails the envelope, as it always did."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _receive_one(uow: UnitOfWork, deps: Deps, header: Header, message: Any,
                 appliers: dict[str, Applier], seen: set[str], alone: bool = True,
                 raised: Exception | None = None) -> Outcome:
    """Apply one message in its own savepoint inside the batch's transaction: an internal
    error undoes that message's effects only, and leaves no inbox row (so a retry applies
    it). Not ``alone`` (the caller holds one savepoint for the batch), an applier's error
    is raised as ``_ApplierRaised``. ``raised``: what the applier raised on an earlier
    pass over this batch (rolled back): the message is failed, not applied again."""
    try:
        mid, seq, kind = str(message["id"]), int(message["seq"]), str(message["kind"])
        body = message["payload"]
    except (KeyError, TypeError, ValueError):
        return Outcome(str(message)[:64], "refused", "malformed message")
    if mid in seen:
        return Outcome(mid, "duplicate")
    seen.add(mid)
    if raised is not None:
        return _failed(uow, deps, header, mid, seq, kind, raised)
    apply = appliers.get(kind)
    reason = f"unknown message kind {kind!r}" if apply is None else None
    if apply is not None and not alone:
        try:
            reason = apply(uow, deps, header.sender, body)
        except Exception as exc:
            raise _ApplierRaised(exc) from exc
    elif apply is not None:
        try:
            with uow.savepoint():
                reason = apply(uow, deps, header.sender, body)
        except Exception as exc:
            return _failed(uow, deps, header, mid, seq, kind, exc)
    outcome = "refused" if reason else "applied"
    uow.inbox.add(sender=header.sender, message_id=mid, seq=seq, kind=kind,
                  envelope_id=header.envelope_id, outcome=outcome, reason=reason or "",
                  at=deps.clock())
    return Outcome(mid, outcome, reason or "")


def _failed(uow: UnitOfWork, deps: Deps, header: Header, mid: str, seq: int, kind: str,
            exc: Exception) -> Outcome:
    """Logged with its traceback and audited here; the partner learns the class name."""
    log.error("message %s (%s, seq %d) from %s failed", mid, kind, seq, header.sender,
              exc_info=exc)
    record(uow, deps, "federation", "inbox.failed", f"message:{mid}",
           {"sender": header.sender, "seq": seq, "kind": kind,
            "envelope_id": header.envelope_id,
            "error": f"{type(exc).__name__}: {exc}"[:1000]})
    return Outcome(mid, "failed", f"internal error at {deps.party} ({type(exc).__name__})")


def _receipt(deps: Deps, peer: Peer, got: Header, results: list[Outcome]) -> bytes:
    now = deps.clock()
    key_id, signer = keyring(deps).signer(now)
    enc = _usable(peer.card.encryption_keys, now, "encryption", peer.party)
    header = Header(deps.party, peer.party, deps.ids(), "receipt", got.agreement, utc(now),
                    utc(now + ENVELOPE_LIFETIME), key_id, enc.id)
    body = {"envelope_id": got.envelope_id, "results": [r.wire() for r in results]}
    return seal(header, payload_json(body), signer, x25519_public(enc))


def get_peer(deps: Deps, party: str) -> Peer:
    with deps.uow() as uow:
        peer = uow.peers.get(party)
    if peer is None:
        raise NotFound(f"no partner node {party}: add it with `liaison peer add`")
    return peer
