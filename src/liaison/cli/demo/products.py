"""The demo's products step: a satellite image of Sunchon airfield released to JPN with its
label bound by signature, found by search only by those cleared for it, and read as STIX
by JPN's tool over TAXII — exactly what was released, nothing else."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import httpx
from PIL import Image, ImageDraw

from liaison.cli.demo.calls import StepFailed, api, poll

TAXII = {"Accept": "application/taxii+json;version=2.1"}


def _label() -> dict[str, Any]:
    return {"policy": "KOR", "classification": "군사II급비밀", "originator": "KOR",
            "created": "2019-10-31T08:00:00Z", "rel_to": ["JPN", "USA"]}


def satellite_image() -> bytes:
    """A synthetic 480×320 scene: an apron with two launcher-sized shapes."""
    im = Image.new("L", (480, 320), 96)
    draw = ImageDraw.Draw(im)
    draw.rectangle((60, 120, 420, 220), fill=150)
    for x in (150, 290):
        draw.rectangle((x, 150, x + 40, 160), fill=230)
    out = io.BytesIO()
    im.save(out, format="PNG")
    return out.getvalue()


def share_products(story: Any, officer: httpx.Client) -> None:
    analyst = story.sign_in("KOR", "kim.analyst", story.password)
    image = satellite_image()
    up = analyst.post("/api/attachments", content=image, headers={"Content-Type": "image/png"})
    if up.status_code != 201:
        raise StepFailed(f"upload refused: {up.text}")
    sha = up.json()["sha256"]
    story.say(f"kim.analyst uploads a 480×320 image ({len(image):,} bytes), stored encrypted; "
              f"sha256 {sha[:16]}…")
    item = api(analyst, "POST", "/api/items", json={
        "id": "KOR-IMINT-2019-1031", "discipline": "IMINT", "topic": "DPRK/missile",
        "grade": "A2", "title": "Launchers on the apron at Sunchon airfield",
        "reported_at": "2019-10-31T09:30:00Z", "place": {"lat": 39.41, "lon": 125.89,
                                                          "name": "Sunchon airfield"},
        "portions": [
            {"id": "p1", "content": "Two launchers on the apron at 07:20, no launch yet.",
             "label": _label()},
            {"id": "p2", "kind": "image", "content": "Sunchon airfield apron, 07:20",
             "label": _label(), "attachment": {"sha256": sha, "image": {
                 "sensor": "KOMPSAT-3A", "taken_at": "2019-10-31T07:20:00Z",
                 "footprint": [[39.400, 125.880], [39.400, 125.900], [39.415, 125.900],
                               [39.415, 125.880]],
                 "resolution_m": 0.55, "width": 480, "height": 320}}}]})
    story.say(f"[bold]{item['banner']}[/] {item['id']}: {item['title']} "
              f"(a text portion and an image portion)")
    for who, clearance in (("kim.analyst", "군사I급비밀"), ("jung.analyst", "군사III급비밀")):
        client = story.sign_in("KOR", who, story.password)
        found = api(client, "GET", "/api/search", params={"q": "Sunchon", "discipline": "IMINT"})
        story.say(f"search 'Sunchon' (IMINT) as {who} ({clearance}): {found['total']} item(s)")
    request = api(officer, "POST", "/api/releases", json={
        "item_id": item["id"], "recipient": "JPN", "purpose": "shared early warning"})
    check = api(officer, "GET", f"/api/releases/{request['id']}/content-check")
    story.say(f"content check over the tearline: {len(check['findings'])} finding(s), "
              f"{'HOLD' if check['hold'] else 'no hold'}")
    for reviewer in ("park.reviewer", "choi.reviewer"):
        done = api(story.sign_in("KOR", reviewer, story.password), "POST",
                   f"/api/releases/{request['id']}/reviews", json={"approve": True})
    story.say(f"two reviewers approve: {done['state']}")
    sato = story.sign_in("JPN", "sato.officer", story.password)
    got = poll(lambda: _ok(sato, f"/api/items/{item['id']}@KOR/portions/p2/attachment"))
    same = hashlib.sha256(got).hexdigest() == sha
    story.say(f"JPN's node stores the image in its own encrypted store: {len(got):,} bytes, "
              f"SHA-256 {'matches' if same else 'DIFFERS'}")
    if not same:
        raise StepFailed("the image changed on the way")
    binding = _ok(officer, f"/api/items/{item['id']}/portions/p1/binding").decode()
    verified = api(sato, "POST", "/api/labels/verify", json={
        "binding": binding, "signer": "KOR", "data_sha256": hashlib.sha256(
            b"Two launchers on the apron at 07:20, no launch yet.").hexdigest()})
    story.say(f"JPN verifies KOR's STANAG 4778-style binding of p1's label: "
              f"{verified['label']['classification']} REL TO "
              f"{', '.join(verified['label']['rel_to'])}")
    taxii_read(story)


def _ok(client: httpx.Client, path: str) -> bytes:
    response = client.get(path)
    return response.content if response.status_code == 200 else b""


def taxii_read(story: Any) -> None:
    admin = story.sign_in("KOR", "admin", story.admin_passwords["KOR"])
    api(admin, "POST", "/api/users", json={"username": "jpn.taxii", "roles": ["partner"],
                                           "party": "JPN", "clearance": "평문",
                                           "password": story.password})
    tool = story.sign_in("KOR", "jpn.taxii", story.password)
    collections = api(tool, "GET", "/taxii2/liaison/collections/", headers=TAXII)["collections"]
    story.say("JPN's TAXII client at KOR sees: " + ", ".join(c["title"] for c in collections))
    objects: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = api(tool, "GET", f"/taxii2/liaison/collections/{collections[0]['id']}/objects/",
                   headers=TAXII, params=params)
        objects += page["objects"]
        if not page["more"]:
            break
        params["next"] = page["next"]
    kinds: dict[str, int] = {}
    for o in objects:
        kinds[o["type"]] = kinds.get(o["type"], 0) + 1
    story.say(f"it reads {len(objects)} STIX 2.1 objects: "
              + ", ".join(f"{n} {t}" for t, n in sorted(kinds.items())))
    reports = [o["name"] for o in objects if o["type"] == "report"]
    story.say(f"the releases to JPN as reports: {'; '.join(reports)} — each with only the "
              f"portions released to JPN as notes, each note marked with its own label")
