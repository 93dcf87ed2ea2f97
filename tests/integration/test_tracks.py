"""Track data between real node processes: a TAK client (the third-party ``pytak``) sends
CoT to the US node; the Korean node's CoT stream hands the shared tracks to another
``pytak`` client; Japan, outside the feed's releasability, receives nothing, also under
load; the Korean node derives the launch event of the seed case."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from configparser import ConfigParser
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytak
import pytest
import websockets

from liaison.tracks.cot import to_event
from liaison.tracks.synthetic import seed_salvo

from .node_fixtures import PASSWORD
from .processes import NodeProcess, free_port, wait_for

FEED = {"name": "sbirs", "title": "US space-based infrared, East Asia",
        "topic": "DPRK/missile", "discipline": "MASINT",
        "label": {"policy": "USA", "classification": "SECRET", "originator": "USA",
                  "created": "2019-10-31T00:00:00+00:00", "rel_to": ["USA", "KOR"]}}


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[dict[str, NodeProcess]]:
    nodes = {p: NodeProcess(p, tmp_path) for p in ("USA", "KOR", "JPN")}
    cot = {"USA": free_port(), "KOR": free_port()}
    env = {"USA": {"LIAISON_COT_PORT": str(cot["USA"]), "LIAISON_COT_FEED": "sbirs"},
           "KOR": {"LIAISON_COT_PORT": str(cot["KOR"]), "LIAISON_COT_USER": "tak"},
           "JPN": {}}
    try:
        prints = {p: n.init() for p, n in nodes.items()}
        for p, n in nodes.items():
            n.start({**env[p], "LIAISON_TRACK_REFRESH_S": "0.5"})
            n.login()
            n.cot_port = cot.get(p, 0)  # type: ignore[attr-defined]
        usa = nodes["USA"]
        for p in ("KOR", "JPN"):
            usa.trust(nodes[p], prints[p])
            nodes[p].trust(usa, prints["USA"])
        usa.call("POST", "/api/users", json={"username": "sensor", "roles": ["sensor"],
                                             "clearance": "SECRET", "password": PASSWORD})
        usa.call("POST", "/api/tracks/feeds", json=FEED)
        usa.call("POST", "/api/tracks/feeds/sbirs/sensors", json={"username": "sensor"})
        nodes["KOR"].call("POST", "/api/users", json={
            "username": "tak", "roles": ["watch_officer"], "clearance": "군사II급비밀",
            "password": PASSWORD})
        nodes["JPN"].call("POST", "/api/users", json={
            "username": "watch", "roles": ["watch_officer"], "clearance": "極秘",
            "password": PASSWORD})
        wait_for(lambda: [r["partner"] for r in usa.call("GET", "/api/tracks/stats")
                          ["policy"]["feeds"].get("sbirs", {}).get("to", [])] == ["KOR"],
                 what="the US feed routed to KOR only")
        yield nodes
    finally:
        for n in nodes.values():
            n.stop()


def tak_config(port: int) -> Any:
    config = ConfigParser()
    config["tak"] = {"COT_URL": f"tcp://127.0.0.1:{port}"}
    return config["tak"]


class Collect(pytak.RXWorker):  # type: ignore[misc]
    async def handle_data(self, data: bytes) -> None:
        await self.queue.put(data)


async def tak_exchange(usa: NodeProcess, kor: NodeProcess, events: list[bytes],
                       want: int) -> list[bytes]:
    """One pytak client listens at KOR, another sends CoT to USA; what the listener got."""
    send_port, listen_port = usa.cot_port, kor.cot_port  # type: ignore[attr-defined]
    rx_reader, rx_writer = await pytak.protocol_factory(tak_config(listen_port))
    async with asyncio.timeout(30):
        while (await asyncio.to_thread(kor.call, "GET", "/api/tracks/stats"))[
                "subscribers"] < 1:
            await asyncio.sleep(0.05)
    received: asyncio.Queue[bytes] = asyncio.Queue()
    listener = Collect(received, tak_config(listen_port), rx_reader)
    _, tx_writer = await pytak.protocol_factory(tak_config(send_port))
    sender = pytak.TXWorker(asyncio.Queue(), tak_config(send_port), tx_writer)
    for event in events:
        await sender.send_data(event)
    got: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while len(got) < want:
                await listener.run_once()
                while not received.empty():
                    got.append(received.get_nowait())
    finally:
        for w in (rx_writer, tx_writer):
            w.close()
    return got


def exchange(usa: NodeProcess, kor: NodeProcess, events: list[bytes],
             want: int) -> list[bytes]:
    try:
        return asyncio.run(tak_exchange(usa, kor, events, want))
    except TimeoutError:
        raise AssertionError(
            f"CoT did not arrive.\nUSA: {usa.call('GET', '/api/tracks/stats')}\n"
            f"KOR: {kor.call('GET', '/api/tracks/stats')}") from None


def test_pytak_to_us_node_and_out_of_the_korean_cot_stream(
        trio: dict[str, NodeProcess]) -> None:
    usa, kor, jpn = trio["USA"], trio["KOR"], trio["JPN"]
    salvo = seed_salvo()
    events = [to_event(u) for u in salvo]
    got = exchange(usa, kor, events, len(events))
    assert len(got) == len(events)
    assert all(b'type="a-h-A-M-F"' in e and b"(S//REL TO USA, KOR)" not in e for e in got)
    assert all(b"RECEIVED FROM" not in e for e in got)
    assert b"USA-SBIRS-1" in got[0]  # the sensor's callsign; the uid is KOR's number
    print(f"\npytak: sent {len(events)} CoT events to USA, received {len(got)} of "
          f"{len(events)} from KOR's CoT stream")

    # the link counts a frame once its send returned, which may be after KOR showed it
    stats = wait_for(lambda: (s := usa.call("GET", "/api/tracks/stats"))["partners"]["KOR"]
                     ["sent_updates"] >= len(events) and s, what="USA's count of sent updates")
    assert stats["partners"]["KOR"]["sent_updates"] == len(events)
    assert "JPN" not in stats["partners"]
    assert "REL TO KOR, USA" in stats["policy"]["feeds"]["sbirs"]["not_to"]["JPN"]
    assert jpn.call("GET", "/api/tracks/stats")["received"] == 0
    assert jpn.call("GET", "/api/tracks") == []

    launches = wait_for(lambda: [e for e in kor.call("GET", "/api/launches")
                                 if e["status"] == "ANALYSED"], what="launch event")
    [event] = launches
    assert len(event["objects"]) == 2
    assert event["range_km"] == pytest.approx(370, rel=0.02)
    assert event["apogee_km"] == pytest.approx(90, abs=2)
    assert event["source"] == "peer:USA"
    print(f"KOR launch event: {event['summary']}")
    history = kor.call("GET", f"/api/launches/{event['id']}")
    assert [h["revision"] for h in history] == list(range(1, len(history) + 1))
    assert history[0]["status"] == "PRELIMINARY"


def test_a_partner_without_entitlement_receives_nothing_under_load(
        trio: dict[str, NodeProcess]) -> None:
    usa, kor, jpn = trio["USA"], trio["KOR"], trio["JPN"]
    sensor = usa.login("sensor")
    n = 5_000
    now = datetime.now(UTC).timestamp()

    async def flood() -> None:
        uri = f"ws://127.0.0.1:{usa.port}/api/tracks/ingest/ws?feed=sbirs&token={sensor}"
        async with websockets.connect(uri) as ws:
            await ws.send("{not json")
            bad = json.loads(await ws.recv())
            assert bad["accepted"] == 0 and "malformed frame" in bad["reasons"][0], bad
            for chunk in range(0, n, 500):
                rows = [{"uid": f"T{i % 50}", "time": datetime.fromtimestamp(
                    now + i / 1000, UTC).isoformat(), "lat": 38 + (i % 50) / 100,
                    "lon": 128.0, "alt_m": 9000, "kind": "a-h-A"}
                    for i in range(chunk, chunk + 500)]
                await ws.send(json.dumps(rows))
                answer = json.loads(await ws.recv())
                assert answer["accepted"] == 500, answer

    asyncio.run(flood())
    wait_for(lambda: kor.call("GET", "/api/tracks/stats")["received"] == n,
             what=f"KOR receives all {n}")
    jpn_stats = jpn.call("GET", "/api/tracks/stats")
    assert jpn_stats["received"] == 0 and jpn_stats["frames_in"] == 0
    usa_stats = usa.call("GET", "/api/tracks/stats")
    assert usa_stats["partners"]["KOR"]["dropped_overflow"] == 0
    print(f"\nunder load: KOR received {n} of {n}; JPN received 0 of 0 entitled "
          f"({n} withheld)")


def test_a_bad_area_is_refused_with_the_rule_and_nothing_is_kept(
        trio: dict[str, NodeProcess]) -> None:
    usa = trio["USA"]
    usa.call("POST", "/api/users", json={"username": "ana", "roles": ["analyst"],
                                         "clearance": "SECRET", "password": PASSWORD})
    token = usa.login("ana")
    area = {"id": "line", "name": "two points", "label": FEED["label"],
            "polygon": [[38.0, 127.0], [38.5, 127.5]]}
    r = usa.call_raw("POST", "/api/areas", token, json=area)
    assert r.status_code == 422 and "polygon" in r.text, r.text
    assert usa.call("GET", "/api/areas", token) == []


def test_bad_cot_is_refused_and_counted_without_breaking_the_stream(
        trio: dict[str, NodeProcess]) -> None:
    usa, kor = trio["USA"], trio["KOR"]
    bad = [b"<event><point/></event>",
           b'<!DOCTYPE x [<!ENTITY a "aaaa">]><event uid="x">&a;</event>',
           b'<event version="2.0" uid="Z" type="a-h-A" time="yesterday"><point lat="1" '
           b'lon="2"/></event>',
           b'<event version="2.0" uid="Z" type="a-h-A" time="2019-10-31T07:00:00Z">'
           b'<point lat="91" lon="2"/></event>']
    good = [to_event(u) for u in seed_salvo()[:3]]
    got = exchange(usa, kor, [*bad, *good], len(good))
    assert len(got) == len(good)
    cot = usa.call("GET", "/api/tracks/stats")["cot"]
    assert cot["refused_in"] == len(bad) and cot["events_in"] == len(good)
    print(f"\nbad CoT refused {cot['refused_in']} of {len(bad)}; good accepted "
          f"{cot['events_in']} of {len(good)}")


def test_the_cli_drives_tracks_launches_and_areas(trio: dict[str, NodeProcess],
                                                  tmp_path: Path) -> None:
    from dataclasses import asdict

    from typer.testing import CliRunner

    from liaison.cli.main import app

    usa, kor = trio["USA"], trio["KOR"]
    runner = CliRunner()
    updates = [{**{k: v for k, v in asdict(u).items() if k != "number"},
                "time": u.time.isoformat()} for u in seed_salvo()[:3]]
    file = tmp_path / "updates.json"
    file.write_text(json.dumps(updates), encoding="utf-8")
    sensor_env = {"LIAISON_URL": usa.url, "LIAISON_TOKEN": usa.login("sensor"),
                  "COLUMNS": "200"}
    sent = runner.invoke(app, ["tracks", "send", str(file), "--feed", "sbirs"],
                         env=sensor_env)
    assert sent.exit_code == 0, sent.output
    assert "3 accepted, 0 refused" in sent.output
    usa_env = {"LIAISON_URL": usa.url, "LIAISON_TOKEN": usa.token, "COLUMNS": "200"}

    def linked() -> Any:  # the link to KOR comes up on its own (on a stream stack, under a lease)
        r = runner.invoke(app, ["tracks", "stats"], env=usa_env)
        assert r.exit_code == 0, r.output
        return "│ KOR " in r.output and r
    stats = wait_for(linked, timeout=30, what="KOR's link in USA's track stats")
    assert "goes to: KOR (" in stats.output
    assert "not to JPN" in stats.output
    unknown = runner.invoke(app, ["tracks", "send", str(file), "--feed", "nosuch"],
                            env=sensor_env)
    assert unknown.exit_code == 1, unknown.output  # 403: the same as a feed not its own
    assert "no feed 'nosuch' is registered" in unknown.output

    usa.call("POST", "/api/users", json={"username": "analyst", "roles": ["analyst"],
                                         "clearance": "SECRET", "password": PASSWORD})
    analyst_env = {**usa_env, "LIAISON_TOKEN": usa.login("analyst")}
    area = tmp_path / "area.json"
    area.write_text(json.dumps({
        "id": "sunchon", "name": "Sunchon launch area", "kind": "launch_site", "priority": 1,
        "center": [39.43, 125.93], "radius_m": 30000,
        "label": {"policy": "USA", "classification": "SECRET", "originator": "USA",
                  "created": "2019-10-31T00:00:00+00:00", "rel_to": ["USA", "KOR"]}}),
        encoding="utf-8")
    added = runner.invoke(app, ["areas", "add", str(area), "--json"], env=analyst_env)
    assert added.exit_code == 0, added.output
    answer = json.loads(added.output)
    assert answer["shared_with"] == ["KOR"] and "JPN" in answer["not_shared"]
    kor_env = {"LIAISON_URL": kor.url, "LIAISON_TOKEN": kor.token, "COLUMNS": "200"}
    shown = wait_for(lambda: (r := runner.invoke(app, ["areas", "list"], env=kor_env))
                     .exit_code == 0 and "USA:sunchon" in r.output and r.output,
                     what="the area at KOR")
    assert "Sunchon launch area" in shown
    print(f"\n{sent.output}{stats.output}{added.output}{shown}")


def test_a_policy_change_takes_effect_promptly_and_links_use_session_keys(
        trio: dict[str, NodeProcess]) -> None:
    """The hub recomputes its policy when an input changes (here an agreement terminated
    through the API, which asks the hub nothing), within a few checks (0.5 s here); a feed
    narrowed stops the partner's updates at once. Track frames go under session keys."""
    usa, kor = trio["USA"], trio["KOR"]
    sensor = usa.login("sensor")

    def routes() -> list[tuple[str, str]]:
        feed = usa.call("GET", "/api/tracks/stats")["policy"]["feeds"]["sbirs"]
        return [(r["partner"], r["agreement"]) for r in feed["to"]]

    def send(n: int, start: int) -> None:
        now = datetime.now(UTC).timestamp()
        updates = [{"uid": f"P{i}", "time": datetime.fromtimestamp(now, UTC).isoformat(),
                    "lat": 38.5, "lon": 127.0, "alt_m": 9000, "kind": "a-h-A"}
                   for i in range(start, start + n)]
        answer = usa.call("POST", "/api/tracks/ingest", sensor,
                          json={"feed": "sbirs", "updates": updates})
        assert answer["accepted"] == n, answer

    assert routes() == [("KOR", "USA-KOR-GSOMIA")]
    send(10, 0)
    wait_for(lambda: kor.call("GET", "/api/tracks/stats")["received"] == 10,
             what="KOR receives the first 10")
    assert usa.call("GET", "/api/tracks/stats")["partners"]["KOR"]["session"] is True
    before = usa.call("GET", "/api/tracks/stats")["policy_watch"]["recomputes"]
    start = time.monotonic()
    usa.call("POST", "/api/agreements/USA-KOR-GSOMIA/events", json={
        "kind": "TERMINATED", "date": datetime.now(UTC).date().isoformat()})
    # the seed's TISA also covers KOR: the feed goes on under it, not under the GSOMIA
    wait_for(lambda: routes() == [("KOR", "TISA-2014")], timeout=10,
             what="the route under the terminated GSOMIA withdrawn")
    took = time.monotonic() - start
    watch = usa.call("GET", "/api/tracks/stats")["policy_watch"]
    assert watch["recomputes"] > before and "agreement.changed" in watch["last_reason"]

    narrowed = {**FEED, "label": {**FEED["label"], "rel_to": ["USA"]}}
    usa.call("POST", "/api/tracks/feeds", json=narrowed)
    assert routes() == []  # at once: the feed route refreshes the hub before answering
    send(10, 10)
    time.sleep(1.5)
    assert kor.call("GET", "/api/tracks/stats")["received"] == 10
    print(f"\nagreement terminated: route withdrawn after {took:.1f} s (checks every "
          f"0.5 s); feed narrowed: nothing more reached KOR")
