"""``liaison rfi``: requests for information between partners: ask, list, answer."""

from __future__ import annotations

from typing import Annotated

import typer

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.cli.options import Json, Sender, Token, Url, partner_ref

rfi = typer.Typer(help="Requests for information between partners.", no_args_is_help=True)


@rfi.command("ask")
def rfi_ask(to: Annotated[str, typer.Option(help="partner, alpha-3")],
            topic: Annotated[str, typer.Option()], purpose: Annotated[str, typer.Option()],
            deadline: Annotated[str, typer.Option(help="ISO 8601 date-time with zone")],
            priority: Annotated[str, typer.Option(help="urgent, high or routine")] = "routine",
            event: str = "", as_json: Json = False, url: Url = None,
            token: Token = None) -> None:
    """Ask a partner for information."""
    data = Api(url, token).post("/api/rfis", {"to": to, "topic": topic, "event": event,
                                              "priority": priority, "deadline": deadline,
                                              "purpose": purpose})
    out.emit(data, as_json, lambda r: out.console.print(f"RFI {r['id']} sent to {r['party']}"))


@rfi.command("list")
def rfi_list(direction: str | None = None, as_json: Json = False, url: Url = None,
             token: Token = None) -> None:
    """RFIs sent and received, with their state and deadlines."""
    out.emit(Api(url, token).get("/api/rfis", direction=direction), as_json, out.requests_table)


@rfi.command("answer")
def rfi_answer(rfi_id: Annotated[str, typer.Argument(help="<party>:<id>, or <id>")],
               answer: Annotated[str, typer.Option(help="answered or declined")],
               reason: str = "", releases: Annotated[str | None, typer.Option(
                   help="comma-separated release request ids")] = None,
               party: Sender = None, as_json: Json = False, url: Url = None,
               token: Token = None) -> None:
    """Answer an incoming RFI with releases already made, or decline it with a reason."""
    ids = [r for r in (releases or "").split(",") if r]
    data = Api(url, token).post(f"/api/rfis/{partner_ref(rfi_id, party)}/answer",
                                {"answer": answer, "reason": reason, "releases": ids})
    out.emit(data, as_json, lambda r: out.console.print(f"RFI {r['id']}: {r['state']}"))
