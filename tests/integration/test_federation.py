"""Nodes exchange with partners: real node processes on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from .node_fixtures import PASSWORD
from .processes import NodeProcess, wait_for

STAFF = {"kim": ["analyst"], "lee": ["release_officer"], "park": ["reviewer"],
         "choi": ["reviewer"]}


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    kor, jpn = NodeProcess("KOR", tmp_path), NodeProcess("JPN", tmp_path)
    try:
        prints = {n.party: n.init() for n in (kor, jpn)}
        for node in (kor, jpn):
            node.start()
            node.login()
        kor.trust(jpn, prints["JPN"])
        jpn.trust(kor, prints["KOR"])
        for name, roles in STAFF.items():
            kor.call("POST", "/api/users", json={"username": name, "roles": roles,
                                                 "clearance": "군사I급비밀", "password": PASSWORD})
        yield kor, jpn
    finally:
        for node in (kor, jpn):
            node.stop()


def label(level: str, **kw: object) -> dict[str, object]:
    return {"policy": "KOR", "classification": level, "originator": "KOR",
            "created": "2026-01-05T00:00:00Z", **kw}


ITEM = {"id": "R1", "discipline": "IMINT", "topic": "DPRK/missile", "grade": "A2",
        "title": "TEL at Sunchon", "reported_at": "2026-01-05T00:00:00Z",
        "portions": [{"id": "p1", "content": "TEL sighted", "label": label(
            "군사II급비밀", rel_to=["JPN", "USA"])},
                     {"id": "p2", "content": "source", "label": label("군사I급비밀",
                                                                      rel_to=["USA"])}]}


def release(kor: NodeProcess, item: dict[str, object], to: str) -> dict[str, object]:
    tokens = {n: kor.login(n) for n in STAFF}
    kor.call("POST", "/api/items", tokens["kim"], json=item)
    req = kor.call("POST", "/api/releases", tokens["lee"], json={
        "item_id": item["id"], "recipient": to, "purpose": "early warning"})
    for reviewer in ("park", "choi"):
        req = kor.call("POST", f"/api/releases/{req['id']}/reviews", tokens[reviewer],
                       json={"approve": True})
    assert req["state"] == "released", req
    return dict(req)


def test_release_is_delivered_remarked_and_receipted(pair: tuple[NodeProcess,
                                                                 NodeProcess]) -> None:
    """docs/rules.md#exactly-once and docs/rules.md#receiver-marks: a release arrives once,
    re-marked with the originator's name and the receiver's own level; both sides record it."""
    kor, jpn = pair
    release(kor, ITEM, "JPN")
    got = wait_for(lambda: _item(jpn, "R1@KOR"), what="delivery to JPN")
    assert [p["id"] for p in got["portions"]] == ["p1"]
    lab = got["portions"][0]["label"]
    assert (lab["policy"], lab["classification"], lab["originator"]) == ("JPN", "極秘", "KOR")
    assert got["portions"][0]["mark"].startswith("(極//")
    wait_for(lambda: kor.call("GET", "/api/outbox")["JPN"]["delivered"] == 1,
             what="receipt at KOR")
    kor_ledger = kor.call("GET", "/api/ledger", kor.login("lee"))["balances"]
    jpn_ledger = jpn.call("GET", "/api/ledger")["balances"]
    kor_side, jpn_side = kor_ledger["KOR-JPN-GSOMIA"], jpn_ledger["KOR-JPN-GSOMIA"]
    assert (kor_side["given"], jpn_side["received"]) == (1, 1)  # both sides agree
    assert kor_side["by_level"]["SECRET"]["given"] == jpn_side["by_level"]["SECRET"]["received"]
    actions = {r["action"] for r in jpn.call("GET", "/api/audit", params={"limit": 1000})}
    assert "envelope.received" in actions
    assert "envelope.receipted" in {r["action"] for r in
                                    kor.call("GET", "/api/audit", params={"limit": 1000})}


def _item(node: NodeProcess, item_id: str) -> dict[str, object] | None:
    try:
        return dict(node.call("GET", f"/api/items/{item_id}"))
    except AssertionError:
        return None


def test_onward_release_of_received_information_needs_the_originators_consent(
        pair: tuple[NodeProcess, NodeProcess]) -> None:
    """docs/rules.md#consent: what JPN received from KOR may not go to the USA without KOR's
    written consent."""
    kor, jpn = pair
    release(kor, ITEM, "JPN")
    wait_for(lambda: _item(jpn, "R1@KOR"), what="delivery")
    jpn.call("POST", "/api/users", json={"username": "sato", "roles": ["release_officer"],
                                         "clearance": "特定秘密", "password": PASSWORD})
    d = jpn.call("GET", "/api/items/R1@KOR/release-check", jpn.login("sato"),
                 params={"to": "USA"})
    assert d["outcome"] == "held"
    assert "originated by KOR" in " ".join(r["text"] for r in d["reasons"])


def test_consent_round_trip(pair: tuple[NodeProcess, NodeProcess]) -> None:
    """docs/rules.md#consent across nodes: JPN asks KOR; KOR's signed grant lets the portion
    pass."""
    kor, jpn = pair
    release(kor, ITEM, "JPN")
    wait_for(lambda: _item(jpn, "R1@KOR"), what="delivery")
    jpn.call("POST", "/api/users", json={"username": "sato", "roles": ["release_officer"],
                                         "clearance": "特定秘密", "password": PASSWORD})
    sato = jpn.login("sato")
    asked = jpn.call("POST", "/api/consent-requests", sato, json={
        "item_id": "R1@KOR", "recipient": "USA", "purpose": "trilateral warning"})
    lee = kor.login("lee")
    incoming = wait_for(lambda: kor.call("GET", "/api/consent-requests", lee,
                                         params={"direction": "incoming"}), what="request")
    assert incoming[0]["id"] == asked["id"]
    assert incoming[0]["item_id"] == "R1"
    kor.call("POST", f"/api/consent-requests/{asked['id']}/answer", lee,
             json={"grant": True, "reason": "approved by J2"})
    wait_for(lambda: jpn.call("GET", "/api/consent-requests", sato)[0]["state"] == "granted",
             what="answer")
    d = jpn.call("GET", "/api/items/R1@KOR/release-check", sato,
                 params={"to": "USA", "purpose": "trilateral warning"})
    assert d["outcome"] == "allowed"
    assert "written consent naming USA" in " ".join(r["text"] for r in d["reasons"])


def test_rfi_round_trip(pair: tuple[NodeProcess, NodeProcess]) -> None:
    """32 CFR 117.19: an RFI commits no one; it is answered or declined with a reason."""
    kor, jpn = pair
    jpn.call("POST", "/api/users", json={"username": "sato", "roles": ["release_officer"],
                                         "clearance": "特定秘密", "password": PASSWORD})
    sato = jpn.login("sato")
    rfi = jpn.call("POST", "/api/rfis", sato, json={
        "to": "KOR", "topic": "DPRK/missile", "event": "launch 2026-01-05",
        "priority": "urgent", "deadline": "2099-01-01T00:00:00Z", "purpose": "warning"})
    lee = kor.login("lee")
    got = wait_for(lambda: kor.call("GET", "/api/rfis", lee), what="RFI at KOR")
    assert (got[0]["id"], got[0]["priority"], got[0]["state"]) == (rfi["id"], "urgent", "open")
    kor.call("POST", f"/api/rfis/{rfi['id']}/answer", lee,
             json={"answer": "declined", "reason": "no collection on that event"})
    done = wait_for(lambda: (r := jpn.call("GET", "/api/rfis", sato)[0])["state"] != "open"
                    and r, what="answer at JPN")
    assert done["state"] == "declined"
    assert done["reason"] == "no collection on that event"


def test_termination_note_updates_the_partner(pair: tuple[NodeProcess, NodeProcess]) -> None:
    """docs/rules.md#own-acts: notices are signed notes that update the agreement on both sides."""
    kor, jpn = pair
    today = datetime.now(UTC).date().isoformat()  # a note from the future is refused
    kor.call("POST", "/api/agreements/KOR-JPN-GSOMIA/notes",
             json={"kind": "NOTICE_GIVEN", "date": today, "note": "non-renewal"})

    def jpn_state() -> str:
        a = jpn.call("GET", "/api/agreements/KOR-JPN-GSOMIA", params={"at": today})
        return str(a["status"]["state"])

    wait_for(lambda: jpn_state() == "NOTICE_GIVEN", what="note at JPN")
    last = jpn.call("GET", "/api/agreements/KOR-JPN-GSOMIA")["events"][-1]
    assert (last["kind"], last["by"]) == ("NOTICE_GIVEN", "KOR")


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess, NodeProcess]]:
    nodes = [NodeProcess(p, tmp_path) for p in ("KOR", "USA", "JPN")]
    try:
        prints = {n.party: n.init() for n in nodes}
        for node in nodes:
            node.start()
            node.login()
        for a in nodes:
            for b in nodes:
                if a is not b:
                    a.trust(b, prints[b.party])
        for name, roles in STAFF.items():
            nodes[0].call("POST", "/api/users", json={"username": name, "roles": roles,
                                                      "clearance": "군사I급비밀",
                                                      "password": PASSWORD})
        yield nodes[0], nodes[1], nodes[2]
    finally:
        for node in nodes:
            node.stop()


