"""The node's HTTP API on a real database (SQLite and PostgreSQL): the release desk end to
end, and bad input answered with 4xx and no state change."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from .node_fixtures import NodeUnderTest

CREATED = "2019-10-31T08:00:00Z"


def label(level: str, originator: str = "KOR", **extra: Any) -> dict[str, Any]:
    return {"policy": "KOR", "classification": level, "originator": originator,
            "created": CREATED, **extra}


REPORT: dict[str, Any] = {
    "id": "R1", "discipline": "HUMINT", "topic": "DPRK/missile", "grade": "B2",
    "title": "Launch from Sunchon", "reported_at": CREATED,
    "portions": [
        {"id": "p1", "content": "two projectiles", "label": label("군사III급비밀",
                                                                   rel_to=["USA", "JPN"])},
        {"id": "p2", "content": "TEL movement", "label": label("군사II급비밀",
                                                                rel_to=["USA", "JPN"])},
        {"id": "p3", "content": "source", "label": label("군사I급비밀", rel_to=["USA"])},
        {"id": "p4", "content": "US imagery", "label": label("군사II급비밀", originator="USA",
                                                              rel_to=["USA", "JPN"])},
    ],
}


def file_report(node: NodeUnderTest, item: dict[str, Any] | None = None) -> dict[str, Any]:
    r = node.post("kim", "/api/items", json=item or REPORT)
    assert r.status_code == 201, r.text
    return dict(r.json())


def item_count(node: NodeUnderTest) -> int:
    return int(node.get("kim", "/api/items").json()["total"])


def audit_count(node: NodeUnderTest) -> int:
    return len(node.get("admin", "/api/audit", params={"limit": 1000}).json())


def test_item_shows_marks_and_banner(kor: NodeUnderTest) -> None:
    """docs/rules.md#marks: CAPCO-style portion marks; the banner is the highest level."""
    item = file_report(kor)
    assert item["banner"].startswith("군사I급비밀")
    assert item["portions"][0]["mark"] == "(III//REL TO KOR, JPN, USA)"
    assert item["level"] == "군사I급비밀"


def test_release_check_follows_the_korea_japan_history(kor: NodeUnderTest) -> None:
    """docs/rules.md#notice-2019: KOR–JPN GSOMIA 2016-11-23, notice 2019-08-23, suspension
    2019-11-22; TISA relay through the US before."""
    file_report(kor)
    expect = {"2014-06-01": ("denied", []), "2015-06-01": ("allowed", ["USA"]),
              "2017-01-01": ("allowed", []), "2019-11-23": ("allowed", [])}
    for at, (outcome, route) in expect.items():
        d = kor.get("lee", "/api/items/R1/release-check", params={"to": "JPN", "at": at}).json()
        assert (d["outcome"], d["route"]) == (outcome, route), (at, d)
    d = kor.get("lee", "/api/items/R1/release-check", params={"to": "JPN", "at": "2019-11-23"})
    body = d.json()
    assert body["tearline"] == ["p1", "p2"]
    assert body["recipient_level"] == "極秘"
    texts = {r["portion_id"]: r["text"] for r in body["reasons"] if r["portion_id"]}
    assert "REL TO" in texts["p3"] and "GSOMIA Art. 6" in texts["p4"]


def test_two_person_review_then_release_and_ledger(kor: NodeUnderTest) -> None:
    """docs/rules.md#two-person-review: two different reviewers at SECRET-equivalent, never the
    requester; a reviewer may narrow, never widen, the tearline."""
    file_report(kor)
    req = kor.post("lee", "/api/releases", json={"item_id": "R1", "recipient": "JPN",
                                                 "purpose": "early warning"})
    assert req.status_code == 201, req.text
    rid = req.json()["id"]
    assert req.json()["required_reviews"] == 2
    path = f"/api/releases/{rid}/reviews"
    widen = kor.post("park", path, json={"approve": True, "tearline": ["p1", "p2", "p3"]})
    assert widen.status_code == 409 and "never widen" in widen.json()["error"]["message"]
    first = kor.post("park", path, json={"approve": True, "tearline": ["p1"]})
    assert first.status_code == 200 and first.json()["state"] == "pending"
    again = kor.post("park", path, json={"approve": True})
    assert again.status_code == 409
    second = kor.post("choi", path, json={"approve": True, "tearline": ["p1"]})
    assert second.json()["state"] == "released", second.text
    assert second.json()["tearline"] == ["p1"]
    ledger = kor.get("lee", "/api/ledger", params={"partner": "JPN"}).json()
    assert ledger["balances"]["KOR-JPN-GSOMIA"]["given"] == 1
    assert ledger["balances"]["KOR-JPN-GSOMIA"]["by_level"] == {
        "CONFIDENTIAL": {"given": 1, "received": 0}}


