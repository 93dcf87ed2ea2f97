"""Areas and targets of interest shared between allied nodes, and the watch that raises an
alert when a subject (a track, an item with a place) enters or leaves one. Pure: no I/O.

An area is either a polygon of (lat, lon) vertices or a geodesic circle (WGS84) around a
centre. Containment rules:

- Polygons use ray casting on (lon, lat) as plane coordinates. This is exact enough for
  areas of a few hundred kilometres, but a polygon must not cross the antimeridian (±180°)
  or enclose a pole: such a polygon is read as the plane shape of its listed coordinates
  and gives wrong answers. Split it into two areas instead.
- A point on a polygon's boundary (an edge or a vertex, within ``EDGE_TOLERANCE_DEG``)
  is inside; every other point is decided by the even-odd rule, so the answer never
  depends on the order the vertices are listed in.
- A circle contains the points whose geodesic distance from its centre is at most
  ``radius_m``. Circles work across the antimeridian and near the poles.

Every shape gets a bounding box, computed once, that is checked before the exact test (the
watch sees thousands of observations a second against a few hundred areas). The box is
conservative: it never leaves out a point the exact test would accept.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from geographiclib.geodesic import Geodesic  # type: ignore[import-untyped]

from liaison.domain.labels import PARTY_CODE, Label, LabelError

MIN_PRIORITY: Final = 1  # highest
MAX_PRIORITY: Final = 5
MAX_NAME_CHARS: Final = 200
MAX_RADIUS_M: Final = 2_000_000.0
MIN_POLYGON_VERTICES: Final = 3
EDGE_TOLERANCE_DEG: Final = 1e-9  # about 0.1 mm: points this close to an edge are on it

ENTERED: Final = "entered"
EXITED: Final = "exited"

# Conservative lower bounds for the length of one degree on the WGS84 ellipsoid (the true
# minima are 110 574 m for latitude and 111 319 m x cos(lat) for longitude), used only to
# size circles' bounding boxes; the margin keeps the box a superset of the circle.
_M_PER_DEG_LAT: Final = 110_000.0
_M_PER_DEG_LON_EQUATOR: Final = 111_000.0
_WHOLE_WORLD_LON: Final = (-180.0, 180.0)

# the need-to-know topic every area is judged under (an area is not about one topic)
AREA_TOPIC = "areas"


class AreaKind(StrEnum):
    BORDER = "border"
    PORT = "port"
    RAILROAD = "railroad"
    LAUNCH_SITE = "launch_site"
    TARGET = "target"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Area:
    """An area or target of interest with its priority (1 highest .. 5) and classification
    label. The shape is either ``polygon`` ((lat, lon) vertices, not closed: the last vertex
    joins the first) or a circle (``center`` (lat, lon) and ``radius_m``), never both;
    ``validate_area`` checks that."""

    id: str
    name: str
    kind: AreaKind
    priority: int
    label: Label
    originator: str  # party code, e.g. "KOR"
    polygon: tuple[tuple[float, float], ...] = ()
    center: tuple[float, float] | None = None
    radius_m: float = 0.0

    def contains(self, lat: float, lon: float) -> bool:
        """Whether (lat, lon) lies in the area (boundary included; see the module notes).
        Raises ``LabelError`` when the area itself is invalid."""
        return _shape_of(self).contains(lat, lon)


def validate_area(area: Area) -> None:
    """Raise ``LabelError`` naming the first rule the area breaks."""
    where = f"area {area.id!r}"
    if not area.id.strip():
        raise LabelError("area id must not be empty")
    if not 1 <= len(area.name) <= MAX_NAME_CHARS or not area.name.strip():
        raise LabelError(f"{where}: name must be 1–{MAX_NAME_CHARS} characters, not blank")
    if type(area.priority) is not int or not MIN_PRIORITY <= area.priority <= MAX_PRIORITY:
        raise LabelError(
            f"{where}: priority {area.priority!r} is outside {MIN_PRIORITY}–{MAX_PRIORITY} "
            f"({MIN_PRIORITY} is the highest)"
        )
    if not PARTY_CODE.match(area.originator):
        raise LabelError(f"{where}: originator {area.originator!r} is not an alpha-3 party code")
    has_polygon = bool(area.polygon)
    has_circle = area.center is not None
    if has_polygon and has_circle:
        raise LabelError(f"{where}: give either a polygon or a circle (center and radius_m), "
                         "not both")
    if not has_polygon and not has_circle:
        if area.radius_m:
            raise LabelError(f"{where}: radius_m is given without a center")
        raise LabelError(f"{where}: needs a shape: a polygon or a circle (center and radius_m)")
    if has_polygon:
        if area.radius_m:
            raise LabelError(f"{where}: a polygon takes no radius_m")
        if len(area.polygon) < MIN_POLYGON_VERTICES:
            raise LabelError(f"{where}: a polygon needs at least {MIN_POLYGON_VERTICES} "
                             f"vertices, got {len(area.polygon)}")
        for i, vertex in enumerate(area.polygon):
            _check_position(vertex, f"{where}: polygon vertex {i}")
        if len(set(area.polygon)) < MIN_POLYGON_VERTICES:
            raise LabelError(f"{where}: a polygon needs at least {MIN_POLYGON_VERTICES} "
                             "distinct vertices")
    else:
        assert area.center is not None
        _check_position(area.center, f"{where}: center")
        if not 0 < area.radius_m <= MAX_RADIUS_M:
            raise LabelError(f"{where}: radius_m {area.radius_m!r} is outside "
                             f"(0, {MAX_RADIUS_M:,.0f}] metres")


def _check_position(point: tuple[float, float], what: str) -> None:
    if len(point) != 2:
        raise LabelError(f"{what} must be a (lat, lon) pair")
    lat, lon = point
    if not -90.0 <= lat <= 90.0:  # also refuses NaN
        raise LabelError(f"{what}: latitude {lat!r} is outside [-90, 90]")
    if not -180.0 <= lon <= 180.0:
        raise LabelError(f"{what}: longitude {lon!r} is outside [-180, 180]")


def geodesic_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance on the WGS84 ellipsoid, in metres."""
    result = Geodesic.WGS84.Inverse(lat1, lon1, lat2, lon2, Geodesic.DISTANCE)
    return float(result["s12"])


