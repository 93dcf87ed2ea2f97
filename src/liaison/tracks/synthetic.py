"""Synthetic ballistic trajectories (flat-Earth parabola walked along the WGS84 geodesic):
the seed case for tests, the demo and the benchmarks. Deterministic for a given seed."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from liaison.domain.launch import walk
from liaison.domain.tracks import TrackUpdate

G = 9.80665
SUNCHON = (39.43, 125.93)  # launch area of 2019-10-31
SEED_LAUNCHES = (datetime(2019, 10, 31, 7, 35, 0, tzinfo=UTC),
                 datetime(2019, 10, 31, 7, 38, 0, tzinfo=UTC))


def ballistic(uid: str, launch: datetime, *, origin: tuple[float, float] = SUNCHON,
              azimuth: float = 88.0, range_km: float = 370.0, apogee_km: float = 90.0,
              step_s: float = 2.0, first_s: float = 20.0, noise_m: float = 80.0,
              seed: int = 1, kind: str = "a-h-A-M-F") -> list[TrackUpdate]:
    """Updates for one missile as a radar would report it after burnout (from ``first_s``
    after launch) until it falls below 1 km."""
    vz = math.sqrt(2 * G * apogee_km * 1000)
    flight = 2 * vz / G
    vh = range_km * 1000 / flight
    rng = random.Random(seed)  # noqa: S311 (simulated sensor noise)
    out = []
    t = first_s
    while t < flight:
        alt = vz * t - G * t * t / 2
        if alt < 1000 and t > flight / 2:
            break
        dist = vh * t + rng.gauss(0, noise_m)
        lat, lon = walk(origin[0], origin[1], azimuth, dist)
        speed = math.hypot(vh, vz - G * t)
        out.append(TrackUpdate(uid, launch + timedelta(seconds=t), lat, lon,
                               max(0.0, alt + rng.gauss(0, noise_m)), kind, speed, azimuth,
                               ce_m=noise_m, callsign=uid))
        t += step_s
    return out


def seed_salvo(prefix: str = "USA-SBIRS", **kw: float) -> list[TrackUpdate]:
    """The two missiles of 2019-10-31, interleaved in time order."""
    tracks = [ballistic(f"{prefix}-{i + 1}", at, seed=i + 1, **kw)  # type: ignore[arg-type]
              for i, at in enumerate(SEED_LAUNCHES)]
    return sorted((u for t in tracks for u in t), key=lambda u: u.time)
