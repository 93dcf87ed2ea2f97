"""Talks in real headless Chromium (the system's, fake camera and microphone): a KOR
delegate and a PRK delegate, each logged in to their own node and named in their party's
delegation, join the same talks; each decodes the other's video and receives the other's
audio (the fake microphone's tone); signalling crosses the two nodes. Runs
``bench/bench_talks.py --quick``, which fails if either side decodes no frame or hears
nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.chromium
def test_two_delegates_see_each_other_across_two_nodes(tmp_path: Path) -> None:
    bench = Path(__file__).parents[2] / "bench" / "bench_talks.py"
    result = subprocess.run([sys.executable, str(bench), "--quick"], capture_output=True,
                            text=True, timeout=300, check=False,
                            env={**os.environ, "LIAISON_SCREENSHOTS": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BENCH talks_first_frame_ms" in result.stdout
    for party in ("KOR", "PRK"):
        assert re.search(rf"^# {party}: first remote frame \d+ ms after both joined "
                         rf"\(\d+ ms after joining\); video [1-9]\d* frames decoded "
                         rf"\(\d+x\d+\)$", result.stdout, re.M), result.stdout
        assert re.search(rf"^# {party}: remote audio [1-9]\d* packets, [1-9]\d* samples "
                         r"received \(energy ", result.stdout, re.M), result.stdout
    assert {p.name for p in tmp_path.glob("*.png")} == {"talks-KOR.png", "talks-PRK.png"}
    print("\n" + "\n".join(line for line in result.stdout.splitlines()
                           if "first remote frame" in line or "remote audio" in line
                           or "timeline" in line or line.startswith("BENCH")))
