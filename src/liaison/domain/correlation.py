"""Track correlation: associate the tracks several sources report for one object into one
system track. Pure: no I/O, standard library only.

Method
------
*Frame.* Positions are compared in a local East-North-Up frame (metres) on the tangent
plane at the system track's position, using the WGS84 meridian and prime-vertical radii
(a flat approximation, good to a few metres over the tens of kilometres compared here;
longitude differences wrap at the date line).

*Time alignment.* A system track carries a constant-velocity estimate. Before a report is
compared with a track, the track is predicted to the report's time; its position standard
deviation grows with the prediction interval (velocity uncertainty times the interval, plus
a manoeuvre allowance), added linearly because the velocity is estimated from the same
fused positions. A new track's velocity is unknown (zero, with a large uncertainty, so
its gate is wide until a second report arrives);
afterwards it is a finite difference of fused positions at least one second apart,
smoothed (alpha-beta style, alpha = 1, beta = 0.4).

*Gating.* The distance between a report and a predicted track is the isotropic squared
Mahalanobis distance ``d² = |Δ|² / (σ_report² + σ_track²)``; a pair with ``d²`` above the
gate (default: chi-square, 3 degrees of freedom, 99 %) may not be associated.

*Bound reports.* A (source, uid) already bound to a system track updates it. A report
outside the gate is not fused (the track coasts on its other data) and counts a miss; the
third consecutive miss unbinds the (source, uid) and the report is treated as new. A system
track left without sources is dropped.

*Global nearest neighbour.* Unbound reports are assigned to system tracks by an optimal
assignment (Hungarian / Munkres, O(n³)) minimising the total ``d²``, one source at a time:
a source's uids are distinct objects, and a system track already holding that source is no
candidate. Sources go most accurate first (smallest ``sigma_m``, then name), so tracks
seeded in the same call are seeded by the best sensor. Forbidden pairs (outside the gate)
carry a large cost and are discarded after solving, so the solver first maximises the number
of gated pairs and then minimises their total cost. An unassigned report starts a new system
track with the next number; numbers are never reused.

*Fusion.* A system track's position is the inverse-variance weighted mean of the latest
report of each of its sources, each predicted to the newest of those reports' times (a
report's variance includes its prediction's; the velocity error shared by the predictions
is kept in the fused variance rather than averaged away).

*Ageing.* A source that has not reported for more than ``max_age_s`` (relative to the newest
report time seen) is unbound; a system track left without sources is dropped.

An ``update`` call is processed in a fixed order (reports sorted by time, then source and
uid; the k-th report of each (source, uid) in the call goes in the k-th round), so the result
does not depend on the order of the reports inside the call.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeAlias

GATE_CHI2_3DOF_99 = 11.345  # chi-square, 3 degrees of freedom, 99 %

_WGS84_A = 6_378_137.0  # semi-major axis, m
_WGS84_E2 = 6.694_379_990_14e-3  # first eccentricity squared

_BETA = 0.4  # velocity smoothing gain
_VELOCITY_MIN_DT_S = 1.0  # shortest baseline for a finite-difference velocity
_VELOCITY_SIGMA_UNKNOWN = 1000.0  # m/s, 1-sigma per axis before any velocity estimate
_VELOCITY_SIGMA_MIN = 20.0  # m/s, floor on the velocity uncertainty
_MANOEUVRE_MPS2 = 30.0  # unmodelled acceleration allowed for in predictions
_MISSES_TO_UNBIND = 3

_Vec: TypeAlias = tuple[float, float, float]
_Key: TypeAlias = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Report:
    """One source's update of one of its tracks."""

    source: str  # e.g. "KOR-radar", "peer:USA"
    uid: str  # the source's own track id
    time: datetime  # timezone-aware; normalised to UTC
    lat: float
    lon: float
    alt_m: float
    sigma_m: float = 500.0  # 1-sigma position error of this source, metres (per axis)

    def __post_init__(self) -> None:
        offset = self.time.utcoffset()
        if offset is None:
            raise ValueError("a report's time must be timezone-aware")
        if not all(math.isfinite(x) for x in (self.lat, self.lon, self.alt_m)):
            raise ValueError("a report's position must be finite")
        if not -90.0 <= self.lat <= 90.0:
            raise ValueError(f"latitude {self.lat} is outside [-90, 90]")
        if not (math.isfinite(self.sigma_m) and self.sigma_m > 0.0):
            raise ValueError(f"sigma_m must be positive and finite, not {self.sigma_m}")
        object.__setattr__(self, "time", self.time.astimezone(UTC))