def test_tisa_relay_through_the_us_hub(trio: tuple[NodeProcess, NodeProcess,
                                                   NodeProcess]) -> None:
    """docs/rules.md#hub-relay: with no KOR–JPN GSOMIA in force (as in 2015; here KOR records
    its termination today, since a release is decided on the node's clock), KOR → JPN goes
    under TISA through the US hub, which forwards within scope; JPN records KOR as the
    originator."""
    kor, usa, jpn = trio
    tokens = {n: kor.login(n) for n in STAFF}
    kor.call("POST", "/api/items", tokens["kim"], json=ITEM)
    today = datetime.now(UTC).date().isoformat()
    kor.call("POST", "/api/agreements/KOR-JPN-GSOMIA/events", json={
        "kind": "TERMINATED", "date": today, "by": "KOR"})
    req = kor.call("POST", "/api/releases", tokens["lee"], json={
        "item_id": "R1", "recipient": "JPN", "purpose": "TISA warning"})
    assert req["decision"]["route"] == ["USA"]
    for reviewer in ("park", "choi"):
        req = kor.call("POST", f"/api/releases/{req['id']}/reviews", tokens[reviewer],
                       json={"approve": True})
    assert req["state"] == "released"
    got = wait_for(lambda: _item(jpn, "R1@KOR"), what="relayed delivery at JPN")
    lab = got["portions"][0]["label"]
    assert (lab["originator"], lab["classification"]) == ("KOR", "極秘")
    relayed = [r for r in usa.call("GET", "/api/audit", params={"limit": 1000})
               if r["action"] == "release.relayed"]
    assert relayed
    assert _item(usa, "R1@KOR") is None  # the hub forwards; it keeps no copy
    audit = jpn.call("GET", "/api/audit", params={"limit": 1000})
    assert any(r["action"] == "envelope.received" for r in audit)
    # Issue 17: JPN took it on KOR's own signature, checked against KOR's pinned card.
    got_it = [r["details"] for r in audit if r["action"] == "release.received"]
    assert got_it == [{"from": "USA", "origin": "KOR", "agreement": "TISA-2014",
                       "origin_signed": True}]
    booked = jpn.call("GET", "/api/ledger")["balances"]["TISA-2014"]
    assert booked["received"] == 1


