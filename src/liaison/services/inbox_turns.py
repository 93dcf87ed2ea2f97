"""Turns at applying partners' envelopes, urgent ones first (issue 16: a FLASH never waits
behind a backlog).

A node applies an incoming envelope in transactions of at most ``CHUNK`` messages
(``federation.receive``). Between two of them, an envelope carrying flash- or urgent-lane
traffic (``domain.lanes``) that is waiting goes first, so a FLASH arriving while a routine
batch of 256 releases is being applied waits for one chunk, not the whole batch; and it
does not have to win the database's writer lock against the next routine chunk by luck
(SQLite's busy handler polls with sleeps of up to 100 ms). Turns are per process: the
workers of a node on PostgreSQL take theirs independently."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

CHUNK = 32  # messages per transaction: about 50 ms of releases on a quiet machine


class Turns:
    """One envelope chunk at a time; urgent waiters before routine ones."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._urgent_waiting = 0

    @contextmanager
    def turn(self, urgent: bool) -> Iterator[None]:
        with self._cond:
            self._urgent_waiting += urgent
            try:
                while self._busy or (not urgent and self._urgent_waiting):
                    self._cond.wait()
            finally:
                self._urgent_waiting -= urgent
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()


TURNS = Turns()
