"""STIX 2.1 forms of items, areas and launch events; items back from STIX bundles.

``stix2`` is the reference validator here only (the module builds plain dicts). Importing
and parsing with it emits no warnings, so the suite's ``filterwarnings = error`` needs no
exception.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import stix2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stix2validator import ValidationOptions, validate_instance

from liaison.domain.areas import Area, AreaKind, geodesic_distance_m
from liaison.domain.codec import item_from, label_to
from liaison.domain.imagery import ImageMeta
from liaison.domain.items import (
    Attachment,
    Discipline,
    Grade,
    Item,
    Place,
    Portion,
    PortionKind,
)
from liaison.domain.labels import Label, make_label
from liaison.domain.launch import Arc, LaunchEvent, LaunchStatus, event_to
from liaison.interop.stix import (
    LABEL_EXTENSION_ID,
    MAX_OBJECTS,
    NAMESPACE,
    PROPERTIES_EXTENSION_ID,
    StixError,
    area_objects,
    bundle,
    extension_definition,
    fresh_ids,
    item_from_bundle,
    item_objects,
    launch_objects,
    marking_definition,
    properties_extension_definition,
    stix_id,
    with_ids,
)

from factories import CREATED, KOR, PARTIES, label

KST = timezone(timedelta(hours=9))
TOP = label("군사II급비밀", rel_to={"USA"})
MID = label("군사III급비밀", rel_to={"USA", "JPN"}, caveats={"ORCON"}, compartments={"TK"},
            informative={"SOURCE": frozenset({"radar"})}, review=CREATED + timedelta(days=365))
LOW = label("대외비")
REPORTED = datetime(2019, 10, 31, 7, 35, 12, 345678, tzinfo=UTC)  # microseconds on purpose
META = ImageMeta("EO-1", datetime(2019, 10, 31, 16, 0, tzinfo=KST),
                 ((39.40, 125.90), (39.40, 125.96), (39.46, 125.96), (39.46, 125.90)),
                 0.5, 4000, 3000)
IMAGE = Attachment("ab" * 32, 123_456, "image/png", image=META)
ITEM = Item(
    id="I-2019-1031", originator="KOR", discipline=Discipline.SIGINT, topic="DPRK/missile",
    grade=Grade("B", 2), title="Two SRBMs from Sunchon", reported_at=REPORTED,
    portions=(
        Portion("p1", PortionKind.TEXT, "Two objects launched eastward.", TOP),
        Portion("p2", PortionKind.IMAGE, "TEL on the apron", MID, IMAGE),
        Portion("p3", PortionKind.TRACK, "", LOW),
    ),
    observed_at=datetime(2019, 10, 31, 7, 10, tzinfo=KST),
    place=Place(39.43, 125.93, "Sunchon"),
)
POLYGON = ((39.35, 125.85), (39.34, 125.97), (39.41, 126.04), (39.52, 126.01),
           (39.53, 125.88), (39.46, 125.82))
AREA = Area("A-1", "Sunchon launch site", AreaKind.LAUNCH_SITE, 2, TOP, "KOR", polygon=POLYGON)
CIRCLE = Area("A-2", "Sohae", AreaKind.LAUNCH_SITE, 1, MID, "KOR", center=(39.66, 124.70),
              radius_m=15_000.0)
LAUNCH = datetime(2019, 10, 31, 7, 35, 0, 250000, tzinfo=UTC)
EVENT = LaunchEvent(
    id="L1", revision=3, status=LaunchStatus.ANALYSED, launch_time=LAUNCH,
    launch_lat=39.43, launch_lon=125.93,
    objects=(
        Arc("M1", LAUNCH, 39.43, 125.93, LAUNCH + timedelta(seconds=271), 40.1, 130.1, 370.2,
            90.1, 271.0, True),
        Arc("M2", LAUNCH + timedelta(seconds=180), 39.44, 125.94,
            LAUNCH + timedelta(seconds=449.5), 40.0, 130.0, 365.0, 89.0, 269.5, False),
    ),
)


def of_type(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["type"] == kind]


def by_id(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in objects}


def json_bundle(*items: Item) -> dict[str, Any]:
    """The items' bundle as a partner receives it: through JSON."""
    objs = [o for it in items for o in item_objects(it, PARTIES)]
    data: dict[str, Any] = json.loads(json.dumps(bundle(objs)))
    return data


