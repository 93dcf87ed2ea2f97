"""STIX 2.1 forms of items, launch events and areas, and items back from STIX bundles.
Pure: no I/O; plain dicts in and out (no ``stix2`` dependency).

Mapping
=======

Identifiers and times
    Every object id is ``<type>--uuid5(NAMESPACE, "<type>/<key>")`` with the fixed project
    namespace ``NAMESPACE``, so the same object always gets the same id (TAXII versioning
    and de-duplication). Keys: ``party/KOR``; ``label/<canonical JSON of the label>``;
    ``item/<originator>/<item id>`` (``…/portion/<portion id>``, ``…/place``);
    ``area/<area id>``; ``launch/<event id>/<revision>`` (``…/launch``,
    ``…/object/<track>``, ``…/impact/<track>``, ``…/launched-from/<track>``,
    ``…/impacts-at/<track>``). ``spec_version`` is "2.1"; ``created``/``modified`` are UTC
    RFC 3339 with millisecond precision and "Z". Data times (``published``,
    ``first_observed``, ``x_liaison_observed_at``…) keep microseconds when they have them,
    so an item round-trips exactly. A naive date-time is refused (``StixError``).

Labels → ``marking-definition``
    One per distinct ``Label``. The label itself travels in the property extension
    ``LABEL_EXTENSION_ID``: ``extensions[LABEL_EXTENSION_ID] = {"extension_type":
    "property-extension", "label": label_to(label), "banner": "<marking>"}`` (date-times
    normalised to UTC, null and empty values left out: STIX has no nulls); ``name`` is the
    same human marking, e.g. ``SECRET//REL TO USA, KOR``. No ``definition_type``: STIX 2.1 allows a
    marking-definition defined by an extension alone (``stix2`` accepts it). The id depends
    on the label only, never on the banner text, and the importer reads only the label.
    ``created_by_ref`` is the identity of the party whose scheme the label is in
    (``label.policy``). ``extension_definition()`` is the extension-definition object; it
    and the ``project_identity()`` that created it are part of every export.

Parties → ``identity``
    ``identity_class`` "organization", ``name`` the party's name, ``x_liaison_party`` the
    alpha-3 code.

Item → ``report`` + one ``note`` per portion + a ``location`` for the place
    * report: ``name`` = title, ``published`` = reported_at, ``report_types`` =
      ["threat-report", "liaison-<discipline>"] (the second is a custom open-vocabulary
      value; ``x_liaison_discipline`` is authoritative), ``x_liaison_item_id``,
      ``x_liaison_topic``, ``x_liaison_grade`` (Admiralty code), ``x_liaison_observed_at``
      (when known), ``created_by_ref`` = originator identity, ``object_refs`` = the notes
      in portion order, then the location. ``object_marking_refs`` = the marking of the
      highest portion label; when several distinct labels share the highest level (say
      ``S//REL TO USA`` and ``S//NOFORN``), all of them, because STIX applies every listed
      marking and the title must not look more releasable than any top portion.
    * note: ``content`` = portion content, ``object_marking_refs`` = that portion's
      marking (exactly one), ``x_liaison_portion_id``, ``x_liaison_portion_kind``, and
      for a portion with a file ``x_liaison_attachment``: ``codec.attachment_to`` without
      the node-local ``address`` (sha256, size, media_type, image metadata, derived_from;
      the bytes travel separately, partners compare the hash).
      ``note.object_refs`` (required, non-empty) = [the originator identity]: it exists
      for every item (an item need not have a place), it is unmarked, so a reader cleared
      for a low portion can resolve every reference of that note (pointing at the location
      would point a low note at an object marked with the item's highest label), and it
      makes no report ↔ note cycle that naive ``object_refs`` walkers loop on. The report
      is the container; the importer reads portions only from ``report.object_refs``.
    * location: ``latitude``/``longitude``/``name`` of the place, marked like the report.

Area → ``location``
    A STIX location is a point with a ``precision`` radius in metres: a circle gives its
    centre and radius; a polygon the mean of its vertices and the largest geodesic
    distance from there to a vertex, rounded up (the circle covers the polygon's
    vertices). The exact shape is in ``x_liaison_area`` (id, name, kind, priority,
    originator, and ``polygon`` [[lat, lon], …] or ``center`` [lat, lon] + ``radius_m``).
    Marked with the area's label; ``created`` is the label's creation time, ``modified``
    the caller's ``modified`` (default: the same), so a redrawn area is a new version.

Launch event → ``observed-data``
    STIX 2.1 ``observed-data.object_refs`` may hold only SCOs and SROs (``stix2`` refuses a
    location there), so each fitted object (``Arc``) is a ``liaison-missile`` SCO (a new
    SCO type declared by ``missile_extension_definition()``; properties track, launch and
    impact time/lat/lon, range_km, apogee_km, flight_time_s, impact "observed" or
    "predicted") and two relationships tie it to ``location`` objects:
    ``liaison-missile --launched-from--> location`` (the event's launch point, one per
    event) and ``liaison-missile --impacts-at--> location`` (one per object's impact
    point, ``x_liaison_impact`` observed/predicted). ``object_refs`` = the SCOs and those
    relationships; ``first_observed`` = launch time; ``last_observed`` = the latest
    launch time + flight time of any object; ``number_observed`` = number of objects;
    ``x_liaison_launch`` = ``launch.event_to(event)`` (range, apogee, status, revision…).
    Every revision is its own set of objects (ids keyed by revision): revisions are
    appended, never overwritten, and an event carries no revision time to version with.
    Everything is marked with the caller's label (a launch event carries its feed's
    label) and created by the label originator's identity.

Import (``item_from_bundle``)
    Rebuilds the ``codec.item_from`` dict of every report from its notes, location and
    their label markings (plus ``stix_id`` and ``version``: the report's id and
    ``modified``, for TAXII status), validates it with ``codec.item_from`` (labels must be in the
    owner's scheme) and refuses, with ``StixError`` naming the object and what is wrong:
    non-object input; a wrong ``type`` or a ``spec_version`` other than 2.1 (a 2.0 bundle
    carries one: refused); more than ``MAX_OBJECTS`` objects; malformed or duplicate ids;
    any reference (``*_ref``, ``*_refs``, granular ``marking_ref``) to an object not in the
    bundle; a report, note or location with no marking, with granular markings, or with a
    marking that is not a Liaison label (TLP included: TLP is not a classification
    label); a note with more than one label; a report or location marked with a label that
    none of its notes carries (the title or place would lose that marking on import);
    report object_refs other than notes, one location and identities; missing
    ``x_liaison_*`` item fields or originator identity. An attachment's ``address`` is
    never read from a bundle: it would name a blob in the importing node's own store.
"""

