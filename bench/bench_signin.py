"""Sign-in time for a known and an unknown username (issue 18: ~250-300 ms against ~40 ms,
because an unknown user skipped the password hash).

A `liaison serve` node (SQLite), signed in to over HTTP on one kept-alive connection;
failed sign-ins alternate between a known user with a wrong password and an unknown user
(so drift in the machine's load falls on both alike). Prints ``BENCH <name> <value>
<unit>`` lines:
- signin_known_ms: median failed sign-in of an existing user (wrong password)
- signin_unknown_ms: median failed sign-in of a username that does not exist
- signin_timing_ratio: unknown / known (goal: 0.8-1.25; 1 means no difference)
- signin_disabled_ms: median sign-in of a disabled user with its right password (refused)
- signin_good_ms: median successful sign-in (a session token is issued: one write more)

The login limit is raised for the run (``LIAISON_LOGIN_ATTEMPTS_PER_MINUTE``). ``--quick``
takes fewer samples (used by the test suite to keep this script working).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

import node_processes
from bench_federation import PASSWORD, port, serve, setup
from report import bench

OTHER_PASSWORD = "bench-other-password-0123"


def timed(client: httpx.Client, username: str, password: str, expect: int) -> float:
    start = time.perf_counter()
    r = client.post("/api/auth/login", json={"username": username, "password": password})
    took = (time.perf_counter() - start) * 1000
    if r.status_code != expect:
        raise SystemExit(f"sign-in of {username}: {r.status_code} {r.text}, expected {expect}")
    return took


def main() -> int:
    rounds = 6 if "--quick" in sys.argv else 60
    with tempfile.TemporaryDirectory(prefix="liaison-bench-") as tmp:
        data, _ = setup(Path(tmp), "KOR")
        p = port()
        proc = serve(data, p, env={"LIAISON_LOGIN_ATTEMPTS_PER_MINUTE": "1000000"})
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{p}", timeout=60) as client:
                admin = client.post("/api/auth/login", json={
                    "username": "admin", "password": PASSWORD}).json()["token"]
                auth = {"Authorization": f"Bearer {admin}"}
                for name in ("kim", "gone"):
                    client.post("/api/users", headers=auth, json={
                        "username": name, "roles": ["analyst"], "clearance": "대외비",
                        "password": PASSWORD}).raise_for_status()
                client.post("/api/users/gone/disable", headers=auth).raise_for_status()
                samples: dict[str, list[float]] = {k: [] for k in
                                                   ("known", "unknown", "disabled", "good")}
                for i in range(rounds + 2):  # the first two rounds warm up, not counted
                    got = {"known": timed(client, "kim", OTHER_PASSWORD, 401),
                           "unknown": timed(client, f"nobody{i}", OTHER_PASSWORD, 401),
                           "disabled": timed(client, "gone", PASSWORD, 401),
                           "good": timed(client, "kim", PASSWORD, 200)}
                    if i >= 2:
                        for k, v in got.items():
                            samples[k].append(v)
        finally:
            node_processes.stop(proc)
    med = {k: statistics.median(v) for k, v in samples.items()}
    spread = {k: (min(v), max(v)) for k, v in samples.items()}
    print(f"# {rounds} rounds, one of each sign-in per round over one connection; "
          + "; ".join(f"{k} {lo:.0f}-{hi:.0f} ms" for k, (lo, hi) in spread.items()))
    inc = ("a failed (401) or good (200) POST /api/login over one open HTTP connection to a "
           "real `liaison serve` node, client to answer; median of the counted rounds")
    bench("signin_known_ms", f"{med['known']:.1f}", "ms", "known user, wrong password: " + inc)
    bench("signin_unknown_ms", f"{med['unknown']:.1f}", "ms", "unknown user: " + inc)
    bench("signin_timing_ratio", f"{med['unknown'] / med['known']:.3f}", "unknown/known",
          "the two medians above, measured interleaved in one run")
    bench("signin_disabled_ms", f"{med['disabled']:.1f}", "ms", "disabled user: " + inc)
    bench("signin_good_ms", f"{med['good']:.1f}", "ms", "right password: " + inc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