def mark_of(lb: Label) -> str:
    return str(marking_definition(lb, PARTIES)["id"])


def strict_errors(data: dict[str, Any]) -> list[str]:
    """What ``stix2-validator --strict`` finds wrong in the bundle ``data``."""
    result = validate_instance(data, ValidationOptions(strict=True))
    return [str(e) for e in result.errors]


# --- valid STIX --------------------------------------------------------------------------

PRODUCERS: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "item": lambda: item_objects(ITEM, PARTIES),
    "polygon area": lambda: area_objects(AREA, PARTIES),
    "circle area": lambda: area_objects(CIRCLE, PARTIES),
    "launch event": lambda: launch_objects(EVENT, TOP, PARTIES),
}


@pytest.mark.parametrize("producer", PRODUCERS.values(), ids=PRODUCERS.keys())
def test_every_object_and_the_bundle_parse_with_stix2_without_custom_content(
        producer: Callable[[], list[dict[str, Any]]]) -> None:
    objects = with_ids(producer(), fresh_ids)
    for obj in objects:
        parsed = stix2.parse(json.dumps(obj), allow_custom=False)
        assert parsed.id == obj["id"]  # a real stix2 object, fully validated
        assert obj["spec_version"] == "2.1"
    parsed_bundle = stix2.parse(bundle(objects), allow_custom=False)
    assert len(parsed_bundle.objects) == len(objects)
    assert len({o["id"] for o in objects}) == len(objects)  # no duplicates


@pytest.mark.parametrize("producer", PRODUCERS.values(), ids=PRODUCERS.keys())
def test_the_served_bundle_passes_the_oasis_validator_in_strict_mode(
        producer: Callable[[], list[dict[str, Any]]]) -> None:
    served = json.loads(json.dumps(bundle(with_ids(producer(), fresh_ids))))
    assert strict_errors(served) == []
    # the key ids (UUIDv5) are what --strict refuses: the test sees the difference
    assert any("UUIDv4" in e for e in strict_errors(bundle(producer())))


def test_every_liaison_property_is_declared_by_the_properties_extension() -> None:
    declared = set(properties_extension_definition()["extension_properties"])
    for producer in PRODUCERS.values():
        for obj in producer():
            custom = {k for k in obj if k.startswith("x_")}
            assert custom <= declared
            if custom:
                assert obj["extensions"][PROPERTIES_EXTENSION_ID] == {
                    "extension_type": "toplevel-property-extension"}


@pytest.mark.parametrize("producer", PRODUCERS.values(), ids=PRODUCERS.keys())
def test_timestamps_are_utc_rfc3339_with_milliseconds(
        producer: Callable[[], list[dict[str, Any]]]) -> None:
    for obj in producer():
        for prop in ("created", "modified"):
            if prop in obj:
                stamp = obj[prop]
                assert stamp.endswith("Z") and len(stamp) == len("2019-10-31T07:35:12.345Z")


def test_key_ids_are_deterministic_uuid5_and_served_ids_uuid4_from_the_map() -> None:
    first, again = item_objects(ITEM, PARTIES), item_objects(ITEM, PARTIES)
    assert first == again
    fixed = {o["id"] for o in first[:3]}  # the project identity, both extension definitions
    for obj in first:
        kind, _, raw = obj["id"].partition("--")
        assert kind == obj["type"]
        assert uuid.UUID(raw).version == (4 if obj["id"] in fixed else 5)
    report = of_type(first, "report")[0]
    assert report["id"] == f"report--{uuid.uuid5(NAMESPACE, 'report/item/KOR/I-2019-1031')}"
    assert report["id"] == stix_id("report", "item/KOR/I-2019-1031")
    other = of_type(item_objects(replace(ITEM, id="I-2"), PARTIES), "report")[0]
    assert other["id"] != report["id"]
    kept: dict[str, str] = {}

    def stored(keys: Any) -> dict[str, str]:
        for key in keys:
            kept.setdefault(key, fresh_ids([key])[key])
        return {k: kept[k] for k in keys}

    served = with_ids(first, stored)
    assert all(uuid.UUID(o["id"].partition("--")[2]).version == 4 for o in served)
    assert [o["id"] for o in served[:3]] == [o["id"] for o in first[:3]]
    later = with_ids(item_objects(ITEM, PARTIES, modified=REPORTED + timedelta(days=1)), stored)
    assert [o["id"] for o in later] == [o["id"] for o in served]  # a re-release: same ids
    [report_v1], [report_v2] = of_type(served, "report"), of_type(later, "report")
    assert report_v2["modified"] > report_v1["modified"]
    assert report_v2["object_refs"] == report_v1["object_refs"]
    assert all(ref in kept.values() for ref in report_v1["object_refs"])


