"""A hostile partner with real keys, as a hub or a sender of releases (issue 17, points 2–5).

Every partner here seals valid envelopes with its own keys (``federation.seal_batch``): the
envelope layer accepts them, so only the release rules stand between the partner and our
records. What is shown:

- **Relayed items are signed end to end by their originator.** The hub (USA under TISA)
  cannot deliver an item "from KOR" that KOR never signed — unsigned, signed with the hub's
  own key, signed by the hub as itself, with a card of its own making — nor alter or raise
  one KOR did sign (content, level, releasability, recipient, agreement, topic, consents,
  signing time, files). Each is refused at JPN with the reason in the signed receipt and an
  audit record; JPN's items, ledger and files are unchanged. A genuine relay still arrives,
  re-marked, booked as received from KOR; a rotated KOR key is found on the card KOR put in
  the release (checked against the pinned fingerprint).
- **The receiver decides again on its own records**: a CHN/navy item under the DPRK-only
  TISA arrangement, an item under an MOU, a portion not releasable to the receiver, a level
  above the agreement's table and a third party's portion without its originator's
  consent are refused, even when the sender (or the hub and the originator together) sign
  them.
- **Everything is validated before it is stored**, and a resend of an item id with other
  content is a conflict, refused and recorded; an identical resend is a duplicate.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from liaison.crypto import origin as signatures
from liaison.crypto.envelope import seal
from liaison.crypto.keys import verify_card, x25519_public
from liaison.domain.codec import agreement_from
from liaison.domain.parties import default_parties
from liaison.federation.keystore import Keystore
from liaison.services import federation, origin, receiving
from liaison.services.context import Deps
from liaison.services.errors import Refused
from liaison.services.ports import OutboxMessage, Peer
from liaison.storage.blobs import BlobStore
from tests.twins import MemoryState, MemoryUnitOfWork

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)
SEED = Path(__file__).parents[2] / "src" / "liaison" / "reference" / "seed.yaml"
APPLIERS = {"release": receiving.apply_release}
IDS = itertools.count()


class Node:
    """A node over in-memory storage with real keys, a blob store and the seed agreements."""

    def __init__(self, party: str, root: Path) -> None:
        self.party = party
        self.keys = Keystore.create(root / party / "keys", NOW)
        self.state = MemoryState()
        parties = default_parties()
        for data in yaml.safe_load(SEED.read_text())["agreements"]:
            a = agreement_from(data, parties)
            self.state.agreements[a.id] = a
        self.blobs = BlobStore(root / party / "blobs", b"k" * 32)
        counter = itertools.count()
        self.deps = Deps(uow=lambda: MemoryUnitOfWork(self.state), party=party,
                         clock=lambda: NOW, ids=lambda: f"{party}-{next(counter)}",
                         keyring=self.keys, address=f"https://{party.lower()}.example",
                         blobs=self.blobs)

    def trust(self, other: Node) -> None:
        """``liaison peer add``: the card checked against the fingerprint."""
        card = verify_card(asdict(other.keys.card(other.party, other.deps.address, NOW)),
                           other.keys.fingerprint)
        self.state.peers[other.party] = Peer(other.party, other.deps.address,
                                             other.keys.fingerprint, card, NOW)

    def records(self) -> tuple[Any, ...]:
        """What a refused release must not change."""
        files = sorted(p.name for p in self.blobs.root.rglob("*") if p.is_file())
        return (dict(self.state.items), list(self.state.ledger), dict(self.state.blobs),
                files, dict(self.state.outbox))

    def actions(self) -> list[str]:
        return [r.action for r in self.state.audit]


def send(sender: Node, receiver: Node, *payloads: dict[str, Any]) -> list[tuple[str, str]]:
    """Seal ``payloads`` as release messages with the sender's real keys, deliver them, and
    read the receiver's signed receipt at the sender: (outcome, reason) per message."""
    messages = [OutboxMessage(f"m{next(IDS)}", receiver.party, i + 1, "release", p, NOW,
                              "pending") for i, p in enumerate(payloads)]
    try:
        _, wire = federation.seal_batch(sender.deps, sender.state.peers[receiver.party],
                                        messages)
    except UnicodeEncodeError:  # a lone surrogate: sent as a JSON escape, as anyone can
        wire = _sealed_ascii(sender, receiver, messages)
    answer = federation.receive(receiver.deps, wire, APPLIERS)
    head, body = federation.open_from_peer(sender.deps, answer, sender.state.peers)
    assert head.kind == "receipt"
    return [(r["outcome"], r["reason"]) for r in json.loads(body)["results"]]


