"""The node's real-time track hub: ingest from feeds, fan-out to entitled partners and to
local subscribers, receipt from partners, and the analytics off the hot path.

Hot path per update (in the event loop, no database): validate, number, queue to each
partner link the policy snapshot allows for the feed, offer to each subscriber whose
clearance and need-to-know cover the label (``tracks.picture``). Everything else runs in
a separate task fed by a bounded queue (``tracks.analytics``).

The hub is thin: it holds the policy snapshot (``tracks.policy_watch`` says when to
recompute it) and the partner links, takes local feeds' updates, and hands the rest to
its rooms: the picture and its subscribers, partners' frames (``tracks.receipt``), the
stream records and leadership with several workers (``tracks.stream``,
``tracks.leadership``), and the analytics.

With a stream (a node run as several workers over NATS JetStream, ``realtime.nats_bus``)
an ingest or a partner's frame is answered once the stream has stored it; every worker
follows the stream and offers each record to its own subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from liaison.domain.codec import label_to
from liaison.domain.labels import LabelError, portion_mark
from liaison.domain.tracks import TrackUpdate, validate_update
from liaison.domain.users import User
from liaison.realtime.bus import Bus, TrackStream
from liaison.services import areas as area_service
from liaison.services import tracks as track_service
from liaison.services.context import Deps
from liaison.services.errors import Unavailable
from liaison.services.ports import Peer
from liaison.services.tracks import TrackPolicy
from liaison.tracks.analytics import ANALYTICS_QUEUE, Analytics
from liaison.tracks.leadership import Leadership
from liaison.tracks.links import STALE_S, PartnerLink
from liaison.tracks.picture import SUBSCRIBER_QUEUE, Picture, Published, Subscription
from liaison.tracks.policy_watch import PolicyWatch
from liaison.tracks.receipt import PartnerFrames
from liaison.tracks.rows import digest, encode_record, encode_row, numbered
from liaison.tracks.state import HubState
from liaison.tracks.stream import StreamRecords

log = logging.getLogger("liaison.tracks")
RECORD_ROWS = 10_000  # rows per stream record; a row's position is record << 16 | index


class TrackHub:
    def __init__(self, deps: Deps, refresh_s: float = 2.0, bus: Bus | None = None) -> None:
        self.deps, self.refresh_s, self.bus = deps, refresh_s, bus
        self._refreshes = self._applied = 0  # policy snapshots begun, and the newest applied
        self.policy_watch = PolicyWatch()  # when the snapshot must be recomputed
        self.state = HubState(deps, TrackPolicy(deps.clock().date(), deps.party,
                                                error="not loaded yet"))
        self.stats = self.state.stats
        self.links: dict[str, PartnerLink] = {}
        self.picture = Picture(self.stats)
        self.current, self.subscribers = self.picture.current, self.picture.subscribers
        self.frames = PartnerFrames(self.state, self.picture.publish)
        self.sessions = self.frames.sessions
        self.records = StreamRecords(self.state, self.picture, self.frames)
        self.analytics = Analytics(self.state, self.picture, self.records.announce)
        self.leadership = Leadership(self.state, self.picture, self.links, self._new_link)
        self._groups: dict[str, dict[str, Any] | None] = {}  # per policy snapshot
        self._tasks: list[asyncio.Task[None]] = []
        self._reader: Any = None  # this worker's reader of the stream
        self.cot: Any = None  # the CoT port, when ``serve`` opened one (for its counters)

    @property
    def policy(self) -> TrackPolicy:
        return self.state.policy

    @policy.setter
    def policy(self, policy: TrackPolicy) -> None:
        self.state.policy = policy

    @property
    def peers(self) -> dict[str, Peer]:
        return self.state.peers

    @property
    def stream(self) -> TrackStream | None:
        return self.state.stream

    @property
    def lead_analytics(self) -> bool:
        """With a stream: whether this worker holds the analytics lease."""
        return self.picture.lead_analytics

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self.state.numbers = await asyncio.to_thread(self.state.load_numbers)
        stream = self.state.stream = self.bus.tracks if self.bus is not None else None
        self.picture.lead_analytics = stream is None
        await self.refresh()
        queue: asyncio.Queue[Published] = asyncio.Queue(ANALYTICS_QUEUE)
        self.picture.analytics = queue
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._refresher()),
                       loop.create_task(self.analytics.run(queue))]
        if stream is not None:
            # from a staleness limit back: the picture of the last half minute, and the
            # positions partners' updates reached (a partner's link that moved to another
            # of its workers sends again from its last recorded position)
            self._reader = await stream.follow(
                None, self.records.on_record,
                since=datetime.now(UTC) - timedelta(seconds=STALE_S))
            self._tasks.append(loop.create_task(self.leadership.run()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for link in self.links.values():
            await link.stop()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

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
            areas = list(self.analytics.areas.values())
        if ticket < self._applied:
            return
        self._applied = ticket
        self.state.policy, self.state.peers, self._groups = policy, peers, {}
        self.policy_watch.seen(seq, reason)
        self.frames.forget_sessions(peers)
        self.analytics.set_areas(areas)
        if self.state.stream is None:  # with a stream, links run where their lease is held
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
                                                      self.state.policy)
                if reason:
                    await self.refresh(reason, seq)
            except Exception as exc:  # keep refreshing; an empty policy meanwhile
                log.warning("track policy refresh failed: %s", exc)
                self.state.policy = TrackPolicy(self.deps.clock().date(), self.deps.party,
                                                error=str(exc))
                self._groups = {}  # cached routes belong to the old policy
            self.picture.prune()

    # --- partner links -----------------------------------------------------------------

    def _new_link(self, partner: str) -> PartnerLink:
        return PartnerLink(self.deps, partner, lambda: self.state.peers.get(partner),
                           self._group)

    def _link(self, partner: str) -> PartnerLink:
        link = self.links.get(partner)
        if link is None:
            link = self.links[partner] = self._new_link(partner)
            link.start()
        return link

    def _group(self, partner: str, key: str) -> dict[str, Any] | None:
        """The frame header of a feed's updates to ``partner`` under an agreement, or
        ``None`` when the current policy no longer routes that feed there that way."""
        cache_key = f"{partner}|{key}"
        if cache_key not in self._groups:
            feed_name, agreement = key.split("|", 1)
            policy = self.state.policy
            feed = policy.feeds.get(feed_name)
            routed = feed is not None and any(
                r.partner == partner and r.agreement == agreement
                for r in policy.routes.get(feed_name, ()))
            self._groups[cache_key] = None if feed is None or not routed else {
                "feed": feed_name, "agreement": agreement, "label": label_to(feed.label),
                "topic": feed.topic}
        return self._groups[cache_key]

    # --- ingest (own sensors) ----------------------------------------------------------

    async def accept(self, feed_name: str,
                     updates: Iterable[TrackUpdate]) -> tuple[int, list[str]]:
        """``ingest``; with a stream, answered once the stream holds the updates (a retry
        of the same batch is stored once)."""
        stream = self.state.stream
        if stream is None:
            return self.ingest(feed_name, updates)
        items = list(updates)
        feed = self.state.policy.feeds.get(feed_name)
        if feed is None:
            return self.ingest(feed_name, items)  # counts and explains the refusal
        refusals: list[str] = []
        number = self.state.number
        rows = [encode_row(numbered(u, number(f"feed:{feed_name}", u.uid)))
                for u in self._checked(items, refusals)]
        for start in range(0, len(rows), RECORD_ROWS):
            record = encode_record({"k": "feed", "feed": feed_name,
                                    "label": label_to(feed.label), "topic": feed.topic,
                                    "rows": rows[start:start + RECORD_ROWS]})
            try:
                await stream.append(record, f"feed:{digest(record)}")
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
        policy = self.state.policy
        feed = policy.feeds.get(feed_name)
        refusals: list[str] = []
        if feed is None:
            why = (f"no feed {feed_name!r} is registered (or the track policy could not be "
                   f"loaded: {policy.error})" if policy.error else
                   f"no feed {feed_name!r} is registered: `liaison tracks feed-add`")
            items = list(updates)
            self.stats.refused += len(items)
            self.stats.refuse(why, len(items))
            return 0, [why] * len(items)
        source = f"feed:{feed_name}"
        own = policy.parties[self.deps.party].scheme
        rank = own.level(feed.label.classification).rank
        marking = portion_mark(feed.label, own)
        routes = policy.routes.get(feed_name, ())
        number, publish = self.state.number, self.picture.publish
        accepted = 0
        for u in self._checked(updates, refusals):
            u = numbered(u, number(source, u.uid))
            row = encode_row(u)
            for route in routes:
                self._link(route.partner).push(f"{feed_name}|{route.agreement}", row)
            publish(Published(u, source, feed.label, rank, feed.topic, marking))
            accepted += 1
        self.stats.ingested += accepted
        return accepted, refusals

    # --- receipt (partners) ------------------------------------------------------------

    def receive_frame(self, wire: bytes) -> tuple[dict[str, Any], bool]:
        """Open, check and apply one frame from a partner (no stream): ``tracks.receipt``."""
        return self.frames.receive_frame(wire)

    async def receive(self, wire: bytes) -> tuple[dict[str, Any], bool]:
        """``receive_frame``; with a stream, acknowledged once the stream holds it."""
        return await self.frames.receive(wire)

    # --- local subscribers and views ---------------------------------------------------

    def subscribe(self, user: User, maxsize: int = SUBSCRIBER_QUEUE) -> Subscription:
        return self.picture.subscribe(user, maxsize)

    def unsubscribe(self, sub: Subscription) -> None:
        self.picture.unsubscribe(sub)

    def snapshot(self, user: User) -> list[dict[str, Any]]:
        return self.picture.snapshot(user)

    def system_tracks(self, user: User) -> list[dict[str, Any]]:
        """Correlated tracks, shown only when the user may see every source track."""
        return self.analytics.system_tracks(user)

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
                "policy": track_service.policy_view(self.state.policy),
                "policy_watch": self.policy_watch.view()}
