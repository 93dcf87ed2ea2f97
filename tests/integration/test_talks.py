"""Talks between two real node processes: the proposal crosses, is amended and accepted;
both sides edit the minutes and sign them with their node keys; once sealed they cannot
change, and each side verifies the other's signature. Only the delegates the accepted
proposal names join the call; ending the talks reaches the other side."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from liaison.cli.demo.talks import MOU, TALKS

from .node_fixtures import PASSWORD
from .processes import trusting_pair, wait_for


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with trusting_pair(tmp_path_factory.mktemp("talks"), "KOR", "PRK") as (kor, prk):
        tokens = {}
        for node, name, level in ((kor, "chun", "평문"), (prk, "jon", "일반")):
            node.call("POST", "/api/agreements", json=MOU)
            # the delegations name "Chun Hae-sung" and "Jon Jong-su": their display names
            shown = TALKS["delegations"][node.party][0]
            node.call("POST", "/api/users", json={
                "username": name, "display_name": shown, "roles": ["delegate"],
                "clearance": level, "password": PASSWORD})
            tokens[node.party] = node.login(name)
        kor.call("POST", "/api/users", json={"username": "seo", "roles": ["delegate"],
                                             "clearance": "평문", "password": PASSWORD})
        tokens["seo"] = kor.login("seo")  # the talks team, named in no delegation
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
        "agreed": ["Keep the communication lines open"], "revision": 0})
    wait_for(lambda: (prk.call("GET", f"/api/talks/{t['id']}", tok["PRK"])["minutes"] or {})
             .get("revision") == 2, what="KOR's draft at PRK")
    stale = prk.call_raw("POST", f"/api/talks/{t['id']}/minutes", tok["PRK"], json={
        "outcomes": {"a4": "Concern noted"}, "revision": 1})
    assert stale.status_code == 409 and stale.json()["error"]["message"] == (
        "the minutes changed (now revision 2); reload and edit again")
    prk.call("POST", f"/api/talks/{t['id']}/minutes", tok["PRK"], json={
        "outcomes": {"a4": "Concern noted"}, "sign": True, "revision": 2})
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


async def _closed(node: Any, talks_id: str, token: str) -> tuple[int, str]:
    import websockets
    url = f"ws://127.0.0.1:{node.port}/api/talks/{talks_id}/live?token={token}"
    async with websockets.connect(url) as ws:
        try:
            await asyncio.wait_for(ws.recv(), 30)
        except websockets.exceptions.ConnectionClosed as exc:
            return (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (0, "no close frame")
    raise AssertionError("the call was not closed")


def test_only_named_delegates_join_and_either_side_ends_the_talks(
        pair: dict[str, Any]) -> None:
    kor, prk, tok = pair["KOR"], pair["PRK"], pair["tokens"]
    t = kor.call("POST", "/api/talks", tok["KOR"], json=TALKS)
    wait_for(lambda: prk.call_raw("GET", f"/api/talks/{t['id']}", tok["PRK"]).status_code
             == 200, what="the proposal at PRK")
    assert asyncio.run(_closed(kor, t["id"], tok["KOR"]))[0] == 4409  # not accepted yet
    prk.call("POST", f"/api/talks/{t['id']}/answer", tok["PRK"], json={"action": "accept"})
    wait_for(lambda: kor.call("GET", f"/api/talks/{t['id']}", tok["KOR"])["state"]
             == "accepted", what="the acceptance at KOR")
    assert asyncio.run(_closed(kor, t["id"], tok["seo"])) == (
        4403, "you are not on KOR's delegation for these talks (signed in as seo)")
    assert asyncio.run(_closed(kor, "nope", tok["KOR"])) == (4404, "no talks nope here")
    assert asyncio.run(_closed(kor, t["id"], "lsn_forged"))[0] == 4401
    ended = kor.call("POST", f"/api/talks/{t['id']}/answer", tok["seo"],
                     json={"action": "end", "reason": "The agenda is exhausted."})
    assert (ended["state"], ended["answered_by"]) == ("ended", "KOR")
    wait_for(lambda: prk.call("GET", f"/api/talks/{t['id']}", tok["PRK"])["state"]
             == "ended", what="the end at PRK")
    code, reason = asyncio.run(_closed(prk, t["id"], tok["PRK"]))
    assert (code, reason) == (4409, f"talks {t['id']} are ended by KOR: only accepted talks "
                                    "can be joined")
