"""Commands over a node's track API: sensor feeds, ingest, current and system tracks,
counters (launch events and areas have modules of their own). Each prints a table, or the
raw JSON with ``--json``."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.cli.inputs import read_document
from liaison.cli.options import Json, Token, Url
from liaison.cli.output import fail

MAX_INGEST = 10_000  # the node's limit per ingest request

tracks = typer.Typer(help="Sensor feeds and tracks: ingest, current picture, counters.",
                     no_args_is_help=True)



# --- tracks ----------------------------------------------------------------------------


@tracks.command("feeds")
def tracks_feeds(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Registered sensor feeds and the label their tracks carry."""
    out.emit(Api(url, token).get("/api/tracks/feeds"), as_json, lambda d: out.table(
        "feeds", ["name", "title", "topic", "discipline", "label", "sensors"],
        [[f["name"], f["title"], f["topic"], f["discipline"], out.label_text(f["label"]),
          ", ".join(f.get("sensors", []))] for f in d]))


@tracks.command("feed-sensor")
def tracks_feed_sensor(feed: str, username: str,
                       remove: Annotated[bool, typer.Option(
                           "--remove", help="unregister the sensor instead")] = False,
                       as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Register a sensor account to a feed, or unregister it (admin). A sensor writes only
    into the feeds registered to it, and only within its clearance."""
    api = Api(url, token)
    data = (api.call("DELETE", f"/api/tracks/feeds/{feed}/sensors/{username}") if remove
            else api.post(f"/api/tracks/feeds/{feed}/sensors", {"username": username}))
    out.emit(data, as_json, lambda f: out.console.print(
        f"feed {f['name']}: sensors {', '.join(f['sensors']) or 'none'}"))


@tracks.command("feed-add")
def tracks_feed_add(file: Path, as_json: Json = False, url: Url = None,
                    token: Token = None) -> None:
    """Register or change a feed from a YAML or JSON file (release officer)."""
    data = Api(url, token).post("/api/tracks/feeds", read_document(file))
    out.emit(data, as_json, lambda f: out.console.print(
        f"feed {f['name']} registered: {f['title']}, {out.label_text(f['label'])}, {f['topic']}, "
        f"{f['discipline']} {f['grade']}"))


@tracks.command("list")
def tracks_list(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Current tracks you may see."""
    out.emit(Api(url, token).get("/api/tracks"), as_json, lambda d: out.table(
        f"{len(d)} track(s)", ["number", "source", "uid / callsign", "time", "lat", "lon",
                               "alt km", "kind", "marking"],
        [[t["number"], t["source"], t["uid"] + (
            f" / {t['callsign']}" if t.get("callsign") not in (None, "", t["uid"]) else ""),
          t["time"], out.number(t["lat"]), out.number(t["lon"]),
          out.number(t["alt_m"] / 1000, 1), t["kind"],
          t["marking"]] for t in d]))


@tracks.command("system")
def tracks_system(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Correlated system tracks and the source tracks behind each."""
    out.emit(Api(url, token).get("/api/tracks/system"), as_json, lambda d: out.table(
        f"{len(d)} system track(s)", ["number", "lat", "lon", "alt km", "sources"],
        [[s["number"], out.number(s["lat"]), out.number(s["lon"]), out.number(s["alt_m"] / 1000, 1),
          ", ".join(f"{x['source']}:{x['uid']}" for x in s["sources"])] for s in d]))


@tracks.command("stats")
def tracks_stats(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Counters per partner link, ingest totals, and where each feed may go."""
    out.emit(Api(url, token).get("/api/tracks/stats"), as_json, _render_stats)


def _render_stats(s: dict[str, Any]) -> None:
    keys = ["connected", "sent_updates", "frames", "acked_frames", "queue", "dropped_overflow",
            "stale_discarded", "withdrawn", "errors"]
    out.table("partner links", ["partner", *keys],
              [[p, *(link.get(k) for k in keys)] for p, link in s["partners"].items()])
    for key in ("ingested", "refused", "received", "received_refused", "frames_refused"):
        out.console.print(f"{key}: {s.get(key, 0)}")
    policy = s.get("policy") or {}
    if policy.get("error"):
        out.console.print(f"[red]track policy could not be loaded:[/] {policy['error']}")
    for name, feed in (policy.get("feeds") or {}).items():
        to = ", ".join(f"{r['partner']} ({r['agreement']}, {r['level']})" for r in feed["to"])
        out.console.print(f"feed [bold]{name}[/] goes to: {to or 'nobody'}")
        for partner, why in feed["not_to"].items():
            out.console.print(f"  not to {partner}: {why}")


def _plain(value: Any) -> Any:
    """YAML reads timestamps as datetimes; the API wants ISO 8601 text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _updates(file: Path) -> list[dict[str, Any]]:
    try:
        text = file.read_text(encoding="utf-8")
        data = json.loads(text) if file.name.endswith(".json") else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        fail(f"{file}: {exc}")
    if isinstance(data, dict) and isinstance(data.get("updates"), list):
        data = data["updates"]
    if not isinstance(data, list) or not data or not all(isinstance(u, dict) for u in data):
        fail(f"{file}: expected a non-empty list of updates (uid, time, lat, lon, ...)")
    return [{k: _plain(v) for k, v in u.items()} for u in data]


@tracks.command("send")
def tracks_send(file: Path, feed: Annotated[str, typer.Option(help="the registered feed")],
                as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Ingest a JSON or YAML list of track updates from a feed (sensor, watch officer)."""
    updates = _updates(file)
    api = Api(url, token)
    accepted = refused = 0
    reasons: list[str] = []
    for start in range(0, len(updates), MAX_INGEST):
        answer = api.post("/api/tracks/ingest",
                          {"feed": feed, "updates": updates[start:start + MAX_INGEST]})
        accepted += answer["accepted"]
        refused += answer["refused"]
        reasons += [r for r in answer["reasons"] if r not in reasons]
    result = {"accepted": accepted, "refused": refused, "reasons": reasons}
    out.emit(result, as_json, _render_sent)
    if refused:
        raise typer.Exit(1)


def _render_sent(r: dict[str, Any]) -> None:
    style = "red" if r["refused"] else "green"
    out.console.print(f"[{style}]{r['accepted']} accepted, {r['refused']} refused[/]")
    for why in r["reasons"]:
        out.console.print(f"  refused: {why}")
