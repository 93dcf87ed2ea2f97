"""The search index over SQL: SQLite FTS5 or PostgreSQL full-text search, one port.

Every visibility rule and every filter is in the query itself, before counting, ordering
and paging (see ``domain.search``): what the user may not see never reaches a count.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from liaison.domain.items import Item
from liaison.domain.labels import Scheme
from liaison.domain.search import (
    PORTION_BITS,
    SAME_MS_BITS,
    SearchPage,
    SearchQuery,
    Term,
    Visibility,
    index_rows,
    item_seq,
    seq_floor,
    token,
)
from liaison.storage import tables as t

sp = t.search_portions
SHIFT = sa.literal_column(str(PORTION_BITS), sa.Integer)  # PostgreSQL: bigint >> integer
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
        "source": r.source, "reported_at": r.reported_at, "lat": r.lat, "lon": r.lon,
        "body": r.body, "filters": r.filters} for r in rows])


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


def _any(kind: str, values: Iterable[object]) -> str:
    return "(" + " OR ".join(sorted(token(kind, str(v)) for v in values)) + ")"


def fts5_match(q: SearchQuery, vis: Visibility) -> str:
    """The whole query as one FTS5 expression: the user's words in the text column, every
    visibility rule and field filter as filter tokens in the filters column."""
    groups = [_any("r", range(vis.max_rank + 1)), _any("c", vis.compartment_sets)]
    if vis.topics is not None:
        groups.append(_any("t", vis.topics))
    if q.disciplines is not None:
        groups.append(_any("d", q.disciplines))
    if q.topic is not None:
        groups.append(_any("t", {q.topic}))
    if q.level_rank is not None:
        groups.append(_any("r", {q.level_rank}))
    if q.source is not None:
        groups.append(_any("s", {q.source}))
    match = "filters : (" + " AND ".join(groups) + ")"
    return f"body : ({fts5_query(q.terms)}) AND {match}" if q.terms else match


class SqlSearch:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def query(self, q: SearchQuery, vis: Visibility) -> SearchPage:
        if vis.topics is not None and not vis.topics:
            return SearchPage((), {}, 0)
        if self.conn.dialect.name == "postgresql":
            return self._query_columns(q, vis)
        return self._query_fts5(q, vis)

    def _query_fts5(self, q: SearchQuery, vis: Visibility) -> SearchPage:
        where: list[Any] = [sa.text("search_fts MATCH :m").bindparams(m=fts5_match(q, vis))]
        if q.since is not None:
            where.append(fts.c.rowid >= seq_floor(q.since) << PORTION_BITS)
        if q.until is not None:
            where.append(fts.c.rowid < seq_floor(q.until) << PORTION_BITS)
        if q.box is not None:
            where.append(fts.c.rowid.in_(sa.select(sp.c.id).where(*_in_box(q))))
        seq = fts.c.rowid.op(">>")(SHIFT).label("s")
        total = int(self.conn.execute(sa.select(sa.func.count(sa.distinct(seq)))
                                      .select_from(fts).where(*where)).scalar_one())
        seqs = [int(r.s) for r in self.conn.execute(
            sa.select(seq).select_from(fts).where(*where).group_by(seq)
            .order_by(seq.desc()).limit(q.limit).offset(q.offset))]
        if not seqs:
            return SearchPage((), {}, total)
        ids = [int(r.rowid) for r in self.conn.execute(sa.select(fts.c.rowid).where(
            *where, fts.c.rowid >= seqs[-1] << PORTION_BITS,
            fts.c.rowid < (seqs[0] + 1) << PORTION_BITS))]
        return self._page(seqs, [i for i in ids if i >> PORTION_BITS in set(seqs)], total)

    def _page(self, seqs: list[int], ids: list[int], total: int) -> SearchPage:
        rows = self.conn.execute(sa.select(sp.c.id, sp.c.item_id, sp.c.portion_id)
                                 .where(sp.c.id.in_(ids)))
        item_of: dict[int, str] = {}
        matched: dict[str, list[str]] = {}
        for r in rows:
            item_of[r.id >> PORTION_BITS] = r.item_id
            matched.setdefault(r.item_id, []).append(r.portion_id)
        page = tuple(item_of[s] for s in seqs if s in item_of)
        return SearchPage(page, {i: tuple(sorted(matched[i])) for i in page}, total)

    def _where(self, q: SearchQuery, vis: Visibility) -> list[Any]:
        where: list[Any] = [sp.c.rank <= vis.max_rank,
                            sp.c.compartments.in_(sorted(vis.compartment_sets))]
        if vis.topics is not None:
            where.append(topic_under(sp.c.topic, vis.topics))
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
        if q.terms:
            where.append(sa.text("search_portions.tsv @@ to_tsquery('simple', :tsq)")
                         .bindparams(tsq=tsquery(q.terms)))
        return where

    def _query_columns(self, q: SearchQuery, vis: Visibility) -> SearchPage:
        """PostgreSQL: the GIN index on the text and b-tree filters, combined by the
        planner."""
        where = self._where(q, vis)
        seq = sp.c.id.op(">>")(SHIFT).label("s")
        total = int(self.conn.execute(sa.select(sa.func.count(sa.distinct(seq)))
                                      .where(*where)).scalar_one())
        seqs = [int(r.s) for r in self.conn.execute(
            sa.select(seq).where(*where).group_by(seq).order_by(seq.desc())
            .limit(q.limit).offset(q.offset))]
        if not seqs:
            return SearchPage((), {}, total)
        ids = [int(r.id) for r in self.conn.execute(sa.select(sp.c.id).where(
            *where, sp.c.id >= seqs[-1] << PORTION_BITS,
            sp.c.id < (seqs[0] + 1) << PORTION_BITS))]
        return self._page(seqs, [i for i in ids if i >> PORTION_BITS in set(seqs)], total)


def _in_box(q: SearchQuery) -> list[Any]:
    assert q.box is not None
    b = q.box
    return [sp.c.lat.between(b.south, b.north),
            sp.c.lon.between(b.west, b.east) if b.west <= b.east
            else sa.or_(sp.c.lon >= b.west, sp.c.lon <= b.east)]
