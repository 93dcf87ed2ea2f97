"""Partners' frames on the track link: open, check against the policy, apply.

A frame is either an envelope (signed by the partner's card key, encrypted to this node)
or a session frame sealed under the key its link sent in a key frame (``tracks.frames``).
A forged frame closes the connection; a repeated one (by ``(epoch, seq)``) is
acknowledged and dropped. Each group of a frame names a feed, an agreement and a label:
it is taken only under an agreement in force with the sender, its label remarked into
this node's scheme; each row is checked and numbered per partner feed.

Without a stream the updates go straight into the picture; with one the frame is
acknowledged once the stream holds them, and every worker applies them from there.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from liaison.crypto.envelope import EnvelopeError
from liaison.crypto.keys import Card
from liaison.domain.agreements import Agreement
from liaison.domain.codec import label_from, label_to
from liaison.domain.decoding import CodecError
from liaison.domain.labels import Label, LabelError
from liaison.domain.tracks import TrackUpdate, validate_update
from liaison.services.federation import open_from_peer
from liaison.services.ports import Peer
from liaison.services.receiving import remark_label
from liaison.tracks.frames import KEY_LEN, FrameError, is_session_frame, open_frame, read_frame
from liaison.tracks.picture import Published
from liaison.tracks.rows import (
    decode_row,
    digest,
    encode_record,
    numbered,
    rows_with_positions,
    update_of,
)
from liaison.tracks.state import HubState

log = logging.getLogger("liaison.tracks")

# group key, label here, rank, topic, numbered updates with the sender's positions
Received = tuple[str, Label, int, str, list[tuple[TrackUpdate, int | None]]]


class PartnerFrames:
    def __init__(self, state: HubState, publish: Callable[[Published], None]) -> None:
        self.state, self.publish = state, publish
        self.seen: dict[str, tuple[int, int]] = {}  # sender -> (epoch, seq) last applied
        # sender -> (link epoch, session key, the sender's card when it sent the key)
        self.sessions: dict[str, tuple[int, ChaCha20Poly1305, Card]] = {}
        self.high: dict[tuple[str, str], int] = {}  # (sender, group) -> last position
        self._labels: dict[tuple[str, str, str], tuple[Label, int]] = {}

    def forget_sessions(self, peers: dict[str, Peer]) -> None:
        """A partner removed or its card changed: its link must send a key again."""
        for sender in [s for s, (_, _, card) in self.sessions.items()
                       if s not in peers or peers[s].card != card]:
            del self.sessions[sender]

    def receive_frame(self, wire: bytes) -> tuple[dict[str, Any], bool]:
        """Open, check and apply one frame (no stream). The answer to send back and
        whether the connection should stay open (a forged frame closes it)."""
        opened = self._open_frame(wire)
        if isinstance(opened, dict):
            return opened, "error" not in opened
        sender, seq, groups = opened
        refused, reason = 0, ""
        for group in groups:
            n, why, received = self._apply_group(sender, group)
            refused, reason = refused + n, why or reason
            if received is not None:
                key, label, rank, topic, rows = received
                marking = self.state.marking(label)
                for u, pos in rows:
                    if self.fresh(sender, key, pos):
                        self.publish(Published(u, f"peer:{sender}", label, rank, topic,
                                               marking))
        return {"ack": seq, "refused": refused, "reason": reason}, True

    async def receive(self, wire: bytes) -> tuple[dict[str, Any], bool]:
        """``receive_frame``; with a stream, the frame is acknowledged only once the
        stream holds its updates (the workers apply them from there)."""
        stream = self.state.stream
        if stream is None:
            return self.receive_frame(wire)
        opened = self._open_frame(wire)
        if isinstance(opened, dict):
            return opened, "error" not in opened
        sender, seq, groups = opened
        refused, reason = 0, ""
        for index, group in enumerate(groups):
            n, why, received = self._apply_group(sender, group)
            refused, reason = refused + n, why or reason
            if received is None:
                continue
            key, label, _rank, topic, rows = received
            record = encode_record({"k": "peer", "sender": sender, "group": key,
                                    "label": label_to(label), "topic": topic,
                                    "rows": rows_with_positions(rows)})
            try:
                await stream.append(record, f"peer:{sender}:{digest(record)}:{index}")
            except Exception as exc:  # not acknowledged: the partner sends it again
                log.warning("track stream not reachable: %s", exc)
                return {"error": f"the track stream is not reachable: {exc}"}, True
        return {"ack": seq, "refused": refused, "reason": reason}, True

    def fresh(self, sender: str, key: str, pos: int | None) -> bool:
        """Not applied before: a partner whose link moved to another of its workers sends
        again from the last position it knows was acknowledged."""
        if pos is None:
            return True
        if pos <= self.high.get((sender, key), -1):
            self.state.stats.duplicates += 1
            return False
        self.high[(sender, key)] = pos
        return True

    def _open_frame(self, wire: bytes) -> tuple[str, int, list[Any]] | dict[str, Any]:
        """The sender, sequence and groups of a new frame; or the answer to a forged frame
        (``error``), a repeated one (``duplicate``) or a link's key frame (``session``)."""
        stats = self.state.stats
        stats.frames_in += 1
        try:
            if is_session_frame(wire):
                sender, body = self._open_session_frame(wire)
            else:
                header, payload = open_from_peer(self.state.deps, wire, self.state.peers)
                if header.kind != "tracks":
                    raise EnvelopeError(f"a {header.kind!r} envelope on the track link")
                sender, body = header.sender, json.loads(payload)
                if "session_key" in body:
                    return self._take_session(sender, body)
            epoch, seq, groups = int(body["epoch"]), int(body["seq"]), list(body["groups"])
        except (EnvelopeError, FrameError, ValueError, KeyError, TypeError) as exc:
            stats.frames_refused += 1
            stats.refuse(f"frame refused: {exc}")
            return {"error": f"frame refused: {exc}"}
        last = self.seen.get(sender)
        if last and (epoch < last[0] or (epoch == last[0] and seq <= last[1])):
            stats.frames_duplicate += 1
            return {"ack": seq, "duplicate": True}
        self.seen[sender] = (epoch, seq)
        return sender, seq, groups

    def _open_session_frame(self, wire: bytes) -> tuple[str, dict[str, Any]]:
        """A frame sealed under the session key its link sent in a key frame."""
        sender, recipient, epoch, seq = read_frame(wire)
        party = self.state.deps.party
        if recipient != party:
            raise FrameError(f"frame addressed to {recipient}, not {party}")
        session = self.sessions.get(sender)
        if session is None or session[0] != epoch:
            raise FrameError(f"no session key from {sender} for this link: the link sends "
                             f"its key frame again when it reconnects")
        body = json.loads(open_frame(session[1], wire))
        if int(body["epoch"]) != epoch or int(body["seq"]) != seq:
            raise FrameError("the frame's numbers differ inside and out")
        return sender, body

    def _take_session(self, sender: str, body: dict[str, Any]) -> dict[str, Any]:
        """A link's key frame (already verified as the sender's envelope to this node):
        its frames that follow are sealed under this key. One session per sender: a new
        epoch replaces the last (the frames of an older epoch are repeats anyway)."""
        key = base64.b64decode(str(body["session_key"]), validate=True)
        if len(key) != KEY_LEN:
            raise FrameError("a session key is 32 bytes")
        epoch = int(body["epoch"])
        current = self.sessions.get(sender)
        if current is None or current[0] <= epoch:
            self.sessions[sender] = (epoch, ChaCha20Poly1305(key),
                                     self.state.peers[sender].card)
        return {"ack": 0, "session": True}

    def _apply_group(self, sender: str, group: Any) -> tuple[int, str, Received | None]:
        """Check one group: refusals, and what may be received of it."""
        try:
            rows = list(group["updates"])
            agreement_id, feed = str(group["agreement"]), str(group["feed"])
            label_data, topic = group["label"], str(group["topic"])
        except (KeyError, TypeError) as exc:
            return *self._refuse(1, f"malformed group: {exc}"), None
        agreement = self.state.policy.may_receive_from(sender, agreement_id)
        if agreement is None:
            return *self._refuse(len(rows), f"no agreement {agreement_id} in force "
                                 f"with {sender} here: tracks refused"), None
        try:
            label, rank = self._remarked(sender, agreement, label_data)
        except (LabelError, CodecError, KeyError, TypeError, ValueError) as exc:
            return *self._refuse(len(rows), f"label refused: {exc}"), None
        source = f"peer:{sender}/{feed}"  # numbered per partner feed
        refused, why = 0, ""
        out: list[tuple[TrackUpdate, int | None]] = []
        for raw in rows:
            try:
                row = decode_row(raw)
                u = update_of(row)
                validate_update(u)
            except (LabelError, ValueError, TypeError, IndexError) as exc:
                refused += 1
                why = f"invalid update from {sender}: {exc}"
                continue
            out.append((numbered(u, self.state.number(source, str(row.number))),
                        row.position))
            self.state.stats.received += 1
        if refused:
            self._refuse(refused, why)
        return refused, why, (f"{feed}|{agreement_id}", label, rank, topic, out)

    def _refuse(self, n: int, why: str) -> tuple[int, str]:
        self.state.stats.received_refused += n
        self.state.stats.refuse(why, n)
        return n, why

    def _remarked(self, sender: str, agreement: Agreement,
                  data: dict[str, Any]) -> tuple[Label, int]:
        key = (sender, agreement.id, json.dumps(data, sort_keys=True))
        hit = self._labels.get(key)
        if hit is None:
            parties = self.state.policy.parties
            theirs = label_from(data, parties, "label")
            if theirs.policy != sender:
                raise LabelError(f"{sender} sent a label in {theirs.policy}'s scheme")
            own = parties[self.state.deps.party]
            label = remark_label(theirs, parties[sender], agreement, own)
            hit = (label, own.scheme.level(label.classification).rank)
            self._labels[key] = hit
        return hit