def test_a_label_has_one_id_whatever_time_zone_its_dates_are_in() -> None:
    in_kst = replace(TOP, created=TOP.created.astimezone(KST))
    assert in_kst == TOP
    assert marking_definition(in_kst, PARTIES) == marking_definition(TOP, PARTIES)


# --- labels as marking-definitions -------------------------------------------------------


def test_one_marking_definition_per_distinct_label() -> None:
    doubled = replace(ITEM, portions=(*ITEM.portions, Portion("p4", PortionKind.TEXT, "x", TOP)))
    objects = item_objects(doubled, PARTIES)
    markings = of_type(objects, "marking-definition")
    assert len(markings) == 3
    notes = {n["x_liaison_portion_id"]: n for n in of_type(objects, "note")}
    assert notes["p1"]["object_marking_refs"] == notes["p4"]["object_marking_refs"]
    assert len({n["object_marking_refs"][0] for n in notes.values()}) == 3


def test_a_marking_definition_carries_the_label_in_the_extension() -> None:
    md = marking_definition(TOP, PARTIES)
    ext = md["extensions"][LABEL_EXTENSION_ID]
    assert ext["extension_type"] == "property-extension"
    assert ext["label"] == {k: v for k, v in label_to(TOP).items() if v not in (None, {})}
    assert "review" not in ext["label"]  # STIX has no nulls
    assert md["name"] == ext["banner"] == "군사II급비밀//REL TO KOR, USA"
    assert md["definition_type"] == "statement"  # tools without the extension see the banner
    assert md["definition"] == {"statement": md["name"]}
    mid = marking_definition(MID, PARTIES)["name"]
    assert mid == "군사III급비밀//TK//REL TO KOR, JPN, USA//ORCON"
    custom = marking_definition(TOP, PARTIES, lambda lb: f"<{lb.classification}>")
    assert custom["name"] == custom["definition"]["statement"] == "<군사II급비밀>"
    assert custom["id"] == md["id"]  # the id depends on the label only


def test_the_extension_definition_is_exported_with_its_author() -> None:
    ext = extension_definition()
    assert ext["id"] == LABEL_EXTENSION_ID
    assert ext["extension_types"] == ["property-extension"]
    objects = by_id(item_objects(ITEM, PARTIES))
    assert objects[LABEL_EXTENSION_ID] == ext
    assert objects[ext["created_by_ref"]]["type"] == "identity"
    stix2.parse(ext)
    props = properties_extension_definition()
    assert props["id"] == PROPERTIES_EXTENSION_ID
    assert props["extension_types"] == ["toplevel-property-extension"]
    assert objects[PROPERTIES_EXTENSION_ID] == props
    stix2.parse(props)


# --- items -------------------------------------------------------------------------------


