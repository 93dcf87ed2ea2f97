"""``liaison peer``: partner nodes: trust, keys, and what flows to and from them (the
outbox's lanes, refused messages both ways)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.cli.options import Json, Token, Url

peer = typer.Typer(help="Partner nodes.", no_args_is_help=True)


@peer.command("add")
def peer_add(party: Annotated[str, typer.Option(help="the partner's party, alpha-3")],
             address: Annotated[str, typer.Option(help="the partner node's URL")],
             fingerprint: Annotated[str, typer.Option(
                 help="the partner's identity fingerprint, exchanged out of band")],
             as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Trust a partner node (admin): its card must match the fingerprint."""
    data = Api(url, token).post("/api/peers", {"party": party, "address": address,
                                               "fingerprint": fingerprint})
    out.emit(data, as_json, lambda p: out.console.print(
        f"partner {p['party']} at {p['address']} trusted (fingerprint {p['fingerprint']})"))


@peer.command("list")
def peer_list(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Partner nodes and their keys."""
    out.emit(Api(url, token).get("/api/peers"), as_json, lambda d: out.table(
        "partners", ["party", "address", "fingerprint", "signing keys", "encryption keys"],
        [[p["party"], p["address"], p["fingerprint"], len(p["signing_keys"]),
          len(p["encryption_keys"])] for p in d]))


@peer.command("show")
def peer_show(party: Annotated[str, typer.Argument(help="the partner's party, alpha-3")],
              as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """One partner: its address, pinned fingerprint, the card held (when it was issued:
    a refreshed card is taken when an envelope names a key the card held did not list)
    and each key's id, creation, expiry and revocation."""
    code = party.upper()
    found = [p for p in Api(url, token).get("/api/peers") if p["party"] == code]
    if not found:
        out.console.print(f"no partner node {code}: add it with `liaison peer add`")
        raise typer.Exit(1)

    def render(p: dict[str, Any]) -> None:
        out.console.print(f"partner {p['party']} at {p['address']}\n"
                          f"fingerprint {p['fingerprint']} (pinned)\n"
                          f"trusted since {p['added_at']}; card held issued "
                          f"{p.get('card_issued') or '-'} (a refresh takes a newer card)")
        out.table("keys", ["kind", "id", "created", "expires", "revoked"],
                  [[kind, k["id"], k["created"], k["expires"] or "-",
                    "yes" if k["revoked"] else ""]
                   for kind in ("signing", "encryption") for k in p[f"{kind}_keys"]])

    out.emit(found[0], as_json, render)


@peer.command("outbox")
def peer_outbox(check: Annotated[bool, typer.Option(
                    "--check", help="exit 3 when a lane is stuck (for scripts and monitors)")]
                = False,
                refused: Annotated[bool, typer.Option(
                    "--refused", help="list refused messages with their reasons")] = False,
                partner: Annotated[str | None, typer.Option(
                    "--partner", help="with --refused: only this partner")] = None,
                limit: Annotated[int, typer.Option(help="with --refused: how many")] = 100,
                as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Messages per partner and lane: pending, the oldest pending message's age, failed
    attempts, the last error and when, the last delivery; stuck lanes are named."""
    api = Api(url, token)
    if refused:
        out.emit(api.get("/api/outbox/refused", peer=partner, limit=limit), as_json,
                 _render_refused)
        return
    data = api.get("/api/outbox")
    out.emit(data, as_json, _render_outbox)
    if check and any(p.get("stuck") for p in data.values()):
        raise typer.Exit(3)


@peer.command("inbox")
def peer_inbox(partner: Annotated[str | None, typer.Option(
                   "--partner", help="only what this partner sent")] = None,
               limit: Annotated[int, typer.Option(help="how many, latest first")] = 100,
               as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """What partners sent that this node refused, with the reason their signed receipt gave
    (administrators and release officers); each refusal is in the audit log too."""
    out.emit(Api(url, token).get("/api/inbox/refused", peer=partner, limit=limit), as_json,
             _render_inbox_refused)


def _render_inbox_refused(rows: list[dict[str, Any]]) -> None:
    # the reason quotes what a partner sent: shown as text, never as markup
    out.table("refused from partners", ["partner", "seq", "kind", "id", "received", "reason"],
              [[r["sender"], r["seq"], escape(r["kind"]), escape(r["id"]), r["received_at"],
                escape(r["reason"])] for r in rows])
    if not rows:
        out.console.print("nothing refused")


def _render_outbox(d: dict[str, Any]) -> None:
    out.table("outbox", ["partner", "pending", "delivered", "refused"],
              [[p, c["pending"], c["delivered"], c["refused"]] for p, c in d.items()])
    out.table("lanes", ["partner", "lane", "pending", "oldest", "failures", "last error",
                        "last error at", "last delivery", "state"],
              [[p, lane, v["pending"], _age(v["oldest_pending_age_s"]), v["failures"],
                v["last_error"] or "-", v["last_error_at"] or "-",
                v["last_delivery_at"] or "-", "STUCK" if v["stuck"] else "ok"]
               for p, c in d.items() for lane, v in c.get("lanes", {}).items()])
    alerts = [a for c in d.values() for a in c.get("alerts", [])]
    for alert in alerts:
        out.console.print(f"[bold red]ALERT[/]: {escape(alert)}")
    if not alerts:
        out.console.print("no lane is stuck")


def _render_refused(rows: list[dict[str, Any]]) -> None:
    out.table("refused messages", ["partner", "lane", "seq", "kind", "settled", "reason"],
              [[r["peer"], r["lane"], r["seq"], r["kind"], r["settled_at"] or "-",
                escape(r["reason"])] for r in rows])


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
