"""Search on SQLite FTS5 and PostgreSQL full-text search against the reference model, and
the leak test: two worlds that differ only in what a user may not see give that user the
same answers — results, counts, matched portions, snippets and errors. Then any number of
items with the same report time (10,000 at one instant), and migration 0012 renumbering
rows the old numbering wrote."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liaison.domain import codec
from liaison.domain.items import Item
from liaison.domain.labels import Clearance
from liaison.domain.parties import default_parties
from liaison.domain.search import (
    EPOCH,
    SearchPage,
    SearchQuery,
    Term,
    page_of,
    rows_in_order,
    visibility,
)
from liaison.domain.users import Role, User
from liaison.services.items import visible_part
from liaison.services.ports import StoredItem, UnitOfWork
from liaison.storage.engine import make_engine
from liaison.storage.schema import alembic_config, migrate
from liaison.storage.search_repos import index_item
from liaison.storage.unit_of_work import uow_factory
from tests.servers import fresh_database

PARTIES = default_parties()
KOR = PARTIES["KOR"]
LEVELS = [lv.name for lv in KOR.scheme.levels]
WORDS = ["hwasong", "launch", "salvo", "sunchon", "submarine", "radar", "convoy", "depot",
         "미사일", "발사", "tel", "yard"]
TOPICS = ["DPRK/missile", "DPRK/missile/SRBM", "DPRK/navy", "CHN/navy", "RUS/air"]
DISCIPLINES = ["HUMINT", "SIGINT", "COMINT", "ELINT", "IMINT", "OSINT"]
T0 = datetime(2019, 10, 1, tzinfo=UTC)
USERS = [
    User("low", "Low", frozenset({Role.ANALYST}), Clearance(2, frozenset(), None)),
    User("k1", "K1", frozenset({Role.ANALYST}), Clearance(3, frozenset({"K1"}), None)),
    User("navy", "Navy", frozenset({Role.ANALYST}),
         Clearance(4, frozenset({"K1", "K2"}), frozenset({"DPRK/navy", "CHN"}))),
]
POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres)
Uow = Callable[[], UnitOfWork]


def make_items(n: int, seed: int = 7) -> list[Item]:
    rnd = random.Random(seed)
    items = []
    for i in range(n):
        portions = []
        for j in range(rnd.randint(1, 3)):
            label: dict[str, Any] = {
                "policy": "KOR", "classification": rnd.choice(LEVELS), "originator": "KOR",
                "created": "2019-10-31T00:00:00Z",
                "compartments": rnd.choice([[], [], ["K1"], ["K2"], ["K1", "K2"]])}
            words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(2, 8)))
            portions.append({"id": f"p{j + 1}", "content": words.capitalize() + ".",
                             "label": label})
        items.append(codec.item_from({
            "id": f"it-{i:04d}", "discipline": rnd.choice(DISCIPLINES),
            "topic": rnd.choice(TOPICS), "grade": "B2", "originator": rnd.choice(
                ["KOR", "USA", "JPN"]),
            "title": f"report {rnd.choice(WORDS)}",
            "reported_at": (T0 + timedelta(hours=rnd.randint(0, 2000))).isoformat(),
            "place": rnd.choice([None, {"lat": rnd.uniform(33, 43), "lon": rnd.uniform(124, 131)}]),
            "portions": portions}, PARTIES, "KOR"))
    return items


ITEMS = make_items(160)


def fill(uow: Uow, items: list[Item]) -> None:
    with uow() as u:
        for item in items:
            u.items.add(StoredItem(item, "seed", T0), 0)
        u.commit()


def what_user_may_see(user: User, items: list[Item]) -> list[Item]:
    """The other world: the same items with everything hidden from ``user`` taken out."""
    return [v for it in items if (v := visible_part(it, user, KOR)) is not None]


@pytest.fixture(scope="module", params=["sqlite", POSTGRES])
def worlds(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[dict[str, Uow]]:
    """One full database, and one per user holding only what that user may see."""
    engines = []
    stack = ExitStack()

    def new_db(name: str) -> Uow:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('search') / name}.db"
        else:
            url = stack.enter_context(fresh_database(request.getfixturevalue("postgres_server")))
        eng = make_engine(url)
        migrate(eng)
        engines.append(eng)
        return uow_factory(eng)

    out = {"full": new_db("full")}
    fill(out["full"], ITEMS)
    for user in USERS:
        out[user.username] = new_db(user.username)
        fill(out[user.username], what_user_may_see(user, ITEMS))
    yield out
    for eng in engines:
        eng.dispose()
    stack.close()


terms = st.lists(st.builds(
    Term, st.lists(st.sampled_from(WORDS), min_size=1, max_size=2).map(tuple),
    st.booleans()), max_size=2).map(tuple)
prefixed = st.sampled_from(WORDS).map(lambda w: (Term((w[:2],), True),))
queries = st.builds(
    SearchQuery, terms=st.one_of(terms, prefixed),
    disciplines=st.one_of(st.none(), st.sampled_from([frozenset({"SIGINT", "COMINT", "ELINT"}),
                                                      frozenset({"IMINT"})])),
    topic=st.one_of(st.none(), st.sampled_from(["DPRK", "DPRK/missile", "CHN"])),
    level_rank=st.one_of(st.none(), st.integers(0, 4)),
    since=st.one_of(st.none(), st.just(T0 + timedelta(hours=500))),
    source=st.one_of(st.none(), st.sampled_from(["KOR", "USA"])),
    limit=st.sampled_from([5, 50]), offset=st.sampled_from([0, 3]))


def run(uow: Uow, q: SearchQuery, user: User) -> SearchPage:
    with uow() as u:
        return u.search.query(q, visibility(user.clearance))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=queries, who=st.sampled_from(USERS))
def test_hidden_items_change_nothing_a_user_sees(worlds: dict[str, Uow], q: SearchQuery,
                                                 who: User) -> None:
    full, seen_only = run(worlds["full"], q, who), run(worlds[who.username], q, who)
    assert full == seen_only
    model = page_of(rows_in_order(ITEMS, lambda _: KOR.scheme), q, visibility(who.clearance))
    assert full == model


def test_leak_figure(worlds: dict[str, Uow]) -> None:
    """A fixed sweep for the record: every word, every user, both worlds."""
    compared = same = found = 0
    for user in USERS:
        for word in WORDS:
            for prefix in (False, True):
                q = SearchQuery(terms=(Term((word[:3] if prefix else word,), prefix),))
                compared += 1
                answer = run(worlds["full"], q, user)
                same += answer == run(worlds[user.username], q, user)
                found += answer.total
    print(f"search leak test: identical answers {same} of {compared} ({found} hits)")
    assert same == compared
    assert found > 100  # the sweep finds things: equal answers are not just empty ones


def test_fullwidth_phrase_and_korean(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate(eng)
    uow = uow_factory(eng)
    item = replace(ITEMS[0], id="fw", portions=(replace(
        ITEMS[0].portions[0], content="ＨＷＡＳＯＮＧ launch from Sunchon; 미사일 발사"),))
    fill(uow, [item])
    user = replace(USERS[2], clearance=Clearance(4, frozenset({"K1", "K2"}), None))
    for text in (("hwasong",), ("launch", "from"), ("미사일",)):
        assert run(uow, SearchQuery(terms=(Term(text),)), user).item_ids == ("fw",)
    assert run(uow, SearchQuery(terms=(Term(("from", "launch")),)), user).total == 0
    with eng.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM search_fts")).scalar_one() == 1
    eng.dispose()


def test_counting_stops_at_the_cap_the_same_way_in_every_world(
        worlds: dict[str, Uow], monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``TOTAL_CAP`` items the count says "at least"; the cap counts only what the
    user may see, so hidden items never move it."""
    monkeypatch.setattr("liaison.domain.search.TOTAL_CAP", 7)
    monkeypatch.setattr("liaison.storage.search_repos.TOTAL_CAP", 7)
    capped = 0
    for user in USERS:
        for word in WORDS[:6]:
            q = SearchQuery(terms=(Term((word,)),), limit=5, offset=3)
            full = run(worlds["full"], q, user)
            assert full == run(worlds[user.username], q, user)
            assert full == page_of(rows_in_order(ITEMS, lambda _: KOR.scheme), q,
                                   visibility(user.clearance))
            capped += full.capped
            assert full.total <= 7 and len(full.item_ids) <= 4
    assert capped > 0