def test_an_item_is_a_report_of_notes_and_a_location() -> None:
    objects = item_objects(ITEM, PARTIES)
    [report] = of_type(objects, "report")
    notes = of_type(objects, "note")
    [place] = of_type(objects, "location")
    kor = next(o for o in of_type(objects, "identity") if o.get("x_liaison_party") == "KOR")
    assert kor["name"] == "Republic of Korea" and kor["identity_class"] == "organization"
    assert report["name"] == ITEM.title
    assert report["published"] == "2019-10-31T07:35:12.345678Z"
    assert report["created"] == "2019-10-31T07:35:12.345Z"
    assert report["x_liaison_observed_at"] == "2019-10-30T22:10:00.000Z"
    assert (report["x_liaison_topic"], report["x_liaison_grade"]) == ("DPRK/missile", "B2")
    assert report["report_types"] == ["threat-report"]
    assert report["x_liaison_discipline"] == "SIGINT"
    assert report["created_by_ref"] == kor["id"]
    assert report["object_refs"] == [n["id"] for n in notes] + [place["id"]]
    assert report["object_marking_refs"] == [mark_of(TOP)]  # the highest portion
    assert place["object_marking_refs"] == [mark_of(TOP)]
    assert (place["latitude"], place["longitude"], place["name"]) == (39.43, 125.93, "Sunchon")
    assert place["description"] == "Sunchon"  # what MISP keeps of a location's name
    for note, portion in zip(notes, ITEM.portions, strict=True):
        assert note["content"] == portion.content
        assert note["object_marking_refs"] == [mark_of(portion.label)]
        assert note["x_liaison_portion_id"] == portion.id
        assert note["x_liaison_portion_kind"] == portion.kind.value
        assert note["object_refs"] == [report["id"]]  # the note annotates the report
        assert note["abstract"] == marking_definition(portion.label, PARTIES)["name"]


def test_an_attachment_travels_without_its_node_local_address() -> None:
    stored = replace(ITEM.portions[1], attachment=replace(IMAGE, address="blob/7f/ab12"))
    held = replace(ITEM, portions=(ITEM.portions[0], stored, ITEM.portions[2]))
    data = json_bundle(held)
    note = find(data, "note", 1)
    assert note["x_liaison_attachment"]["sha256"] == IMAGE.sha256
    assert note["x_liaison_attachment"]["image"]["resolution_m"] == 0.5
    assert "blob/7f" not in json.dumps(data)
    note["x_liaison_attachment"]["address"] = "blob/00/someone-elses"  # a partner's choice
    [back] = item_from_bundle(data, PARTIES, "KOR")
    assert item_from(back, PARTIES, "KOR") == ITEM  # address "": never taken from a bundle


def test_labels_tied_at_the_highest_level_all_mark_the_report() -> None:
    noforn = label("군사II급비밀", caveats={"NOFORN"})
    tied = replace(ITEM, portions=(*ITEM.portions, Portion("p4", PortionKind.TEXT, "x", noforn)))
    [report] = of_type(item_objects(tied, PARTIES), "report")
    assert report["object_marking_refs"] == [mark_of(TOP), mark_of(noforn)]


def test_an_item_round_trips_through_a_bundle() -> None:
    data = json_bundle(ITEM)
    dicts = item_from_bundle(data, PARTIES, "KOR")
    assert len(dicts) == 1
    assert item_from(dicts[0], PARTIES, "KOR") == ITEM
    report = find(data, "report")
    assert (dicts[0]["stix_id"], dicts[0]["version"]) == (report["id"], report["modified"])


def test_several_items_share_identities_and_markings_in_one_bundle() -> None:
    bare = replace(ITEM, id="I-2", place=None, observed_at=None,
                   portions=(Portion("only", PortionKind.TEXT, "text", TOP),))
    data = json_bundle(ITEM, bare)
    ids = [o["id"] for o in data["objects"]]
    assert len(ids) == len(set(ids))
    back = [item_from(d, PARTIES, "KOR") for d in item_from_bundle(data, PARTIES, "KOR")]
    assert back == [ITEM, bare]


def test_export_refuses_what_it_cannot_mark() -> None:
    with pytest.raises(StixError, match="unknown party 'GBR'"):
        item_objects(replace(ITEM, originator="GBR"), PARTIES)
    with pytest.raises(StixError, match="no time zone"):
        item_objects(replace(ITEM, reported_at=datetime(2019, 10, 31)), PARTIES)
    with pytest.raises(StixError, match="at least one portion"):
        item_objects(replace(ITEM, portions=()), PARTIES)


# --- areas and launch events -------------------------------------------------------------


