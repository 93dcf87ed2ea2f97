"""Commands over a node's talks API: propose, answer, the minutes and their signatures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.cli.inputs import read_document
from liaison.cli.options import Json, Token, Url

talks = typer.Typer(help="Talks by video conference: proposals, answers, signed minutes.",
                    no_args_is_help=True)


def _render(t: dict[str, Any]) -> None:
    c = t["current"]
    answered = f" by {t['answered_by']}" if t.get("answered_by") else ""
    why = f": {t['reason']}" if t.get("reason") else ""
    out.console.print(f"[bold]{t['id']}[/] {c['title']} — {t['state']}{answered}{why} "
                      f"(version {c['version']} by {c['by']}; {', '.join(t['parties'])})")
    out.console.print(f"  {t['local_start']} ({c['tz']}), {c['duration_min']} min")
    out.table("agenda", ["id", "kind", "title"],
              [[a["id"], a["kind"], a["title"]] for a in c["agenda"]])
    m = t.get("minutes")
    if m:
        out.console.print(f"  minutes revision {m['revision']}, signed by "
                          f"{', '.join(sorted(m['signatures'])) or 'nobody yet'}"
                          f"{' — sealed' if t['minutes_sealed'] else ''}")


@talks.command("list")
def talks_list(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Talks, newest first."""
    out.emit(Api(url, token).get("/api/talks"), as_json, lambda rows: out.table(
        "talks", ["id", "title", "state", "parties", "starts"],
        [[t["id"], t["current"]["title"], t["state"], ", ".join(t["parties"]),
          t["local_start"]] for t in rows]))


@talks.command("show")
def talks_show(talks_id: str, as_json: Json = False, url: Url = None,
               token: Token = None) -> None:
    """One talks: its current proposal, agenda and minutes."""
    out.emit(Api(url, token).get(f"/api/talks/{talks_id}"), as_json, _render)


@talks.command("propose")
def talks_propose(file: Annotated[Path, typer.Argument(
        help="YAML/JSON: counterpart, title, starts_at, tz, duration_min, delegations, "
             "agenda")], as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Propose talks to a partner (delegate)."""
    out.emit(Api(url, token).post("/api/talks", read_document(file)), as_json, _render)


@talks.command("answer")
def talks_answer(talks_id: str,
                 action: Annotated[str, typer.Option(
                     help="accept, amend, decline, cancel, or end (the call is over)")],
                 version: int | None = None, reason: str = "",
                 proposal: Annotated[Path | None, typer.Option(
                     help="for amend: the counter-proposal file")] = None,
                 as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Answer a proposal as this party."""
    body: dict[str, Any] = {"action": action, "version": version, "reason": reason}
    if proposal is not None:
        body["proposal"] = read_document(proposal)
    out.emit(Api(url, token).post(f"/api/talks/{talks_id}/answer", body), as_json, _render)


@talks.command("minutes")
def talks_minutes(talks_id: str,
                  file: Annotated[Path | None, typer.Option(
                      help="YAML/JSON: attendance, outcomes, agreed")] = None,
                  sign: Annotated[bool, typer.Option(help="sign them as they stand")] = False,
                  revision: Annotated[int | None, typer.Option(
                      help="the revision you read (0: none yet); refused if they changed "
                           "since")] = None,
                  as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Draft or edit the minutes, and/or sign them with this node's key."""
    body: dict[str, Any] = {**(read_document(file) if file else {}), "sign": sign}
    if revision is not None:
        body["revision"] = revision
    out.emit(Api(url, token).post(f"/api/talks/{talks_id}/minutes", body), as_json, _render)


@talks.command("verify")
def talks_verify(talks_id: str, as_json: Json = False, url: Url = None,
                 token: Token = None) -> None:
    """Each side's signature on the minutes, checked against its published keys."""
    out.emit(Api(url, token).get(f"/api/talks/{talks_id}/minutes/verify"), as_json,
             lambda d: out.table("signatures", ["party", "result"],
                                 [[p, r] for p, r in d.items()]))