def _sealed_ascii(sender: Node, receiver: Node, messages: list[OutboxMessage]) -> bytes:
    header, _ = federation.seal_batch(sender.deps, sender.state.peers[receiver.party], [])
    body = json.dumps({"messages": [{"id": m.id, "seq": m.seq, "kind": m.kind,
                                     "payload": m.payload} for m in messages]}).encode()
    enc = receiver.keys.current("encryption", NOW)
    return seal(header, body, sender.keys.signer(NOW)[1], x25519_public(enc))


def forward(hub: Node, to: Node) -> list[tuple[str, str]]:
    """The hub's outbox to ``to``, delivered as its sender does (the payload unchanged)."""
    pending = [m for m in hub.state.outbox.values() if m.peer == to.party
               and m.state == "pending"]
    assert pending, "the hub queued nothing"
    for m in pending:
        hub.state.outbox[m.id] = replace(m, state="delivered")
    return send(hub, to, *(m.payload for m in pending))


def label(level: str, rel_to: tuple[str, ...] = ("JPN", "USA"), originator: str = "KOR",
          policy: str = "KOR") -> dict[str, Any]:
    return {"policy": policy, "classification": level, "originator": originator,
            "created": "2026-01-05T00:00:00Z", "rel_to": list(rel_to)}


def item(item_id: str = "R1", topic: str = "DPRK/missile", level: str = "군사II급비밀",
         **kw: Any) -> dict[str, Any]:
    return {"id": item_id, "originator": "KOR", "discipline": "IMINT", "topic": topic,
            "grade": "A2", "title": "TEL at Sunchon", "reported_at": "2026-01-05T00:00:00Z",
            "portions": [{"id": "p1", "content": "TEL sighted",
                          "label": label(level, **kw)}]}


def release(sender: Node, data: dict[str, Any], agreement: str, recipient: str,
            route: tuple[str, ...] = (), consents: list[dict[str, str]] | None = None,
            ) -> dict[str, Any]:
    """The release message as ``releases._send`` builds it, signed by ``sender``."""
    payload = {"item": copy.deepcopy(data), "agreement": agreement,
               "request_id": f"rq{next(IDS)}", "recipient": recipient, "route": list(route),
               "purpose": "early warning", "consents": consents or []}
    return origin.sign_release(sender.deps, payload, bool(route))


