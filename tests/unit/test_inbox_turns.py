"""Turns at applying envelopes: an urgent envelope waiting goes before routine ones."""

from __future__ import annotations

import threading
import time

from liaison.services.inbox_turns import Turns


def test_an_urgent_waiter_goes_before_routine_ones() -> None:
    turns, order = Turns(), []
    holding, release = threading.Event(), threading.Event()

    def holder() -> None:
        with turns.turn(False):
            holding.set()
            release.wait(5)

    def waiter(name: str, urgent: bool) -> None:
        with turns.turn(urgent):
            order.append(name)

    first = threading.Thread(target=holder)
    first.start()
    holding.wait(5)
    routine = [threading.Thread(target=waiter, args=(f"routine{i}", False)) for i in range(3)]
    for t in routine:
        t.start()
    time.sleep(0.05)  # the routine chunks are waiting before the FLASH arrives
    flash = threading.Thread(target=waiter, args=("flash", True))
    flash.start()
    time.sleep(0.05)
    release.set()
    for t in (first, flash, *routine):
        t.join(5)
    assert order[0] == "flash" and sorted(order[1:]) == ["routine0", "routine1", "routine2"]


def test_one_turn_at_a_time() -> None:
    turns, inside, most = Turns(), [0], [0]
    lock = threading.Lock()

    def work(urgent: bool) -> None:
        with turns.turn(urgent):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.002)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work, args=(i % 3 == 0,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert most[0] == 1