def test_requester_may_not_review_own_request(kor: NodeUnderTest) -> None:
    """docs/rules.md#two-person-review: neither reviewer is the requester; the refusal changes
    nothing."""
    file_report(kor)
    rid = kor.post("han", "/api/releases", json={"item_id": "R1", "recipient": "USA",
                                                 "purpose": "x"}).json()["id"]
    r = kor.post("han", f"/api/releases/{rid}/reviews", json={"approve": True})
    assert r.status_code == 409
    assert "own request" in r.json()["error"]["message"]
    assert kor.get("lee", f"/api/releases/{rid}").json()["reviews"] == []


def test_consent_lets_third_party_portion_pass(kor: NodeUnderTest) -> None:
    """docs/rules.md#consent: US-originated information goes to JPN only with US written consent."""
    file_report(kor)
    c = kor.post("lee", "/api/consents", json={
        "originator": "USA", "recipient": "JPN", "item_id": "R1", "purpose": "warning",
        "granted_by": "USFK J2", "granted_on": "2019-11-20"})
    assert c.status_code == 201, c.text
    d = kor.get("lee", "/api/items/R1/release-check",
                params={"to": "JPN", "at": "2019-11-23", "purpose": "Warning"}).json()
    assert d["tearline"] == ["p1", "p2", "p4"]


def test_a_consent_for_one_purpose_does_not_unlock_another(kor: NodeUnderTest) -> None:
    """Issue 18 regression, 'a consent for one purpose unlocks every purpose':
    docs/rules.md#consent, the consent names grantee *and* purpose; another purpose, or none stated,
    stays held with the reason in words."""
    file_report(kor)
    kor.post("lee", "/api/consents", json={
        "originator": "USA", "recipient": "JPN", "item_id": "R1", "purpose": "warning",
        "granted_by": "USFK J2", "granted_on": "2019-11-20"})
    for params in ({"purpose": "targeting"}, {}):
        d = kor.get("lee", "/api/items/R1/release-check",
                    params={"to": "JPN", "at": "2019-11-23", **params}).json()
        assert d["tearline"] == ["p1", "p2"], params
        p4 = next(r["text"] for r in d["reasons"] if r["portion_id"] == "p4")
        assert "for purpose 'warning' only" in p4 and "GSOMIA Arts 6-8" in p4
    r = kor.post("lee", "/api/releases", json={"item_id": "R1", "recipient": "JPN",
                                               "purpose": "targeting"})
    assert r.status_code == 201 and r.json()["tearline"] == ["p1", "p2"], r.text


def test_clearance_and_need_to_know_cut_what_a_user_sees(kor: NodeUnderTest) -> None:
    """docs/rules.md#need-to-know: clearance at the level AND need-to-know; hidden items look
    absent."""
    file_report(kor)
    hidden = copy.deepcopy(REPORT)
    hidden["id"], hidden["topic"] = "R2", "CHN/navy"
    file_report(kor, hidden)
    seen = kor.get("jung", "/api/items/R1").json()
    assert [p["id"] for p in seen["portions"]] == ["p1"]
    listing = kor.get("jung", "/api/items").json()
    assert listing["total"] == 1 and [i["id"] for i in listing["items"]] == ["R1"]
    missing = kor.get("jung", "/api/items/NOPE")
    secret = kor.get("jung", "/api/items/R2")
    assert missing.status_code == secret.status_code == 404
    assert missing.json()["error"]["message"].replace("NOPE", "X") == \
        secret.json()["error"]["message"].replace("R2", "X")
    assert kor.get("yoon", "/api/items").json()["total"] == 0


