"""The search index over SQL: SQLite FTS5 or PostgreSQL full-text search, one port.

Every visibility rule and every filter is in the query itself, before counting, ordering
and paging (see ``domain.search``): what the user may not see never reaches a count.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from liaison.domain.items import Item
from liaison.domain.labels import Scheme
from liaison.domain.search import SearchPage, SearchQuery, Term, Visibility, index_rows
from liaison.storage import tables as t

sp = t.search_portions


def index_item(conn: sa.Connection, item: Item, scheme: Scheme) -> None:
    """(Re)index every portion of ``item`` in the caller's transaction."""
    unindex_item(conn, item.id)
    rows = index_rows(item, scheme)
    conn.execute(sp.insert(), [{
        "item_id": r.item_id, "portion_id": r.portion_id, "rank": r.rank,
        "compartments": r.compartments, "topic": r.topic, "discipline": r.discipline,
        "source": r.source, "reported_at": r.reported_at, "lat": r.lat, "lon": r.lon,
        "body": r.body} for r in rows])


def unindex_item(conn: sa.Connection, item_id: str) -> None:
    conn.execute(sp.delete().where(sp.c.item_id == item_id))


def fts5_query(terms: tuple[Term, ...]) -> str:
    """Words are letters and digits only (``domain.search.WORD``): nothing to escape."""
    return " AND ".join(f'"{" ".join(term.words)}"' + (" *" if term.prefix else "")
                        for term in terms)


def tsquery(terms: tuple[Term, ...]) -> str:
    return " & ".join("(" + " <-> ".join(
        w + (":*" if term.prefix and i == len(term.words) - 1 else "")
        for i, w in enumerate(term.words)) + ")" for term in terms)


def _like_prefix(topic: str) -> str:
    return topic.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"


def topic_under(column: Any, topics: frozenset[str] | set[str]) -> Any:
    """``column`` holds one of ``topics`` or a topic under one of them."""
    return sa.or_(*(sa.or_(column == s, column.like(_like_prefix(s), escape="\\"))
                    for s in sorted(topics)))


class SqlSearch:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def _where(self, q: SearchQuery, vis: Visibility) -> list[Any]:
        where: list[Any] = [sp.c.rank <= vis.max_rank,
                            sp.c.compartments.in_(sorted(vis.compartment_sets))]
        if vis.topics is not None:
            where.append(topic_under(sp.c.topic, vis.topics) if vis.topics else sa.false())
        if q.disciplines is not None:
            where.append(sp.c.discipline.in_(sorted(q.disciplines)))
        if q.topic is not None:
            where.append(topic_under(sp.c.topic, {q.topic}))
        if q.level_rank is not None:
            where.append(sp.c.rank == q.level_rank)
        if q.box is not None:
            b = q.box
            where.append(sp.c.lat.between(b.south, b.north))
            where.append(sp.c.lon.between(b.west, b.east) if b.west <= b.east
                         else sa.or_(sp.c.lon >= b.west, sp.c.lon <= b.east))
        if q.since is not None:
            where.append(sp.c.reported_at >= q.since)
        if q.until is not None:
            where.append(sp.c.reported_at < q.until)
        if q.source is not None:
            where.append(sp.c.source == q.source)
        if q.terms:
            if self.conn.dialect.name == "postgresql":
                where.append(sa.text("search_portions.tsv @@ to_tsquery('simple', :tsq)")
                             .bindparams(tsq=tsquery(q.terms)))
            else:
                where.append(sa.text("search_portions.id IN (SELECT rowid FROM search_fts "
                                     "WHERE search_fts MATCH :fts)")
                             .bindparams(fts=fts5_query(q.terms)))
        return where

    def query(self, q: SearchQuery, vis: Visibility) -> SearchPage:
        where = self._where(q, vis)
        hits = sa.select(sp.c.item_id, sp.c.reported_at).where(*where).distinct().subquery()
        total = int(self.conn.execute(sa.select(sa.func.count()).select_from(hits))
                    .scalar_one())
        page = tuple(r.item_id for r in self.conn.execute(
            sa.select(hits.c.item_id).order_by(hits.c.reported_at.desc(), hits.c.item_id)
            .limit(q.limit).offset(q.offset)))
        matched: dict[str, list[str]] = {i: [] for i in page}
        if page:
            for r in self.conn.execute(sa.select(sp.c.item_id, sp.c.portion_id)
                                       .where(*where, sp.c.item_id.in_(page))):
                matched[r.item_id].append(r.portion_id)
        return SearchPage(page, {i: tuple(sorted(v)) for i, v in matched.items()}, total)
