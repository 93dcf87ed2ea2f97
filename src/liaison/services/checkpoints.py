"""Partners countersign this node's audit log, so a rewritten history is caught across
nodes (as Certificate Transparency's witnesses do for logs).

This node sends each partner a checkpoint of its log (size, Merkle root, head) with a
consistency proof from the last checkpoint that partner countersigned. The partner checks
that the new log extends the one it saw, signs the checkpoint with its node key, keeps
it, and sends the countersignature back; a checkpoint that does not extend the last one
is kept as ``inconsistent``, recorded in the partner's own audit log, and refused back.

A history rewritten afterwards (by someone with the disk, who cannot sign as a partner) is
caught twice: ``verify`` here recomputes the root of the first ``size`` records for every
countersigned checkpoint, and the next checkpoint fails the partner's consistency check.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from liaison.domain.audit import (
    AuditRecord,
    Checkpoint,
    checkpoint,
    checkpoint_bytes,
    consistency_proof,
    extension_problem,
    merkle_root,
)
from liaison.domain.users import Role, User
from liaison.services import audit_trail
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Invalid
from liaison.services.federation.envelopes import keyring
from liaison.services.federation.outbox import enqueue
from liaison.services.ports import UnitOfWork

KIND, REPLY = "audit_checkpoint", "audit_countersign"
SENT, COUNTERSIGNED, REFUSED = "sent", "countersigned", "refused"  # this node's log
INCONSISTENT, UNVERIFIABLE = "inconsistent", "unverifiable"  # a partner's, witnessed here
PAGE = 5000


def _records(uow: UnitOfWork) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    page = uow.audit.list(after_seq=-1, limit=PAGE)
    while page:
        records.extend(page)
        page = uow.audit.list(after_seq=page[-1].seq, limit=PAGE)
    return records


def _to(cp: Checkpoint) -> dict[str, Any]:
    return {"size": cp.size, "root": cp.root, "head_hash": cp.head_hash,
            "at": cp.at.isoformat()}


def _from(body: Any) -> Checkpoint:
    try:
        size, root, head = int(body["size"]), str(body["root"]), str(body["head_hash"])
        at = datetime.fromisoformat(str(body["at"]))
        bytes.fromhex(root)
        bytes.fromhex(head)
    except (KeyError, TypeError, ValueError) as exc:
        raise Invalid(f"malformed checkpoint: {exc}") from exc
    if size < 0 or len(root) != 64 or len(head) != 64 or at.tzinfo is None:
        raise Invalid("malformed checkpoint: size ≥ 0, 64 hex digits of root and head, "
                      "a time with its zone")
    return Checkpoint(size, root, head, at)


def _row(log_of: str, witness: str, cp: Checkpoint, state: str, now: datetime,
         key_id: str = "", signature: str = "", reason: str = "") -> dict[str, Any]:
    return {"log_of": log_of, "witness": witness, "size": cp.size, "root": cp.root,
            "head_hash": cp.head_hash, "at": cp.at, "state": state, "key_id": key_id,
            "signature": signature, "reason": reason, "recorded_at": now}


def _held(row: dict[str, Any] | None) -> Checkpoint | None:
    return None if row is None else Checkpoint(int(row["size"]), row["root"],
                                               row["head_hash"], row["at"])


# --- this node's log ------------------------------------------------------------------


def send(deps: Deps, user: User | None, actor: str = "system") -> dict[str, Any]:
    """Send a checkpoint of this node's log to every partner (administrators, or the
    node's clock with ``user=None``); what was sent to whom."""
    if user is not None:
        require(user, Role.ADMIN)
        actor = user.username
    with deps.uow() as uow:
        records = _records(uow)
        cp = checkpoint(records, deps.clock())
        leaves = [r.canonical for r in records]
        sent = []
        for peer in uow.peers.list():
            # the witness checks against the last checkpoint it had from us (in order)
            last = _held(uow.checkpoints.latest(deps.party, peer.party, (SENT, COUNTERSIGNED)))
            if last is not None and last.size >= cp.size:
                continue  # nothing new for this partner to witness
            previous = last.size if last is not None else 0
            proof = consistency_proof(leaves, previous) if previous else []
            enqueue(uow, deps, peer.party, KIND, {**_to(cp), "previous_size": previous,
                                                  "proof": [p.hex() for p in proof]})
            uow.checkpoints.put(_row(deps.party, peer.party, cp, SENT, deps.clock()))
            sent.append(peer.party)
        if sent:
            audit_trail.record(uow, deps, actor, "audit.checkpoint.sent", str(cp.size),
                               {**_to(cp), "to": sent})
        uow.commit()
    return {**_to(cp), "sent_to": sent}


