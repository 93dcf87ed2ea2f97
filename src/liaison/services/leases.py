"""Node-wide jobs among a node's workers: one holder at a time, by lease in the shared
database. A worker that dies stops renewing; its lease expires after ``TTL`` and another
worker takes the job over, resuming from the position the holder recorded.

A holder renews every ``RENEW`` (well inside ``TTL``); a holder that cannot renew (the
database is unreachable, or another took over after a pause) stops the job: two holders at
once is the failure to avoid, and the receivers' exactly-once checks catch the rest.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from liaison.services.context import Deps, new_id

TTL = timedelta(seconds=10)
RENEW_S = 2.0
_WORKER: dict[int, str] = {}


def worker_id() -> str:
    """This process, as lease holder (host, pid and a random part: pids get reused)."""
    pid = os.getpid()
    if pid not in _WORKER:
        _WORKER[pid] = f"{socket.gethostname()}:{pid}:{new_id()[:8]}"
    return _WORKER[pid]


def claim(deps: Deps, name: str, holder: str | None = None) -> int | None:
    """Take or renew ``name``: its recorded position, or ``None`` if another holds it."""
    with deps.uow() as uow:
        position = uow.leases.claim(name, holder or worker_id(), deps.clock(), TTL)
        uow.commit()
    return position


def record(deps: Deps, name: str, position: int, holder: str | None = None) -> bool:
    with deps.uow() as uow:
        done = uow.leases.record(name, holder or worker_id(), position)
        uow.commit()
    return done


def release(deps: Deps, name: str, holder: str | None = None) -> None:
    with deps.uow() as uow:
        uow.leases.release(name, holder or worker_id(), deps.clock())
        uow.commit()


def holders(deps: Deps) -> dict[str, str]:
    with deps.uow() as uow:
        return uow.leases.holders(deps.clock())
