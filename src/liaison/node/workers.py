"""``liaison serve --workers N``: N worker processes of one node on one machine, sharing
its ports (``SO_REUSEPORT``: the kernel spreads connections over them), its PostgreSQL
database and its NATS JetStream bus. The supervisor starts them, stops them on SIGTERM or
SIGINT, and starts a worker again when one dies (the others carry on meanwhile: leases
move a dead worker's node-wide jobs to a live one). More machines run more workers the
same way, each behind the same load balancer.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from liaison.config import Settings

log = logging.getLogger("liaison.workers")
WORKER_ENV = "LIAISON_WORKER_INDEX"  # set in a worker: bind with SO_REUSEPORT
RESTART_DELAY_S = 1.0
STOP_GRACE_S = 10.0


def check(settings: Settings) -> str | None:
    """Why this configuration cannot run several workers, or ``None``."""
    if not settings.bus_url:
        return ("several workers need a shared bus: set LIAISON_BUS_URL to a NATS server "
                "with JetStream (nats://host:4222)")
    if not settings.database_url.startswith("postgresql"):
        return ("several workers need a shared database: set LIAISON_DATABASE_URL to a "
                "PostgreSQL URL (postgresql+psycopg://...)")
    return None


def supervise(settings: Settings, argv: list[str]) -> int:
    """Run ``settings.workers`` workers until stopped; the exit code."""
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    workers = {i: _start(i, argv) for i in range(settings.workers)}
    print(f"supervisor {os.getpid()}: {len(workers)} workers, pids "
          f"{' '.join(str(p.pid) for p in workers.values())}", flush=True)
    while not stopping:
        time.sleep(0.2)
        for index, proc in list(workers.items()):
            code = proc.poll()
            if code is not None and not stopping:
                print(f"supervisor: worker {index} (pid {proc.pid}) ended with {code}; "
                      f"starting it again", flush=True)
                time.sleep(RESTART_DELAY_S)
                workers[index] = _start(index, argv)
                print(f"supervisor: worker {index} is pid {workers[index].pid}", flush=True)
    for proc in workers.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in workers.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0


def _start(index: int, argv: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, WORKER_ENV: str(index), "LIAISON_WORKERS": "1"}
    return subprocess.Popen([sys.executable, "-m", "liaison.cli.main", *argv], env=env)