def test_a_polygon_area_is_a_point_whose_precision_covers_every_vertex() -> None:
    objects = area_objects(AREA, PARTIES)
    [loc] = of_type(objects, "location")
    assert loc["latitude"] == pytest.approx(sum(v[0] for v in POLYGON) / len(POLYGON))
    assert loc["longitude"] == pytest.approx(sum(v[1] for v in POLYGON) / len(POLYGON))
    farthest = max(geodesic_distance_m(loc["latitude"], loc["longitude"], *v) for v in POLYGON)
    assert farthest <= loc["precision"] < farthest + 1
    assert loc["x_liaison_area"]["polygon"] == [list(v) for v in POLYGON]
    assert loc["x_liaison_area"]["kind"] == "launch_site"
    assert loc["object_marking_refs"] == [mark_of(TOP)]
    assert loc["name"] == AREA.name


def test_a_circle_area_keeps_its_centre_and_radius() -> None:
    later = datetime(2024, 5, 1, tzinfo=UTC)
    [loc] = of_type(area_objects(CIRCLE, PARTIES, modified=later), "location")
    assert (loc["latitude"], loc["longitude"], loc["precision"]) == (39.66, 124.70, 15_000.0)
    assert loc["x_liaison_area"]["center"] == [39.66, 124.70]
    assert loc["x_liaison_area"]["radius_m"] == 15_000.0
    assert loc["modified"] == "2024-05-01T00:00:00.000Z" > loc["created"]
    assert loc["object_marking_refs"] == [mark_of(MID)]
    with pytest.raises(StixError, match="radius_m"):
        area_objects(replace(CIRCLE, radius_m=0.0), PARTIES)


def test_a_launch_event_is_a_report_of_its_launch_and_impact_locations() -> None:
    objects = launch_objects(EVENT, TOP, PARTIES)
    index = by_id(objects)
    assert {o["type"] for o in objects} == {"identity", "extension-definition",
                                            "marking-definition", "report", "location"}
    [report] = of_type(objects, "report")
    assert report["report_types"] == ["threat-report"]
    assert report["published"] == "2019-10-31T07:35:00.250Z"
    assert report["created"] == "2019-10-31T07:35:00.250Z"
    assert report["modified"] == "2019-10-31T07:35:00.253Z"  # revision 3: + 3 ms
    assert report["x_liaison_launch"] == event_to(EVENT)
    assert "2019-10-31T07:42:29.750Z" in report["description"]  # M2: +180 s, 269.5 s
    launch, *impacts = [index[r] for r in report["object_refs"]]
    assert (launch["latitude"], launch["longitude"]) == (39.43, 125.93)
    assert [i["x_liaison_object"]["track"] for i in impacts] == ["M1", "M2"]
    assert [i["x_liaison_impact"] for i in impacts] == ["observed", "predicted"]
    assert (impacts[0]["latitude"], impacts[0]["longitude"]) == (40.1, 130.1)
    assert impacts[1]["x_liaison_object"]["flight_time_s"] == 269.5
    marked = of_type(objects, "report") + of_type(objects, "location")
    assert len(marked) == 1 + 3
    assert all(o["object_marking_refs"] == [mark_of(TOP)] for o in marked)
    next_revision = launch_objects(replace(EVENT, revision=4), TOP, PARTIES)
    assert [o["id"] for o in next_revision] == [o["id"] for o in objects]  # same objects
    [newer] = of_type(next_revision, "report")
    assert newer["modified"] > report["modified"]  # a newer version of each


def test_a_launch_event_without_objects_is_refused() -> None:
    with pytest.raises(StixError, match="L1 revision 3: has no objects"):
        launch_objects(replace(EVENT, objects=()), TOP, PARTIES)


# --- refusals on import ------------------------------------------------------------------


def find(data: dict[str, Any], kind: str, index: int = 0) -> dict[str, Any]:
    return of_type(data["objects"], kind)[index]


TLP_AMBER: dict[str, Any] = json.loads(stix2.TLP_AMBER.serialize())
STATEMENT: dict[str, Any] = {
    "type": "marking-definition", "spec_version": "2.1",
    "id": "marking-definition--0a9d4c3e-6a4b-4b39-9d1f-5b1d8f1e2c3a",
    "created": "2019-10-31T08:00:00.000Z", "definition_type": "statement",
    "definition": {"statement": "Copyright 2019"},
}


