"""Envelopes with the node's keys: the keyring, the partner's usable key, and opening an
envelope from a known partner (refreshing its card when it has rotated its keys). What a
partner answered for each message is an ``Outcome``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from liaison.crypto.envelope import EnvelopeError, Header, open_envelope, read_header
from liaison.crypto.keys import ed25519_public
from liaison.services.context import Deps
from liaison.services.errors import Refused
from liaison.services.ports import KeyRing, Peer

ENVELOPE_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class Outcome:
    message_id: str
    outcome: str  # applied | duplicate | refused | failed
    reason: str = ""

    def wire(self) -> dict[str, str]:
        return {"id": self.message_id, "outcome": self.outcome, "reason": self.reason}


def keyring(deps: Deps) -> KeyRing:
    if deps.keyring is None:
        raise Refused("this node has no keys: run `liaison init` to create them")
    return deps.keyring


def usable_key(keys: Any, now: datetime, kind: str, party: str) -> Any:
    """The partner's newest key of ``kind`` usable ``now``, or ``Refused``."""
    usable = [k for k in keys if k.usable(now)]
    if not usable:
        raise Refused(f"{party} has no usable {kind} key: refresh its card")
    return usable[-1]


# card_refresh.CardRefresher: (partner, unknown key id, why) -> refreshed partner or why not
Refresh = Callable[[Peer, str, str], "Peer | str"]


def open_from_peer(deps: Deps, wire: bytes, peers: dict[str, Peer],
                   refresh: Refresh | None = None) -> tuple[Header, bytes]:
    """Decrypt and verify an envelope from a known partner, addressed to this node.

    Signed with a key id the partner's held card does not list, the partner may have
    rotated its keys: with ``refresh``, its card is fetched again (``card_refresh``) and,
    when accepted, put in ``peers`` in place of the held one before the envelope is
    verified; an envelope whose key is still unknown is refused saying why."""
    now = deps.clock()
    ring = keyring(deps)
    header = read_header(wire)[0]
    peer = peers.get(header.sender)
    if refresh is not None and peer is not None and \
            all(k.id != header.sender_key for k in peer.card.signing_keys):
        got = refresh(peer, header.sender_key,
                      f"{header.kind[:16]} envelope {header.envelope_id[:64]} signed with key "
                      f"{header.sender_key[:64]}, not on the card held")
        if isinstance(got, str):
            raise EnvelopeError(f"{header.sender}'s key {header.sender_key} is unknown here "
                                f"and its card was not refreshed: {got}")
        peers[header.sender] = got
        if all(k.id != header.sender_key for k in got.card.signing_keys):
            raise EnvelopeError(f"{header.sender}'s key {header.sender_key} is not on its "
                                f"refreshed card either; refused")

    def verifier(sender: str, key_id: str) -> Ed25519PublicKey | None:
        peer = peers.get(sender)
        if peer is None:
            return None
        info = next((k for k in peer.card.signing_keys if k.id == key_id), None)
        return ed25519_public(info) if info and info.usable(now) else None

    header, payload = open_envelope(wire, lambda k: ring.decryptor(k, now), verifier, now)
    if header.recipient != deps.party:
        raise EnvelopeError(f"envelope is addressed to {header.recipient}, not {deps.party}")
    return header, payload
