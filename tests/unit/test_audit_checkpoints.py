"""Checkpoints a partner countersigns: an honest log that only grew always extends the
checkpoint; any alteration, deletion, reordering or truncation of the countersigned part
never does (RFC 6962 consistency proofs), whatever proof the node offers."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.domain.audit import (
    Checkpoint,
    checkpoint_bytes,
    consistency_proof,
    extension_problem,
    merkle_root,
)

AT = datetime(2026, 12, 6, tzinfo=UTC)


def cp(leaves: list[bytes]) -> Checkpoint:
    return Checkpoint(len(leaves), merkle_root(leaves).hex(), "0" * 64, AT)


def log(n: int) -> list[bytes]:
    return [f"record {i}".encode() for i in range(n)]


@given(st.integers(1, 80), st.integers(0, 40))
def test_an_honest_log_that_grew_extends_its_checkpoint(old: int, more: int) -> None:
    leaves = log(old + more)
    proof = consistency_proof(leaves, old) if more else []
    assert extension_problem(cp(leaves[:old]), cp(leaves), proof) is None


REWRITES = ["alter", "delete", "swap", "truncate", "insert"]


@settings(max_examples=300)
@given(st.integers(2, 80), st.integers(0, 40), st.sampled_from(REWRITES), st.data())
def test_a_rewritten_history_never_extends_the_countersigned_checkpoint(
        old: int, more: int, how: str, data: st.DataObject) -> None:
    honest = log(old + more)
    at = data.draw(st.integers(0, old - 1))
    forged = list(honest)
    if how == "alter":
        forged[at] = forged[at] + b"!"
    elif how == "delete":
        del forged[at]
    elif how == "swap":
        other = data.draw(st.integers(0, old - 1).filter(lambda i: i != at))
        forged[at], forged[other] = forged[other], forged[at]
    elif how == "truncate":
        forged = forged[:at]
    else:
        forged.insert(at, b"inserted")
    countersigned = cp(honest[:old])
    # the forger offers the best proof it can make from its own log
    proof = consistency_proof(forged, old) if old < len(forged) else []
    assert extension_problem(countersigned, cp(forged), proof) is not None


def test_the_signed_bytes_name_the_log_and_every_field() -> None:
    base = checkpoint_bytes("KOR", cp(log(3)))
    assert base != checkpoint_bytes("JPN", cp(log(3)))
    assert base != checkpoint_bytes("KOR", cp(log(4)))
    later = Checkpoint(3, merkle_root(log(3)).hex(), "0" * 64, datetime(2027, 1, 1,
                                                                         tzinfo=UTC))
    assert base != checkpoint_bytes("KOR", later)