def no_note_marking(d: dict[str, Any]) -> str:
    note = find(d, "note", 1)
    del note["object_marking_refs"]
    return str(note["id"])


def no_report_marking(d: dict[str, Any]) -> str:
    report = find(d, "report")
    report["object_marking_refs"] = []
    return str(report["id"])


def tlp_only(d: dict[str, Any]) -> str:
    note = find(d, "note")
    note["object_marking_refs"] = [TLP_AMBER["id"]]
    d["objects"].append(TLP_AMBER)
    return str(note["id"])


def tlp_not_in_bundle(d: dict[str, Any]) -> str:
    note = find(d, "note")
    note["object_marking_refs"] = [TLP_AMBER["id"]]
    return str(note["id"])


def statement_marking(d: dict[str, Any]) -> str:
    note = find(d, "note")
    note["object_marking_refs"] = [STATEMENT["id"]]
    d["objects"].append(STATEMENT)
    return str(STATEMENT["id"])


def extension_stripped(d: dict[str, Any]) -> str:
    md = find(d, "marking-definition")
    md.pop("extensions")
    return str(md["id"])


def location_missing(d: dict[str, Any]) -> str:
    loc = find(d, "location")
    d["objects"].remove(loc)
    return str(loc["id"])


def report_type_wrong(d: dict[str, Any]) -> str:
    d["type"] = "report"
    return "type 'report'"


def bundle_spec_20(d: dict[str, Any]) -> str:
    d["spec_version"] = "2.0"
    return "STIX 2.0"


def report_spec_20(d: dict[str, Any]) -> str:
    report = find(d, "report")
    report["spec_version"] = "2.0"
    return str(report["id"])


def note_without_spec(d: dict[str, Any]) -> str:
    note = find(d, "note")
    del note["spec_version"]
    return str(note["id"])


def too_many(d: dict[str, Any]) -> str:
    d["objects"] = d["objects"] + [find(d, "identity")] * MAX_OBJECTS
    return "at most 10,000"


def two_labels_on_a_note(d: dict[str, Any]) -> str:
    notes = of_type(d["objects"], "note")
    notes[1]["object_marking_refs"].append(notes[0]["object_marking_refs"][0])
    return str(notes[1]["id"])


def report_marked_above_its_notes(d: dict[str, Any]) -> str:
    higher = marking_definition(label("군사I급비밀"), PARTIES)
    d["objects"].append(higher)
    report = find(d, "report")
    report["object_marking_refs"] = [higher["id"]]
    return str(report["id"])


def topic_missing(d: dict[str, Any]) -> str:
    report = find(d, "report")
    del report["x_liaison_topic"]
    return str(report["id"])


def bad_grade(d: dict[str, Any]) -> str:
    report = find(d, "report")
    report["x_liaison_grade"] = "Z9"
    return str(report["id"])


def bad_id(d: dict[str, Any]) -> str:
    find(d, "note")["id"] = "note--not-a-uuid"
    return "note--not-a-uuid"


def granular_marking(d: dict[str, Any]) -> str:
    note = find(d, "note")
    note["granular_markings"] = [{"selectors": ["content"],
                                  "marking_ref": note["object_marking_refs"][0]}]
    return str(note["id"])


def foreign_object_in_report(d: dict[str, Any]) -> str:
    d["objects"].append(STATEMENT)
    find(d, "report")["object_refs"].append(STATEMENT["id"])
    return str(STATEMENT["id"])


def conflicting_versions(d: dict[str, Any]) -> str:
    report = find(d, "report")
    d["objects"].append({**report, "name": "another title"})
    return str(report["id"])


