"""``liaison agreements`` and ``liaison ledger``: agreements, their status on any date,
their dated events, amendments and notes, and the reciprocity ledger kept under them. Each
prints a table, or the raw JSON with ``--json``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.cli.options import At, Json, Token, Url, checked_date
from liaison.interop.documents import load_document

agreements = typer.Typer(help="Agreements and their status on any date.", no_args_is_help=True)


@agreements.command("list")
def agreements_list(at: At = None, as_json: Json = False, url: Url = None,
                    token: Token = None) -> None:
    """Every agreement with its state on a date."""
    data = Api(url, token).get("/api/agreements", at=checked_date(at))
    out.emit(data, as_json, lambda d: out.table(
        f"agreements on {at or 'today'}", ["id", "kind", "parties", "state", "explanation"],
        [[a["id"], a["kind"], ", ".join(a["parties"]), a["status"]["state"],
          a["status"]["explanation"]] for a in d]))


@agreements.command("show")
def agreements_show(agreement_id: str, at: At = None, as_json: Json = False,
                    url: Url = None, token: Token = None) -> None:
    """One agreement: status, equivalence table, scope and history."""
    data = Api(url, token).get(f"/api/agreements/{agreement_id}", at=checked_date(at))
    out.emit(data, as_json, _render_agreement)


def _render_agreement(a: dict[str, Any]) -> None:
    s = a["status"]
    out.console.print(f"[bold]{a['id']}[/] {a['kind']} {', '.join(a['parties'])}: "
                      f"{s['state']} — {s['explanation']}")
    parties = sorted(a["parties"])
    out.table("equivalence", ["common", *parties],
              [[r["common"], *(" / ".join(r["levels"].get(p, [])) or "—" for p in parties)]
               for r in a["table"]])
    limit = a["max_imbalance"] if a["max_imbalance"] is not None else "none"
    on = f" on {a['terms_on']}" if a.get("terms_on") else ""
    out.console.print(f"terms{on}: reciprocity limit {limit}; purposes "
                      f"{escape('; '.join(a['purposes'])) or 'not restricted'}")
    out.table("history", ["date", "event", "by", "note"],
              [[e["date"], e["kind"], e["by"], e["note"]] for e in a["events"]])
    out.table("amendments", ["effective", "changes", "recorded by", "on", "note"],
              [[m["effective"], ", ".join(m["changes"]), m["recorded_by"], m["recorded_on"],
                m["note"]] for m in a.get("amendments", [])])


@agreements.command("event")
def agreements_event(agreement_id: str,
                     kind: Annotated[str, typer.Option(help="NOTICE_GIVEN, NOTICE_SUSPENDED…")],
                     on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
                     by: Annotated[str | None, typer.Option(help="acting party")] = None,
                     note: str = "", as_json: Json = False, url: Url = None,
                     token: Token = None) -> None:
    """Record a dated event on an agreement (admin)."""
    data = Api(url, token).post(f"/api/agreements/{agreement_id}/events",
                                {"kind": kind, "date": checked_date(on), "by": by, "note": note})
    out.emit(data, as_json, _render_agreement)


@agreements.command("amend")
def agreements_amend(
        agreement_id: str,
        effective: Annotated[str, typer.Option(help="in force from, YYYY-MM-DD (today or later)")],
        max_imbalance: Annotated[int | None, typer.Option(
            help="new reciprocity limit (0 holds every release)")] = None,
        no_limit: Annotated[bool, typer.Option(help="remove the reciprocity limit")] = False,
        purpose: Annotated[list[str] | None, typer.Option(
            help="a permitted purpose (repeat for several); replaces the list")] = None,
        any_purpose: Annotated[bool, typer.Option(help="lift the purpose restriction")] = False,
        terms: Annotated[Path | None, typer.Option(
            help="YAML/JSON file with a new 'table' and/or 'scope', as in the import format")
        ] = None,
        note: str = "", as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Amend an agreement's terms from a date (admin): dated and audited; checks dated
    before it still see the old terms."""
    body: dict[str, Any] = {"effective": checked_date(effective), "note": note}
    if max_imbalance is not None and no_limit:
        raise typer.BadParameter("give --max-imbalance or --no-limit, not both")
    if max_imbalance is not None or no_limit:
        body["max_imbalance"] = max_imbalance
    if purpose and any_purpose:
        raise typer.BadParameter("give --purpose or --any-purpose, not both")
    if purpose or any_purpose:
        body["purposes"] = list(purpose or [])
    if terms is not None:
        doc = load_document(terms.read_text(encoding="utf-8"), terms.name).data
        body.update({k: v for k, v in doc.items() if k in ("table", "scope")})
    data = Api(url, token).post(f"/api/agreements/{agreement_id}/amendments", body)
    out.emit(data, as_json, _render_agreement)


@agreements.command("note")
def agreements_note(agreement_id: str,
                    kind: Annotated[str, typer.Option(help="NOTICE_GIVEN, NOTICE_SUSPENDED…")],
                    on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
                    note: str = "", as_json: Json = False, url: Url = None,
                    token: Token = None) -> None:
    """Send a signed note of this party's act to the other parties' nodes (admin)."""
    data = Api(url, token).post(f"/api/agreements/{agreement_id}/notes",
                                {"kind": kind, "date": checked_date(on), "note": note})
    out.emit(data, as_json, _render_agreement)


def ledger(agreement: str | None = None, partner: str | None = None, as_json: Json = False,
           url: Url = None, token: Token = None) -> None:
    """Reciprocity: what was given and received, per agreement, level and discipline."""
    data = Api(url, token).get("/api/ledger", agreement=agreement, partner=partner)
    out.emit(data, as_json, lambda d: out.table(
        "reciprocity", ["agreement", "given", "received", "net", "by level", "by discipline"],
        [[ag, b["given"], b["received"], b["net"], _pairs(b["by_level"]),
          _pairs(b["by_discipline"])] for ag, b in d["balances"].items()]))


def _pairs(counts: dict[str, dict[str, int]]) -> str:
    return "; ".join(f"{k} {v['given']}/{v['received']}" for k, v in counts.items())
