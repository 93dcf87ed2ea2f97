"""Issue 17 point 7, the service with real keys and crypto: a partner's refreshed card is
taken only when its pinned identity key signed it and it is no older than the card held;
each acceptance and refusal is audited; a refresh is asked at most once per interval; an
envelope signed with a rotated key is verified against the refreshed card, and refused
saying why when the card is not taken."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.twins import MemoryState, MemoryUnitOfWork

from liaison.crypto.envelope import EnvelopeError, Header, seal, utc
from liaison.crypto.keys import Card, public_info, sign_card, x25519_public
from liaison.federation.keystore import Keystore
from liaison.services.card_refresh import _LAST, CardRefresher, accept_card
from liaison.services.context import Deps
from liaison.services.federation import open_from_peer, settle_receipt
from liaison.services.ports import Peer

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
ADDRESS = "https://jpn.example:8471"


class World:
    def __init__(self, tmp: Path) -> None:
        self.now = NOW
        self.state = MemoryState()
        self.jpn = Keystore.create(tmp / "jpn", NOW - timedelta(days=1))
        self.kor = Keystore.create(tmp / "kor", NOW - timedelta(days=1))
        self.held = self.jpn.card("JPN", ADDRESS, NOW - timedelta(hours=1))
        self.state.peers["JPN"] = Peer("JPN", ADDRESS, self.held.fingerprint, self.held,
                                       NOW - timedelta(days=1))
        self.deps = Deps(uow=lambda: MemoryUnitOfWork(self.state), party="KOR",
                         clock=lambda: self.now, keyring=self.kor)
        self.jpn.rotate(NOW - timedelta(minutes=10), timedelta(days=7))
        self.rotated = self.jpn.card("JPN", ADDRESS, NOW - timedelta(minutes=5))

    def actions(self) -> list[str]:
        return [r.action for r in self.state.audit]


@pytest.fixture
def world(tmp_path: Path) -> World:
    _LAST.clear()
    return World(tmp_path)


def wire(card: Card) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(card)))


def forged(card: Card) -> Card:
    """The partner's own identity key named, the partner's card otherwise, but an
    impostor's signing key listed and the card signed by the impostor."""
    impostor = Ed25519PrivateKey.generate()
    key = public_info(Ed25519PrivateKey.generate().public_key(), NOW)
    return sign_card(replace(card, signing_keys=(*card.signing_keys, key)), impostor)


def test_a_rotated_card_signed_by_the_pinned_identity_is_taken(world: World) -> None:
    got = accept_card(world.deps, "JPN", wire(world.rotated), "test")
    assert isinstance(got, Peer)
    assert [k.id for k in got.card.signing_keys] == [k.id for k in world.rotated.signing_keys]
    assert world.state.peers["JPN"].card == world.rotated
    assert world.actions() == ["peer.card_refreshed"]


def test_a_card_naming_the_pinned_identity_but_signed_by_another_key_is_refused(
        world: World) -> None:
    got = accept_card(world.deps, "JPN", wire(forged(world.rotated)), "test")
    assert isinstance(got, str) and "not signed by its pinned identity" in got
    assert world.state.peers["JPN"].card == world.held
    assert world.actions() == ["peer.card_refused"]
    assert world.state.audit[-1].details["reason"] == got


def test_an_older_card_is_refused_as_a_rollback(world: World) -> None:
    older = world.jpn.card("JPN", ADDRESS, NOW - timedelta(hours=2))
    got = accept_card(world.deps, "JPN", wire(older), "test")
    assert isinstance(got, str) and "an old card is not taken back" in got
    assert world.state.peers["JPN"].card == world.held
    assert world.actions() == ["peer.card_refused"]


def test_a_refresh_is_fetched_at_most_once_per_interval(world: World) -> None:
    fetched: list[str] = []

    def fetch(peer: Peer) -> dict[str, Any]:
        fetched.append(peer.party)
        return wire(forged(world.rotated))

    refresh = CardRefresher(world.deps, fetch)
    answers = [refresh(world.state.peers["JPN"], "k9", "unknown key") for _ in range(20)]
    assert len(fetched) == 1 and all(isinstance(a, str) for a in answers)
    assert "fetched at most every" in str(answers[-1])
    world.now += timedelta(seconds=30)
    refresh(world.state.peers["JPN"], "k9", "unknown key")
    assert len(fetched) == 2
    print("card refresh rate limit: fetched 1 of 20 asks in one interval")