from __future__ import annotations

import copy
import json
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from liaison.domain.areas import Area, geodesic_distance_m, validate_area
from liaison.domain.codec import attachment_to, item_from, label_from, label_to
from liaison.domain.decoding import CodecError
from liaison.domain.items import REPORT_TIMES, Attachment, Item, validate_item
from liaison.domain.labels import Label, LabelError, Party, validate_label
from liaison.domain.labels import _marking as _capco_marking
from liaison.domain.launch import LaunchEvent, event_to

StixObject = dict[str, Any]
SchemeBanner = Callable[[Label], str]

SPEC_VERSION: Final = "2.1"
NAMESPACE: Final = uuid.UUID("7affe4f4-8837-4c95-b090-314a209f50be")
LABEL_EXTENSION_ID: Final = "extension-definition--b4f2be16-be9f-4f71-bcfe-c82059a2c82c"
MISSILE_EXTENSION_ID: Final = "extension-definition--ecb8d7df-72f5-4dcc-8d4c-4a3f6d39175b"
PROJECT_IDENTITY_ID: Final = "identity--4ce7a773-c4ac-465a-839c-d4ab69c27b69"
MISSILE_TYPE: Final = "liaison-missile"
MAX_OBJECTS: Final = 10_000
# Creation time of the fixed objects (project identity, extension definitions, parties).
EPOCH: Final = "2024-01-01T00:00:00.000Z"

# The TLP 1.0 marking-definitions of STIX 2.1 (section 7.2.1.4), often referenced without
# being included in a bundle.
TLP_MARKINGS: Final = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "TLP:WHITE",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "TLP:GREEN",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "TLP:AMBER",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "TLP:RED",
}
TLP_REFUSAL: Final = ("TLP is not a classification label; mark each note with a Liaison "
                      "label marking")

_ID = re.compile(r"^([a-z0-9][a-z0-9-]*[a-z0-9])--([0-9a-fA-F-]{36})$")
# Objects the importer reads: they must say spec_version 2.1.
_READ_TYPES: Final = frozenset({"report", "note", "location", "marking-definition",
                                "identity"})


class StixError(ValueError):
    """A STIX object Liaison cannot produce or accept; the message names the object and
    what is missing or wrong."""


# --- common pieces -----------------------------------------------------------------------


def stix_id(object_type: str, key: str) -> str:
    """The deterministic id of the ``object_type`` object known by ``key``."""
    return f"{object_type}--{uuid.uuid5(NAMESPACE, f'{object_type}/{key}')}"


def _utc(dt: datetime, what: str) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise StixError(f"{what}: date-time {dt.isoformat()} has no time zone")
    return dt.astimezone(UTC)


