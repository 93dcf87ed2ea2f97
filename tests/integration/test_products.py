"""Products between real node processes: TAXII 2.1 with the third-party client
``taxii2-client`` (a partner's tool reads exactly what was released to it; labelled bundles
go in, unlabelled ones are refused and change nothing), imagery, bound NATO labels, the
content check and search through the API."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from taxii2client.v21 import ApiRoot, Server, as_pages

from liaison.domain import codec
from liaison.domain.parties import default_parties
from liaison.interop import stix
from liaison.services import taxii
from tests.samples import image_item, png

from .node_fixtures import PASSWORD, NodeUnderTest
from .processes import NodeProcess, trusting_pair, wait_for
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
    with trusting_pair(tmp_path_factory.mktemp("taxii"), "KOR", "JPN") as (kor, jpn):
        for name, roles in STAFF.items():
            kor.call("POST", "/api/users", json={"username": name, "roles": roles,
                                                 "clearance": "군사I급비밀", "password": PASSWORD})
        kor.call("POST", "/api/users", json={"username": "jpn-tool", "roles": ["partner"],
                                             "party": "JPN", "clearance": "평문",
                                             "password": PASSWORD})
        release(kor, ITEM, "JPN")
        kor.call("POST", "/api/areas", kor.login("lee"), json={**AREA, "share_with": ["JPN"]})
        yield kor, jpn


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
    with pytest.raises(requests.HTTPError) as refused:
        inbox.add_objects(unlabelled, wait_for_completion=False)
    assert refused.value.response.status_code == 422
    assert "mark" in refused.value.response.json()["description"]
    assert kor.call("GET", "/api/items", kim)["total"] == before
    print(f"\nTAXII inbox: labelled bundle imported ({len(labelled['objects'])} objects); "
          f"unlabelled refused whole with 422, objects stored 0 of "
          f"{len(unlabelled['objects'])}")


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


def test_an_image_travels_to_the_partner_and_is_stored_there_encrypted(
        pair: tuple[NodeProcess, NodeProcess]) -> None:
    """Upload streamed over HTTP, released, received, kept in JPN's own blob store."""
    kor, jpn = pair
    data = png()
    kim = kor.login("kim")
    up = httpx.post(f"{kor.url}/api/attachments", content=iter(
        [data[i:i + 4096] for i in range(0, len(data), 4096)]), headers={
        "Authorization": f"Bearer {kim}", "Content-Type": "image/png"}, timeout=30)
    assert up.status_code == 201, up.text
    item = image_item(up.json()["sha256"])
    release(kor, item, "JPN")
    wait_for(lambda: jpn.call_raw("GET", "/api/items/IMG1@KOR").status_code == 200,
             what="the image item at JPN")
    got = jpn.call_raw("GET", "/api/items/IMG1@KOR/portions/p2/attachment")
    assert got.status_code == 200 and got.content == data
    assert got.headers["x-content-sha256"] == up.json()["sha256"]
    stored = list((Path(jpn.data) / "blobs").rglob("*"))
    assert not any(data[:64] in f.read_bytes() for f in stored if f.is_file())  # encrypted


def test_a_bound_label_verifies_and_a_tampered_one_is_rejected(
        pair: tuple[NodeProcess, NodeProcess]) -> None:
    """ADatP-4774 labels out; an ADatP-4778 binding with an XML Signature by KOR verifies
    at JPN against the certificate KOR's card publishes; a changed label, changed data or
    another signer are refused."""
    kor, jpn = pair
    kim = kor.login("kim")
    xml = kor.call_raw("GET", "/api/items/R1/portions/p1/label", kim)
    assert xml.status_code == 200 and b"originatorConfidentialityLabel" in xml.content
    binding = kor.call_raw("GET", "/api/items/R1/portions/p1/binding", kim).text
    assert "<ds:Signature" in binding and "MetadataBindingContainer" in binding
    digest = hashlib.sha256(b"TEL sighted").hexdigest()
    ok = jpn.call("POST", "/api/labels/verify", json={
        "binding": binding, "data_sha256": digest, "signer": "KOR"})
    assert ok["label"]["classification"] == "군사II급비밀" and ok["legacy"] is False
    cases = {"tampered label": (lowered(binding), digest, "KOR"),
             "other data": (binding, hashlib.sha256(b"TEL not sighted").hexdigest(), "KOR"),
             "wrong signer": (binding, digest, "JPN")}
    rejected = 0
    for case, (b, d, signer) in cases.items():
        r = jpn.call_raw("POST", "/api/labels/verify", json={
            "binding": b, "data_sha256": d, "signer": signer})
        assert r.status_code == 422, case
        assert "binding rejected" in r.json()["error"]["message"], case
        rejected += 1
    print(f"\nbound labels: tampered or misattributed rejected {rejected} of {len(cases)}")


