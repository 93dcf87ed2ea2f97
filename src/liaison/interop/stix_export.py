"""Items and areas as STIX 2.1 objects (see ``liaison.interop.stix`` for the mapping).
Pure: no I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

from liaison.domain.areas import Area, geodesic_distance_m, validate_area
from liaison.domain.items import Item, validate_item
from liaison.domain.labels import Label, LabelError, Party
from liaison.interop.stix_common import (
    SchemeBanner,
    StixError,
    StixObject,
    attachment_data,
    base,
    declared,
    header,
    instant,
    party_identity,
    party_of,
    stamp,
    stix_id,
)

REPORT_TYPES = ["threat-report"]  # report-type-ov; the discipline is x_liaison_discipline


def _top_labels(labels: Sequence[Label], parties: Mapping[str, Party]) -> list[Label]:
    """The distinct labels at the highest level, in order of first appearance."""
    def rank(lb: Label) -> int:
        return parties[lb.policy].scheme.level(lb.classification).rank

    top = max(rank(lb) for lb in labels)
    out: list[Label] = []
    for lb in labels:
        if rank(lb) == top and lb not in out:
            out.append(lb)
    return out


def _versions(created_at: datetime, modified: datetime | None, where: str,
              ) -> tuple[str, str]:
    created = stamp(created_at, f"{where} created")
    changed = stamp(modified, f"{where} modified") if modified is not None else created
    if changed < created:
        raise StixError(f"{where}: modified {changed} is before created {created}")
    return created, changed


def item_objects(item: Item, parties: Mapping[str, Party],
                 scheme_banner: SchemeBanner | None = None, *,
                 modified: datetime | None = None) -> list[StixObject]:
    """Every STIX object the item needs: project identity, extension-definitions,
    identities, marking-definitions, location, notes and the report; no duplicates.
    ``created`` is the report time; ``modified`` of the report, notes and location is the
    caller's ``modified`` (default: the same), so the item as released again later — with
    another tearline, say — is a new version of each of them."""
    where = f"item {item.id}"
    if not item.portions:
        raise StixError(f"{where}: an item has at least one portion")
    policy = party_of(parties, item.portions[0].label.policy, f"{where} label policy")
    try:
        validate_item(item, policy.scheme)
    except LabelError as exc:
        raise StixError(str(exc)) from exc
    originator = party_identity(party_of(parties, item.originator, f"{where} originator"))
    created, changed = _versions(item.reported_at, modified, where)
    key = f"item/{item.originator}/{item.id}"
    report_id = stix_id("report", key)

    objs = header()
    creator = objs.add(originator)
    portion_marks = [objs.marking(p.label, parties, scheme_banner) for p in item.portions]
    top_marks = [objs.marking(lb, parties, scheme_banner)
                 for lb in _top_labels([p.label for p in item.portions], parties)]
    refs: list[str] = []
    for portion, mark in zip(item.portions, portion_marks, strict=True):
        note: StixObject = {
            **base("note", stix_id("note", f"{key}/portion/{portion.id}"), created, changed),
            "created_by_ref": creator,
            "abstract": objs.get(mark)["name"],
            "content": portion.content,
            "object_refs": [report_id],
            "object_marking_refs": [mark],
            "x_liaison_portion_id": portion.id,
            "x_liaison_portion_kind": portion.kind.value,
        }
        if portion.attachment is not None:
            note["x_liaison_attachment"] = attachment_data(portion.attachment)
        refs.append(objs.add(declared(note)))
    if item.place is not None:
        place: StixObject = {
            **base("location", stix_id("location", f"{key}/place"), created, changed),
            "created_by_ref": creator,
            "latitude": item.place.lat,
            "longitude": item.place.lon,
            "object_marking_refs": top_marks,
        }
        if item.place.name:
            place["name"] = place["description"] = item.place.name
        refs.append(objs.add(place))
    report: StixObject = {
        **base("report", report_id, created, changed),
        "created_by_ref": creator,
        "name": item.title,
        "published": instant(item.reported_at, f"{where} reported_at"),
        "report_types": list(REPORT_TYPES),
        "object_refs": refs,
        "object_marking_refs": top_marks,
        "x_liaison_item_id": item.id,
        "x_liaison_discipline": item.discipline.value,
        "x_liaison_topic": item.topic,
        "x_liaison_grade": str(item.grade),
    }
    if item.observed_at is not None:
        report["x_liaison_observed_at"] = instant(item.observed_at, f"{where} observed_at")
    objs.add(declared(report))
    return objs.list()


def _area_point(area: Area) -> tuple[float, float, float]:
    """(lat, lon, precision in metres) of a point-and-radius that covers the area."""
    if area.center is not None:
        return area.center[0], area.center[1], float(area.radius_m)
    lat = sum(v[0] for v in area.polygon) / len(area.polygon)
    lon = sum(v[1] for v in area.polygon) / len(area.polygon)
    far = max(geodesic_distance_m(lat, lon, v[0], v[1]) for v in area.polygon)
    return lat, lon, float(math.ceil(far))


def area_objects(area: Area, parties: Mapping[str, Party], *,
                 modified: datetime | None = None,
                 scheme_banner: SchemeBanner | None = None) -> list[StixObject]:
    """The area as a marked ``location`` in a ``grouping`` of its own (so a tool that
    copies unreferenced objects into every report leaves it out of them), with its
    identity and marking-definition."""
    try:
        validate_area(area)
    except LabelError as exc:
        raise StixError(str(exc)) from exc
    where = f"area {area.id!r}"
    objs = header()
    creator = objs.add(party_identity(party_of(parties, area.originator,
                                               f"{where} originator")))
    mark = objs.marking(area.label, parties, scheme_banner)
    lat, lon, precision = _area_point(area)
    shape: dict[str, object] = {"id": area.id, "name": area.name, "kind": area.kind.value,
                                "priority": area.priority, "originator": area.originator}
    if area.center is not None:
        shape["center"] = [area.center[0], area.center[1]]
        shape["radius_m"] = area.radius_m
    else:
        shape["polygon"] = [[v[0], v[1]] for v in area.polygon]
    created, changed = _versions(area.label.created, modified, where)
    location = objs.add(declared({
        **base("location", stix_id("location", f"area/{area.id}"), created, changed),
        "created_by_ref": creator,
        "name": area.name,
        "description": area.name,
        "latitude": lat,
        "longitude": lon,
        "precision": precision,
        "object_marking_refs": [mark],
        "x_liaison_area": shape,
    }))
    objs.add({
        **base("grouping", stix_id("grouping", f"area/{area.id}"), created, changed),
        "created_by_ref": creator,
        "name": f"Area: {area.name}",
        "context": "unspecified",
        "object_refs": [location],
        "object_marking_refs": [mark],
    })
    return objs.list()
