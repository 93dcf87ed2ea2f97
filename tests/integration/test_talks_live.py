"""The talks' live WebSocket on a real node (SQLite, the app through ASGI): who it lets in,
the close codes the page acts on (4401 sign in, 4403 not a delegate, 4404 no such talks,
4409 the call is not open), error frames for bad input, and the session re-checked while
the call runs. The partner's acceptance is applied as the inbox would apply it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from liaison.api import routes_talks
from liaison.cli.demo.talks import MOU, TALKS
from liaison.config import Settings
from liaison.services import auth, talks

from .node_fixtures import PASSWORD, NodeUnderTest, start_node

DELEGATES = {"chun": "Chun Hae-sung", "seo": ""}  # seo: the talks team, not on the delegation


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeUnderTest]:
    for n in start_node(Settings(data_dir=tmp_path_factory.mktemp("talks-live") / "kor")):
        assert n.post("admin", "/api/agreements", json=MOU).status_code == 201
        for name, shown in DELEGATES.items():
            r = n.post("admin", "/api/users", json={
                "username": name, "display_name": shown, "roles": ["delegate"],
                "clearance": "평문", "password": PASSWORD})
            assert r.status_code == 201, r.text
            r = n.client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
            n.tokens[name] = r.json()["token"]
        yield n


def proposed(node: NodeUnderTest) -> str:
    r = node.post("chun", "/api/talks", json=TALKS)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def accepted(node: NodeUnderTest) -> str:
    tid = proposed(node)
    deps = node.client.app.state.deps  # type: ignore[attr-defined]
    with deps.uow() as uow:  # PRK's acceptance, as the inbox applies it
        assert talks.apply_talks(uow, deps, "PRK", {"action": "accept", "talks_id": tid,
                                                     "version": 1}) is None
        uow.commit()
    return tid


def live(node: NodeUnderTest, tid: str, user: str) -> Any:
    token = node.tokens.get(user, user)
    return node.client.websocket_connect(f"/api/talks/{tid}/live?token={token}")


def closed(node: NodeUnderTest, tid: str, user: str,
           script: Callable[[WebSocketTestSession], None] = lambda _: None) -> tuple[int, str]:
    """Run ``script`` on the call, then read until the node closes it: its code and
    reason."""
    with pytest.raises(WebSocketDisconnect) as exc:
        _drive(live(node, tid, user), script)
    return exc.value.code, exc.value.reason


def _drive(connection: Any, script: Callable[[WebSocketTestSession], None]) -> None:
    with connection as ws:
        script(ws)
        for _ in range(20):
            ws.receive_json()


def until(ws: WebSocketTestSession, kind: str) -> dict[str, Any]:
    for _ in range(20):
        frame: dict[str, Any] = ws.receive_json()
        if frame["type"] == kind:
            return frame
    raise AssertionError(f"no {kind} frame")


def test_the_call_refuses_with_a_code_the_page_acts_on(node: NodeUnderTest) -> None:
    tid = proposed(node)
    assert closed(node, "nope", "chun") == (4404, "no talks nope here")
    assert closed(node, tid, "lsn_forged")[0] == 4401
    code, reason = closed(node, tid, "chun")
    assert (code, reason) == (4409, f"talks {tid} are proposed: only accepted talks can be "
                                    "joined")
    tid = accepted(node)
    assert closed(node, tid, "seo") == (4403, "you are not on KOR's delegation for these "
                                              "talks (signed in as seo)")
    assert closed(node, tid, "yoon")[0] == 4403  # a watch officer: not the talks team
    # seo still sees the talks and their record (the talks team)
    assert node.get("seo", f"/api/talks/{tid}").json()["state"] == "accepted"
    assert node.get("seo", f"/api/talks/{tid}/record").json() == []


def test_bad_frames_get_an_error_frame_and_the_call_goes_on_until_it_ends(
        node: NodeUnderTest) -> None:
    tid = accepted(node)

    def script(ws: WebSocketTestSession) -> None:
        assert ws.receive_json()["type"] == "hello"
        ws.send_text("hello?")
        assert ws.receive_json()["message"].startswith("not JSON (Expecting value at "
                                                       "character 0)")
        ws.send_bytes(b"\x00")
        assert "binary frames are not read" in ws.receive_json()["message"]
        ws.send_json(["join"])
        assert ws.receive_json()["message"].startswith("unexpected message None")
        ws.send_json({"type": "signal", "to": "PRK:jon", "data": {}})
        assert "join the call first" in ws.receive_json()["message"]
        ws.send_json({"type": "chat", "text": "x" * 2001})
        assert ws.receive_json() == {"type": "error", "message": (
            "a chat message is at most 2,000 characters; this one is 2,001: split it")}
        ws.send_json({"type": "chat", "text": " "})
        assert ws.receive_json()["message"] == "a chat message needs some text"
        ws.send_json({"type": "join"})
        roster = until(ws, "roster")["roster"]
        assert [(p["id"], p["name"]) for p in roster] == [("KOR:chun", "Chun Hae-sung")]
        ws.send_json({"type": "chat", "text": "x" * 2000})
        assert until(ws, "chat")["text"] == "x" * 2000
        # either side ends the talks: the call closes (the page shows why, no sign-in)
        r = node.post("seo", f"/api/talks/{tid}/answer", json={"action": "end"})
        assert r.status_code == 200 and r.json()["state"] == "ended", r.text

    assert closed(node, tid, "chun", script) == (
        4409, f"talks {tid} are ended by KOR: only accepted talks can be joined")
    assert closed(node, tid, "chun")[0] == 4409
    record = node.get("chun", f"/api/talks/{tid}/record").json()
    assert [(r["kind"], r.get("action") or len(r["text"])) for r in record] == [
        ("presence", "join"), ("chat", 2000), ("presence", "leave")]


def test_a_revoked_session_closes_the_call(node: NodeUnderTest,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes_talks, "SESSION_CHECK_S", 0.2)
    tid = accepted(node)
    deps = node.client.app.state.deps  # type: ignore[attr-defined]
    token, _ = auth.issue_token(deps, "chun", "session", "revoked", timedelta(hours=1))

    def script(ws: WebSocketTestSession) -> None:
        assert ws.receive_json()["type"] == "hello"
        assert node.client.post("/api/auth/logout", headers={
            "Authorization": f"Bearer {token}"}).status_code == 200

    assert closed(node, tid, token, script) == (
        4401, "missing, unknown or revoked token: sign in again")


def test_the_call_closes_when_the_session_expires(node: NodeUnderTest) -> None:
    """Not at the next periodic check (30 s): at the session's expiry."""
    tid = accepted(node)
    deps = node.client.app.state.deps  # type: ignore[attr-defined]
    token, _ = auth.issue_token(deps, "chun", "session", "short", timedelta(seconds=1))

    def hello(ws: WebSocketTestSession) -> None:
        assert ws.receive_json()["type"] == "hello"

    assert closed(node, tid, token, hello) == (4401, "the session has expired: sign in again")