REFUSALS: dict[str, tuple[Callable[[dict[str, Any]], str], str]] = {
    "note without marking": (no_note_marking, "has no object_marking_refs"),
    "report without marking": (no_report_marking, "has no object_marking_refs"),
    "TLP marking only": (tlp_only, "TLP is not a classification label; mark each note with "
                                   "a Liaison label marking"),
    "TLP marking not in bundle": (tlp_not_in_bundle, "AMBER only: TLP is not"),
    "statement marking": (statement_marking, "no Liaison label extension"),
    "marking without extension": (extension_stripped, "no Liaison label extension"),
    "reference not in bundle": (location_missing, "object_refs refers to .* not in the bundle"),
    "wrong bundle type": (report_type_wrong, "expected a STIX bundle"),
    "2.0 bundle": (bundle_spec_20, "reads STIX 2.1"),
    "2.0 object": (report_spec_20, "spec_version '2.0' is not '2.1'"),
    "object without spec_version": (note_without_spec, "has no spec_version"),
    "too many objects": (too_many, "split it"),
    "two labels on a note": (two_labels_on_a_note, "carries 2 Liaison labels"),
    "report above its notes": (report_marked_above_its_notes, "none of the report's notes"),
    "missing item field": (topic_missing, "x_liaison_topic"),
    "codec error": (bad_grade, "not a valid item: grade"),
    "malformed id": (bad_id, "is not 'note--<uuid>'"),
    "conflicting versions": (conflicting_versions, "appears twice"),
    "granular markings": (granular_marking, "granular_markings"),
    "foreign object in report": (foreign_object_in_report, "holds notes"),
}


@pytest.mark.parametrize(("mutate", "message"), REFUSALS.values(), ids=REFUSALS.keys())
def test_import_refuses_with_a_message_naming_the_object(
        mutate: Callable[[dict[str, Any]], str], message: str) -> None:
    data = json_bundle(ITEM)
    named = mutate(data)
    with pytest.raises(StixError, match=message) as caught:
        item_from_bundle(data, PARTIES, "KOR")
    assert named in str(caught.value)


def test_tlp_beside_a_liaison_label_is_kept_as_informative() -> None:
    data = json_bundle(ITEM)
    find(data, "report")["object_marking_refs"].append(TLP_AMBER["id"])  # not sent: known
    note = find(data, "note", 1)
    green = json.loads(stix2.TLP_GREEN.serialize())
    note["object_marking_refs"].append(green["id"])
    data["objects"].append(green)
    [back] = item_from_bundle(data, PARTIES, "KOR")
    informative = [p["label"].get("informative", {}) for p in back["portions"]]
    assert [i.get("TLP") for i in informative] == [["AMBER"], ["AMBER", "GREEN"], ["AMBER"]]
    assert informative[1]["SOURCE"] == ["radar"]  # the label's own categories stay
    item = item_from(back, PARTIES, "KOR")
    assert [p.label.classification for p in item.portions] == [
        p.label.classification for p in ITEM.portions]


def test_missing_liaison_fields_are_listed_all_at_once_for_every_report() -> None:
    bare = replace(ITEM, id="I-2", place=None, observed_at=None)
    data = json_bundle(ITEM, bare)
    first, second = of_type(data["objects"], "report")
    for report in (first, second):
        del report["x_liaison_topic"], report["x_liaison_discipline"]
    del second["name"]
    with pytest.raises(StixError) as caught:
        item_from_bundle(data, PARTIES, "KOR")
    message = str(caught.value)
    assert f"{first['id']} lacks x_liaison_discipline" in message
    assert f"{second['id']} lacks x_liaison_discipline" in message
    assert message.count("x_liaison_topic") == 2 and "name (the title)" in message


def test_fields_a_plain_stix_tool_leaves_out_take_their_defaults() -> None:
    data = json_bundle(ITEM)
    report = find(data, "report")
    for prop in ("x_liaison_item_id", "x_liaison_grade", "created_by_ref"):
        del report[prop]
    [back] = item_from_bundle(data, PARTIES, "KOR")
    assert back["id"] == "stix-" + report["id"].partition("--")[2]
    assert (back["grade"], back["originator"]) == ("F6", "KOR")
    item = item_from(back, PARTIES, "KOR")
    assert item.grade == Grade("F", 6)


@pytest.mark.parametrize("data", [[], "bundle", None, 3])
def test_import_refuses_what_is_not_a_json_object(data: Any) -> None:
    with pytest.raises(StixError, match="a STIX bundle is a JSON object"):
        item_from_bundle(data, PARTIES, "KOR")


def test_import_refuses_labels_outside_the_owners_scheme() -> None:
    with pytest.raises(StixError, match=r"report--.*labels on this node are in USA's scheme "
                                        r"\(got KOR\) \(note note--"):
        item_from_bundle(json_bundle(ITEM), PARTIES, "USA")


