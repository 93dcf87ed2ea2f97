"""Receiving: verify a partner's batch envelope, apply each new message exactly once (each
in its own savepoint, in chunks that let an urgent envelope go first) and answer with a
signed receipt giving each message's verdict: ``applied``, ``duplicate`` (applied before),
``refused`` with the reason (an authority or validity check said no: it will say no
again) or ``failed`` (an internal error here: the message's effects are rolled back to its
savepoint, the rest of the batch is applied and committed, the partner is told only the
error's class name, the log and the audit log get the details)."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from liaison.crypto.envelope import EnvelopeError, Header, payload_json, read_header, seal, utc
from liaison.crypto.keys import x25519_public
from liaison.crypto.tls import cert_sha256
from liaison.domain.lanes import ROUTINE, lane_for
from liaison.services.audit_trail import record
from liaison.services.context import Deps
from liaison.services.federation.envelopes import (
    ENVELOPE_LIFETIME,
    Outcome,
    Refresh,
    keyring,
    open_from_peer,
    usable_key,
)
from liaison.services.inbox_turns import CHUNK, TURNS
from liaison.services.ports import Peer, UnitOfWork

log = logging.getLogger("liaison.federation")

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
    return seal_receipt(deps, peers[header.sender], header, results)


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


def seal_receipt(deps: Deps, peer: Peer, got: Header, results: list[Outcome]) -> bytes:
    """The signed receipt for envelope ``got``: each message's verdict."""
    now = deps.clock()
    key_id, signer = keyring(deps).signer(now)
    enc = usable_key(peer.card.encryption_keys, now, "encryption", peer.party)
    header = Header(deps.party, peer.party, deps.ids(), "receipt", got.agreement, utc(now),
                    utc(now + ENVELOPE_LIFETIME), key_id, enc.id)
    body = {"envelope_id": got.envelope_id, "results": [r.wire() for r in results]}
    return seal(header, payload_json(body), signer, x25519_public(enc))