def test_a_join_carries_the_state_and_the_offers_in_one_message(node: NodeUnderTest) -> None:
    """The page joins with its state and an offer to whoever is in already; a join whose
    signals are malformed is refused whole (an error frame, not joined)."""
    tid = accepted(node)
    deps = node.client.app.state.deps  # type: ignore[attr-defined]
    offer = {"to": "PRK:jon", "data": {"sdp": {"type": "offer", "sdp": "v=0"}}}

    def script(ws: WebSocketTestSession) -> None:
        assert ws.receive_json()["type"] == "hello"
        ws.send_json({"type": "join", "signals": "offer"})
        assert ws.receive_json()["message"].startswith("signals: a list of")
        ws.send_json({"type": "join", "signals": [{**offer, "to": "KOR:seo"}]})
        assert "signals go to PRK's participants" in ws.receive_json()["message"]
        ws.send_json({"type": "signal", **offer})
        assert "join the call first" in ws.receive_json()["message"]
        assert talks.live_state(deps, tid, 0)[0] == []
        ws.send_json({"type": "join", "muted": True, "camera": False, "signals": [offer]})
        me = until(ws, "roster")["roster"][0]
        assert (me["id"], me["muted"], me["camera"], me["hand"]) == ("KOR:chun", True, False,
                                                                     False)
        events = talks.live_state(deps, tid, 0)[0]
        assert [(e[1], e[3].get("action") or e[3]["to"]) for e in events] == [
            ("presence", "join"), ("signal", "PRK:jon")]
        r = node.post("seo", f"/api/talks/{tid}/answer", json={"action": "end"})
        assert r.status_code == 200, r.text

    assert closed(node, tid, "chun", script)[0] == 4409
