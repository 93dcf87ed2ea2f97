"""Node-to-node envelopes: signed by the sender (Ed25519), encrypted to the recipient
(HPKE: X25519, HKDF-SHA256, ChaCha20-Poly1305), with the header bound into the
encryption (HPKE ``info``) so an envelope cannot be re-addressed. Bytes in, bytes out.

Wire form (version 1): ``b"LSN1" || u32 len(header) || header || ciphertext`` where
``header`` is canonical JSON and ``ciphertext = HPKE(payload || signature, info=header)``;
the signature covers ``DOMAIN || u32 len(header) || header || payload``.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

MAGIC = b"LSN1"
SIGN_DOMAIN = b"liaison envelope v1\x00"
SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
MAX_ENVELOPE = 16 * 1024 * 1024
SIGNATURE_LEN = 64


class EnvelopeError(ValueError):
    """An envelope that must be refused; the message says why (never the plaintext)."""


@dataclass(frozen=True, slots=True)
class Header:
    sender: str
    recipient: str
    envelope_id: str
    kind: str  # "release", "receipt", "rfi", "consent_request", "note", ...
    agreement: str
    created: str  # ISO 8601 UTC
    expires: str
    sender_key: str  # key id (fingerprint) of the Ed25519 signing key
    recipient_key: str  # key id of the X25519 encryption key
    version: int = 1

    def canonical(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode()


def key_id(public_raw: bytes) -> str:
    """A key's fingerprint: SHA-256 of the raw public key, first 16 bytes, hex."""
    return hashlib.sha256(public_raw).hexdigest()[:32]


def raw_public(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def seal(header: Header, payload: bytes, signer: Ed25519PrivateKey,
         recipient: X25519PublicKey) -> bytes:
    head = header.canonical()
    signature = signer.sign(_signed(head, payload))
    ciphertext = SUITE.encrypt(payload + signature, recipient, info=head)
    return MAGIC + struct.pack(">I", len(head)) + head + ciphertext


def _signed(head: bytes, payload: bytes) -> bytes:
    return SIGN_DOMAIN + struct.pack(">I", len(head)) + head + payload


def read_header(wire: bytes) -> tuple[Header, bytes, bytes]:
    """The header (unauthenticated until ``open_envelope`` succeeds), its bytes and the
    ciphertext. ``EnvelopeError`` on anything malformed."""
    if len(wire) > MAX_ENVELOPE:
        raise EnvelopeError(f"envelope larger than {MAX_ENVELOPE} bytes")
    if len(wire) < 8 or wire[:4] != MAGIC:
        raise EnvelopeError("not a Liaison v1 envelope")
    (n,) = struct.unpack(">I", wire[4:8])
    head, ciphertext = wire[8:8 + n], wire[8 + n:]
    if len(head) != n or not ciphertext:
        raise EnvelopeError("truncated envelope")
    return _parse_header(head), head, ciphertext


def _parse_header(head: bytes) -> Header:
    try:
        data = json.loads(head)
        header = Header(**data)
    except (ValueError, TypeError) as exc:
        raise EnvelopeError("malformed envelope header") from exc
    wrong = [f.name for f in fields(Header)
             if type(getattr(header, f.name)) is not (int if f.name == "version" else str)]
    if wrong:  # e.g. a number for a time: refused here, not a TypeError further on
        raise EnvelopeError(f"malformed envelope header: wrong type for {', '.join(wrong)}")
    try:
        canonical = header.canonical()
    except UnicodeEncodeError as exc:  # an escaped lone surrogate: no UTF-8 form
        raise EnvelopeError("malformed envelope header: not encodable as UTF-8") from exc
    if canonical != head:
        raise EnvelopeError("envelope header is not in canonical form")
    if header.version != 1:
        raise EnvelopeError(f"unsupported envelope version {header.version}")
    return header


def open_envelope(wire: bytes, decryptor: Callable[[str], X25519PrivateKey | None],
                  verifier: Callable[[str, str], Ed25519PublicKey | None],
                  now: datetime) -> tuple[Header, bytes]:
    """Decrypt and verify. ``decryptor(key_id)`` gives this node's private key for the
    header's recipient key id; ``verifier(sender, key_id)`` gives the sender's trusted,
    unrevoked public key. Refuses expired and future-dated envelopes."""
    header, head, ciphertext = read_header(wire)
    _check_times(header, now)
    private = decryptor(header.recipient_key)
    if private is None:
        raise EnvelopeError(f"no private key {header.recipient_key} here (wrong recipient "
                            f"or retired key)")
    public = verifier(header.sender, header.sender_key)
    if public is None:
        raise EnvelopeError(f"{header.sender}'s key {header.sender_key} is unknown or revoked")
    try:
        plain = SUITE.decrypt(ciphertext, private, info=head)
    except (InvalidTag, ValueError) as exc:
        raise EnvelopeError("envelope does not decrypt: tampered, re-addressed or not for "
                            "this node") from exc
    payload, signature = plain[:-SIGNATURE_LEN], plain[-SIGNATURE_LEN:]
    try:
        public.verify(signature, _signed(head, payload))
    except InvalidSignature as exc:
        raise EnvelopeError(f"signature does not verify with {header.sender}'s key") from exc
    return header, payload


MAX_CLOCK_SKEW_S = 300


def _check_times(header: Header, now: datetime) -> None:
    try:
        created = datetime.fromisoformat(header.created)
        expires = datetime.fromisoformat(header.expires)
    except ValueError as exc:
        raise EnvelopeError("envelope times are not ISO 8601") from exc
    if created.tzinfo is None or expires.tzinfo is None:
        raise EnvelopeError("envelope times need a time zone")
    if (created - now).total_seconds() > MAX_CLOCK_SKEW_S:
        raise EnvelopeError("envelope is dated in the future")
    if expires <= now:
        raise EnvelopeError("envelope has expired")


def payload_json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def utc(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


