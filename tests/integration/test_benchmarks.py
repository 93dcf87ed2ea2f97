"""Every benchmark's quick form runs in ``make test`` and a broken one fails the suite.

The benchmarks are found by glob (``bench/bench_*.py``), so a new one is run without being
listed here. One fails the suite when it exits non-zero, when a ``BENCH`` line is malformed,
not a finite number or not followed by a ``# includes: …`` line saying what it measures,
when a line it promises (``PROMISED``; a benchmark missing there fails until it says what
it promises) is absent, or when a process it started outlives it:
each run carries a marker in its environment, which every process it starts inherits, and
no process with the marker may remain once it has exited (``bench/node_processes.py``).
The last tests plant a failure, or kill a benchmark mid-run, and look for what it left.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

BENCH = Path(__file__).parents[2] / "bench"
BENCHES = sorted(p.name for p in BENCH.glob("bench_*.py"))
# what each quick form must print (a full form may name its figures differently)
PROMISED: dict[str, tuple[str, ...]] = {
    "bench_backlog.py": ("backlog_drain_per_s", "backlog_flash_ms"),
    "bench_federation.py": ("envelopes_per_s",),
    "bench_hotline.py": ("hotline_p50_ms", "hotline_p99_ms", "hotline_p99_ms_long_line"),
    "bench_products.py": ("taxii_objects_per_s", "search_p99_ms_20k_items"),
    "bench_search_hidden.py": ("search_hidden_vs_absent_ratio", "search_hidden_median_ms",
                               "search_absent_median_ms"),
    "bench_release.py": ("release_decisions_per_s", "release_decisions_cold_per_s",
                         "release_decisions_known_shapes_per_s",
                         "release_decisions_new_items_per_s", "release_decisions_mix_per_s"),
    "bench_scale.py": ("scale_tracks_ratio_3v1", "scale_envelopes_ratio_3v1"),
    "bench_signin.py": ("signin_known_ms", "signin_unknown_ms", "signin_timing_ratio"),
    "bench_talks.py": ("talks_first_frame_ms",),
    "bench_tracks.py": ("track_p99_ms_at_1000", "track_sustained_per_s",
                        "track_p99_ms_1_partner"),
}
NEEDS = {"bench_talks.py": [pytest.mark.chromium]}  # without it: skipped, or failed in CI
LINE = re.compile(r"BENCH (\S+) (\S+)(?: (\S.*))?$")
MARKER = "LIAISON_BENCH_RUN"
INCLUDES = "# includes: "  # as bench/report.py prints it
QUICK_TIMEOUT_S = 600


def left_behind(marker: str) -> list[psutil.Process]:
    """Processes still running with this run's marker in their environment."""
    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get(MARKER) == marker and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.Error:  # gone, or not ours to read
            continue
    return found


def describe(procs: list[psutil.Process]) -> str:
    lines = []
    for p in procs:
        try:
            lines.append(f"{p.pid}: {' '.join(p.cmdline())[:160]}")
        except psutil.Error:
            lines.append(f"{p.pid}: (gone)")
    return "\n".join(lines)


def no_process_left(marker: str, what: str, wait_s: float = 10.0) -> None:
    """Nothing of the run remains (a moment allowed for parent-death signals); whatever
    does is killed, and the test fails naming it."""
    deadline = time.monotonic() + wait_s
    while (remaining := left_behind(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for p in remaining:
        try:
            p.kill()
        except psutil.Error:
            continue
    assert not remaining, f"{what} left {len(remaining)} process(es) behind:\n" \
                          f"{describe(remaining)}"


def start(name: str, marker: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(BENCH / name), "--quick"], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, MARKER: marker, **env})


def finish(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """Its output; past ``timeout``, SIGTERM (it stops what it started), then SIGKILL."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        pytest.fail(f"no answer in {timeout:.0f} s:\n{out[-3000:]}\n{err[-3000:]}")


def figures(out: str) -> dict[str, float]:
    """The BENCH lines: each ``BENCH <name> <number> [unit]`` with a finite number, followed
    by a line saying what it includes (``bench/report.py``)."""
    found: dict[str, float] = {}
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("BENCH"):
            continue
        following = lines[i + 1] if i + 1 < len(lines) else ""
        assert following.startswith(INCLUDES) and following[len(INCLUDES):].strip(), \
            f"{line!r} is not followed by {INCLUDES!r} and what it includes (bench/report.py)"
        m = LINE.match(line.strip())
        assert m, f"malformed: {line!r} (BENCH <name> <number> <unit>)"
        try:
            value = float(m.group(2))
        except ValueError:
            pytest.fail(f"not a number: {line!r}")
        assert math.isfinite(value), f"not a finite number: {line!r}"
        found[m.group(1)] = value
    return found


@pytest.mark.parametrize("name", [pytest.param(n, marks=NEEDS.get(n, [])) for n in BENCHES])
def test_quick_form_runs_and_prints_what_it_promises(name: str) -> None:
    assert name in PROMISED, f"say in PROMISED which BENCH lines {name} --quick prints"
    marker = uuid.uuid4().hex
    began = time.monotonic()
    proc = start(name, marker)
    out, err = finish(proc, QUICK_TIMEOUT_S)
    took = time.monotonic() - began
    no_process_left(marker, name)
    assert proc.returncode == 0, f"{name} --quick exited {proc.returncode}:\n{out[-3000:]}" \
                                 f"\n{err[-3000:]}"
    found = figures(out)
    missing = [f for f in PROMISED[name] if f not in found]
    assert not missing, f"{name} --quick did not print {missing}:\n{out}\n{err[-3000:]}"
    print(f"{name} --quick: {len(PROMISED[name])} of {len(PROMISED[name])} promised BENCH "
          f"lines in {took:.0f} s: "
          + ", ".join(f"{k} {v:g}" for k, v in found.items()))


def test_a_planted_failure_fails_and_leaves_no_process() -> None:
    """The failure comes after the second node process started (``node_processes``)."""
    marker = uuid.uuid4().hex
    proc = start("bench_federation.py", marker, LIAISON_BENCH_FAIL_AFTER="2")
    out, err = finish(proc, QUICK_TIMEOUT_S)
    assert proc.returncode != 0, out
    assert "planted failure" in err, err[-3000:]
    assert "BENCH " not in out
    no_process_left(marker, "a failing benchmark")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_benchmark_killed_mid_run_leaves_no_process(sig: signal.Signals) -> None:
    """Killed once its node processes serve: SIGTERM unwinds it (its ``finally`` and
    ``atexit`` stop them); SIGKILL leaves that to the kernel (parent-death signal)."""
    marker = uuid.uuid4().hex
    proc = start("bench_federation.py", marker)
    try:
        deadline = time.monotonic() + 120
        while len([p for p in left_behind(marker) if "serve" in cmdline(p)]) < 2:
            assert proc.poll() is None, finish(proc, 10)
            assert time.monotonic() < deadline, "no node process started in 120 s"
            time.sleep(0.2)
        proc.send_signal(sig)
        finish(proc, 60)
        assert proc.returncode != 0
        no_process_left(marker, f"a benchmark killed by {sig.name}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""
