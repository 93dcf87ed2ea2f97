"""Origin signatures: a released item signed end to end by the party that released it, so
that a hub relaying it (TISA: KOR → USA → JPN) can neither forge, alter nor raise it.
Pure: mappings and bytes in, bytes out.

Wire form (version 1), carried in the release message as ``origin_signature``::

    {"v": 1, "origin": "KOR", "key": "<signing key id>", "signed_at": "<ISO 8601 UTC>",
     "signature": "<base64 Ed25519 signature>"}

The signature covers ``DOMAIN || canonical JSON of the statement``, where the statement is
``{"v", "origin", "key", "signed_at", "recipient", "agreement", "request_id", "purpose",
"route", "consents", "item"}`` with each attachment's inline ``data`` left out (the bytes
travel beside and are checked against the signed SHA-256 and size). Canonical JSON: keys
sorted, no spaces, UTF-8 (``ensure_ascii=False``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ORIGIN_DOMAIN = b"liaison released item v1\x00"
VERSION = 1
SIGNED_FIELDS = ("recipient", "agreement", "request_id", "purpose", "route", "consents",
                 "item")


class OriginError(ValueError):
    """An origin signature that must not be trusted; the message says why."""


def statement(release: Mapping[str, Any], origin: str, key: str,
              signed_at: str) -> dict[str, Any]:
    """What the originator signs, from a release message's fields (``data`` left out)."""
    out: dict[str, Any] = {name: release.get(name) for name in SIGNED_FIELDS}
    out["item"] = _without_data(release.get("item"))
    out.update(v=VERSION, origin=origin, key=key, signed_at=signed_at)
    return out


def _without_data(item: Any) -> Any:
    if not isinstance(item, Mapping) or not isinstance(item.get("portions"), list):
        return item
    portions = []
    for p in item["portions"]:
        a = p.get("attachment") if isinstance(p, Mapping) else None
        if isinstance(a, Mapping):
            p = {**p, "attachment": {k: v for k, v in a.items() if k != "data"}}
        portions.append(p)
    return {**item, "portions": portions}


def signed_bytes(signed: Mapping[str, Any]) -> bytes:
    """``OriginError`` when the statement has no canonical form (e.g. a lone surrogate)."""
    try:
        return ORIGIN_DOMAIN + json.dumps(signed, sort_keys=True, separators=(",", ":"),
                                          ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise OriginError(f"the released item has no canonical form ({exc})") from exc


def sign(release: Mapping[str, Any], origin: str, key: str, signer: Ed25519PrivateKey,
         signed_at: str) -> dict[str, Any]:
    """The ``origin_signature`` block for a release message."""
    data = signed_bytes(statement(release, origin, key, signed_at))
    return {"v": VERSION, "origin": origin, "key": key, "signed_at": signed_at,
            "signature": base64.b64encode(signer.sign(data)).decode("ascii")}


def block_fields(block: Any) -> tuple[str, str, str, bytes]:
    """(origin, key id, signed_at, signature) of an ``origin_signature`` block, checked for
    shape only; ``OriginError`` when malformed."""
    if not isinstance(block, Mapping) or block.get("v") != VERSION:
        raise OriginError("no origin signature (version 1) on the released item")
    texts = [block.get(name) for name in ("origin", "key", "signed_at", "signature")]
    if not all(isinstance(t, str) and 0 < len(t) <= 200 for t in texts):
        raise OriginError("malformed origin signature: origin, key, signed_at and "
                          "signature are non-empty strings")
    origin, key, signed_at, signature = (str(t) for t in texts)
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise OriginError("malformed origin signature: not base64") from exc
    if len(raw) != 64:
        raise OriginError("malformed origin signature: an Ed25519 signature is 64 bytes")
    return origin, key, signed_at, raw


def verify(release: Mapping[str, Any], block: Any, public: Ed25519PublicKey) -> None:
    """Check that ``release`` (its signed fields, as received) is exactly what the holder of
    ``public`` signed in ``block``; ``OriginError`` otherwise."""
    origin, key, signed_at, raw = block_fields(block)
    data = signed_bytes(statement(release, origin, key, signed_at))
    try:
        public.verify(raw, data)
    except InvalidSignature as exc:
        raise OriginError(f"the origin signature does not verify with {origin}'s key {key}: "
                          f"the item is not as {origin} released it") from exc
