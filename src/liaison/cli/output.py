"""Tables for people, JSON for scripts, and errors: what every command prints with."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Literal, NoReturn

import typer
from rich.console import Console
from rich.rule import Rule
from rich.style import Style
from rich.table import Table
from rich.text import Text

# Wider than any line the CLI prints: output that is not a terminal is never wrapped.
UNWRAPPED = 1_000_000
RULE_WIDTH = 80  # a rule (a heading line) in output that is not a terminal


class CliConsole(Console):
    """A Rich console that wraps lines only for a terminal. Output to a pipe, a file or a test
    runner keeps each line whole whatever ``COLUMNS`` says (Rich would wrap it at 80 columns,
    splitting a long path or "6 agreements" over two lines), so scripts and ``grep`` read
    what was printed."""

    def __init__(self, stderr: bool = False) -> None:
        super().__init__(stderr=stderr)
        if not self.is_terminal:
            self.width = UNWRAPPED
            self.soft_wrap = True

    def rule(self, title: str | Text = "", *, characters: str = "─",
             style: str | Style = "rule.line", align: Literal["left", "center", "right"] = "center"
             ) -> None:
        """A rule as wide as a terminal's would be, its title never cut."""
        if self.is_terminal:
            super().rule(title, characters=characters, style=style, align=align)
            return
        text = Text.from_markup(title) if isinstance(title, str) else title
        self.print(Rule(title, characters=characters, style=style, align=align),
                   width=max(RULE_WIDTH, text.cell_len + 6))


class _Current:
    """A console made at each use, so its stream follows sys.stdout at the time of printing
    (a script, or a test runner, may replace it after this module was imported) and, for a
    terminal, its width follows COLUMNS (rich reads COLUMNS once, when a Console is made)."""

    def __init__(self, stderr: bool = False) -> None:
        self.stderr = stderr

    def print(self, *objects: Any, **kw: Any) -> None:
        CliConsole(stderr=self.stderr).print(*objects, **kw)

    def rule(self, *args: Any, **kw: Any) -> None:
        CliConsole(stderr=self.stderr).rule(*args, **kw)


console = _Current()
errors = _Current(stderr=True)

OUTCOME_STYLE = {"allowed": "green", "held": "yellow", "denied": "red"}


def fail(message: str, code: int = 1) -> NoReturn:
    """Print the error on stderr and exit with ``code``."""
    errors.print(f"[red]error:[/] {message}")
    raise typer.Exit(code)


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


def requests_table(rows: list[dict[str, Any]]) -> None:
    """Requests between partners (RFIs, consent requests), sent and received."""
    table("requests", ["ref", "direction", "party", "state", "overdue", "subject"],
          [[r.get("ref", r["id"]), r["direction"], r["party"], r["state"], r["overdue"],
            r.get("topic") or f"{r.get('item_id')} → {r.get('recipient')}"] for r in rows])


def label_text(label: dict[str, Any] | None) -> str:
    """A label as one line: its classification and REL TO list."""
    if not label:
        return ""
    rel = label.get("rel_to")
    return f"{label.get('classification', '')}" + (f" REL TO {', '.join(rel)}" if rel else "")


def number(value: Any, digits: int = 4) -> str:
    """A coordinate or other float with ``digits`` decimals; nothing for None."""
    return "" if value is None else f"{float(value):.{digits}f}"
