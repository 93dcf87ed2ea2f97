"""TAXII 2.1 with the third-party client ``taxii2-client`` against real node processes:
a partner's tool reads exactly what was released to it; labelled bundles go in,
unlabelled ones are refused and change nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
from taxii2client.v21 import ApiRoot, Server, as_pages

from liaison.domain import codec
from liaison.domain.parties import default_parties
from liaison.interop import stix

from .node_fixtures import PASSWORD
from .processes import NodeProcess
from .test_federation import ITEM, STAFF, label, release

AREA = {"id": "A-SUNCHON", "name": "Sunchon airfield", "kind": "target", "priority": 1,
        "center": [39.41, 125.89], "radius_m": 5000,
        "label": label("군사II급비밀", rel_to=["JPN", "USA"])}


class Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    """KOR released ITEM's first portion to JPN and shared an area with it."""
    tmp = tmp_path_factory.mktemp("taxii")
    kor, jpn = NodeProcess("KOR", tmp), NodeProcess("JPN", tmp)
    try:
        prints = {n.party: n.init() for n in (kor, jpn)}
        for node in (kor, jpn):
            node.start(env={"LIAISON_LOGIN_ATTEMPTS_PER_MINUTE": "1000"})
            node.login()
        kor.trust(jpn, prints["JPN"])
        jpn.trust(kor, prints["KOR"])
        for name, roles in STAFF.items():
            kor.call("POST", "/api/users", json={"username": name, "roles": roles,
                                                 "clearance": "군사I급비밀", "password": PASSWORD})
        kor.call("POST", "/api/users", json={"username": "jpn-tool", "roles": ["partner"],
                                             "party": "JPN", "clearance": "평문",
                                             "password": PASSWORD})
        release(kor, ITEM, "JPN")
        kor.call("POST", "/api/areas", kor.login("lee"), json={**AREA, "share_with": ["JPN"]})
        yield kor, jpn
    finally:
        for node in (kor, jpn):
            node.stop()


def root_for(node: NodeProcess, user: str) -> ApiRoot:
    server = Server(f"{node.url}/taxii2/", auth=Bearer(node.login(user)))
    return server.api_roots[0]


def read_all(root: ApiRoot, title: str, per_request: int = 2) -> list[dict[str, Any]]:
    found = next(c for c in root.collections if c.title == title)
    objects: list[dict[str, Any]] = []
    for envelope in as_pages(found.get_objects, per_request=per_request):
        objects += envelope.get("objects", [])
    return objects


def test_the_partner_reads_exactly_what_was_released_to_it(
        pair: tuple[NodeProcess, NodeProcess]) -> None:
    kor, _ = pair
    root = root_for(kor, "jpn-tool")
    assert [c.title for c in root.collections] == ["Released to JPN"]  # nothing else named
    objects = read_all(root, "Released to JPN")
    by_type: dict[str, list[dict[str, Any]]] = {}
    for o in objects:
        by_type.setdefault(o["type"], []).append(o)
    notes = by_type["note"]
    assert [n["content"] for n in notes] == ["TEL sighted"]  # p2 (REL TO USA) never went
    assert "source" not in json.dumps(objects)
    assert len(by_type["report"]) == 1 and by_type["report"][0]["name"] == "TEL at Sunchon"
    assert any(o.get("name") == "Sunchon airfield" for o in by_type["location"])
    markings = {m["id"] for m in by_type["marking-definition"]}
    assert all(ref in markings for n in notes for ref in n["object_marking_refs"])
    assert len({o["id"] for o in objects}) == len(objects)  # paging lost and doubled nothing
    print(f"\nTAXII: JPN's tool read {len(objects)} objects, {len(notes)} of 1 released "
          f"portion, 0 of 1 withheld")


def test_the_partner_cannot_read_another_collection_or_the_inbox(
        pair: tuple[NodeProcess, NodeProcess]) -> None:
    kor, _ = pair
    tool = kor.login("jpn-tool")
    cols = kor.call("GET", "/taxii2/liaison/collections/", tool)["collections"]
    lee = kor.call("GET", "/taxii2/liaison/collections/", kor.login("lee"))["collections"]
    inbox = next(c["id"] for c in lee if c["title"] == "Inbox")
    assert inbox not in {c["id"] for c in cols}
    r = kor.call_raw("GET", f"/taxii2/liaison/collections/{inbox}/objects/", tool)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/taxii+json;version=2.1"
    assert "that you may use" in r.json()["description"]


def test_a_labelled_bundle_is_imported_and_an_unlabelled_one_refused(
        pair: tuple[NodeProcess, NodeProcess]) -> None:
    kor, _ = pair
    root = root_for(kor, "kim")
    inbox = next(c for c in root.collections if c.title == "Inbox")
    parties = default_parties()
    item = codec.item_from({**ITEM, "id": "STIX-1", "title": "Imported via TAXII"},
                           parties, "KOR")
    labelled = stix.bundle(stix.item_objects(item, parties))
    status = inbox.add_objects(labelled, wait_for_completion=False)
    assert status.failure_count == 0 and status.success_count == len(labelled["objects"])
    kim = kor.login("kim")
    got = kor.call("GET", "/api/items/STIX-1", kim)
    assert [p["content"] for p in got["portions"]] == ["TEL sighted", "source"]

    before = kor.call("GET", "/api/items", kim)["total"]
    unlabelled = json.loads(json.dumps(labelled).replace("STIX-1", "STIX-2"))
    for o in unlabelled["objects"]:
        o.pop("object_marking_refs", None)
    status = inbox.add_objects(unlabelled, wait_for_completion=False)
    assert status.success_count == 0 and status.failure_count == len(unlabelled["objects"])
    assert "mark" in status.failures[0]["message"]
    assert kor.call("GET", "/api/items", kim)["total"] == before
    print(f"\nTAXII inbox: labelled bundle imported ({len(labelled['objects'])} objects); "
          f"unlabelled refused {status.failure_count} of {len(unlabelled['objects'])}")


def test_bad_requests_get_taxii_errors(pair: tuple[NodeProcess, NodeProcess]) -> None:
    kor, _ = pair
    with pytest.raises(requests.HTTPError) as refused:
        Server(f"{kor.url}/taxii2/", auth=Bearer("forged")).refresh()
    assert refused.value.response.status_code == 401
    assert "taxii+json" in refused.value.response.headers["content-type"]
    r = httpx.get(f"{kor.url}/taxii2/liaison/collections/", headers={
        "Accept": "text/html", "Authorization": f"Bearer {kor.login('kim')}"})
    assert r.status_code == 406 and "taxii+json" in r.json()["description"]
    lee = kor.login("lee")
    cid = next(c["id"] for c in kor.call("GET", "/taxii2/liaison/collections/", lee)[
        "collections"] if c["title"] == "Released to JPN")
    bad = kor.call_raw("GET", f"/taxii2/liaison/collections/{cid}/objects/", lee,
                       params={"limit": "0"})
    assert bad.status_code == 422 and "limit" in bad.json()["description"]
