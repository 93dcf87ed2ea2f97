"""Launch events from the seed case: two missiles from Sunchon, about 370 km, about 90 km
apogee (2019-10-31), rebuilt from a synthetic trajectory with radar noise."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from liaison.domain.launch import LaunchDetector, LaunchStatus, Sample, fit_arc, geodesic_m
from liaison.tracks.synthetic import SEED_LAUNCHES, SUNCHON, ballistic, seed_salvo

# Stated tolerances: range ±2 %, apogee ±2 km, launch point within 3 km, launch time ±5 s.
RANGE_TOL = 0.02
APOGEE_TOL_KM = 2.0
POINT_TOL_KM = 3.0
TIME_TOL_S = 5.0


def run(updates: list) -> tuple[LaunchDetector, list]:  # type: ignore[type-arg]
    ids = (f"L{i}" for i in itertools.count(1))
    detector = LaunchDetector(lambda: next(ids))
    revisions = []
    for u in updates:
        revisions += detector.observe(u.uid, Sample(u.time, u.lat, u.lon, u.alt_m))
    return detector, revisions


def test_the_seed_salvo_is_one_event_of_two_objects_within_tolerance() -> None:
    detector, _ = run(seed_salvo())
    [event] = detector.events()
    assert event.status is LaunchStatus.ANALYSED
    assert len(event.objects) == 2
    for arc, launched in zip(event.objects, SEED_LAUNCHES, strict=True):
        assert arc.range_km == pytest.approx(370, rel=RANGE_TOL)
        assert arc.apogee_km == pytest.approx(90, abs=APOGEE_TOL_KM)
        assert geodesic_m(arc.launch_lat, arc.launch_lon, *SUNCHON) / 1000 < POINT_TOL_KM
        assert abs((arc.launch_time - launched).total_seconds()) < TIME_TOL_S
        assert arc.impacted
        assert arc.flight_time_s == pytest.approx(271, abs=10)
    print(f"\nlaunch event: {event.summary()}")


def test_revisions_are_appended_preliminary_first() -> None:
    _, revisions = run(seed_salvo())
    assert [r.revision for r in revisions] == list(range(1, len(revisions) + 1))
    assert revisions[0].status is LaunchStatus.PRELIMINARY
    assert revisions[-1].status is LaunchStatus.ANALYSED
    assert {r.id for r in revisions} == {"L1"}
    assert max(len(r.objects) for r in revisions) == 2


def test_an_object_in_flight_keeps_the_event_preliminary_until_it_goes_quiet() -> None:
    flight = ballistic("M1", SEED_LAUNCHES[0])
    detector, _ = run(flight[: len(flight) // 2])
    [event] = detector.events()
    assert event.status is LaunchStatus.PRELIMINARY
    assert not event.objects[0].impacted  # predicted impact
    assert event.range_km == pytest.approx(370, rel=0.05)
    last = flight[len(flight) // 2 - 1].time
    assert detector.tick(last + timedelta(seconds=10)) == []
    [final] = detector.tick(last + timedelta(seconds=31))
    assert final.status is LaunchStatus.ANALYSED


def test_launches_far_apart_are_separate_events() -> None:
    a = ballistic("M1", SEED_LAUNCHES[0])
    b = ballistic("M2", SEED_LAUNCHES[0], origin=(40.8, 129.6), seed=2)  # Hwadae area
    detector, _ = run(sorted(a + b, key=lambda u: u.time))
    assert len(detector.events()) == 2


def test_level_flight_is_not_a_launch() -> None:
    flight = [Sample(SEED_LAUNCHES[0] + timedelta(seconds=i), 38.0, 127.0 + i / 100, 9000)
              for i in range(30)]
    assert fit_arc("A1", flight) is None
    _, revisions = run([])
    assert revisions == []


def test_out_of_order_samples_are_ignored() -> None:
    flight = ballistic("M1", SEED_LAUNCHES[0])
    detector, _ = run(flight[:10])
    assert detector.observe("M1", Sample(flight[3].time, 0, 0, 0)) == []
