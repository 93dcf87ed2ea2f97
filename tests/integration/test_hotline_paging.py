"""A long hotline on a real node (SQLite and PostgreSQL, the API through ASGI): the REST
view and the transcript page the line, every entry exactly once; the watch socket sends
a snapshot of the latest page, then only what changed (a new entry, an acknowledgement
updating its entry in place, an overdue flag turning), never the history again."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from liaison.services import hotline
from liaison.services.context import Deps

from .node_fixtures import NodeUnderTest

CHANNEL = "KOR-CHN-HOTLINE-MOU"
LIVE = f"/api/hotline/{CHANNEL}/live?token="


def open_line(kor: NodeUnderTest) -> Deps:
    r = kor.post("admin", "/api/hotline", json={"agreement_id": CHANNEL, "times": ["09:00"],
                                                "tz": "Asia/Seoul"})
    assert r.status_code == 201, r.text
    return kor.client.app.state.deps  # type: ignore[attr-defined,no-any-return]


def receive(deps: Deps, seq: int, precedence: str, text: str,
            sent_at: datetime | None = None) -> None:
    """CHN's traffic, applied as the node applies a partner's message, then announced."""
    with deps.uow() as uow:
        assert hotline.apply_traffic(uow, deps, "CHN", {
            "channel": CHANNEL, "seq": seq, "kind": "message", "precedence": precedence,
            "text": text, "author": "chn-watch",
            "sent_at": (sent_at or deps.clock()).isoformat()}) is None
        uow.commit()
    deps.publish(f"hotline:{CHANNEL}")


def seed(deps: Deps, n: int) -> list[tuple[str, int]]:
    """``n`` answered entries from both sides, oldest first; every third shares its send
    time with the one before (ties are ordered by seq, then sender)."""
    start, keys = datetime(2015, 3, 2, tzinfo=UTC), []
    with deps.uow() as uow:
        for i in range(n):
            at = start + timedelta(hours=12 * (i - (i % 3 == 2)))
            sender, seq = ("KOR", i + 1) if i % 2 else ("CHN", i + 1)
            uow.hotline.put_traffic(CHANNEL, sender, seq, "check_call", {
                "text": "check call", "sent_at": at.isoformat(), "author": "scheduler",
                "acknowledged_at": at.isoformat(), "acknowledged_by": "x",
                "outcome": "answered"}, at)
            keys.append((at, seq, sender))
        uow.commit()
    return [(sender, seq) for _, seq, sender in sorted(keys)]


def test_pages_hold_every_entry_once_in_order(kor: NodeUnderTest) -> None:
    deps = open_line(kor)
    expected = seed(deps, 250)
    got: list[tuple[str, int]] = []
    before: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 40, **({"before": before} if before else {})}
        r = kor.get("yoon", f"/api/hotline/{CHANNEL}", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert 0 < len(page["traffic"]) <= 40
        got[:0] = [(e["sender"], e["seq"]) for e in page["traffic"]]
        pages += 1
        before = page["older"]
        if before is None:
            break
    assert pages == 7  # 6 x 40 + 10
    assert got == expected  # all of them, once each, in transcript order
    latest = kor.get("yoon", f"/api/hotline/{CHANNEL}").json()
    assert len(latest["traffic"]) == hotline.PAGE
    assert [(e["sender"], e["seq"]) for e in latest["traffic"]] == expected[-hotline.PAGE:]
    bad = kor.get("yoon", f"/api/hotline/{CHANNEL}", params={"before": "x.1.KOR"})
    assert bad.status_code == 422


def test_the_transcript_is_complete_or_one_page(kor: NodeUnderTest) -> None:
    deps = open_line(kor)
    expected = seed(deps, 2100)  # more than two of the transcript's own pages
    whole = kor.get("yoon", f"/api/hotline/{CHANNEL}/transcript")
    assert whole.status_code == 200
    data = json.loads(whole.text)
    assert [(e["sender"], e["seq"]) for e in data["traffic"]] == expected
    assert data["id"] == CHANNEL and data["status"]["state"] == "NORMAL"
    page = kor.get("yoon", f"/api/hotline/{CHANNEL}/transcript",
                   params={"limit": 5, "format": "html"})
    assert page.text.count("<tr><td>") == 5
    assert "Older entries: before=" in page.text
    assert kor.get("kim", f"/api/hotline/{CHANNEL}/transcript").status_code == 403


def test_the_socket_sends_what_changed_not_the_history(kor: NodeUnderTest) -> None:
    deps = open_line(kor)
    seed(deps, 300)
    with kor.client.websocket_connect(LIVE + kor.tokens["yoon"]) as ws:
        first = ws.receive_json()
        assert first["type"] == "snapshot"
        assert len(first["traffic"]) == hotline.PAGE and first["older"]
        sent = kor.post("yoon", f"/api/hotline/{CHANNEL}/messages",
                        json={"precedence": "ROUTINE", "text": "weekly schedule"})
        assert sent.status_code == 201, sent.text
        delta = ws.receive_json()
    assert delta["type"] == "delta"
    assert [(e["sender"], e["seq"], e["text"]) for e in delta["changed"]] == [
        ("KOR", sent.json()["seq"], "weekly schedule")]
    assert delta["changed"][0]["overdue"] is False
    assert delta["summary"]["open"] == 1  # the message awaits CHN's acknowledgement
    assert "traffic" not in delta


def test_an_acknowledgement_updates_its_entry_in_place(kor: NodeUnderTest) -> None:
    deps = open_line(kor)
    seed(deps, 150)
    with kor.client.websocket_connect(LIVE + kor.tokens["yoon"]) as ws:
        ws.receive_json()
        receive(deps, 9001, "FLASH", "two launches from Sunchon")
        arrived = ws.receive_json()
        (flash,) = arrived["changed"]
        assert (flash["sender"], flash["seq"], flash["precedence"]) == ("CHN", 9001, "FLASH")
        assert not flash.get("acknowledged_at") and flash["overdue"] is False
        assert arrived["summary"]["unacknowledged_flash"] == [{"sender": "CHN", "seq": 9001}]
        r = kor.post("yoon", f"/api/hotline/{CHANNEL}/acknowledgements",
                     json={"sender": "CHN", "seq": 9001})
        assert r.status_code == 200, r.text
        acked = ws.receive_json()
    (entry,) = acked["changed"]
    assert (entry["sender"], entry["seq"], entry["position"]) == ("CHN", 9001,
                                                                   flash["position"])
    assert entry["acknowledged_by"] == "yoon" and entry["acknowledged_at"]
    assert entry["escalation"] == [] and entry["overdue"] is False
    assert acked["summary"] == {"open": 0, "overdue": 0, "unacknowledged_flash": []}
    view = kor.get("yoon", f"/api/hotline/{CHANNEL}").json()
    assert view["traffic"][-1]["acknowledged_by"] == "yoon"  # the same entry, not a new one
    assert len([e for e in view["traffic"] if e["seq"] == 9001]) == 1


def test_an_overdue_flag_is_pushed_when_it_turns(kor: NodeUnderTest) -> None:
    """No event on the line: the deadline passing alone sends the flag (FLASH: 10 min)."""
    deps = open_line(kor)
    almost = deps.clock() - timedelta(minutes=10) + timedelta(seconds=1)
    receive(deps, 7, "FLASH", "launch detected", sent_at=almost)
    with kor.client.websocket_connect(LIVE + kor.tokens["yoon"]) as ws:
        first = ws.receive_json()
        assert [e["overdue"] for e in first["awaiting"]] == [False]
        watchdog = threading.Timer(15, ws.close)  # a flag never sent fails, not hangs
        watchdog.start()
        try:
            turned = ws.receive_json()
        finally:
            watchdog.cancel()
    (entry,) = turned["changed"]
    assert (entry["seq"], entry["overdue"], entry["escalation"]) == (7, True, ["re-alert"])
    assert turned["summary"]["overdue"] == 1


def test_a_line_kept_before_revisions_keeps_its_open_entries(kor: NodeUnderTest) -> None:
    """A channel stored before this node kept revisions and open entries: an old
    unacknowledged message is still open, before and after the next write."""
    import sqlalchemy as sa

    from liaison.storage import tables

    deps = open_line(kor)
    old = datetime(2024, 5, 1, tzinfo=UTC)
    with deps.uow() as uow:
        conn: sa.Connection = uow.conn  # type: ignore[attr-defined]
        c = tables.hotline_channels.c
        data = dict(conn.execute(sa.select(c.data).where(c.id == CHANNEL)).scalar_one())
        conn.execute(tables.hotline_channels.update().where(c.id == CHANNEL).values(
            data={k: v for k, v in data.items() if not k.startswith("_")}))
        conn.execute(tables.hotline_messages.insert(), {
            "channel": CHANNEL, "sender": "CHN", "seq": 1, "kind": "message", "sent_at": old,
            "data": {"precedence": "ROUTINE", "text": "old", "sent_at": old.isoformat(),
                     "author": "x"}})
        uow.commit()

    def open_now() -> list[tuple[str, int]]:
        view = kor.get("yoon", f"/api/hotline/{CHANNEL}").json()
        return [(e["sender"], e["seq"]) for e in view["awaiting"]]

    assert open_now() == [("CHN", 1)]
    sent = kor.post("yoon", f"/api/hotline/{CHANNEL}/messages",
                    json={"precedence": "ROUTINE", "text": "new"})
    assert sent.status_code == 201, sent.text
    assert open_now() == [("CHN", 1), ("KOR", 1)]