def test_import_leaves_the_bundle_alone_and_keeps_the_latest_version() -> None:
    data = json_bundle(ITEM)
    report = find(data, "report")
    data["objects"].append({**report, "name": "revised", "modified": "2019-11-01T00:00:00.000Z"})
    before = copy.deepcopy(data)
    [item] = item_from_bundle(data, PARTIES, "KOR")
    assert item["title"] == "revised"
    assert data == before


# --- property ----------------------------------------------------------------------------

LEVELS = [lv.name for lv in KOR.scheme.levels]
TIMES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1),
                     timezones=st.sampled_from([UTC, KST]))


FILES = st.builds(Attachment, st.text("0123456789abcdef", min_size=64, max_size=64),
                  st.integers(min_value=0, max_value=2**40),
                  st.sampled_from(["text/plain", "application/pdf"]),
                  derived_from=st.none() | st.just("p1"))


@st.composite
def labels(draw: st.DrawFn) -> Label:
    level = draw(st.sampled_from(LEVELS))
    created = draw(TIMES)
    review = draw(st.none() | st.timedeltas(min_value=timedelta(0),
                                            max_value=timedelta(days=3650)))
    controlled = KOR.scheme.level(level).rank > 0
    rel = draw(st.none() | st.sets(st.sampled_from(["USA", "JPN", "KOR"]), min_size=1))
    return make_label(
        KOR.scheme, level, originator=draw(st.sampled_from(["KOR", "USA"])), created=created,
        rel_to=rel if controlled else None,
        caveats=draw(st.sets(st.sampled_from(["ORCON", "PROPIN"]))) if controlled else set(),
        compartments=draw(st.sets(st.sampled_from(["TK", "SI-G"]), max_size=2)),
        informative=draw(st.dictionaries(st.sampled_from(["SOURCE", "Handling note"]),
                                         st.frozensets(st.text(max_size=8), max_size=2),
                                         max_size=1)),
        review=created + review if review is not None else None,
    )


@st.composite
def items(draw: st.DrawFn) -> Item:
    n = draw(st.integers(min_value=1, max_value=4))
    portions = tuple(
        Portion(f"p{i}", kind, draw(st.text(max_size=40)), draw(labels()),
                IMAGE if kind is PortionKind.IMAGE else draw(st.none() | FILES))
        for i, kind in enumerate(draw(st.lists(st.sampled_from(list(PortionKind)),
                                               min_size=n, max_size=n)), start=1))
    place = draw(st.none() | st.builds(
        Place, st.floats(min_value=-90, max_value=90), st.floats(min_value=-180, max_value=180),
        st.text(max_size=20)))
    return Item(
        id=draw(st.text(min_size=1, max_size=12)), originator=draw(st.sampled_from(["KOR", "USA"])),
        discipline=draw(st.sampled_from(list(Discipline))),
        topic=draw(st.sampled_from(["DPRK", "DPRK/missile", "CHN/navy/East Sea"])),
        grade=Grade(draw(st.sampled_from("ABCDEF")), draw(st.integers(1, 6))),
        title=draw(st.text(max_size=30)), reported_at=draw(TIMES), portions=portions,
        observed_at=draw(st.none() | TIMES), place=place,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items())
def test_any_item_round_trips_through_stix(item: Item) -> None:
    [data] = item_from_bundle(json_bundle(item), PARTIES, "KOR")
    assert item_from(data, PARTIES, "KOR") == item


def test_a_later_release_is_a_newer_version_of_the_report_and_its_notes() -> None:
    objects = item_objects(ITEM, PARTIES, modified=REPORTED + timedelta(days=3))
    versioned = [o for o in objects if o["type"] in ("report", "note", "location")]
    assert len(versioned) == 5
    for o in versioned:
        assert o["created"] == "2019-10-31T07:35:12.345Z"
        assert o["modified"] == "2019-11-03T07:35:12.345Z"
    with pytest.raises(StixError, match="before created"):
        item_objects(ITEM, PARTIES, modified=REPORTED - timedelta(seconds=1))
