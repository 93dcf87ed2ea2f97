"""Launch events derived from missile tracks. Pure: no I/O.

Each missile track is fitted after burnout as a ballistic arc: altitude as a quadratic in
time (least squares) and distance along the initial great circle as a line in time. The
roots of the altitude fit give launch and impact times, its vertex the apogee; the ground
fit, walked along the WGS84 geodesic, gives the launch and impact points; the range is the
geodesic distance between them (Karney's algorithm, ``geographiclib``).

Objects launched within ``GROUP_KM`` and ``GROUP_S`` of an event's first object belong to
that event (a salvo is one event with several objects). An event is PRELIMINARY while any
object is in flight and ANALYSED once every object has impacted (seen below ``IMPACT_ALT_M``
after apogee) or gone quiet for ``QUIET_S``. Every change worth reporting is a new revision;
revisions are appended, never overwritten (the caller stores them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from geographiclib.geodesic import Geodesic  # type: ignore[import-untyped]

MIN_SAMPLES = 6
GROUP_KM = 30.0
GROUP_S = 1800.0
IMPACT_ALT_M = 1_500.0
QUIET_S = 30.0
MIN_APOGEE_M = 5_000.0  # below this a climbing track is not treated as ballistic
REVISE_KM = 1.0  # a new revision when range or apogee moves this much
REVISE_S = 5.0


class LaunchStatus(StrEnum):
    PRELIMINARY = "PRELIMINARY"
    ANALYSED = "ANALYSED"


@dataclass(frozen=True, slots=True)
class Sample:
    time: datetime
    lat: float
    lon: float
    alt_m: float


@dataclass(frozen=True, slots=True)
class Arc:
    """One object's fitted flight."""

    track: str
    launch_time: datetime
    launch_lat: float
    launch_lon: float
    impact_time: datetime
    impact_lat: float
    impact_lon: float
    range_km: float
    apogee_km: float
    flight_time_s: float
    impacted: bool  # the impact was observed (else predicted)


@dataclass(frozen=True, slots=True)
class LaunchEvent:
    """One revision of a launch event; the first object's launch point and time."""

    id: str
    revision: int
    status: LaunchStatus
    launch_time: datetime
    launch_lat: float
    launch_lon: float
    objects: tuple[Arc, ...]

    @property
    def range_km(self) -> float:
        return max(a.range_km for a in self.objects)

    @property
    def apogee_km(self) -> float:
        return max(a.apogee_km for a in self.objects)

    @property
    def flight_time_s(self) -> float:
        return max(a.flight_time_s for a in self.objects)

    def summary(self) -> str:
        return (f"{self.status.value}: {len(self.objects)} object(s) launched "
                f"{self.launch_time:%Y-%m-%d %H:%M:%S}Z from {self.launch_lat:.2f}N "
                f"{self.launch_lon:.2f}E, range {self.range_km:.0f} km, apogee "
                f"{self.apogee_km:.0f} km, flight {self.flight_time_s:.0f} s")


def geodesic_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return float(Geodesic.WGS84.Inverse(lat1, lon1, lat2, lon2)["s12"])


def azimuth_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return float(Geodesic.WGS84.Inverse(lat1, lon1, lat2, lon2)["azi1"])


def walk(lat: float, lon: float, azimuth: float, distance_m: float) -> tuple[float, float]:
    """The point ``distance_m`` along the geodesic leaving (lat, lon) at ``azimuth``."""
    out: dict[str, float] = Geodesic.WGS84.Direct(lat, lon, azimuth, distance_m)
    return out["lat2"], out["lon2"]


