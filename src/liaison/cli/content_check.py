"""``liaison content-check``: the content check's word list (shown to anyone who may read it,
replaced by an administrator)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.cli.options import Json, Token, Url
from liaison.cli.output import fail
from liaison.interop.documents import DocumentError, load_document

content_check = typer.Typer(help="The content check's word list.", no_args_is_help=True)


@content_check.command("words")
def content_check_words(set_from: Annotated[Path | None, typer.Option(
                            "--set", exists=True, dir_okay=False, readable=True,
                            help='replace the list from a JSON or YAML file {"terms": [...]} '
                                 "(admin)")] = None,
                        as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Show the word list, or replace it from a file."""
    api = Api(url, token)
    if set_from is None:
        out.emit(api.get("/api/content-check/wordlist"), as_json, _render_words)
        return
    try:
        body = load_document(set_from.read_text(encoding="utf-8"), set_from.name).data
    except (OSError, UnicodeDecodeError, DocumentError) as exc:
        fail(str(exc))
    if not isinstance(body.get("terms"), list):
        fail(f'{set_from}: expected a mapping {{"terms": [...]}} of terms')
    data = api.call("PUT", "/api/content-check/wordlist", json=body)
    out.emit(data, as_json, _render_replaced)


def _render_replaced(d: dict[str, Any]) -> None:
    out.console.print(f"word list replaced: {len(d['terms'])} term(s)")
    _render_words(d)


def _render_words(d: dict[str, Any]) -> None:
    rows = [[t, "hold", ""] if isinstance(t, str) else  # a plain term holds a release
            [t.get("term", ""), t.get("severity", "hold"), t.get("note", "")]
            for t in d["terms"]]
    out.table(f"{len(rows)} term(s)", ["term", "severity", "note"], rows)
