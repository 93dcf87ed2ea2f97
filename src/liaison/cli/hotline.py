"""``liaison hotline``: a hotline channel's traffic, acknowledgements, check calls,
severing and re-opening, and its permanent transcript."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.cli.options import Json, Token, Url

hotline = typer.Typer(help="The hotline: traffic, acknowledgements, check calls.",
                      no_args_is_help=True)


def _render_line(view: dict[str, Any]) -> None:
    status = view["status"]
    out.console.print(f"[bold]{view['id']}[/] with {view['partner']}: {status['state']}"
                      + (f", {status['missed_days']} missed day(s)" if status["missed_days"]
                         else ""))
    out.table("traffic", ["sent", "from", "seq", "precedence", "text", "ack / outcome",
                          "overdue"],
              [[t["sent_at"][:19], t["sender"], t["seq"], t.get("precedence") or t["kind"],
                t["text"], t.get("acknowledged_by") or t.get("outcome") or "",
                "OVERDUE" if t.get("overdue") else ""] for t in view.get("traffic", [])])
    summary = view.get("summary")
    if summary:
        out.console.print(f"open: {summary['open']}, overdue: {summary['overdue']}, "
                          f"FLASH unacknowledged: {len(summary['unacknowledged_flash'])}")
    if view.get("older"):
        out.console.print(f"older traffic: --before {view['older']}")


Limit = Annotated[int, typer.Option(help="entries in the page (the latest, or before "
                                         "--before)", min=1, max=1000)]


Before = Annotated[str | None, typer.Option(help="the page just before this position "
                                                 "(printed as 'older traffic')")]


@hotline.command("show")
def hotline_show(channel: str, limit: Limit = 100, before: Before = None,
                 as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """A channel's line status and a page of its traffic (the latest first), with
    deadlines, overdue flags and what is open."""
    out.emit(Api(url, token).get(f"/api/hotline/{channel}", limit=limit, before=before),
             as_json, _render_line)


@hotline.command("send")
def hotline_send(channel: str,
                 precedence: Annotated[str, typer.Option(help="FLASH, IMMEDIATE, PRIORITY "
                                                         "or ROUTINE")],
                 text: Annotated[str, typer.Option()], as_json: Json = False,
                 url: Url = None, token: Token = None) -> None:
    """Send a message (watch officer)."""
    data = Api(url, token).post(f"/api/hotline/{channel}/messages",
                                {"precedence": precedence.upper(), "text": text})
    out.emit(data, as_json, lambda m: out.console.print(f"sent {m['kind']} {m['seq']}"))


@hotline.command("ack")
def hotline_ack(channel: str, sender: Annotated[str, typer.Option(help="the partner")],
                seq: Annotated[int, typer.Option()], as_json: Json = False,
                url: Url = None, token: Token = None) -> None:
    """Acknowledge a received message or answer a check call."""
    data = Api(url, token).post(f"/api/hotline/{channel}/acknowledgements",
                                {"sender": sender.upper(), "seq": seq})
    out.emit(data, as_json, lambda m: out.console.print(f"acknowledged {m['seq']}"))


@hotline.command("call")
def hotline_call(channel: str, as_json: Json = False, url: Url = None,
                 token: Token = None) -> None:
    """Place a check call now."""
    data = Api(url, token).post(f"/api/hotline/{channel}/check-calls", {})
    out.emit(data, as_json, lambda m: out.console.print(f"check call {m['seq']} placed"))


@hotline.command("sever")
def hotline_sever(channel: str, as_json: Json = False, url: Url = None,
                  token: Token = None) -> None:
    """Declare the line severed (unilateral)."""
    out.emit(Api(url, token).post(f"/api/hotline/{channel}/sever", {}), as_json, _render_line)


@hotline.command("reopen")
def hotline_reopen(channel: str, as_json: Json = False, url: Url = None,
                   token: Token = None) -> None:
    """Re-open a severed line while its MOU is in force."""
    out.emit(Api(url, token).post(f"/api/hotline/{channel}/reopen", {}), as_json,
             _render_line)


@hotline.command("transcript")
def hotline_transcript(channel: str, html: Annotated[bool, typer.Option(
                           "--html", help="HTML instead of JSON")] = False,
                       limit: Annotated[int | None, typer.Option(
                           help="one page of this many entries instead of the whole line",
                           min=1, max=1000)] = None,
                       before: Before = None, url: Url = None, token: Token = None) -> None:
    """Print the permanent transcript (JSON, or HTML with --html): the whole line, or one
    page with --limit (and --before)."""
    params = {"limit": limit, "before": before}
    print(Api(url, token).text(f"/api/hotline/{channel}/transcript",
                               format="html" if html else "json",
                               **{k: v for k, v in params.items() if v is not None}))
