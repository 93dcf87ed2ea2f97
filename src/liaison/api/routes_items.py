"""Items and what each user may see of them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from liaison.api.schemas import ItemIn, plain
from liaison.api.security import CurrentUser, NodeDeps
from liaison.api.views import item_summary, item_view
from liaison.services import items
from liaison.services import search as find
from liaison.services.agreements import list_parties

router = APIRouter(prefix="/api", tags=["items"])


def _own(deps: Any) -> Any:
    return next(p for p in list_parties(deps) if p.code == deps.party)


@router.post("/items", status_code=201, summary="Create an item with labelled portions")
def create_item(body: ItemIn, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    item = items.create_item(deps, user, plain(body))
    return item_view(item, _own(deps))


@router.get("/items", summary="Items you may see (portions cut to your clearance)")
def list_items(user: CurrentUser, deps: NodeDeps, limit: int = Query(50, ge=1, le=500),
               offset: int = Query(0, ge=0, le=10**9)) -> dict[str, Any]:
    page, total = items.list_items(deps, user, limit, offset)
    party = _own(deps)
    return {"items": [item_summary(i, party) for i in page], "total": total,
            "limit": limit, "offset": offset}


@router.get("/items/{item_id}", summary="One item, cut to your clearance")
def get_item(item_id: str, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return item_view(items.get_item(deps, user, item_id), _own(deps))


@router.get("/search", summary="Full-text and field search over what you may see")
def search(user: CurrentUser, deps: NodeDeps,
           q: str = Query("", max_length=500,
                          description='words, "exact phrases" and prefix* (all must appear)'),
           discipline: str | None = Query(None, max_length=16,
                                          description="SIGINT also finds COMINT, ELINT…"),
           topic: str | None = Query(None, max_length=256,
                                     description="this topic and those under it"),
           level: str | None = Query(None, max_length=64,
                                     description="portions at this level of your scheme"),
           place: str | None = Query(None, max_length=80,
                                     description="south,west,north,east in degrees"),
           since: str | None = Query(None, max_length=40, description="reported at or after"),
           until: str | None = Query(None, max_length=40, description="reported before"),
           source: str | None = Query(None, max_length=3, description="originating party"),
           limit: int = Query(50, ge=1, le=200),
           offset: int = Query(0, ge=0, le=10**6)) -> dict[str, Any]:
    params = {"q": q, "discipline": discipline, "topic": topic, "level": level,
              "place": place, "since": since, "until": until, "source": source,
              "limit": limit, "offset": offset}
    hits, total = find.search(deps, user, find.query_from(params, deps))
    party = _own(deps)
    return {"total": total, "limit": limit, "offset": offset,
            "items": [{**item_summary(h.item, party), "matched": list(h.portions),
                       "snippets": h.snippets} for h in hits]}
