"""Insiders see only what their clearance, need-to-know and role allow (issue 18), on a real
node (real database, the API through ASGI): partners' requests and reports, consents, the
ledger, the track picture and its statistics, sensor feeds, release refusals, search totals
and the TAXII inbox. Each test names the issue's bullet it guards; what a reader may not see
answers as if it did not exist (same status, same message)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from liaison.domain import codec
from liaison.domain.ledger import Direction, LedgerEntry
from liaison.domain.parties import default_parties
from liaison.domain.release_facts import Consent
from liaison.interop import stix
from liaison.services import protection, requests
from liaison.services.context import Deps
from liaison.services.ports import StoredConsent

from .node_fixtures import PASSWORD, NodeUnderTest
from .test_api import REPORT, file_report, label

AT = datetime(2026, 1, 5, tzinfo=UTC)
# (username, roles, clearance, extra): who asks, besides the fixture's PEOPLE
INSIDERS: list[tuple[str, list[str], str, dict[str, Any]]] = [
    ("plain", ["analyst"], "평문", {}),  # cleared for nothing: sees 0 items
    ("plainrev", ["reviewer"], "평문", {}),
    ("junior", ["release_officer"], "군사III급비밀", {}),  # sees p1 of R1 only
    ("watch0", ["watch_officer"], "평문", {}),
    ("radar0", ["sensor"], "평문", {}),  # an UNCLASSIFIED sensor
    ("radar2", ["sensor"], "군사II급비밀", {}),
    ("tool", ["partner"], "군사I급비밀", {"party": "USA"}),  # a partner tool with a clearance
]
FEED = {"name": "radar", "title": "Coastal radar", "topic": "DPRK/missile",
        "discipline": "MASINT", "label": label("군사II급비밀", rel_to=["USA"])}


def _people(kor: NodeUnderTest) -> None:
    for name, roles, clearance, extra in INSIDERS:
        r = kor.post("admin", "/api/users", json={"username": name, "roles": roles,
                                                  "clearance": clearance,
                                                  "password": PASSWORD, **extra})
        assert r.status_code == 201, r.text
        r = kor.client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        kor.tokens[name] = r.json()["token"]


def _deps(kor: NodeUnderTest) -> Deps:
    deps: Deps = kor.client.app.state.deps  # type: ignore[attr-defined]
    return deps


def _from_usa(kor: NodeUnderTest) -> None:
    """What USA's node sent KOR, through the appliers the inbox calls once the envelope
    and the authority rule passed: a consent request quoting R1's p1 (III) and p2 (II), a
    compromise report quoting text, and RFIs on two topics; and this node's ledger entry
    and recorded consent for R1."""
    deps = _deps(kor)
    with deps.uow() as uow:
        # the ledger entry first: a compromise report is only about what we gave USA
        uow.ledger.add(LedgerEntry("KOR-USA-GSOMIA", "USA", Direction.GIVEN, "SECRET",
                                   "HUMINT", "R1", AT))
        assert requests.apply_consent_request(uow, deps, "USA", {
            "id": "cr1", "item_id": "R1", "recipient": "JPN", "purpose": "warning",
            "portions": [{"id": "p1", "content": "two projectiles",
                          "classification": "CONFIDENTIAL"},
                         {"id": "p2", "content": "TEL movement",
                          "classification": "SECRET"}]}) is None
        assert protection.APPLIERS["compromise"](uow, deps, "USA", {
            "item_id": "R1", "description": "a laptop with 'TEL movement' was lost",
            "measures": "investigation opened"}) is None
        for rid, topic in (("rfi1", "DPRK/missile"), ("rfi2", "CHN/navy")):
            assert requests.apply_rfi(uow, deps, "USA", {
                "id": rid, "topic": topic, "priority": "high", "purpose": "warning",
                "deadline": "2099-01-01T00:00:00+00:00"}) is None
        uow.consents.add(StoredConsent("c1", Consent("USA", "JPN", "R1", "warning",
                                                     "USFK J2", AT.date()), "lee", AT))
        uow.commit()


@pytest.fixture
def world(kor: NodeUnderTest) -> NodeUnderTest:
    file_report(kor)
    _people(kor)
    _from_usa(kor)
    return kor


def _list(kor: NodeUnderTest, user: str, path: str, **params: Any) -> Any:
    r = kor.get(user, path, params=params)
    assert r.status_code == 200, (user, path, r.text)
    return r.json()


def _same_as_absent(kor: NodeUnderTest, user: str, method: str, hidden: str, absent: str,
                    hidden_id: str, absent_id: str, **kw: Any) -> None:
    """``hidden`` answers exactly as ``absent`` (with the ids swapped)."""
    a = kor.client.request(method, hidden, headers=kor.as_(user), **kw)
    b = kor.client.request(method, absent, headers=kor.as_(user), **kw)
    assert a.status_code == b.status_code and a.status_code in (403, 404), (a.text, b.text)
    assert a.text.replace(hidden_id, absent_id) == b.text, (a.text, b.text)


def test_partners_requests_and_reports_are_cut_to_the_reader(world: NodeUnderTest) -> None:
    """Bullet 1: requests and reports open at any clearance."""
    kor = world
    for who in ("plain", "plainrev"):
        assert _list(kor, who, "/api/consent-requests") == []
        assert _list(kor, who, "/api/reports") == []
    lee = _list(kor, "lee", "/api/consent-requests")
    assert [p["id"] for p in lee[0]["portions"]] == ["p1", "p2"]
    junior = _list(kor, "junior", "/api/consent-requests")  # as the item read: p1 only
    assert [p["id"] for p in junior[0]["portions"]] == ["p1"]
    assert "TEL movement" not in str(junior)
    assert _list(kor, "junior", "/api/reports") == []  # free text: only to the whole item
    assert len(_list(kor, "lee", "/api/reports")) == 1
    assert {r["id"] for r in _list(kor, "kim", "/api/rfis")} == {"rfi1", "rfi2"}
    assert {r["id"] for r in _list(kor, "jung", "/api/rfis")} == {"rfi1"}  # topics: DPRK
    for who in ("tool", "radar2", "watch0"):
        for path in ("/api/consent-requests", "/api/rfis", "/api/reports"):
            assert kor.get(who, path).status_code == 403
    _same_as_absent(kor, "junior", "POST", "/api/consent-requests/USA:cr1/answer",
                    "/api/consent-requests/USA:cr9/answer", "cr1", "cr9",
                    json={"grant": True})
    granted = kor.post("lee", "/api/consent-requests/USA:cr1/answer", json={"grant": True})
    assert granted.status_code == 200, granted.text  # control: cleared for all of R1


def test_a_consent_request_about_an_item_not_held_here_is_judged_by_its_levels(
        world: NodeUnderTest) -> None:
    """Bullet 1, for our information entered at the partner's node (the item is not held
    here): each quoted portion by its stated level, made ours by the agreements' tables."""
    kor = world
    deps = _deps(kor)
    with deps.uow() as uow:
        assert requests.apply_consent_request(uow, deps, "USA", {
            "id": "cr2", "item_id": "USA-ONLY-1", "recipient": "JPN", "purpose": "warning",
            "portions": [{"id": "p1", "content": "imagery of a TEL", "classification":
                          "SECRET"}, {"id": "p2", "content": "a source's name",
                                      "classification": "TOP SECRET"}]}) is None
        uow.commit()

    def quoted(who: str) -> list[str]:
        rows = _list(kor, who, "/api/consent-requests")
        return [p["id"] for r in rows if r["id"] == "cr2" for p in r["portions"]]
    assert quoted("plain") == [] and quoted("junior") == []
    assert quoted("jung") == []  # bound to a topic scope: the item's topic is not known here
    assert quoted("lee") == ["p1", "p2"]
    answer = kor.post("lee", "/api/consent-requests/USA:cr2/answer", json={"grant": False,
                                                                        "reason": "no"})
    assert answer.status_code == 200, answer.text


