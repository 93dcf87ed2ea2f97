"""The API fuzzer's world: data of every kind on the node under test (KOR), made through
the real API of two real nodes, KOR and its partner JPN, so that partners' requests,
reports and releases arrive over the real federation.

What is seeded (every text carries a canary where the leak oracle must look for it):
items at every level with compartments and need-to-know topics, an image attachment,
areas, a track feed at a secret level and one in the open with tracks ingested into each,
a hotline channel with a message, an MOU and talks, release requests (pending, released
to JPN), an incoming and an outgoing RFI, an incoming and an outgoing consent request,
a compromise report from JPN, a consent record, an audit checkpoint, a release received
from JPN, and JPN's TAXII collection at KOR.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from liaison.cli.demo.talks import MOU, TALKS

from ..integration.node_fixtures import PASSWORD
from ..integration.processes import NodeProcess, wait_for
from ..samples import png

FEED_SECRET = "fz-radar"  # 군사II급비밀: hidden from the low analyst and the watch officer
FEED_OPEN = "fz-coast"  # 평문
HOTLINE = "KOR-CHN-HOTLINE-MOU"
RELEASED_ITEM = "fz-given"  # released to JPN: JPN's requests and reports are about it
JPN_ITEM = "JPN-fz-1"  # released by JPN to KOR (held at KOR as JPN-fz-1@JPN)
CANARY_MESSAGE = "CANARY-HOTLINE-MESSAGE"
CANARY_TALKS = "CANARY-TALKS"


@dataclass
class Seed:
    """The ids of what was seeded (the fuzzer aims requests at them)."""

    release_requests: dict[str, str] = field(default_factory=dict)  # request id -> item
    channels: list[str] = field(default_factory=list)
    talks: list[str] = field(default_factory=list)
    rfis: list[str] = field(default_factory=list)  # refs: "JPN:<id>" incoming, "<id>"
    consent_requests: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    tracks: dict[str, list[str]] = field(default_factory=dict)  # feed -> track uids
    attachment: tuple[str, str] = ("", "")  # (item id, portion id)
    collections: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    launches: list[str] = field(default_factory=list)
    received_items: list[str] = field(default_factory=list)


def level_label(level: str, policy: str = "KOR", **extra: Any) -> dict[str, Any]:
    return {"policy": policy, "classification": level, "originator": policy,
            "created": "2024-05-01T00:00:00Z", **extra}


def now() -> str:
    return datetime.now(UTC).isoformat()


def users(node: NodeProcess, people: list[dict[str, Any]]) -> None:
    for p in people:
        node.call("POST", "/api/users", json={**p, "password": PASSWORD})


def release(node: NodeProcess, officer: str, reviewers: list[str], item_id: str,
            to: str) -> dict[str, Any]:
    req: dict[str, Any] = node.call("POST", "/api/releases", node.login(officer), json={
        "item_id": item_id, "recipient": to, "purpose": "early warning"})
    for reviewer in reviewers:
        req = node.call("POST", f"/api/releases/{req['id']}/reviews", node.login(reviewer),
                        json={"approve": True})
    return req


def seed_tracks(kor: NodeProcess, seed: Seed) -> None:
    """Two feeds (secret and open) and a track in each, ingested by the sensor, which an
    administrator registered to both (a sensor writes only into its feeds; its clearance
    covers the secret feed's label)."""
    for name, label in ((FEED_SECRET, level_label("군사II급비밀", rel_to=["KOR", "JPN"])),
                        (FEED_OPEN, level_label("평문"))):
        kor.call("POST", "/api/tracks/feeds", json={
            "name": name, "title": f"CANARY-FEED-{name}".upper(), "topic": "DPRK/missile",
            "discipline": "ELINT", "label": label})
        kor.call("POST", f"/api/tracks/feeds/{name}/sensors", json={"username": "radar"})
        uid = f"fz-track-{name}"
        kor.call("POST", "/api/tracks/ingest", kor.login("radar"), json={
            "feed": name, "updates": [{"uid": uid, "time": now(), "lat": 39.0, "lon": 125.7,
                                       "alt_m": 100.0, "kind": "a-h-A"}]})
        seed.tracks[name] = [uid]


def seed_attachment(kor: NodeProcess, seed: Seed) -> None:
    data = png(40, 30)
    up = httpx.post(f"{kor.url}/api/attachments", content=data, headers={
        "Authorization": f"Bearer {kor.login('ana')}", "Content-Type": "image/png"},
        timeout=30)
    assert up.status_code == 201, up.text
    lab = level_label("군사III급비밀", rel_to=["KOR", "JPN", "USA"])
    kor.call("POST", "/api/items", kor.login("ana"), json={
        "id": "fz-image", "discipline": "IMINT", "topic": "DPRK/missile", "grade": "A2",
        "title": "Report TITLE-fz-image", "reported_at": "2024-05-01T00:00:00Z",
        "portions": [
            {"id": "p1", "content": "CANARY-FZ-IMAGE-P1: canary report sunchon.",
             "label": lab},
            {"id": "p2", "kind": "image", "content": "CANARY-FZ-IMAGE-P2", "label": lab,
             "attachment": {"sha256": up.json()["sha256"], "size": 0,
                            "media_type": "image/png", "image": {
                                "sensor": "KOMPSAT-3A", "taken_at": "2024-05-01T00:00:00Z",
                                "footprint": [[39.40, 125.88], [39.40, 125.90],
                                              [39.42, 125.90]],
                                "resolution_m": 0.5, "width": 40, "height": 30}}}]})
    seed.attachment = ("fz-image", "p2")


def seed_hotline_and_talks(kor: NodeProcess, seed: Seed) -> None:
    channel = kor.call("POST", "/api/hotline", json={
        "agreement_id": HOTLINE, "times": ["09:00"], "tz": "Asia/Seoul"})
    seed.channels.append(str(channel.get("id", HOTLINE)))
    kor.call("POST", f"/api/hotline/{seed.channels[0]}/messages", kor.login("watch"),
             json={"precedence": "ROUTINE", "text": CANARY_MESSAGE})
    kor.call("POST", "/api/agreements", json=MOU)
    talks = kor.call("POST", "/api/talks", kor.login("dele"),
                     json={**TALKS, "title": CANARY_TALKS})
    seed.talks.append(str(talks["id"]))


def seed_between_partners(kor: NodeProcess, jpn: NodeProcess, seed: Seed) -> None:
    """A release KOR → JPN; JPN asks for consent, reports a compromise and sends an RFI;
    JPN releases an item to KOR; KOR asks JPN for information and for consent."""
    kor.call("POST", "/api/items", kor.login("ana"), json={
        "id": RELEASED_ITEM, "discipline": "IMINT", "topic": "DPRK/missile", "grade": "B2",
        "title": f"Report TITLE-{RELEASED_ITEM}", "reported_at": "2024-05-01T00:00:00Z",
        "portions": [{"id": "p1", "content": "CANARY-FZ-GIVEN-P1: canary report sunchon.",
                      "label": level_label("군사III급비밀", rel_to=["KOR", "JPN"])}]})
    done = release(kor, "rel", ["rev"], RELEASED_ITEM, "JPN")
    assert done["state"] == "released", done
    seed.release_requests[str(done["id"])] = RELEASED_ITEM
    users(jpn, [{"username": "sato", "roles": ["release_officer"], "clearance": "特定秘密"},
                {"username": "ono", "roles": ["reviewer"], "clearance": "特定秘密"},
                {"username": "aki", "roles": ["analyst"], "clearance": "特定秘密"}])
    given = f"{RELEASED_ITEM}@KOR"
    wait_for(lambda: jpn.call_raw("GET", f"/api/items/{given}").status_code == 200,
             what="KOR's release at JPN")
    sato = jpn.login("sato")
    jpn.call("POST", "/api/consent-requests", sato, json={
        "item_id": given, "recipient": "USA", "purpose": "trilateral warning"})
    jpn.call("POST", f"/api/items/{given}/reports", sato, json={
        "kind": "compromise", "description": "CANARY-REPORT laptop lost",
        "measures": "investigation opened"})
    jpn.call("POST", "/api/rfis", sato, json={
        "to": "KOR", "topic": "DPRK/missile", "event": "CANARY-RFI launch",
        "priority": "urgent", "deadline": "2099-01-01T00:00:00Z", "purpose": "warning"})
    jpn.call("POST", "/api/items", jpn.login("aki"), json={
        "id": JPN_ITEM, "discipline": "SIGINT", "topic": "DPRK/missile", "grade": "B2",
        "title": f"Report TITLE-{JPN_ITEM}", "reported_at": "2024-05-01T00:00:00Z",
        "portions": [{"id": "p1", "content": f"CANARY-{JPN_ITEM}@JPN-P1: canary report.".upper(),
                      "label": level_label("秘", policy="JPN", rel_to=["JPN", "KOR"])}]})
    assert release(jpn, "sato", ["ono"], JPN_ITEM, "KOR")["state"] == "released"
    rel = kor.login("rel")
    seed.received_items.append(f"{JPN_ITEM}@JPN")
    wait_for(lambda: kor.call_raw("GET", f"/api/items/{JPN_ITEM}@JPN", rel).status_code
             == 200, what="JPN's release at KOR")
    incoming = {kind: wait_for(lambda kind=kind: kor.call("GET", f"/api/{kind}", rel),
                               what=f"{kind} from JPN")
                for kind in ("consent-requests", "reports", "rfis")}
    seed.consent_requests += [r["ref"] for r in incoming["consent-requests"]]
    seed.reports += [str(r["id"]) for r in incoming["reports"]]
    seed.rfis += [r["ref"] for r in incoming["rfis"]]
    out_rfi = kor.call("POST", "/api/rfis", rel, json={
        "to": "JPN", "topic": "DPRK/missile", "event": "", "priority": "routine",
        "deadline": "2099-01-01T00:00:00Z", "purpose": "warning"})
    seed.rfis.append(str(out_rfi["ref"]))
    out_consent = kor.call("POST", "/api/consent-requests", rel, json={
        "item_id": f"{JPN_ITEM}@JPN", "recipient": "USA", "purpose": "warning"})
    seed.consent_requests.append(str(out_consent["ref"]))


TAXII = "application/taxii+json;version=2.1"


def seed_taxii(kor: NodeProcess, seed: Seed) -> None:
    """JPN's collection at KOR (holding KOR's release to JPN), as JPN's tool reads it."""
    headers = {"Authorization": f"Bearer {kor.login('jpn-tool')}", "Accept": TAXII}

    def get(path: str) -> Any:
        r = httpx.get(kor.url + path, headers=headers, timeout=30)
        assert r.status_code == 200, f"{path}: {r.status_code} {r.text}"
        return r.json()

    seed.collections += [c["id"] for c in get("/taxii2/liaison/collections/")
                         .get("collections", [])]
    for cid in seed.collections:
        seed.objects += [o["id"] for o in
                         get(f"/taxii2/liaison/collections/{cid}/objects/").get("objects", [])]


@contextmanager
def partner_nodes(root: Path, env: dict[str, str]) -> Iterator[tuple[NodeProcess,
                                                                    NodeProcess, str]]:
    """KOR and JPN started with ``env``, trusting each other, each with a signed-in
    admin, and JPN's fingerprint; both stop on the way out."""
    kor, jpn = NodeProcess("KOR", root), NodeProcess("JPN", root)
    try:
        prints = {n.party: n.init() for n in (kor, jpn)}
        for node in (kor, jpn):
            node.start(env=env)
            node.login()
        kor.trust(jpn, prints["JPN"])
        jpn.trust(kor, prints["KOR"])
        yield kor, jpn, prints["JPN"]
    finally:
        for node in (kor, jpn):
            node.stop()