def test_regrade_compromise_and_destruction_travel_back(
        pair: tuple[NodeProcess, NodeProcess]) -> None:
    """docs/rules.md#level-change: the originator's level change re-marks the copy;
    docs/rules.md#compromise and docs/rules.md#disposal: compromise and destruction are reported to
    the originator."""
    kor, jpn = pair
    release(kor, ITEM, "JPN")
    wait_for(lambda: _item(jpn, "R1@KOR"), what="delivery")
    lee = kor.login("lee")
    kor.call("POST", "/api/items/R1/regrade", lee, json={
        "portion_id": "p1", "level": "군사III급비밀", "reason": "source protected"})

    def jpn_level() -> str:
        got = _item(jpn, "R1@KOR") or {}
        return str(got["portions"][0]["label"]["classification"]) if got else ""

    wait_for(lambda: jpn_level() == "秘", what="re-marked copy at JPN")
    jpn.call("POST", "/api/users", json={"username": "sato", "roles": ["release_officer"],
                                         "clearance": "特定秘密", "password": PASSWORD})
    sato = jpn.login("sato")
    jpn.call("POST", "/api/items/R1@KOR/reports", sato, json={
        "kind": "compromise", "description": "laptop lost in transit",
        "measures": "investigation opened"})
    jpn.call("POST", "/api/items/R1@KOR/reports", sato, json={
        "kind": "destruction", "description": "no longer needed",
        "measures": "shredded, witness Tanaka"})
    assert _item(jpn, "R1@KOR") is None
    got = wait_for(lambda: len(r := kor.call("GET", "/api/reports", lee)) == 2 and r,
                   what="reports at KOR")
    assert {r["kind"] for r in got} == {"compromise", "destruction"}
    assert {r["item_id"] for r in got} == {"R1"}