def fit_arc(track: str, samples: list[Sample], along: list[float] | None = None) -> Arc | None:
    """The ballistic arc through ``samples`` (time order), or ``None`` while the samples
    do not (yet) describe one: too few, not curving down, or apogee too low. ``along``:
    each sample's geodesic distance from the first (computed here when not given)."""
    if len(samples) < MIN_SAMPLES:
        return None
    t0, first, last = samples[0].time, samples[0], samples[-1]
    ts = [(s.time - t0).total_seconds() for s in samples]
    quad = _polyfit2(ts, [s.alt_m for s in samples])
    if quad is None:
        return None
    a, b, c = quad
    if c >= 0:
        return None
    apogee = a - b * b / (4 * c)
    roots = _roots(a, b, c)
    if apogee < MIN_APOGEE_M or roots is None:
        return None
    t_launch, t_impact = roots
    azimuth = azimuth_deg(first.lat, first.lon, last.lat, last.lon)
    if along is None:
        along = [geodesic_m(first.lat, first.lon, s.lat, s.lon) for s in samples]
    line = _polyfit1(ts, along)
    if line is None:
        return None
    s0, v = line
    launch = walk(first.lat, first.lon, azimuth, s0 + v * t_launch)
    impact = walk(first.lat, first.lon, azimuth, s0 + v * t_impact)
    impacted = last.alt_m <= IMPACT_ALT_M and ts[-1] > -b / (2 * c)
    return Arc(track, t0 + timedelta(seconds=t_launch), launch[0], launch[1],
               t0 + timedelta(seconds=t_impact), impact[0], impact[1],
               geodesic_m(*launch, *impact) / 1000, apogee / 1000, t_impact - t_launch,
               impacted)


def _roots(a: float, b: float, c: float) -> tuple[float, float] | None:
    disc = b * b - 4 * a * c
    if disc < 0:
        return None
    r = math.sqrt(disc)
    lo, hi = sorted(((-b + r) / (2 * c), (-b - r) / (2 * c)))
    return lo, hi


def _polyfit1(xs: list[float], ys: list[float]) -> tuple[float, float] | None:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return my - slope * mx, slope


def _polyfit2(xs: list[float], ys: list[float]) -> tuple[float, float, float] | None:
    """Least squares y = a + b x + c x² by the normal equations (Cramer's rule)."""
    s = [sum(x ** k for x in xs) for k in range(5)]
    t = [sum(y * x ** k for x, y in zip(xs, ys, strict=True)) for k in range(3)]
    m = [[s[0], s[1], s[2]], [s[1], s[2], s[3]], [s[2], s[3], s[4]]]
    det = _det3(m)
    if abs(det) < 1e-9 * max(1.0, abs(s[4])):
        return None
    out = []
    for col in range(3):
        mc = [row[:] for row in m]
        for r in range(3):
            mc[r][col] = t[r]
        out.append(_det3(mc) / det)
    return out[0], out[1], out[2]


def _det3(m: list[list[float]]) -> float:
    return (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))


@dataclass
class _Object:
    samples: list[Sample] = field(default_factory=list)
    along: list[float] = field(default_factory=list)
    arc: Arc | None = None
    event: str | None = None
    last_seen: datetime | None = None
    ended: bool = False


@dataclass
class _Event:
    id: str
    objects: list[str]
    revisions: list[LaunchEvent] = field(default_factory=list)


