"""The search index's numbering (``domain.search``): ids follow report time exactly, for any
number of items with the same time. ``Numbers`` is the SQL index's allocation
(``storage.search_repos``) over a dict, built from the same pure functions."""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.factories import item, label

from liaison.domain import search
from liaison.domain.items import Item
from liaison.domain.labels import Clearance
from liaison.domain.parties import default_parties
from liaison.domain.search import (
    EPOCH,
    SEQ_LIMIT,
    SearchQuery,
    next_seq,
    page_of,
    report_us,
    room,
    rows_in_order,
    seq_base,
    visibility,
    windows,
)

KOR = default_parties()["KOR"]
T = datetime(2024, 2, 29, 12, 0, 0, tzinfo=UTC)


class Numbers:
    """Item numbers by report time, allocated as ``search_repos.index_item`` does (its
    queries answered from a sorted list)."""

    def __init__(self) -> None:
        self.seqs: list[int] = []  # ascending
        self.at: dict[int, int] = {}  # seq -> report time (µs)
        self.name: dict[int, int] = {}  # seq -> the n-th insertion
        self.moved = 0

    def add(self, at: int, name: int) -> int:
        start = next_seq(at, self._before(at))
        if start in self.at:
            for size in windows(start):
                i = bisect_left(self.seqs, start)
                moves = room(start, size, self.seqs[i:bisect_left(self.seqs, start + size)])
                if moves is not None:
                    self._apply(moves)
                    break
        assert start not in self.at
        self.at[start], self.name[start] = at, name
        insort(self.seqs, start)
        return start

    def _before(self, at: int) -> int | None:
        """The largest seq reported at or before ``at`` (the SQL index's seek on
        ``(reported_us, id)``); checked against a scan while the index is small."""
        times = [self.at[s] for s in self.seqs] if len(self.seqs) < 500 else None
        lo, hi = 0, len(self.seqs)
        while lo < hi:  # the seqs' times ascend: the invariant under test
            mid = (lo + hi) // 2
            lo, hi = (mid + 1, hi) if self.at[self.seqs[mid]] <= at else (lo, mid)
        found = self.seqs[lo - 1] if lo else None
        if times is not None:
            assert found == max((s for s in self.seqs if self.at[s] <= at), default=None)
        return found

    def _apply(self, moves: list[tuple[int, int]]) -> None:
        olds = {old for old, _ in moves}
        kept = {s: (a, self.name[s]) for s, a in self.at.items() if s not in olds}
        for old, new in moves:
            assert new not in kept, "a move onto an item that stays"
            kept[new] = (self.at[old], self.name[old])
        self.at = {s: a for s, (a, _) in kept.items()}
        self.name = {s: n for s, (_, n) in kept.items()}
        self.seqs = sorted(self.at)
        self.moved += len(moves)

    def remove(self, name: int) -> None:
        seq = next(s for s, n in self.name.items() if n == name)
        del self.at[seq], self.name[seq]
        self.seqs.remove(seq)

    def in_order(self) -> list[int]:
        return [self.name[s] for s in self.seqs]


def test_report_us_is_exact_to_the_microsecond() -> None:
    assert report_us(EPOCH) == 0
    last = datetime(2100, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    assert report_us(last) == 4_133_980_799_999_999  # a float would round this
    assert report_us(last) - report_us(last - timedelta(microseconds=1)) == 1
    assert seq_base(report_us(last)) < SEQ_LIMIT >> 1 << 1


def test_room_frees_the_start_keeps_order_and_leaves_gaps() -> None:
    moves = room(100, 16, [100, 101, 102])
    assert moves is not None
    new = dict(moves)
    placed = [new.get(s, s) for s in (100, 101, 102)]
    assert placed == sorted(placed) and placed[0] > 100 and placed[-1] < 116
    assert placed[0] - 100 > 4 and 116 - placed[-1] > 4  # gaps before and after the block
    assert room(100, 16, list(range(100, 108))) is None  # would be more than half full


def test_windows_end_below_the_limit() -> None:
    sizes = list(zip(range(3), windows(0), strict=False))
    assert [s for _, s in sizes] == [2048, 4096, 8192]
    with pytest.raises(ValueError, match="no numbers left"):
        list(windows(SEQ_LIMIT - 3000))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(0, 12), st.integers(0, 3)),
    st.tuples(st.just("remove"), st.integers(0, 400), st.just(0))), max_size=400))
def test_numbers_follow_report_time_then_indexing_order(
        steps: list[tuple[str, int, int]]) -> None:
    """With 4 numbers per millisecond, times few and close, spilling and renumbering
    happen all the time; the order is still exactly (time, order indexed)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(search, "SAME_MS_BITS", 2)
        numbers, alive = Numbers(), {}
        for n, (op, a, b) in enumerate(steps):
            if op == "add":
                alive[n] = a * 1000 + b * 400  # ms a, µs within it
                numbers.add(alive[n], n)
            elif alive:
                victim = sorted(alive)[a % len(alive)]
                numbers.remove(victim)
                del alive[victim]
            assert numbers.in_order() == sorted(alive, key=lambda k: (alive[k], k))
            assert all(0 <= s < SEQ_LIMIT for s in numbers.at)


def test_any_number_at_one_time_with_later_items_in_the_way() -> None:
    """10,000 at one instant, a later item already at each next millisecond: each item is
    moved a bounded number of times on average, not once per arrival."""
    numbers = Numbers()
    at = report_us(T)
    for k in range(1, 6):
        numbers.add(at + 1000 * k, -k)
    numbers.add(at + 1, -9)  # same millisecond, a microsecond later
    for n in range(10_000):
        numbers.add(at, n)
    assert numbers.in_order() == [*range(10_000), -9, -1, -2, -3, -4, -5]
    assert numbers.moved < 3 * 10_000


def test_the_model_orders_same_time_items_last_indexed_first() -> None:
    def at(name: str, when: datetime) -> Item:
        return replace(item(label("대외비"), item_id=name), reported_at=when)

    items = [at(f"I{n}", T) for n in range(3000)]
    items.insert(1500, at("later", T + timedelta(microseconds=1)))
    items.insert(10, at("earlier", T - timedelta(microseconds=1)))
    rows = rows_in_order(items, lambda _: KOR.scheme)
    vis = visibility(Clearance(4))
    page = page_of(rows, SearchQuery(limit=5), vis)
    assert page.item_ids == ("later", "I2999", "I2998", "I2997", "I2996")
    assert page.total == 3002
    at_t = page_of(rows, SearchQuery(since=T, until=T + timedelta(microseconds=1),
                                     limit=3000), vis)
    assert at_t.item_ids == tuple(f"I{n}" for n in reversed(range(3000)))
