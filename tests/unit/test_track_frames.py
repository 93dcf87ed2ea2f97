"""Track-link session frames: a link's key frame is a signed envelope to the partner; the
frames after it open only under that key, unaltered, for that partner, from that link."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from memory_nodes import MemoryNode

from liaison.crypto.envelope import payload_json
from liaison.tracks.frames import FrameError, new_key, open_frame, read_frame, seal_frame
from liaison.tracks.hub import TrackHub
from liaison.tracks.links import PartnerLink

from factories import seed_agreements

NOW = datetime(2019, 11, 1, 12, tzinfo=UTC)
GROUP = {"feed": "radar", "agreement": "USA-KOR-GSOMIA", "topic": "DPRK/missile",
         "label": {"policy": "USA", "classification": "SECRET", "originator": "USA",
                   "created": "2019-10-31T00:00:00+00:00", "rel_to": ["USA", "KOR"]}}
ROW: list[Any] = ["T1", NOW.timestamp(), 39.0, 127.0, 9000.0, "a-h-A", None, None, 500.0,
                  "", 7]


def test_a_frame_opens_under_its_key_only_unaltered() -> None:
    key = ChaCha20Poly1305(new_key())
    wire = seal_frame(key, "USA", "KOR", 5, 9, b'{"x":1}')
    assert read_frame(wire) == ("USA", "KOR", 5, 9)
    assert open_frame(key, wire) == b'{"x":1}'
    with pytest.raises(FrameError):
        open_frame(ChaCha20Poly1305(new_key()), wire)  # another link's key
    tampered = bytearray(wire)
    tampered[-1] ^= 1
    with pytest.raises(FrameError):
        open_frame(key, bytes(tampered))
    readdressed = wire.replace(b"\x03KOR", b"\x03JPN", 1)
    with pytest.raises(FrameError):
        open_frame(key, readdressed)  # the header is bound into the seal
    seq_at = len(b"LTS1\x03USA\x03KOR") + 8  # after the epoch
    renumbered = wire[:seq_at] + (10).to_bytes(8, "big") + wire[seq_at + 8:]
    assert read_frame(renumbered)[3] == 10
    with pytest.raises(FrameError):
        open_frame(key, renumbered)  # the sequence is bound too
    for junk in (b"", b"LTS1", b"LTS1\x09US", b"LSN1" + wire[4:]):
        with pytest.raises(FrameError):
            read_frame(junk)


class Pair:
    """USA sends to KOR: USA's link and KOR's hub (in memory, real keys)."""

    def __init__(self, root: Path) -> None:
        self.usa = MemoryNode("USA", root, NOW, seed_agreements())
        self.kor = MemoryNode("KOR", root, NOW, seed_agreements())
        self.usa.trust(self.kor)
        self.kor.trust(self.usa)
        self.link = PartnerLink(self.usa.deps, "KOR", lambda: self.usa.state.peers["KOR"],
                                lambda partner, key: GROUP)
        self.link._enc = self.link._encryption_key(self.usa.state.peers["KOR"])
        self.hub = TrackHub(self.kor.deps)
        asyncio.run(self.hub.refresh())

    def key_frame(self) -> bytes:
        return self.link._seal(0, payload_json({
            "epoch": self.link.epoch, "seq": 0, "groups": [],
            "session_key": base64.b64encode(self.link._key).decode()}))

    def frame(self, seq: int, rows: list[list[Any]]) -> bytes:
        body = payload_json({"epoch": self.link.epoch, "seq": seq,
                             "groups": [{**GROUP, "updates": rows}]})
        return self.link._frame(seq, body)


def test_a_partner_takes_the_key_then_applies_frames_under_it(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    answer, keep = pair.hub.receive_frame(pair.key_frame())
    assert answer == {"ack": 0, "session": True} and keep
    pair.link.stats.session = True
    wire = pair.frame(1, [ROW])
    assert wire.startswith(b"LTS1")
    answer, keep = pair.hub.receive_frame(wire)
    assert answer == {"ack": 1, "refused": 0, "reason": ""} and keep
    assert pair.hub.stats.received == 1
    answer, _ = pair.hub.receive_frame(wire)  # sent again after a reconnect
    assert answer == {"ack": 1, "duplicate": True}
    assert pair.hub.stats.received == 1


def test_a_session_frame_without_its_key_frame_is_refused_and_closes(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    pair.link.stats.session = True
    answer, keep = pair.hub.receive_frame(pair.frame(1, [ROW]))
    assert "no session key from USA" in answer["error"] and not keep
    assert pair.hub.stats.received == 0


def test_a_forged_session_frame_is_refused(tmp_path: Path) -> None:
    """An insider with a TLS connection but not the key: a frame under its own key."""
    pair = Pair(tmp_path)
    pair.hub.receive_frame(pair.key_frame())
    body = payload_json({"epoch": pair.link.epoch, "seq": 1,
                         "groups": [{**GROUP, "updates": [ROW]}]})
    forged = seal_frame(ChaCha20Poly1305(new_key()), "USA", "KOR", pair.link.epoch, 1, body)
    answer, keep = pair.hub.receive_frame(forged)
    assert "does not open" in answer["error"] and not keep
    assert pair.hub.stats.received == 0


def test_a_key_frame_from_an_untrusted_sender_is_refused(tmp_path: Path) -> None:
    pair = Pair(tmp_path)
    del pair.kor.state.peers["USA"]
    asyncio.run(pair.hub.refresh())
    answer, keep = pair.hub.receive_frame(pair.key_frame())
    assert "error" in answer and not keep and "USA" not in pair.hub.sessions


def test_a_changed_card_ends_the_session(tmp_path: Path) -> None:
    """A partner removed, or its keys rotated or revoked: its link must key again."""
    pair = Pair(tmp_path)
    pair.hub.receive_frame(pair.key_frame())
    assert "USA" in pair.hub.sessions
    del pair.kor.state.peers["USA"]
    asyncio.run(pair.hub.refresh())
    assert "USA" not in pair.hub.sessions


def test_an_older_partner_is_sent_envelopes(tmp_path: Path) -> None:
    """A partner that does not answer ``session`` to the key frame gets an envelope per
    frame, as before the session keys; an older node reads the key frame as empty."""
    pair = Pair(tmp_path)
    assert not pair.link.stats.session
    wire = pair.frame(1, [ROW])
    assert wire.startswith(b"LSN1")
    answer, _ = pair.hub.receive_frame(wire)
    assert answer["ack"] == 1 and pair.hub.stats.received == 1
