"""Areas and targets of interest, and the watch that raises enter/exit alerts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from geographiclib.geodesic import Geodesic  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.domain.areas import (
    Alert,
    Area,
    AreaKind,
    AreaWatch,
    geodesic_distance_m,
    validate_area,
)
from liaison.domain.labels import LabelError, make_label
from liaison.domain.parties import default_parties

KOR = default_parties()["KOR"]
LABEL = make_label(KOR.scheme, "군사II급비밀", originator="KOR",
                   created=datetime(2019, 10, 31, tzinfo=UTC), rel_to={"USA"})
T0 = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)

SUNCHON = (39.43, 125.93)
PYONGYANG = (39.03, 125.75)
# An irregular hexagon of about 20 km x 17 km around Sunchon, (lat, lon), not closed.
SUNCHON_POLYGON = (
    (39.35, 125.85), (39.34, 125.97), (39.41, 126.04),
    (39.52, 126.01), (39.53, 125.88), (39.46, 125.82),
)
# A concave "U" (opening to the north): the notch lat 39.1..39.3, lon 125.3..125.5 is out.
U_POLYGON = (
    (39.0, 125.0), (39.0, 125.8), (39.3, 125.8), (39.3, 125.5),
    (39.1, 125.5), (39.1, 125.3), (39.3, 125.3), (39.3, 125.0),
)


def area(area_id: str = "A-1", **kw: Any) -> Area:
    base: dict[str, Any] = {
        "name": f"area {area_id}", "kind": AreaKind.LAUNCH_SITE, "priority": 2,
        "label": LABEL, "originator": "KOR", "polygon": SUNCHON_POLYGON,
    }
    base.update(kw)
    return Area(id=area_id, **base)


def circle(area_id: str, center: tuple[float, float], radius_m: float, **kw: Any) -> Area:
    return area(area_id, polygon=(), center=center, radius_m=radius_m, **kw)


def destination(start: tuple[float, float], azimuth: float, metres: float) -> tuple[float, float]:
    r = Geodesic.WGS84.Direct(start[0], start[1], azimuth, metres)
    return float(r["lat2"]), float(r["lon2"])


def events(alerts: list[Alert]) -> list[tuple[str, str]]:
    return [(a.event, a.area_id) for a in alerts]


# --- shapes --------------------------------------------------------------------------------


def test_sunchon_polygon_holds_its_centre_not_pyongyang() -> None:
    sunchon = area()
    validate_area(sunchon)
    assert sunchon.contains(*SUNCHON)
    assert not sunchon.contains(*PYONGYANG)


def test_concave_polygon_excludes_its_notch() -> None:
    u = area(polygon=U_POLYGON)
    validate_area(u)
    assert u.contains(39.05, 125.4)  # bottom of the U
    assert u.contains(39.2, 125.1)  # left arm
    assert u.contains(39.2, 125.7)  # right arm
    assert not u.contains(39.2, 125.4)  # the notch, inside the bounding box
    assert not u.contains(39.2, 125.9)  # east of it, on a vertex's latitude band


@pytest.mark.parametrize("point", [
    (39.0, 125.4),  # on the southern edge
    (39.0, 125.0),  # a vertex
    (39.3, 125.8),  # a vertex
    (39.2, 125.5),  # on the notch's vertical edge
    (39.1, 125.4),  # on the notch's floor (a horizontal edge)
    (39.3, 125.65),  # on the top of the right arm
])
def test_points_on_the_boundary_are_inside(point: tuple[float, float]) -> None:
    u = area(polygon=U_POLYGON)
    assert u.contains(*point)
    assert area(polygon=tuple(reversed(U_POLYGON))).contains(*point)


def test_ray_through_a_vertex_counts_once() -> None:
    diamond = area(polygon=((39.0, 125.5), (39.5, 126.0), (40.0, 125.5), (39.5, 125.0)))
    assert diamond.contains(39.5, 125.5)  # the ray east passes through vertex (39.5, 126.0)
    assert not diamond.contains(39.5, 126.2)
    assert not diamond.contains(39.5, 124.8)  # west of a vertex on the same latitude


def test_closed_ring_reads_like_an_open_one() -> None:
    closed = area(polygon=(*SUNCHON_POLYGON, SUNCHON_POLYGON[0]))
    validate_area(closed)
    for point in (SUNCHON, PYONGYANG, (39.345, 125.90), (39.53, 125.95)):
        assert closed.contains(*point) == area().contains(*point)


def test_circle_of_10_km() -> None:
    c = circle("C-1", SUNCHON, 10_000.0)
    validate_area(c)
    assert c.contains(*SUNCHON)
    for azimuth in (0.0, 45.0, 90.0, 180.0, 270.0):
        assert c.contains(*destination(SUNCHON, azimuth, 9_900.0))
        assert not c.contains(*destination(SUNCHON, azimuth, 10_100.0))
    assert not c.contains(*PYONGYANG)
    assert geodesic_distance_m(*SUNCHON, *PYONGYANG) == pytest.approx(46_900, rel=0.02)


@pytest.mark.parametrize("center", [(0.0, 179.95), (0.0, -179.95), (89.9, 10.0), (-89.95, 0.0)])
def test_circles_across_the_antimeridian_and_around_the_poles(
    center: tuple[float, float],
) -> None:
    c = circle("C-2", center, 50_000.0)
    for azimuth in (0.0, 90.0, 180.0, 270.0):
        assert c.contains(*destination(center, azimuth, 49_000.0))
        assert not c.contains(*destination(center, azimuth, 51_000.0))


@given(
    lat=st.floats(-89.9, 89.9), lon=st.floats(-180.0, 180.0),
    radius=st.floats(1.0, 2_000_000.0), azimuth=st.floats(-180.0, 180.0),
    fraction=st.floats(0.0, 0.999),
)
@settings(max_examples=150, deadline=None)
def test_circle_bounding_box_never_cuts_the_circle(
    lat: float, lon: float, radius: float, azimuth: float, fraction: float,
) -> None:
    c = circle("C-3", (lat, lon), radius)
    point = destination((lat, lon), azimuth, radius * fraction)
    assert c.contains(*point)
    assert AreaWatch([c]).observe("track:1", *point, T0)[0].event == "entered"


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "message"), [
    ({"priority": 0}, "priority 0 is outside 1–5"),
    ({"priority": 6}, "priority 6 is outside 1–5"),
    ({"priority": True}, "priority True"),
    ({"polygon": ((39.0, 125.0), (39.5, 125.5))}, "at least 3 vertices, got 2"),
    ({"polygon": ((39.0, 125.0), (39.5, 125.5), (39.0, 125.0))}, "3 distinct vertices"),
    ({"polygon": ((39.0, 125.0), (95.0, 125.5), (39.5, 126.0))}, "vertex 1: latitude 95.0"),
    ({"polygon": ((39.0, 125.0), (39.5, 181.0), (39.5, 126.0))}, "vertex 1: longitude 181.0"),
    ({"polygon": ((39.0, 125.0), (float("nan"), 125.5), (39.5, 126.0))}, "latitude nan"),
    ({"center": SUNCHON, "radius_m": 5_000.0}, "not both"),
    ({"polygon": ()}, "needs a shape"),
    ({"polygon": (), "radius_m": 5_000.0}, "radius_m is given without a center"),
    ({"polygon": (), "center": SUNCHON}, "radius_m 0.0 is outside"),
    ({"polygon": (), "center": SUNCHON, "radius_m": -1.0}, "radius_m -1.0 is outside"),
    ({"polygon": (), "center": SUNCHON, "radius_m": 2_000_001.0}, "is outside"),
    ({"polygon": (), "center": (91.0, 0.0), "radius_m": 1_000.0}, "center: latitude 91.0"),
    ({"radius_m": 1_000.0}, "a polygon takes no radius_m"),
    ({"name": ""}, "name must be 1–200"),
    ({"name": "x" * 201}, "name must be 1–200"),
    ({"name": "   "}, "not blank"),
    ({"originator": "kor"}, "originator 'kor'"),
    ({"id": ""}, "area id must not be empty"),
])
def test_validation_names_the_broken_rule(changes: dict[str, Any], message: str) -> None:
    bad = replace(area(), **changes)
    with pytest.raises(LabelError, match=message):
        validate_area(bad)
    with pytest.raises(LabelError, match=message):
        bad.contains(*SUNCHON)
    with pytest.raises(LabelError, match=message):
        AreaWatch([bad])


def test_limits_are_inclusive() -> None:
    validate_area(area(priority=1))
    validate_area(area(priority=5))
    validate_area(area(name="x" * 200))
    validate_area(circle("C-4", (90.0, 180.0), 2_000_000.0))


# --- the watch -----------------------------------------------------------------------------


def test_enter_stay_exit_reenter() -> None:
    watch = AreaWatch([area("SUN")])
    assert watch.observe("track:17", *PYONGYANG, T0) == []
    [alert] = watch.observe("track:17", *SUNCHON, T0 + timedelta(seconds=1))
    assert alert == Alert("SUN", "area SUN", 2, "track:17", "entered",
                          T0 + timedelta(seconds=1), *SUNCHON)
    for i in range(2, 5):  # no repeated alerts while inside
        assert watch.observe("track:17", 39.44 + i / 1000, 125.94, T0 + timedelta(seconds=i)) == []
    assert watch.inside("track:17") == {"SUN"}
    [left] = watch.observe("track:17", *PYONGYANG, T0 + timedelta(seconds=5))
    assert (left.event, left.area_id, (left.lat, left.lon)) == ("exited", "SUN", PYONGYANG)
    assert watch.inside("track:17") == frozenset()
    assert events(watch.observe("track:17", *SUNCHON, T0 + timedelta(seconds=6))) == [
        ("entered", "SUN")]


def test_first_observation_inside_counts_as_entering() -> None:
    watch = AreaWatch([area("SUN")])
    assert events(watch.observe("item:abc", *SUNCHON, T0)) == [("entered", "SUN")]
    assert watch.observe("item:abc", *SUNCHON, T0) == []


def test_subjects_are_tracked_separately() -> None:
    watch = AreaWatch([area("SUN")])
    assert events(watch.observe("track:1", *SUNCHON, T0)) == [("entered", "SUN")]
    assert events(watch.observe("track:2", *SUNCHON, T0)) == [("entered", "SUN")]
    assert events(watch.observe("track:1", *PYONGYANG, T0)) == [("exited", "SUN")]
    assert watch.observe("track:2", *SUNCHON, T0) == []


def test_alerts_sorted_by_priority_then_area_id() -> None:
    areas = [
        circle("Z-low", SUNCHON, 5_000.0, priority=5),
        area("B-port", priority=3, kind=AreaKind.PORT),
        circle("C-rail", SUNCHON, 20_000.0, priority=1, kind=AreaKind.RAILROAD),
        circle("A-rail", SUNCHON, 8_000.0, priority=3, kind=AreaKind.RAILROAD),
        circle("far", PYONGYANG, 1_000.0, priority=1),
    ]
    watch = AreaWatch(areas)
    assert [a.id for a in watch.areas] == ["C-rail", "far", "A-rail", "B-port", "Z-low"]
    entered = watch.observe("track:9", *SUNCHON, T0)
    assert [(a.priority, a.area_id) for a in entered] == [
        (1, "C-rail"), (3, "A-rail"), (3, "B-port"), (5, "Z-low")]
    assert {a.event for a in entered} == {"entered"}
    left = watch.observe("track:9", *PYONGYANG, T0)
    assert events(left) == [("exited", "C-rail"), ("entered", "far"), ("exited", "A-rail"),
                            ("exited", "B-port"), ("exited", "Z-low")]


def test_forget_makes_the_next_observation_an_entry() -> None:
    watch = AreaWatch([area("SUN")])
    watch.observe("track:3", *SUNCHON, T0)
    watch.forget("track:3")
    watch.forget("track:never-seen")
    assert events(watch.observe("track:3", *SUNCHON, T0)) == [("entered", "SUN")]


def test_set_areas_forgets_removed_areas_and_keeps_the_others() -> None:
    sun, big = area("SUN"), circle("BIG", SUNCHON, 100_000.0, priority=1)
    watch = AreaWatch([sun, big])
    assert len(watch.observe("track:4", *SUNCHON, T0)) == 2
    watch.set_areas([big])
    assert watch.inside("track:4") == {"BIG"}
    assert watch.observe("track:4", *PYONGYANG, T0) == []  # no "exited" for a removed area
    watch.set_areas([big, sun])  # SUN comes back: state was forgotten
    assert events(watch.observe("track:4", *SUNCHON, T0)) == [("entered", "SUN")]
    watch.set_areas([])
    assert watch.inside("track:4") == frozenset()
    assert watch.observe("track:4", *SUNCHON, T0) == []


def test_set_areas_refuses_duplicates_and_changes_nothing() -> None:
    watch = AreaWatch([area("SUN")])
    with pytest.raises(LabelError, match="'X' appears twice"):
        watch.set_areas([area("X"), circle("X", SUNCHON, 1_000.0)])
    with pytest.raises(LabelError, match="priority"):
        watch.set_areas([area("Y"), area("SUN", priority=9)])
    assert [a.id for a in watch.areas] == ["SUN"]


@pytest.mark.parametrize("position", [(91.0, 0.0), (0.0, -180.5), (float("nan"), 0.0),
                                      (0.0, float("inf"))])
def test_observe_refuses_impossible_positions(position: tuple[float, float]) -> None:
    watch = AreaWatch([area("SUN")])
    watch.observe("track:5", *SUNCHON, T0)
    with pytest.raises(LabelError, match="position of 'track:5'"):
        watch.observe("track:5", *position, T0)
    assert watch.inside("track:5") == {"SUN"}  # a bad report is no exit


# --- properties ----------------------------------------------------------------------------

LAT_LO, LAT_HI = min(p[0] for p in U_POLYGON), max(p[0] for p in U_POLYGON)
LON_LO, LON_HI = min(p[1] for p in U_POLYGON), max(p[1] for p in U_POLYGON)
in_u_box = st.tuples(st.floats(LAT_LO, LAT_HI), st.floats(LON_LO, LON_HI))
U_AREA = area("U", polygon=U_POLYGON)


@given(points=st.lists(in_u_box, min_size=1, max_size=20))
@settings(max_examples=100, deadline=None)
def test_alerts_follow_contains_exactly(points: list[tuple[float, float]]) -> None:
    """Inside the bounding box, a point ``contains`` refuses never alerts; alerts are exactly
    the changes of ``contains`` from one observation to the next."""
    watch = AreaWatch([U_AREA])
    was_inside = False
    for lat, lon in points:
        alerts = watch.observe("track:1", lat, lon, T0)
        now_inside = U_AREA.contains(lat, lon)
        if not now_inside and not was_inside:
            assert alerts == []
        expected = [] if now_inside == was_inside else [("entered" if now_inside else "exited",
                                                         "U")]
        assert events(alerts) == expected
        was_inside = now_inside


@given(point=in_u_box)
@settings(max_examples=100, deadline=None)
def test_fresh_subject_outside_never_alerts(point: tuple[float, float]) -> None:
    if not U_AREA.contains(*point):
        assert AreaWatch([U_AREA]).observe("item:x", *point, T0) == []


@given(
    points=st.lists(
        st.tuples(st.floats(39.2, 39.6), st.floats(125.7, 126.1)), min_size=1, max_size=10),
    repeats=st.integers(1, 3),
)
@settings(max_examples=100, deadline=None)
def test_repeated_identical_observations_are_silent(
    points: list[tuple[float, float]], repeats: int,
) -> None:
    watch = AreaWatch([area("SUN"), circle("C", SUNCHON, 12_000.0, priority=1)])
    for lat, lon in points:
        watch.observe("track:7", lat, lon, T0)
        state = watch.inside("track:7")
        for _ in range(repeats):
            assert watch.observe("track:7", lat, lon, T0 + timedelta(seconds=1)) == []
            assert watch.inside("track:7") == state
