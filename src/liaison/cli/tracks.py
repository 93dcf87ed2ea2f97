"""Commands over a node's track API: sensor feeds, ingest, current and system tracks,
counters, launch events, areas of interest and their alerts. Each prints a table, or the
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
launches = typer.Typer(help="Launch events derived from tracks.", no_args_is_help=True)
areas = typer.Typer(help="Areas and targets of interest, shared with partners; alerts.",
                    no_args_is_help=True)


def _label(label: dict[str, Any] | None) -> str:
    if not label:
        return ""
    rel = label.get("rel_to")
    return f"{label.get('classification', '')}" + (f" REL TO {', '.join(rel)}" if rel else "")


def _num(value: Any, digits: int = 4) -> str:
    return "" if value is None else f"{float(value):.{digits}f}"


# --- tracks ----------------------------------------------------------------------------


@tracks.command("feeds")
def tracks_feeds(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Registered sensor feeds and the label their tracks carry."""
    out.emit(Api(url, token).get("/api/tracks/feeds"), as_json, lambda d: out.table(
        "feeds", ["name", "title", "topic", "discipline", "label", "sensors"],
        [[f["name"], f["title"], f["topic"], f["discipline"], _label(f["label"]),
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
        f"feed {f['name']} registered: {f['title']}, {_label(f['label'])}, {f['topic']}, "
        f"{f['discipline']} {f['grade']}"))


@tracks.command("list")
def tracks_list(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Current tracks you may see."""
    out.emit(Api(url, token).get("/api/tracks"), as_json, lambda d: out.table(
        f"{len(d)} track(s)", ["number", "source", "uid / callsign", "time", "lat", "lon",
                               "alt km", "kind", "marking"],
        [[t["number"], t["source"], t["uid"] + (
            f" / {t['callsign']}" if t.get("callsign") not in (None, "", t["uid"]) else ""),
          t["time"], _num(t["lat"]), _num(t["lon"]), _num(t["alt_m"] / 1000, 1), t["kind"],
          t["marking"]] for t in d]))


@tracks.command("system")
def tracks_system(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Correlated system tracks and the source tracks behind each."""
    out.emit(Api(url, token).get("/api/tracks/system"), as_json, lambda d: out.table(
        f"{len(d)} system track(s)", ["number", "lat", "lon", "alt km", "sources"],
        [[s["number"], _num(s["lat"]), _num(s["lon"]), _num(s["alt_m"] / 1000, 1),
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


# --- launches --------------------------------------------------------------------------


@launches.command("list")
def launches_list(limit: int = 100, as_json: Json = False, url: Url = None,
                  token: Token = None) -> None:
    """Launch events you may see (latest revision of each)."""
    out.emit(Api(url, token).get("/api/launches", limit=limit), as_json, lambda d: out.table(
        f"{len(d)} launch event(s)", ["id", "status", "launch time", "objects", "range km",
                                      "apogee km", "flight time s", "marking"],
        [[e["id"], e["status"], e["launch_time"], len(e["objects"]), e["range_km"],
          e["apogee_km"], e["flight_time_s"], e.get("marking")] for e in d]))


@launches.command("show")
def launches_show(event_id: str, as_json: Json = False, url: Url = None,
                  token: Token = None) -> None:
    """Every revision of a launch event, oldest first."""
    out.emit(Api(url, token).get(f"/api/launches/{event_id}"), as_json, lambda d: out.table(
        f"launch event {event_id}", ["revision", "status", "range km", "apogee km", "objects"],
        [[e["revision"], e["status"], e["range_km"], e["apogee_km"], len(e["objects"])]
         for e in d]))


# --- areas and alerts ------------------------------------------------------------------


@areas.command("list")
def areas_list(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Areas and targets of interest you may see."""
    out.emit(Api(url, token).get("/api/areas"), as_json, lambda d: out.table(
        f"{len(d)} area(s)", ["id", "name", "kind", "priority", "originator", "label"],
        [[a["id"], a["name"], a["kind"], a["priority"], a["originator"], _label(a["label"])]
         for a in d]))


ShareWith = Annotated[str | None, typer.Option(
    help="comma-separated partners (default: every partner the engine allows)")]


@areas.command("add")
def areas_add(file: Path, share_with: ShareWith = None, as_json: Json = False,
              url: Url = None, token: Token = None) -> None:
    """Save an area from a YAML or JSON file and share it with partners the engine allows."""
    body = read_document(file)
    if share_with is not None:
        body["share_with"] = [p.strip().upper() for p in share_with.split(",") if p.strip()]
    out.emit(Api(url, token).post("/api/areas", body), as_json, _render_area_saved)


def _render_area_saved(a: dict[str, Any]) -> None:
    out.console.print(f"area [bold]{a['id']}[/] ({a['name']}) saved; shared with: "
                      f"{', '.join(a['shared_with']) or 'nobody'}")
    for partner, why in a["not_shared"].items():
        out.console.print(f"  not shared with {partner}: {why}")


@areas.command("remove")
def areas_remove(area_id: str, as_json: Json = False, url: Url = None,
                 token: Token = None) -> None:
    """Remove an area (it stays with partners it was already shared with)."""
    Api(url, token).delete(f"/api/areas/{area_id}")
    out.emit({"removed": area_id}, as_json,
             lambda d: out.console.print(f"area {d['removed']} removed"))


@areas.command("alerts")
def areas_alerts(limit: int = 100, as_json: Json = False, url: Url = None,
                 token: Token = None) -> None:
    """Area alerts, newest first."""
    out.emit(Api(url, token).get("/api/alerts", limit=limit), as_json, lambda d: out.table(
        f"{len(d)} alert(s)", ["at", "area", "priority", "subject", "event", "lat", "lon",
                               "marking"],
        [[a["at"], a["area_name"], a["priority"], a["subject"], a["event"], _num(a["lat"]),
          _num(a["lon"]), a.get("marking")] for a in d]))
