"""Batches fit the partner's envelope limit: a batch is cut by the size of its messages, a
message that could never fit is refused when queued, and one that reached the queue
anyway is settled as refused, unsent, instead of blocking the partner's queue."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.twins import MemoryState, MemoryUnitOfWork

from liaison.crypto.keys import verify_card
from liaison.federation.keystore import Keystore
from liaison.services import federation
from liaison.services.context import Deps
from liaison.services.errors import Refused
from liaison.services.federation import outbox
from liaison.services.ports import Peer

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)
LIMIT = 4000  # bytes of messages per batch, for these tests


@pytest.fixture
def kor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Deps:
    monkeypatch.setattr(outbox, "MAX_BATCH_BYTES", LIMIT)
    state = MemoryState()
    jpn_keys = Keystore.create(tmp_path / "JPN", NOW)
    card = jpn_keys.card("JPN", "http://jpn", NOW)
    state.peers["JPN"] = Peer("JPN", "http://jpn", jpn_keys.fingerprint,
                              verify_card(asdict(card), jpn_keys.fingerprint), NOW)
    counter = iter(range(10**6))
    return Deps(uow=lambda: MemoryUnitOfWork(state), party="KOR", clock=lambda: NOW,
                ids=lambda: f"m{next(counter)}", keyring=Keystore.create(tmp_path / "KOR", NOW),
                address="http://kor")


def queue(deps: Deps, *sizes: int) -> None:
    with deps.uow() as uow:
        for size in sizes:
            federation.enqueue(uow, deps, "JPN", "note", {"text": "x" * size})
        uow.commit()


def drain(deps: Deps) -> list[list[int]]:
    """Every batch's sequence numbers, settling each as if the partner accepted it."""
    batches = []
    while (found := federation.next_batch(deps, "JPN")) is not None:
        peer, messages = found
        body = {"messages": [{"id": m.id, "seq": m.seq, "kind": m.kind, "payload": m.payload}
                             for m in messages]}
        assert len(json.dumps(body, separators=(",", ":"))) <= LIMIT
        federation.seal_batch(deps, peer, messages)
        with deps.uow() as uow:
            uow.outbox.settle_all([(m.id, "delivered", {}) for m in messages], NOW)
            uow.commit()
        batches.append([m.seq for m in messages])
    return batches


def test_a_batch_is_cut_where_its_messages_would_pass_the_limit(kor: Deps) -> None:
    queue(kor, *[900] * 10)
    batches = drain(kor)
    assert len(batches) > 1 and all(1 <= len(b) <= 4 for b in batches)
    assert [s for b in batches for s in b] == sorted(s for b in batches for s in b)
    assert sum(len(b) for b in batches) == 10  # every message went, in order


def test_a_message_that_can_never_fit_is_refused_when_queued(kor: Deps) -> None:
    queue(kor, 100)
    with kor.uow() as uow, pytest.raises(Refused, match=r"over the .* one envelope may carry"):
        federation.enqueue(uow, kor, "JPN", "release", {"item": "x" * LIMIT})
    with kor.uow() as uow:
        assert uow.outbox.count(peer="JPN") == 1  # only the small one


def test_an_oversized_message_already_queued_does_not_block_the_queue(kor: Deps) -> None:
    queue(kor, 100)
    with kor.uow() as uow:  # queued by a path that does not check (or before the check)
        big = uow.outbox.enqueue(message_id="big", peer="JPN", kind="release",
                                 payload={"item": "x" * LIMIT}, at=NOW)
        uow.commit()
    queue(kor, 100, 100)
    assert drain(kor) == [[1, 3, 4]]  # the big one (seq 2) is not sent
    with kor.uow() as uow:
        (refused,) = [m for m in uow.outbox.list(peer="JPN", limit=10) if m.id == big.id]
        assert refused.state == "refused" and refused.receipt
        assert "one envelope" in refused.receipt["reason"]
        assert any(r.action == "outbox.refused_unsent" for r in uow.audit.list())
        assert uow.outbox.count(peer="JPN", state="pending") == 0