def _stamp(dt: datetime, what: str) -> str:
    """``created``/``modified`` form: UTC, millisecond precision, "Z"."""
    return _utc(dt, what).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _instant(dt: datetime, what: str) -> str:
    """A data time: milliseconds, or microseconds when it has them (exact round trip)."""
    utc = _utc(dt, what)
    spec = "milliseconds" if utc.microsecond % 1000 == 0 else "microseconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _party(parties: Mapping[str, Party], code: str, what: str) -> Party:
    party = parties.get(code)
    if party is None:
        raise StixError(f"{what}: unknown party {code!r} (known: {', '.join(sorted(parties))})")
    return party


def _base(object_type: str, object_id: str, created: str, modified: str | None = None,
          ) -> StixObject:
    return {"type": object_type, "spec_version": SPEC_VERSION, "id": object_id,
            "created": created, "modified": modified or created}


def project_identity() -> StixObject:
    """The identity that defines Liaison's STIX extensions."""
    return {**_base("identity", PROJECT_IDENTITY_ID, EPOCH), "name": "Liaison",
            "identity_class": "system",
            "description": "Liaison: classified information sharing under bilateral "
                           "security agreements; author of the Liaison STIX extensions."}


def extension_definition() -> StixObject:
    """The extension-definition of the label carried by Liaison marking-definitions."""
    return {
        **_base("extension-definition", LABEL_EXTENSION_ID, EPOCH),
        "created_by_ref": PROJECT_IDENTITY_ID,
        "name": "Liaison classification label",
        "description": "A STANAG 4774-style confidentiality label on a marking-definition: "
                       "'label' is the label (policy, classification, originator, created, "
                       "rel_to, eyes_only, caveats, compartments, informative, review); "
                       "'banner' is its human marking.",
        "schema": "urn:liaison:stix:extension:label:1.0.0",
        "version": "1.0.0",
        "extension_types": ["property-extension"],
    }


def missile_extension_definition() -> StixObject:
    """The extension-definition of the ``liaison-missile`` SCO (one fitted ballistic
    object of a launch event)."""
    return {
        **_base("extension-definition", MISSILE_EXTENSION_ID, EPOCH),
        "created_by_ref": PROJECT_IDENTITY_ID,
        "name": "Liaison missile observable",
        "description": "SCO 'liaison-missile': one object of a launch event (track, launch "
                       "and impact time and point, range_km, apogee_km, flight_time_s, "
                       "impact observed or predicted).",
        "schema": "urn:liaison:stix:extension:missile:1.0.0",
        "version": "1.0.0",
        "extension_types": ["new-sco"],
    }


def party_identity(party: Party) -> StixObject:
    return {**_base("identity", stix_id("identity", f"party/{party.code}"), EPOCH),
            "name": party.name, "identity_class": "organization",
            "x_liaison_party": party.code}


def _label_data(label: Label) -> dict[str, Any]:
    """``label_to(label)`` with UTC date-times and no null or empty values."""
    data = label_to(label)
    data["created"] = _utc(label.created, "label created").isoformat()
    if label.review is not None:
        data["review"] = _utc(label.review, "label review").isoformat()
    return {k: v for k, v in data.items() if v is not None and v != {}}


def _attachment_data(attachment: Attachment) -> dict[str, Any]:
    """``codec.attachment_to`` without the node-local ``address`` and null values."""
    data = attachment_to(attachment)
    return {k: v for k, v in data.items() if k != "address" and v is not None}


def default_banner(label: Label, parties: Mapping[str, Party]) -> str:
    """The label's full CAPCO-style marking in its own scheme, e.g.
    ``SECRET//REL TO USA, KOR``."""
    return _capco_marking(label, _party(parties, label.policy, "label").scheme, short=False)


def marking_definition(label: Label, parties: Mapping[str, Party],
                       scheme_banner: SchemeBanner | None = None) -> StixObject:
    """The marking-definition that carries ``label`` (see the module notes)."""
    party = _party(parties, label.policy, "label policy")
    try:
        validate_label(label, party.scheme)
    except LabelError as exc:
        raise StixError(f"label {label.classification!r}: {exc}") from exc
    data = _label_data(label)
    name = scheme_banner(label) if scheme_banner else default_banner(label, parties)
    key = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return {
        "type": "marking-definition",
        "spec_version": SPEC_VERSION,
        "id": stix_id("marking-definition", f"label/{key}"),
        "created": _stamp(label.created, "label created"),
        "created_by_ref": party_identity(party)["id"],
        "name": name,
        "extensions": {LABEL_EXTENSION_ID: {
            "extension_type": "property-extension", "label": data, "banner": name}},
    }


