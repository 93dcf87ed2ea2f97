"""The track analytics, off the hot path: correlation into system tracks, launch events
from missile tracks, and area alerts.

They run in their own task fed by a bounded queue (``Picture.publish`` puts each update
there while this worker runs them; what they cannot keep up with is counted, never
silently lost). Alerts and launch events are recorded, then announced to subscribers
under the label of what they are about (an alert also under its area's label).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from liaison.domain.areas import Alert, Area, AreaWatch
from liaison.domain.codec import label_to
from liaison.domain.correlation import Correlator, Report
from liaison.domain.labels import Label, portion_mark
from liaison.domain.launch import LaunchDetector, Sample, event_to
from liaison.domain.tracks import is_missile
from liaison.domain.users import User
from liaison.services import tracks as track_service
from liaison.tracks.picture import Picture, Published
from liaison.tracks.state import HubState

log = logging.getLogger("liaison.tracks")
ANALYTICS_QUEUE = 100_000
TICK_S = 5.0

Announce = Callable[[dict[str, Any], Label, int, str], Awaitable[None]]


class Analytics:
    def __init__(self, state: HubState, picture: Picture, announce: Announce) -> None:
        self.state, self.picture, self.announce = state, picture, announce
        self.watch = AreaWatch()
        self.areas: dict[str, Area] = {}
        self.correlator = Correlator()
        self.detectors: dict[str, LaunchDetector] = {}
        self._last_sample: dict[str, tuple[datetime, float]] = {}

    def set_areas(self, areas: list[Area]) -> None:
        self.areas = {a.id: a for a in areas}
        self.watch.set_areas(areas)

    def system_tracks(self, user: User) -> list[dict[str, Any]]:
        """Correlated tracks, shown only when the user may see every source track."""
        meta = {(p.source, p.update.uid): p for p in self.picture.current.values()}
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

    async def run(self, queue: asyncio.Queue[Published]) -> None:
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
                detector = self.detectors[p.source] = LaunchDetector(self.state.deps.ids)
            self._last_sample[p.source] = (u.time, asyncio.get_running_loop().time())
            for rev in detector.observe(str(u.number), Sample(u.time, u.lat, u.lon, u.alt_m)):
                await self._launch(p.source, rev, p)
        for alert in self.watch.observe(f"track:{u.number}", u.lat, u.lon, u.time):
            await self._alert(p, alert)

    async def _alert(self, p: Published, alert: Alert) -> None:
        """An area alert, under the higher of the track's and the area's labels."""
        state = self.state
        area = self.areas.get(alert.area_id)
        label, rank, topic = p.label, p.rank, p.topic
        area_label: dict[str, Any] | None = None
        if area is not None:
            own = state.policy.parties[state.deps.party].scheme
            area_rank = own.level(area.label.classification).rank
            area_label = label_to(area.label)
            if area_rank > rank:
                label, rank = area.label, area_rank
        data = {"type": "alert", "id": state.deps.ids(), "area_id": alert.area_id,
                "area_name": alert.area_name, "priority": alert.priority,
                "subject": alert.subject, "event": alert.event,
                "at": alert.at.isoformat(), "lat": alert.lat, "lon": alert.lon,
                "track_source": p.source, "label": label_to(label), "rank": rank,
                "area_label": area_label,
                "topic": topic, "marking": portion_mark(
                    label, state.policy.parties[state.deps.party].scheme)}
        state.stats.alerts += 1
        await asyncio.to_thread(track_service.record_alert, state.deps, data)
        await self.announce(data, label, rank, topic)

    async def _launch(self, source: str, rev: Any, p: Published | None = None) -> None:
        sample = p or next((q for q in self.picture.current.values() if q.source == source),
                           None)
        if sample is None:
            return
        data = {"type": "launch", **event_to(rev), "source": source,
                "label": label_to(sample.label), "rank": sample.rank, "topic": sample.topic,
                "marking": sample.marking}
        self.state.stats.launch_revisions += 1
        await asyncio.to_thread(track_service.record_launch, self.state.deps, data)
        await self.announce(data, sample.label, sample.rank, sample.topic)
