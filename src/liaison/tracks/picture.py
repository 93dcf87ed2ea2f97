"""The node's current track picture and its local subscribers.

``Picture.publish`` is the end of the hot path: the update becomes the current position
of its track, is offered to each subscriber whose clearance and need-to-know cover its
label (a full queue drops it and counts), and is queued for the analytics when this
worker runs them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from liaison.domain.labels import Label
from liaison.domain.tracks import TrackUpdate
from liaison.domain.users import User
from liaison.tracks.state import HubStats

SUBSCRIBER_QUEUE = 20_000
CURRENT_MAX_AGE_S = 600.0


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


class Picture:
    def __init__(self, stats: HubStats) -> None:
        self.stats = stats
        self.current: dict[int, Published] = {}
        self.subscribers: set[Subscription] = set()
        self.analytics: asyncio.Queue[Published] | None = None  # set when the hub starts
        self.lead_analytics = True  # with a stream: while this worker holds the lease

    def publish(self, p: Published) -> None:
        p.arrived = time.monotonic()
        self.current[p.update.number] = p
        for sub in self.subscribers:
            before = sub.dropped
            sub.offer(p, p.label, p.rank, p.topic)
            self.stats.subscriber_dropped += sub.dropped - before
        if self.analytics is not None and self.lead_analytics:
            try:
                self.analytics.put_nowait(p)
            except asyncio.QueueFull:
                self.stats.analytics_dropped += 1

    def offer_event(self, data: dict[str, Any], label: Label, rank: int, topic: str,
                    also: tuple[Label, int, str] | None) -> None:
        """An alert or launch event to this worker's subscribers."""
        for sub in self.subscribers:
            sub.offer(data, label, rank, topic, also)

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

    def prune(self) -> None:
        """Tracks not heard of for ``CURRENT_MAX_AGE_S`` leave the picture."""
        now = time.monotonic()
        for number in [n for n, p in self.current.items()
                       if now - p.arrived > CURRENT_MAX_AGE_S]:
            del self.current[number]