def test_labels_come_in_as_4774_xml_or_a_binding_that_verifies(
        pair: tuple[NodeProcess, NodeProcess]) -> None:
    """The exported label carries its alternatives (the partners' equivalents under the
    agreements in force); a label given as 4774 XML, or bound to the portion's data by a
    binding that verifies, becomes the portion's label; a binding that does not verify over
    this data, or a tampered one, is refused and nothing is stored."""
    kor, _ = pair
    kim = kor.login("kim")
    xml = kor.call_raw("GET", "/api/items/R1/portions/p1/label", kim).text
    parsed = kor.call("POST", "/api/labels/parse", kim, content=xml.encode())
    assert parsed["label"]["classification"] == "군사II급비밀" and parsed["legacy"] is False
    assert {a["policy"] for a in parsed["alternatives"]} >= {"JPN", "USA"}
    old = kor.call("POST", "/api/labels/parse", kim, content=OLD_FORM.encode())
    assert old["legacy"] is True and old["label"]["classification"] == "대외비"
    bad = kor.call_raw("POST", "/api/labels/parse", kim, content=b"<ConfidentialityLabel/>")
    assert bad.status_code == 422 and "label rejected" in bad.json()["error"]["message"]
    binding = kor.call_raw("GET", "/api/items/R1/portions/p1/binding", kim).text
    before = kor.call("GET", "/api/items", kim)["total"]
    base = {**ITEM, "portions": [{"id": "p1", "content": "TEL sighted"}]}
    made = kor.call("POST", "/api/items", kim, json={**base, "id": "R-XML", "portions": [
        {"id": "p1", "content": "TEL sighted", "label_xml": xml}]})
    assert made["portions"][0]["label"] == parsed["label"]
    bound = kor.call("POST", "/api/items", kim, json={**base, "id": "R-BOUND", "portions": [
        {"id": "p1", "content": "TEL sighted",
         "bound_label": {"binding": binding, "signer": "KOR"}}]})
    assert bound["portions"][0]["label"] == parsed["label"]
    refused = {
        "other data": {"id": "p1", "content": "TEL not sighted",
                       "bound_label": {"binding": binding, "signer": "KOR"}},
        "tampered": {"id": "p1", "content": "TEL sighted", "bound_label": {
            "binding": lowered(binding), "signer": "KOR"}},
        "wrong signer": {"id": "p1", "content": "TEL sighted",
                         "bound_label": {"binding": binding, "signer": "JPN"}},
        "two labels": {"id": "p1", "content": "TEL sighted", "label_xml": xml,
                       "label": parsed["label"]},
        "bad XML": {"id": "p1", "content": "TEL sighted", "label_xml": "<nope"}}
    for case, portion in refused.items():
        r = kor.call_raw("POST", "/api/items", kim, json={**base, "id": "R-NO",
                                                          "portions": [portion]})
        assert r.status_code == 422, (case, r.text)
    assert kor.call("GET", "/api/items", kim)["total"] == before + 2
    print(f"\nlabel import: refused {len(refused)} of {len(refused)} bad labels, nothing "
          "stored")


OLD_FORM = ('<ConfidentialityLabel xmlns="urn:nato:stanag:4774:confidentialitymetadatalabel:1:0">'
            "<ConfidentialityInformation><PolicyIdentifier>KOR</PolicyIdentifier>"
            "<Classification>대외비</Classification></ConfidentialityInformation>"
            "<CreationDateTime>2024-05-01T00:00:00Z</CreationDateTime>"
            '<OriginatorID IDType="PartyCode">KOR</OriginatorID></ConfidentialityLabel>')


def lowered(binding: str) -> str:
    """The binding with its signed label's level lowered, signature left as it was."""
    assert "<slab:Classification>군사II급비밀<" in binding
    return binding.replace("<slab:Classification>군사II급비밀<",
                           "<slab:Classification>군사III급비밀<", 1)


def test_the_content_check_holds_a_portion_marked_above_its_label(
        pair: tuple[NodeProcess, NodeProcess]) -> None:
    kor, _ = pair
    tokens = {n: kor.login(n) for n in STAFF}
    kor.call("PUT", "/api/content-check/wordlist", json={"terms": [
        {"term": "HAMMER RIDGE", "severity": "warn", "note": "operation name"}]})
    item = {**ITEM, "id": "R-HOLD", "portions": [
        {"id": "p1", "content": "TEL sighted near Hammer Ridge (I) per source",
         "label": label("군사II급비밀", rel_to=["JPN", "USA"])},
        {"id": "p2", "content": "weather clear", "label": label("군사II급비밀",
                                                               rel_to=["JPN", "USA"])}]}
    kor.call("POST", "/api/items", tokens["kim"], json=item)
    req = kor.call("POST", "/api/releases", tokens["lee"], json={
        "item_id": "R-HOLD", "recipient": "JPN", "purpose": "early warning"})
    found = kor.call("GET", f"/api/releases/{req['id']}/content-check", tokens["park"])
    assert found["hold"] and {f["kind"] for f in found["findings"]} == {"marking", "dirty_word"}
    refused = kor.call_raw("POST", f"/api/releases/{req['id']}/reviews", tokens["park"],
                           json={"approve": True})
    assert refused.status_code == 409 and "content check" in refused.json()["error"]["message"]
    narrowed = kor.call("POST", f"/api/releases/{req['id']}/reviews", tokens["park"],
                        json={"approve": True, "tearline": ["p2"]})
    assert narrowed["approvals"] == 1