def apply_countersign(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """A partner's answer to our checkpoint: its signature, or why it refused.

    Authority rule (issue 17): a partner answers only a checkpoint of our log that we sent
    to that partner and that it has not answered yet, with the very checkpoint we sent
    (size, root, head, time). Anything else is refused, recorded in our audit log
    (``audit.countersign.refused``) and changes nothing ``verify`` reports."""
    try:
        cp = _from(body)
    except Invalid as exc:
        return exc.message
    now = deps.clock()
    unasked = _unasked(uow, deps.party, sender, cp)
    if unasked:
        audit_trail.record(uow, deps, f"peer:{sender}", "audit.countersign.refused",
                           str(cp.size), {**_to(cp), "reason": unasked})
        return unasked
    if body.get("consistent") is not True:
        reason = str(body.get("reason", ""))[:500]
        uow.checkpoints.put(_row(deps.party, sender, cp, REFUSED, now, reason=reason))
        audit_trail.record(uow, deps, f"peer:{sender}", "audit.checkpoint.refused",
                           str(cp.size), {**_to(cp), "reason": reason})
        return None
    key_id, signature = str(body.get("key_id", "")), str(body.get("signature", ""))
    problem = _signature_problem(uow, sender, deps.party, cp, key_id, signature)
    if problem:
        return problem
    uow.checkpoints.put(_row(deps.party, sender, cp, COUNTERSIGNED, now, key_id, signature))
    return None


def _unasked(uow: UnitOfWork, party: str, witness: str, cp: Checkpoint) -> str | None:
    """Why ``witness`` may not answer ``cp`` now: we did not send it that checkpoint, or
    it answered already."""
    sent = next((r for r in uow.checkpoints.list(party)
                 if r["witness"] == witness and int(r["size"]) == cp.size), None)
    if sent is None or _held(sent) != cp:
        return (f"no checkpoint of {party}'s log at {cp.size} records was sent to {witness} "
                f"as this one: an answer only to a checkpoint we sent")
    if sent["state"] != SENT:
        return (f"the checkpoint at {cp.size} records was answered already "
                f"({sent['state']}): an answer is taken once")
    return None


def verify(deps: Deps, user: User) -> dict[str, Any]:
    """Every checkpoint partners countersigned against the log as it is now."""
    require(user, Role.ADMIN)
    with deps.uow() as uow:
        records = _records(uow)
        rows = uow.checkpoints.list(deps.party)
        leaves = [r.canonical for r in records]
        problems: list[str] = []
        checked = 0
        for row in rows:
            cp = _held(row)
            assert cp is not None
            if row["state"] == REFUSED:
                problems.append(f"{row['witness']} refused the checkpoint at {cp.size} "
                                f"records: {row['reason']}")
                continue
            if row["state"] != COUNTERSIGNED:
                continue  # sent, not answered yet
            checked += 1
            if cp.size > len(leaves):
                problems.append(f"{row['witness']} countersigned {cp.size} records; the log "
                                f"now has {len(leaves)}: records were removed")
            elif merkle_root(leaves[:cp.size]).hex() != cp.root:
                problems.append(f"the first {cp.size} records no longer match what "
                                f"{row['witness']} countersigned on {cp.at:%Y-%m-%d %H:%M}: "
                                f"the history was rewritten")
            else:
                why = _signature_problem(uow, row["witness"], deps.party, cp, row["key_id"],
                                         row["signature"])
                if why:
                    problems.append(why)
    return {"countersigned": checked, "ok": not problems, "problems": problems,
            "witnesses": sorted({r["witness"] for r in rows})}


# --- partners' logs (witnessed here) ----------------------------------------------------


def apply_checkpoint(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """Witness a partner's checkpoint: countersign it if it extends the last one we
    countersigned, else keep it as inconsistent, record that, and refuse it back."""
    try:
        cp = _from(body)
        previous = int(body.get("previous_size", 0))
        proof = [bytes.fromhex(str(p)) for p in body.get("proof", [])]
    except (Invalid, TypeError, ValueError) as exc:
        return f"malformed checkpoint: {exc}"
    now = deps.clock()
    last = _held(uow.checkpoints.latest(sender, deps.party, (COUNTERSIGNED,)))
    problem, state = None, INCONSISTENT
    if last is not None:
        if cp.size > last.size and previous != last.size:
            problem, state = (f"its proof starts at {previous} records; the last checkpoint "
                              f"countersigned here has {last.size}: not checked"), UNVERIFIABLE
        else:
            problem = extension_problem(last, cp, proof)
    if problem:
        uow.checkpoints.put(_row(sender, deps.party, cp, state, now, reason=problem))
        audit_trail.record(uow, deps, f"peer:{sender}", f"audit.checkpoint.{state}",
                           str(cp.size), {**_to(cp), "reason": problem})
        enqueue(uow, deps, sender, REPLY, {**_to(cp), "consistent": False,
                                           "reason": problem})
        return None
    key_id, key = keyring(deps).signer(now)
    signature = base64.b64encode(key.sign(checkpoint_bytes(sender, cp))).decode()
    uow.checkpoints.put(_row(sender, deps.party, cp, COUNTERSIGNED, now, key_id, signature))
    audit_trail.record(uow, deps, f"peer:{sender}", "audit.checkpoint.countersigned",
                       str(cp.size), _to(cp))
    enqueue(uow, deps, sender, REPLY, {**_to(cp), "consistent": True, "key_id": key_id,
                                       "signature": signature})
    return None


def _signature_problem(uow: UnitOfWork, witness: str, log_of: str, cp: Checkpoint,
                       key_id: str, signature: str) -> str | None:
    peer = uow.peers.get(witness)
    info = None if peer is None else next(
        (k for k in peer.card.signing_keys if k.id == key_id), None)
    if info is None:
        return f"{witness}'s countersignature names key {key_id!r}, not on its card"
    if info.revoked:
        return f"{witness}'s countersignature uses key {key_id}, since revoked"
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(info.public))
        public.verify(base64.b64decode(signature, validate=True), checkpoint_bytes(log_of, cp))
    except (InvalidSignature, ValueError, binascii.Error):
        return f"{witness}'s countersignature of the checkpoint at {cp.size} does not verify"
    return None


def listing(deps: Deps, user: User) -> list[dict[str, Any]]:
    require(user, Role.ADMIN)
    with deps.uow() as uow:
        rows = uow.checkpoints.list()
    return [{**r, "at": r["at"].isoformat(), "recorded_at": r["recorded_at"].isoformat()}
            for r in rows]


APPLIERS = {KIND: apply_checkpoint, REPLY: apply_countersign}