@dataclass(frozen=True, slots=True)
class SystemTrack:
    """One object as seen by all the sources associated with it."""

    number: int  # system track number, 1, 2, 3... never reused
    time: datetime
    lat: float
    lon: float
    alt_m: float
    vel_enu: tuple[float, float, float]  # m/s east, north, up (estimated)
    sources: tuple[tuple[str, str], ...]  # (source, uid) pairs associated, sorted


# --- geometry -----------------------------------------------------------------------------


def _scales(lat: float, alt: float) -> tuple[float, float]:
    """Metres per radian of longitude (east) and latitude (north) at a point."""
    phi = math.radians(lat)
    s = math.sin(phi)
    w = 1.0 - _WGS84_E2 * s * s
    prime_vertical = _WGS84_A / math.sqrt(w)
    meridian = _WGS84_A * (1.0 - _WGS84_E2) / (w * math.sqrt(w))
    east = (prime_vertical + alt) * max(math.cos(phi), 1e-9)
    return east, meridian + alt


def _to_enu(origin: tuple[float, float, float], lat: float, lon: float, alt: float) -> _Vec:
    lat0, lon0, alt0 = origin
    east_scale, north_scale = _scales(lat0, alt0)
    dlon = math.remainder(lon - lon0, 360.0)
    return (math.radians(dlon) * east_scale, math.radians(lat - lat0) * north_scale,
            alt - alt0)


def _from_enu(origin: tuple[float, float, float], enu: _Vec) -> tuple[float, float, float]:
    lat0, lon0, alt0 = origin
    east_scale, north_scale = _scales(lat0, alt0)
    lat = min(90.0, max(-90.0, lat0 + math.degrees(enu[1] / north_scale)))
    lon = math.remainder(lon0 + math.degrees(enu[0] / east_scale), 360.0)
    return lat, lon, alt0 + enu[2]


def _axpy(a: float, x: _Vec, y: _Vec) -> _Vec:
    """a·x + y."""
    return (a * x[0] + y[0], a * x[1] + y[1], a * x[2] + y[2])


def _norm2(x: _Vec) -> float:
    return x[0] * x[0] + x[1] * x[1] + x[2] * x[2]


# --- assignment -----------------------------------------------------------------------------