def test_ledger_and_consents_only_for_items_the_reader_sees(world: NodeUnderTest) -> None:
    """Bullet: a 평문 reviewer sees ledger entries and consents for items it cannot see."""
    kor = world
    ledger = _list(kor, "plainrev", "/api/ledger")
    assert ledger == {"entries": [], "balances": {}}
    assert _list(kor, "plainrev", "/api/consents") == []
    assert _list(kor, "junior", "/api/consents") == []  # part of R1: its level would show
    assert len(_list(kor, "park", "/api/ledger")["entries"]) == 1
    assert _list(kor, "park", "/api/ledger")["balances"]["KOR-USA-GSOMIA"]["given"] == 1
    assert [c["id"] for c in _list(kor, "park", "/api/consents")] == ["c1"]


def test_a_partly_cleared_officer_is_answered_as_for_a_missing_item(
        world: NodeUnderTest) -> None:
    """Bullet: a partly cleared officer's release check answers "cleared for only part"."""
    kor = world
    _same_as_absent(kor, "junior", "GET", "/api/items/R1/release-check",
                    "/api/items/R9/release-check", "R1", "R9", params={"to": "USA"})
    r = kor.get("junior", "/api/items/R1/release-check", params={"to": "USA"})
    assert "part" not in r.json()["error"]["message"].replace("partner", "")
    _same_as_absent(kor, "junior", "POST", "/api/releases", "/api/releases", "R1", "R1",
                    json={"item_id": "R1", "recipient": "USA", "purpose": "x"})
    assert kor.get("lee", "/api/items/R1/release-check",
                   params={"to": "USA"}).status_code == 200  # control: cleared for all


