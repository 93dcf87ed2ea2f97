"""The KOR–CHN defense hotline between two real node processes (docs/rules.md#check-calls)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .node_fixtures import PASSWORD
from .processes import NodeProcess, wait_for

CHANNEL = "KOR-CHN-HOTLINE-MOU"


@pytest.fixture
def line(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess, str, str]]:
    kor, chn = NodeProcess("KOR", tmp_path), NodeProcess("CHN", tmp_path)
    try:
        prints = {n.party: n.init() for n in (kor, chn)}
        for node in (kor, chn):
            node.start()
            node.login()
        kor.trust(chn, prints["CHN"])
        chn.trust(kor, prints["KOR"])
        tokens = []
        for node, level in ((kor, "군사I급비밀"), (chn, "绝密")):
            node.call("POST", "/api/hotline", json={"agreement_id": CHANNEL,
                                                    "times": ["09:00", "16:00"],
                                                    "weekdays": list(range(7)),
                                                    "tz": "Asia/Seoul"})
            node.call("POST", "/api/users", json={"username": "watch", "roles": ["watch_officer"],
                                                  "clearance": level, "password": PASSWORD})
            tokens.append(node.login("watch"))
        yield kor, chn, tokens[0], tokens[1]
    finally:
        for node in (kor, chn):
            node.stop()


def traffic(node: NodeProcess, token: str) -> list[dict[str, object]]:
    return list(node.call("GET", f"/api/hotline/{CHANNEL}", token)["traffic"])


def test_flash_is_delivered_in_order_and_acknowledged(
        line: tuple[NodeProcess, NodeProcess, str, str]) -> None:
    """Delivery to the other node and a person's acknowledgement are different events."""
    kor, chn, kt, ct = line
    for prec, text in (("ROUTINE", "weekly schedule"), ("FLASH", "two ballistic missiles "
                                                        "launched from Sunchon 16:35 KST")):
        kor.call("POST", f"/api/hotline/{CHANNEL}/messages", kt,
                 json={"precedence": prec, "text": text})
    got = wait_for(lambda: len(t := traffic(chn, ct)) == 2 and t, what="delivery at CHN")
    assert [m["seq"] for m in got] == [1, 2]
    assert got[1]["precedence"] == "FLASH"
    assert got[1]["delivered_at"]
    assert not got[1].get("acknowledged_at")
    chn.call("POST", f"/api/hotline/{CHANNEL}/acknowledgements", ct,
             json={"sender": "KOR", "seq": 2})
    acked = wait_for(lambda: (t := traffic(kor, kt))[1].get("acknowledged_at") and t,
                     what="acknowledgement at KOR")
    assert acked[1]["overdue"] is False
    assert str(acked[1]["acknowledged_by"]).startswith("CHN")
    assert acked[0]["overdue"] is False


def test_check_call_answered_then_severance(
        line: tuple[NodeProcess, NodeProcess, str, str]) -> None:
    """An answered call makes the line NORMAL; a severed line carries nothing."""
    kor, chn, kt, ct = line
    kor.call("POST", f"/api/hotline/{CHANNEL}/check-calls", kt)
    wait_for(lambda: traffic(chn, ct), what="check call at CHN")
    chn.call("POST", f"/api/hotline/{CHANNEL}/acknowledgements", ct,
             json={"sender": "KOR", "seq": 1})

    def kor_call() -> dict[str, object]:
        return traffic(kor, kt)[0]

    wait_for(lambda: kor_call().get("outcome") == "answered", what="answered call")
    status = kor.call("GET", f"/api/hotline/{CHANNEL}", kt)["status"]
    assert status["state"] == "NORMAL"
    chn.call("POST", f"/api/hotline/{CHANNEL}/sever", ct)
    wait_for(lambda: kor.call("GET", f"/api/hotline/{CHANNEL}", kt)["status"]["state"] ==
             "SEVERED", what="severance at KOR")
    refused = kor.call_raw("POST", f"/api/hotline/{CHANNEL}/messages", kt,
                           json={"precedence": "FLASH", "text": "are you there"})
    assert refused.status_code == 409
    assert "severed by CHN" in refused.json()["error"]["message"]


def test_line_down_and_back_loses_nothing(
        line: tuple[NodeProcess, NodeProcess, str, str]) -> None:
    """Messages are kept while the other node is down and delivered, in order, on return."""
    kor, chn, kt, ct = line
    chn.kill()
    sent = [("ROUTINE", "r1"), ("PRIORITY", "p1"), ("FLASH", "f1"), ("IMMEDIATE", "i1")]
    for prec, text in sent:
        kor.call("POST", f"/api/hotline/{CHANNEL}/messages", kt,
                 json={"precedence": prec, "text": text})
    chn.start()
    ct = chn.login("watch")
    got = wait_for(lambda: len(t := traffic(chn, ct)) == 4 and t, timeout=90,
                   what="catch-up at CHN")
    assert sorted(int(str(m["seq"])) for m in got) == [1, 2, 3, 4]
    assert {m["text"] for m in got} == {"r1", "p1", "f1", "i1"}


