"""`liaison demo` runs the seed scenario on three real node processes and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# the benchmarks that start node processes run in `make soak` (and for real in `make bench`):
# the CI suite stays well under its time budget
SLOW_BENCH = pytest.mark.slow


def test_demo_walks_through_and_exits_zero(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "liaison.cli.main", "demo", "--data-dir",
                             str(tmp_path)], capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "demo complete" in out
    assert "choi approves → state released" in out
    assert "audit verify: ok=True" in out
    assert "USA relayed it (KOR → JPN)" in out
    assert "the signed grant is back at KOR" in out
    assert "JPN's RFI is answered" in out
    assert "check call answered by CHN: line NORMAL" in out
    assert "KOR's side shows SEVERED (by PRK)" in out
    assert "PRK did not answer: line UNRESPONSIVE" in out
    assert "KOR's node received 252 of 252" in out
    assert "JPN's node received 0 track updates" in out
    assert "JPN's node received 252 of 252" in out
    assert "as jung.analyst (군사III급비밀): 0 item(s)" in out
    assert "KOR checks: KOR verified, PRK verified" in out
    assert "an edit after both signed → 409" in out
    assert "SHA-256 matches" in out
    assert "JPN verifies KOR's STANAG 4778-style binding" in out
    assert "JPN's TAXII client at KOR sees: Released to JPN" in out


def test_bench_release_quick_prints_its_figures() -> None:
    bench = Path(__file__).parents[2] / "bench" / "bench_release.py"
    result = subprocess.run([sys.executable, str(bench), "--quick"], capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    names = {line.split()[1] for line in result.stdout.splitlines()
             if line.startswith("BENCH ")}
    assert {"release_decisions_per_s", "release_decisions_cold_per_s"} <= names


@SLOW_BENCH
def test_bench_hotline_quick_prints_its_figures() -> None:
    bench = Path(__file__).parents[2] / "bench" / "bench_hotline.py"
    result = subprocess.run([sys.executable, str(bench), "--quick"], capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "BENCH hotline_p99_ms" in result.stdout


@SLOW_BENCH
def test_bench_tracks_quick_prints_its_figures() -> None:
    bench = Path(__file__).parents[2] / "bench" / "bench_tracks.py"
    result = subprocess.run([sys.executable, str(bench), "--quick"], capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    for name in ("track_p99_ms_at_1000", "track_sustained_per_s", "track_p99_ms_1_partner"):
        assert f"BENCH {name}" in result.stdout


@SLOW_BENCH
def test_bench_products_quick_prints_its_figures() -> None:
    bench = Path(__file__).parents[2] / "bench" / "bench_products.py"
    result = subprocess.run([sys.executable, str(bench), "--quick"], capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "BENCH taxii_objects_per_s" in result.stdout
    assert "BENCH search_p99_ms_20k_items" in result.stdout


@SLOW_BENCH
def test_bench_scale_quick_prints_its_figures() -> None:
    bench = Path(__file__).parents[2] / "bench" / "bench_scale.py"
    result = subprocess.run([sys.executable, str(bench), "--quick"], capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("scale_tracks_ratio_3v1", "scale_envelopes_ratio_3v1"):
        assert f"BENCH {name}" in result.stdout