# --- compiled shapes ---------------------------------------------------------------------

_Edge = tuple[float, float, float, float, float]  # x1, y1, x2, y2, length (x = lon, y = lat)


class _Shape:
    """An area prepared for fast containment tests: its bounding box and an exact test."""

    __slots__ = ("area", "area_id", "exact", "lat_hi", "lat_lo", "lon_hi", "lon_lo",
                 "priority")

    def __init__(self, area: Area, box: tuple[float, float, float, float],
                 exact: Callable[[float, float], bool]) -> None:
        self.area = area
        self.area_id = area.id
        self.priority = area.priority
        self.lat_lo, self.lat_hi, self.lon_lo, self.lon_hi = box
        self.exact = exact

    def contains(self, lat: float, lon: float) -> bool:
        return (self.lat_lo <= lat <= self.lat_hi and self.lon_lo <= lon <= self.lon_hi
                and self.exact(lat, lon))


def _compile(area: Area) -> _Shape:
    validate_area(area)
    if area.polygon:
        return _compile_polygon(area)
    return _compile_circle(area)


def _compile_polygon(area: Area) -> _Shape:
    pts = area.polygon
    edges: list[_Edge] = []
    for i, (lat1, lon1) in enumerate(pts):
        lat2, lon2 = pts[(i + 1) % len(pts)]
        if (lat1, lon1) != (lat2, lon2):
            edges.append((lon1, lat1, lon2, lat2, math.hypot(lon2 - lon1, lat2 - lat1)))
    frozen = tuple(edges)
    lats = [p[0] for p in pts]
    lons = [p[1] for p in pts]
    box = (min(lats), max(lats), min(lons), max(lons))
    return _Shape(area, box, lambda lat, lon: _in_polygon(lon, lat, frozen))


def _in_polygon(x: float, y: float, edges: tuple[_Edge, ...]) -> bool:
    """Even-odd ray casting towards +x; points on an edge (within the tolerance) count as
    inside. The half-open rule ``(y1 > y) != (y2 > y)`` counts a vertex on the ray once."""
    eps = EDGE_TOLERANCE_DEG
    inside = False
    for x1, y1, x2, y2, length in edges:
        if y1 <= y2:
            if y < y1 - eps or y > y2 + eps:
                continue
        elif y < y2 - eps or y > y1 + eps:
            continue
        # y is within the edge's latitude span (widened by the tolerance)
        if (min(x1, x2) - eps <= x <= max(x1, x2) + eps
                and abs((x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)) <= eps * length):
            return True  # on the boundary
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _compile_circle(area: Area) -> _Shape:
    assert area.center is not None
    clat, clon = area.center
    radius = area.radius_m
    dlat = radius / _M_PER_DEG_LAT
    lat_lo, lat_hi = clat - dlat, clat + dlat
    lon_lo, lon_hi = _WHOLE_WORLD_LON
    if lat_lo > -90.0 and lat_hi < 90.0:  # the circle holds no pole
        # a degree of longitude is shortest at the box's most poleward latitude
        cos_poleward = math.cos(math.radians(max(abs(lat_lo), abs(lat_hi))))
        dlon = radius / (_M_PER_DEG_LON_EQUATOR * cos_poleward)
        if clon - dlon >= -180.0 and clon + dlon <= 180.0:  # does not cross the antimeridian
            lon_lo, lon_hi = clon - dlon, clon + dlon
    box = (max(lat_lo, -90.0), min(lat_hi, 90.0), lon_lo, lon_hi)

    def exact(lat: float, lon: float) -> bool:
        return geodesic_distance_m(clat, clon, lat, lon) <= radius

    return _Shape(area, box, exact)


