"""Valid requests for every operation of the API, built from the seed (real item ids,
partner codes, channel, talks and request ids), so the fuzzer gets past the front door:
each is sent as every user, and the leak oracle judges every answer. Some are steps of a
sequence (create → request → review → release) whose earlier steps the recipe makes
itself, as the user who may make them.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from liaison.cli.demo.talks import MOU, TALKS

from ..integration.node_fixtures import PASSWORD
from ..integration.processes import NodeProcess
from ..samples import png
from .fuzz_seed import FEED_OPEN, JPN_ITEM, TAXII, Seed, level_label

COUNTER = itertools.count(1)
MADE: list[str] = []  # ids of the items the recipes made (listings may count them)


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # filled in
    operation: str  # "METHOD /template" as the OpenAPI document names it
    path_parameters: dict[str, str] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)  # json, params, content, headers


@dataclass
class Kit:
    """What a recipe may use: the partner node, the seed, tokens of the seeded users."""

    kor: NodeProcess
    jpn: NodeProcess
    seed: Seed
    jpn_fingerprint: str
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, user: str) -> str:
        if user not in self.tokens:
            self.tokens[user] = self.kor.login(user)
        return self.tokens[user]

    def as_(self, user: str, method: str, path: str, headers: dict[str, str] | None = None,
            **kw: Any) -> httpx.Response:
        return httpx.request(method, self.kor.url + path, timeout=30, **kw, headers={
            "Authorization": f"Bearer {self.token(user)}", **(headers or {})})


Recipe = Callable[[Kit, str], list[Call]]  # (kit, the caller's username) -> calls


def call(operation: str, where: dict[str, str] | None = None, **kw: Any) -> Call:
    """``where``: the path parameters; ``kw``: json, params (the query), content, headers."""
    method, template = operation.split(" ", 1)
    path = template.format(**(where or {}))
    return Call(method, path, operation, dict(where or {}), kw)


def n() -> int:
    return next(COUNTER)


def item_body(item_id: str, level: str = "대외비", **label: Any) -> dict[str, Any]:
    MADE.append(item_id)
    return {"id": item_id, "discipline": "OSINT", "topic": "DPRK/missile", "grade": "C3",
            "title": f"fuzz {item_id}", "reported_at": "2024-05-01T00:00:00Z",
            "portions": [{"id": "p1", "content": "made by the fuzzer",
                          "label": level_label(level, **label)}]}


def pending_release(kit: Kit) -> str:
    """A fresh request (by the release officer) of a fresh item (by the analyst)."""
    item_id = f"fz-made-{n()}"
    kit.as_("ana", "POST", "/api/items", json=item_body(item_id, "군사III급비밀",
                                                        rel_to=["KOR", "JPN"]))
    r = kit.as_("rel", "POST", "/api/releases", json={
        "item_id": item_id, "recipient": "JPN", "purpose": "early warning"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def binding(kit: Kit) -> dict[str, Any]:
    text = kit.as_("ana", "GET", "/api/items/fz-open/portions/p1/binding").text
    item = kit.as_("ana", "GET", "/api/items/fz-open").json()
    content = item["portions"][0]["content"]
    return {"binding": text, "data_sha256": hashlib.sha256(content.encode()).hexdigest(),
            "signer": "KOR"}


def new_spare(kit: Kit) -> str:
    name = f"fz-spare-{n()}"
    kit.as_("admin", "POST", "/api/users", json={
        "username": name, "roles": ["analyst"], "clearance": "대외비", "password": PASSWORD})
    return name


def own_token(kit: Kit, user: str) -> str:
    """The id of a fresh API token of ``user`` (made by the user; revoked by the recipe)."""
    r = kit.as_(user, "POST", "/api/tokens", json={"name": "fuzz, to revoke", "days": 1})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def new_sensor(kit: Kit) -> str:
    """A throw-away sensor account, so the seeded sensor keeps its feeds."""
    name = f"fz-sensor-{n()}"
    r = kit.as_("admin", "POST", "/api/users", json={
        "username": name, "roles": ["sensor"], "clearance": "평문", "password": PASSWORD})
    assert r.status_code == 201, r.text
    return name


def spare_session(kit: Kit) -> str:
    """A session of a throw-away user: its password change revokes only its own tokens."""
    name = new_spare(kit)
    r = httpx.post(kit.kor.url + "/api/auth/login", timeout=30,
                   json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def fresh_talks(kit: Kit) -> str:
    r = kit.as_("dele", "POST", "/api/talks", json=TALKS)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def taxii_status(kit: Kit) -> str:
    cid = kit.seed.collections[0]
    r = kit.as_("jpn-tool", "POST", f"/taxii2/liaison/collections/{cid}/objects/",
                json={"objects": []}, headers={"Content-Type": TAXII, "Accept": TAXII})
    return str(r.json().get("id", "none")) if r.status_code < 300 else "none"


def recipes(kit: Kit) -> list[Recipe]:
    s = kit.seed
    item, portion = "fz-open", "p1"
    channel, talks = s.channels[0], s.talks[0]
    incoming_rfi = next(r for r in s.rfis if r.startswith("JPN:"))
    incoming_consent = next(r for r in s.consent_requests if r.startswith("JPN:"))
    cid = s.collections[0]
    oid = next(o for o in s.objects if o.startswith("note--"))
    ip = {"item_id": item, "portion_id": portion}
    image = {"item_id": s.attachment[0], "portion_id": s.attachment[1]}
    fixed = [
        call("POST /api/auth/login", json={"username": "ana", "password": PASSWORD}),
        call("POST /api/tokens", json={"name": "fuzz tool", "days": 1}),
        call("GET /api/me"), call("GET /api/users"), call("GET /api/parties"),
        call("GET /api/agreements"),
        call("GET /api/agreements/{agreement_id}", {"agreement_id": "KOR-JPN-GSOMIA"}),
        call("GET /api/items"), call("GET /api/items/{item_id}", {"item_id": item}),
        call("GET /api/search", params={"q": "canary"}),
        call("GET /api/items/{item_id}/portions/{portion_id}/attachment", image),
        call("GET /api/items/{item_id}/portions/{portion_id}/label", ip),
        call("GET /api/items/{item_id}/portions/{portion_id}/binding", ip),
        call("GET /api/items/{item_id}/release-check", {"item_id": item},
             params={"to": "JPN", "purpose": "early warning"}),
        call("GET /api/releases"),
        call("GET /api/releases/{request_id}", {"request_id": next(iter(s.release_requests))}),
        call("GET /api/releases/{request_id}/content-check",
             {"request_id": next(iter(s.release_requests))}),
        call("GET /api/content-check/wordlist"), call("GET /api/consents"),
        call("GET /api/ledger"), call("GET /api/audit"), call("GET /api/audit/verify"),
        call("GET /api/audit/checkpoints"), call("POST /api/audit/checkpoints"),
        call("GET /federation/v1/card"), call("GET /api/peers"), call("GET /api/outbox"),
        call("GET /api/outbox/refused"), call("GET /api/inbox/refused"),
        call("GET /api/workers"), call("GET /api/tokens"),
        call("GET /api/rfis"), call("GET /api/consent-requests"), call("GET /api/reports"),
        call("GET /api/hotline"), call("GET /api/hotline/{channel_id}", {"channel_id": channel}),
        call("GET /api/hotline/{channel_id}/transcript", {"channel_id": channel}),
        call("POST /api/hotline/{channel_id}/messages", {"channel_id": channel},
             json={"precedence": "ROUTINE", "text": "fuzz traffic"}),
        call("POST /api/hotline/{channel_id}/check-calls", {"channel_id": channel}),
        call("GET /api/tracks/feeds"), call("GET /api/tracks"), call("GET /api/tracks/system"),
        call("GET /api/tracks/stats"), call("GET /api/launches"), call("GET /api/alerts"),
        call("GET /api/areas"),
        call("GET /taxii2/", headers={"Accept": TAXII}),
        call("GET /taxii2/liaison/", headers={"Accept": TAXII}),
        call("GET /taxii2/liaison/collections/", headers={"Accept": TAXII}),
        call("GET /taxii2/liaison/collections/{cid}/", {"cid": cid}, headers={"Accept": TAXII}),
        call("GET /taxii2/liaison/collections/{cid}/objects/", {"cid": cid},
             headers={"Accept": TAXII}),
        call("GET /taxii2/liaison/collections/{cid}/objects/{oid}/", {"cid": cid, "oid": oid},
             headers={"Accept": TAXII}),
        call("GET /taxii2/liaison/collections/{cid}/objects/{oid}/versions/",
             {"cid": cid, "oid": oid}, headers={"Accept": TAXII}),
        call("GET /taxii2/liaison/collections/{cid}/manifest/", {"cid": cid},
             headers={"Accept": TAXII}),
        call("POST /taxii2/liaison/collections/{cid}/objects/", {"cid": cid},
             json={"objects": []}, headers={"Content-Type": TAXII, "Accept": TAXII}),
        call("GET /api/talks"), call("GET /api/talks/{talks_id}", {"talks_id": talks}),
        call("GET /api/talks/{talks_id}/minutes/verify", {"talks_id": talks}),
        call("GET /api/talks/{talks_id}/record", {"talks_id": talks}),
        call("GET /api/health"),
        call("POST /api/releases", json={"item_id": "fz-open", "recipient": "JPN",
                                         "purpose": "early warning"}),
        call("POST /api/consents", json={
            "originator": "JPN", "recipient": "USA", "item_id": f"{JPN_ITEM}@JPN",
            "purpose": "warning", "granted_by": "J2", "granted_on": "2024-05-02"}),
        call("POST /api/rfis", json={"to": "JPN", "topic": "DPRK/missile", "event": "",
                                     "priority": "routine",
                                     "deadline": "2099-01-01T00:00:00Z", "purpose": "x"}),
        call("POST /api/rfis/{rfi_id}/answer", {"rfi_id": incoming_rfi},
             json={"answer": "declined", "reason": "no collection"}),
        call("POST /api/consent-requests", json={
            "item_id": f"{JPN_ITEM}@JPN", "recipient": "USA", "purpose": "warning"}),
        call("POST /api/consent-requests/{request_id}/answer",
             {"request_id": incoming_consent}, json={"grant": False, "reason": "no"}),
        call("POST /api/items/{item_id}/reports", {"item_id": f"{JPN_ITEM}@JPN"},
             json={"kind": "compromise", "description": "fuzz", "measures": "none"}),
        call("POST /api/peers", json={"party": "JPN", "address": kit.jpn.url,
                                      "fingerprint": kit.jpn_fingerprint}),
        call("POST /api/tracks/feeds/{feed}/sensors", {"feed": FEED_OPEN},
             json={"username": "radar"}),  # registered already: the same answer again
    ]

    def once(c: Call) -> Recipe:
        return lambda kit, user: [c]

    made: list[Recipe] = [once(c) for c in fixed]
    made += [
        lambda kit, user: [call("POST /api/items", json=item_body(f"fz-made-{n()}"))],
        lambda kit, user: [call("POST /api/attachments", content=png(8, 8),
                                headers={"Content-Type": "image/png"})],
        lambda kit, user: [call("POST /api/labels/parse", content=kit.as_(
            "ana", "GET", "/api/items/fz-open/portions/p1/label").content,
            headers={"Content-Type": "application/xml"})],
        lambda kit, user: [call("POST /api/labels/verify", json=binding(kit))],
        lambda kit, user: [call("PUT /api/content-check/wordlist",
                                json=kit.as_("admin", "GET",
                                             "/api/content-check/wordlist").json())],
        lambda kit, user: [call("POST /api/releases/{request_id}/reviews",
                                {"request_id": pending_release(kit)},
                                json={"approve": True})],
        lambda kit, user: [call("POST /api/items/{item_id}/regrade", {"item_id": "fz-navy"},
                                json={"portion_id": "p1", "level": ("평문", "대외비")[n() % 2],
                                      "reason": "fuzz"})],
        lambda kit, user: [call("POST /api/users", json={
            "username": f"fz-user-{n()}", "roles": ["analyst"], "clearance": "대외비",
            "password": PASSWORD})],
        lambda kit, user: [call("PUT /api/users/{username}/password",
                                {"username": new_spare(kit)}, json={"password": PASSWORD})],
        lambda kit, user: [call("POST /api/users/{username}/disable",
                                {"username": new_spare(kit)})],
        lambda kit, user: [call("POST /api/agreements", json={
            **MOU, "id": f"FZ-MOU-{n()}"})],
        # An MOU has no terms to amend; the GSOMIA with the USA gets one in force from 2099
        # that lifts a purpose restriction it does not have: nothing changes for today.
        lambda kit, user: [call("POST /api/agreements/{agreement_id}/amendments",
                                {"agreement_id": "USA-KOR-GSOMIA"},
                                json={"effective": "2099-01-01", "purposes": [],
                                      "note": "fuzz: exchange of notes"})],
        lambda kit, user: [call("DELETE /api/tokens/{token_id}",
                                {"token_id": own_token(kit, user)})],
        lambda kit, user: [call("GET /api/users/{username}/tokens", {"username": user})],
        lambda kit, user: [call("DELETE /api/users/{username}/tokens/{token_id}",
                                {"username": user, "token_id": own_token(kit, user)})],
        lambda kit, user: [call("PUT /api/me/password", json={
            "current": PASSWORD, "password": f"{PASSWORD}-fz"}, headers={
            "Authorization": f"Bearer {spare_session(kit)}"})],
        feed_sensor_and_remove,
        lambda kit, user: [call("POST /api/tracks/feeds", json={
            "name": f"fz-feed-{n()}", "title": "fuzz feed", "topic": "DPRK/missile",
            "discipline": "ELINT", "label": level_label("평문")})],
        lambda kit, user: [call("POST /api/tracks/ingest", json={
            "feed": FEED_OPEN, "updates": [{"uid": f"fz-t-{n()}", "time": now_text(),
                                            "lat": 39.0, "lon": 125.7, "kind": "a-h-A"}]})],
        area_and_delete,
        lambda kit, user: [call("POST /api/talks", json=TALKS)],
        lambda kit, user: [call("POST /api/talks/{talks_id}/answer",
                                {"talks_id": fresh_talks(kit)}, json={"action": "cancel"})],
        lambda kit, user: [call("POST /api/talks/{talks_id}/minutes",
                                {"talks_id": talks}, json={"revision": 0})],
        lambda kit, user: [call("GET /taxii2/liaison/status/{sid}/",
                                {"sid": taxii_status(kit)}, headers={"Accept": TAXII})],
        lambda kit, user: [call("POST /api/hotline", json={
            "agreement_id": "KOR-CHN-HOTLINE-MOU", "times": ["09:00", "16:00"],
            "tz": "Asia/Seoul"})],
        lambda kit, user: [call("POST /api/hotline/{channel_id}/acknowledgements",
                                {"channel_id": channel}, json={"sender": "CHN", "seq": 1})],
    ]
    return made


def closing(kit: Kit) -> list[Recipe]:
    """Recipes that change the world for everyone after them (a notice ends an
    agreement, a line is severed): sent once every user had every other recipe."""
    channel = kit.seed.channels[0]
    return [
        lambda kit, user: [call("POST /api/hotline/{channel_id}/sever", {"channel_id": channel}),
                           call("POST /api/hotline/{channel_id}/reopen",
                                {"channel_id": channel})],
        lambda kit, user: [call("POST /api/auth/logout", headers={
            "Authorization": f"Bearer {kit.kor.login(user)}"})],
        lambda kit, user: [call("POST /api/agreements/{agreement_id}/events",
                                {"agreement_id": "USA-KOR-GSOMIA"},
                                json={"kind": "NOTICE_GIVEN", "date": "2024-01-10",
                                      "by": "KOR"})],
        lambda kit, user: [call("POST /api/agreements/{agreement_id}/notes",
                                {"agreement_id": "KOR-JPN-GSOMIA"},
                                json={"kind": "NOTICE_GIVEN", "date": "2024-01-10",
                                      "note": "fuzz"})],
    ]


def feed_sensor_and_remove(kit: Kit, user: str) -> list[Call]:
    where = {"feed": FEED_OPEN, "username": new_sensor(kit)}
    return [call("POST /api/tracks/feeds/{feed}/sensors", {"feed": FEED_OPEN},
                 json={"username": where["username"]}),
            call("DELETE /api/tracks/feeds/{feed}/sensors/{username}", where)]


def area_and_delete(kit: Kit, user: str) -> list[Call]:
    area = f"fz-area-made-{n()}"
    return [call("POST /api/areas", json={"id": area, "name": "fuzz area",
                                          "label": level_label("평문"),
                                          "center": [39.0, 125.7], "radius_m": 1000.0,
                                          "share_with": []}),
            call("DELETE /api/areas/{area_id}", {"area_id": area})]


def now_text() -> str:
    from .fuzz_seed import now
    return now()
