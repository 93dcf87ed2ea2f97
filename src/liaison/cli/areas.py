"""`liaison areas`: areas and targets of interest shared with partners, and their alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.cli.inputs import read_document
from liaison.cli.options import Json, Token, Url

areas = typer.Typer(help="Areas and targets of interest, shared with partners; alerts.",
                   no_args_is_help=True)


@areas.command("list")
def areas_list(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Areas and targets of interest you may see."""
    out.emit(Api(url, token).get("/api/areas"), as_json, lambda d: out.table(
        f"{len(d)} area(s)", ["id", "name", "kind", "priority", "originator", "label"],
        [[a["id"], a["name"], a["kind"], a["priority"], a["originator"], out.label_text(a["label"])]
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
        [[a["at"], a["area_name"], a["priority"], a["subject"], a["event"], out.number(a["lat"]),
          out.number(a["lon"]), a.get("marking")] for a in d]))