class _Objects:
    """Objects in first-added order, without duplicates."""

    def __init__(self) -> None:
        self._by_id: dict[str, StixObject] = {}

    def add(self, obj: StixObject) -> str:
        self._by_id.setdefault(obj["id"], obj)
        return str(obj["id"])

    def marking(self, label: Label, parties: Mapping[str, Party],
                scheme_banner: SchemeBanner | None) -> str:
        md = marking_definition(label, parties, scheme_banner)
        self.add(party_identity(parties[label.policy]))
        return self.add(md)

    def list(self) -> list[StixObject]:
        return list(self._by_id.values())


def _header(*extensions: StixObject) -> _Objects:
    objs = _Objects()
    objs.add(project_identity())
    for ext in extensions:
        objs.add(ext)
    return objs


# --- items -------------------------------------------------------------------------------


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


def item_objects(item: Item, parties: Mapping[str, Party],
                 scheme_banner: SchemeBanner | None = None, *,
                 modified: datetime | None = None) -> list[StixObject]:
    """Every STIX object the item needs: project identity, extension-definition,
    identities, marking-definitions, location, notes and the report; no duplicates.
    ``created`` is the report time; ``modified`` of the report, notes and location is the
    caller's ``modified`` (default: the same), so the item as released again later — with
    another tearline, say — is a new version of each of them."""
    where = f"item {item.id}"
    if not item.portions:
        raise StixError(f"{where}: an item has at least one portion")
    policy = _party(parties, item.portions[0].label.policy, f"{where} label policy")
    try:
        validate_item(item, policy.scheme)
    except LabelError as exc:
        raise StixError(str(exc)) from exc
    originator = party_identity(_party(parties, item.originator, f"{where} originator"))
    created = _stamp(item.reported_at, f"{where} reported_at")
    changed = _stamp(modified, f"{where} modified") if modified is not None else created
    if changed < created:
        raise StixError(f"{where}: modified {changed} is before created {created}")
    key = f"item/{item.originator}/{item.id}"

    objs = _header(extension_definition())
    creator = objs.add(originator)
    portion_marks = [objs.marking(p.label, parties, scheme_banner) for p in item.portions]
    top_marks = [objs.marking(lb, parties, scheme_banner)
                 for lb in _top_labels([p.label for p in item.portions], parties)]
    refs: list[str] = []
    for portion, mark in zip(item.portions, portion_marks, strict=True):
        note: StixObject = {
            **_base("note", stix_id("note", f"{key}/portion/{portion.id}"), created, changed),
            "created_by_ref": creator,
            "content": portion.content,
            "object_refs": [creator],
            "object_marking_refs": [mark],
            "x_liaison_portion_id": portion.id,
            "x_liaison_portion_kind": portion.kind.value,
        }
        if portion.attachment is not None:
            note["x_liaison_attachment"] = _attachment_data(portion.attachment)
        refs.append(objs.add(note))
    if item.place is not None:
        place: StixObject = {
            **_base("location", stix_id("location", f"{key}/place"), created, changed),
            "created_by_ref": creator,
            "latitude": item.place.lat,
            "longitude": item.place.lon,
            "object_marking_refs": top_marks,
        }
        if item.place.name:
            place["name"] = item.place.name
        refs.append(objs.add(place))
    report: StixObject = {
        **_base("report", stix_id("report", key), created, changed),
        "created_by_ref": creator,
        "name": item.title,
        "published": _instant(item.reported_at, f"{where} reported_at"),
        "report_types": ["threat-report", f"liaison-{item.discipline.value.lower()}"],
        "object_refs": refs,
        "object_marking_refs": top_marks,
        "x_liaison_item_id": item.id,
        "x_liaison_discipline": item.discipline.value,
        "x_liaison_topic": item.topic,
        "x_liaison_grade": str(item.grade),
    }
    if item.observed_at is not None:
        report["x_liaison_observed_at"] = _instant(item.observed_at, f"{where} observed_at")
    objs.add(report)
    return objs.list()


# --- areas -------------------------------------------------------------------------------


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
    """The area as a marked ``location`` (with its identity and marking-definition)."""
    try:
        validate_area(area)
    except LabelError as exc:
        raise StixError(str(exc)) from exc
    where = f"area {area.id!r}"
    objs = _header(extension_definition())
    creator = objs.add(party_identity(_party(parties, area.originator, f"{where} originator")))
    mark = objs.marking(area.label, parties, scheme_banner)
    lat, lon, precision = _area_point(area)
    shape: dict[str, Any] = {"id": area.id, "name": area.name, "kind": area.kind.value,
                             "priority": area.priority, "originator": area.originator}
    if area.center is not None:
        shape["center"] = [area.center[0], area.center[1]]
        shape["radius_m"] = area.radius_m
    else:
        shape["polygon"] = [[v[0], v[1]] for v in area.polygon]
    created = _stamp(area.label.created, f"{where} label created")
    changed = _stamp(modified, f"{where} modified") if modified is not None else created
    if changed < created:
        raise StixError(f"{where}: modified {changed} is before created {created}")
    objs.add({
        **_base("location", stix_id("location", f"area/{area.id}"), created, changed),
        "created_by_ref": creator,
        "name": area.name,
        "latitude": lat,
        "longitude": lon,
        "precision": precision,
        "object_marking_refs": [mark],
        "x_liaison_area": shape,
    })
    return objs.list()