def _hungarian(cost: list[list[float]]) -> list[tuple[int, int]]:
    """Minimum-cost assignment of rows to columns of a rectangular matrix (Hungarian method
    with potentials, O(n²·m)). Returns ``min(rows, columns)`` (row, column) pairs, sorted."""
    n = len(cost)
    m = len(cost[0]) if n else 0
    if n == 0 or m == 0:
        return []
    if any(len(row) != m for row in cost):
        raise ValueError("the cost matrix must be rectangular")
    if n > m:
        transposed = [list(column) for column in zip(*cost, strict=True)]
        return sorted((i, j) for j, i in _hungarian(transposed))
    # 1-based: row/column 0 is the virtual start of each augmenting path.
    u = [0.0] * (n + 1)  # row potentials
    v = [0.0] * (m + 1)  # column potentials
    owner = [0] * (m + 1)  # owner[j]: the row assigned to column j (0: none)
    way = [0] * (m + 1)
    for i in range(1, n + 1):
        owner[0] = i
        j0 = 0
        min_slack = [math.inf] * (m + 1)
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0 = owner[j0]
            row = cost[i0 - 1]
            delta = math.inf
            j1 = 0
            for j in range(1, m + 1):
                if used[j]:
                    continue
                slack = row[j - 1] - u[i0] - v[j]
                if slack < min_slack[j]:
                    min_slack[j] = slack
                    way[j] = j0
                if min_slack[j] < delta:
                    delta = min_slack[j]
                    j1 = j
            for j in range(m + 1):
                if used[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    min_slack[j] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:  # augment along the path back to the start
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    return sorted((owner[j] - 1, j - 1) for j in range(1, m + 1) if owner[j])


# --- tracks ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Track:
    number: int
    time: datetime  # time of the fused position: the newest of the latest reports
    lat: float
    lon: float
    alt: float
    var: float  # fused position variance per axis, m²
    latest: dict[str, Report] = field(default_factory=dict)  # by source
    vel: _Vec = (0.0, 0.0, 0.0)
    vel_var: float = _VELOCITY_SIGMA_UNKNOWN**2
    vel_known: bool = False
    anchor: tuple[datetime, float, float, float, float] | None = None  # t, lat, lon, alt, var

    @property
    def origin(self) -> tuple[float, float, float]:
        return self.lat, self.lon, self.alt

    def drift_var(self, dt: float) -> float:
        """Per-axis variance added by predicting ``dt`` seconds with the track velocity."""
        manoeuvre = 0.5 * _MANOEUVRE_MPS2 * dt * dt
        return self.vel_var * dt * dt + manoeuvre * manoeuvre

    def predicted_var(self, dt: float) -> float:
        """Per-axis variance of the fused position predicted ``dt`` seconds away. The
        velocity is estimated from the fused positions, so their errors are correlated: take
        the standard deviations as adding up (the conservative bound)."""
        return (math.sqrt(self.var) + math.sqrt(self.drift_var(dt))) ** 2

    def d2(self, report: Report) -> float:
        """Squared Mahalanobis distance of a report from this track predicted to its time."""
        dt = (report.time - self.time).total_seconds()
        offset = _to_enu(self.origin, report.lat, report.lon, report.alt_m)
        residual = _axpy(-dt, self.vel, offset)
        return _norm2(residual) / (report.sigma_m**2 + self.predicted_var(dt))

    def fuse(self) -> None:
        """Recompute the fused position from the latest report of each source, then the
        velocity from the fused positions."""
        newest = max(r.time for r in self.latest.values())
        total_weight = 0.0
        acc: _Vec = (0.0, 0.0, 0.0)
        independent = 0.0  # Σ w²σ²: the reports' own errors
        common = 0.0  # Σ w·σ_drift: the shared velocity error of the predictions
        for source in sorted(self.latest):
            r = self.latest[source]
            dt = (newest - r.time).total_seconds()
            position = _axpy(dt, self.vel, _to_enu(self.origin, r.lat, r.lon, r.alt_m))
            drift = self.drift_var(dt)
            weight = 1.0 / (r.sigma_m**2 + drift)
            acc = _axpy(weight, position, acc)
            total_weight += weight
            independent += weight * weight * r.sigma_m**2
            common += weight * math.sqrt(drift)
        self.lat, self.lon, self.alt = _from_enu(self.origin, _axpy(1.0 / total_weight, acc,
                                                                    (0.0, 0.0, 0.0)))
        self.var = (independent + common * common) / total_weight**2
        self.time = newest
        self._estimate_velocity()

    def _estimate_velocity(self) -> None:
        if self.anchor is None:
            self.anchor = (self.time, self.lat, self.lon, self.alt, self.var)
            return
        t0, lat0, lon0, alt0, var0 = self.anchor
        dt = (self.time - t0).total_seconds()
        if dt < _VELOCITY_MIN_DT_S:
            return
        step = _to_enu((lat0, lon0, alt0), self.lat, self.lon, self.alt)
        measured = _axpy(1.0 / dt, step, (0.0, 0.0, 0.0))
        measured_var = (self.var + var0) / (dt * dt)
        if self.vel_known:
            innovation = _axpy(-1.0, self.vel, measured)
            self.vel = _axpy(_BETA, innovation, self.vel)
            self.vel_var = (1.0 - _BETA) ** 2 * self.vel_var + _BETA**2 * measured_var
        else:
            self.vel = measured
            self.vel_var = measured_var
            self.vel_known = True
        self.vel_var = max(self.vel_var, _VELOCITY_SIGMA_MIN**2)
        self.anchor = (self.time, self.lat, self.lon, self.alt, self.var)

    def snapshot(self) -> SystemTrack:
        return SystemTrack(
            number=self.number, time=self.time, lat=self.lat, lon=self.lon, alt_m=self.alt,
            vel_enu=self.vel,
            sources=tuple(sorted((source, r.uid) for source, r in self.latest.items())))


def _order(r: Report) -> tuple[datetime, str, str, float, float, float, float]:
    return (r.time, r.source, r.uid, r.lat, r.lon, r.alt_m, r.sigma_m)


def _rounds(batch: Iterable[Report]) -> list[list[Report]]:
    """Split a time-sorted batch so that each round holds at most one report per
    (source, uid): the k-th report of each goes in round k."""
    seen: dict[_Key, int] = {}
    rounds: list[list[Report]] = []
    for r in batch:
        k = seen.get((r.source, r.uid), 0)
        seen[(r.source, r.uid)] = k + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(r)
    return rounds


class Correlator:
    """Associates the reports of several sources into system tracks (see the module doc)."""

    def __init__(self, gate: float = GATE_CHI2_3DOF_99, max_age_s: float = 60.0) -> None:
        if not (math.isfinite(gate) and gate > 0.0):
            raise ValueError(f"gate must be positive and finite, not {gate}")
        if not (math.isfinite(max_age_s) and max_age_s > 0.0):
            raise ValueError(f"max_age_s must be positive and finite, not {max_age_s}")
        self._gate = gate
        self._max_age_s = max_age_s
        self._tracks: dict[int, _Track] = {}
        self._bindings: dict[_Key, int] = {}
        self._misses: dict[_Key, int] = {}
        self._next_number = 1
        self._newest: datetime | None = None

    def update(self, reports: list[Report]) -> list[SystemTrack]:
        """Take in a batch of reports; return the live system tracks they changed, by
        number. Reports older than ``max_age_s`` before the newest time seen are ignored."""
        if not reports:
            return []
        batch = sorted(reports, key=_order)
        newest = batch[-1].time if self._newest is None else max(self._newest, batch[-1].time)
        self._newest = newest
        batch = [r for r in batch if (newest - r.time).total_seconds() <= self._max_age_s]
        changed: set[int] = set()
        self._expire(changed)
        for round_ in _rounds(batch):
            self._run_round(round_, changed)
        return [self._tracks[n].snapshot() for n in sorted(changed) if n in self._tracks]

    def tracks(self) -> list[SystemTrack]:
        """All live system tracks, by number."""
        return [self._tracks[n].snapshot() for n in sorted(self._tracks)]

    def track_of(self, source: str, uid: str) -> SystemTrack | None:
        """The system track a source's track is associated with, if any."""
        number = self._bindings.get((source, uid))
        return None if number is None else self._tracks[number].snapshot()

    # --- internals ------------------------------------------------------------------------

    def _run_round(self, reports: list[Report], changed: set[int]) -> None:
        unbound: list[Report] = []
        for r in reports:  # time order
            key = (r.source, r.uid)
            number = self._bindings.get(key)
            if number is None:
                unbound.append(r)
                continue
            track = self._tracks[number]
            if r.time < track.latest[r.source].time:
                continue  # older than what this source already told us
            if track.d2(r) <= self._gate:
                self._misses.pop(key, None)
                track.latest[r.source] = r
                track.fuse()
                changed.add(number)
                continue
            misses = self._misses.get(key, 0) + 1
            if misses < _MISSES_TO_UNBIND:
                self._misses[key] = misses
            else:
                self._unbind(key, changed)
                unbound.append(r)
        self._assign(unbound, changed)

    def _assign(self, reports: list[Report], changed: set[int]) -> None:
        by_source: dict[str, list[Report]] = {}
        for r in reports:
            by_source.setdefault(r.source, []).append(r)
        order = sorted(by_source, key=lambda s: (min(r.sigma_m for r in by_source[s]), s))
        for source in order:
            rows = by_source[source]
            columns = [self._tracks[n] for n in sorted(self._tracks)
                       if source not in self._tracks[n].latest]
            forbidden = self._gate * (min(len(rows), len(columns)) + 1) + 1.0
            cost = [[d2 if (d2 := t.d2(r)) <= self._gate else forbidden for t in columns]
                    for r in rows]
            chosen = {i: columns[j] for i, j in _hungarian(cost) if cost[i][j] <= self._gate}
            for i, r in enumerate(rows):
                track = chosen.get(i)
                if track is None:
                    track = _Track(number=self._next_number, time=r.time, lat=r.lat,
                                   lon=r.lon, alt=r.alt_m, var=r.sigma_m**2)
                    self._next_number += 1
                    self._tracks[track.number] = track
                track.latest[source] = r
                track.fuse()
                self._bindings[(source, r.uid)] = track.number
                changed.add(track.number)

    def _unbind(self, key: _Key, changed: set[int]) -> None:
        number = self._bindings.pop(key)
        self._misses.pop(key, None)
        track = self._tracks[number]
        del track.latest[key[0]]
        if track.latest:
            track.fuse()
            changed.add(number)
        else:
            del self._tracks[number]

    def _expire(self, changed: set[int]) -> None:
        newest = self._newest
        if newest is None:
            return
        for number in sorted(self._tracks):
            track = self._tracks[number]
            stale = [(s, r.uid) for s, r in track.latest.items()
                     if (newest - r.time).total_seconds() > self._max_age_s]
            for key in sorted(stale):
                self._unbind(key, changed)
