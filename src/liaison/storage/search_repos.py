"""The search index over SQL: SQLite FTS5 or PostgreSQL full-text search, one port.

Every visibility rule and every filter is in the query itself, before counting, ordering
and paging (see ``domain.search``): what the user may not see never reaches a count.

Ids follow report time (``domain.search``: an item reported earlier has a smaller id, ties
in the order first indexed); the index ``(reported_us, id)`` finds an item's neighbours in
that order and turns a since/until time into an id range with one seek.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from liaison.domain.items import Item
from liaison.domain.labels import Scheme
from liaison.domain.search import (
    PORTION_BITS,
    TOTAL_CAP,
    SearchPage,
    SearchQuery,
    Term,
    Visibility,
    access_key,
    index_rows,
    keyed_terms,
    keyed_text,
    next_seq,
    report_us,
    room,
    windows,
)
from liaison.storage import tables as t

sp = t.search_portions
st = t.search_text
sc = t.search_classes
fts = sa.table("search_fts", sa.column("rowid", sa.BigInteger))  # SQLite FTS5, migration 0006
INDEX_LOCK = zlib.crc32(b"search_portions")  # PostgreSQL; SQLite has one writer anyway


def index_item(conn: sa.Connection, item: Item, scheme: Scheme, new: bool = False) -> None:
    """(Re)index every portion of ``item`` in the caller's transaction. Re-indexed with the
    same report time, the item keeps its place among items reported at that time. ``new``:
    the caller has just inserted the item's row (so it was not held, nor its index rows,
    which go with it): nothing to remove first."""
    if conn.dialect.name == "postgresql":  # a number depends on its neighbours: one writer
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(INDEX_LOCK)))  # till commit
    at = report_us(item.reported_at)
    held = [] if new else _unindex(conn, item.id)
    kept = next((row_id for row_id, was in held if was == at), None)
    rows = index_rows(item, scheme, kept >> PORTION_BITS if kept is not None
                      else _free_seq(conn, at))
    conn.execute(_PORTIONS_ADD, [{
        "id": r.id, "item_id": r.item_id, "portion_id": r.portion_id, "rank": r.rank,
        "compartments": r.compartments, "topic": r.topic, "discipline": r.discipline,
        "source": r.source, "reported_us": at, "lat": r.lat, "lon": r.lon}
        for r in rows])
    keys = {r.id: access_key(r.rank, r.compartments) for r in rows}  # each word behind it
    conn.execute(_TEXT_ADD, [{"id": r.id, "body": keyed_text(r.body, keys[r.id])}
                             for r in rows])
    conn.execute(_class_add(conn), [{"key": k, "rank": r.rank, "compartments": r.compartments}
                                    for k, r in {keys[r.id]: r for r in rows}.items()])


def unindex_item(conn: sa.Connection, item_id: str) -> None:
    _unindex(conn, item_id)


def _unindex(conn: sa.Connection, item_id: str) -> list[tuple[int, int]]:
    """Remove the item's rows; what they were: ``(id, reported_us)``."""
    held = [(r.id, r.reported_us) for r in conn.execute(sp.delete().where(
        sp.c.item_id == item_id).returning(sp.c.id, sp.c.reported_us))]
    if held:
        conn.execute(st.delete().where(st.c.id.in_([row_id for row_id, _ in held])))
    return held


def _free_seq(conn: sa.Connection, at: int) -> int:
    """A free ``seq`` after every item reported at or before ``at`` and before every item
    reported after it, renumbering later items when none is free."""
    before = conn.execute(_LAST_AT_OR_BEFORE, {"at": at}).scalar()
    start = next_seq(at, None if before is None else before >> PORTION_BITS)
    if conn.execute(_ANY_IN, {"lo": start << PORTION_BITS,
                              "hi": (start + 1) << PORTION_BITS}).first() is None:
        return start
    for size in windows(start):
        moves = room(start, size, _seqs_in(conn, start, size))
        if moves is not None:
            _renumber(conn, moves)
            return start
    raise AssertionError("windows() ends by raising")


# Built once: the receiver numbers every item it stores (statement building was a third
# of the cost of these two seeks).
_LAST_AT_OR_BEFORE = sa.select(sp.c.id).where(sp.c.reported_us <= sa.bindparam("at")).order_by(
    sp.c.reported_us.desc(), sp.c.id.desc()).limit(1)
_PORTIONS_ADD, _TEXT_ADD = sp.insert(), st.insert()


def _class_add(conn: sa.Connection) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(sc).on_conflict_do_nothing(index_elements=["key"])
    return sc.insert().prefix_with("OR IGNORE", dialect="sqlite")
_ANY_IN = sa.select(sp.c.id).where(sp.c.id >= sa.bindparam("lo"),
                                   sp.c.id < sa.bindparam("hi")).limit(1)