# Area is slotted and frozen, so it cannot cache its own shape: ``Area.contains`` keeps the
# compiled shapes here, keyed by object identity. Each entry holds its area, so an id is
# never reused while its entry lives; the cache is emptied when it grows past the bound.
_SHAPE_CACHE: dict[int, _Shape] = {}
_SHAPE_CACHE_MAX: Final = 4096


def _shape_of(area: Area) -> _Shape:
    shape = _SHAPE_CACHE.get(id(area))
    if shape is not None and shape.area is area:
        return shape
    shape = _compile(area)
    if len(_SHAPE_CACHE) >= _SHAPE_CACHE_MAX:
        _SHAPE_CACHE.clear()
    _SHAPE_CACHE[id(area)] = shape
    return shape


# --- the watch ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    """A subject entered (or left) an area. ``lat``/``lon`` is the observed position that
    caused the transition; ``priority`` is the area's."""

    area_id: str
    area_name: str
    priority: int
    subject: str  # e.g. "track:17" or "item:abc"
    event: str  # ENTERED or EXITED
    at: datetime
    lat: float
    lon: float


class AreaWatch:
    """Remembers which subjects are inside which areas; reports transitions.

    Not thread-safe: one watch per consumer, or a lock around it.
    """

    __slots__ = ("_inside", "_shapes")

    def __init__(self, areas: Iterable[Area] = ()) -> None:
        self._shapes: tuple[_Shape, ...] = ()
        self._inside: dict[str, set[str]] = {}  # subject -> ids of the areas it is in
        self.set_areas(areas)

    @property
    def areas(self) -> tuple[Area, ...]:
        """The watched areas, highest priority first, then by id."""
        return tuple(s.area for s in self._shapes)

    def set_areas(self, areas: Iterable[Area]) -> None:
        """Replace the watched areas. Raises ``LabelError`` (and changes nothing) when an
        area is invalid or two share an id. Subjects' state for removed areas is forgotten
        without alerts; an area kept under the same id keeps its state even if its shape
        changed, so the next observation reports only real transitions against the new
        shape."""
        shapes: dict[str, _Shape] = {}
        for area in areas:
            if area.id in shapes:
                raise LabelError(f"area id {area.id!r} appears twice")
            shapes[area.id] = _compile(area)
        ordered = tuple(sorted(shapes.values(), key=lambda s: (s.priority, s.area_id)))
        kept = shapes.keys()
        for subject in list(self._inside):
            ids = self._inside[subject]
            ids.intersection_update(kept)
            if not ids:
                del self._inside[subject]
        self._shapes = ordered

    def observe(self, subject: str, lat: float, lon: float, at: datetime) -> list[Alert]:
        """Record that ``subject`` is at (lat, lon) and return the transitions: ``entered``
        for each area it is now inside and was not before (a first observation inside counts
        as entering), ``exited`` for each it has left; sorted by priority, then area id.
        Raises ``LabelError`` for a position outside the valid ranges (or NaN)."""
        _check_position((lat, lon), f"position of {subject!r}")
        before = self._inside.get(subject)
        now: set[str] | None = None
        alerts: list[Alert] = []
        for shape in self._shapes:  # already in alert order
            if (shape.lat_lo <= lat <= shape.lat_hi and shape.lon_lo <= lon <= shape.lon_hi
                    and shape.exact(lat, lon)):
                if now is None:
                    now = set()
                now.add(shape.area_id)
                if before is None or shape.area_id not in before:
                    alerts.append(_alert(shape, subject, ENTERED, at, lat, lon))
            elif before is not None and shape.area_id in before:
                alerts.append(_alert(shape, subject, EXITED, at, lat, lon))
        if now:
            self._inside[subject] = now
        elif before is not None:
            del self._inside[subject]
        return alerts

    def inside(self, subject: str) -> frozenset[str]:
        """Ids of the areas ``subject`` was inside at its last observation."""
        return frozenset(self._inside.get(subject, ()))

    def forget(self, subject: str) -> None:
        """Drop what is known about ``subject`` (no alerts); its next observation inside an
        area counts as entering it."""
        self._inside.pop(subject, None)


def _alert(shape: _Shape, subject: str, event: str, at: datetime, lat: float,
           lon: float) -> Alert:
    return Alert(shape.area_id, shape.area.name, shape.priority, subject, event, at, lat, lon)
