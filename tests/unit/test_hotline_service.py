"""Hotline use cases under a controllable clock (in-memory twins)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.twins import MemoryState, MemoryUnitOfWork

from liaison.domain.labels import Clearance
from liaison.domain.users import Role, User
from liaison.services import hotline
from liaison.services.context import Deps
from liaison.services.errors import Invalid, Refused

from factories import seed_agreements

CHANNEL = "KOR-CHN-HOTLINE-MOU"
WATCH = User("watch", "", frozenset({Role.WATCH_OFFICER}), Clearance(4))
ADMIN = User("admin", "", frozenset({Role.ADMIN}), Clearance(4))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2019, 10, 31, 7, 0, tzinfo=UTC)  # 16:00 in Seoul

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def setup() -> tuple[Deps, Clock, MemoryState]:
    return kor_line()


def kor_line() -> tuple[Deps, Clock, MemoryState]:
    """KOR's side of its line with CHN, in memory, with a clock the test moves."""
    state, clock = MemoryState(), Clock()
    for a in seed_agreements():
        state.agreements[a.id] = a
    counter = iter(range(10**6))
    deps = Deps(uow=lambda: MemoryUnitOfWork(state), party="KOR", clock=clock,
                ids=lambda: f"id{next(counter)}")
    hotline.open_channel(deps, ADMIN, CHANNEL, ["09:00", "16:00"], list(range(7)),
                         "Asia/Seoul")
    return deps, clock, state


def test_an_overdue_flash_escalates_on_the_sending_side(setup: tuple[Deps, Clock,
                                                                     MemoryState]) -> None:
    """docs/rules.md#acknowledgement: FLASH must be acknowledged within 10 minutes, then
    escalates."""
    deps, clock, _ = setup
    hotline.send(deps, WATCH, CHANNEL, "FLASH", "launch detected")
    clock.now += timedelta(minutes=9)
    first = hotline.view(deps, WATCH, CHANNEL)["traffic"][0]
    assert (first["overdue"], first["escalation"]) == (False, [])
    clock.now += timedelta(minutes=7)
    late = hotline.view(deps, WATCH, CHANNEL)["traffic"][0]
    assert late["overdue"] is True
    assert late["escalation"] == ["re-alert", "duty officer"]


def test_word_limit_and_unknown_precedence(setup: tuple[Deps, Clock, MemoryState]) -> None:
    deps, _, state = setup
    with pytest.raises(Invalid, match="200 words"):
        hotline.send(deps, WATCH, CHANNEL, "IMMEDIATE", "word " * 201)
    with pytest.raises(Invalid, match="precedence"):
        hotline.send(deps, WATCH, CHANNEL, "URGENT", "x")
    assert state.traffic == {}


def test_scheduled_calls_and_missed_days(setup: tuple[Deps, Clock, MemoryState]) -> None:
    """Calls at 09:00 and 16:00 Seoul every day; unanswered ones count missed days."""
    deps, clock, _ = setup
    for _ in range(4):  # four slots: 16:00, 09:00, 16:00, 09:00
        clock.now += timedelta(hours=17 if clock.now.hour == 7 else 7)
        assert hotline.place_due_calls(deps) == 1
        clock.now += timedelta(minutes=11)
        hotline.sweep(deps)
    status = hotline.view(deps, WATCH, CHANNEL)["status"]
    assert status["state"] == "UNRESPONSIVE"
    assert status["missed_days"] == 2  # two calls a day, missed on two Seoul days


def test_a_severed_line_refuses_traffic_and_calls(setup: tuple[Deps, Clock,
                                                               MemoryState]) -> None:
    deps, clock, _ = setup
    hotline.sever(deps, WATCH, CHANNEL)
    with pytest.raises(Refused, match="severed"):
        hotline.send(deps, WATCH, CHANNEL, "FLASH", "hello")
    clock.now += timedelta(days=2)
    assert hotline.place_due_calls(deps) == 0


def test_a_severed_line_reopens_while_its_mou_is_in_force(
        setup: tuple[Deps, Clock, MemoryState]) -> None:
    deps, _, state = setup
    hotline.sever(deps, WATCH, CHANNEL)
    hotline.reopen(deps, WATCH, CHANNEL)
    assert hotline.view(deps, WATCH, CHANNEL)["status"]["state"] == "NORMAL"
    hotline.send(deps, WATCH, CHANNEL, "ROUTINE", "line restored")
    assert len(state.traffic) == 1
    with pytest.raises(Refused, match="not severed"):
        hotline.reopen(deps, WATCH, CHANNEL)


def test_a_watch_gets_deltas_flags_as_they_turn_and_a_snapshot_when_far_behind(
        setup: tuple[Deps, Clock, MemoryState]) -> None:
    """The live view: only what changed; an overdue flag turns with no event on the line;
    a watcher behind the change log gets a snapshot instead of a partial delta."""
    deps, clock, _ = setup
    hotline.send(deps, WATCH, CHANNEL, "ROUTINE", "weekly schedule")
    watch = hotline.Watch(deps, WATCH, CHANNEL, limit=5)
    first = watch.start()
    assert first["type"] == "snapshot" and len(first["traffic"]) == 1
    assert watch.update() is None  # nothing changed
    sent = hotline.send(deps, WATCH, CHANNEL, "FLASH", "launch detected")
    delta = watch.update()
    assert delta is not None and delta["type"] == "delta"
    assert [(e["seq"], e["overdue"]) for e in delta["changed"]] == [(sent["seq"], False)]
    assert delta["summary"]["open"] == 2
    turn = watch.next_change()
    assert turn == datetime.fromisoformat(sent["sent_at"]) + timedelta(minutes=10,
                                                                       microseconds=1)
    clock.now = turn
    late = watch.update()
    assert late is not None
    assert [(e["seq"], e["overdue"], e["escalation"]) for e in late["changed"]] == [
        (sent["seq"], True, ["re-alert"])]
    assert late["summary"]["overdue"] == 1
    for _ in range(200):  # more changes than the change log keeps
        hotline.check_call(deps, "scheduler", CHANNEL)
    again = watch.update()
    assert again is not None and again["type"] == "snapshot"
    assert len(again["traffic"]) == 5 and again["older"]


def test_pages_of_the_twin_hold_every_entry_once(setup: tuple[Deps, Clock,
                                                              MemoryState]) -> None:
    deps, clock, _ = setup
    for i in range(23):
        hotline.send(deps, WATCH, CHANNEL, "ROUTINE", f"r{i}")
        clock.now += timedelta(seconds=i % 2)  # pairs sent at one instant
    seen, before = [], None
    while True:
        page = hotline.view(deps, WATCH, CHANNEL, limit=4, before=before)
        seen[:0] = [e["text"] for e in page["traffic"]]
        if (before := page["older"]) is None:
            break
    assert seen == [f"r{i}" for i in range(23)]
    whole = [e["text"] for page in hotline.transcript(deps, WATCH, CHANNEL) for e in page]
    assert whole == seen
    with pytest.raises(Invalid):
        hotline.view(deps, WATCH, CHANNEL, before="12.x.KOR")
