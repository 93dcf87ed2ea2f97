"""NATO labels of portions: STANAG 4774 XML out, and a STANAG 4778-style binding of the
label to the portion's data, signed with this node's identity-bound signing key; bindings
from this node or a partner are verified against the signer's published keys."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from liaison.crypto.keys import Card
from liaison.domain.items import Portion
from liaison.domain.labels import Label
from liaison.domain.users import User
from liaison.interop.nato_label import NatoLabelError, bind, label_to_xml, verify_binding
from liaison.services.agreements import load_parties
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Invalid, NotFound
from liaison.services.federation import keyring
from liaison.services.items import READERS, get_item


def _portion(deps: Deps, user: User, item_id: str, portion_id: str) -> Portion:
    item = get_item(deps, user, item_id)
    found = next((p for p in item.portions if p.id == portion_id), None)
    if found is None:
        raise NotFound(f"no portion {portion_id} of item {item_id} that you may see")
    return found


def data_digest(portion: Portion) -> bytes:
    """What the binding covers: the attachment's content, else the portion's text."""
    if portion.attachment is not None:
        return bytes.fromhex(portion.attachment.sha256)
    return hashlib.sha256(portion.content.encode("utf-8")).digest()


def label_xml(deps: Deps, user: User, item_id: str, portion_id: str) -> bytes:
    return label_to_xml(_portion(deps, user, item_id, portion_id).label)


def binding_xml(deps: Deps, user: User, item_id: str, portion_id: str) -> bytes:
    portion = _portion(deps, user, item_id, portion_id)
    key_id, key = keyring(deps).signer(deps.clock())
    return bind(data_digest(portion), portion.label, key, key_id)


def _keys(card: Card, now: datetime) -> dict[str, Ed25519PublicKey]:
    return {k.id: Ed25519PublicKey.from_public_bytes(base64.b64decode(k.public))
            for k in card.signing_keys if k.usable(now)}


def verify(deps: Deps, user: User, binding: bytes, sha256_hex: str, signer: str) -> Label:
    """The label, only if ``signer``'s key signed it bound to data with this SHA-256."""
    require(user, *READERS)
    try:
        digest = bytes.fromhex(sha256_hex)
    except ValueError:
        raise Invalid("data_sha256 must be 64 hex digits") from None
    now = deps.clock()
    with deps.uow() as uow:
        parties = load_parties(uow)
        peer = uow.peers.get(signer)
    if signer == deps.party:
        card = keyring(deps).card(deps.party, deps.address, now)
    elif peer is not None:
        card = peer.card
    else:
        raise Invalid(f"{signer} is neither this node nor a partner: its keys are unknown")
    try:
        label, _ = verify_binding(binding, digest, _keys(card, now), parties)
    except NatoLabelError as exc:
        raise Invalid(f"binding rejected: {exc}") from exc
    return label
