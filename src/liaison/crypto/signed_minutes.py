"""Ed25519 signatures on the minutes of talks: each side signs ``minutes_bytes`` with its
node's signing key and checks the other's against that side's published keys.

The rules of the minutes (who may sign, when they are sealed, what a side keeps of the
other's copy) are the domain's (``domain.minutes``); this module adds the keys.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from liaison.crypto.keys import PublicKeyInfo
from liaison.domain.minutes import (
    Minutes,
    Signature,
    merge_received,
    minutes_bytes,
    need_signer,
    signature_bytes,
)
from liaison.domain.talks import TalksError, aware, record_id

Keys = dict[str, Ed25519PublicKey]  # a party's signing keys by key id


def sign(m: Minutes, party: str, key_id: str, key: Ed25519PrivateKey,
         at: datetime) -> Minutes:
    """``party`` signs the current text with its node key ``key_id``; before the other side
    has signed, a new signature by the same party replaces its old one (the text itself does
    not change). Sealed minutes are not signed again: both copies must stay the same."""
    need_signer(m, party)
    record_id(key_id, "key_id")
    aware(at, "signed_at")
    value = base64.b64encode(key.sign(minutes_bytes(m))).decode("ascii")
    return replace(m, signatures={**m.signatures,
                                  party: Signature(party, key_id, value, at)})


def verify(m: Minutes, party: str, keys: Mapping[str, Ed25519PublicKey]) -> None:
    """Raise ``TalksError`` unless ``party``'s signature verifies over ``minutes_bytes(m)``
    with the public key its ``key_id`` names in ``keys``."""
    where = f"revision {m.revision} of the minutes of talks {m.talks_id}"
    sig = m.signatures.get(party)
    if sig is None:
        raise TalksError(f"{party} has not signed {where}")
    if sig.party != party:
        raise TalksError(f"the signature filed under {party} is {sig.party}'s")
    key = keys.get(sig.key_id)
    if key is None:
        known = ", ".join(sorted(keys)) or "none"
        raise TalksError(f"{party} signed {where} with key {sig.key_id!r}, which is not "
                         f"among the known keys ({known})")
    raw = signature_bytes(sig.value, f"signatures.{party}.value")
    try:
        key.verify(raw, minutes_bytes(m))
    except InvalidSignature as exc:
        raise TalksError(f"{party}'s signature (key {sig.key_id!r}) does not verify over "
                         f"{where}: the text changed after signing or the key is not "
                         "the one that signed") from exc


def receive_minutes(local: Minutes | None, incoming: Minutes, sender: str,
                    keys: Mapping[str, Mapping[str, Ed25519PublicKey]]) -> Minutes:
    """What this side keeps when ``sender`` sends its copy ``incoming`` of the minutes
    (``domain.minutes.merge_received`` decides), once every signature on ``incoming``
    verifies; ``keys`` are each party's published signing keys."""
    for party in incoming.signatures:
        verify(incoming, party, keys.get(party, {}))
    return merge_received(local, incoming, sender)


def usable_keys(infos: Iterable[PublicKeyInfo], now: datetime) -> Keys:
    """The signing keys a node publishes (its card's ``signing_keys``) that are usable at
    ``now``, by key id: what ``verify`` and ``receive_minutes`` check against."""
    return {k.id: Ed25519PublicKey.from_public_bytes(base64.b64decode(k.public))
            for k in infos if k.usable(now)}