class LaunchDetector:
    """Feed it missile track samples; it answers the launch-event revisions to record.
    ``new_id`` names new events (the caller's id source)."""

    def __init__(self, new_id: Any, max_samples: int = 2_000) -> None:
        self._new_id = new_id
        self._objects: dict[str, _Object] = {}
        self._events: dict[str, _Event] = {}
        self.max_samples = max_samples

    def events(self) -> list[LaunchEvent]:
        return [e.revisions[-1] for e in self._events.values() if e.revisions]

    def observe(self, track: str, sample: Sample) -> list[LaunchEvent]:
        obj = self._objects.setdefault(track, _Object())
        if obj.ended or (obj.samples and sample.time <= obj.samples[-1].time):
            return []  # out of order or after impact: ignored
        if len(obj.samples) >= self.max_samples:
            return []  # a track this long is not a ballistic flight
        head = obj.samples[0] if obj.samples else sample
        obj.samples.append(sample)
        obj.along.append(geodesic_m(head.lat, head.lon, sample.lat, sample.lon))
        obj.last_seen = sample.time
        arc = fit_arc(track, obj.samples, obj.along)
        if arc is None:
            return []
        obj.arc = arc
        if arc.impacted:
            obj.ended = True
        if obj.event is None:
            obj.event = self._event_for(arc).id
            self._events[obj.event].objects.append(track)
        return self._revise(self._events[obj.event])

    def tick(self, now: datetime) -> list[LaunchEvent]:
        """Objects silent for ``QUIET_S`` end; events may become ANALYSED."""
        changed: list[LaunchEvent] = []
        for event in self._events.values():
            quiet = False
            for name in event.objects:
                obj = self._objects[name]
                if (not obj.ended and obj.last_seen
                        and (now - obj.last_seen).total_seconds() > QUIET_S):
                    obj.ended = quiet = True
            if quiet:
                changed += self._revise(event)
        return changed

    def _event_for(self, arc: Arc) -> _Event:
        for event in self._events.values():
            head = self._objects[event.objects[0]].arc
            if head and abs((arc.launch_time - head.launch_time).total_seconds()) <= GROUP_S \
                    and geodesic_m(arc.launch_lat, arc.launch_lon, head.launch_lat,
                                   head.launch_lon) <= GROUP_KM * 1000:
                return event
        event = _Event(str(self._new_id()), [])
        self._events[event.id] = event
        return event

    def _revise(self, event: _Event) -> list[LaunchEvent]:
        objs = [self._objects[n] for n in event.objects]
        arcs = tuple(o.arc for o in objs if o.arc)
        if not arcs:
            return []
        first = min(arcs, key=lambda a: a.launch_time)
        status = (LaunchStatus.ANALYSED if all(o.ended for o in objs)
                  else LaunchStatus.PRELIMINARY)
        last = event.revisions[-1] if event.revisions else None
        candidate = LaunchEvent(event.id, (last.revision + 1) if last else 1, status,
                                first.launch_time, first.launch_lat, first.launch_lon,
                                tuple(sorted(arcs, key=lambda a: a.launch_time)))
        if last and not _worth_revising(last, candidate):
            return []
        event.revisions.append(candidate)
        return [candidate]


def _worth_revising(old: LaunchEvent, new: LaunchEvent) -> bool:
    return (old.status is not new.status or len(old.objects) != len(new.objects)
            or abs(old.range_km - new.range_km) >= REVISE_KM
            or abs(old.apogee_km - new.apogee_km) >= REVISE_KM
            or abs((old.launch_time - new.launch_time).total_seconds()) >= REVISE_S)


def event_to(e: LaunchEvent) -> dict[str, Any]:
    """Plain data for storage, the API and partners."""
    return {
        "id": e.id, "revision": e.revision, "status": e.status.value,
        "launch_time": e.launch_time.isoformat(), "launch_lat": round(e.launch_lat, 5),
        "launch_lon": round(e.launch_lon, 5), "range_km": round(e.range_km, 1),
        "apogee_km": round(e.apogee_km, 1), "flight_time_s": round(e.flight_time_s, 1),
        "objects": [{
            "track": a.track, "launch_time": a.launch_time.isoformat(),
            "launch_lat": round(a.launch_lat, 5), "launch_lon": round(a.launch_lon, 5),
            "impact_time": a.impact_time.isoformat(), "impact_lat": round(a.impact_lat, 5),
            "impact_lon": round(a.impact_lon, 5), "range_km": round(a.range_km, 1),
            "apogee_km": round(a.apogee_km, 1), "flight_time_s": round(a.flight_time_s, 1),
            "impact": "observed" if a.impacted else "predicted"} for a in e.objects],
        "summary": e.summary(),
    }
