"""Hotline use cases under a controllable clock (in-memory twins)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from liaison.domain.labels import Clearance
from liaison.domain.users import Role, User
from liaison.services import hotline
from liaison.services.context import Deps
from liaison.services.errors import Invalid, Refused
from liaison.services.memory import MemoryState, MemoryUnitOfWork

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
    """DOMAIN Hotline: FLASH must be acknowledged within 10 minutes, then escalates."""
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