def test_search_finds_only_what_the_user_may_see(pair: tuple[NodeProcess,
                                                             NodeProcess]) -> None:
    kor, _ = pair
    kim = kor.login("kim")
    hits = kor.call("GET", "/api/search", kim, params={"q": "TEL sighted", "topic": "DPRK"})
    assert "R1" in {h["id"] for h in hits["items"]}
    source = kor.call("GET", "/api/search", kim, params={"q": "source"})
    assert next(h for h in source["items"] if h["id"] == "R1")["matched"] == ["p2"]
    bad = kor.call_raw("GET", "/api/search", kim, params={"discipline": "PSYOPS"})
    assert bad.status_code == 422 and "discipline" in bad.json()["error"]["message"]


# --- refused input, through the API of an in-process node ------------------------------


def test_out_of_range_input_gets_a_clear_422_and_stores_nothing(kor: NodeUnderTest) -> None:
    cid = next(c["id"] for c in kor.get("kim", "/taxii2/liaison/collections/").json()[
        "collections"] if c["title"] == "Inbox")
    late = {**ITEM, "id": "LATE", "reported_at": "2200-01-01T00:00:00Z"}
    r = kor.post("kim", "/api/items", json=late)
    assert r.status_code == 422 and "report times are between 1970" in r.text
    r = kor.get("kim", "/api/search", params={"since": "2200-01-01T00:00:00Z"})
    assert r.status_code == 422 and "report times" in r.text
    parties = default_parties()
    good = codec.item_from({**ITEM, "id": "IN-1"}, parties, "KOR")
    bad = codec.item_from({**ITEM, "id": "IN-2"}, parties, "KOR")
    objects = stix.bundle([*stix.item_objects(good, parties),
                           *stix.item_objects(bad, parties)])["objects"]
    for o in objects:
        if o.get("x_liaison_item_id") == "IN-2":
            o["published"] = "2200-01-01T00:00:00Z"
    r = kor.client.post(f"/taxii2/liaison/collections/{cid}/objects/",
                        json={"objects": objects}, headers=kor.as_("kim"))
    assert r.status_code == 422 and "nothing was imported" in r.json()["description"]
    assert kor.get("kim", "/api/items").json()["total"] == 0  # not even the good report


def test_taxii_post_authenticates_before_reading_and_caps_the_body(
        kor: NodeUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    path = "/taxii2/liaison/collections/any/objects/"
    huge = {"Content-Length": str(taxii.MAX_BUNDLE + 1)}
    r = kor.client.post(path, content=b"{}", headers={**huge})
    assert r.status_code == 401  # who asks is known before the size matters
    monkeypatch.setattr(taxii, "MAX_BUNDLE", 1000)
    r = kor.client.post(path, content=b" " * 1001, headers=kor.as_("kim"))
    assert r.status_code == 413 and "split the bundle" in r.json()["description"]
    assert r.headers["content-type"] == taxii.MEDIA

    def streamed() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield from [b" " * 600, b" " * 600]
    r = kor.client.post(path, content=streamed(), headers=kor.as_("kim"))
    assert r.status_code == 413


def test_an_analyst_attaches_only_files_they_uploaded(kor: NodeUnderTest) -> None:
    data = b"%PDF-1.7 order of battle"
    sha = kor.client.post("/api/attachments", content=data, headers={
        **kor.as_("kim"), "Content-Type": "application/pdf"}).json()["sha256"]
    doc = {**ITEM, "id": "DOC", "portions": [{
        "id": "p1", "content": "see file", "label": label("평문"),
        "attachment": {"sha256": sha, "size": 0, "media_type": "application/pdf"}}]}
    theirs = kor.post("jung", "/api/items", json=doc)
    unknown = kor.post("jung", "/api/items", json={**doc, "portions": [{
        **doc["portions"][0], "attachment": {"sha256": "1" * 64, "size": 0,
                                             "media_type": "application/pdf"}}]})
    assert theirs.status_code == unknown.status_code == 422
    assert theirs.json() == unknown.json()  # nothing tells whether the file is held
    assert "no upload of yours has this hash" in theirs.text
    assert kor.post("kim", "/api/items", json=doc).status_code == 201


def test_taxii_paging_parameters_out_of_range_get_422(
        pair: tuple[NodeProcess, NodeProcess]) -> None:
    kor, _ = pair
    lee = kor.login("lee")
    cid = next(c["id"] for c in kor.call("GET", "/taxii2/liaison/collections/", lee)[
        "collections"] if c["title"] == "Released to JPN")
    for params in ({"next": "99999999999999999999"},
                   {"added_after": "9999-12-31T23:59:59-14:00"}):
        r = kor.call_raw("GET", f"/taxii2/liaison/collections/{cid}/objects/", lee,
                         params=params)
        assert r.status_code == 422, r.text
