"""``liaison release``: release checks, requests, reviews and a request's content check.
Each prints a table or a line, or the raw JSON with ``--json``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.cli.options import At, Json, Token, Url, checked_date

release = typer.Typer(help="Release checks, requests and reviews.", no_args_is_help=True)


@release.command("check")
def release_check(item_id: str, to: Annotated[str, typer.Option(help="partner, alpha-3")],
                  at: At = None,
                  purpose: Annotated[str | None, typer.Option(
                      help="what it would be released for (consents and agreements may "
                           "limit purposes)")] = None,
                  as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Could this item go to a partner on a date, for a purpose? The engine's decision and
    reasons.

    --at asks "what if" for another date; a real release is always decided on the node's
    clock at the moment of the last approval."""
    data = Api(url, token).get(f"/api/items/{item_id}/release-check", to=to, at=checked_date(at),
                               purpose=purpose)
    out.emit(data, as_json, out.decision)


@release.command("request")
def release_request(item_id: str, to: Annotated[str, typer.Option(help="partner")],
                    purpose: Annotated[str, typer.Option(help="why it is released")],
                    on: Annotated[str | None, typer.Option(
                        help="refused: a release is decided on the node's clock when it is "
                             "approved; use `release check --at` for a what-if date",
                        hidden=True)] = None,
                    as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Request a release; it waits for review and is decided on the node's clock at the
    moment of the last approval."""
    body = {"item_id": item_id, "recipient": to, "purpose": purpose}
    if on is not None:
        body["on"] = on  # the node refuses it with the reason
    data = Api(url, token).post("/api/releases", body)
    out.emit(data, as_json, _render_request)


def _render_request(r: dict[str, Any]) -> None:
    counted = ", ".join(r.get("counted_approvers", [])) or "none yet"
    out.console.print(f"request {r['id']}: {r['item_id']} → {r['recipient']} (decided on "
                      f"{r['on']}, node's clock): [bold]{r['state']}[/] ({r['approvals']}/"
                      f"{r['required_reviews']} approvals: {counted}), tearline "
                      f"{', '.join(r['tearline'])} {r['state_reason']}")
    if r.get("voided_notice"):
        out.console.print(f"  [yellow]{r['voided_notice']}[/]")


@release.command("list")
def release_list(state: str | None = None, as_json: Json = False, url: Url = None,
                 token: Token = None) -> None:
    """Release requests, newest first."""
    data = Api(url, token).get("/api/releases", state=state)
    out.emit(data, as_json, lambda d: out.table(
        "release requests", ["id", "item", "to", "decided on", "state", "approvals",
                             "requested by", "approvals voided"],
        [[r["id"][:12], r["item_id"], r["recipient"], r["on"], r["state"],
          f"{r['approvals']}/{r['required_reviews']}", r["requested_by"],
          r.get("voided_notice", "")] for r in d]))


@release.command("show")
def release_show(request_id: str, as_json: Json = False, url: Url = None,
                 token: Token = None) -> None:
    """One release request with the engine's decision."""
    data = Api(url, token).get(f"/api/releases/{request_id}")
    out.emit(data, as_json, _render_request_and_decision)


def _render_request_and_decision(r: dict[str, Any]) -> None:
    _render_request(r)
    out.decision(r["decision"])


@release.command("review")
def release_review(request_id: str,
                   approve: Annotated[bool, typer.Option("--approve/--reject")],
                   tearline: Annotated[str | None, typer.Option(
                       help="comma-separated portion ids (narrow only)")] = None,
                   comment: str = "", as_json: Json = False, url: Url = None,
                   token: Token = None) -> None:
    """Approve (optionally narrowing the tearline) or reject a request."""
    cut = [p.strip() for p in tearline.split(",") if p.strip()] if tearline else None
    data = Api(url, token).post(f"/api/releases/{request_id}/reviews",
                                {"approve": approve, "tearline": cut, "comment": comment})
    out.emit(data, as_json, _render_request)


@release.command("content")
def release_content(request_id: str, as_json: Json = False, url: Url = None,
                    token: Token = None) -> None:
    """The content check's findings over a release request's tearline, and whether they
    hold it."""
    data = Api(url, token).get(f"/api/releases/{request_id}/content-check")
    out.emit(data, as_json, _render_check)


def _render_check(c: dict[str, Any]) -> None:
    out.table(f"{len(c['findings'])} finding(s)",
              ["portion", "kind", "severity", "term", "at", "snippet", "reason"],
              [[f["portion"], f["kind"], f["severity"], f["term"], f"{f['start']}–{f['end']}",
                f["snippet"], f["reason"]] for f in c["findings"]])
    if c["hold"]:
        out.console.print(f"[red bold]HOLD:[/] {'; '.join(c['reasons'])}")
    else:
        out.console.print("[green]no hold[/]")
