"""``liaison``: the node's command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from liaison import __version__
from liaison.cli import (
    api_commands,
    node_commands,
    product_commands,
    talk_commands,
    token_commands,
    track_commands,
)
from liaison.cli.client import Api, ApiError, forget_session, save_session
from liaison.cli.output import console, emit, errors

app = typer.Typer(help="Liaison: share classified information with partners under the "
                  "agreements that bind them.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
app.command()(node_commands.init)
app.command()(node_commands.serve)
app.command("import")(node_commands.import_)
app.command()(api_commands.ledger)
for name, group in (("agreements", api_commands.agreements), ("items", api_commands.items),
                    ("release", api_commands.release), ("consent", api_commands.consent),
                    ("audit", api_commands.audit), ("users", api_commands.users),
                    ("peer", api_commands.peer), ("rfi", api_commands.rfi),
                    ("hotline", api_commands.hotline)):
    app.add_typer(group, name=name)
app.add_typer(token_commands.tokens, name="token")
app.add_typer(track_commands.tracks, name="tracks")
app.add_typer(track_commands.launches, name="launches")
app.add_typer(track_commands.areas, name="areas")
app.add_typer(talk_commands.talks, name="talks")
app.add_typer(product_commands.attachments, name="attachments")
app.add_typer(product_commands.labels, name="labels")
app.add_typer(product_commands.content_check, name="content-check")
app.add_typer(product_commands.taxii, name="taxii")
api_commands.release.command("content")(product_commands.release_content)
keys = typer.Typer(help="This node's keys.", no_args_is_help=True)
keys.command("show")(node_commands.keys_show)
keys.command("rotate")(node_commands.keys_rotate)
keys.command("revoke")(node_commands.keys_revoke)
app.add_typer(keys, name="keys")
app.add_typer(node_commands.db, name="db")


@api_commands.audit.command("verify")
def audit_verify(data_dir: node_commands.DataDir = None,
                 database_url: node_commands.DatabaseUrl = None,
                 url: api_commands.Url = None, token: api_commands.Token = None) -> None:
    """Re-hash the audit chain: offline with --data-dir, else through the API."""
    if data_dir is not None or database_url is not None:
        node_commands.verify_local(data_dir, database_url)
        return
    result = Api(url, token).get("/api/audit/verify")
    if not result["ok"]:
        node_commands.fail(f"audit log does not verify: {result['problem']}")
    witnessed = result.get("checkpoints") or {}
    console.print(f"[green]verified[/] {result['checked']} audit records: chain intact; "
                  f"{witnessed.get('countersigned', 0)} checkpoints countersigned by "
                  f"{', '.join(witnessed.get('witnesses', [])) or 'no partner yet'} match")


@app.command()
def login(url: Annotated[str, typer.Option(help="node URL, e.g. http://127.0.0.1:8470")],
          user: Annotated[str, typer.Option(help="username")],
          password: Annotated[str | None, typer.Option(help="default: prompt")] = None) -> None:
    """Sign in and save the session for later commands."""
    secret = password or typer.prompt("password", hide_input=True)
    data = Api(url, None).post("/api/auth/login", {"username": user, "password": secret})
    path = save_session(url, data["token"], user)
    console.print(f"signed in to {url} as {user} until {data['expires_at']} (session {path})")


@app.command()
def logout(url: api_commands.Url = None, token: api_commands.Token = None) -> None:
    """Revoke the saved session's token and forget it."""
    Api(url, token).post("/api/auth/logout", {})
    forget_session()
    console.print("signed out")


@app.command()
def whoami(as_json: api_commands.Json = False, url: api_commands.Url = None,
           token: api_commands.Token = None) -> None:
    """The signed-in user: node, roles and clearance."""
    me = Api(url, token).get("/api/me")
    emit(me, as_json, lambda m: console.print(
        f"{m['username']} on node {m['node']}: {', '.join(m['roles'])}; cleared "
        f"{m['clearance']}"))


@app.command()
def demo(serve: Annotated[bool, typer.Option(help="keep the nodes up afterwards")] = False,
         data_dir: Annotated[Path | None, typer.Option(
             help="keep the demo nodes' data here (default: a temporary directory)")] = None,
         ) -> None:
    """Run the seed scenario on three local nodes (KOR, USA, JPN), narrated."""
    from liaison.cli.demo import run_demo

    raise typer.Exit(run_demo(serve=serve, base_dir=data_dir))


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


def run() -> None:
    try:
        app()
    except ApiError as exc:
        errors.print(f"[red]error:[/] {exc.message}")
        raise SystemExit(1) from exc


if __name__ == "__main__":
    run()