# --- launch events -----------------------------------------------------------------------


def launch_objects(event: LaunchEvent, label: Label, parties: Mapping[str, Party],
                   scheme_banner: SchemeBanner | None = None) -> list[StixObject]:
    """One revision of a launch event as ``observed-data`` (see the module notes), every
    object marked with ``label``."""
    where = f"launch event {event.id} revision {event.revision}"
    if not event.objects:
        raise StixError(f"{where}: has no objects")
    tracks = [a.track for a in event.objects]
    if len(set(tracks)) != len(tracks):
        raise StixError(f"{where}: object tracks must be unique")
    objs = _header(extension_definition(), missile_extension_definition())
    creator = objs.add(party_identity(_party(parties, label.originator,
                                             f"{where} label originator")))
    mark = objs.marking(label, parties, scheme_banner)
    created = _stamp(event.launch_time, f"{where} launch_time")
    key = f"launch/{event.id}/{event.revision}"

    def marked(obj: StixObject) -> StixObject:
        return {**obj, "created_by_ref": creator, "object_marking_refs": [mark]}

    launch_point = objs.add(marked({
        **_base("location", stix_id("location", f"{key}/launch"), created),
        "name": f"Launch point, event {event.id}",
        "latitude": event.launch_lat, "longitude": event.launch_lon,
    }))
    refs: list[str] = []
    relationships: list[str] = []
    last = event.launch_time
    for arc in event.objects:
        impact = "observed" if arc.impacted else "predicted"
        what = f"{where} object {arc.track}"
        last = max(last, arc.launch_time + timedelta(seconds=arc.flight_time_s))
        missile = objs.add({
            "type": MISSILE_TYPE, "spec_version": SPEC_VERSION,
            "id": stix_id(MISSILE_TYPE, f"{key}/object/{arc.track}"),
            "track": arc.track,
            "launch_time": _instant(arc.launch_time, what),
            "launch_lat": arc.launch_lat, "launch_lon": arc.launch_lon,
            "impact_time": _instant(arc.impact_time, what),
            "impact_lat": arc.impact_lat, "impact_lon": arc.impact_lon,
            "range_km": arc.range_km, "apogee_km": arc.apogee_km,
            "flight_time_s": arc.flight_time_s, "impact": impact,
            "object_marking_refs": [mark],
            "extensions": {MISSILE_EXTENSION_ID: {"extension_type": "new-sco"}},
        })
        impact_point = objs.add(marked({
            **_base("location", stix_id("location", f"{key}/impact/{arc.track}"), created),
            "name": f"{impact.capitalize()} impact, object {arc.track}",
            "latitude": arc.impact_lat, "longitude": arc.impact_lon,
            "x_liaison_impact": impact,
        }))
        refs.append(missile)
        for kind, target in (("launched-from", launch_point), ("impacts-at", impact_point)):
            relationships.append(objs.add(marked({
                **_base("relationship", stix_id("relationship", f"{key}/{kind}/{arc.track}"),
                        created),
                "relationship_type": kind, "source_ref": missile, "target_ref": target,
            })))
    objs.add(marked({
        **_base("observed-data", stix_id("observed-data", key), created),
        "first_observed": _instant(event.launch_time, f"{where} launch_time"),
        "last_observed": _instant(last, f"{where} last impact"),
        "number_observed": len(event.objects),
        "object_refs": refs + relationships,
        "x_liaison_launch": event_to(event),
    }))
    return objs.list()


# --- bundles -----------------------------------------------------------------------------


def bundle(objects: Iterable[Mapping[str, Any]]) -> StixObject:
    """A STIX 2.1 bundle (random id) of ``objects``; an object repeated with the same id
    and content (an identity shared by two items) is kept once."""
    seen: dict[str, list[Mapping[str, Any]]] = {}
    out: list[StixObject] = []
    for obj in objects:
        same = seen.setdefault(str(obj.get("id")), [])
        if any(obj == other for other in same):
            continue
        same.append(obj)
        out.append(dict(obj))
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": out}


