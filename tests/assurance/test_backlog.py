"""A partner's return after an outage (issue 16 item 5): JPN is down while KOR's outbox to it
fills with releases, most of them with one report time; JPN comes back and every release
arrives exactly once, in the order it was queued (releases share the routine lane: order
is kept per lane, ``services.federation``), and a FLASH sent on the hotline during the
drain does not wait behind the backlog (it travels in the flash lane, ``domain.lanes``).

Real node processes and the real delivery path; the scenario is ``bench/bench_backlog.py``'s
(the benchmark measures it, these tests check it). ``make test``: 3,000 releases, 2,500 at
one instant (past the 2,048 the search index once numbered per millisecond); ``make soak``:
50,000, 5,000 at one instant.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
from bench_backlog import Backlog, run

SHORT = (3_000, 2_500)
LONG = (50_000, 5_000)


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Backlog:
    return run(tmp_path_factory.mktemp("backlog"), *SHORT)


def report(b: Backlog) -> str:
    return (f"backlog: delivered {b.delivered():,} of {b.n:,} "
            f"({b.same:,} with one report time) exactly once, in order; drained in "
            f"{b.drain_s:.1f} s from the partner's return ({b.per_s:.0f}/s, first receipt "
            f"after {b.resume_s:.1f} s); FLASH at JPN's watch page in {b.flash_ms:.0f} ms, "
            f"ahead of {b.flash_overtook():,} of the {b.n - b.flash_after:,} releases still "
            f"queued when it was sent")


def check_delivery(b: Backlog) -> None:
    assert b.problems() == []
    print(report(b))


def check_flash(b: Backlog) -> None:
    """Sent once ``FLASH_AT`` of the backlog is settled, the FLASH reaches JPN ahead of at
    least half of the releases still queued then (in its own lane it waits at most for the
    routine batch JPN is applying)."""
    still_queued = b.n - b.flash_after
    assert b.flash_overtook() >= still_queued // 2, report(b)


def test_backlog_arrives_exactly_once_in_order(short: Backlog) -> None:
    check_delivery(short)


@pytest.mark.xfail(strict=False, reason=(
    "not yet kept: under load the FLASH sent during a fast drain reached JPN's watch page "
    "in 1-3 s, often after the backlog (goal: 20 ms); the lanes are independent at the "
    "sender and urgent envelopes go first between chunks at the receiver, but where the "
    "rest of the time goes is not found yet (issue 16 item 3)"))
def test_flash_overtakes_the_backlog(short: Backlog) -> None:
    print(report(short))
    check_flash(short)


@pytest.mark.slow
def test_soak_backlog_of_50000(tmp_path: Path) -> None:
    """``make soak``: the long form."""
    b = run(tmp_path, *LONG)
    check_delivery(b)
    check_flash(b)
