"""Every figure SECURITY.md quotes appears in a test run's list of figures.

``make test`` runs the suite with ``--liaison-figures=FILE`` (``tests/conftest.py`` writes
there the list it prints at the end, "figures the tests printed") and then
``python tests/figures_check.py FILE``: it exits 1, naming them, when a figure quoted in
``tests/figures_quoted.txt`` (kept in step with SECURITY.md) is not in that list, so a quoted
figure whose test stopped printing it, printed another number, or did not run fails the run.

The quoted file's format is described at its top. Commas between digits are ignored on both
sides ("1,000" and "1000" are the same figure).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

QUOTED = Path(__file__).with_name("figures_quoted.txt")
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
NUMBER = r"\d+"


def plain(text: str) -> str:
    """Commas between digits dropped: "22,360" and "22360" compare equal."""
    return re.sub(r"(?<=\d),(?=\d)", "", text)


@dataclass(frozen=True)
class Quoted:
    where: str  # the test file
    text: str  # as written in the quoted file
    pattern: re.Pattern[str]

    def found_in(self, figures: list[tuple[str, str]]) -> bool:
        return any(where == self.where and self.pattern.search(line)
                   for where, line in figures)


def compile_text(text: str) -> re.Pattern[str]:
    """``{name}``: a number; the same name again: the same number."""
    out, seen, at = [], set(), 0
    for m in PLACEHOLDER.finditer(text):
        out.append(re.escape(plain(text[at:m.start()])))
        name = m.group(1)
        out.append(f"(?P={name})" if name in seen else f"(?<!\\d)(?P<{name}>{NUMBER})(?!\\d)")
        seen.add(name)
        at = m.end()
    out.append(re.escape(plain(text[at:])))
    edge_start = r"(?<!\d)" if text[:1].isdigit() else ""
    edge_end = r"(?!\d)" if text[-1:].isdigit() else ""  # "caused 0" is not "caused 05"
    return re.compile(edge_start + "".join(out) + edge_end)


def split(line: str) -> tuple[str, str]:
    where, sep, text = line.partition(": ")
    if not sep or not where.endswith(".py"):
        raise ValueError(f"not `<test file>: <text>`: {line!r}")
    return where.strip(), text.strip()


def quoted(text: str) -> list[Quoted]:
    out = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where, figure = split(line)
        out.append(Quoted(where, figure, compile_text(figure)))
    return out


def printed(text: str) -> list[tuple[str, str]]:
    """The run's figure lines (``<test file>: <line>``), commas between digits dropped."""
    return [(where, plain(figure)) for where, figure in
            (split(line) for line in text.splitlines() if line.strip())]


def absent(quotes: list[Quoted], figures: list[tuple[str, str]]) -> list[Quoted]:
    return [q for q in quotes if not q.found_in(figures)]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: figures_check.py FIGURES_FILE (written by pytest --liaison-figures)",
              file=sys.stderr)
        return 2
    quotes = quoted(QUOTED.read_text(encoding="utf-8"))
    missing = absent(quotes, printed(Path(argv[1]).read_text(encoding="utf-8")))
    if missing:
        print(f"== figures SECURITY.md quotes: {len(quotes) - len(missing)} of {len(quotes)} "
              f"printed by this run; missing:")
        for q in missing:
            print(f"   {q.where}: {q.text}")
        print(f"   (the quoted figures: {QUOTED.name}; a test that no longer prints one, "
              "prints another number or did not run)")
        return 1
    print(f"== figures SECURITY.md quotes: {len(quotes)} of {len(quotes)} printed by this run")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
