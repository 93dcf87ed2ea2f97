"""The processes a benchmark starts (node processes, mostly), stopped on every way out.

``spawn`` starts a process in its own process group (a ``liaison serve --workers N``
supervisor and its workers go together) and registers it; ``adopt`` registers one started
elsewhere (``tests.integration.processes.NodeProcess``), stopped with its descendants.
Whatever is still running is stopped:
- by ``stop``/``stop_all`` in the benchmark's own ``finally``;
- at interpreter exit (``atexit``: a return, ``sys.exit``, an uncaught exception);
- on SIGTERM and SIGHUP, turned into ``SystemExit`` so ``finally`` blocks run first
  (installed from the main thread when the signal still has its default action; SIGINT
  already raises ``KeyboardInterrupt``);
- on the benchmark's own death by SIGKILL, for processes spawned while the benchmark ran a
  single thread: the kernel sends them SIGKILL too (``PR_SET_PDEATHSIG``).

``LIAISON_BENCH_FAIL_AFTER=<n>`` plants a failure: ``RuntimeError`` just after the n-th
process has started (the tests check that a failing benchmark leaves nothing behind).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from types import FrameType
from typing import IO, Any

import psutil

FAIL_AFTER_ENV = "LIAISON_BENCH_FAIL_AFTER"
PR_SET_PDEATHSIG = 1
_OWN_GROUP: dict[int, subprocess.Popen[Any]] = {}  # pid -> spawned in its own group
_ADOPTED: dict[int, subprocess.Popen[Any]] = {}  # pid -> started elsewhere
_started = 0
_at_exit = _signals = False
_lock = threading.Lock()


def _libc_prctl() -> Callable[..., int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not Linux
        return None


_PRCTL = _libc_prctl()  # looked up before any fork: the child only calls it


def _die_with_parent() -> None:
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(command: list[str], *, env: Mapping[str, str] | None = None,
          stdout: int | IO[Any] | None = subprocess.DEVNULL,
          stderr: int | IO[Any] | None = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    """Start ``command`` in a process group of its own; stopped on any way out."""
    _install()
    # the parent-death signal follows the thread that forked: only when that is the one
    # thread (preexec_fn is unsafe with other threads running, too)
    alone = threading.active_count() == 1
    proc = subprocess.Popen(command, stdout=stdout, stderr=stderr,
                            env=dict(env) if env is not None else None,
                            start_new_session=True,
                            preexec_fn=_die_with_parent if alone else None)
    with _lock:
        _OWN_GROUP[proc.pid] = proc
    _count_start()
    return proc


def adopt(proc: subprocess.Popen[Any] | None) -> None:
    """Stop ``proc`` (and its descendants) on any way out, though started elsewhere."""
    if proc is None:
        return
    _install()
    with _lock:
        _ADOPTED[proc.pid] = proc
    _count_start()


def _count_start() -> None:
    global _started
    with _lock:
        _started += 1
        n = _started
    planted = os.environ.get(FAIL_AFTER_ENV, "")
    if planted.isdigit() and n == int(planted):
        raise RuntimeError(f"planted failure after {n} process(es) started "
                           f"({FAIL_AFTER_ENV}={planted})")


def stop(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """SIGTERM (to its whole group when spawned here), SIGKILL after ``grace`` seconds."""
    stop_many([proc], grace)


def stop_many(procs: list[subprocess.Popen[Any]], grace: float = 10.0) -> None:
    """SIGTERM to all at once; SIGKILL to whatever of them still runs after ``grace``."""
    targets = [(p, _family(p)) for p in procs]
    for p, family in targets:
        _signal(p, family, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p, family in targets:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(max(0.1, deadline - time.monotonic()))
        _signal(p, family, signal.SIGKILL)  # a worker may outlive its supervisor
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(5)
        with _lock:
            _OWN_GROUP.pop(p.pid, None)
            _ADOPTED.pop(p.pid, None)


def stop_all(grace: float = 10.0) -> None:
    """Every registered process that has not been stopped yet."""
    with _lock:
        procs = [*_OWN_GROUP.values(), *_ADOPTED.values()]
    stop_many(procs, grace)


def _family(p: subprocess.Popen[Any]) -> list[psutil.Process]:
    """An adopted process's descendants (a spawned one is reached through its group)."""
    if p.pid in _OWN_GROUP or p.poll() is not None:
        return []
    try:
        return list(psutil.Process(p.pid).children(recursive=True))
    except psutil.Error:
        return []


def _signal(p: subprocess.Popen[Any], family: list[psutil.Process], sig: int) -> None:
    if p.pid in _OWN_GROUP:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, sig)  # its own group: the group id is its pid
    elif p.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(sig)
    for child in family:
        with contextlib.suppress(psutil.Error):
            child.send_signal(sig)


def _install() -> None:
    """``atexit`` once; SIGTERM and SIGHUP handlers once, from the main thread (only there
    may they be set), unless the benchmark handles them itself."""
    global _at_exit, _signals
    if not _at_exit:
        atexit.register(stop_all, 5.0)
        _at_exit = True
    if not _signals and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) is signal.SIG_DFL:
                signal.signal(sig, _exit_on_signal)
        _signals = True


_exiting = False


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    """The first signal unwinds the benchmark (its ``finally`` blocks, then ``atexit``);
    a second one during that cleanup does not interrupt it."""
    global _exiting
    if _exiting:
        return
    _exiting = True
    print(f"{os.path.basename(sys.argv[0])}: stopped by signal {signum}; stopping the "
          f"processes it started", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)
