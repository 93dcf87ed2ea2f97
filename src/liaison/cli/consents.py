"""``liaison consent``: originators' written consents (the third-party rule), and requests
for consent between partners' nodes."""

from __future__ import annotations

from typing import Annotated

import typer

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.cli.options import Json, Sender, Token, Url, checked_date, partner_ref

consent = typer.Typer(help="Originators' written consents.", no_args_is_help=True)


@consent.command("add")
def consent_add(originator: Annotated[str, typer.Option()],
                to: Annotated[str, typer.Option(help="the party consented to")],
                item: Annotated[str, typer.Option(help="item id, or * for any")],
                purpose: Annotated[str, typer.Option()],
                granted_by: Annotated[str, typer.Option(help="who signed the consent")],
                granted_on: Annotated[str, typer.Option(help="YYYY-MM-DD")],
                as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Record an originator's written consent (third-party rule)."""
    data = Api(url, token).post("/api/consents", {
        "originator": originator, "recipient": to, "item_id": item, "purpose": purpose,
        "granted_by": granted_by, "granted_on": checked_date(granted_on)})
    out.emit(data, as_json, lambda c: out.console.print(f"consent {c['id']} recorded"))


@consent.command("list")
def consent_list(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Recorded consents."""
    out.emit(Api(url, token).get("/api/consents"), as_json, lambda d: out.table(
        "consents", ["originator", "to", "item", "purpose", "granted by", "on"],
        [[c["originator"], c["recipient"], c["item_id"], c["purpose"], c["granted_by"],
          c["granted_on"]] for c in d]))


@consent.command("request")
def consent_request(item: Annotated[str, typer.Option(help="a received item's id")],
                    to: Annotated[str, typer.Option(help="the party to pass it on to")],
                    purpose: Annotated[str, typer.Option()], as_json: Json = False,
                    url: Url = None, token: Token = None) -> None:
    """Ask the originator's node for written consent to pass a received item on."""
    data = Api(url, token).post("/api/consent-requests", {"item_id": item, "recipient": to,
                                                          "purpose": purpose})
    out.emit(data, as_json, lambda r: out.console.print(
        f"consent request {r['id']} sent to {r['party']}"))


@consent.command("requests")
def consent_requests(direction: str | None = None, as_json: Json = False, url: Url = None,
                     token: Token = None) -> None:
    """Consent requests sent and received."""
    out.emit(Api(url, token).get("/api/consent-requests", direction=direction), as_json,
             out.requests_table)


@consent.command("answer")
def consent_answer(request_id: Annotated[str, typer.Argument(help="<party>:<id>, or <id>")],
                   grant: Annotated[bool, typer.Option("--grant/--decline")],
                   reason: str = "", party: Sender = None, as_json: Json = False,
                   url: Url = None, token: Token = None) -> None:
    """Grant or decline a partner's request for consent (at the originator's node)."""
    data = Api(url, token).post(f"/api/consent-requests/{partner_ref(request_id, party)}/answer",
                                {"grant": grant, "reason": reason})
    out.emit(data, as_json, lambda r: out.console.print(f"consent {r['id']}: {r['state']}"))
