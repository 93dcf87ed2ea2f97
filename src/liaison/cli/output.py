"""Tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table


class _Current:
    """A console made at each use, so its width follows COLUMNS and its stream follows
    sys.stdout at the time of printing (a script, or a test runner, may set them after this
    module was imported; rich reads COLUMNS once, when a Console is made)."""

    def __init__(self, stderr: bool = False) -> None:
        self.stderr = stderr

    def print(self, *objects: Any, **kw: Any) -> None:
        Console(stderr=self.stderr).print(*objects, **kw)

    def rule(self, *args: Any, **kw: Any) -> None:
        Console(stderr=self.stderr).rule(*args, **kw)


console = _Current()
errors = _Current(stderr=True)

OUTCOME_STYLE = {"allowed": "green", "held": "yellow", "denied": "red"}


def emit(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        render(data)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console.print(t)


def decision(d: dict[str, Any]) -> None:
    style = OUTCOME_STYLE.get(d["outcome"], "white")
    route = f" via {', '.join(d['route'])}" if d["route"] else ""
    console.print(f"[{style} bold]{d['outcome'].upper()}[/] to {d['recipient']} on {d['at']}"
                  f"{route} — agreement {d['agreement_id'] or '—'}, received as "
                  f"{d['recipient_level'] or '—'}, tearline {', '.join(d['tearline']) or '—'}")
    table("reasons", ["portion", "verdict", "rule"],
          [[r["portion_id"] or "item", r["verdict"], r["text"]] for r in d["reasons"]])
