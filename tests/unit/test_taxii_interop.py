"""What the node serves over TAXII, checked with the tools a partner's staff use: the OASIS
validator in strict mode and ``stix2`` without custom content on every collection (released
items and areas, launch events), the ids a re-release keeps, and a bundle made with the
``stix2`` library taken by the inbox (use cases over the in-memory twins)."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import stix2
from stix2validator import ValidationOptions, validate_instance
from test_taxii_service import HIGH_REVIEWER, KIM, LOW_REVIEWER, NOW, deps, publish, released

from liaison.domain.areas import Area, AreaKind
from liaison.domain.codec import label_to
from liaison.domain.labels import Clearance
from liaison.domain.launch import Arc, LaunchEvent, LaunchStatus, event_to
from liaison.domain.users import Role, User
from liaison.interop import stix
from liaison.services import taxii, taxii_launches, tracks
from liaison.services.context import Deps
from liaison.services.errors import Invalid

from factories import CREATED, PARTIES, label

__all__ = ["deps"]  # the fixture, shared with the service tests

PARTNER = User("jpn-tool", "JPN tool", frozenset({Role.PARTNER}), Clearance(0), party="JPN")


def strict_errors(objects: list[dict[str, Any]]) -> list[str]:
    """``stix2-validator --strict`` on a bundle of ``objects``; ``stix2`` must parse it
    without custom content too."""
    data = json.loads(json.dumps(stix.bundle(objects)))
    stix2.parse(data, allow_custom=False)
    return [str(e) for e in validate_instance(data, ValidationOptions(strict=True)).errors]


def v4(object_id: str) -> bool:
    return uuid.UUID(object_id.partition("--")[2]).version == 4


# --- released items and areas -----------------------------------------------------------


def test_the_released_collection_is_strictly_valid_and_keeps_ids_on_re_release(
        deps: Deps) -> None:
    publish(deps, 0)
    with deps.uow() as uow:
        taxii.publish_area(uow, deps, "JPN", Area(
            "A-1", "yard", AreaKind.LAUNCH_SITE, 2, label("대외비", rel_to={"JPN"}), "KOR",
            center=(39.0, 125.7), radius_m=500.0))
        uow.commit()
    first = released(deps, HIGH_REVIEWER)
    assert strict_errors(first) == []
    assert all(v4(o["id"]) for o in first)
    deps.clock.now = NOW + timedelta(days=2)  # type: ignore[attr-defined]
    publish(deps, 0, 1)
    every = released(deps, HIGH_REVIEWER, version="all")
    assert strict_errors(released(deps, HIGH_REVIEWER)) == []
    reports = [o for o in every if o["type"] == "report"]
    assert len(reports) == 2 and reports[0]["id"] == reports[1]["id"]  # same id, 2 versions
    assert reports[1]["modified"] > reports[0]["modified"]
    groupings = [o for o in first if o["type"] == "grouping"]
    assert [g["name"] for g in groupings] == ["Area: yard"]  # in no report


def test_the_partner_reads_a_strictly_valid_collection(deps: Deps) -> None:
    publish(deps, 0, 1)
    assert strict_errors(released(deps, PARTNER)) == []


# --- launch events ----------------------------------------------------------------------

LAUNCH = CREATED + timedelta(days=300)
EVENT = LaunchEvent("L1", 1, LaunchStatus.PRELIMINARY, LAUNCH, 39.43, 125.93, (
    Arc("M1", LAUNCH, 39.43, 125.93, LAUNCH + timedelta(seconds=271), 40.1, 130.1, 370.2,
        90.1, 271.0, False),))


def record(deps: Deps, event: LaunchEvent, level: str = "군사III급비밀") -> None:
    lab = label(level, rel_to={"USA"})
    tracks.record_launch(deps, {"type": "launch", **event_to(event), "source": "radar-1",
                                "label": label_to(lab), "rank": PARTIES["KOR"].scheme.level(
                                    lab.classification).rank,
                                "topic": "DPRK/missile", "marking": level})


def launches(deps: Deps, user: User, **params: Any) -> list[dict[str, Any]]:
    cid = taxii.collection_id(deps, taxii_launches.LAUNCHES)
    return taxii.page(deps, user, cid, params).objects


def test_launch_events_are_published_as_standard_objects_each_revision_a_version(
        deps: Deps) -> None:
    record(deps, EVENT)
    first = launches(deps, KIM)
    assert {o["type"] for o in first} == {"identity", "extension-definition",
                                          "marking-definition", "report", "location"}
    assert strict_errors(first) == []
    analysed = replace(EVENT, revision=2, status=LaunchStatus.ANALYSED, objects=(
        replace(EVENT.objects[0], impacted=True),))
    record(deps, analysed)
    every = launches(deps, KIM, version="all")
    reports = [o for o in every if o["type"] == "report"]
    assert len({r["id"] for r in reports}) == 1 and len(reports) == 2
    assert [r["x_liaison_launch"]["status"] for r in reports] == ["PRELIMINARY", "ANALYSED"]
    latest = launches(deps, KIM)
    assert strict_errors(latest) == []
    impact = next(o for o in latest if o.get("x_liaison_impact"))
    assert impact["x_liaison_impact"] == "observed"
    assert launches(deps, KIM) == latest  # reading again adds nothing


def test_launch_events_are_read_within_clearance_and_never_by_a_partner(deps: Deps) -> None:
    record(deps, EVENT)
    assert not any(o["type"] in ("report", "location") for o in launches(deps, LOW_REVIEWER))
    assert taxii_launches.LAUNCHES not in [c.key for c in taxii.collections(deps, PARTNER)]
    assert taxii_launches.LAUNCHES in [c.key for c in taxii.collections(deps, KIM)]


# --- the inbox, fed by the stix2 library ------------------------------------------------


def inbox(deps: Deps) -> str:
    return taxii.collection_id(deps, taxii.INBOX)


def tool_bundle(**report_props: Any) -> list[dict[str, Any]]:
    """A report and a note as an analyst's tool makes them with ``stix2``: a Liaison
    label marking (the documented extension), TLP:AMBER beside it, no Liaison item id,
    grade or originator identity."""
    lab = {k: v for k, v in label_to(label("대외비")).items() if v not in (None, {})}
    marking = stix2.v21.MarkingDefinition(
        name="대외비", definition_type="statement", definition={"statement": "대외비"},
        extensions={stix.LABEL_EXTENSION_ID: {"extension_type": "property-extension",
                                              "label": lab}})
    marks = [marking.id, stix2.TLP_AMBER.id]
    declared = {stix.PROPERTIES_EXTENSION_ID: {
        "extension_type": "toplevel-property-extension"}} if report_props else {}
    report_id = f"report--{uuid.uuid4()}"
    note = stix2.v21.Note(content="Two launchers seen", object_refs=[report_id],
                          object_marking_refs=marks)
    report = stix2.v21.Report(id=report_id, name="From a plain tool", published=NOW,
                              report_types=["threat-report"], object_refs=[note.id],
                              object_marking_refs=marks, extensions=declared, **report_props)
    return [json.loads(o.serialize()) for o in (marking, stix2.TLP_AMBER, note, report)]


def test_a_bundle_made_with_stix2_is_taken_with_defaults_and_tlp_as_informative(
        deps: Deps) -> None:
    objects = tool_bundle(x_liaison_discipline="OSINT", x_liaison_topic="DPRK/missile")
    status = taxii.add_bundle(deps, KIM, inbox(deps), {"objects": objects})
    assert status["failure_count"] == 0 and status["success_count"] == len(objects)
    assert status["request_timestamp"].endswith("Z")
    assert status["request_timestamp"] == "2019-11-23T09:00:00.000000Z"
    with deps.uow() as uow:
        [kept] = uow.items.list(max_min_rank=99, limit=9, offset=0)
    report = next(o for o in objects if o["type"] == "report")
    assert kept.item.id == "stix-" + report["id"].partition("--")[2]
    assert (str(kept.item.grade), kept.item.originator) == ("F6", "KOR")
    [portion] = kept.item.portions
    assert portion.label.classification == "대외비"
    assert {c.tag: set(c.values) for c in portion.label.categories}["TLP"] == {"AMBER"}


def test_what_a_plain_tool_leaves_out_without_a_default_is_listed_at_once(
        deps: Deps) -> None:
    with pytest.raises(Invalid) as refused:
        taxii.add_bundle(deps, KIM, inbox(deps), {"objects": tool_bundle()})
    message = str(refused.value)
    assert "x_liaison_discipline" in message and "x_liaison_topic" in message
    assert "nothing was imported" in message
    with deps.uow() as uow:
        assert uow.items.list(max_min_rank=99, limit=9, offset=0) == []
