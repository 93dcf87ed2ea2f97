"""The bad-envelope corpus: every forged, tampered, expired, replayed or mis-addressed envelope is
refused; every valid one is accepted (docs/rules.md#exactly-once, the federation issue)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from memory_nodes import MemoryNode

from liaison.crypto.envelope import EnvelopeError, Header, payload_json, seal, utc
from liaison.crypto.keys import x25519_public
from liaison.domain.codec import item_to
from liaison.services import federation, receiving

from factories import item, label, seed_agreements

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)
APPLIERS = {"release": receiving.apply_release}


class Node(MemoryNode):
    def __init__(self, party: str, root: Path) -> None:
        super().__init__(party, root, NOW, seed_agreements())

    def items(self) -> int:
        return len(self.state.items)


@pytest.fixture
def nodes(tmp_path: Path) -> tuple[Node, Node, Node]:
    kor, jpn, usa = (Node(p, tmp_path) for p in ("KOR", "JPN", "USA"))
    for a, b in ((kor, jpn), (jpn, kor), (jpn, usa), (usa, jpn), (kor, usa)):
        a.trust(b)
    return kor, jpn, usa


def batch(sender: Node, to: Node, n: int = 2) -> tuple[Header, bytes]:
    with sender.deps.uow() as uow:
        msgs = [federation.enqueue(uow, sender.deps, to.party, "release", {
            "item": item_to(item(label("군사II급비밀", rel_to={"JPN"}), item_id=f"I{i}")),
            "agreement": "KOR-JPN-GSOMIA"}) for i in range(n)]
        uow.commit()
    peer = sender.state.peers[to.party]
    return federation.seal_batch(sender.deps, peer, msgs)


def accepted(receiver: Node, wire: bytes) -> list[str]:
    receipt = federation.receive(receiver.deps, wire, APPLIERS)
    assert receipt
    return [k for k, v in receiver.state.inbox.items()]  # type: ignore[misc]


def refused(receiver: Node, wire: bytes) -> bool:
    before = (receiver.items(), len(receiver.state.inbox))
    try:
        federation.receive(receiver.deps, wire, APPLIERS)
    except EnvelopeError:
        return (receiver.items(), len(receiver.state.inbox)) == before
    return False


def forge(origin: Node, to: Node, signer: Node | None = None, **changes: Any) -> bytes:
    """A batch envelope with header fields changed, signed by ``signer``'s key."""
    sender = origin
    header, _ = batch(sender, to, 1)
    header = replace(header, **changes)
    key_id, signing = (signer or sender).keys.signer(NOW)
    if signer is not None and "sender_key" not in changes:
        header = replace(header, sender_key=key_id)
    enc = to.keys.current("encryption", NOW)
    body = payload_json({"messages": [{"id": "forged", "seq": 99, "kind": "release",
                                       "payload": {}}]})
    return seal(header, body, signing, x25519_public(enc))


def test_a_valid_batch_is_accepted_once(nodes: tuple[Node, Node, Node]) -> None:
    kor, jpn, _ = nodes
    _, wire = batch(kor, jpn, 3)
    federation.receive(jpn.deps, wire, APPLIERS)
    assert jpn.items() == 3
    again = federation.receive(jpn.deps, wire, APPLIERS)
    assert jpn.items() == 3  # a replay changes nothing; the receipt says "duplicate"
    _, receipt = federation.open_from_peer(kor.deps, again, kor.state.peers)
    assert [r["outcome"] for r in json.loads(receipt)["results"]] == ["duplicate"] * 3


