"""The tamper-evident audit log (MISSION 10): a hash chain with RFC 6962 leaf hashing and
Merkle proofs for checkpoints."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.domain.audit import (
    AuditRecord,
    append,
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


def flip(text: str, i: int) -> str:
    ch = text[i % len(text)]
    return text[: i % len(text)] + ("x" if ch != "x" else "y") + text[i % len(text) + 1:]


def alterations(r: AuditRecord) -> list[AuditRecord]:
    out = []
    for name in ("actor", "action", "subject", "hash", "prev_hash"):
        value = getattr(r, name)
        out += [dataclasses.replace(r, **{name: flip(value, i)}) for i in range(len(value))]
    out.append(dataclasses.replace(r, at=r.at + timedelta(microseconds=1)))
    out.append(dataclasses.replace(r, details={**r.details, "to": "CHN"}))
    out.append(dataclasses.replace(r, details={**r.details, "extra": 1}))
    out.append(dataclasses.replace(r, seq=r.seq + 1))
    return out


def test_a_valid_chain_verifies() -> None:
    result = verify_chain(chain())
    assert result.ok
    assert result.checked == 20


def test_every_single_alteration_is_detected() -> None:
    records = chain()
    detected = total = 0
    for i, r in enumerate(records):
        for bad in alterations(r):
            total += 1
            tampered = [*records[:i], bad, *records[i + 1:]]
            detected += not verify_chain(tampered).ok
    print(f"detected {detected} of {total} alterations")
    assert detected == total


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
