"""`liaison demo` runs the seed scenario on three real node processes and exits 0 (the
benchmarks' quick forms: ``tests/integration/test_benchmarks.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_walks_through_and_exits_zero(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "liaison.cli.main", "demo", "--data-dir",
                             str(tmp_path)], capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "demo complete" in out
    assert "choi approves → state released" in out
    assert "audit verify: ok=True" in out
    assert "release check on 2015-06-01: ALLOWED to JPN on 2015-06-01 as 秘 via USA" in out
    assert "a release request dated 2015-06-01 → 422" in out  # issue 18: never backdated
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

