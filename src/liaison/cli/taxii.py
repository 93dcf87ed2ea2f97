"""``liaison taxii``: this node's TAXII 2.1 collections (STIX 2.1 objects), read page after
page."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from liaison.cli import output as out
from liaison.cli.client import Api
from liaison.cli.options import Json, Token, Url
from liaison.cli.output import fail
from liaison.cli.transfer import call_json

TAXII_MEDIA = "application/taxii+json;version=2.1"


TAXII_ROOT = "/taxii2/liaison"


taxii = typer.Typer(help="This node's TAXII 2.1 collections (STIX 2.1).", no_args_is_help=True)


def _taxii(api: Api, path: str, **params: Any) -> Any:
    return call_json(api, "GET", TAXII_ROOT + path, {"Accept": TAXII_MEDIA},
                 params={k: v for k, v in params.items() if v is not None})


@taxii.command("collections")
def taxii_collections(as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """The collections you may read or write."""
    data = _taxii(Api(url, token), "/collections/")
    out.emit(data.get("collections", []), as_json, lambda d: out.table(
        f"{len(d)} collection(s)", ["id", "title", "read", "write"],
        [[c["id"], c["title"], c["can_read"], c["can_write"]] for c in d]))


@taxii.command("objects")
def taxii_objects(collection_id: str,
                  limit: Annotated[int, typer.Option(
                      min=1, max=1000, help="objects per request; every page is read")] = 100,
                  as_json: Json = False, url: Url = None, token: Token = None) -> None:
    """Every object of a collection you may read, page after page."""
    api = Api(url, token)
    path = f"/collections/{collection_id}/objects/"
    objects: list[dict[str, Any]] = []
    cursor: str | None = None
    seen: set[str] = set()
    while True:
        page = _taxii(api, path, limit=limit, next=cursor)
        objects += page.get("objects", [])
        if not page.get("more"):
            break
        cursor = page.get("next")
        if not cursor or cursor in seen:
            fail(f"the node said there is more of {collection_id} but gave no new 'next' "
                 f"to continue from (after {len(objects)} object(s))")
        seen.add(cursor)
    out.emit(objects, as_json, lambda d: out.table(
        f"{len(d)} object(s)", ["type", "id", "name / content"],
        [[o.get("type", ""), o.get("id", ""), _snippet(o)] for o in d]))


def _snippet(o: dict[str, Any], width: int = 60) -> str:
    text = next((str(o[k]) for k in ("name", "content", "description", "value", "pattern")
                 if o.get(k)), "")
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"
