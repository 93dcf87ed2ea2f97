"""The node's real-time track hub: ingest from feeds, fan-out to entitled partners and to
local subscribers, receipt from partners, and the analytics (launch events, areas,
correlation) off the hot path.

Hot path per update (in the event loop, no database): validate, number, queue to each
partner link the policy snapshot allows for the feed, offer to each subscriber whose
clearance and need-to-know cover the label. Everything else (launch events, area alerts,
correlation, storage) runs in a separate task fed by a bounded queue; what it cannot keep
up with is counted, never silently lost.

With a stream (a node run as several workers over NATS JetStream, ``realtime.nats_bus``)
an ingest or a partner's frame is answered once the stream has stored it; every worker
follows the stream and offers each record to its own subscribers; the worker holding the
lease ``tracks-link:<party>`` runs that partner's link, fed by its own reader of the stream
from the last position the partner acknowledged (so a worker that dies loses nothing:
the next holder sends again from there and the partner drops what it already has, by
position); the worker holding ``tracks-analytics`` runs the analytics and puts their
alerts and launch events on the stream for every worker's subscribers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from liaison.crypto.envelope import EnvelopeError
from liaison.crypto.keys import Card
from liaison.domain.agreements import Agreement
from liaison.domain.areas import AREA_TOPIC, Area, AreaWatch
from liaison.domain.codec import label_from, label_to
from liaison.domain.correlation import Correlator, Report
from liaison.domain.decoding import CodecError
from liaison.domain.labels import Label, LabelError, portion_mark
from liaison.domain.launch import LaunchDetector, Sample, event_to
from liaison.domain.tracks import TrackUpdate, is_missile, validate_update
from liaison.domain.users import User
from liaison.realtime.bus import Bus, TrackStream
from liaison.services import areas as area_service
from liaison.services import leases
from liaison.services import tracks as track_service
from liaison.services.context import Deps
from liaison.services.errors import Unavailable
from liaison.services.federation import open_from_peer
from liaison.services.ports import Peer
from liaison.services.receiving import remark_label
from liaison.services.tracks import TrackPolicy
from liaison.tracks.frames import KEY_LEN, FrameError, is_session_frame, open_frame, read_frame
from liaison.tracks.links import STALE_S, PartnerLink
from liaison.tracks.policy_watch import PolicyWatch

log = logging.getLogger("liaison.tracks")
SUBSCRIBER_QUEUE = 20_000
ANALYTICS_QUEUE = 100_000
CURRENT_MAX_AGE_S = 600.0
TICK_S = 5.0
RECORD_ROWS = 10_000  # rows per stream record; a row's position is record << 16 | index


@dataclass(slots=True)
class Published:
    """One update as this node shows it: the label is in this node's scheme."""

    update: TrackUpdate
    source: str  # "feed:<name>" or "peer:<party>"
    label: Label
    rank: int
    topic: str
    marking: str
    arrived: float = 0.0  # monotonic time it reached this node (ages the picture)
    _json: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        if self._json is None:
            u = self.update
            self._json = {"type": "track", "number": u.number, "uid": u.uid,
                          "source": self.source, "time": u.time.isoformat(), "lat": u.lat,
                          "lon": u.lon, "alt_m": u.alt_m, "kind": u.kind,
                          "speed_ms": u.speed_ms, "course_deg": u.course_deg, "ce_m": u.ce_m,
                          "callsign": u.callsign, "marking": self.marking,
                          "topic": self.topic}
        return self._json


@dataclass(eq=False)  # identity: kept in a set
class Subscription:
    user: User
    queue: asyncio.Queue[Published | dict[str, Any]]
    dropped: int = 0

    def offer(self, item: Published | dict[str, Any], label: Label, rank: int,
              topic: str, also: tuple[Label, int, str] | None = None) -> None:
        """``also``: a second label the reader must be cleared for too (an alert names
        its area: the reader sees it only when it may see both the track and the area)."""
        if not self.user.clearance.may_see(label, rank, topic):
            return
        if also is not None and not self.user.clearance.may_see(*also):
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped += 1