def envelope(world: World, kind: str = "batch", body: bytes = b'{"messages":[]}') -> bytes:
    """An envelope from JPN to KOR signed with JPN's rotated signing key."""
    key_id, signer = world.jpn.signer(NOW)
    enc = world.kor.current("encryption", NOW)
    header = Header("JPN", "KOR", "env-1", kind, "", utc(NOW - timedelta(minutes=1)),
                    utc(NOW + timedelta(days=1)), key_id, enc.id)
    return seal(header, body, signer, x25519_public(enc))


def test_an_envelope_signed_with_a_rotated_key_opens_after_the_refresh(world: World) -> None:
    peers = {"JPN": world.state.peers["JPN"]}
    refresh = CardRefresher(world.deps, lambda _peer: wire(world.rotated))
    header, _ = open_from_peer(world.deps, envelope(world), peers, refresh)
    assert header.sender == "JPN" and peers["JPN"].card == world.rotated


def test_an_envelope_whose_key_stays_unknown_is_refused_with_the_reason(
        world: World) -> None:
    peers = {"JPN": world.state.peers["JPN"]}
    with pytest.raises(EnvelopeError, match=r"unknown here and its card was not refreshed: "
                                            r".*not signed by its pinned identity"):
        open_from_peer(world.deps, envelope(world), peers,
                       CardRefresher(world.deps, lambda _p: wire(forged(world.rotated))))
    with pytest.raises(EnvelopeError, match="unknown or revoked"):
        open_from_peer(world.deps, envelope(world), peers)  # no refresh: as before


def test_a_receipt_signed_with_a_rotated_key_settles_after_the_refresh(world: World) -> None:
    """The sender side: the partner's receipt names a key the card held does not list."""
    sent = Header("KOR", "JPN", "env-0", "batch", "", utc(NOW), utc(NOW), "k", "k")
    receipt = envelope(world, "receipt", b'{"envelope_id":"env-0","results":[]}')
    peer = world.state.peers["JPN"]
    with pytest.raises(EnvelopeError, match="unknown or revoked"):
        settle_receipt(world.deps, peer, sent, [], receipt)  # without a refresh, as before
    refresh = CardRefresher(world.deps, lambda _peer: wire(world.rotated))
    assert settle_receipt(world.deps, peer, sent, [], receipt, refresh) == []
    assert world.state.peers["JPN"].card == world.rotated
    refreshed = [r for r in world.state.audit if r.action == "peer.card_refreshed"]
    assert refreshed[0].details["trigger"].startswith("receipt envelope")


@pytest.mark.parametrize(("field", "value"), [("expires", "not-a-time"), ("expires", 5),
                                         ("created", "2026-01-01T00:00:00"),
                                         ("revoked", "no"), ("public", "***")])
def test_a_card_listing_a_key_that_would_fail_later_is_refused(world: World, field: str,
                                                               value: object) -> None:
    """Issue 17 point 2: nothing stored from a partner's card can make a later read fail
    (``usable`` reads each key's expiry on every envelope)."""
    data = wire(world.rotated)
    data["signing_keys"][-1][field] = value
    got = accept_card(world.deps, "JPN", data, "test")
    assert isinstance(got, str) and "malformed" in got, got
    assert world.state.peers["JPN"].card == world.held


def test_a_card_with_a_new_tls_certificate_is_trusted_by_the_listener(world: World) -> None:
    """A refreshed card that names another TLS certificate is handed to the listener's
    trust list at once (as ``peer add`` does), so the partner's next delivery under it is
    not refused at the handshake; a card with the same certificate changes nothing there."""
    trusted: list[str] = []
    later = world.jpn.card("JPN", ADDRESS, NOW)  # issued after the rotated card
    other = world.kor.card("KOR", ADDRESS, NOW)  # another real certificate
    new_tls = sign_card(replace(later, tls_cert=other.tls_cert,
                                tls_cert_sha256=other.tls_cert_sha256), world.jpn.identity)
    cards = iter([wire(world.rotated), wire(new_tls)])
    refresh = CardRefresher(world.deps, lambda peer: next(cards), trust=trusted.append)
    assert isinstance(refresh(world.state.peers["JPN"], "k9", "unknown key"), Peer)
    assert trusted == []
    world.now += timedelta(seconds=31)
    got = refresh(world.state.peers["JPN"], "k-other", "unknown key")
    assert isinstance(got, Peer), got
    assert trusted == [new_tls.tls_cert]
