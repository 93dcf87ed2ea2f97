"""`liaison launches`: launch events the node derived from tracks."""

from __future__ import annotations

import typer

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.cli.options import Json, Token, Url

launches = typer.Typer(help="Launch events derived from tracks.", no_args_is_help=True)


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
