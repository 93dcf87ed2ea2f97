"""Origin signatures on released items (issue 17, point 4): the releasing node signs what it
releases; a relayed item is taken only with its originator's signature, checked against the
originator's keys as pinned out of band, so a hub can never forge, alter or raise an item.

Keys: the originator's pinned card (``liaison peer add <party> --fingerprint ...``; for a
party we reach only through a hub, add it the same way with the fingerprint exchanged out of
band). The originator also puts its current card in a relayed release; that carried card is
used only when it verifies against the pinned fingerprint and is not older than the pinned
one (so a rotated key is found, and a hub cannot slip in a card of its own).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from liaison.crypto import origin as signatures
from liaison.crypto.envelope import MAX_CLOCK_SKEW_S, utc
from liaison.crypto.keys import Card, KeyError_, PublicKeyInfo, ed25519_public, verify_card
from liaison.services.context import Deps
from liaison.services.errors import Refused
from liaison.services.ports import UnitOfWork


def sign_release(deps: Deps, payload: dict[str, Any], relayed: bool) -> dict[str, Any]:
    """``payload`` with this node's origin signature (and, when it goes through a hub, this
    node's current card for the final recipient to find a rotated key)."""
    if deps.keyring is None:
        return payload
    now = deps.clock()
    try:
        key_id, signer = deps.keyring.signer(now)
    except KeyError_ as exc:
        if relayed:  # the final recipient would refuse it: nothing is released
            raise Refused(f"this node cannot sign the item for relay ({exc}); nothing is "
                          f"released") from exc
        # Direct: the envelope's signature is what the partner checks; the sender's lane
        # reports the damaged key and sends nothing until it is restored.
        return payload
    block = signatures.sign(payload, deps.party, key_id, signer, utc(now))
    out = {**payload, "origin_signature": block}
    if relayed:
        out["origin_card"] = asdict(deps.keyring.card(deps.party, deps.address, now))
    return out


def origin_problem(uow: UnitOfWork, deps: Deps, origin: str, body: Any,
                   required: bool) -> str | None:
    """Why the release in ``body`` cannot be taken as ``origin``'s; ``None`` when it carries
    ``origin``'s valid signature (or carries none and ``required`` is false: a direct
    release, whose envelope ``origin`` signed)."""
    block = body.get("origin_signature")
    if block is None and not required:
        return None
    try:
        signer, key_id, signed_at, _ = signatures.block_fields(block)
        if signer != origin:
            raise signatures.OriginError(f"the item is signed by {signer}, not by its "
                                         f"stated originator {origin}")
        public = _key(uow, deps, origin, key_id, signed_at, body.get("origin_card"))
        signatures.verify(body, block, public)
    except signatures.OriginError as exc:
        return f"origin: {exc}; refused (a relayed item is taken only as its originator " \
               f"signed it)"
    return None


def _key(uow: UnitOfWork, deps: Deps, origin: str, key_id: str, signed_at: str,
         carried: Any) -> Ed25519PublicKey:
    peer = uow.peers.get(origin)
    if peer is None:
        raise signatures.OriginError(
            f"no card of {origin} is pinned here, so its signature cannot be checked: add it "
            f"with `liaison peer add` and the fingerprint exchanged out of band")
    at = _signed_time(deps, signed_at)
    info = _listed(peer.card, key_id)
    if info is None and isinstance(carried, dict):
        info = _listed(_carried_card(peer.card, peer.fingerprint, carried), key_id)
    if info is None:
        raise signatures.OriginError(f"{origin}'s key {key_id} is not on its pinned card")
    revoked = {k.id for k in peer.card.signing_keys if k.revoked}
    if info.revoked or info.id in revoked or not info.usable(at):
        raise signatures.OriginError(f"{origin}'s key {key_id} was revoked or expired when "
                                     f"the item was signed ({signed_at})")
    return ed25519_public(info)


def _listed(card: Card | None, key_id: str) -> PublicKeyInfo | None:
    if card is None:
        return None
    return next((k for k in card.signing_keys if k.id == key_id), None)


def _carried_card(pinned: Card, fingerprint: str, data: dict[str, Any]) -> Card | None:
    """The originator's card carried by the hub, if it verifies against the pinned
    fingerprint, names the same party and is not older than the pinned card."""
    try:
        card = verify_card(data, fingerprint)
        newer = datetime.fromisoformat(card.issued) >= datetime.fromisoformat(pinned.issued)
    except (KeyError_, ValueError, TypeError):
        return None
    return card if card.party == pinned.party and newer else None


def _signed_time(deps: Deps, signed_at: str) -> datetime:
    try:
        at = datetime.fromisoformat(signed_at)
    except ValueError as exc:
        raise signatures.OriginError("the signing time is not ISO 8601") from exc
    if at.tzinfo is None:
        raise signatures.OriginError("the signing time has no time zone")
    if at > deps.clock() + timedelta(seconds=MAX_CLOCK_SKEW_S):
        raise signatures.OriginError("the item is signed in the future")
    return at
