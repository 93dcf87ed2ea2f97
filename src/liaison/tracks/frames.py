"""Track-link session frames: bytes in, bytes out.

A track link sends a frame per update under light load, to every entitled partner. A full
envelope per frame (Ed25519 signature, HPKE to the partner's key) costs ~0.2-0.4 ms of
CPU that holds the GIL, so 32 partners cost 32 times that per update. Instead each link
(one per partner, per sender epoch) opens with a *key frame*: an ordinary signed, HPKE
encrypted "tracks" envelope carrying a fresh 256-bit session key. The frames that follow
on that link are sealed with ChaCha20-Poly1305 under that key: only the sender (who made
the key) and the partner (who could decrypt the key frame, signed by the sender's card
key) hold it, so a frame that opens came from the sender, unaltered, for this partner.

Wire form: ``MAGIC || u8 len || sender || u8 len || recipient || u64 epoch || u64 seq ||
AEAD(key, nonce = 0^4 || u64 seq, body, aad = everything before)``. A key is used for one
link epoch, whose sequence numbers never repeat (a frame sent again after a reconnect is
the same bytes), so a nonce is never reused with different plaintext. The receiver still
refuses repeats by ``(epoch, seq)``, and checks every group against its policy as before.
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

MAGIC = b"LTS1"
KEY_LEN = 32
MAX_FRAME = 16 * 1024 * 1024


class FrameError(ValueError):
    """A session frame that must be refused; the message says why."""


def new_key() -> bytes:
    return ChaCha20Poly1305.generate_key()


def is_session_frame(wire: bytes) -> bool:
    return wire[:4] == MAGIC


def seal_frame(key: ChaCha20Poly1305, sender: str, recipient: str, epoch: int, seq: int,
               body: bytes) -> bytes:
    head = _head(sender, recipient, epoch, seq)
    return head + key.encrypt(_nonce(seq), body, head)


def read_frame(wire: bytes) -> tuple[str, str, int, int]:
    """Sender, recipient, epoch and sequence (unauthenticated until ``open_frame``)."""
    if len(wire) > MAX_FRAME or not is_session_frame(wire):
        raise FrameError("not a track session frame")
    try:
        at = 4
        sender, at = _text(wire, at)
        recipient, at = _text(wire, at)
        epoch, seq = struct.unpack_from(">QQ", wire, at)
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise FrameError("truncated or malformed track session frame") from exc
    return sender, recipient, int(epoch), int(seq)


def open_frame(key: ChaCha20Poly1305, wire: bytes) -> bytes:
    """The body of a frame sealed under ``key``; ``FrameError`` if it does not open."""
    sender, recipient, epoch, seq = read_frame(wire)
    head = _head(sender, recipient, epoch, seq)
    try:
        return key.decrypt(_nonce(seq), wire[len(head):], head)
    except InvalidTag as exc:
        raise FrameError("track frame does not open under the link's session key: "
                         "tampered, re-addressed or from another link") from exc


def _head(sender: str, recipient: str, epoch: int, seq: int) -> bytes:
    s, r = sender.encode(), recipient.encode()
    if len(s) > 255 or len(r) > 255:
        raise FrameError("party codes are at most 255 bytes")
    return (MAGIC + bytes([len(s)]) + s + bytes([len(r)]) + r
            + struct.pack(">QQ", epoch, seq))


def _text(wire: bytes, at: int) -> tuple[str, int]:
    n = wire[at]
    end = at + 1 + n
    if end > len(wire):
        raise struct.error("short")
    return wire[at + 1:end].decode(), end


def _nonce(seq: int) -> bytes:
    return b"\0\0\0\0" + struct.pack(">Q", seq)
