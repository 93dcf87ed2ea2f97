"""A node's keys and its signed card. Pure: bytes and objects in, bytes and objects out.

- identity: Ed25519, signs envelopes and the node's card; its fingerprint is what partners
  exchange out of band (``liaison peer add --fingerprint``).
- encryption: X25519, used through HPKE.
Keys rotate: old ones stay valid until their stated expiry; revoked ones never are.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from liaison.crypto.envelope import key_id, raw_public
from liaison.crypto.tls import cert_sha256

CARD_DOMAIN = b"liaison node card v1\x00"


class KeyError_(ValueError):
    """A key or card that must not be trusted."""


@dataclass(frozen=True, slots=True)
class PublicKeyInfo:
    id: str
    public: str  # base64 raw
    created: str
    expires: str | None = None  # ISO 8601; None: until rotated out
    revoked: bool = False

    def usable(self, now: datetime) -> bool:
        if self.revoked:
            return False
        return self.expires is None or datetime.fromisoformat(self.expires) > now


@dataclass(frozen=True)
class Card:
    """What a node tells partners about itself, signed by its identity key."""

    party: str
    address: str
    identity: str  # base64 raw Ed25519 public key (its id is the fingerprint)
    signing_keys: tuple[PublicKeyInfo, ...]
    encryption_keys: tuple[PublicKeyInfo, ...]
    tls_cert_sha256: str = ""
    issued: str = ""
    tls_cert: str = ""  # PEM of the federation listener's certificate (pinned by partners)
    signature: str = field(default="", compare=False)

    @property
    def fingerprint(self) -> str:
        return key_id(base64.b64decode(self.identity))

    def body(self) -> bytes:
        data = asdict(self)
        data.pop("signature")
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def public_info(key: Ed25519PublicKey | X25519PublicKey, created: datetime,
                expires: datetime | None = None) -> PublicKeyInfo:
    raw = raw_public(key)
    return PublicKeyInfo(key_id(raw), b64(raw), created.astimezone(UTC).isoformat(),
                         expires.astimezone(UTC).isoformat() if expires else None)


def sign_card(card: Card, identity: Ed25519PrivateKey) -> Card:
    return replace(card, signature=b64(identity.sign(CARD_DOMAIN + card.body())))


def verify_card(data: dict[str, Any], expected_fingerprint: str) -> Card:
    """A card from untrusted JSON, accepted only when its identity key has the fingerprint
    exchanged out of band and it is signed by that key (nothing trusted on first use)."""
    card = parse_card(data)
    if card.fingerprint != expected_fingerprint.lower().replace(":", ""):
        raise KeyError_(f"the card's identity key has fingerprint {card.fingerprint}, not "
                        f"the {expected_fingerprint} exchanged out of band")
    if not self_signed(card):
        raise KeyError_("the card's signature does not verify")
    return card


def parse_card(data: dict[str, Any]) -> Card:
    """A card from untrusted JSON, not yet trusted: ``KeyError_`` when malformed, or when
    its TLS certificate is not the one its signed digest names."""
    try:
        card = Card(
            data["party"], data["address"], data["identity"],
            tuple(PublicKeyInfo(**k) for k in data["signing_keys"]),
            tuple(PublicKeyInfo(**k) for k in data["encryption_keys"]),
            data.get("tls_cert_sha256", ""), data.get("issued", ""),
            signature=data["signature"], tls_cert=data.get("tls_cert", ""))
        Ed25519PublicKey.from_public_bytes(base64.b64decode(card.identity))
        if not all(isinstance(v, str) for v in (card.party, card.address, card.issued,
                                                card.signature, card.tls_cert)):
            raise TypeError("a card field is not text")
        for info in (*card.signing_keys, *card.encryption_keys):
            _check_key_info(info)
    except (KeyError, TypeError, ValueError) as exc:
        raise KeyError_(f"malformed node card: {exc}") from exc
    if card.tls_cert and cert_sha256(card.tls_cert.encode()) != card.tls_cert_sha256:
        raise KeyError_("the card's TLS certificate does not match its stated digest")
    return card


def _check_key_info(info: PublicKeyInfo) -> None:
    """A listed key whose fields later reads rely on (``usable``): text, times with a
    zone, a flag; ``ValueError`` otherwise, so nothing stored from a card fails later."""
    if not (isinstance(info.id, str) and isinstance(info.public, str)
            and isinstance(info.created, str) and isinstance(info.revoked, bool)
            and (info.expires is None or isinstance(info.expires, str))):
        raise TypeError(f"key {str(info.id)[:64]}: a field has the wrong type")
    for at in (info.created, info.expires):
        if at is not None and datetime.fromisoformat(at).tzinfo is None:
            raise ValueError(f"key {info.id[:64]}: {at[:40]!r} has no time zone")
    base64.b64decode(info.public, validate=True)


def self_signed(card: Card) -> bool:
    """Whether ``card`` is signed by the identity key it names (whose fingerprint the
    caller compares with the one pinned)."""
    try:
        identity = Ed25519PublicKey.from_public_bytes(base64.b64decode(card.identity))
        identity.verify(base64.b64decode(card.signature), CARD_DOMAIN + card.body())
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def ed25519_public(info: PublicKeyInfo) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(info.public))


def x25519_public(info: PublicKeyInfo) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(base64.b64decode(info.public))


def private_pem(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def load_ed25519(pem: bytes) -> Ed25519PrivateKey:
    key = load_pem_private_key(pem, None)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyError_("expected an Ed25519 private key")
    return key


def load_x25519(pem: bytes) -> X25519PrivateKey:
    key = load_pem_private_key(pem, None)
    if not isinstance(key, X25519PrivateKey):
        raise KeyError_("expected an X25519 private key")
    return key
