"""Talks between two real node processes: the proposal crosses, is amended and accepted;
both sides edit the minutes and sign them with their node keys; once sealed they cannot
change, and each side verifies the other's signature."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from liaison.cli.demo_talks import MOU, TALKS

from .node_fixtures import PASSWORD
from .processes import trusting_pair, wait_for


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with trusting_pair(tmp_path_factory.mktemp("talks"), "KOR", "PRK") as (kor, prk):
        tokens = {}
        for node, name, level in ((kor, "chun", "평문"), (prk, "jon", "일반")):
            node.call("POST", "/api/agreements", json=MOU)
            node.call("POST", "/api/users", json={"username": name, "roles": ["delegate"],
                                                  "clearance": level, "password": PASSWORD})
            tokens[node.party] = node.login(name)
        yield {"KOR": kor, "PRK": prk, "tokens": tokens}


def test_proposal_amendment_acceptance_and_signed_minutes(pair: dict[str, Any]) -> None:
    kor, prk, tok = pair["KOR"], pair["PRK"], pair["tokens"]
    t = kor.call("POST", "/api/talks", tok["KOR"], json=TALKS)
    wait_for(lambda: prk.call_raw("GET", f"/api/talks/{t['id']}", tok["PRK"]).status_code
             == 200, what="the proposal at PRK")
    counter = {**{k: v for k, v in TALKS.items() if k != "counterpart"},
               "agenda": [*TALKS["agenda"],
                          {"id": "a4", "kind": "concerns", "title": "Leaflet launches"}]}
    prk.call("POST", f"/api/talks/{t['id']}/answer", tok["PRK"],
             json={"action": "amend", "proposal": counter})
    wait_for(lambda: kor.call("GET", f"/api/talks/{t['id']}", tok["KOR"])["current"][
        "version"] == 2, what="PRK's amendment at KOR")
    stale = kor.call_raw("POST", f"/api/talks/{t['id']}/answer", tok["KOR"],
                         json={"action": "accept", "version": 1})
    assert stale.status_code == 409 and "version 2" in stale.json()["error"]["message"]
    kor.call("POST", f"/api/talks/{t['id']}/answer", tok["KOR"],
             json={"action": "accept", "version": 2})
    wait_for(lambda: prk.call("GET", f"/api/talks/{t['id']}", tok["PRK"])["state"]
             == "accepted", what="the acceptance at PRK")

    kor.call("POST", f"/api/talks/{t['id']}/minutes", tok["KOR"], json={
        "outcomes": {"a1": "Lines tested daily at 09:00 and 17:00"},
        "agreed": ["Keep the communication lines open"]})
    wait_for(lambda: (prk.call("GET", f"/api/talks/{t['id']}", tok["PRK"])["minutes"] or {})
             .get("revision") == 2, what="KOR's draft at PRK")
    prk.call("POST", f"/api/talks/{t['id']}/minutes", tok["PRK"], json={
        "outcomes": {"a4": "Concern noted"}, "sign": True})
    wait_for(lambda: "PRK" in ((kor.call("GET", f"/api/talks/{t['id']}", tok["KOR"])[
        "minutes"] or {}).get("signatures") or {}), what="PRK's signature at KOR")
    sealed = kor.call("POST", f"/api/talks/{t['id']}/minutes", tok["KOR"], json={"sign": True})
    assert sealed["minutes_sealed"]
    wait_for(lambda: prk.call("GET", f"/api/talks/{t['id']}", tok["PRK"])["minutes_sealed"],
             what="the sealed minutes at PRK")
    for node, party in ((kor, "KOR"), (prk, "PRK")):
        assert node.call("GET", f"/api/talks/{t['id']}/minutes/verify", tok[party]) == {
            "KOR": "verified", "PRK": "verified"}
    frozen = prk.call_raw("POST", f"/api/talks/{t['id']}/minutes", tok["PRK"],
                          json={"agreed": ["Something else"]})
    assert frozen.status_code == 409 and "cannot change" in frozen.json()["error"]["message"]


def test_talks_need_an_mou_in_force_that_opens_them(pair: dict[str, Any]) -> None:
    kor, tok = pair["KOR"], pair["tokens"]
    r = kor.call_raw("POST", "/api/talks", tok["KOR"], json={**TALKS, "counterpart": "CHN"})
    assert r.status_code == 409 and "opens talks" in r.json()["error"]["message"]
    bad = kor.call_raw("POST", "/api/talks", tok["KOR"], json={**TALKS, "tz": "Mars/Olympus"})
    assert bad.status_code == 422 and "tz" in bad.json()["error"]["message"]