def _feed_and_tracks(kor: NodeUnderTest) -> None:
    assert kor.post("lee", "/api/tracks/feeds", json=FEED).status_code == 201
    assert kor.post("admin", "/api/tracks/feeds/radar/sensors",
                    json={"username": "radar2"}).status_code == 201
    now = datetime.now(UTC).isoformat()
    r = kor.post("radar2", "/api/tracks/ingest", json={"feed": "radar", "updates": [
        {"uid": f"T{i}", "time": now, "lat": 38.5, "lon": 127.0 + i / 100, "kind": "a-h-A"}
        for i in range(5)]})
    assert r.status_code == 200 and r.json()["accepted"] == 5, r.text


def test_track_reads_need_a_readers_role_and_stats_are_cut(world: NodeUnderTest) -> None:
    """Bullets: sensor and partner-tool accounts read the track picture; a watch officer
    who sees 0 tracks gets ``tracks_current: 5``."""
    kor = world
    _feed_and_tracks(kor)
    for who in ("radar2", "tool"):
        for path in ("/api/tracks", "/api/tracks/system", "/api/tracks/feeds",
                     "/api/items", "/api/launches", "/api/alerts"):
            assert kor.get(who, path).status_code == 403, (who, path)
        with pytest.raises(WebSocketDisconnect) as closed, kor.client.websocket_connect(
                f"/api/tracks/live?token={kor.tokens[who]}") as ws:
            ws.receive_json()
        assert closed.value.code == 4403, closed.value
    assert len(_list(kor, "kim", "/api/tracks")) == 5
    assert _list(kor, "watch0", "/api/tracks") == []
    stats = _list(kor, "watch0", "/api/tracks/stats")
    assert stats["tracks_current"] == 0 and stats["policy"]["feeds"] == {}
    assert "ingested" not in stats and "partners" not in stats
    assert _list(kor, "watch0", "/api/tracks/feeds") == []
    assert _list(kor, "admin", "/api/tracks/stats")["tracks_current"] == 5


def test_a_sensor_writes_only_into_feeds_registered_to_it(world: NodeUnderTest) -> None:
    """Bullet: any sensor account writes into any feed; an UNCLASSIFIED sensor into a
    SECRET one."""
    kor = world
    _feed_and_tracks(kor)
    update = {"uid": "X", "time": datetime.now(UTC).isoformat(), "lat": 38.0, "lon": 127.0}
    r = kor.post("admin", "/api/tracks/feeds/radar/sensors", json={"username": "radar0"})
    assert r.status_code == 403 and "clearance" in r.json()["error"]["message"]
    # unregistered, and a feed that does not exist: one answer
    mine = kor.post("radar0", "/api/tracks/ingest", json={"feed": "radar", "updates": [update]})
    nosuch = kor.post("radar0", "/api/tracks/ingest",
                      json={"feed": "nosuch", "updates": [update]})
    assert mine.status_code == nosuch.status_code == 403
    assert mine.text.replace("radar", "nosuch") == nosuch.text
    assert "feed-sensor" in nosuch.json()["error"]["message"]
    r = kor.post("lee", "/api/tracks/feeds", json={**FEED, "title": "renamed"})
    assert r.json()["sensors"] == ["radar2"] and r.json()["owner"] == "lee"  # kept
    sensors = "/api/tracks/feeds/radar/sensors"
    assert kor.client.request("DELETE", f"{sensors}/radar2",
                              headers=kor.as_("admin")).json()["sensors"] == []
    r = kor.post("radar2", "/api/tracks/ingest", json={"feed": "radar", "updates": [update]})
    assert r.status_code == 403 and r.text == mine.text  # cleared, but no longer registered
    assert kor.post("admin", sensors, json={"username": "radar2"}).status_code == 201
    raised = {**FEED, "label": label("군사I급비밀", rel_to=["USA"])}
    assert kor.post("lee", "/api/tracks/feeds", json=raised).status_code == 201
    r = kor.post("radar2", "/api/tracks/ingest", json={"feed": "radar", "updates": [update]})
    assert r.status_code == 403 and "above your clearance" in r.json()["error"]["message"]
    assert kor.client.request("DELETE", "/api/tracks/feeds/radar/sensors/radar2",
                              headers=kor.as_("admin")).json()["sensors"] == []
    assert kor.post("radar2", "/api/tracks/feeds/radar/sensors",
                    json={"username": "radar2"}).status_code == 403  # admin only


