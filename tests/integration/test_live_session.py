"""Live sockets re-check their session (``liaison.api.live_session``) on a real node
(SQLite, the app through ASGI): the tracks feed, the track ingest socket and the hotline
close with 4401 and the reason within the re-check interval once the session is revoked,
the user disabled or the session expired, and with 4412 (reconnect) when the user's roles
change; a refused token gets the code, not a bare handshake failure."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from liaison.api import live_session
from liaison.config import Settings
from liaison.domain.users import Role
from liaison.services import auth

from .node_fixtures import PASSWORD, NodeUnderTest, start_node

CHANNEL = "KOR-CHN-HOTLINE-MOU"
RECHECK_S = 0.2
REVOKED = "missing, unknown or revoked token: sign in again"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeUnderTest]:
    for n in start_node(Settings(data_dir=tmp_path_factory.mktemp("live") / "kor")):
        n.client.app.state.live_recheck_s = RECHECK_S  # type: ignore[attr-defined]
        r = n.post("admin", "/api/hotline", json={"agreement_id": CHANNEL, "times": ["09:00"],
                                                  "tz": "Asia/Seoul"})
        assert r.status_code == 201, r.text
        yield n


def session(node: NodeUnderTest, user: str, *, roles: list[str] | None = None) -> str:
    """A fresh session token of ``user`` (as a sign-in issues; sign-ins are throttled),
    created first with ``roles`` when given."""
    if roles is not None:
        r = node.post("admin", "/api/users", json={"username": user, "roles": roles,
                                                   "clearance": "군사II급비밀",
                                                   "password": PASSWORD})
        assert r.status_code == 201, r.text
    deps = node.client.app.state.deps  # type: ignore[attr-defined]
    token, _ = auth.issue_token(deps, user, "session", "login", timedelta(hours=1))
    return token


def drain(ws: Any) -> None:
    while True:
        ws.receive_json()


def closed(ws: Any, end: Any) -> tuple[int, str, float]:
    """Call ``end()``, then read until the node closes the socket: code, reason, seconds.
    A socket still open after 10 s fails the test (it is closed from here then)."""
    watchdog = threading.Timer(10, ws.close)
    watchdog.start()
    try:
        end()
        began = time.monotonic()
        with pytest.raises(WebSocketDisconnect) as exc:
            drain(ws)
    finally:
        watchdog.cancel()
    took = time.monotonic() - began
    assert took < 9, "the socket stayed open"
    return exc.value.code, exc.value.reason, took


def test_a_revoked_session_closes_the_tracks_feed(node: NodeUnderTest) -> None:
    token = session(node, "yoon")
    with node.client.websocket_connect(f"/api/tracks/live?token={token}") as ws:
        assert ws.receive_json()["type"] == "snapshot"
        code, reason, took = closed(ws, lambda: node.client.post(
            "/api/auth/logout", headers={"Authorization": f"Bearer {token}"}))
    assert (code, reason) == (4401, REVOKED)
    assert took < RECHECK_S * 10
    print(f"\ntracks feed closed {took:.2f} s after sign-out (re-check every {RECHECK_S} s)")


def test_a_revoked_session_closes_the_ingest_socket(node: NodeUnderTest) -> None:
    # a feed within the watch officer's clearance: one it may not write into is refused
    # when the socket opens (issue 18), before any session check could be seen
    r = node.post("admin", "/api/tracks/feeds", json={
        "name": "watch-notes", "title": "watch floor notes", "topic": "DPRK/missile",
        "discipline": "OSINT", "label": {"policy": "KOR", "classification": "평문",
                                         "originator": "KOR",
                                         "created": "2026-01-01T00:00:00+00:00"}})
    assert r.status_code in (200, 201), r.text
    token = session(node, "yoon")
    with node.client.websocket_connect(
            f"/api/tracks/ingest/ws?feed=watch-notes&token={token}") as ws:
        ws.send_text("[]")
        assert ws.receive_json()["accepted"] == 0
        code, reason, _ = closed(ws, lambda: node.client.post(
            "/api/auth/logout", headers={"Authorization": f"Bearer {token}"}))
    assert (code, reason) == (4401, REVOKED)


def test_a_disabled_user_is_cut_off_the_hotline(node: NodeUnderTest) -> None:
    token = session(node, "watch2", roles=["watch_officer"])
    with node.client.websocket_connect(f"/api/hotline/{CHANNEL}/live?token={token}") as ws:
        assert ws.receive_json()["status"]["state"]
        code, reason, _ = closed(ws, lambda: node.post("admin", "/api/users/watch2/disable"))
    assert (code, reason) == (4401, REVOKED)


def test_the_hotline_closes_when_the_session_expires(node: NodeUnderTest) -> None:
    deps = node.client.app.state.deps  # type: ignore[attr-defined]
    token, _ = auth.issue_token(deps, "yoon", "session", "short", timedelta(seconds=1))
    node.client.app.state.live_recheck_s = 30.0  # type: ignore[attr-defined]
    try:  # the expiry itself, not the periodic re-check, closes it
        with node.client.websocket_connect(
                f"/api/hotline/{CHANNEL}/live?token={token}") as ws:
            assert ws.receive_json()["status"]["state"]
            code, reason, took = closed(ws, lambda: None)
    finally:
        node.client.app.state.live_recheck_s = RECHECK_S  # type: ignore[attr-defined]
    assert (code, reason) == (4401, "the session has expired: sign in again")
    assert took < 3


def test_changed_roles_close_the_feed_to_reconnect(node: NodeUnderTest) -> None:
    token = session(node, "watch3", roles=["watch_officer"])
    deps = node.client.app.state.deps  # type: ignore[attr-defined]

    def promote() -> None:  # as an administrator's change of the account would
        with deps.uow() as uow:
            user = uow.users.get("watch3")
            uow.users.update(replace(user, roles=frozenset({Role.WATCH_OFFICER,
                                                            Role.ANALYST})))
            uow.commit()

    with node.client.websocket_connect(f"/api/tracks/live?token={token}") as ws:
        assert ws.receive_json()["type"] == "snapshot"
        code, reason, _ = closed(ws, promote)
    assert (code, reason) == (live_session.CHANGED,
                              "your roles or clearance changed: reconnect")
    with node.client.websocket_connect(f"/api/tracks/live?token={token}") as ws:
        assert ws.receive_json()["type"] == "snapshot"  # the session itself is still good


@pytest.mark.parametrize("path", ["/api/tracks/live", f"/api/hotline/{CHANNEL}/live",
                                  "/api/tracks/ingest/ws?feed=x"])
def test_a_refused_token_gets_4401_and_the_reason(node: NodeUnderTest, path: str) -> None:
    sep = "&" if "?" in path else "?"
    with node.client.websocket_connect(f"{path}{sep}token=lsn_forged") as ws, \
            pytest.raises(WebSocketDisconnect) as exc:
        ws.receive_json()
    assert (exc.value.code, exc.value.reason) == (live_session.ENDED, REVOKED)


def test_a_channel_not_for_the_user_gets_4403(node: NodeUnderTest) -> None:
    with node.client.websocket_connect(
            f"/api/hotline/{CHANNEL}/live?token={node.tokens['kim']}") as ws, \
            pytest.raises(WebSocketDisconnect) as exc:
        ws.receive_json()
    assert exc.value.code == 4403
