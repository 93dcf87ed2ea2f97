"""``liaison login``, ``logout`` and ``whoami``: the saved session the other commands use
when no ``--url`` or ``--token`` is given."""

from __future__ import annotations

from typing import Annotated

import typer

from liaison.cli.client import Api, forget_session, save_session
from liaison.cli.options import Json, Token, Url
from liaison.cli.output import console, emit


def login(url: Annotated[str, typer.Option(help="node URL, e.g. http://127.0.0.1:8470")],
          user: Annotated[str, typer.Option(help="username")],
          password: Annotated[str | None, typer.Option(help="default: prompt")] = None) -> None:
    """Sign in and save the session for later commands."""
    secret = password or typer.prompt("password", hide_input=True)
    data = Api(url, None).post("/api/auth/login", {"username": user, "password": secret})
    path = save_session(url, data["token"], user)
    console.print(f"signed in to {url} as {user} until {data['expires_at']} (session {path})")


def logout(url: Url = None, token: Token = None) -> None:
    """Revoke the saved session's token and forget it."""
    Api(url, token).post("/api/auth/logout", {})
    forget_session()
    console.print("signed out")


def whoami(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """The signed-in user: node, roles and clearance."""
    me = Api(url, token).get("/api/me")
    emit(me, as_json, lambda m: console.print(
        f"{m['username']} on node {m['node']}: {', '.join(m['roles'])}; cleared "
        f"{m['clearance']}"))
