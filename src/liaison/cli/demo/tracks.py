"""The demo's track steps: the US sensor feed of the 2019-10-31 launch shared with KOR in
real time, the launch event derived at KOR, and JPN receiving nothing until the US widens
the feed's releasability (the trilateral real-time missile-warning data sharing of
December 2023)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from liaison.cli.demo.calls import api, poll
from liaison.tracks.synthetic import seed_salvo

FEED: dict[str, Any] = {
    "name": "sbirs", "title": "US space-based infrared and radar, Korean peninsula",
    "topic": "DPRK/missile", "discipline": "MASINT", "grade": "B2",
    "label": {"policy": "USA", "classification": "SECRET", "originator": "USA",
              "created": "2019-10-31T00:00:00Z", "rel_to": ["USA", "KOR"]}}


def salvo_rows(prefix: str) -> list[dict[str, Any]]:
    return [{"uid": u.uid.replace("USA-SBIRS", prefix), "time": u.time.isoformat(),
             "lat": u.lat, "lon": u.lon, "alt_m": u.alt_m, "kind": u.kind,
             "speed_ms": u.speed_ms, "course_deg": u.course_deg, "ce_m": u.ce_m,
             "callsign": u.callsign} for u in seed_salvo()]


def share_salvo(story: Any) -> None:
    us_admin = story.sign_in("USA", "admin", story.admin_passwords["USA"])
    api(us_admin, "POST", "/api/users", json={"username": "sbirs.sensor", "roles": ["sensor"],
                                              "clearance": "SECRET", "password": story.password})
    api(us_admin, "POST", "/api/users", json={
        "username": "us.officer", "roles": ["release_officer"], "clearance": "TOP SECRET",
        "password": story.password})
    officer = story.sign_in("USA", "us.officer", story.password)
    api(officer, "POST", "/api/tracks/feeds", json=FEED)
    api(us_admin, "POST", "/api/tracks/feeds/sbirs/sensors", json={"username": "sbirs.sensor"})
    policy = api(us_admin, "GET", "/api/tracks/stats")["policy"]["feeds"]["sbirs"]
    story.say("US release officer registers the feed 'sbirs' as SECRET//REL TO USA, KOR; the "
              "engine routes it to " + ", ".join(r["partner"] for r in policy["to"]))
    for party, why in sorted(policy["not_to"].items()):
        story.say(f"  not to {party}: {why}")
    kor_watch = story.watch("KOR", "군사II급비밀")
    jpn_watch = story.watch("JPN", "極秘")
    sensor = story.sign_in("USA", "sbirs.sensor", story.password)
    rows = salvo_rows("SBIRS-2019")
    answer = api(sensor, "POST", "/api/tracks/ingest", json={"feed": "sbirs", "updates": rows})
    story.say(f"the sensor replays the salvo of 2019-10-31: {answer['accepted']} updates "
              f"accepted at the US node")
    got = poll(lambda: _all_received(story, "KOR", len(rows)))
    story.say(f"KOR's node received {got} of {len(rows)} over the signed, encrypted track link "
              f"(re-marked as {api(kor_watch, 'GET', '/api/tracks')[0]['marking']})")
    event = poll(lambda: next((e for e in api(kor_watch, "GET", "/api/launches")
                                if e["status"] == "ANALYSED"), None))
    show_event(story, event, "launch event derived at KOR")
    story.say(f"JPN's node received {_received(story, 'JPN')} track updates; its watch officer "
              f"sees {len(api(jpn_watch, 'GET', '/api/tracks'))} tracks")


def widen_to_japan(story: Any) -> None:
    officer = story.sign_in("USA", "us.officer", story.password)
    feed = {**FEED, "label": {**FEED["label"], "rel_to": ["USA", "KOR", "JPN"]}}
    api(officer, "POST", "/api/tracks/feeds", json=feed)
    story.say("US release officer widens the feed to REL TO USA, JPN, KOR (trilateral "
              "real-time missile warning data sharing, December 2023)")
    us_admin = story.sign_in("USA", "admin", story.admin_passwords["USA"])
    routes = api(us_admin, "GET", "/api/tracks/stats")["policy"]["feeds"]["sbirs"]["to"]
    story.say("the engine now routes it to " + ", ".join(
        f"{r['partner']} as {r['level']} under {r['agreement']}" for r in routes))
    sensor = story.sign_in("USA", "sbirs.sensor", story.password)
    rows = salvo_rows("SBIRS-REPLAY")
    api(sensor, "POST", "/api/tracks/ingest", json={"feed": "sbirs", "updates": rows})
    got = poll(lambda: _all_received(story, "JPN", len(rows)))
    story.say(f"JPN's node received {got} of {len(rows)}")
    jpn_watch = story.watch("JPN", "極秘")
    event = poll(lambda: next((e for e in api(jpn_watch, "GET", "/api/launches")
                                if e["status"] == "ANALYSED"), None))
    show_event(story, event, "launch event derived at JPN")


def _received(story: Any, party: str) -> int:
    admin = story.sign_in(party, "admin", story.admin_passwords[party])
    return int(api(admin, "GET", "/api/tracks/stats")["received"])


def _all_received(story: Any, party: str, n: int) -> int:
    """The count received once it reaches ``n``; 0 (keep polling) before."""
    got = _received(story, party)
    return got if got >= n else 0


def show_event(story: Any, event: dict[str, Any], title: str) -> None:
    table = Table("object", "launched (UTC)", "range km", "apogee km", "flight s", "impact",
                  title=f"{title}: {event['status']} (revision {event['revision']}) "
                        f"{event['marking']}")
    for i, o in enumerate(event["objects"], 1):
        table.add_row(str(i), o["launch_time"][11:19], f"{o['range_km']:.0f}",
                      f"{o['apogee_km']:.0f}", f"{o['flight_time_s']:.0f}", o["impact"])
    story.console.print(table)