# --- import ------------------------------------------------------------------------------


def _kind(obj: Mapping[str, Any]) -> str:
    return f"{obj['type']} {obj['id']}"


def _check_object(obj: Any, where: str) -> StixObject:
    if not isinstance(obj, dict):
        raise StixError(f"{where}: a STIX object is a JSON object, got {type(obj).__name__}")
    object_type, object_id = obj.get("type"), obj.get("id")
    if not isinstance(object_type, str) or not object_type:
        raise StixError(f"{where}: has no 'type'")
    if not isinstance(object_id, str):
        raise StixError(f"{where} ({object_type}): has no 'id'")
    match = _ID.match(object_id)
    if match is None or match.group(1) != object_type or not _is_uuid(match.group(2)):
        raise StixError(f"{where}: id {object_id!r} is not '{object_type}--<uuid>'")
    version = obj.get("spec_version")
    if version is None and object_type in _READ_TYPES:
        raise StixError(f"{object_id}: has no spec_version (expected {SPEC_VERSION!r})")
    if version is not None and version != SPEC_VERSION:
        raise StixError(f"{object_id}: spec_version {version!r} is not {SPEC_VERSION!r}; "
                        "Liaison reads STIX 2.1 only")
    return obj


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _index(data: Any) -> dict[str, StixObject]:
    """The bundle's objects by id, checked for shape; repeated ids keep the latest
    ``modified`` version."""
    if not isinstance(data, Mapping):
        raise StixError(f"a STIX bundle is a JSON object, got {type(data).__name__}")
    if data.get("type") != "bundle":
        raise StixError(f"expected a STIX bundle (type 'bundle'), got type {data.get('type')!r}")
    bundle_id = data.get("id")
    if not isinstance(bundle_id, str) or not bundle_id.startswith("bundle--") \
            or not _is_uuid(bundle_id.removeprefix("bundle--")):
        raise StixError(f"bundle id {bundle_id!r} is not 'bundle--<uuid>'")
    if "spec_version" in data:
        raise StixError(f"{bundle_id}: a bundle with spec_version {data['spec_version']!r} is "
                        "STIX 2.0; Liaison reads STIX 2.1 bundles (no spec_version)")
    objects = data.get("objects", [])
    if not isinstance(objects, list):
        raise StixError(f"{bundle_id}: 'objects' must be a list")
    if len(objects) > MAX_OBJECTS:
        raise StixError(f"{bundle_id}: holds {len(objects):,} objects; at most "
                        f"{MAX_OBJECTS:,} are read from one bundle, split it")
    index: dict[str, StixObject] = {}
    for i, raw in enumerate(objects):
        obj = _check_object(raw, f"{bundle_id} objects[{i}]")
        old = index.get(obj["id"])
        if old is None:
            index[obj["id"]] = obj
        elif old != obj:
            new_mod, old_mod = obj.get("modified"), old.get("modified")
            if not isinstance(new_mod, str) or not isinstance(old_mod, str) \
                    or new_mod == old_mod:
                raise StixError(f"{obj['id']}: appears twice with different content and no "
                                "distinct 'modified' to tell the versions apart")
            if _when(new_mod, obj["id"]) > _when(old_mod, obj["id"]):
                index[obj["id"]] = obj
    return index


