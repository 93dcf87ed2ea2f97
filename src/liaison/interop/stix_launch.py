"""Launch events as standard STIX 2.1 objects (see ``liaison.interop.stix``): a
``report`` per event, a ``location`` for its launch point and one per object's impact
point. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from liaison.domain.labels import Label, Party
from liaison.domain.launch import Arc, LaunchEvent, LaunchStatus, event_to
from liaison.interop.stix_common import (
    SchemeBanner,
    StixError,
    StixObject,
    base,
    declared,
    header,
    instant,
    party_identity,
    party_of,
    stamp,
    stix_id,
)
from liaison.interop.stix_export import REPORT_TYPES


def event_from(data: Mapping[str, Any]) -> LaunchEvent:
    """The ``LaunchEvent`` of its ``launch.event_to`` form; ``StixError`` if malformed."""
    try:
        return LaunchEvent(
            id=str(data["id"]), revision=int(data["revision"]),
            status=LaunchStatus(data["status"]),
            launch_time=datetime.fromisoformat(data["launch_time"]),
            launch_lat=float(data["launch_lat"]), launch_lon=float(data["launch_lon"]),
            objects=tuple(_arc(o) for o in data["objects"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise StixError(f"launch event {data.get('id')!r}: malformed ({exc})") from exc


def _arc(data: Mapping[str, Any]) -> Arc:
    return Arc(str(data["track"]), datetime.fromisoformat(data["launch_time"]),
               float(data["launch_lat"]), float(data["launch_lon"]),
               datetime.fromisoformat(data["impact_time"]), float(data["impact_lat"]),
               float(data["impact_lon"]), float(data["range_km"]), float(data["apogee_km"]),
               float(data["flight_time_s"]), data["impact"] == "observed")


def _arc_data(arc: Arc, what: str) -> dict[str, Any]:
    return {"track": arc.track, "launch_time": instant(arc.launch_time, what),
            "launch_lat": arc.launch_lat, "launch_lon": arc.launch_lon,
            "impact_time": instant(arc.impact_time, what),
            "impact_lat": arc.impact_lat, "impact_lon": arc.impact_lon,
            "range_km": arc.range_km, "apogee_km": arc.apogee_km,
            "flight_time_s": arc.flight_time_s,
            "impact": "observed" if arc.impacted else "predicted"}


def launch_objects(event: LaunchEvent, label: Label, parties: Mapping[str, Party],
                   scheme_banner: SchemeBanner | None = None) -> list[StixObject]:
    """One revision of a launch event, every object marked with ``label``: the report
    and the launch point keep their ids from revision to revision, ``modified`` being
    the launch time plus ``revision`` milliseconds (so versions order like revisions, and
    a revision always gives the same version)."""
    where = f"launch event {event.id} revision {event.revision}"
    if not event.objects:
        raise StixError(f"{where}: has no objects")
    tracks = [a.track for a in event.objects]
    if len(set(tracks)) != len(tracks):
        raise StixError(f"{where}: object tracks must be unique")
    if event.revision < 0:
        raise StixError(f"{where}: revision is a whole number from 0")
    objs = header()
    creator = objs.add(party_identity(party_of(parties, label.originator,
                                               f"{where} label originator")))
    mark = objs.marking(label, parties, scheme_banner)
    created = stamp(event.launch_time, f"{where} launch_time")
    modified = stamp(event.launch_time + timedelta(milliseconds=event.revision),
                     f"{where} launch_time")
    key = f"launch/{event.id}"

    def marked(obj: StixObject) -> str:
        return objs.add(declared({**obj, "created_by_ref": creator,
                                  "object_marking_refs": [mark]}))

    refs = [marked({
        **base("location", stix_id("location", f"{key}/launch"), created, modified),
        "name": f"Launch point, event {event.id}",
        "description": f"Launch point, event {event.id}",
        "latitude": event.launch_lat, "longitude": event.launch_lon,
    })]
    last = event.launch_time
    for arc in event.objects:
        data = _arc_data(arc, f"{where} object {arc.track}")
        last = max(last, arc.launch_time + timedelta(seconds=arc.flight_time_s))
        refs.append(marked({
            **base("location", stix_id("location", f"{key}/impact/{arc.track}"), created,
                   modified),
            "name": f"{data['impact'].capitalize()} impact, object {arc.track}",
            "description": f"{data['impact'].capitalize()} impact, object {arc.track}",
            "latitude": arc.impact_lat, "longitude": arc.impact_lon,
            "x_liaison_impact": data["impact"], "x_liaison_object": data,
        }))
    marked({
        **base("report", stix_id("report", key), created, modified),
        "name": f"Launch event {event.id}: {event.summary()}",
        "description": f"Revision {event.revision}; last impact (observed or "
                       f"predicted) {instant(last, where)}.",
        "published": instant(event.launch_time, f"{where} launch_time"),
        "report_types": list(REPORT_TYPES),
        "object_refs": refs,
        "x_liaison_launch": event_to(event),
    })
    return objs.list()