@dataclass
class HubStats:
    ingested: int = 0
    refused: int = 0
    received: int = 0
    received_refused: int = 0
    frames_in: int = 0
    frames_refused: int = 0
    frames_duplicate: int = 0
    duplicates: int = 0  # updates a partner sent again after moving its link (by position)
    analytics_dropped: int = 0
    subscriber_dropped: int = 0
    launch_revisions: int = 0
    alerts: int = 0
    last_refusal: str = ""
    refusals: dict[str, int] = field(default_factory=dict)

    def refuse(self, why: str, n: int = 1) -> None:
        self.last_refusal = why[:300]
        key = why.split(":")[0][:80]
        self.refusals[key] = self.refusals.get(key, 0) + n


class TrackHub:
    def __init__(self, deps: Deps, refresh_s: float = 2.0, bus: Bus | None = None) -> None:
        self.deps, self.refresh_s, self.bus = deps, refresh_s, bus
        self.stream: TrackStream | None = None  # set by ``start`` when the bus has one
        self.lead_analytics = True  # with a stream: while this worker holds the lease
        self._led: dict[str, Any] = {}  # partner -> this worker's reader for its link
        self.high: dict[tuple[str, str], int] = {}  # (sender, group) -> last position
        self._refreshes = self._applied = 0  # policy snapshots begun, and the newest applied
        self.policy_watch = PolicyWatch()  # when the snapshot must be recomputed
        self.policy = TrackPolicy(deps.clock().date(), deps.party, error="not loaded yet")
        self.peers: dict[str, Peer] = {}
        self.links: dict[str, PartnerLink] = {}
        self.subscribers: set[Subscription] = set()
        self.numbers: dict[tuple[str, str], int] = {}
        self.current: dict[int, Published] = {}
        self.seen: dict[str, tuple[int, int]] = {}  # sender -> (epoch, seq) last applied
        # sender -> (link epoch, session key, the sender's card when it sent the key)
        self.sessions: dict[str, tuple[int, ChaCha20Poly1305, Card]] = {}
        self.stats = HubStats()
        self.watch = AreaWatch()
        self.areas: dict[str, Area] = {}
        self.correlator = Correlator()
        self.detectors: dict[str, LaunchDetector] = {}
        self._last_sample: dict[str, tuple[datetime, float]] = {}
        self._labels: dict[tuple[str, str, str], tuple[Label, int]] = {}
        self._groups: dict[str, dict[str, Any] | None] = {}  # per policy snapshot
        self._analytics: asyncio.Queue[Published] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.cot: Any = None  # the CoT port, when ``serve`` opened one (for its counters)

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self.numbers = await asyncio.to_thread(self._load_numbers)
        self.stream = self.bus.tracks if self.bus is not None else None
        self.lead_analytics = self.stream is None
        await self.refresh()
        self._analytics = asyncio.Queue(ANALYTICS_QUEUE)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._refresher()), loop.create_task(self._analyse())]
        if self.stream is not None:
            # from a staleness limit back: the picture of the last half minute, and the
            # positions partners' updates reached (a partner's link that moved to another
            # of its workers sends again from its last recorded position)
            self._reader = await self.stream.follow(
                None, self._on_record, since=datetime.now(UTC) - timedelta(seconds=STALE_S))
            self._tasks.append(loop.create_task(self._leadership()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for link in self.links.values():
            await link.stop()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _load_numbers(self) -> dict[tuple[str, str], int]:
        with self.deps.uow() as uow:
            return uow.tracks.numbers()

    async def refresh(self, reason: str = "requested", seq: int | None = None) -> None:
        """A new policy snapshot (fail closed: on error the snapshot is empty), accounting
        for the audit log up to ``seq`` (read here when not given). A refresh that started
        before another one finished is not applied over it: a refresh begun before a feed
        was registered must not hide the feed again."""
        self._refreshes += 1
        ticket = self._refreshes
        if seq is None:
            seq = await asyncio.to_thread(self.policy_watch.position, self.deps)
        policy = await asyncio.to_thread(track_service.track_policy, self.deps)
        peers = await asyncio.to_thread(self._load_peers)
        try:
            areas = await asyncio.to_thread(area_service.load_areas, self.deps)
        except Exception as exc:
            log.warning("areas not loaded: %s", exc)
            areas = list(self.areas.values())
        if ticket < self._applied:
            return
        self._applied = ticket
        self.policy, self.peers, self._groups = policy, peers, {}
        self.policy_watch.seen(seq, reason)
        for sender in [s for s, (_, _, card) in self.sessions.items()
                       if s not in peers or peers[s].card != card]:
            del self.sessions[sender]  # a partner removed or its card changed: key again
        self.areas = {a.id: a for a in areas}
        self.watch.set_areas(areas)
        if self.stream is None:  # with a stream, links run where their lease is held
            for routes in policy.routes.values():
                for route in routes:
                    self._link(route.partner)

    def _load_peers(self) -> dict[str, Peer]:
        with self.deps.uow() as uow:
            return {p.party: p for p in uow.peers.list()}

    async def _refresher(self) -> None:
        """Every ``refresh_s``: a cheap check (off the event loop) of whether the policy's
        inputs changed; the whole snapshot is recomputed only when they did."""
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                reason, seq = await asyncio.to_thread(self.policy_watch.check, self.deps,
                                                      self.policy)
                if reason:
                    await self.refresh(reason, seq)
            except Exception as exc:  # keep refreshing; an empty policy meanwhile
                log.warning("track policy refresh failed: %s", exc)
                self.policy = TrackPolicy(self.deps.clock().date(), self.deps.party,
                                          error=str(exc))
                self._groups = {}  # cached routes belong to the old policy
            self._prune()

    def _prune(self) -> None:
        now = time.monotonic()
        for number in [n for n, p in self.current.items()
                       if now - p.arrived > CURRENT_MAX_AGE_S]:
            del self.current[number]

    def _link(self, partner: str) -> PartnerLink:
        link = self.links.get(partner)
        if link is None:
            link = PartnerLink(self.deps, partner, lambda: self.peers.get(partner), self._group)
            self.links[partner] = link
            link.start()
        return link

    def _group(self, partner: str, key: str) -> dict[str, Any] | None:
        """The frame header of a feed's updates to ``partner`` under an agreement, or
        ``None`` when the current policy no longer routes that feed there that way."""
        cache_key = f"{partner}|{key}"
        if cache_key not in self._groups:
            feed_name, agreement = key.split("|", 1)
            feed = self.policy.feeds.get(feed_name)
            routed = feed is not None and any(
                r.partner == partner and r.agreement == agreement
                for r in self.policy.routes.get(feed_name, ()))
            self._groups[cache_key] = None if feed is None or not routed else {
                "feed": feed_name, "agreement": agreement, "label": label_to(feed.label),
                "topic": feed.topic}
        return self._groups[cache_key]

    # --- numbers -----------------------------------------------------------------------

    def _number(self, source: str, uid: str) -> int:
        key = (source, uid)
        number = self.numbers.get(key)
        if number is None:  # first sight of this track: one short transaction
            with self.deps.uow() as uow:
                number = uow.tracks.number_for(source, uid, self.deps.clock())
                uow.commit()
            self.numbers[key] = number
        return number

    # --- ingest (own sensors) ----------------------------------------------------------

    async def accept(self, feed_name: str,
                     updates: Iterable[TrackUpdate]) -> tuple[int, list[str]]:
        """``ingest``; with a stream, answered once the stream holds the updates (a retry
        of the same batch is stored once)."""
        if self.stream is None:
            return self.ingest(feed_name, updates)
        items = list(updates)
        feed = self.policy.feeds.get(feed_name)
        if feed is None:
            return self.ingest(feed_name, items)  # counts and explains the refusal
        refusals: list[str] = []
        rows = [_row(_numbered(u, self._number(f"feed:{feed_name}", u.uid)))
                for u in self._checked(items, refusals)]
        for start in range(0, len(rows), RECORD_ROWS):
            record = _encode({"k": "feed", "feed": feed_name, "label": label_to(feed.label),
                              "topic": feed.topic, "rows": rows[start:start + RECORD_ROWS]})
            try:
                await self.stream.append(record, f"feed:{_digest(record)}")
            except Exception as exc:
                raise Unavailable(f"the track stream is not reachable ({exc}); "
                                  f"{len(rows) - start} updates were not accepted: send "
                                  f"them again") from exc
        self.stats.ingested += len(rows)
        return len(rows), refusals


    def _checked(self, updates: Iterable[TrackUpdate],
                 refusals: list[str]) -> Iterator[TrackUpdate]:
        """The valid updates; each invalid one is counted and explained in ``refusals``."""
        for u in updates:
            try:
                validate_update(u)
            except LabelError as exc:
                refusals.append(str(exc))
                self.stats.refused += 1
                self.stats.refuse(f"invalid update: {exc}")
                continue
            yield u

    def ingest(self, feed_name: str, updates: Iterable[TrackUpdate]) -> tuple[int, list[str]]:
        """Accept updates from a local feed; the count accepted and the refusals."""
        feed = self.policy.feeds.get(feed_name)
        refusals: list[str] = []
        if feed is None:
            why = (f"no feed {feed_name!r} is registered (or the track policy could not be "
                   f"loaded: {self.policy.error})" if self.policy.error else
                   f"no feed {feed_name!r} is registered: `liaison tracks feed-add`")
            items = list(updates)
            self.stats.refused += len(items)
            self.stats.refuse(why, len(items))
            return 0, [why] * len(items)
        source = f"feed:{feed_name}"
        own = self.policy.parties[self.deps.party].scheme
        rank = own.level(feed.label.classification).rank
        marking = portion_mark(feed.label, own)
        routes = self.policy.routes.get(feed_name, ())
        accepted = 0
        for u in self._checked(updates, refusals):
            u = _numbered(u, self._number(source, u.uid))
            row = _row(u)
            for route in routes:
                self._link(route.partner).push(f"{feed_name}|{route.agreement}", row)
            self._publish(Published(u, source, feed.label, rank, feed.topic, marking))
            accepted += 1
        self.stats.ingested += accepted
        return accepted, refusals

    # --- receipt (partners) ------------------------------------------------------------

    def receive_frame(self, wire: bytes) -> tuple[dict[str, Any], bool]:
        """Open, check and apply one frame from a partner (no stream). The answer to send
        back and whether the connection should stay open (a forged frame closes it)."""
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
                marking = self._marking(label)
                for u, pos in rows:
                    if self._fresh(sender, key, pos):
                        self._publish(Published(u, f"peer:{sender}", label, rank, topic,
                                                marking))
        return {"ack": seq, "refused": refused, "reason": reason}, True

    async def receive(self, wire: bytes) -> tuple[dict[str, Any], bool]:
        """``receive_frame``; with a stream, the frame is acknowledged only once the
        stream holds its updates (the workers apply them from there)."""
        if self.stream is None:
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
            record = _encode({"k": "peer", "sender": sender, "group": key,
                              "label": label_to(label), "topic": topic,
                              "rows": [[*_row(u), pos] for u, pos in rows]})
            try:
                await self.stream.append(record, f"peer:{sender}:{_digest(record)}:{index}")
            except Exception as exc:  # not acknowledged: the partner sends it again
                log.warning("track stream not reachable: %s", exc)
                return {"error": f"the track stream is not reachable: {exc}"}, True
        return {"ack": seq, "refused": refused, "reason": reason}, True

    def _open_frame(self, wire: bytes) -> tuple[str, int, list[Any]] | dict[str, Any]:
        """The sender, sequence and groups of a new frame; or the answer to a forged frame
        (``error``), a repeated one (``duplicate``) or a link's key frame (``session``)."""
        self.stats.frames_in += 1
        try:
            if is_session_frame(wire):
                sender, body = self._open_session_frame(wire)
            else:
                header, payload = open_from_peer(self.deps, wire, self.peers)
                if header.kind != "tracks":
                    raise EnvelopeError(f"a {header.kind!r} envelope on the track link")
                sender, body = header.sender, json.loads(payload)
                if "session_key" in body:
                    return self._take_session(sender, body)
            epoch, seq, groups = int(body["epoch"]), int(body["seq"]), list(body["groups"])
        except (EnvelopeError, FrameError, ValueError, KeyError, TypeError) as exc:
            self.stats.frames_refused += 1
            self.stats.refuse(f"frame refused: {exc}")
            return {"error": f"frame refused: {exc}"}
        last = self.seen.get(sender)
        if last and (epoch < last[0] or (epoch == last[0] and seq <= last[1])):
            self.stats.frames_duplicate += 1
            return {"ack": seq, "duplicate": True}
        self.seen[sender] = (epoch, seq)
        return sender, seq, groups

    def _open_session_frame(self, wire: bytes) -> tuple[str, dict[str, Any]]:
        """A frame sealed under the session key its link sent in a key frame."""
        sender, recipient, epoch, seq = read_frame(wire)
        if recipient != self.deps.party:
            raise FrameError(f"frame addressed to {recipient}, not {self.deps.party}")
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
            self.sessions[sender] = (epoch, ChaCha20Poly1305(key), self.peers[sender].card)
        return {"ack": 0, "session": True}

    def _fresh(self, sender: str, key: str, pos: int | None) -> bool:
        """Not applied before: a partner whose link moved to another of its workers sends
        again from the last position it knows was acknowledged."""
        if pos is None:
            return True
        if pos <= self.high.get((sender, key), -1):
            self.stats.duplicates += 1
            return False
        self.high[(sender, key)] = pos
        return True

    def _apply_group(self, sender: str, group: Any) -> tuple[
            int, str, tuple[str, Label, int, str, list[tuple[TrackUpdate, int | None]]] | None]:
        """Check one group: refusals, and (group key, label here, rank, topic, numbered
        updates with their sender's positions) when the group may be received."""
        try:
            rows = list(group["updates"])
            agreement_id, feed = str(group["agreement"]), str(group["feed"])
            label_data, topic = group["label"], str(group["topic"])
        except (KeyError, TypeError) as exc:
            return *self._refuse_received(1, f"malformed group: {exc}"), None
        agreement = self.policy.may_receive_from(sender, agreement_id)
        if agreement is None:
            return *self._refuse_received(len(rows), f"no agreement {agreement_id} in force "
                                          f"with {sender} here: tracks refused"), None
        try:
            label, rank = self._remarked(sender, agreement, label_data)
        except (LabelError, CodecError, KeyError, TypeError, ValueError) as exc:
            return *self._refuse_received(len(rows), f"label refused: {exc}"), None
        source = f"peer:{sender}"
        refused, why = 0, ""
        out: list[tuple[TrackUpdate, int | None]] = []
        for row in rows:
            try:
                u = update_from_row(row)
                validate_update(u)
            except (LabelError, ValueError, TypeError, IndexError) as exc:
                refused += 1
                why = f"invalid update from {sender}: {exc}"
                continue
            # numbered per partner feed: one feed's numbers say nothing of another's
            out.append((_numbered(u, self._number(f"{source}/{feed}", str(row[10]))),
                        int(row[11]) if len(row) > 11 else None))
            self.stats.received += 1
        if refused:
            self._refuse_received(refused, why)
        return refused, why, (f"{feed}|{agreement_id}", label, rank, topic, out)

    def _refuse_received(self, n: int, why: str) -> tuple[int, str]:
        self.stats.received_refused += n
        self.stats.refuse(why, n)
        return n, why

    def _remarked(self, sender: str, agreement: Agreement,
                  data: dict[str, Any]) -> tuple[Label, int]:
        key = (sender, agreement.id, json.dumps(data, sort_keys=True))
        hit = self._labels.get(key)
        if hit is None:
            parties = self.policy.parties
            theirs = label_from(data, parties, "label")
            if theirs.policy != sender:
                raise LabelError(f"{sender} sent a label in {theirs.policy}'s scheme")
            own = parties[self.deps.party]
            label = remark_label(theirs, parties[sender], agreement, own)
            hit = (label, own.scheme.level(label.classification).rank)
            self._labels[key] = hit
        return hit

    # --- the stream (several workers) --------------------------------------------------

    async def _on_record(self, position: int, data: bytes, _stored: datetime) -> None:
        """Every worker: a stored record, offered to this worker's subscribers."""
        rec = json.loads(data)
        kind = rec["k"]
        if kind == "event":
            event = rec["data"]
            label, rank, _ = self._record_label(event["label"])
            also = self._area_label(event)
            for sub in self.subscribers:
                sub.offer(event, label, rank, event["topic"], also)
            return
        label, rank, marking = self._record_label(rec["label"])
        if kind == "feed":
            source = f"feed:{rec['feed']}"
            for row in rec["rows"]:
                self._publish(Published(_numbered(update_from_row(row), int(row[10])),
                                        source, label, rank, rec["topic"], marking))
        elif kind == "peer":
            sender, key = rec["sender"], rec["group"]
            for row in rec["rows"]:
                if self._fresh(sender, key, row[11]):
                    update = _numbered(update_from_row(row[:11]), int(row[10]))
                    self._publish(Published(update, f"peer:{sender}", label, rank,
                                            rec["topic"], marking))

    def _record_label(self, data: dict[str, Any]) -> tuple[Label, int, str]:
        key = ("stream", "", json.dumps(data, sort_keys=True))
        hit = self._labels.get(key)
        if hit is None:
            label = label_from(data, self.policy.parties, "label")
            hit = (label, self.policy.parties[self.deps.party].scheme
                   .level(label.classification).rank)
            self._labels[key] = hit
        return hit[0], hit[1], self._marking(hit[0])

    def _area_label(self, event: dict[str, Any]) -> tuple[Label, int, str] | None:
        """An alert's area label (``None`` for a launch event). An alert without one is
        shown to nobody (fail closed)."""
        if event.get("type") != "alert":
            return None
        if not isinstance(event.get("area_label"), dict):
            label, _, _ = self._record_label(event["label"])
            return label, NO_CLEARANCE_RANK, AREA_TOPIC
        label, rank, _ = self._record_label(event["area_label"])
        return label, rank, AREA_TOPIC

    def _marking(self, label: Label) -> str:
        return portion_mark(label, self.policy.parties[self.deps.party].scheme)

    async def _leadership(self) -> None:
        """Take, keep or give up the node-wide track jobs, every ``leases.RENEW_S``."""
        while True:
            try:
                await self._lead()
            except Exception as exc:  # the database: hold nothing we cannot renew
                log.warning("track leases not renewed: %s", exc)
                for partner in list(self._led):
                    await self._unlead(partner)
                self.lead_analytics = False
            await asyncio.sleep(leases.RENEW_S)

    async def _lead(self) -> None:
        partners = {r.partner for routes in self.policy.routes.values() for r in routes}
        for partner in sorted(partners | set(self._led)):
            name = f"tracks-link:{partner}"
            if partner not in partners:
                await self._unlead(partner)
                await asyncio.to_thread(leases.release, self.deps, name)
                continue
            position = await asyncio.to_thread(leases.claim, self.deps, name)
            if position is None:
                await self._unlead(partner)
            elif partner not in self._led:
                await self._take_link(partner, name, position)
            else:
                link = self.links[partner]
                if link.acked_position > position:
                    await asyncio.to_thread(leases.record, self.deps, name,
                                            link.acked_position)
        analytics = await asyncio.to_thread(leases.claim, self.deps, "tracks-analytics")
        self.lead_analytics = analytics is not None

    async def _take_link(self, partner: str, name: str, position: int) -> None:
        """Run ``partner``'s link here, from the first record it has not acknowledged."""
        assert self.stream is not None
        link = PartnerLink(self.deps, partner, lambda: self.peers.get(partner), self._group)
        link.acked_position = position
        old = self.links.get(partner)
        if old is not None:
            await old.stop()
        self.links[partner] = link
        link.start()

        async def feed_link(pos: int, data: bytes, stored: datetime) -> None:
            rec = json.loads(data)
            if rec["k"] != "feed":
                return
            if (datetime.now(UTC) - stored).total_seconds() > STALE_S:
                link.stats.stale_discarded += len(rec["rows"])  # old positions mislead
                return
            for route in self.policy.routes.get(rec["feed"], ()):
                if route.partner == partner:
                    key = f"{rec['feed']}|{route.agreement}"
                    for i, row in enumerate(rec["rows"]):
                        if (pos << 16) | i > position:  # not acknowledged yet
                            link.push(key, [*row, (pos << 16) | i])

        # the first holder ever takes what the link's staleness limit still allows
        self._led[partner] = await (
            self.stream.follow(position >> 16, feed_link) if position else
            self.stream.follow(None, feed_link, since=datetime.now(UTC) -
                               timedelta(seconds=STALE_S)))
        log.info("track link to %s runs on this worker from position %d", partner, position)

    async def _unlead(self, partner: str) -> None:
        reader = self._led.pop(partner, None)
        if reader is None:
            return
        with contextlib.suppress(Exception):
            await reader.unsubscribe()
        link = self.links.pop(partner, None)
        if link is not None:
            await link.stop()

    async def _announce(self, data: dict[str, Any], label: Label, rank: int,
                        topic: str) -> None:
        """An alert or launch event to every subscriber: through the stream when there
        is one (every worker's subscribers), else directly."""
        if self.stream is None:
            also = self._area_label(data)
            for sub in self.subscribers:
                sub.offer(data, label, rank, topic, also)
            return
        record = _encode({"k": "event", "data": data})
        await self.stream.append(record, f"event:{_digest(record)}")

    # --- local fan-out -----------------------------------------------------------------

    def _publish(self, p: Published) -> None:
        p.arrived = time.monotonic()
        self.current[p.update.number] = p
        for sub in self.subscribers:
            before = sub.dropped
            sub.offer(p, p.label, p.rank, p.topic)
            self.stats.subscriber_dropped += sub.dropped - before
        if self._analytics is not None and self.lead_analytics:
            try:
                self._analytics.put_nowait(p)
            except asyncio.QueueFull:
                self.stats.analytics_dropped += 1

    def subscribe(self, user: User, maxsize: int = SUBSCRIBER_QUEUE) -> Subscription:
        sub = Subscription(user, asyncio.Queue(maxsize))
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)

    def snapshot(self, user: User) -> list[dict[str, Any]]:
        return [p.as_json() for p in sorted(self.current.values(),
                                            key=lambda p: p.update.number)
                if user.clearance.may_see(p.label, p.rank, p.topic)]

    def system_tracks(self, user: User) -> list[dict[str, Any]]:
        """Correlated tracks, shown only when the user may see every source track."""
        meta = {(p.source, p.update.uid): p for p in self.current.values()}
        out = []
        for st in self.correlator.tracks():
            parts = [meta.get(s) for s in st.sources]
            if not parts or any(p is None or not user.clearance.may_see(p.label, p.rank,
                                                                       p.topic)
                                for p in parts):
                continue
            out.append({"number": st.number, "time": st.time.isoformat(), "lat": st.lat,
                        "lon": st.lon, "alt_m": st.alt_m,
                        "sources": [{"source": s, "uid": u} for s, u in st.sources],
                        "tracks": [p.update.number for p in parts if p]})
        return out

    def view(self) -> dict[str, Any]:
        s = self.stats
        return {"ingested": s.ingested, "refused": s.refused, "received": s.received,
                "received_refused": s.received_refused, "frames_in": s.frames_in,
                "frames_refused": s.frames_refused, "frames_duplicate": s.frames_duplicate,
                "duplicates": s.duplicates,
                "analytics_dropped": s.analytics_dropped,
                "subscriber_dropped": s.subscriber_dropped, "subscribers":
                len(self.subscribers), "launch_revisions": s.launch_revisions,
                "alerts": s.alerts, "last_refusal": s.last_refusal, "refusals": s.refusals,
                "tracks_current": len(self.current),
                "cot": self.cot.stats.view() if self.cot is not None else None,
                "partners": {p: link.view() for p, link in sorted(self.links.items())},
                "policy": track_service.policy_view(self.policy),
                "policy_watch": self.policy_watch.view()}

    # --- analytics (off the hot path) --------------------------------------------------

    async def _analyse(self) -> None:
        assert self._analytics is not None
        queue = self._analytics
        last_tick = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                p = await asyncio.wait_for(queue.get(), TICK_S)
            except TimeoutError:
                p = None
            try:
                if p is not None:
                    await self._analyse_one(p)
                if loop.time() - last_tick >= TICK_S:
                    last_tick = loop.time()
                    await self._tick()
            except Exception:  # analytics must never stop the hub
                log.exception("track analytics failed")

    async def _tick(self) -> None:
        """Objects gone quiet end their flight: launch events may become ANALYSED."""
        loop_now = asyncio.get_running_loop().time()
        for source, detector in self.detectors.items():
            # in the sensor's time: replayed or delayed data ages as the wall clock runs
            sample_time, arrived = self._last_sample[source]
            for rev in detector.tick(sample_time + timedelta(seconds=loop_now - arrived)):
                await self._launch(source, rev)

    async def _analyse_one(self, p: Published) -> None:
        u = p.update
        self.correlator.update([Report(p.source, u.uid, u.time, u.lat, u.lon, u.alt_m,
                                       max(u.ce_m, 1.0))])
        if is_missile(u.kind):
            detector = self.detectors.get(p.source)
            if detector is None:
                detector = self.detectors[p.source] = LaunchDetector(self.deps.ids)
            self._last_sample[p.source] = (u.time, asyncio.get_running_loop().time())
            for rev in detector.observe(str(u.number), Sample(u.time, u.lat, u.lon, u.alt_m)):
                await self._launch(p.source, rev, p)
        for alert in self.watch.observe(f"track:{u.number}", u.lat, u.lon, u.time):
            area = self.areas.get(alert.area_id)
            label, rank, topic = p.label, p.rank, p.topic
            area_label: dict[str, Any] | None = None
            if area is not None:
                own = self.policy.parties[self.deps.party].scheme
                area_rank = own.level(area.label.classification).rank
                area_label = label_to(area.label)
                if area_rank > rank:
                    label, rank = area.label, area_rank
            data = {"type": "alert", "id": self.deps.ids(), "area_id": alert.area_id,
                    "area_name": alert.area_name, "priority": alert.priority,
                    "subject": alert.subject, "event": alert.event,
                    "at": alert.at.isoformat(), "lat": alert.lat, "lon": alert.lon,
                    "track_source": p.source, "label": label_to(label), "rank": rank,
                    "area_label": area_label,
                    "topic": topic, "marking": portion_mark(
                        label, self.policy.parties[self.deps.party].scheme)}
            self.stats.alerts += 1
            await asyncio.to_thread(track_service.record_alert, self.deps, data)
            await self._announce(data, label, rank, topic)

    async def _launch(self, source: str, rev: Any, p: Published | None = None) -> None:
        sample = p or next((q for q in self.current.values() if q.source == source), None)
        if sample is None:
            return
        data = {"type": "launch", **event_to(rev), "source": source,
                "label": label_to(sample.label), "rank": sample.rank, "topic": sample.topic,
                "marking": sample.marking}
        self.stats.launch_revisions += 1
        await asyncio.to_thread(track_service.record_launch, self.deps, data)
        await self._announce(data, sample.label, sample.rank, sample.topic)


NO_CLEARANCE_RANK = 1_000_000  # above every scheme's levels: nobody may see it


def _numbered(u: TrackUpdate, number: int) -> TrackUpdate:
    return TrackUpdate(u.uid, u.time, u.lat, u.lon, u.alt_m, u.kind, u.speed_ms,
                       u.course_deg, u.ce_m, u.callsign, number)


def _row(u: TrackUpdate) -> list[Any]:
    return [u.uid, u.time.timestamp(), u.lat, u.lon, u.alt_m, u.kind, u.speed_ms,
            u.course_deg, u.ce_m, u.callsign, u.number]


def _encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def _digest(record: bytes) -> str:
    return hashlib.sha256(record).hexdigest()[:32]


def update_from_row(row: Any) -> TrackUpdate:
    """An update from a wire row: 11 fields, and a 12th (the sender's stream position)
    from a node run as several workers."""
    if not isinstance(row, list) or len(row) not in (11, 12):
        raise ValueError("an update row has 11 fields (12 with a stream position)")
    if len(row) == 12 and (not isinstance(row[11], int) or row[11] < 0):
        raise ValueError("a stream position is a non-negative integer")
    uid, t, lat, lon, alt, kind, speed, course, ce, callsign, _number = row[:11]
    return TrackUpdate(str(uid), datetime.fromtimestamp(float(t), UTC), float(lat), float(lon),
                       float(alt), str(kind), None if speed is None else float(speed),
                       None if course is None else float(course), float(ce), str(callsign))