BAD_ITEMS = {
    "REL TO with NOFORN": {"portions": [{"id": "p1", "content": "x", "label": label(
        "군사II급비밀", rel_to=["USA"], caveats=["NOFORN"])}]},
    "unknown level": {"portions": [{"id": "p1", "content": "x", "label": label("TOP")}]},
    "unknown party in REL TO": {"portions": [{"id": "p1", "content": "x", "label": label(
        "군사II급비밀", rel_to=["usa"])}]},
    "naive time": {"reported_at": "2019-10-31T08:00:00"},
    "bad grade": {"grade": "G9"},
    "bad discipline": {"discipline": "TELEPATHY"},
    "no portions": {"portions": []},
    "foreign policy label": {"portions": [{"id": "p1", "content": "x", "label": {
        **label("SECRET"), "policy": "USA"}}]},
}


@pytest.mark.parametrize("case", sorted(BAD_ITEMS))
def test_malformed_items_are_refused_and_store_nothing(kor: NodeUnderTest, case: str) -> None:
    """Bad input gets a clear error (4xx JSON) and changes no state."""
    before, audit_before = item_count(kor), audit_count(kor)
    r = kor.post("kim", "/api/items", json={**REPORT, "id": "BAD", **BAD_ITEMS[case]})
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["message"]
    assert item_count(kor) == before
    assert audit_count(kor) == audit_before


def test_bad_release_requests_are_refused(kor: NodeUnderTest) -> None:
    """Unknown parties, terminated agreements and MOUs: 4xx, nothing stored."""
    file_report(kor)
    cases = [
        ({"item_id": "R1", "recipient": "XYZ", "purpose": "x"}, 422),
        ({"item_id": "R1", "recipient": "CHN", "purpose": "x"}, 409),
        ({"item_id": "R1", "recipient": "JPN", "purpose": "x", "on": "2014-01-01"}, 422),
        ({"item_id": "NOPE", "recipient": "JPN", "purpose": "x"}, 404),
        ({"item_id": "R1", "recipient": "JPN", "purpose": " "}, 409),
    ]
    for body, status in cases:
        r = kor.post("lee", "/api/releases", json=body)
        assert r.status_code == status, (body, r.text)
    assert kor.get("lee", "/api/releases").json() == []


def test_roles_are_enforced(kor: NodeUnderTest) -> None:
    """Separate duties: an analyst cannot request releases or read the audit log."""
    file_report(kor)
    assert kor.post("kim", "/api/releases", json={"item_id": "R1", "recipient": "USA",
                                                  "purpose": "x"}).status_code == 403
    assert kor.get("kim", "/api/audit").status_code == 403
    assert kor.get("kim", "/api/users").status_code == 403


def test_sign_in_errors_reveal_nothing(kor: NodeUnderTest) -> None:
    """A login never tells whether a username exists; a bad token is 401."""
    a = kor.client.post("/api/auth/login", json={"username": "kim", "password": "wrong!"})
    b = kor.client.post("/api/auth/login", json={"username": "ghost", "password": "wrong!"})
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()
    assert kor.client.get("/api/me").status_code == 401
    bad = kor.client.get("/api/me", headers={"Authorization": "Bearer lsn_forged"})
    assert bad.status_code == 401


def test_logout_revokes_the_token(kor: NodeUnderTest) -> None:
    assert kor.post("kim", "/api/auth/logout").status_code == 200
    assert kor.get("kim", "/api/me").status_code == 401


def test_agreement_events_update_status_and_refuse_rewrites(kor: NodeUnderTest) -> None:
    """docs/rules.md#term-and-renewal: a notice ends the agreement at the anniversary; history is
    appended, never rewritten."""
    r = kor.post("admin", "/api/agreements/USA-KOR-GSOMIA/events",
                 json={"kind": "NOTICE_GIVEN", "date": "2024-01-10", "by": "KOR"})
    assert r.status_code == 200, r.text
    status = kor.get("admin", "/api/agreements/USA-KOR-GSOMIA",
                     params={"at": "2024-09-24"}).json()["status"]
    assert status["state"] == "TERMINATED" and status["ends_on"] == "2024-09-23"
    back = kor.post("admin", "/api/agreements/USA-KOR-GSOMIA/events",
                    json={"kind": "NOTICE_WITHDRAWN", "date": "2020-01-01", "by": "KOR"})
    assert back.status_code == 422
    unknown = kor.post("admin", "/api/agreements/NOPE/events",
                       json={"kind": "NOTICE_GIVEN", "date": "2024-01-10"})
    assert unknown.status_code == 404


