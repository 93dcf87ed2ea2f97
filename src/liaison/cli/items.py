"""``liaison items``: items cut to the reader's clearance: list, show, search, add."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.cli.options import Json, Token, Url
from liaison.interop.documents import load_document

items = typer.Typer(help="Items, cut to your clearance.", no_args_is_help=True)


@items.command("list")
def items_list(limit: int = 50, offset: int = 0, as_json: Json = False, url: Url = None,
               token: Token = None) -> None:
    """Items you may see."""
    data = Api(url, token).get("/api/items", limit=limit, offset=offset)
    out.emit(data, as_json, lambda d: out.table(
        f"{d['total']} item(s)", ["id", "banner", "title", "discipline", "topic", "grade"],
        [[i["id"], i["banner"], i["title"], i["discipline"], i["topic"], i["grade"]]
         for i in d["items"]]))


@items.command("show")
def items_show(item_id: str, as_json: Json = False, url: Url = None,
               token: Token = None) -> None:
    """One item with its banner and portion marks."""
    out.emit(Api(url, token).get(f"/api/items/{item_id}"), as_json, _render_item)


def _render_item(i: dict[str, Any]) -> None:
    out.console.print(f"[bold]{i['banner']}[/]\n{i['id']}: {i['title']} ({i['discipline']}, "
                      f"{i['topic']}, {i['grade']})")
    for p in i["portions"]:
        out.console.print(f"  {p['mark']} {p['content']}")
    out.console.print(f"[bold]{i['banner']}[/]")


@items.command("search")
def items_search(text: Annotated[str, typer.Argument(help='words, "phrases", prefix*')] = "",
                 discipline: str | None = None, topic: str | None = None,
                 level: str | None = None,
                 place: Annotated[str | None, typer.Option(
                     help="south,west,north,east")] = None,
                 since: str | None = None, until: str | None = None,
                 source: str | None = None, limit: int = 50, offset: int = 0,
                 as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Search the items you may see: text and fields (discipline, topic, level, place,
    time, source)."""
    params = {k: v for k, v in {"q": text, "discipline": discipline, "topic": topic,
                                "level": level, "place": place, "since": since,
                                "until": until, "source": source}.items() if v}
    data = Api(url, token).get("/api/search", limit=limit, offset=offset, **params)
    out.emit(data, as_json, lambda d: out.table(
        f"{d['total']} item(s) found", ["id", "banner", "title", "matched", "snippet"],
        [[i["id"], i["banner"], i["title"], ", ".join(i["matched"]),
          next(iter(i["snippets"].values()), "")] for i in d["items"]]))


@items.command("add")
def items_add(file: Path, as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Create an item from a YAML or JSON file."""
    doc = load_document(file.read_text(encoding="utf-8"), file.name)
    out.emit(Api(url, token).post("/api/items", doc.data), as_json, _render_item)
