"""``liaison users``: the node's users, their roles and clearance (admin)."""

from __future__ import annotations

from typing import Annotated

import typer

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.cli.options import Json, Token, Url

users = typer.Typer(help="Users of the node (admin).", no_args_is_help=True)


@users.command("list")
def users_list(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Users with roles and clearance."""
    out.emit(Api(url, token).get("/api/users"), as_json, lambda d: out.table(
        "users", ["username", "roles", "clearance", "topics", "disabled"],
        [[u["username"], ", ".join(u["roles"]), u["clearance"],
          ", ".join(u["topics"]) if u["topics"] is not None else "all", u["disabled"]]
         for u in d]))


@users.command("add")
def users_add(username: Annotated[str, typer.Option()],
              roles: Annotated[str, typer.Option(help="comma-separated")],
              clearance: Annotated[str, typer.Option(help="a level of the node's scheme")],
              password: Annotated[str | None, typer.Option()] = None,
              topics: Annotated[str | None, typer.Option(help="need-to-know, comma-sep")] = None,
              party: Annotated[str | None, typer.Option(
                  help="with --roles partner: the partner this account reads for")] = None,
              as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Create a user (admin)."""
    body = {"username": username, "roles": roles.split(","), "clearance": clearance,
            "password": password, "topics": topics.split(",") if topics else None,
            "party": party}
    out.emit(Api(url, token).post("/api/users", body), as_json,
             lambda u: out.console.print(f"user {u['username']} created"))