# --- any number of items with the same report time ---------------------------------------

INSTANT = datetime(2024, 2, 29, 12, 0, 0, tzinfo=UTC)  # a whole second: -1 µs is another ms
SAME_TIME = 10_000
US = timedelta(microseconds=1)
EVERYONE = User("all", "All", frozenset({Role.ANALYST}), Clearance(4, frozenset({"K1", "K2"})))


def at_time(item_id: str, when: datetime, secret: bool = False) -> Item:
    """One portion with the word "salvo"; ``secret`` ones only the K1-cleared see."""
    label: dict[str, Any] = {"policy": "KOR", "originator": "KOR",
                             "created": "2019-10-31T00:00:00Z",
                             "classification": "군사II급비밀" if secret else "대외비",
                             "compartments": ["K1"] if secret else []}
    return codec.item_from({
        "id": item_id, "discipline": "SIGINT", "topic": "DPRK/missile", "grade": "B2",
        "title": f"report {item_id}", "reported_at": when.isoformat(),
        "portions": [{"id": "p1", "content": "Salvo from the yard.", "label": label}]},
        PARTIES, "KOR")


# Indexed in this order: the later items first, so that the 10,000 must move them out of
# their way (the 2,049th at the instant meets the item a millisecond later).
NEIGHBOURS = [at_time("next-ms", INSTANT + timedelta(milliseconds=1)),
              at_time("next-us", INSTANT + US), at_time("prev-us", INSTANT - US)]