def _seqs_in(conn: sa.Connection, start: int, size: int) -> list[int]:
    """The item numbers held in ``[start, start + size)``, ascending."""
    seq = sp.c.id.op(">>")(sa.literal_column(str(PORTION_BITS)))
    return list(conn.execute(sa.select(seq).distinct().where(
        sp.c.id >= start << PORTION_BITS, sp.c.id < (start + size) << PORTION_BITS)
        .order_by(seq)).scalars())


def _renumber(conn: sa.Connection, moves: list[tuple[int, int]]) -> None:
    """Apply order-keeping moves one item at a time without ever sharing an id: those
    moving up from the top down, then those moving down from the bottom up (the SQLite
    trigger ``search_text_au`` of migration 0012 keeps FTS5 in step)."""
    ups = sorted((m for m in moves if m[1] > m[0]), reverse=True)
    downs = sorted(m for m in moves if m[1] < m[0])
    params = [{"lo": old << PORTION_BITS, "hi": (old + 1) << PORTION_BITS,
               "delta": (new - old) << PORTION_BITS} for old, new in ups + downs]
    for table in (sp, st):
        conn.execute(table.update().where(
            table.c.id >= sa.bindparam("lo"), table.c.id < sa.bindparam("hi"))
            .values(id=table.c.id + sa.bindparam("delta")), params)


def fts5_query(alternatives: list[list[Term]]) -> str:
    """Each term's alternatives (one per visibility key) ORed, the terms ANDed. Words are
    letters and digits only (``domain.search.WORD``): nothing to escape."""
    return " AND ".join("(" + " OR ".join(
        f'"{" ".join(term.words)}"' + (" *" if term.prefix else "") for term in options)
        + ")" for options in alternatives)


def tsquery(alternatives: list[list[Term]]) -> str:
    """As ``fts5_query``, for PostgreSQL's ``to_tsquery``."""
    return " & ".join("(" + " | ".join("(" + " <-> ".join(
        w + (":*" if term.prefix and i == len(term.words) - 1 else "")
        for i, w in enumerate(term.words)) + ")" for term in options) + ")"
        for options in alternatives)


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
        since, until = (None if at is None else self._first_id_from(at)
                        for at in (q.since, q.until))
        if q.since is not None and since is None:
            return SearchPage((), {}, 0)
        ids = self.conn.execute(self._select(q, vis, since, until).execution_options(
            yield_per=1000)).scalars()  # on the statement: Connection options would stay
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

    def _visible_keys(self, vis: Visibility) -> list[str]:
        """The keys of the classes present that the user may see: the FTS5 query reads
        their postings alone, never a hidden portion's."""
        return list(self.conn.execute(sa.select(sc.c.key).where(
            sc.c.rank <= vis.max_rank, sc.c.compartments.in_(sorted(vis.compartment_sets)))
            .order_by(sc.c.key)).scalars())

    def _first_id_from(self, at: datetime) -> int | None:
        """The smallest id of a row reported at or after ``at``; every row reported before
        has a smaller id, every row reported then or later this one or a larger."""
        return self.conn.execute(sa.select(sp.c.id).where(
            sp.c.reported_us >= report_us(at)).order_by(sp.c.reported_us, sp.c.id)
            .limit(1)).scalar()

    def _select(self, q: SearchQuery, vis: Visibility, since: int | None,
                until: int | None) -> Any:
        where = _where(q, vis)
        if since is not None:
            where.append(sp.c.id >= since)
        if until is not None:
            where.append(sp.c.id < until)
        columns = (sp.c.id,)
        if not q.terms:
            return sa.select(*columns).where(*where).order_by(sp.c.id.desc())
        keys = self._visible_keys(vis)
        if not keys:
            return sa.select(*columns).where(sa.false())
        if self.conn.dialect.name == "postgresql":
            return (sa.select(*columns).join(st, st.c.id == sp.c.id)
                    .where(*where, sa.text("search_text.tsv @@ to_tsquery('simple', :tsq)")
                           .bindparams(tsq=tsquery(keyed_terms(q.terms, keys))))
                    .order_by(sp.c.id.desc()))
        match = sa.text("search_fts MATCH :m").bindparams(
            m=fts5_query(keyed_terms(q.terms, keys)))
        return (sa.select(*columns).select_from(fts.join(sp, sp.c.id == fts.c.rowid))
                .where(match, *where).order_by(fts.c.rowid.desc()))


def _where(q: SearchQuery, vis: Visibility) -> list[Any]:
    """Visibility first, then the query's fields, as column conditions (an item always has
    a topic, so no index row is topic-free); the times exactly, to the microsecond."""
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
        where.append(sp.c.reported_us >= report_us(q.since))
    if q.until is not None:
        where.append(sp.c.reported_us < report_us(q.until))
    if q.source is not None:
        where.append(sp.c.source == q.source)
    return where


def _in_box(q: SearchQuery) -> list[Any]:
    assert q.box is not None
    b = q.box
    return [sp.c.lat.between(b.south, b.north),
            sp.c.lon.between(b.west, b.east) if b.west <= b.east
            else sa.or_(sp.c.lon >= b.west, sp.c.lon <= b.east)]