def _when(text: str, object_id: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise StixError(f"{object_id}: modified {text!r} is not an RFC 3339 time") from exc
    if when.tzinfo is None:
        raise StixError(f"{object_id}: modified {text!r} has no time zone (end it in Z)")
    return when


def _references(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(property, id) of every reference the object makes: ``*_ref``, ``*_refs`` and
    granular markings' ``marking_ref``."""
    out: list[tuple[str, str]] = []
    for name, value in obj.items():
        if name.endswith("_ref"):
            if not isinstance(value, str):
                raise StixError(f"{obj['id']}: {name} must be an id string")
            out.append((name, value))
        elif name.endswith("_refs"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise StixError(f"{obj['id']}: {name} must be a list of id strings")
            out.extend((name, v) for v in value)
    granular = obj.get("granular_markings", [])
    if not isinstance(granular, list):
        raise StixError(f"{obj['id']}: granular_markings must be a list")
    for g in granular:
        if isinstance(g, dict) and isinstance(g.get("marking_ref"), str):
            out.append(("granular_markings.marking_ref", g["marking_ref"]))
    return out


def _check_references(index: Mapping[str, StixObject]) -> None:
    for obj in index.values():
        for prop, ref in _references(obj):
            if ref in index:
                continue
            tlp = TLP_MARKINGS.get(ref)
            extra = f" ({tlp}: {TLP_REFUSAL})" if tlp else ""
            raise StixError(f"{obj['id']}: {prop} refers to {ref}, which is not in the "
                            f"bundle{extra}")


def _is_tlp(md: Mapping[str, Any]) -> str | None:
    """The TLP name of a TLP marking-definition, else ``None``."""
    if md["id"] in TLP_MARKINGS:
        return TLP_MARKINGS[md["id"]]
    name = md.get("name")
    if md.get("definition_type") == "tlp" or (isinstance(name, str)
                                              and name.upper().startswith("TLP:")):
        return name if isinstance(name, str) else "TLP"
    return None


class _Reader:
    def __init__(self, index: Mapping[str, StixObject], parties: Mapping[str, Party]) -> None:
        self.index, self.parties = index, parties
        self._labels: dict[str, tuple[dict[str, Any], Label]] = {}

    def get(self, ref: str, by: Mapping[str, Any]) -> StixObject:
        obj = self.index.get(ref)
        if obj is None:  # _check_references has caught this already
            raise StixError(f"{by['id']}: refers to {ref}, which is not in the bundle")
        return obj

    def label(self, ref: str, by: Mapping[str, Any]) -> tuple[dict[str, Any], Label]:
        """The label data and label of the marking-definition ``ref``."""
        if ref in self._labels:
            return self._labels[ref]
        md = self.get(ref, by)
        if md["type"] != "marking-definition":
            raise StixError(f"{by['id']}: object_marking_refs lists {ref}, which is a "
                            f"{md['type']}, not a marking-definition")
        extensions = md.get("extensions")
        ext = extensions.get(LABEL_EXTENSION_ID) if isinstance(extensions, dict) else None
        if ext is None:
            tlp = _is_tlp(md)
            if tlp:
                raise StixError(f"{_kind(by)} is marked {tlp} ({ref}): {TLP_REFUSAL}")
            raise StixError(f"{ref}: marking-definition has no Liaison label extension "
                            f"({LABEL_EXTENSION_ID}), so it carries no classification label "
                            f"(marks {by['id']})")
        if not isinstance(ext, dict) or ext.get("extension_type") != "property-extension" \
                or not isinstance(ext.get("label"), dict):
            raise StixError(f"{ref}: the Liaison label extension needs extension_type "
                            "'property-extension' and a 'label' object")
        data: dict[str, Any] = copy.deepcopy(ext["label"])
        try:
            label = label_from(data, self.parties)
        except CodecError as exc:
            raise StixError(f"{ref}: label is invalid: {exc}") from exc
        self._labels[ref] = (data, label)
        return data, label

    def labels(self, obj: Mapping[str, Any]) -> list[tuple[dict[str, Any], Label]]:
        """The distinct labels marking ``obj``; refuses missing or non-label markings."""
        refs = obj.get("object_marking_refs")
        if not refs:
            raise StixError(f"{_kind(obj)} has no object_marking_refs: every {obj['type']} "
                            "must carry a Liaison classification label marking")
        if obj.get("granular_markings"):
            raise StixError(f"{_kind(obj)} has granular_markings: Liaison cannot carry them; "
                            "mark the whole object with one Liaison label marking")
        out: list[tuple[dict[str, Any], Label]] = []
        for ref in refs:
            data, label = self.label(ref, obj)
            if all(label != lb for _, lb in out):
                out.append((data, label))
        return out

    def party_code(self, report: Mapping[str, Any]) -> str:
        ref = report.get("created_by_ref")
        if not isinstance(ref, str):
            raise StixError(f"{_kind(report)} has no created_by_ref: the originator identity "
                            "(with x_liaison_party) is required")
        identity = self.get(ref, report)
        code = identity.get("x_liaison_party")
        if identity["type"] != "identity" or not isinstance(code, str):
            raise StixError(f"{ref}: the report's created_by_ref must be an identity with "
                            "x_liaison_party (the originator's alpha-3 code)")
        return code


_REPORT_FIELDS: Final = (
    ("id", "x_liaison_item_id", "the Liaison item id"),
    ("discipline", "x_liaison_discipline", "the discipline, e.g. HUMINT"),
    ("topic", "x_liaison_topic", "the topic, e.g. DPRK/missile"),
    ("grade", "x_liaison_grade", "the Admiralty grade, e.g. B2"),
    ("title", "name", "the title"),
    ("reported_at", "published", "the report time"),
)


def _item_data(report: StixObject, reader: _Reader) -> tuple[dict[str, Any], list[str]]:
    """The ``codec.item_from`` dict of ``report`` and its notes' ids (portion order)."""
    rid = report["id"]
    data: dict[str, Any] = {}
    for key, prop, meaning in _REPORT_FIELDS:
        value = report.get(prop)
        if not isinstance(value, str):
            raise StixError(f"{rid}: {prop} ({meaning}) is missing or not a string")
        data[key] = value
    data["originator"] = reader.party_code(report)
    if "x_liaison_observed_at" in report:
        data["observed_at"] = report["x_liaison_observed_at"]
    report_labels = reader.labels(report)

    portions: list[dict[str, Any]] = []
    note_ids: list[str] = []
    place: StixObject | None = None
    for ref in report.get("object_refs", []):
        obj = reader.get(ref, report)
        if obj["type"] == "note":
            portions.append(_portion(obj, reader))
            note_ids.append(ref)
        elif obj["type"] == "location":
            if place is not None:
                raise StixError(f"{rid}: lists two locations ({place['id']}, {ref}); an item "
                                "has at most one place")
            place = obj
        elif obj["type"] != "identity":
            raise StixError(f"{rid}: object_refs lists {ref}; a Liaison item holds notes (its "
                            "portions), at most one location and identities only")
    if not portions:
        raise StixError(f"{rid}: object_refs lists no notes; each portion is a note")
    portion_labels = [reader.labels(reader.index[n])[0][1] for n in note_ids]
    _covered(report, report_labels, portion_labels)
    data["portions"] = portions
    if place is not None:
        _covered(place, reader.labels(place), portion_labels)
        lat, lon = place.get("latitude"), place.get("longitude")
        if not _number(lat) or not _number(lon):
            raise StixError(f"{place['id']}: location has no latitude/longitude")
        name = place.get("name", "")
        data["place"] = {"lat": lat, "lon": lon, "name": name}
    return data, note_ids


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _portion(note: StixObject, reader: _Reader) -> dict[str, Any]:
    labels = reader.labels(note)
    if len(labels) > 1:
        raise StixError(f"{_kind(note)} carries {len(labels)} Liaison labels; a portion has "
                        "exactly one")
    if not isinstance(note.get("content"), str):
        raise StixError(f"{_kind(note)} has no content")
    portion: dict[str, Any] = {"content": note["content"], "label": labels[0][0]}
    if "x_liaison_portion_id" in note:
        portion["id"] = note["x_liaison_portion_id"]
    if "x_liaison_portion_kind" in note:
        portion["kind"] = note["x_liaison_portion_kind"]
    if "x_liaison_attachment" in note:
        attachment = copy.deepcopy(note["x_liaison_attachment"])
        if isinstance(attachment, dict):
            attachment.pop("address", None)  # names a blob on the sending node: never ours
        portion["attachment"] = attachment
    return portion


def _covered(obj: Mapping[str, Any], marks: list[tuple[dict[str, Any], Label]],
             portion_labels: list[Label]) -> None:
    for _, label in marks:
        if label not in portion_labels:
            raise StixError(f"{_kind(obj)} is marked {label.classification!r} "
                            f"({label.token}), a label none of the report's notes carries; "
                            "importing would drop that marking: mark it with its highest "
                            "note's label")


_PORTION_PATH = re.compile(r"^portions\[(\d+)\]")


def item_from_bundle(bundle: Mapping[str, Any], parties: Mapping[str, Party],
                     owner: str) -> list[dict[str, Any]]:
    """The item dict (``codec.item_from`` shape) of every report in ``bundle``, in bundle
    order, each validated by ``codec.item_from(d, parties, owner)``; each also holds
    ``stix_id`` (the report's id) and ``version`` (its ``modified``), which ``item_from``
    ignores. Raises ``StixError`` naming the object and what is wrong (see the module
    notes)."""
    if owner not in parties:
        raise StixError(f"unknown owner party {owner!r}")
    try:
        return _items_of(bundle, parties, owner)
    except OverflowError as exc:  # e.g. 9999-12-31T23:59:59-14:00, past the calendar in UTC
        raise StixError(f"a date-time in the bundle is out of range ({exc}); report times "
                        f"are {REPORT_TIMES}") from exc


def _items_of(bundle: Mapping[str, Any], parties: Mapping[str, Party],
              owner: str) -> list[dict[str, Any]]:
    index = _index(bundle)
    _check_references(index)
    reader = _Reader(index, parties)
    items: list[dict[str, Any]] = []
    for obj in index.values():
        if obj["type"] != "report":
            continue
        data, note_ids = _item_data(obj, reader)
        try:
            item_from(data, parties, owner)
        except CodecError as exc:
            match = _PORTION_PATH.match(exc.path)
            note = f" (note {note_ids[int(match.group(1))]})" if match else ""
            raise StixError(f"{obj['id']}: not a valid item: {exc}{note}") from exc
        data["stix_id"] = obj["id"]
        data["version"] = str(obj.get("modified", ""))
        items.append(data)
    return items
