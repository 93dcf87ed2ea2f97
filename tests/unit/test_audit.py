"""The tamper-evident audit log (docs/rules.md#audit-log): a hash chain with RFC 6962 leaf hashing
and Merkle proofs for checkpoints."""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.domain.audit import (
    AuditRecord,
    append,
    chain_hash,
    checkpoint,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_chain,
    verify_consistency,
    verify_inclusion,
)

T0 = datetime(2019, 11, 22, tzinfo=UTC)


def chain(n: int = 20) -> list[AuditRecord]:
    out: list[AuditRecord] = []
    for i in range(n):
        out.append(append(out[-1] if out else None, at=T0 + timedelta(seconds=i),
                          actor=f"user{i % 3}", action="release.checked",
                          subject=f"item:I{i}", details={"to": "JPN", "n": i, "군": "비밀"}))
    return out


# An alteration of a stored history: its kind, the tampered records, and whether the chain
# alone must show it (a changed tail shows only against a checkpoint: truncation, an
# appended record, the last record rewritten with its hash recomputed).
Alteration = tuple[str, list[AuditRecord], bool]


def rehashed(r: AuditRecord, prev_hash: str | None = None) -> AuditRecord:
    """``r`` with its hash recomputed (after ``prev_hash``, by default its own), as a forger
    who knows the scheme writes it."""
    prev = r.prev_hash if prev_hash is None else prev_hash
    return dataclasses.replace(r, prev_hash=prev, hash=chain_hash(prev, r.canonical))


def content_changes(r: AuditRecord) -> list[AuditRecord]:
    """What an insider would change in one record: who, what, about what, when, the
    details (a value, a key added, a key removed, a Korean value), its number."""
    out = [dataclasses.replace(r, actor="admin"),
           dataclasses.replace(r, actor=r.actor + " "),
           dataclasses.replace(r, action="release.refused"),
           dataclasses.replace(r, subject="item:I999"),
           dataclasses.replace(r, at=r.at + timedelta(microseconds=1)),
           dataclasses.replace(r, at=r.at - timedelta(days=1)),
           dataclasses.replace(r, seq=r.seq + 1)]
    for key in r.details:
        rest = {k: v for k, v in r.details.items() if k != key}
        out.append(dataclasses.replace(r, details=rest))
        out.append(dataclasses.replace(r, details={**r.details, key: "CHN"}))
    out.append(dataclasses.replace(r, details={**r.details, "extra": 1}))
    out.append(dataclasses.replace(r, details={**r.details, "군": "대외비"}))
    return out


def alterations(records: list[AuditRecord]) -> list[Alteration]:
    n, out = len(records), []
    forged = append(records[-1], at=T0, actor="mallory", action="release.checked",
                    subject="item:X", details={})
    for i, r in enumerate(records):
        last = i == n - 1
        for bad in content_changes(r):
            out.append(("content", [*records[:i], bad, *records[i + 1:]], True))
            # the forger recomputes the record's hash: the next record no longer follows it
            out.append(("content re-hashed", [*records[:i], rehashed(bad), *records[i + 1:]],
                        not last))
        out.append(("hash replaced", [*records[:i], dataclasses.replace(r, hash=forged.hash),
                                      *records[i + 1:]], True))
        out.append(("deletion", records[:i] + records[i + 1:], not last))
        # a record slipped in before record i, chained to what precedes it
        inserted = rehashed(dataclasses.replace(forged, seq=i), records[i - 1].hash
                            if i else records[0].prev_hash)
        out.append(("insertion", [*records[:i], inserted, *records[i:]], True))
        if i:
            out.append(("head cut", records[i:], True))
            out.append(("truncation", records[:i], False))
        for j in range(i + 1, n):
            out.append(("order", [*records[:i], records[j], *records[i + 1:j], records[i],
                                  *records[j + 1:]], True))
    out.append(("deletion of a run", records[:5] + records[10:], True))
    out.append(("appended", [*records, forged], False))
    return out


def test_a_valid_chain_verifies() -> None:
    result = verify_chain(chain())
    assert result.ok
    assert result.checked == 20


def test_every_alteration_is_detected() -> None:
    """Every kind of rewriting a stored history: each content field of each record changed
    (as stored, and with the record's hash recomputed), hashes replaced, records deleted,
    inserted, swapped, the head or the tail cut, a record appended. The chain alone shows
    each one except a changed tail; the countersigned checkpoint (head and size) shows
    those."""
    records = chain()
    cp = checkpoint(records, T0)
    kinds: Counter[str] = Counter()
    missed = []
    for kind, tampered, by_chain in alterations(records):
        kinds[kind] += 1
        against_cp = verify_chain(tampered, expected_head=cp.head_hash,
                                  expected_count=cp.size)
        if against_cp.ok or (by_chain and verify_chain(tampered).ok):
            missed.append(kind)
    total = sum(kinds.values())
    print(f"detected {total - len(missed)} of {total} alterations ("
          + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + ")")
    assert not missed, Counter(missed)
    assert kinds["content"] >= 20 * 10 and kinds["order"] == 190


def test_every_removal_and_swap_is_detected() -> None:
    records = chain()
    for i in range(len(records) - 1):
        assert not verify_chain(records[:i] + records[i + 1:]).ok
        swapped = [*records[:i], records[i + 1], records[i], *records[i + 2:]]
        result = verify_chain(swapped)
        assert not result.ok
        assert result.problem


def test_truncation_is_detected_against_a_checkpoint() -> None:
    records = chain()
    cp = checkpoint(records, T0)
    assert verify_chain(records, expected_head=cp.head_hash, expected_count=cp.size).ok
    result = verify_chain(records[:-1], expected_head=cp.head_hash, expected_count=cp.size)
    assert not result.ok
    assert "truncated" in (result.problem or "")


def test_merkle_root_known_vectors() -> None:
    """RFC 6962 §2.1: MTH of 1, 2, 3 leaves."""
    a, b, c = b"a", b"b", b"c"
    assert merkle_root([a]) == leaf_hash(a)
    assert merkle_root([a, b]) == node_hash(leaf_hash(a), leaf_hash(b))
    assert merkle_root([a, b, c]) == node_hash(node_hash(leaf_hash(a), leaf_hash(b)),
                                               leaf_hash(c))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.data())
def test_inclusion_proofs(n: int, data: st.DataObject) -> None:
    leaves = [os.urandom(8) for _ in range(n)]
    root = merkle_root(leaves)
    i = data.draw(st.integers(0, n - 1))
    proof = inclusion_proof(leaves, i)
    assert verify_inclusion(leaves[i], i, n, proof, root)
    assert not verify_inclusion(leaves[i] + b"!", i, n, proof, root)


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 40), st.data())
def test_consistency_proofs(n: int, data: st.DataObject) -> None:
    """A partner holding an old checkpoint can check the log only grew."""
    leaves = [os.urandom(8) for _ in range(n)]
    m = data.draw(st.integers(1, n - 1))
    proof = consistency_proof(leaves, m)
    assert verify_consistency(m, n, merkle_root(leaves[:m]), merkle_root(leaves), proof)
    assert not verify_consistency(m, n, os.urandom(32), merkle_root(leaves), proof)
    rewritten = [os.urandom(8), *leaves[1:]]
    assert not verify_consistency(m, n, merkle_root(leaves[:m]), merkle_root(rewritten),
                                  proof)
