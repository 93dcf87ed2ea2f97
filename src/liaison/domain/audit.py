"""The tamper-evident audit log: a hash chain with RFC 6962 leaf hashing, and Merkle
trees for checkpoints partners can countersign. Pure: no I/O.

docs/rules.md#audit-log: every decision, release, receipt and message is in a tamper-evident log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
LEAF, NODE = b"\x00", b"\x01"  # RFC 6962 §2.1 domain separation


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str

    @property
    def canonical(self) -> bytes:
        return canonical_bytes(self.seq, self.at, self.actor, self.action, self.subject,
                               self.details)


def canonical_bytes(seq: int, at: datetime, actor: str, action: str, subject: str,
                    details: Mapping[str, Any]) -> bytes:
    """One byte string per record content: sorted-key compact JSON, UTC microseconds."""
    doc = {"seq": seq, "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
           "actor": actor, "action": action, "subject": subject, "details": details}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def chain_hash(prev_hash: str, data: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + LEAF + data).hexdigest()


def append(prev: AuditRecord | None, *, at: datetime, actor: str, action: str, subject: str,
           details: Mapping[str, Any]) -> AuditRecord:
    """The record that follows ``prev`` (or the first one)."""
    seq = prev.seq + 1 if prev else 0
    prev_hash = prev.hash if prev else GENESIS
    details = json.loads(json.dumps(dict(details), default=str))  # stored as it is hashed
    data = canonical_bytes(seq, at, actor, action, subject, details)
    return AuditRecord(seq, at, actor, action, subject, details, prev_hash,
                       chain_hash(prev_hash, data))


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None


def verify_chain(records: Iterable[AuditRecord], *, expected_head: str | None = None,
                 expected_count: int | None = None) -> VerifyResult:
    """Re-hash every record: an altered, removed or reordered record breaks the chain;
    truncation shows only against a checkpoint (``expected_head`` / ``expected_count``)."""
    prev_hash, n = GENESIS, 0
    for r in records:
        problem = _check(r, n, prev_hash)
        if problem:
            return VerifyResult(False, n, r.seq, problem)
        prev_hash, n = r.hash, n + 1
    if expected_count is not None and n != expected_count:
        return VerifyResult(False, n, n, f"the log holds {n} records but the checkpoint "
                                         f"says {expected_count} (truncated or extended)")
    if expected_head is not None and prev_hash != expected_head:
        return VerifyResult(False, n, n - 1, "the last record is not the checkpoint's head")
    return VerifyResult(True, n)


def _check(r: AuditRecord, expected_seq: int, prev_hash: str) -> str | None:
    if r.seq != expected_seq:
        return (f"record {r.seq} found where record {expected_seq} belongs "
                f"(removed or reordered)")
    if r.prev_hash != prev_hash:
        return f"record {r.seq}: does not follow the previous record (removed or reordered)"
    if chain_hash(r.prev_hash, r.canonical) != r.hash:
        return f"record {r.seq}: content does not match its hash (altered)"
    return None


# --- RFC 6962 Merkle tree ------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """MTH (RFC 6962 §2.1)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = _split(len(leaves))
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]) (RFC 6962 §2.1.1)."""
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_proof(leaves[:k], index), merkle_root(leaves[k:])]
    return [*inclusion_proof(leaves[k:], index - k), merkle_root(leaves[:k])]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes],
                     root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(m, D[n]) (RFC 6962 §2.1.2)."""
    if old_size <= 0 or old_size >= len(leaves):
        return []
    return _subproof(leaves, old_size, True)


def _subproof(leaves: Sequence[bytes], m: int, complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [merkle_root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(leaves[:k], m, complete), merkle_root(leaves[k:])]
    return [*_subproof(leaves[k:], m - k, False), merkle_root(leaves[:k])]


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2."""
    if old_size == new_size:
        return old_root == new_root and not proof
    if old_size == 0 or old_size > new_size or not proof:
        return old_size == 0 and not proof
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root starts the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


@dataclass(frozen=True, slots=True)
class Checkpoint:
    size: int
    root: str
    head_hash: str
    at: datetime


def checkpoint(records: Sequence[AuditRecord], at: datetime) -> Checkpoint:
    """What a partner countersigns: the size, Merkle root and head of the log."""
    root = merkle_root([r.canonical for r in records]).hex()
    return Checkpoint(len(records), root, records[-1].hash if records else GENESIS, at)


# --- countersigned checkpoints (a partner witnesses this node's log) ------------------

CHECKPOINT_DOMAIN = b"liaison audit checkpoint v1\x00"


class CheckpointError(ValueError):
    """A checkpoint or countersignature that must not be trusted."""


def checkpoint_bytes(log_of: str, cp: Checkpoint) -> bytes:
    """What a witness signs: whose log, its size, Merkle root and head, and when."""
    body = {"log_of": log_of, "size": cp.size, "root": cp.root, "head_hash": cp.head_hash,
            "at": cp.at.astimezone(UTC).isoformat()}
    return CHECKPOINT_DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def extension_problem(old: Checkpoint, new: Checkpoint, proof: Sequence[bytes]) -> str | None:
    """Why ``new`` is not the log of ``old`` with records appended (RFC 6962 §2.1.2
    consistency), or ``None``. A rewritten, truncated or reordered history shows here."""
    if new.size < old.size:
        return f"the log shrank from {old.size} to {new.size} records"
    if new.size == old.size:
        return None if new.root == old.root else (
            f"the first {old.size} records no longer hash to the countersigned root")
    if old.size == 0:
        return None
    try:
        ok = verify_consistency(old.size, new.size, bytes.fromhex(old.root),
                                bytes.fromhex(new.root), list(proof))
    except ValueError:
        ok = False
    return None if ok else (f"the first {old.size} records are not those countersigned: "
                            f"the history was rewritten")
