"""Search time does not depend on hidden matches: the full-text index never reads a hidden
portion's postings (``domain.search``: each word behind its visibility key). Shown by what
the FTS5 query itself returns, before any filter — no timing here (``bench/
bench_search_hidden.py`` measures it)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from liaison.domain.items import Item, Portion, PortionKind
from liaison.domain.labels import Clearance
from liaison.domain.parties import default_parties
from liaison.domain.search import (
    WORD,
    SearchQuery,
    Term,
    access_key,
    keyed_terms,
    keyed_text,
    visibility,
)
from liaison.storage.engine import make_engine
from liaison.storage.schema import migrate
from liaison.storage.search_repos import SqlSearch, fts5_query, index_item, tsquery
from tests.servers import fresh_database
from tests.unit.factories import item, label

KOR = default_parties()["KOR"]
LOW, HIGH = "군사III급비밀", "군사I급비밀"
HIDDEN = 60  # portions holding the hidden word: half above the user, half in K9


def with_text(base: Item, item_id: str, text: str) -> Item:
    p = base.portions[0]
    return replace(base, id=item_id, portions=(Portion(p.id, PortionKind.TEXT, text,
                                                       p.label),))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    with ExitStack() as stack:
        url = f"sqlite:///{tmp_path / 'liaison.db'}" if request.param == "sqlite" else \
            stack.enter_context(fresh_database(request.getfixturevalue("postgres_server")))
        eng = make_engine(url)
        migrate(eng)
        _fill(eng)
        yield eng
        eng.dispose()


def _fill(eng: sa.Engine) -> None:
    with eng.begin() as conn:
        for n in range(HIDDEN):
            lb = label(HIGH) if n % 2 else label(LOW, compartments=frozenset({"K9"}))
            index_item(conn, with_text(item(lb), f"H{n}", f"zanthoxylum seen {n}"),
                       KOR.scheme, new=True)
        for n in range(10):
            index_item(conn, with_text(item(label(LOW)), f"V{n}", f"quillwort seen {n}"),
                       KOR.scheme, new=True)


def postings_read(conn: sa.Connection, word: str, user: Clearance) -> int:
    """Rows the full-text query a search runs for ``user`` returns (SQLite FTS5, or
    PostgreSQL's GIN-indexed tsvector), before any other filter."""
    vis = visibility(user)
    alternatives = keyed_terms((Term((word,)),), SqlSearch(conn)._visible_keys(vis))
    if not alternatives[0]:
        return 0
    if conn.dialect.name == "postgresql":
        return int(conn.execute(sa.text("SELECT count(*) FROM search_text WHERE tsv @@ "
                                        "to_tsquery('simple', :q)"),
                                {"q": tsquery(alternatives)}).scalar_one())
    return int(conn.execute(sa.text("SELECT count(*) FROM search_fts WHERE search_fts "
                                    "MATCH :m"), {"m": fts5_query(alternatives)}).scalar_one())


def test_a_hidden_word_reads_no_postings(engine: sa.Engine) -> None:
    low = Clearance(KOR.scheme.level(LOW).rank)
    with engine.connect() as conn:
        hidden = postings_read(conn, "zanthoxylum", low)
        seen = postings_read(conn, "quillwort", low)
        everything = postings_read(conn, "zanthoxylum", Clearance(
            KOR.scheme.level(HIGH).rank, frozenset({"K9"})))
        search = SqlSearch(conn)
        total = search.query(SearchQuery(terms=(Term(("zanthoxylum",)),)),
                             visibility(low)).total
    print(f"hidden postings read for a user cleared for none of them "
          f"({conn.dialect.name}): {hidden} of {HIDDEN}")
    assert (hidden, seen, everything, total) == (0, 10, HIDDEN, 0)


def test_a_word_is_stored_only_behind_its_key(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        bodies = [b for (b,) in conn.execute(sa.text("SELECT body FROM search_text"))]
    assert bodies and all(re.fullmatch(r"v\d\d[0-9a-f]{12}\S+", w)
                          for b in bodies for w in WORD.findall(b))


def test_keys_are_one_token_and_differ_by_class() -> None:
    keys = {access_key(r, c) for r in range(5) for c in ("", "K1", "K1,K2", "K2")}
    assert len(keys) == 20 and all(re.fullmatch(r"[0-9a-z]{15}", k) for k in keys)
    key = access_key(2, "K1")
    assert WORD.findall(keyed_text("ＴＥＬ at Sunchon, 07:20", key)) == [
        key + w for w in ("tel", "at", "sunchon", "07", "20")]
    assert keyed_terms((Term(("tel", "at"), True),), ["a", "b"]) == [
        [Term(("atel", "aat"), True), Term(("btel", "bat"), True)]]
