"""The hotline's rules (docs/rules.md#check-calls, docs/rules.md#precedence)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.domain.hotline import (
    EVERY_DAY,
    WEEKDAYS,
    CallOutcome,
    HotlineError,
    HotlineRules,
    LineState,
    LineStatus,
    Message,
    Precedence,
    Schedule,
    acknowledge,
    calls_due,
    check_message,
    record_call,
    reopen,
    send_order,
    sever,
)

SEOUL = ZoneInfo("Asia/Seoul")
RULES = HotlineRules()
T0 = datetime(2019, 10, 31, 7, 40, tzinfo=UTC)


def msg(precedence: Precedence, seq: int = 1, text: str = "two launches") -> Message:
    return Message("KOR-CHN", seq, precedence, text, "KOR", T0)


@pytest.mark.parametrize(("precedence", "minutes"), [
    (Precedence.FLASH, 10), (Precedence.IMMEDIATE, 30), (Precedence.PRIORITY, 180),
    (Precedence.ROUTINE, 360)])
def test_answer_deadlines(precedence: Precedence, minutes: int) -> None:
    """docs/rules.md#precedence: FLASH 10 min, IMMEDIATE 30 min, PRIORITY 3 h, ROUTINE 6 h."""
    m = msg(precedence)
    assert m.deadline(RULES) == T0 + timedelta(minutes=minutes)
    assert not m.overdue(T0 + timedelta(minutes=minutes), RULES)
    assert m.overdue(T0 + timedelta(minutes=minutes, seconds=1), RULES)


@pytest.mark.parametrize("precedence", [Precedence.FLASH, Precedence.IMMEDIATE])
def test_flash_and_immediate_at_most_200_words(precedence: Precedence) -> None:
    check_message("w " * 200, precedence, RULES)
    with pytest.raises(HotlineError, match="at most 200 words"):
        check_message("w " * 201, precedence, RULES)
    check_message("w " * 201, Precedence.ROUTINE, RULES)
    with pytest.raises(HotlineError):
        check_message("   ", Precedence.ROUTINE, RULES)


def test_an_unacknowledged_flash_escalates_in_steps() -> None:
    m = msg(Precedence.FLASH)
    assert m.escalation(T0 + timedelta(minutes=9), RULES) == []
    assert m.escalation(T0 + timedelta(minutes=11), RULES) == ["re-alert"]
    assert m.escalation(T0 + timedelta(minutes=16), RULES) == ["re-alert", "duty officer"]
    assert len(m.escalation(T0 + timedelta(minutes=21), RULES)) == 3
    done = acknowledge(m, "wang", T0 + timedelta(minutes=12))
    assert done.escalation(T0 + timedelta(hours=1), RULES) == []
    assert not done.overdue(T0 + timedelta(hours=1), RULES)
    with pytest.raises(HotlineError, match="already acknowledged"):
        acknowledge(done, "li", T0 + timedelta(minutes=13))


def test_flash_preempts_queued_lower_traffic() -> None:
    queued = [msg(Precedence.ROUTINE, 1), msg(Precedence.PRIORITY, 2),
              msg(Precedence.FLASH, 3), msg(Precedence.ROUTINE, 4)]
    assert [m.seq for m in send_order(queued)] == [3, 2, 1, 4]


def test_inter_korean_calls_weekdays_only_in_seoul_time() -> None:
    """docs/rules.md#check-calls: 09:00 and 17:00 on weekdays."""
    s = Schedule((time(9), time(17)), WEEKDAYS, SEOUL)
    friday = datetime(2020, 6, 5, 0, 0, tzinfo=SEOUL)
    slots = s.slots(friday, friday + timedelta(days=4))
    assert [(x.strftime("%a %H:%M")) for x in slots] == [
        "Fri 09:00", "Fri 17:00", "Mon 09:00", "Mon 17:00"]
    assert s.next_after(datetime(2020, 6, 5, 17, 0, tzinfo=SEOUL)).strftime("%a %H") == "Mon 09"


def test_military_lines_call_every_day() -> None:
    s = Schedule((time(9), time(16)), EVERY_DAY, SEOUL)
    saturday = datetime(2020, 6, 6, 0, 0, tzinfo=SEOUL)
    assert len(s.slots(saturday, saturday + timedelta(days=2))) == 4


def test_missed_calls_count_consecutive_days_and_an_answer_resets() -> None:
    """docs/rules.md#check-calls: missed → UNRESPONSIVE with consecutive missed days; answered →
    NORMAL; link down is a distinct outcome."""
    s = LineStatus()
    day1 = datetime(2020, 6, 8, 0, 0, tzinfo=UTC)  # 09:00 Seoul
    s = record_call(s, CallOutcome.UNANSWERED, day1, SEOUL)
    s = record_call(s, CallOutcome.UNANSWERED, day1 + timedelta(hours=8), SEOUL)
    assert (s.state, s.missed_days) == (LineState.UNRESPONSIVE, 1)
    s = record_call(s, CallOutcome.UNANSWERED, day1 + timedelta(days=1), SEOUL)
    assert s.missed_days == 2
    down = record_call(s, CallOutcome.LINK_DOWN, day1 + timedelta(days=2), SEOUL)
    assert (down.state, down.missed_days) == (LineState.DOWN, 2)
    ok = record_call(s, CallOutcome.ANSWERED, day1 + timedelta(days=2), SEOUL)
    assert (ok.state, ok.missed_days) == (LineState.NORMAL, 0)


def test_a_severed_line_gets_no_calls_until_reopened() -> None:
    """docs/rules.md#check-calls: either side may sever; a severed line gets no more calls."""
    s = Schedule((time(9), time(17)), WEEKDAYS, SEOUL)
    cut = sever(LineStatus(), "PRK")
    start = datetime(2020, 6, 9, tzinfo=UTC)
    assert calls_due(cut, s, start, start + timedelta(days=7)) == []
    with pytest.raises(HotlineError, match="severed"):
        record_call(cut, CallOutcome.ANSWERED, start, SEOUL)
    with pytest.raises(HotlineError, match="MOU is in force"):
        reopen(cut, mou_in_force=False)
    assert reopen(cut, mou_in_force=True).state is LineState.NORMAL


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(list(CallOutcome)), min_size=1, max_size=40))
def test_missed_days_never_exceed_days_elapsed(outcomes: list[CallOutcome]) -> None:
    s = LineStatus()
    start = datetime(2020, 6, 1, tzinfo=UTC)
    for i, outcome in enumerate(outcomes):
        s = record_call(s, outcome, start + timedelta(hours=12 * i), SEOUL)
        assert s.missed_days <= i // 2 + 1
        if outcome is CallOutcome.ANSWERED:
            assert s.missed_days == 0
