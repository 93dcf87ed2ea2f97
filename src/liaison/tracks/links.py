"""One long-lived link per partner for track updates: a WebSocket over the partner's mutual
TLS 1.3 federation listener (pinned to its card's certificate).

Each connection opens with a key frame: a signed envelope, encrypted to the partner,
carrying the link's session key (``tracks.frames``). A partner that takes it (its answer
says ``session``) gets the frames that follow sealed under that key (ChaCha20-Poly1305:
no signature and no HPKE per frame, the cost that grew with the number of partners); one
that does not (an older node) gets a signed, encrypted envelope per frame as before.

Under light load a frame holds one update (lowest latency); under load a frame takes
everything queued, up to ``MAX_BATCH``. Frames are numbered ``(epoch, seq)``; the partner
acknowledges each, and frames not yet acknowledged are sealed and sent again after a
reconnect (the partner drops repeats), so a dropped connection loses nothing. Each partner
has its own queue and task: a slow partner never slows another. A full queue refuses the
update and counts it; an update that waited longer than ``STALE_S`` is discarded and
counted (old positions mislead a watch officer); an update whose route the current policy
no longer allows (feed changed, agreement ended, policy not loadable) is withdrawn and
counted: the policy at sending time decides (fail closed).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from liaison.crypto.envelope import Header, payload_json, seal, utc
from liaison.crypto.keys import x25519_public
from liaison.domain.partner_address import federation_address
from liaison.federation.tls import client_context
from liaison.services.context import Deps
from liaison.services.ports import Peer
from liaison.tracks.frames import new_key, seal_frame
from liaison.tracks.rows import position_in

PATH = "/federation/v1/tracks"
MAX_BATCH = 1_000
WINDOW = 512  # frames in flight before waiting for acknowledgements
STALE_S = 30.0
ACK_DEADLINE_S = 10.0  # frames in flight and no acknowledgement this long: reconnect
LIFETIME = timedelta(seconds=120)


@dataclass
class LinkStats:
    queued: int = 0
    sent_updates: int = 0
    frames: int = 0
    acked_frames: int = 0
    resent_frames: int = 0
    dropped_overflow: int = 0
    stale_discarded: int = 0
    withdrawn: int = 0
    connects: int = 0
    errors: int = 0
    last_error: str = ""
    connected: bool = False
    refused_by_partner: int = 0
    largest_batch: int = 0
    session: bool = False  # the partner took this connection's session key

    def view(self, queue: int, in_flight: int) -> dict[str, Any]:
        return {"connected": self.connected, "queue": queue, "in_flight_frames": in_flight,
                "sent_updates": self.sent_updates, "frames": self.frames,
                "acked_frames": self.acked_frames, "resent_frames": self.resent_frames,
                "dropped_overflow": self.dropped_overflow,
                "stale_discarded": self.stale_discarded, "withdrawn": self.withdrawn,
                "connects": self.connects,
                "errors": self.errors, "last_error": self.last_error,
                "refused_by_partner": self.refused_by_partner,
                "largest_batch": self.largest_batch, "session": self.session}


Entry = tuple[float, str, list[Any]]  # (queued at, group key, wire row)


class PartnerLink:
    def __init__(self, deps: Deps, partner: str, peer: Callable[[], Peer | None],
                 groups: Callable[[str, str], dict[str, Any] | None],
                 queue_max: int = 200_000) -> None:
        self.deps, self.partner, self._peer, self._groups = deps, partner, peer, groups
        self.queue: deque[Entry] = deque()
        self.queue_max = queue_max
        self.unacked: dict[int, bytes] = {}  # seq -> the frame's body (sealed when sent)
        self.stats = LinkStats()
        self.epoch = time.time_ns()
        self.seq = 0
        self._key = new_key()  # this link epoch's session key (``tracks.frames``)
        self._aead = ChaCha20Poly1305(self._key)
        self._enc: Any = None  # the partner's encryption key for envelopes
        self.positions: dict[int, int] = {}  # frame seq -> last stream position it carries
        self.acked_position = 0  # the partner has everything up to here (with a stream)
        self._ready = asyncio.Event()
        self._progress = time.monotonic()  # last acknowledgement, or first frame in flight
        self._stalled = False
        self._acked = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def push(self, group: str, row: list[Any]) -> bool:
        if len(self.queue) >= self.queue_max:
            self.stats.dropped_overflow += 1
            return False
        self.queue.append((time.monotonic(), group, row))
        self.stats.queued += 1
        self._ready.set()
        return True

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def view(self) -> dict[str, Any]:
        return self.stats.view(len(self.queue), len(self.unacked))

    async def run(self) -> None:
        backoff = 0.2
        while True:
            peer = self._peer()
            if peer is None or self.deps.keyring is None:
                await asyncio.sleep(1.0)
                continue
            try:
                await self._session(peer)
                backoff = 0.2
            except (TimeoutError, OSError, WebSocketException, ValueError) as exc:
                self.stats.errors += 1
                self.stats.last_error = f"{exc.__class__.__name__}: {exc}"[:300]
            self.stats.connected = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _session(self, peer: Peer) -> None:
        assert self.deps.keyring is not None
        ctx = client_context(*self.deps.keyring.tls_files, peer.card.tls_cert)
        # only over mutual TLS, whatever address is stored (AddressRefused: a ValueError)
        uri = "wss://" + federation_address(peer.address).removeprefix("https://") + PATH
        async with connect(uri, ssl=ctx,
                           max_size=16 * 1024 * 1024, open_timeout=10,
                           compression=None) as ws:
            self.stats.connects += 1
            self.stats.connected = True
            self._enc = self._encryption_key(peer)
            await self._offer_session(ws)
            self._progress, self._stalled = time.monotonic(), False
            reader = asyncio.create_task(self._read_acks(ws))
            watchdog = asyncio.create_task(self._watch(ws))
            try:
                for seq in sorted(self.unacked):  # what the last connection left unconfirmed
                    await ws.send(self._frame(seq, self.unacked[seq]))
                    self.stats.resent_frames += 1
                while not reader.done() and not self._stalled:
                    await self._send_some(ws, peer)
                if self._stalled:
                    raise TimeoutError(self.stats.last_error)
            finally:
                watchdog.cancel()
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, WebSocketException):
                    await reader
            reader.result()

    async def _send_some(self, ws: ClientConnection, peer: Peer) -> None:
        if not self.queue:
            self._ready.clear()
            await self._ready.wait()
        while len(self.unacked) >= WINDOW and not self._stalled:
            self._acked.clear()
            await self._acked.wait()
        if self._stalled:
            return
        if not self.stats.session:  # envelopes: a usable key before taking anything
            self._enc = self._encryption_key(peer)
        batch = self._take()
        if not batch:
            return
        self.seq += 1
        body = payload_json({"epoch": self.epoch, "seq": self.seq, "groups": batch})
        wire = self._frame(self.seq, body)
        if not self.unacked:
            self._progress = time.monotonic()
        self.unacked[self.seq] = body
        last = max((position_in(r) for g in batch for r in g["updates"]), default=0)
        if last:
            self.positions[self.seq] = last
        # counted once taken into a frame: a frame whose send fails is resent on the next
        # connection (``resent_frames``), not counted again
        self.stats.frames += 1
        self.stats.sent_updates += sum(len(g["updates"]) for g in batch)
        await ws.send(wire)

    def _take(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        groups: dict[str, dict[str, Any] | None] = {}
        n = 0
        while self.queue and n < MAX_BATCH:
            queued_at, key, row = self.queue.popleft()
            if now - queued_at > STALE_S:
                self.stats.stale_discarded += 1
                continue
            if key not in groups:
                allowed = self._groups(self.partner, key)
                groups[key] = None if allowed is None else {**allowed, "updates": []}
            group = groups[key]
            if group is None:
                self.stats.withdrawn += 1
                continue
            group["updates"].append(row)
            n += 1
        self.stats.largest_batch = max(self.stats.largest_batch, n)
        return [g for g in groups.values() if g is not None]

    def _encryption_key(self, peer: Peer) -> Any:
        now = self.deps.clock()
        enc = next((k for k in reversed(peer.card.encryption_keys) if k.usable(now)), None)
        if enc is None:  # before taking anything from the queue: nothing is lost
            raise ValueError(f"{self.partner} has no usable encryption key: refresh its card")
        return enc

    def _frame(self, seq: int, body: bytes) -> bytes:
        """Frame ``seq`` as sent now: under the session key when the partner took it on
        this connection, else as an envelope (a resent frame is sealed again)."""
        if self.stats.session:
            return seal_frame(self._aead, self.deps.party, self.partner, self.epoch, seq,
                              body)
        return self._seal(seq, body)

    def _seal(self, seq: int, body: bytes) -> bytes:
        assert self.deps.keyring is not None
        now = self.deps.clock()
        key_id, signer = self.deps.keyring.signer(now)
        header = Header(self.deps.party, self.partner, f"{self.epoch}-{seq}", "tracks",
                        "", utc(now), utc(now + LIFETIME), key_id, self._enc.id)
        return seal(header, body, signer, x25519_public(self._enc))

    async def _offer_session(self, ws: ClientConnection) -> None:
        """The key frame (sequence 0, no groups: an older partner acknowledges it as an
        empty or repeated frame), and whether the partner took the key."""
        self.stats.session = False
        await ws.send(self._seal(0, payload_json({
            "epoch": self.epoch, "seq": 0, "groups": [],
            "session_key": base64.b64encode(self._key).decode()})))
        answer = json.loads(await asyncio.wait_for(ws.recv(), ACK_DEADLINE_S))
        self.stats.session = bool(isinstance(answer, dict) and answer.get("session"))

    async def _watch(self, ws: ClientConnection) -> None:
        """A connection stalled after a partition (a full send buffer, TCP backing off)
        would hold frames for minutes: with frames in flight and no acknowledgement for
        ``ACK_DEADLINE_S``, drop it; the next connection sends them again and the partner
        drops what it already has."""
        while True:
            await asyncio.sleep(1.0)
            if self.unacked and time.monotonic() - self._progress > ACK_DEADLINE_S:
                self.stats.last_error = (f"no acknowledgement for {ACK_DEADLINE_S:.0f} s "
                                         f"with {len(self.unacked)} frames in flight: "
                                         f"reconnecting")
                self._stalled = True
                ws.transport.abort()  # a send blocked on it fails now
                self._ready.set()  # and a wait for work or for room in the window ends
                self._acked.set()
                return

    async def _read_acks(self, ws: ClientConnection) -> None:
        async for message in ws:
            try:
                data = json.loads(message)
                seq = int(data["ack"])
            except (ValueError, KeyError, TypeError):
                continue
            if data.get("refused"):
                self.stats.refused_by_partner += int(data["refused"])
                self.stats.last_error = str(data.get("reason", ""))[:300]
            self._progress = time.monotonic()
            for done in [s for s in self.unacked if s <= seq]:
                del self.unacked[done]
                self.acked_position = max(self.acked_position, self.positions.pop(done, 0))
                self.stats.acked_frames += 1
            self._acked.set()
