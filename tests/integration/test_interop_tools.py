"""A partner's own tools against real node processes: every collection read with
``taxii2-client`` passes the OASIS validator (``stix2-validator --strict``) and ``stix2``
without custom content; the partner's collection converted by ``misp-stix`` (the converter
MISP imports STIX 2.1 with) keeps each portion's text with its marking, the banner as a
statement marking in its own case, places with their names and areas out of the reports;
a bundle made with the ``stix2`` library and posted with ``taxii2-client`` is taken."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import stix2
from stix2validator import ValidationOptions, validate_instance

from liaison.interop import stix

from .processes import NodeProcess
from .test_federation import label, release
from .test_products import pair, read_all, root_for

__all__ = ["pair"]  # the module's own pair of nodes (see test_products)

PLACED = {"id": "R2", "discipline": "SIGINT", "topic": "DPRK/missile", "grade": "B2",
          "title": "Launch preparations", "reported_at": "2026-01-06T00:00:00Z",
          "place": {"lat": 39.43, "lon": 125.93, "name": "Sunchon"},
          "portions": [
              {"id": "p1", "content": "Fuel trucks at the pad", "label": label(
                  "군사II급비밀", rel_to=["JPN", "USA"])},
              {"id": "p2", "content": "Crews on alert", "label": label(
                  "군사III급비밀", rel_to=["JPN"])},
              {"id": "p3", "content": "Weather clear", "label": label("대외비")}]}


@pytest.fixture(scope="module")
def nodes(pair: tuple[NodeProcess, NodeProcess]) -> tuple[NodeProcess, NodeProcess]:
    """The pair of test_products (ITEM released to JPN, an area shared) and PLACED
    released to JPN as well."""
    release(pair[0], PLACED, "JPN")
    return pair


# MISP runs its STIX 2.1 import as a separate Python process; so does this test (the
# converter's dependencies install an old importer hook that warns on later imports).
CONVERT = ("import json, sys; from misp_stix_converter import stix_2_to_misp; "
           "print(json.dumps(stix_2_to_misp(sys.argv[1], output_dir=sys.argv[2]), "
           "default=str))")


def misp_import(source: Path, out: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", CONVERT, str(source), str(out)],
                          capture_output=True, text=True, timeout=300, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert "errors" not in result, result
    return result


def strict_errors(objects: list[dict[str, Any]]) -> list[str]:
    data = json.loads(json.dumps(stix.bundle(objects)))
    stix2.parse(data, allow_custom=False)
    return [str(e) for e in validate_instance(data, ValidationOptions(strict=True)).errors]


def test_every_collection_read_with_taxii2_client_passes_the_validator_strictly(
        nodes: tuple[NodeProcess, NodeProcess]) -> None:
    kor, _ = nodes
    checked = 0
    for user in ("jpn-tool", "lee"):
        root = root_for(kor, user)
        for collection in root.collections:
            if not collection.can_read:
                continue
            objects = read_all(root, collection.title, per_request=50)
            if objects:  # launch-events holds none here (test_taxii_interop fills it)
                assert strict_errors(objects) == [], (user, collection.title)
            checked += len(objects)
    assert checked > 0
    print(f"\nSTIX: stix2-validator {version('stix2-validator')} --strict: 0 errors on "
          f"{checked} objects read with taxii2-client {version('taxii2-client')}")


def test_the_partner_collection_converted_by_misp_stix_keeps_portions_banner_and_places(
        nodes: tuple[NodeProcess, NodeProcess], tmp_path: Path) -> None:
    kor, _ = nodes
    objects = read_all(root_for(kor, "jpn-tool"), "Released to JPN", per_request=50)
    markings = {o["id"]: o["name"] for o in objects if o["type"] == "marking-definition"}
    source = tmp_path / "released-to-jpn.json"
    source.write_text(json.dumps(stix.bundle(objects), ensure_ascii=False), encoding="utf-8")
    result = misp_import(source, tmp_path)
    converted = [json.loads(Path(p).read_text(encoding="utf-8")) for p in result["results"]]
    events = {e["info"]: e for e in (c.get("Event", c) for c in converted)}
    assert set(events) == {"TEL at Sunchon", "Launch preparations", "Area: Sunchon airfield"}

    notes = [o for o in objects if o["type"] == "note"]
    kept = [(n["note"], n.get("comment")) for e in events.values() for n in e.get("Note", [])]
    assert sorted(kept) == sorted((n["content"], markings[n["object_marking_refs"][0]])
                                  for n in notes)  # every portion, with its marking
    assert len(kept) == len(notes) == 3  # R1's releasable portion, R2's two (p3 withheld)

    placed = events["Launch preparations"]
    top = markings[next(o for o in objects if o["type"] == "report"
                        and o["name"] == "Launch preparations")["object_marking_refs"][0]]
    assert top == "군사II급비밀//REL TO KOR, JPN, USA"
    assert {t["name"] for t in placed["Tag"]} >= {f"statement:{top}"}  # its case kept
    names = [a["value"] for o in placed["Object"] if o["name"] == "geolocation"
             for a in o["Attribute"] if a["object_relation"] == "text"]
    assert names == ["Sunchon"]
    for info in ("TEL at Sunchon", "Launch preparations"):  # the area in neither report
        assert "Sunchon airfield" not in json.dumps(events[info], ensure_ascii=False)
    area = events["Area: Sunchon airfield"]
    assert [a["value"] for o in area["Object"] for a in o["Attribute"]
            if a["object_relation"] == "text"] == ["Sunchon airfield"]
    print(f"\nMISP: misp-stix {version('misp-stix')} kept {len(kept)} of {len(notes)} "
          f"portion texts with their markings, {len(events) - 1} reports, the area apart")


def test_a_stix2_bundle_posted_with_taxii2_client_is_taken(
        nodes: tuple[NodeProcess, NodeProcess]) -> None:
    kor, _ = nodes
    inbox = next(c for c in root_for(kor, "kim").collections if c.title == "Inbox")
    lab = {k: v for k, v in label("대외비").items() if v not in (None, {})}
    marking = stix2.v21.MarkingDefinition(
        name="대외비", definition_type="statement", definition={"statement": "대외비"},
        extensions={stix.LABEL_EXTENSION_ID: {"extension_type": "property-extension",
                                              "label": lab}})
    marks = [marking.id, stix2.TLP_AMBER.id]
    report_id = f"report--{uuid.uuid4()}"
    note = stix2.v21.Note(content="Convoy heading north", object_refs=[report_id],
                          object_marking_refs=marks)
    report = stix2.v21.Report(
        id=report_id, name="From a plain STIX tool", published=datetime.now(UTC),
        report_types=["threat-report"], object_refs=[note.id], object_marking_refs=marks,
        x_liaison_discipline="OSINT", x_liaison_topic="DPRK/missile",
        extensions={stix.PROPERTIES_EXTENSION_ID: {
            "extension_type": "toplevel-property-extension"}})
    sent = stix2.Bundle(marking, stix2.TLP_AMBER, note, report)
    status = inbox.add_objects(sent.serialize(), wait_for_completion=False)
    assert status.failure_count == 0 and status.success_count == 4
    assert status.request_timestamp.endswith("Z")
    item_id = "stix-" + report_id.partition("--")[2]
    got = kor.call("GET", f"/api/items/{item_id}", kor.login("kim"))
    assert got["grade"] == "F6" and got["originator"] == "KOR"
    assert got["portions"][0]["label"]["informative"] == {"TLP": ["AMBER"]}

    bare = json.loads(sent.serialize())
    for o in bare["objects"]:
        o.pop("x_liaison_discipline", None)
        o.pop("x_liaison_topic", None)
    refused = kor.call_raw("POST", f"/taxii2/liaison/collections/{inbox.id}/objects/",
                           kor.login("kim"), content=json.dumps(bare))
    assert refused.status_code == 422
    description = refused.json()["description"]
    assert "x_liaison_discipline" in description and "x_liaison_topic" in description