class World:
    def __init__(self, root: Path) -> None:
        self.kor, self.usa, self.jpn, self.chn = (Node(p, root) for p in
                                                  ("KOR", "USA", "JPN", "CHN"))
        for a in (self.kor, self.usa, self.jpn, self.chn):
            for b in (self.kor, self.usa, self.jpn, self.chn):
                if a is not b:
                    a.trust(b)

    def relayed(self, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """A genuine TISA release KOR → USA → JPN, as the hub would forward it."""
        msg = release(self.kor, data or item(), "TISA-2014", "JPN", ("USA",))
        return {**msg, "origin": "KOR", "relayed_by": "USA"}


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def refused_at(receiver: Node, sender: Node, payload: dict[str, Any],
               expect: str) -> str:
    """Deliver ``payload``; assert it is refused with ``expect`` in the reason, that
    nothing of it is stored and that the refusal is audited."""
    before, audit = receiver.records(), len(receiver.state.audit)
    [(outcome, reason)] = send(sender, receiver, payload)
    assert (outcome, expect in reason) == ("refused", True), reason
    assert receiver.records() == before
    new = [r for r in receiver.state.audit[audit:] if r.action == "release.refused"]
    assert new and new[0].details["reason"] == reason
    return reason


# --- the hub: forged, altered or raised items ----------------------------------------


def test_a_genuine_relay_arrives_signed_by_its_originator(world: World) -> None:
    """docs/rules.md#hub-relay and issue 17 point 4: KOR → USA (hub) → JPN; JPN checks KOR's
    own signature, re-marks the item and books it as received from KOR."""
    assert send(world.kor, world.usa, release(world.kor, item(), "TISA-2014", "JPN",
                                              ("USA",))) == [("applied", "")]
    assert world.usa.state.items == {}  # the hub keeps no copy
    assert forward(world.usa, world.jpn) == [("applied", "")]
    stored = world.jpn.state.items["R1@KOR"][0]
    assert (stored.item.portions[0].label.classification,
            stored.item.portions[0].label.originator) == ("極秘", "KOR")
    [entry] = world.jpn.state.ledger
    assert (entry.partner, entry.agreement_id) == ("KOR", "TISA-2014")
    got = next(r for r in world.jpn.state.audit if r.action == "release.received")
    assert got.details == {"from": "USA", "origin": "KOR", "agreement": "TISA-2014",
                           "origin_signed": True}


def test_the_hub_cannot_forge_an_item_from_kor(world: World) -> None:
    """The reported attack: the hub delivers an item "from KOR" that KOR never sent."""
    forged = {"item": item("FORGED"), "agreement": "TISA-2014", "recipient": "JPN",
              "route": ["USA"], "purpose": "x", "consents": [], "origin": "KOR",
              "relayed_by": "USA"}
    refused_at(world.jpn, world.usa, forged, "no origin signature")
    usa_key, usa_signer = world.usa.keys.signer(NOW)
    own_key = {**forged, "origin_signature": signatures.sign(
        forged, "KOR", usa_key, usa_signer, NOW.isoformat())}
    refused_at(world.jpn, world.usa, own_key, "is not on its pinned card")
    as_itself = {**forged, "origin_signature": signatures.sign(
        forged, "USA", usa_key, usa_signer, NOW.isoformat())}
    refused_at(world.jpn, world.usa, as_itself, "signed by USA, not by its stated originator")
    fake_card = {**own_key, "origin_card": {
        **asdict(world.usa.keys.card("KOR", "https://kor.example", NOW))}}
    refused_at(world.jpn, world.usa, fake_card, "is not on its pinned card")
    assert "R1@KOR" not in world.jpn.state.items


def _mutations() -> dict[str, Callable[[dict[str, Any]], None]]:
    def at(*path: Any) -> Callable[[Any], Callable[[dict[str, Any]], None]]:
        def setter(value: Any) -> Callable[[dict[str, Any]], None]:
            def change(msg: dict[str, Any]) -> None:
                target = msg
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = value
            return change
        return setter

    return {
        "content": at("item", "portions", 0, "content")("TEL sighted, launch imminent"),
        "raised level": at("item", "portions", 0, "label", "classification")("군사I급비밀"),
        "wider release": at("item", "portions", 0, "label", "rel_to")(["JPN", "USA", "CHN"]),
        "title": at("item", "title")("ICBM on the pad"),
        "grade": at("item", "grade")("A1"),
        "purpose": at("purpose")("targeting"),
        "consents": at("consents")([{"originator": "USA", "recipient": "JPN",
                                     "item_id": "R1", "purpose": "x", "granted_by": "x",
                                     "granted_on": "2026-01-01"}]),
        "consents dropped": lambda m: m.pop("consents"),
        "signing time": at("origin_signature", "signed_at")("2026-01-04T09:00:00+00:00"),
        "signature": at("origin_signature", "signature")(base64.b64encode(
            bytes(64)).decode()),
        "extra portion": lambda m: m["item"]["portions"].append(
            {**copy.deepcopy(m["item"]["portions"][0]), "id": "p2"}),
    }


@pytest.mark.parametrize("what", sorted(_mutations()))
def test_the_hub_cannot_alter_or_raise_a_signed_item(world: World, what: str) -> None:
    """Whatever the hub changes in KOR's signed release is refused at JPN."""
    msg = world.relayed()
    _mutations()[what](msg)
    refused_at(world.jpn, world.usa, msg, "origin")


def test_the_hub_cannot_swap_a_file(world: World) -> None:
    """A file travels beside the signed item: its bytes must match the signed SHA-256."""
    data = item()
    png = b"%PDF-1.4 original"
    data["portions"][0]["attachment"] = {"sha256": hashlib.sha256(png).hexdigest(),
                                         "size": len(png), "media_type": "application/pdf",
                                         "address": "", "data": base64.b64encode(png).decode()}
    genuine = world.relayed(data)
    swapped = copy.deepcopy(genuine)
    other = b"%PDF-1.4 forged!!"
    swapped["item"]["portions"][0]["attachment"]["data"] = base64.b64encode(other).decode()
    refused_at(world.jpn, world.usa, swapped, "bytes do not match")
    resigned = copy.deepcopy(swapped)
    resigned["item"]["portions"][0]["attachment"].update(
        sha256=hashlib.sha256(other).hexdigest())
    refused_at(world.jpn, world.usa, resigned, "origin")
    assert send(world.usa, world.jpn, genuine) == [("applied", "")]
    assert len(world.jpn.state.blobs) == 1


def test_the_hub_forwards_only_what_its_originator_signed(world: World) -> None:
    """At the hub: a relay request without the originator's signature (or signed for
    another content) is not forwarded."""
    unsigned = release(world.kor, item(), "TISA-2014", "JPN", ("USA",))
    del unsigned["origin_signature"]
    [(outcome, reason)] = send(world.kor, world.usa, unsigned)
    assert outcome == "refused" and "not forwarded" in reason
    assert world.usa.state.outbox == {}


def test_a_rotated_originator_key_is_found_on_the_card_it_carries(world: World) -> None:
    """KOR rotated its keys after JPN pinned its card: the card KOR puts in the release
    verifies against the pinned fingerprint, so JPN finds the new key; a hub cannot use
    that path with a card of its own."""
    world.kor.keys.rotate(NOW - timedelta(minutes=1), timedelta(days=1))
    msg = world.relayed()
    assert msg["origin_signature"]["key"] not in {
        k.id for k in world.jpn.state.peers["KOR"].card.signing_keys}
    assert send(world.usa, world.jpn, msg) == [("applied", "")]


# --- the receiver decides again on its own records -----------------------------------


def test_an_item_outside_the_arrangements_scope_is_refused(world: World) -> None:
    """The reported attack: a CHN/navy item booked under the DPRK-only TISA arrangement.
    The hub sends it as its own (hub to party: no relay), and relayed with a genuine KOR
    signature (originator and hub colluding): both refused by JPN's own engine."""
    own = release(world.usa, item("N1", topic="CHN/navy", level="SECRET", policy="USA",
                                  originator="USA"), "TISA-2014", "JPN")
    refused_at(world.jpn, world.usa, own, "topic 'CHN/navy' is outside TISA-2014's topics")
    relayed = world.relayed(item("N2", topic="CHN/navy"))
    refused_at(world.jpn, world.usa, relayed, "scope: topic 'CHN/navy'")


def test_an_mou_carries_no_classified_exchange(world: World) -> None:
    """docs/rules.md#agreement-kinds: an MOU opens a channel or talks, not the exchange of
    classified information."""
    msg = release(world.chn, item("C1", level="机密", policy="CHN", originator="CHN",
                                  rel_to=("KOR",)), "KOR-CHN-HOTLINE-MOU", "KOR")
    refused_at(world.kor, world.chn, msg, "is an MOU")


def test_releasability_equivalence_and_the_third_party_rule(world: World) -> None:
    """STANAG 4774 REL TO, docs/rules.md#equivalence and docs/rules.md#consent, decided again at
    JPN."""
    not_rel = release(world.kor, item("A", rel_to=("USA",)), "KOR-JPN-GSOMIA", "JPN")
    refused_at(world.jpn, world.kor, not_rel, "does not include JPN")
    top = release(world.kor, item("B", level="군사I급비밀", rel_to=("JPN",)), "KOR-JPN-GSOMIA",
                  "JPN")
    refused_at(world.jpn, world.kor, top, "no equivalent")
    theirs = item("C", level="SECRET", policy="USA", originator="KOR", rel_to=("JPN",))
    msg = release(world.usa, theirs, "USA-JPN-GSOMIA", "JPN")
    refused_at(world.jpn, world.usa, msg, "GSOMIA Art. 6: originated by KOR")
    consent = {"originator": "KOR", "recipient": "JPN", "item_id": "C",
               "purpose": "targeting", "granted_by": "KOR J2", "granted_on": "2026-01-04"}
    # docs/rules.md#consent, decided again at JPN: a consent for another purpose than the
    # release states unlocks nothing
    refused_at(world.jpn, world.usa, release(world.usa, theirs, "USA-JPN-GSOMIA", "JPN",
                                             consents=[consent]), "for purpose 'targeting' only")
    consent = {**consent, "purpose": "early warning"}
    assert send(world.usa, world.jpn, release(world.usa, theirs, "USA-JPN-GSOMIA", "JPN",
                                              consents=[consent])) == [("applied", "")]


def test_the_direct_sender_is_the_originator(world: World) -> None:
    """Not relayed, the envelope's signer is the originator: a body naming another
    origin is refused, and a direct release's own origin signature must be the sender's."""
    msg = {**release(world.usa, item("D", level="SECRET", policy="USA", originator="USA",
                                     rel_to=("JPN",)), "USA-JPN-GSOMIA", "JPN"),
           "origin": "KOR"}
    refused_at(world.jpn, world.usa, msg, "")
    signed_by_kor = release(world.kor, item("E", rel_to=("JPN",)), "KOR-JPN-GSOMIA", "JPN")
    refused_at(world.jpn, world.usa, signed_by_kor, "")


# --- validation and resends ----------------------------------------------------------


def _bad_items() -> dict[str, Callable[[dict[str, Any]], None]]:
    def portion(**kw: Any) -> Callable[[dict[str, Any]], None]:
        return lambda d: d["portions"][0].update(kw)

    return {
        "observed far future": lambda d: d.update(observed_at="9999-12-31T23:00:00-05:00"),
        "label created year 1": lambda d: d["portions"][0]["label"].update(
            created="0001-01-01T00:00:00+05:00"),
        "observed year 2999": lambda d: d.update(observed_at="2999-01-01T00:00:00Z"),
        "label created 1900": lambda d: d["portions"][0]["label"].update(
            created="1900-01-01T00:00:00Z"),
        "slash in id": lambda d: d.update(id="../R1"),
        "NUL in content": portion(content="a\x00b"),
        "huge title": lambda d: d.update(title="x" * 5000),
        "number for a time": lambda d: d.update(reported_at=12),
        "unknown discipline": lambda d: d.update(discipline="PSYCHIC"),
        "no portions": lambda d: d.update(portions=[]),
        "portion not an object": lambda d: d.update(portions=["p1"]),
        "bad grade": lambda d: d.update(grade="Z9"),
        "bad file": portion(attachment={"sha256": "0" * 64, "size": 1,
                                        "media_type": "application/pdf", "data": "!!"}),
    }


@pytest.mark.parametrize("what", sorted(_bad_items()))
def test_a_malformed_release_is_refused_and_nothing_is_stored(world: World, what: str) -> None:
    data = item("V", rel_to=("JPN",))
    _bad_items()[what](data)
    refused_at(world.jpn, world.kor, release(world.kor, data, "KOR-JPN-GSOMIA", "JPN"), "")


@pytest.mark.parametrize("body", [[], "x", {"item": "x", "agreement": "KOR-JPN-GSOMIA"},
                                  {"item": item(), "agreement": 5},
                                  {"item": item(), "agreement": "KOR-JPN-GSOMIA",
                                   "consents": [{"originator": "KOR"}]}])
def test_a_malformed_message_is_refused(world: World, body: Any) -> None:
    before = world.jpn.records()
    [(outcome, _)] = send(world.kor, world.jpn, body)
    assert outcome == "refused" and world.jpn.records() == before


def test_a_string_no_store_can_hold_is_refused(world: World) -> None:
    """A lone surrogate (a JSON escape any partner can send) would fail every later
    write or read of the item."""
    data = item("S", rel_to=("JPN",))
    data["portions"][0]["content"] = "a\ud800b"
    msg = {"item": data, "agreement": "KOR-JPN-GSOMIA", "recipient": "JPN"}
    refused_at(world.jpn, world.kor, msg, "not encodable as UTF-8")


def test_a_resend_with_other_content_is_a_conflict(world: World) -> None:
    """Issue 17 point 3: what was delivered stays as delivered."""
    data = item("R9", rel_to=("JPN",))
    first = release(world.kor, data, "KOR-JPN-GSOMIA", "JPN")
    assert send(world.kor, world.jpn, first) == [("applied", "")]
    held = world.jpn.state.items["R9@KOR"]
    again = release(world.kor, data, "KOR-JPN-GSOMIA", "JPN")
    assert send(world.kor, world.jpn, again) == [("applied", "")]  # identical: duplicate
    assert "release.duplicate" in world.jpn.actions()
    other = copy.deepcopy(data)
    other["portions"][0]["content"] = "nothing there"
    reason = refused_at(world.jpn, world.kor, release(world.kor, other, "KOR-JPN-GSOMIA",
                                                      "JPN"), "conflict")
    assert "already received with other content" in reason
    assert "release.conflict" in world.jpn.actions()
    assert world.jpn.state.items["R9@KOR"] == held
    assert len(world.jpn.state.ledger) == 1


def test_a_node_that_cannot_sign_releases_nothing_for_relay(world: World) -> None:
    """A damaged signing key: a relayed release is refused at the source (the final
    recipient would refuse it unsigned); a direct one goes unsigned, and the sender's lane
    then reports the key and sends nothing."""
    keys = world.kor.keys.dir
    current = json.loads((keys / "keys.json").read_text())["signing"][-1]["id"]
    (keys / f"{current}.pem").write_bytes(b"-----BEGIN junk")
    damaged = replace(world.kor.deps, keyring=Keystore.load(keys))
    payload = {"item": item(), "agreement": "TISA-2014", "recipient": "JPN"}
    with pytest.raises(Refused, match="cannot sign the item for relay"):
        origin.sign_release(damaged, payload, True)
    assert "origin_signature" not in origin.sign_release(damaged, payload, False)
