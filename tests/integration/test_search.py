"""Search on SQLite FTS5 and PostgreSQL full-text search against the reference model, and
the leak test: two worlds that differ only in what a user may not see give that user the
same answers — results, counts, matched portions, snippets and errors."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liaison.domain import codec
from liaison.domain.items import Item
from liaison.domain.labels import Clearance
from liaison.domain.parties import default_parties
from liaison.domain.search import SearchPage, SearchQuery, Term, page_of, rows_in_order, visibility
from liaison.domain.users import Role, User
from liaison.services.items import visible_part
from liaison.services.ports import StoredItem, UnitOfWork
from liaison.storage.engine import make_engine
from liaison.storage.schema import migrate
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
