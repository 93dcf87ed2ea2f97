"""Search: full-text and field search over what the user may see, and nothing else.

Every error here depends on the query and the user alone, never on what is stored; the
index applies the user's visibility before it counts, orders or pages (``domain.search``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from liaison.domain.decoding import CodecError, parse_datetime
from liaison.domain.items import REPORT_TIMES, Item
from liaison.domain.labels import PARTY_CODE, Party
from liaison.domain.search import (
    TOTAL_CAP,
    WORD,
    SearchError,
    SearchQuery,
    box_filter,
    discipline_filter,
    fold,
    parse_text,
    time_bound,
    topic_filter,
    visibility,
)
from liaison.domain.users import User
from liaison.services.agreements import load_parties
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Invalid
from liaison.services.items import READERS, visible_part

MAX_PAGE = 200
SNIPPET = 80  # characters either side of the first hit


@dataclass(frozen=True)
class Hit:
    item: Item  # cut to what the user may see
    portions: tuple[str, ...]  # the portions that matched
    snippets: dict[str, str]


def query_from(params: dict[str, Any], own: Party) -> SearchQuery:
    """Validate request parameters into a query; ``Invalid`` names the parameter."""
    scheme = own.scheme
    try:
        level = params.get("level")
        if level is not None and not scheme.has(level):
            raise SearchError(f"level {level!r} is not a level of {own.code}'s scheme: "
                              + ", ".join(lv.name for lv in scheme.levels))
        source = params.get("source")
        if source is not None and not PARTY_CODE.match(source):
            raise SearchError(f"source {source!r} must be a three-letter party code")
        q = SearchQuery(
            terms=parse_text(params.get("q") or ""),
            disciplines=discipline_filter(params["discipline"]) if params.get("discipline")
            else None,
            topic=topic_filter(params["topic"]) if params.get("topic") else None,
            level_rank=scheme.level(level).rank if level is not None else None,
            box=box_filter(params["place"]) if params.get("place") else None,
            since=_time(params, "since"), until=_time(params, "until"), source=source,
            limit=int(params.get("limit", 50)), offset=int(params.get("offset", 0)))
    except (SearchError, CodecError) as exc:
        raise Invalid(str(exc)) from exc
    if q.since is not None and q.until is not None and q.since > q.until:
        raise Invalid(f"since ({q.since.isoformat()}) is after until ({q.until.isoformat()}): "
                      f"no report can fall between them; swap the two")
    if not 1 <= q.limit <= MAX_PAGE or not 0 <= q.offset < TOTAL_CAP:
        raise Invalid(f"limit is 1–{MAX_PAGE} and offset 0–{TOTAL_CAP - 1}: narrow the search "
                      f"to go further")
    return q


def _time(params: dict[str, Any], name: str) -> Any:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        at = parse_datetime(raw, name)
    except OverflowError:  # a time zone that takes it out of the calendar in UTC
        raise SearchError(f"{name} {str(raw)[:40]!r} is out of range: report times are "
                          f"{REPORT_TIMES}") from None
    return time_bound(at, name)


def search(deps: Deps, user: User,
           params: dict[str, Any]) -> tuple[list[Hit], int, bool]:
    """The page of hits for request parameters, how many items match (up to
    ``TOTAL_CAP``) and whether there are more than that; one unit of work."""
    with deps.uow() as uow:
        party = load_parties(uow)[deps.party]
        q = query_from(params, party)
        require(user, *READERS)
        try:
            vis = visibility(user.clearance)
        except SearchError as exc:
            raise Invalid(str(exc)) from exc
        page = uow.search.query(q, vis)
        stored = {i: uow.items.get(i) for i in page.item_ids}
    hits = []
    for item_id in page.item_ids:
        entry = stored[item_id]
        seen = visible_part(entry.item, user, party) if entry else None
        if seen is None:  # index and items disagree: fail closed, show nothing of it
            continue
        ids = {p.id for p in seen.portions}
        matched = tuple(p for p in page.matched[item_id] if p in ids)
        hits.append(Hit(seen, matched, {p.id: snippet(p.content, q) for p in seen.portions
                                        if p.id in matched}))
    return hits, page.total, page.capped


def snippet(text: str, q: SearchQuery) -> str:
    """Text around the first word of the query found in ``text``."""
    first = next((m.start() for m in WORD.finditer(text) for term in q.terms
                  if fold(m.group()).startswith(term.words[0])), 0)
    start, end = max(0, first - SNIPPET), min(len(text), first + SNIPPET)
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")
