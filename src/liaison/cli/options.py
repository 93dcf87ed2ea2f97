"""The options several commands share, in one place: where the node is (``--url``,
``--token``), how to print (``--json``), dates, the node's own storage (``--data-dir``,
``--database-url``), a file to read, and a partner's request reference (``--party``)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

Url = Annotated[str | None, typer.Option("--url", help="node URL (default: saved session)")]
Token = Annotated[str | None, typer.Option("--token", help="bearer token (default: saved)")]
Json = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
At = Annotated[str | None, typer.Option("--at", help="date, YYYY-MM-DD (default today)")]

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="the node's data directory "
                                              "(default LIAISON_DATA_DIR or var/node)")]
DatabaseUrl = Annotated[str | None, typer.Option("--database-url",
                                                 help="PostgreSQL URL instead of SQLite")]

InFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]

Sender = Annotated[str | None, typer.Option(
    "--party", help="the partner that sent it, where two partners used the same id")]


def checked_date(value: str | None) -> str | None:
    """The date as given, once it reads as YYYY-MM-DD (``None`` stays ``None``)."""
    if value is not None:
        try:
            date.fromisoformat(value)
        except ValueError as exc:
            raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from exc
    return value


def partner_ref(request_id: str, party: str | None) -> str:
    """``<party>:<id>``: a partner's request ids are its own (the list shows the ref)."""
    return f"{party.upper()}:{request_id}" if party and ":" not in request_id else request_id