def test_the_bad_envelope_corpus_is_refused(nodes: tuple[Node, Node, Node],
                                           tmp_path: Path) -> None:
    kor, jpn, usa = nodes
    _, valid = batch(kor, jpn, 1)
    corpus: dict[str, bytes] = {}
    for i in range(len(valid)):  # a bit flip in every byte of the envelope
        corpus[f"flip byte {i}"] = valid[:i] + bytes([valid[i] ^ 0x01]) + valid[i + 1:]
    corpus["truncated"] = valid[:-10]
    corpus["empty"] = b""
    corpus["expired"] = forge(kor, jpn, expires=utc(NOW - timedelta(seconds=1)))
    corpus["future-dated"] = forge(kor, jpn, created=utc(NOW + timedelta(hours=1)))
    corpus["wrong recipient"] = forge(kor, jpn, recipient="USA")
    corpus["unknown sender key"] = forge(kor, jpn, sender_key="0" * 32)
    corpus["another partner's signature"] = forge(kor, jpn, signer=usa)
    # only the signature tells this one apart: KOR's own key id, signed with another key
    corpus["another key's signature under KOR's key id"] = forge(
        kor, jpn, signer=usa, sender_key=kor.keys.signer(NOW)[0])
    corpus["unknown sender"] = forge(kor, jpn, sender="CHN")
    stranger = Node("PRK", tmp_path / "x")
    stranger.trust(jpn)
    corpus["untrusted node"] = forge(stranger, jpn)
    _, for_usa = batch(kor, usa, 1)
    corpus["addressed to another node"] = for_usa
    rejected = sum(refused(jpn, wire) for wire in corpus.values())
    misses = [name for name, wire in corpus.items() if not refused(jpn, wire)]
    print(f"rejected {rejected} of {len(corpus)} bad envelopes")
    assert misses == []
    federation.receive(jpn.deps, valid, APPLIERS)
    assert jpn.items() == 1
    print("valid accepted 1 of 1")


def test_revoked_keys_are_never_accepted(nodes: tuple[Node, Node, Node]) -> None:
    kor, jpn, _ = nodes
    _, wire = batch(kor, jpn, 1)
    key_id, _ = kor.keys.signer(NOW)
    kor.keys.revoke(key_id)
    jpn.trust(kor)  # JPN refreshes KOR's card, which now lists the key as revoked
    assert refused(jpn, wire)


def test_rotation_keeps_old_keys_until_expiry(nodes: tuple[Node, Node, Node]) -> None:
    """Old keys are accepted until their stated expiry (envelopes in flight survive)."""
    kor, jpn, _ = nodes
    _, in_flight = batch(kor, jpn, 1)
    jpn.keys.rotate(NOW, timedelta(days=1))
    kor.keys.rotate(NOW, timedelta(days=1))
    jpn.trust(kor)
    kor.trust(jpn)
    federation.receive(jpn.deps, in_flight, APPLIERS)
    assert jpn.items() == 1
    _, fresh = batch(kor, jpn, 1)
    header = json.loads(fresh[8:8 + int.from_bytes(fresh[4:8], "big")])
    assert header["recipient_key"] == jpn.keys.current("encryption", NOW).id
    later = replace(jpn.deps, clock=lambda: NOW + timedelta(days=2))
    with pytest.raises(EnvelopeError):
        federation.receive(later, in_flight, APPLIERS)


def test_no_equivalent_level_is_refused_in_the_receipt(nodes: tuple[Node, Node, Node]) -> None:
    """docs/rules.md#no-equivalent: a level with no equivalent is refused, not stored."""
    kor, jpn, _ = nodes
    with kor.deps.uow() as uow:
        msg = federation.enqueue(uow, kor.deps, "JPN", "release", {
            "item": item_to(item(label("군사I급비밀", rel_to={"JPN"}))),
            "agreement": "KOR-JPN-GSOMIA"})
        uow.commit()
    header, wire = federation.seal_batch(kor.deps, kor.state.peers["JPN"], [msg])
    answer = federation.receive(jpn.deps, wire, APPLIERS)
    results = federation.settle_receipt(kor.deps, kor.state.peers["JPN"], header, [msg],
                                        answer)
    assert results[0].outcome == "refused"
    assert "no equivalent" in results[0].reason
    assert jpn.items() == 0
    assert kor.state.outbox[msg.id].state == "refused"


def test_direct_sending_under_an_arrangement_is_refused(nodes: tuple[Node, Node, Node]) -> None:
    """docs/rules.md#hub-relay: under TISA, KOR → JPN transfers go through the hub."""
    kor, jpn, _ = nodes
    with kor.deps.uow() as uow:
        msg = federation.enqueue(uow, kor.deps, "JPN", "release", {
            "item": item_to(item(label("군사II급비밀", rel_to={"JPN", "USA"}))),
            "agreement": "TISA-2014"})
        uow.commit()
    header, wire = federation.seal_batch(kor.deps, kor.state.peers["JPN"], [msg])
    answer = federation.receive(jpn.deps, wire, APPLIERS)
    result = federation.settle_receipt(kor.deps, kor.state.peers["JPN"], header, [msg],
                                       answer)[0]
    assert result.outcome == "refused"
    assert "through the hub USA" in result.reason
    assert jpn.items() == 0
