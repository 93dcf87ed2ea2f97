"""``liaison``: the node's command line. This module only assembles the commands: each
group lives in the module named after its subject (see the package's docstring)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from liaison import __version__
from liaison.cli import (
    agreements,
    areas,
    attachments,
    audit,
    consents,
    content_check,
    db,
    hotline,
    items,
    keys,
    labels,
    launches,
    node,
    peers,
    releases,
    rfis,
    session,
    talks,
    taxii,
    tokens,
    tracks,
    users,
)
from liaison.cli.client import ApiError
from liaison.cli.output import console, errors

app = typer.Typer(help="Liaison: share classified information with partners under the "
                  "agreements that bind them.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
app.command()(node.init)
app.command()(node.serve)
app.command("import")(node.import_)
app.command()(agreements.ledger)
for name, group in (("agreements", agreements.agreements), ("items", items.items),
                    ("release", releases.release), ("consent", consents.consent),
                    ("audit", audit.audit), ("users", users.users), ("peer", peers.peer),
                    ("rfi", rfis.rfi), ("hotline", hotline.hotline),
                    ("token", tokens.tokens), ("tracks", tracks.tracks),
                    ("launches", launches.launches), ("areas", areas.areas),
                    ("talks", talks.talks), ("attachments", attachments.attachments),
                    ("labels", labels.labels), ("content-check", content_check.content_check),
                    ("taxii", taxii.taxii), ("keys", keys.keys), ("db", db.db)):
    app.add_typer(group, name=name)
app.command()(session.login)
app.command()(session.logout)
app.command()(session.whoami)


@app.command()
def demo(serve: Annotated[bool, typer.Option(help="keep the nodes up afterwards")] = False,
         data_dir: Annotated[Path | None, typer.Option(
             help="keep the demo nodes' data here (default: a temporary directory)")] = None,
         ) -> None:
    """Run the seed scenario on three local nodes (KOR, USA, JPN), narrated."""
    from liaison.cli.demo.run import run_demo

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
