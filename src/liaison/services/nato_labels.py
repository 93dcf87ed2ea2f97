"""NATO labels of portions: STANAG 4774 XML out (with the same label in each partner's
scheme as alternative labels) and in, and a STANAG 4778-style binding of the label to the
portion's data, signed with this node's identity-bound signing key; bindings from this node
or a partner are verified against the signer's published keys, and a label imported with
a binding is taken only when it verifies."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from liaison.crypto.keys import Card
from liaison.domain.agreement_lifecycle import status_at
from liaison.domain.agreements import Agreement
from liaison.domain.codec import label_to
from liaison.domain.items import Portion
from liaison.domain.labels import Label, Party
from liaison.domain.users import User
from liaison.interop.nato_label import (
    NatoLabelError,
    bind,
    label_from_xml,
    label_to_xml,
    verify_binding,
)
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


def alternatives(label: Label, agreements: list[Agreement], parties: Mapping[str, Party],
                 deps: Deps) -> tuple[Label, ...]:
    """The label in the scheme of each other party of an agreement in force today that maps
    its level (the equivalence table, as a receiver re-marks): one alternative per party."""
    policy = parties.get(label.policy)
    if policy is None:
        return ()
    rank = policy.scheme.level(label.classification).rank
    found: dict[str, Label] = {}
    for a in agreements:
        if label.policy not in a.parties or not status_at(a, deps.clock().date(),
                                                           deps.rules).in_force:
            continue
        for other in sorted(set(a.parties) - {label.policy} - set(found)):
            scheme = parties[other].scheme if other in parties else None
            if scheme is None:
                continue
            lowest = scheme.levels[-1]
            level = (lowest.name if lowest.rank == 0 else None) if rank == 0 else \
                a.table.translate(label.policy, label.classification, other)
            if level:
                found[other] = Label(other, level, label.originator, label.created,
                                     label.categories, label.review)
    return tuple(found[k] for k in sorted(found))


def _with_alternatives(deps: Deps, label: Label) -> tuple[Label, ...]:
    with deps.uow() as uow:
        parties = load_parties(uow)
        agreements = uow.agreements.list()
    return alternatives(label, agreements, parties, deps)


def label_xml(deps: Deps, user: User, item_id: str, portion_id: str) -> bytes:
    label = _portion(deps, user, item_id, portion_id).label
    return label_to_xml(label, _with_alternatives(deps, label))


def binding_xml(deps: Deps, user: User, item_id: str, portion_id: str) -> bytes:
    portion = _portion(deps, user, item_id, portion_id)
    key_id, key = keyring(deps).signer(deps.clock())
    return bind(data_digest(portion), portion.label, key, key_id,
                _with_alternatives(deps, portion.label))


def parse(deps: Deps, user: User, xml: bytes) -> tuple[Label, tuple[Label, ...]]:
    """A STANAG 4774 label and its alternatives, each checked against its policy's scheme."""
    require(user, *READERS)
    with deps.uow() as uow:
        parties = load_parties(uow)
    try:
        return label_from_xml(xml, parties)
    except NatoLabelError as exc:
        raise Invalid(f"label rejected: {exc}") from exc


def labels_in(deps: Deps, user: User, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (an item as the API takes it) with each portion's label given as 4774 XML
    (``label_xml``) or bound to the portion's data by a signed 4778-style binding
    (``bound_label``: ``binding`` and ``signer``) turned into the label it carries; a
    binding counts only when it verifies over this portion's data (its text, or its file's
    SHA-256) under the signer's published keys. Exactly one of ``label``, ``label_xml``
    and ``bound_label`` per portion."""
    portions = data.get("portions")
    if not isinstance(portions, list):
        return data
    out = []
    for p in portions:
        if not isinstance(p, dict):
            out.append(p)
            continue
        given = [k for k in ("label", "label_xml", "bound_label") if p.get(k) is not None]
        if len(given) != 1:
            raise Invalid(f"portion {p.get('id')}: give exactly one of label, label_xml and "
                          f"bound_label (given: {', '.join(given) or 'none'})")
        p = dict(p)
        if given == ["label_xml"]:
            label, _ = parse(deps, user, str(p.pop("label_xml")).encode("utf-8"))
            p["label"] = label_to(label)
        elif given == ["bound_label"]:
            bound = p.pop("bound_label")
            p["label"] = label_to(verify(deps, user, str(bound["binding"]).encode("utf-8"),
                                         _digest_of(p), str(bound["signer"]).upper()))
        else:
            p.pop("label_xml", None)
            p.pop("bound_label", None)
        out.append(p)
    return {**data, "portions": out}


def _digest_of(portion: dict[str, Any]) -> str:
    attachment = portion.get("attachment")
    if isinstance(attachment, dict) and isinstance(attachment.get("sha256"), str):
        return str(attachment["sha256"])
    return hashlib.sha256(str(portion.get("content", "")).encode("utf-8")).hexdigest()


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
