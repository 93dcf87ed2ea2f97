"""How a benchmark prints a figure: ``BENCH <name> <value> <unit>``, then what it includes.

Every figure is followed by one comment line ``# includes: …`` saying what the measured
time or count covers (and what it leaves out), so a figure is never read for more than it
measures. ``tests/integration/test_benchmarks.py`` fails a benchmark whose ``BENCH`` line
is not followed by one.
"""

from __future__ import annotations

INCLUDES = "# includes: "


def bench(name: str, value: str, unit: str, includes: str) -> None:
    """``value`` already formatted (``f"{x:.1f}"``)."""
    print(f"BENCH {name} {value} {unit}")
    print(INCLUDES + includes, flush=True)