def test_the_live_console_gets_a_flash_pushed(
        line: tuple[NodeProcess, NodeProcess, str, str]) -> None:
    """Watch officers see traffic live (WebSocket); the console page is served offline."""
    import asyncio
    import json

    import httpx
    import websockets

    kor, chn, kt, ct = line
    page = httpx.get(chn.url + "/console/hotline.html")
    assert page.status_code == 200 and 'src="hotline.js"' in page.text
    assert "FLASH from" in httpx.get(chn.url + "/console/hotline.js").text

    async def watch() -> dict[str, object]:
        url = f"ws://127.0.0.1:{chn.port}/api/hotline/{CHANNEL}/live?token={ct}"
        async with websockets.connect(url) as ws:
            first = json.loads(await ws.recv())
            assert first["type"] == "snapshot" and first["traffic"] == []
            await asyncio.to_thread(kor.call, "POST", f"/api/hotline/{CHANNEL}/messages", kt,
                                    json={"precedence": "FLASH", "text": "launch"})
            while True:
                delta = json.loads(await asyncio.wait_for(ws.recv(), 30))
                assert delta["type"] == "delta" and "traffic" not in delta
                if delta["changed"]:
                    return dict(delta)

    delta = asyncio.run(watch())
    (flash,) = delta["changed"]  # type: ignore[misc]
    assert (flash["sender"], flash["seq"], flash["precedence"]) == ("KOR", 1, "FLASH")
    assert delta["summary"]["unacknowledged_flash"] == [  # type: ignore[index]
        {"sender": "KOR", "seq": 1}]


def test_the_live_console_refuses_a_bad_token(
        line: tuple[NodeProcess, NodeProcess, str, str]) -> None:
    import asyncio

    import websockets

    _, chn, _, _ = line

    async def attempt() -> int:
        url = f"ws://127.0.0.1:{chn.port}/api/hotline/{CHANNEL}/live?token=lsn_forged"
        try:
            async with websockets.connect(url) as ws:
                await ws.recv()
        except websockets.exceptions.InvalidStatus as exc:
            return int(exc.response.status_code)
        except websockets.exceptions.ConnectionClosed as exc:
            return int(exc.rcvd.code) if exc.rcvd else 0
        return 200

    assert asyncio.run(attempt()) in (403, 4401)


def test_overdue_flash_and_missed_call_under_a_controlled_clock(
        line: tuple[NodeProcess, NodeProcess, str, str]) -> None:
    """Both nodes restarted 16 minutes ahead: the unacknowledged FLASH is overdue and
    escalated on both sides; the unanswered check call is recorded as missed."""
    kor, chn, kt, ct = line
    kor.call("POST", f"/api/hotline/{CHANNEL}/messages", kt,
             json={"precedence": "FLASH", "text": "launch detected"})
    kor.call("POST", f"/api/hotline/{CHANNEL}/check-calls", kt)
    wait_for(lambda: len(traffic(chn, ct)) == 2, what="delivery at CHN")
    ahead = {"LIAISON_CLOCK_OFFSET_S": str(16 * 60), "LIAISON_HOTLINE_TICK_S": "0.5"}
    for node in (kor, chn):
        node.stop()
        node.start(ahead)
    kt, ct = kor.login("watch"), chn.login("watch")
    for node, token in ((kor, kt), (chn, ct)):
        flash = next(m for m in traffic(node, token) if m.get("precedence") == "FLASH")
        assert flash["overdue"] is True
        assert flash["escalation"] == ["re-alert", "duty officer"]
    status = wait_for(lambda: (s := kor.call("GET", f"/api/hotline/{CHANNEL}", kt)["status"])[
        "state"] == "UNRESPONSIVE" and s, what="missed call recorded")
    assert status["missed_days"] == 1


def test_the_cli_drives_the_hotline(line: tuple[NodeProcess, NodeProcess, str, str]) -> None:
    from typer.testing import CliRunner

    from liaison.cli.main import app

    kor, chn, kt, ct = line
    runner = CliRunner()
    kor_env = {"LIAISON_URL": kor.url, "LIAISON_TOKEN": kt, "COLUMNS": "200"}
    sent = runner.invoke(app, ["hotline", "send", CHANNEL, "--precedence", "flash", "--text",
                               "launch detected"], env=kor_env)
    assert sent.exit_code == 0, sent.output
    wait_for(lambda: traffic(chn, ct), what="delivery at CHN")
    chn_env = {"LIAISON_URL": chn.url, "LIAISON_TOKEN": ct, "COLUMNS": "200"}
    acked = runner.invoke(app, ["hotline", "ack", CHANNEL, "--sender", "KOR", "--seq", "1"],
                          env=chn_env)
    assert acked.exit_code == 0, acked.output
    page = runner.invoke(app, ["hotline", "transcript", CHANNEL, "--html"], env=chn_env)
    assert "launch detected" in page.output
    too_long = runner.invoke(app, ["hotline", "send", CHANNEL, "--precedence", "FLASH",
                                   "--text", "word " * 201], env=kor_env)
    assert too_long.exit_code == 1
    assert "at most 200 words" in too_long.output