def test_a_compartment_name_with_a_comma_counts_nothing_hidden(kor: NodeUnderTest) -> None:
    """Bullet: a compartment name containing a comma makes search totals count an item the
    user cannot see."""
    for name, comps in (("maker", ["X,Y"]), ("both", ["X", "Y"])):
        r = kor.post("admin", "/api/users", json={
            "username": name, "roles": ["analyst"], "clearance": "군사I급비밀",
            "compartments": comps, "password": PASSWORD})
        assert r.status_code == 201, r.text
        kor.tokens[name] = kor.client.post("/api/auth/login", json={
            "username": name, "password": PASSWORD}).json()["token"]
    item = copy.deepcopy(REPORT)
    item["id"], item["portions"] = "RC", [{"id": "p1", "content": "kumquat", "label": label(
        "군사III급비밀", compartments=["X,Y"])}]
    assert kor.post("maker", "/api/items", json=item).status_code == 201
    assert _list(kor, "maker", "/api/search", q="kumquat")["total"] == 1  # control
    found = _list(kor, "both", "/api/search", q="kumquat")
    assert found["total"] == 0 and found["items"] == [], found


def test_the_taxii_inbox_keeps_ids_in_this_nodes_namespace(world: NodeUnderTest) -> None:
    """Bullet: the TAXII inbox takes any item id (a partner's namespace, a path)."""
    kor = world
    cid = next(c["id"] for c in kor.get("kim", "/taxii2/liaison/collections/").json()[
        "collections"] if c["title"] == "Inbox")
    parties = default_parties()
    plain = {**REPORT, "portions": [REPORT["portions"][0]]}
    for bad in ("JPN-2026-0001@JPN", "a/b/../c", "..", "a:b", "x" * 121):
        item = codec.item_from({**plain, "id": bad}, parties, "KOR")
        objects = stix.bundle(stix.item_objects(item, parties))["objects"]
        r = kor.client.post(f"/taxii2/liaison/collections/{cid}/objects/",
                            json={"objects": objects}, headers=kor.as_("kim"))
        assert r.status_code == 422, (bad, r.text)
        assert "nothing was imported" in r.json()["description"]
        with _deps(kor).uow() as uow:
            assert uow.items.get(bad) is None  # a release of JPN-2026-0001 stays receivable
    item = codec.item_from({**plain, "id": "KOR-2026-0099"}, parties, "KOR")
    r = kor.client.post(f"/taxii2/liaison/collections/{cid}/objects/",
                        json={"objects": stix.bundle(stix.item_objects(item, parties))[
                            "objects"]}, headers=kor.as_("kim"))
    assert r.status_code in (200, 202), r.text  # a good id is taken


NOTHING = ("plain", "plainrev", "watch0", "radar0", "radar2", "tool")
LISTINGS = ("/api/consent-requests", "/api/rfis", "/api/reports", "/api/consents",
            "/api/ledger", "/api/items", "/api/search?q=projectiles", "/api/releases",
            "/api/tracks", "/api/tracks/system", "/api/tracks/stats", "/api/tracks/feeds",
            "/api/launches", "/api/alerts", "/api/areas", "/api/agreements")
MARKS = ("R1", "cr1", "projectiles", "TEL movement", "laptop", "HUMINT", "\"radar\"",
         "\"tracks_current\":5", "\"total\":1")


def test_who_may_see_nothing_reads_nothing(world: NodeUnderTest) -> None:
    """Every listing above, as each account that may see none of R1, the requests about
    it, its ledger entry, its consent or the radar feed's tracks: refused by role (403) or
    answered without a trace of them."""
    kor = world
    _feed_and_tracks(kor)
    leaks, checked = [], 0
    for who in NOTHING:
        for path in LISTINGS:
            r = kor.get(who, path)
            checked += 1
            assert r.status_code in (200, 403), (who, path, r.text)
            if r.status_code == 200 and any(m in r.text for m in MARKS):
                leaks.append(f"{who} {path}: {r.text[:200]}")
    assert not leaks, leaks
    print(f"\ninsider reads: {len(LISTINGS)} routes x {len(NOTHING)} accounts, "
          f"{checked} of {checked} answered without a hidden trace, leaks {len(leaks)}")
