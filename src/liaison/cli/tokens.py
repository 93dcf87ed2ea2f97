"""``liaison token``: API tokens over a node's API. A token acts as its owner, expires,
and is listed and revoked by its owner or an administrator."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.cli.options import Json, Token, Url

tokens = typer.Typer(help="API tokens: make, list and revoke (yours; any user's as admin).",
                     no_args_is_help=True)
User = Annotated[str | None, typer.Option("--user", help="another user's tokens (admin)")]


def _base(user: str | None) -> str:
    return f"/api/users/{user}/tokens" if user else "/api/tokens"


@tokens.command("create")
def token_create(name: Annotated[str, typer.Argument(help="what the token is for")],
                 days: Annotated[int | None, typer.Option(
                     help="how long it lasts (default: the node's api_token_days)")] = None,
                 as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """An API token acting as you; the token is shown once, keep it safe."""
    body: dict[str, Any] = {"name": name, **({"days": days} if days is not None else {})}
    out.emit(Api(url, token).post("/api/tokens", body), as_json, lambda t: out.console.print(
        f"token {t['id']} ({t['name']}) expires {t['expires_at']}:\n{t['token']}"))


@tokens.command("list")
def token_list(user: User = None, as_json: Json = False, url: Url = None,
               token: Token = None) -> None:
    """Tokens in force: sessions and API tokens, with their ids and expiries."""
    out.emit(Api(url, token).get(_base(user)), as_json, lambda d: out.table(
        "tokens", ["id", "user", "kind", "name", "created", "expires"],
        [[t["id"], t["username"], t["kind"], t["name"], t["created_at"],
          t["expires_at"] or "never"] for t in d]))


@tokens.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="the id from `token list`")],
                 user: User = None, as_json: Json = False, url: Url = None,
                 token: Token = None) -> None:
    """Revoke a token: it is refused from now on."""
    data = Api(url, token).call("DELETE", f"{_base(user)}/{token_id}")
    out.emit(data, as_json, lambda t: out.console.print(
        f"token {t['id']} ({t['username']}, {t['name']}) revoked"))