BURST = [at_time(f"s{n:05d}", INSTANT, secret=n % 5 == 0) for n in range(SAME_TIME)]
ONE_INSTANT = NEIGHBOURS + BURST


@pytest.fixture(scope="module", params=["sqlite", POSTGRES])
def instant_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[sa.Engine]:
    with ExitStack() as stack:
        url = (f"sqlite:///{tmp_path_factory.mktemp('instant') / 'i.db'}"
               if request.param == "sqlite" else
               stack.enter_context(fresh_database(request.getfixturevalue("postgres_server"))))
        eng = make_engine(url)
        migrate(eng)
        fill(uow_factory(eng), ONE_INSTANT)
        yield eng
        eng.dispose()


@pytest.fixture
def one_instant(instant_db: sa.Engine) -> Uow:
    return uow_factory(instant_db)


def model(q: SearchQuery, who: User, items: list[Item] = ONE_INSTANT) -> SearchPage:
    return page_of(rows_in_order(items, lambda _: KOR.scheme), q, visibility(who.clearance))


def test_ten_thousand_items_at_one_instant_are_all_indexed_and_counted(
        instant_db: sa.Engine, one_instant: Uow) -> None:
    with instant_db.connect() as conn:
        stored = conn.execute(sa.text(
            "SELECT count(DISTINCT id), count(DISTINCT item_id) FROM search_portions "
            "WHERE reported_us = :at"), {"at": (INSTANT - EPOCH) // US}).one()
    assert tuple(stored) == (SAME_TIME, SAME_TIME)
    exactly = SearchQuery(since=INSTANT, until=INSTANT + US)
    for terms in ((), (Term(("salvo",)),)):
        q = replace(exactly, terms=terms)
        page = run(one_instant, q, EVERYONE)
        assert (page.total, page.capped) == (SAME_TIME, False)
        assert run(one_instant, q, USERS[0]).total == SAME_TIME - SAME_TIME // 5
    everything = run(one_instant, SearchQuery(), EVERYONE)
    assert (everything.total, everything.capped) == (10_000, True)  # 10,003 stored: "or more"
    print(f"same-time search: {SAME_TIME:,} of {SAME_TIME:,} items at one instant indexed "
          f"and counted")


@pytest.mark.parametrize("terms", [(), (Term(("salvo",)),)], ids=["fields", "text"])
def test_paging_through_one_instant_is_newest_indexed_first_without_gaps(
        one_instant: Uow, terms: tuple[Term, ...]) -> None:
    seen: list[str] = []
    q = SearchQuery(terms=terms, since=INSTANT, until=INSTANT + US, limit=400)
    while len(page := run(one_instant, replace(q, offset=len(seen)), EVERYONE).item_ids):
        seen += page
    assert len(seen) == len(set(seen)) == SAME_TIME
    assert seen == [f"s{n:05d}" for n in reversed(range(SAME_TIME))]  # last indexed first


def test_since_and_until_at_the_instant_are_exact(one_instant: Uow) -> None:
    def ids(since: datetime | None, until: datetime | None, limit: int = 3) -> tuple[str, ...]:
        return run(one_instant, SearchQuery(since=since, until=until, limit=limit),
                   EVERYONE).item_ids

    assert ids(INSTANT + US, None) == ("next-ms", "next-us")
    assert ids(None, INSTANT) == ids(INSTANT - US, INSTANT) == ("prev-us",)
    assert ids(INSTANT, INSTANT + US) == ("s09999", "s09998", "s09997")
    assert ids(INSTANT, INSTANT + timedelta(milliseconds=1), 1) == ("next-us",)
    assert ids(INSTANT + timedelta(milliseconds=2), None) == ()
    assert run(one_instant, SearchQuery(until=INSTANT + US, offset=9_998, limit=5),
               EVERYONE).item_ids == ("s00001", "s00000")  # the cap, then nothing more


@pytest.mark.parametrize("q", [
    SearchQuery(), SearchQuery(offset=9_990, limit=20),
    SearchQuery(terms=(Term(("salvo",)),), since=INSTANT - US, limit=7, offset=4_000),
    SearchQuery(terms=(Term(("sal",), True),), until=INSTANT + US, offset=9_995),
    SearchQuery(since=INSTANT, until=INSTANT + timedelta(milliseconds=1), offset=9_997)])
@pytest.mark.parametrize("who", [EVERYONE, USERS[0]], ids=lambda u: u.username)
def test_one_instant_answers_as_the_model(one_instant: Uow, q: SearchQuery, who: User) -> None:
    assert run(one_instant, q, who) == model(q, who)


def test_reindexing_keeps_an_items_place_among_its_ties(one_instant: Uow) -> None:
    q = SearchQuery(since=INSTANT, until=INSTANT + US, offset=4_000, limit=3)
    before = run(one_instant, q, EVERYONE).item_ids
    with one_instant() as u:
        item = BURST[SAME_TIME - 4_002]  # the middle one of the page
        u.items.replace(StoredItem(replace(item, title="retitled"), "seed", T0), 0)
        u.commit()
    assert before == ("s05999", "s05998", "s05997")
    assert run(one_instant, q, EVERYONE).item_ids == before


@pytest.mark.parametrize("backend", ["sqlite", POSTGRES])
def test_migration_0012_renumbers_existing_rows_in_report_time_order(
        backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Rows written by the old numbering (same millisecond: counter in indexing order, the
    microseconds ignored; an index row whose item is gone) come out in exact order."""
    with ExitStack() as stack:
        url = (f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite" else
               stack.enter_context(fresh_database(request.getfixturevalue("postgres_server"))))
        eng = make_engine(url)
        stack.callback(eng.dispose)
        _upgrade(eng, "0011")
        mid = at_time("mid-us", INSTANT + 200 * US)
        old = [at_time("late-us", INSTANT + 300 * US), at_time("early-us", INSTANT + 100 * US),
               replace(mid, portions=(mid.portions[0], replace(mid.portions[0], id="p2"))),
               at_time("other", INSTANT + timedelta(seconds=5))]
        ms = (INSTANT - EPOCH) // timedelta(milliseconds=1)
        seqs = [ms << 11, ms << 11 | 1, ms << 11 | 2, (ms + 5000) << 11]
        with eng.begin() as conn:
            _write_old_rows(conn, old, seqs)
            _write_old_rows(conn, [at_time("ghost", INSTANT)], [(ms + 9000) << 11], orphan=True)
        _upgrade(eng, "head")
        with eng.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, item_id, reported_us FROM search_portions "
                                        "ORDER BY id")).all()
            if backend == "sqlite":  # FTS5 agrees with search_text row for row
                conn.execute(sa.text("INSERT INTO search_fts(search_fts, rank) "
                                     "VALUES ('integrity-check', 1)"))
        base, at = ms << 21, (INSTANT - EPOCH) // US
        assert [tuple(r) for r in rows] == [
            (base, "early-us", at + 100), (base + 1024, "mid-us", at + 200),
            (base + 1025, "mid-us", at + 200), (base + 2048, "late-us", at + 300),
            ((ms + 5000) << 21, "other", at + 5_000_000),
            ((ms + 9000) << 21, "ghost", (ms + 9000) * 1000)]
        page = run(uow_factory(eng), SearchQuery(terms=(Term(("salvo",)),)), EVERYONE)
        assert page.item_ids == ("ghost", "other", "late-us", "mid-us", "early-us")
        assert page.matched["mid-us"] == ("p1", "p2")
        window = SearchQuery(since=INSTANT + 150 * US, until=INSTANT + 300 * US)
        assert run(uow_factory(eng), window, EVERYONE).item_ids == ("mid-us",)


def _upgrade(eng: sa.Engine, revision: str) -> None:
    cfg = alembic_config()
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def _write_old_rows(conn: sa.Connection, items: list[Item], seqs: list[int],
                    orphan: bool = False) -> None:
    """As the index stood at revision 0011: no report time column."""
    for item, seq in zip(items, seqs, strict=True):
        if not orphan:
            conn.execute(sa.text(
                "INSERT INTO items (id, data, created_by, created_at, min_rank, topic, "
                "discipline, originator) VALUES (:id, :data, 'seed', :at, 0, :topic, "
                ":discipline, 'KOR')"), {
                "id": item.id, "data": json.dumps(codec.item_to(item)), "at": T0,
                "topic": item.topic, "discipline": item.discipline.value})
        for i, p in enumerate(item.portions):
            conn.execute(sa.text(
                "INSERT INTO search_portions (id, item_id, portion_id, rank, compartments, "
                "topic, discipline, source) VALUES (:id, :item, :portion, 1, '', :topic, "
                "'SIGINT', 'KOR')"),
                {"id": seq << 10 | i, "item": item.id, "portion": p.id, "topic": item.topic})
            conn.execute(sa.text("INSERT INTO search_text (id, body) VALUES (:id, :body)"),
                         {"id": seq << 10 | i, "body": f"{item.title}\n{p.content}"})


@pytest.mark.postgres
def test_two_writers_indexing_at_the_same_instant_both_succeed(
        request: pytest.FixtureRequest) -> None:
    """On PostgreSQL a second writer waits for the first to commit and then numbers after
    it (without the lock it took the same number and failed on the unique id)."""
    with fresh_database(request.getfixturevalue("postgres_server")) as url:
        eng = make_engine(url)
        migrate(eng)
        errors: list[Exception] = []

        def second_writer() -> None:
            try:
                with eng.begin() as conn:
                    index_item(conn, at_time("second", INSTANT), KOR.scheme)
            except Exception as exc:  # reported below
                errors.append(exc)

        with eng.connect() as first:
            with first.begin():
                index_item(first, at_time("first", INSTANT), KOR.scheme)
                other = threading.Thread(target=second_writer)
                other.start()
                other.join(timeout=1.0)
                assert other.is_alive()  # waiting for the first writer
            other.join(timeout=60)
        assert errors == []
        assert run(uow_factory(eng), SearchQuery(), EVERYONE).item_ids == ("second", "first")
        eng.dispose()
