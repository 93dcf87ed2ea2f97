"""Issue 18 regressions over the HTTP API, on a real database (SQLite and PostgreSQL):
a regrade after a release request voids the approvals given before it and needs two new
reviewers at SECRET-equivalent; a release is decided on the node's clock, never on a
date the requester chose (a what-if date stays in the release check)."""

from __future__ import annotations

from typing import Any

from .node_fixtures import NodeUnderTest

CREATED = "2019-10-31T08:00:00Z"


def item(item_id: str, level: str) -> dict[str, Any]:
    return {"id": item_id, "discipline": "HUMINT", "topic": "DPRK/missile", "grade": "B2",
            "title": "Launch from Sunchon", "reported_at": CREATED,
            "portions": [{"id": "p1", "content": "two projectiles", "label": {
                "policy": "KOR", "classification": level, "originator": "KOR",
                "created": CREATED, "rel_to": ["USA", "JPN"]}}]}


def request(kor: NodeUnderTest, item_id: str, level: str) -> dict[str, Any]:
    assert kor.post("kim", "/api/items", json=item(item_id, level)).status_code == 201
    r = kor.post("lee", "/api/releases", json={"item_id": item_id, "recipient": "USA",
                                               "purpose": "early warning"})
    assert r.status_code == 201, r.text
    return dict(r.json())


def regrade(kor: NodeUnderTest, item_id: str, level: str) -> None:
    r = kor.post("lee", f"/api/items/{item_id}/regrade",
                 json={"portion_id": "p1", "level": level, "reason": "source upgraded"})
    assert r.status_code == 200, r.text


def approve(kor: NodeUnderTest, who: str, rid: str) -> dict[str, Any]:
    r = kor.post(who, f"/api/releases/{rid}/reviews", json={"approve": True})
    assert r.status_code == 200, r.text
    return dict(r.json())


def given(kor: NodeUnderTest) -> int:
    ledger = kor.get("lee", "/api/ledger", params={"partner": "USA"}).json()
    return sum(b["given"] for b in ledger["balances"].values())


def test_a_regrade_after_the_request_needs_two_new_reviewers(kor: NodeUnderTest) -> None:
    """The issue: requested at III급 (one review), raised to 군사I급비밀, and one approval
    released it as TOP SECRET. Now the count is derived from the item as it is."""
    req = request(kor, "R1", "군사III급비밀")
    assert req["required_reviews"] == 1
    regrade(kor, "R1", "군사I급비밀")
    shown = kor.get("park", f"/api/releases/{req['id']}").json()
    assert shown["required_reviews"] == 2
    assert "the portions' levels or markings" in shown["voided_notice"]
    once = approve(kor, "park", req["id"])
    assert (once["state"], once["approvals"], once["required_reviews"]) == ("pending", 1, 2)
    assert given(kor) == 0
    done = approve(kor, "choi", req["id"])
    assert done["state"] == "released" and done["decision"]["recipient_level"] == "TOP SECRET"
    assert given(kor) == 1


def test_approvals_before_a_relabel_no_longer_count(kor: NodeUnderTest) -> None:
    """Two reviews at II급: park approves, the level changes, choi's approval alone does
    not release; park must approve again, on what the item now is."""
    req = request(kor, "R2", "군사II급비밀")
    assert approve(kor, "park", req["id"])["approvals"] == 1
    regrade(kor, "R2", "군사I급비밀")
    after = approve(kor, "choi", req["id"])
    assert (after["state"], after["approvals"], after["counted_approvers"]) == (
        "pending", 1, ["choi"])
    assert after["voided_notice"].startswith(
        "approvals before the change of the portions' levels or markings on ")
    assert "no longer count (park)" in after["voided_notice"]
    voided = [r for r in kor.get("admin", "/api/audit", params={"limit": 1000}).json()
              if r["action"] == "release.approvals_voided"]
    assert [v["details"]["voided"] for v in voided] == [["park"]]
    assert approve(kor, "park", req["id"])["state"] == "released"


def test_a_request_cannot_be_backdated(kor: NodeUnderTest) -> None:
    """The issue: a release "on 2003-06-01" was approved under an agreement long ended.
    A request naming a date is refused with 422 and stores nothing; the what-if date
    stays in the release check."""
    assert kor.post("kim", "/api/items", json=item("R3", "군사III급비밀")).status_code == 201
    before = len(kor.get("admin", "/api/audit", params={"limit": 1000}).json())
    for on in ("2003-06-01", "2019-11-23", "tomorrow"):
        r = kor.post("lee", "/api/releases", json={"item_id": "R3", "recipient": "USA",
                                                   "purpose": "x", "on": on})
        assert r.status_code == 422, r.text
        assert "node's clock" in r.text and "release-check" in r.text
    assert kor.get("lee", "/api/releases").json() == []
    assert len(kor.get("admin", "/api/audit", params={"limit": 1000}).json()) == before
    check = kor.get("lee", "/api/items/R3/release-check",
                    params={"to": "JPN", "at": "2003-06-01"}).json()
    assert check["outcome"] == "denied" and check["at"] == "2003-06-01"
    assert given(kor) == 0
