"""The search index over SQL: SQLite FTS5 or PostgreSQL full-text search, one port.

Every visibility rule and every filter is in the query itself, before counting, ordering
and paging (see ``domain.search``): what the user may not see never reaches a count.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from liaison.domain.items import Item
from liaison.domain.labels import Scheme
from liaison.domain.search import (
    PORTION_BITS,
    SAME_MS_BITS,
    TOTAL_CAP,
    SearchPage,
    SearchQuery,
    Term,
    Visibility,
    index_rows,
    item_seq,
    seq_floor,
)
from liaison.storage import tables as t

sp = t.search_portions
st = t.search_text
fts = sa.table("search_fts", sa.column("rowid", sa.BigInteger))  # SQLite FTS5, migration 0006


def index_item(conn: sa.Connection, item: Item, scheme: Scheme) -> None:
    """(Re)index every portion of ``item`` in the caller's transaction."""
    unindex_item(conn, item.id)
    base = item_seq(item.reported_at, 0)
    last = conn.execute(sa.select(sa.func.max(sp.c.id)).where(
        sp.c.id >= base << PORTION_BITS,
        sp.c.id < (base + (1 << SAME_MS_BITS)) << PORTION_BITS)).scalar_one()
    seq = base if last is None else (last >> PORTION_BITS) + 1
    rows = index_rows(item, scheme, seq)
    conn.execute(sp.insert(), [{
        "id": r.id, "item_id": r.item_id, "portion_id": r.portion_id, "rank": r.rank,
        "compartments": r.compartments, "topic": r.topic, "discipline": r.discipline,
        "source": r.source, "lat": r.lat, "lon": r.lon}
        for r in rows])
    conn.execute(st.insert(), [{"id": r.id, "body": r.body} for r in rows])


def unindex_item(conn: sa.Connection, item_id: str) -> None:
    ids = sa.select(sp.c.id).where(sp.c.item_id == item_id).scalar_subquery()
    conn.execute(st.delete().where(st.c.id.in_(ids)))
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


def visible_to(table: sa.Table, vis: Visibility) -> list[Any]:
    """What a user may see, as conditions on a table's ``rank``, ``compartments`` and
    ``topic`` columns; a row whose topic is "" is bound to no topic."""
    where: list[Any] = [table.c.rank <= vis.max_rank,
                        table.c.compartments.in_(sorted(vis.compartment_sets))]
    if vis.topics is not None:
        where.append(sa.or_(table.c.topic == "", topic_under(table.c.topic, vis.topics))
                     if vis.topics else table.c.topic == "")
    return where


class SqlSearch:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def query(self, q: SearchQuery, vis: Visibility) -> SearchPage:
        """One walk over the ids of the visible matches, newest first and never sorted
        whole, counts items (up to ``TOTAL_CAP``) and picks the page; the page's rows are
        read afterwards."""
        if vis.topics is not None and not vis.topics:
            return SearchPage((), {}, 0)
        ids = self.conn.execution_options(stream_results=True, yield_per=1000).execute(
            self._select(q, vis)).scalars()
        first, end = q.offset, min(q.offset + q.limit, TOTAL_CAP)
        hits: list[int] = []
        count, last, capped = 0, -1, False
        for row_id in ids:
            seq = row_id >> PORTION_BITS
            if seq != last:
                last, count = seq, count + 1
                if count > TOTAL_CAP:
                    capped, count = True, TOTAL_CAP
                    break
            if first < count <= end:
                hits.append(row_id)
        ids.close()
        page: dict[int, str] = {}
        matched: dict[str, list[str]] = {}
        if hits:
            for r in self.conn.execute(sa.select(sp.c.id, sp.c.item_id, sp.c.portion_id)
                                       .where(sp.c.id.in_(hits))):
                page[r.id >> PORTION_BITS] = r.item_id
                matched.setdefault(r.item_id, []).append(r.portion_id)
        order = tuple(page[k] for k in sorted(page, reverse=True))
        return SearchPage(order, {i: tuple(sorted(matched[i])) for i in order}, count, capped)

    def _select(self, q: SearchQuery, vis: Visibility) -> Any:
        where = _where(q, vis)
        columns = (sp.c.id,)
        if not q.terms:
            return sa.select(*columns).where(*where).order_by(sp.c.id.desc())
        if self.conn.dialect.name == "postgresql":
            return (sa.select(*columns).join(st, st.c.id == sp.c.id)
                    .where(*where, sa.text("search_text.tsv @@ to_tsquery('simple', :tsq)")
                           .bindparams(tsq=tsquery(q.terms)))
                    .order_by(sp.c.id.desc()))
        match = sa.text("search_fts MATCH :m").bindparams(m=fts5_query(q.terms))
        return (sa.select(*columns).select_from(fts.join(sp, sp.c.id == fts.c.rowid))
                .where(match, *where).order_by(fts.c.rowid.desc()))


def _where(q: SearchQuery, vis: Visibility) -> list[Any]:
    """Visibility first, then the query's fields, as column conditions (an item always has
    a topic, so no index row is topic-free)."""
    where = visible_to(sp, vis)
    if q.disciplines is not None:
        where.append(sp.c.discipline.in_(sorted(q.disciplines)))
    if q.topic is not None:
        where.append(topic_under(sp.c.topic, {q.topic}))
    if q.level_rank is not None:
        where.append(sp.c.rank == q.level_rank)
    if q.box is not None:
        where += _in_box(q)
    if q.since is not None:
        where.append(sp.c.id >= seq_floor(q.since) << PORTION_BITS)
    if q.until is not None:
        where.append(sp.c.id < seq_floor(q.until) << PORTION_BITS)
    if q.source is not None:
        where.append(sp.c.source == q.source)
    return where


def _in_box(q: SearchQuery) -> list[Any]:
    assert q.box is not None
    b = q.box
    return [sp.c.lat.between(b.south, b.north),
            sp.c.lon.between(b.west, b.east) if b.west <= b.east
            else sa.or_(sp.c.lon >= b.west, sp.c.lon <= b.east)]