def test_audit_chain_verifies(kor: NodeUnderTest) -> None:
    """docs/rules.md#audit-log: every login, decision and change is in a hash-chained log."""
    file_report(kor)
    kor.get("lee", "/api/items/R1/release-check", params={"to": "JPN"})
    result = kor.get("admin", "/api/audit/verify").json()
    assert result["ok"] and result["checked"] >= 10
    actions = {r["action"] for r in kor.get("admin", "/api/audit",
                                            params={"limit": 1000}).json()}
    assert {"login", "item.created", "release.checked", "agreement.added"} <= actions


def test_openapi_docs_are_served(kor: NodeUnderTest) -> None:
    spec = kor.client.get("/api/openapi.json").json()
    assert "/api/items/{item_id}/release-check" in spec["paths"]
    assert kor.client.get("/api/docs").status_code == 200


@pytest.mark.parametrize("path", ["/api/audit?after=99999999999999999999",
                                  "/api/items?offset=99999999999999999999",
                                  "/api/releases?offset=-1", "/api/items?limit=0"])
def test_out_of_range_numbers_are_422_not_500(kor: NodeUnderTest, path: str) -> None:
    """Found by fuzzing the OpenAPI schema: integers beyond the database's range."""
    user = "admin" if "audit" in path else "lee"
    r = kor.get(user, path)
    assert r.status_code == 422, r.text


def test_agreement_terms_are_amended_by_dated_audited_acts(kor: NodeUnderTest) -> None:
    """Issue 18 regression, 'agreement terms need a re-import to change': an administrator
    amends the permitted purposes from today over the API; bad input is a 422 and changes
    nothing; a check dated before the amendment still sees the old terms."""
    file_report(kor)
    path = "/api/agreements/KOR-JPN-GSOMIA"
    today = kor.get("admin", path).json()["terms_on"]
    before, audits = kor.get("admin", path).json(), audit_count(kor)
    body = {"effective": today, "purposes": ["missile warning"], "note": "notes of today"}
    assert kor.post("lee", path + "/amendments", json=body).status_code == 403
    bad = [{**body, "effective": "2019-01-01"}, {**body, "purposes": "missile warning"},
           {**body, "recorded_by": "lee"}, {"effective": today}, {**body, "max_imbalance": -1},
           {**body, "table": [{"common": "SECRET", "levels": {"KOR": ["없음"]}}]}]
    answers = [kor.post("admin", path + "/amendments", json=b) for b in bad]
    assert [r.status_code for r in answers] == [422] * len(bad), [r.text for r in answers]
    assert "past terms are history" in answers[0].json()["error"]["message"]
    assert (kor.get("admin", path).json(), audit_count(kor)) == (before, audits)
    print(f"bad amendments answered 422 with nothing changed: {len(bad)} of {len(bad)}")
    r = kor.post("admin", path + "/amendments", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["purposes"] == ["missile warning"]
    assert r.json()["amendments"][0]["changes"] == ["purposes"]
    assert kor.get("admin", path, params={"at": "2019-11-23"}).json()["purposes"] == []

    def check(purpose: str, at: str) -> dict[str, Any]:
        return dict(kor.get("lee", "/api/items/R1/release-check",
                            params={"to": "JPN", "at": at, "purpose": purpose}).json())

    assert check("missile warning", today)["agreement_id"] == "KOR-JPN-GSOMIA"
    assert check("targeting", today)["agreement_id"] != "KOR-JPN-GSOMIA"
    assert check("targeting", "2019-11-23")["agreement_id"] == "KOR-JPN-GSOMIA"
    amended = [a for a in kor.get("admin", "/api/audit", params={"limit": 1000}).json()
               if a["action"] == "agreement.amended"]
    assert [(a["actor"], a["details"]["purposes"]) for a in amended] == [
        ("admin", ["missile warning"])]
