"""Track correlation: time alignment, gating and global nearest neighbour association."""

from __future__ import annotations

import itertools
import math
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.domain.correlation import (
    GATE_CHI2_3DOF_99,
    Correlator,
    Report,
    SystemTrack,
    _hungarian,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LAT0, LON0, ALT0 = 38.0, 127.5, 10_000.0
EARTH_R = 6_371_000.0  # a sphere is plenty for the test's own geometry


def offset(east: float, north: float, lat0: float = LAT0, lon0: float = LON0
           ) -> tuple[float, float]:
    """(lat, lon) of a point ``east``/``north`` metres from (lat0, lon0)."""
    lat = lat0 + math.degrees(north / EARTH_R)
    lon = lon0 + math.degrees(east / (EARTH_R * math.cos(math.radians(lat0))))
    return lat, math.remainder(lon, 360.0)


def distance_m(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    mean_lat = math.radians((a[0] + b[0]) / 2)
    north = math.radians(a[0] - b[0]) * EARTH_R
    east = math.radians(math.remainder(a[1] - b[1], 360.0)) * EARTH_R * math.cos(mean_lat)
    return math.sqrt(north**2 + east**2 + (a[2] - b[2]) ** 2)


def at(source: str, uid: str, east: float = 0.0, north: float = 0.0, *, s: float = 0.0,
       alt: float = ALT0, sigma: float = 500.0) -> Report:
    """A report ``s`` seconds after T0 at ``east``/``north`` metres from the origin."""
    lat, lon = offset(east, north)
    return Report(source, uid, T0 + timedelta(seconds=s), lat, lon, alt, sigma)


def where(track: SystemTrack) -> tuple[float, float, float]:
    return track.lat, track.lon, track.alt_m


def groupings(correlator: Correlator) -> set[frozenset[tuple[str, str]]]:
    return {frozenset(t.sources) for t in correlator.tracks()}


# --- the reference scenario -----------------------------------------------------------------

SENSORS = (  # source, uid prefix, sigma, time offset within a scan (s)
    ("KOR-radar", "K", 300.0, 0.0),
    ("peer:USA", "U", 500.0, 0.3),
    ("JPN-sat", "J", 2000.0, 0.5),
)
SPEED = 1500.0  # m/s east
SEPARATION = 20_000.0  # m north


def truth(missile: int, t: datetime) -> tuple[float, float, float]:
    east = SPEED * (t - T0).total_seconds()
    lat, lon = offset(east, missile * SEPARATION)
    return lat, lon, 40_000.0


def test_three_sources_two_missiles_fuse_into_two_tracks() -> None:
    rng = random.Random(20250301)
    correlator = Correlator()
    for scan in range(10):
        batch = []
        for source, prefix, sigma, lag in SENSORS:
            for missile in (0, 1):
                t = T0 + timedelta(seconds=scan + lag)
                east = SPEED * (t - T0).total_seconds() + rng.gauss(0.0, sigma / 2)
                north = missile * SEPARATION + rng.gauss(0.0, sigma / 2)
                lat, lon = offset(east, north)
                alt = 40_000.0 + rng.gauss(0.0, sigma / 2)
                batch.append(Report(source, f"{prefix}{missile}", t, lat, lon, alt, sigma))
        rng.shuffle(batch)
        changed = correlator.update(batch)
        assert [t.number for t in changed] == [1, 2]
        assert len(correlator.tracks()) == 2

    for missile, track in enumerate(correlator.tracks()):
        assert track.sources == tuple(sorted((s, f"{p}{missile}") for s, p, _, _ in SENSORS))
        assert distance_m(where(track), truth(missile, track.time)) < 1000.0
        east, north, up = track.vel_enu
        assert abs(east - SPEED) < 300.0
        assert abs(north) < 300.0
        assert abs(up) < 300.0
        for source, prefix, _, _ in SENSORS:
            assert correlator.track_of(source, f"{prefix}{missile}") == track


def test_late_partner_report_is_aligned_to_the_track_time() -> None:
    """A report delivered after newer ones is predicted back in time, not mis-associated."""
    correlator = Correlator()
    for scan in range(4):
        t = float(scan)
        correlator.update([at("KOR-radar", "K1", SPEED * t, s=t, sigma=300.0)])
    # a partner's report from 1.5 s ago arrives now: 2.25 km behind the track's position
    [track] = correlator.update([at("peer:USA", "U9", SPEED * 1.5, s=1.5)])
    assert track.number == 1
    assert track.sources == (("KOR-radar", "K1"), ("peer:USA", "U9"))
    assert distance_m(where(track), (*offset(SPEED * 3.0, 0.0), ALT0)) < 300.0


# --- gating ---------------------------------------------------------------------------------


def test_objects_50_km_apart_never_merge() -> None:
    correlator = Correlator()
    for scan in range(5):
        t = float(scan)
        correlator.update([
            at("KOR-radar", "a", 0.0, 0.0, s=t), at("KOR-radar", "b", 50_000.0, 0.0, s=t),
            at("peer:USA", "x", 50_000.0, 100.0, s=t + 0.2),
            at("peer:USA", "y", 100.0, 0.0, s=t + 0.2),
            at("JPN-sat", "q", 49_000.0, 0.0, s=t + 0.4, sigma=2000.0),
        ])
    assert groupings(correlator) == {
        frozenset({("KOR-radar", "a"), ("peer:USA", "y")}),
        frozenset({("KOR-radar", "b"), ("peer:USA", "x"), ("JPN-sat", "q")}),
    }


def test_report_far_outside_the_gate_starts_a_new_track() -> None:
    correlator = Correlator()
    [first] = correlator.update([at("KOR-radar", "a")])
    [second] = correlator.update([at("peer:USA", "x", 30_000.0, 0.0)])
    assert (first.number, second.number) == (1, 2)
    assert second.sources == (("peer:USA", "x"),)
    [near] = correlator.update([at("JPN-sat", "q", 400.0, -300.0, sigma=2000.0)])
    assert near.number == 1


def test_a_source_never_has_two_uids_on_one_track() -> None:
    correlator = Correlator()
    correlator.update([at("KOR-radar", "a"), at("KOR-radar", "b", 10.0)])
    assert groupings(correlator) == {frozenset({("KOR-radar", "a")}),
                                     frozenset({("KOR-radar", "b")})}
    correlator.update([at("KOR-radar", "c", 5.0, s=1.0)])
    assert len(correlator.tracks()) == 3


def test_three_consecutive_misses_unbind_a_source() -> None:
    correlator = Correlator()
    [track] = correlator.update([at("KOR-radar", "a"), at("peer:USA", "x", 100.0)])
    home = where(track)
    for scan in (1, 2):  # out of the gate, but still bound; the track does not follow it
        correlator.update([at("KOR-radar", "a", s=scan), at("peer:USA", "x", 30_000.0, s=scan)])
        bound = correlator.track_of("peer:USA", "x")
        assert bound is not None and bound.number == 1
        assert distance_m(where(bound), home) < 300.0
    correlator.update([at("KOR-radar", "a", s=3), at("peer:USA", "x", 30_000.0, s=3)])
    moved = correlator.track_of("peer:USA", "x")
    assert moved is not None and moved.number == 2
    assert moved.sources == (("peer:USA", "x"),)
    assert [t.sources for t in correlator.tracks()] == [(("KOR-radar", "a"),),
                                                        (("peer:USA", "x"),)]


def test_an_in_gate_report_resets_the_miss_count() -> None:
    correlator = Correlator()
    correlator.update([at("KOR-radar", "a"), at("peer:USA", "x", 100.0)])
    for scan, east in enumerate([30_000.0, 30_000.0, 50.0, 30_000.0, 30_000.0], start=1):
        correlator.update([at("KOR-radar", "a", s=scan), at("peer:USA", "x", east, s=scan)])
    bound = correlator.track_of("peer:USA", "x")
    assert bound is not None and bound.number == 1


# --- global nearest neighbour -----------------------------------------------------------------


def greedy(cost: list[list[float]]) -> set[tuple[int, int]]:
    """Nearest pair first: what GNN improves on."""
    pairs = sorted((c, i, j) for i, row in enumerate(cost) for j, c in enumerate(row))
    rows: set[int] = set()
    columns: set[int] = set()
    chosen = set()
    for _, i, j in pairs:
        if i not in rows and j not in columns:
            chosen.add((i, j))
            rows.add(i)
            columns.add(j)
    return chosen


def test_gnn_finds_the_global_optimum_where_greedy_does_not() -> None:
    # tracks T1 at 0 m and T2 at 1000 m east; new reports A at 400 m and B at -500 m.
    # d² = Δ² / (500² + 500²): A-T1 0.32, A-T2 0.72, B-T1 0.5, B-T2 4.5 (all in the gate).
    positions = {"A": 400.0, "B": -500.0}
    tracks = [0.0, 1000.0]
    cost = [[(x - t) ** 2 / 500_000.0 for t in tracks] for x in positions.values()]
    assert greedy(cost) == {(0, 0), (1, 1)}  # total 4.82
    assert set(_hungarian(cost)) == {(0, 1), (1, 0)}  # total 1.22

    correlator = Correlator()
    correlator.update([at("KOR-radar", "t1", 0.0), at("KOR-radar", "t2", 1000.0)])
    correlator.update([at("peer:USA", name, x) for name, x in positions.items()])
    a, b = correlator.track_of("peer:USA", "A"), correlator.track_of("peer:USA", "B")
    assert a is not None and b is not None
    assert (a.number, b.number) == (2, 1)
    assert len(correlator.tracks()) == 2


def test_gnn_prefers_more_associations_to_a_cheaper_single_one() -> None:
    # A could take T1 cheaply, but then B (only gated with T1) would start a new track.
    correlator = Correlator(gate=GATE_CHI2_3DOF_99)
    correlator.update([at("KOR-radar", "t1", 0.0), at("KOR-radar", "t2", 1500.0)])
    correlator.update([at("peer:USA", "A", 100.0), at("peer:USA", "B", -1400.0)])
    assert groupings(correlator) == {
        frozenset({("KOR-radar", "t1"), ("peer:USA", "B")}),
        frozenset({("KOR-radar", "t2"), ("peer:USA", "A")}),
    }


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.data())
def test_hungarian_matches_brute_force(rows: int, columns: int, data: st.DataObject) -> None:
    cost = [[data.draw(st.floats(0.0, 100.0)) for _ in range(columns)] for _ in range(rows)]
    pairs = _hungarian(cost)
    assert len(pairs) == min(rows, columns)
    assert len({i for i, _ in pairs}) == len({j for _, j in pairs}) == len(pairs)
    if rows <= columns:
        best = min(sum(cost[i][j] for i, j in enumerate(perm))
                   for perm in itertools.permutations(range(columns), rows))
    else:
        best = min(sum(cost[i][j] for j, i in enumerate(perm))
                   for perm in itertools.permutations(range(rows), columns))
    assert sum(cost[i][j] for i, j in pairs) == pytest.approx(best, abs=1e-9)


# --- ageing and numbering -------------------------------------------------------------------


def test_numbers_are_never_reused_after_a_track_ages_out() -> None:
    # (a track unseen for a minute with an unknown velocity has a wide gate: keep them apart)
    correlator = Correlator(max_age_s=60.0)
    correlator.update([at("KOR-radar", "a")])
    correlator.update([at("peer:USA", "x", 500_000.0, s=60.0)])
    assert [t.number for t in correlator.tracks()] == [1, 2]  # exactly 60 s: still live
    correlator.update([at("peer:USA", "x", 500_000.0, s=61.0)])
    assert [t.number for t in correlator.tracks()] == [2]
    assert correlator.track_of("KOR-radar", "a") is None
    [again] = correlator.update([at("KOR-radar", "a", s=62.0)])
    assert again.number == 3
    assert [t.number for t in correlator.tracks()] == [2, 3]


def test_a_silent_source_is_unbound_but_the_track_lives_on() -> None:
    correlator = Correlator(max_age_s=10.0)
    correlator.update([at("KOR-radar", "a"), at("peer:USA", "x")])
    for scan in range(1, 13):
        correlator.update([at("KOR-radar", "a", s=scan)])
    [track] = correlator.tracks()
    assert (track.number, track.sources) == (1, (("KOR-radar", "a"),))
    assert correlator.track_of("peer:USA", "x") is None


def test_stale_reports_are_ignored() -> None:
    correlator = Correlator(max_age_s=10.0)
    correlator.update([at("KOR-radar", "a", s=100.0)])
    assert correlator.update([at("peer:USA", "x", 50_000.0, s=80.0)]) == []
    assert [t.sources for t in correlator.tracks()] == [(("KOR-radar", "a"),)]


# --- API details ------------------------------------------------------------------------------


def test_update_returns_only_the_changed_tracks() -> None:
    correlator = Correlator()
    assert correlator.update([]) == []
    correlator.update([at("KOR-radar", "a"), at("KOR-radar", "b", 40_000.0)])
    changed = correlator.update([at("KOR-radar", "b", 40_000.0, s=1.0)])
    assert [t.number for t in changed] == [2]
    assert [t.number for t in correlator.tracks()] == [1, 2]
    assert correlator.track_of("nobody", "a") is None


def test_association_across_the_date_line() -> None:
    correlator = Correlator()
    correlator.update([Report("KOR-radar", "a", T0, 10.0, 179.999, ALT0, 300.0)])
    correlator.update([Report("peer:USA", "x", T0, 10.0, -179.999, ALT0, 300.0)])
    [track] = correlator.tracks()
    assert len(track.sources) == 2
    assert abs(math.remainder(track.lon - 180.0, 360.0)) < 0.002


def test_reports_are_normalised_and_checked() -> None:
    kst = datetime(2025, 3, 1, 21, 0, tzinfo=timezone(timedelta(hours=9)))
    assert at("s", "u").time.tzinfo is UTC
    assert Report("s", "u", kst, 0.0, 0.0, 0.0).time == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert Report("s", "u", kst, 0.0, 0.0, 0.0).time.tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        Report("s", "u", datetime(2025, 3, 1, 12, 0), 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="sigma_m"):
        Report("s", "u", T0, 0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="latitude"):
        Report("s", "u", T0, 91.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="finite"):
        Report("s", "u", T0, 0.0, math.nan, 0.0)
    with pytest.raises(ValueError, match="gate"):
        Correlator(gate=0.0)
    with pytest.raises(ValueError, match="max_age_s"):
        Correlator(max_age_s=-1.0)


# --- order independence -----------------------------------------------------------------------

SOURCES = {"KOR-radar": 300.0, "peer:USA": 500.0, "JPN-sat": 2000.0}

reports = st.builds(
    lambda source, uid, tenths, east, north: at(source, uid, east, north, s=tenths / 10,
                                                sigma=SOURCES[source]),
    st.sampled_from(sorted(SOURCES)),
    st.sampled_from(["1", "2", "3"]),
    st.integers(0, 20),
    st.floats(-4000.0, 4000.0),
    st.floats(-4000.0, 4000.0),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(reports, max_size=8), st.lists(reports, min_size=1, max_size=8), st.data())
def test_order_inside_an_update_does_not_matter(
        first: list[Report], second: list[Report], data: st.DataObject) -> None:
    later = [Report(r.source, r.uid, r.time + timedelta(seconds=3), r.lat, r.lon, r.alt_m,
                    r.sigma_m) for r in second]
    plain, shuffled = Correlator(), Correlator()
    for batch in (first, later):
        permuted = data.draw(st.permutations(batch))
        assert groupings(plain) == groupings(shuffled)
        assert plain.update(batch) == shuffled.update(permuted)
        assert groupings(plain) == groupings(shuffled)
        assert plain.tracks() == shuffled.tracks()
