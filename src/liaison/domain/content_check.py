"""Content check a release reviewer sees before an item is released. Pure: no I/O.

What goes to the partner as words is read: the text of TEXT portions, the captions of
IMAGE portions, and the item's title (it travels with every tearline). TRACK portions are
data and are skipped. The title is checked against the label the partner's copy carries
for it: the highest label of the portions checked (of those, one that is releasable and
not NOFORN when there is one, the strictest case for a NOFORN in the title).

Text is read as ``content_text`` normalises it (with its word rule); the dirty words are a
``content_wordlist``.

Markings (kind ``marking``), looked for with the level names and marks of every known
scheme (``schemes``; by default the parties of ``parties.default_parties``):

- Portion marks: ``(MARK)`` or ``(MARK//controls)`` with MARK a level mark or name, e.g.
  "(TS)", "(S//REL TO USA, KOR)". A bare "(MARK)" counts only when written without lower
  case letters and not glued to a preceding word ("friend(s)", "(c)" are prose); a bare
  mark of ANOTHER scheme also needs two characters or more and must not be a number or a
  roman numeral ("(1)", "(ii)" are enumerations).
- Banner words: level names of two characters or more ("TOP SECRET", "군사II급비밀",
  "極秘"); spaces are optional next to Han/Hangul ("2급 비밀" = "2급비밀"). Rank-0 names
  ("UNCLASSIFIED", "평문") are consumed but never reported, so "UNCLASSIFIED" never reads as
  "CLASSIFIED" or "SECRET"; the longest name wins ("TOP SECRET" is not also "SECRET").
- Ranking: a name or mark of the label's own scheme takes that level's rank. Another
  scheme's level is ranked by ``rank_of(party, level_name)`` when given (an agreement's
  equivalence into the label's scheme; ``None`` = no equivalent); otherwise it is aligned
  from the top: the n-th highest classified level of its scheme counts as the n-th highest
  classified level of the label's scheme (the lowest one when there are fewer). This
  reproduces the seed GSOMIA tables and never ranks lower than they do.
- Only markings HIGHER than the portion's label (or with no equivalent) are reported. They
  are "hold" when written formally: a portion mark, or a banner word with no lower-case
  letter ("SECRET", "ＳＥＣＲＥＴ", "極秘"). In prose ("a secret meeting", "Top Secret")
  they are "warn": a reviewer decides.
- "NOFORN" in the text: "hold" when the label has REL TO or EYES ONLY; "warn" when the label
  has no NOFORN caveat; nothing when it has.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from liaison.domain.content_text import (
    IS_CJK,
    WORD_CHAR,
    TextMap,
    is_word_edge,
    map_text,
    normalise,
)
from liaison.domain.content_wordlist import Severity, Wordlist
from liaison.domain.items import Item, Portion, PortionKind
from liaison.domain.labels import NOFORN, Label, Level, Scheme
from liaison.domain.parties import default_parties

FindingKind = Literal["dirty_word", "marking"]
RankOf = Callable[[str, str], int | None]
SNIPPET = 30  # original characters shown either side of a finding
_ROMAN = frozenset("ivxlcdm")


@dataclass(frozen=True, slots=True)
class Finding:
    """Something a reviewer must look at in one portion."""

    portion: str
    kind: FindingKind
    term: str  # the listed term, or the level name of the marking found
    start: int  # [start, end) in the portion's ORIGINAL content
    end: int
    snippet: str
    severity: Severity
    reason: str  # one human sentence


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Every finding of an item, portion by portion in text order."""

    findings: tuple[Finding, ...]

    @property
    def hold(self) -> bool:
        return any(f.severity == "hold" for f in self.findings)

    def reasons(self) -> tuple[str, ...]:
        """One sentence per distinct hold, in text order."""
        return tuple(dict.fromkeys(f.reason for f in self.findings if f.severity == "hold"))


@dataclass(frozen=True)
class _Markings:
    regex: re.Pattern[str]
    levels: dict[str, tuple[tuple[str, Level], ...]]  # token without spaces -> (party, level)


def _name_pattern(name: str) -> str:
    """``name`` as a regex: a space is optional next to a Han/Hangul character."""
    parts: list[str] = []
    prev, gap = "", False
    for ch in name:
        if ch == " ":
            gap = True
            continue
        if prev:
            cjk = IS_CJK.match(prev) or IS_CJK.match(ch)
            parts.append(" ?" if cjk else " " if gap else "")
        parts.append(re.escape(ch))
        prev, gap = ch, False
    return "".join(parts)


@lru_cache(maxsize=32)
def _markings(schemes: tuple[Scheme, ...]) -> _Markings:
    levels: dict[str, list[tuple[str, Level]]] = {}
    toks: set[str] = set()
    edges: dict[tuple[bool, bool], list[str]] = {}
    for s in schemes:
        for lv in s.levels:
            name, mark = normalise(lv.name).strip(), normalise(lv.mark).strip()
            toks |= {name, mark}
            for tok in {name, mark}:
                levels.setdefault(tok.replace(" ", ""), []).append((s.party, lv))
            if len(name) >= 2:  # a one-character name is a mark, not a banner word
                edges.setdefault((is_word_edge(name[0]), is_word_edge(name[-1])), []).append(name)
    named = "|".join(
        (f"(?<!{WORD_CHAR})" if left else "") + "(?:"
        + "|".join(_name_pattern(n) for n in sorted(set(names), key=lambda t: (-len(t), t)))
        + ")" + (f"(?!{WORD_CHAR})" if right else "")
        for (left, right), names in sorted(edges.items(), reverse=True))
    regex = (r"(?P<pm>\((?P<mark>" + "|".join(map(re.escape, sorted(toks, key=len, reverse=True)))
             + r")(?P<ctl>//[^()]{0,300})?\))|(?P<name>" + named + ")")
    return _Markings(re.compile(regex), {k: tuple(dict.fromkeys(v)) for k, v in levels.items()})


_NOFORN = re.compile(f"(?<!{WORD_CHAR})noforn(?!{WORD_CHAR})")


def _top_aligned(foreign: Scheme, level: Level, own: Scheme) -> int:
    theirs = [lv for lv in foreign.levels if lv.rank > 0]
    ours = [lv for lv in own.levels if lv.rank > 0]
    if level.rank == 0:
        return 0
    if not ours:
        return 1
    return ours[min(theirs.index(level), len(ours) - 1)].rank


def _rank(cands: Iterable[tuple[str, Level]], scheme: Scheme, known: Mapping[str, Scheme],
          rank_of: RankOf | None) -> tuple[str, Level, int | None] | None:
    """The level a marking names and its rank in ``scheme`` (``None``: no equivalent);
    ``None`` overall for an unclassified marking. Of several foreign readings, the highest."""
    best: tuple[str, Level, int | None] | None = None
    for party, lv in cands:
        if party == scheme.party:
            return (party, lv, lv.rank) if lv.rank > 0 else None
        if lv.rank == 0:
            continue
        rank = rank_of(party, lv.name) if rank_of else _top_aligned(known[party], lv, scheme)
        if best is None or (rank is not None and (best[2] is None or rank > best[2])):
            best = (party, lv, rank)
    return best


def _snippet(content: str, start: int, end: int) -> str:
    a, b = max(0, start - SNIPPET), min(len(content), end + SNIPPET)
    text = " ".join(content[a:b].split())
    if not text.isprintable():
        text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return ("…" if a else "") + text + ("…" if b < len(content) else "")


def _shown(text: str) -> str:
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return " ".join(unicodedata.normalize("NFKC", text).split())


def check_item(item: Item, scheme: Scheme, wordlist: Wordlist, *,
               schemes: Mapping[str, Scheme] | None = None,
               rank_of: RankOf | None = None) -> CheckResult:
    """Dirty words and markings in the item's TEXT portions; ``hold`` when any finding is
    "hold". Labels are in ``scheme``; ``schemes`` are those whose markings are known
    (default: the default parties', with ``scheme`` for its own party)."""
    known = dict(schemes) if schemes is not None else {
        code: p.scheme for code, p in default_parties().items()}
    known[scheme.party] = scheme
    marks = _markings(tuple(known[k] for k in sorted(known)))
    findings: list[Finding] = []
    for p in item.portions:
        if p.label.policy != scheme.party:
            raise ValueError(f"portion {p.id}: label is in {p.label.policy}'s scheme, "
                             f"not {scheme.party}'s")
        if p.kind is not PortionKind.TRACK:
            findings += _scan(p, f"portion {p.id}", scheme, wordlist, known, marks, rank_of)
    if item.title and item.portions:
        title = Portion(TITLE, PortionKind.TEXT, item.title, _title_label(item, scheme))
        findings += _scan(title, "the title", scheme, wordlist, known, marks, rank_of)
    return CheckResult(tuple(findings))


TITLE = "title"  # the ``portion`` of a finding in the item's title


def _title_label(item: Item, scheme: Scheme) -> Label:
    top = max(scheme.level(p.label.classification).rank for p in item.portions)
    labels = [p.label for p in item.portions
              if scheme.level(p.label.classification).rank == top]
    return min(labels, key=lambda lb: (NOFORN in lb.caveats, not lb.rel_to))


def _scan(p: Portion, where: str, scheme: Scheme, wordlist: Wordlist,
          known: Mapping[str, Scheme], marks: _Markings,
          rank_of: RankOf | None) -> list[Finding]:
    own = scheme.level(p.label.classification)
    mapped = map_text(p.content)
    found = [Finding(p.id, "dirty_word", t.text, a, b, _snippet(p.content, a, b), t.severity,
                     f"{where} contains the listed term '{t.text}'"
                     + (f" ({t.note})" if t.note else ""))
             for t, a, b in wordlist.find_normalised(*mapped)]
    found += _marking_findings(p, mapped, own, scheme, known, marks, rank_of, where)
    return sorted(found, key=lambda f: (f.start, f.end, f.kind))


def _marking_findings(p: Portion, mapped: tuple[str, TextMap], own: Level,
                      scheme: Scheme, known: Mapping[str, Scheme], marks: _Markings,
                      rank_of: RankOf | None, name: str) -> list[Finding]:
    norm, where = mapped
    head = f"{name} (label {p.label.classification})"
    out: list[Finding] = []

    def add(a: int, b: int, term: str, severity: Severity, why: str) -> None:
        oa, ob = where.span(a, b)
        out.append(Finding(p.id, "marking", term, oa, ob, _snippet(p.content, oa, ob),
                           severity, why))

    for m in marks.regex.finditer(norm):
        original = p.content[slice(*where.span(m.start(), m.end()))]
        formal = not any(c.islower() for c in unicodedata.normalize("NFKC", original))
        token = (m.group("mark") or m.group("name")).replace(" ", "")
        cands = marks.levels[token]
        if m.group("pm") and not m.group("ctl"):
            glued = m.start() > 0 and is_word_edge(norm[m.start() - 1])
            foreign = not any(party == scheme.party for party, _ in cands)
            enumeration = len(token) < 2 or token.isdigit() or set(token) <= _ROMAN
            if not formal or glued or (foreign and enumeration):
                continue
        formal = formal or bool(m.group("pm"))
        found = _rank(cands, scheme, known, rank_of)
        if found is None:
            continue
        party, level, rank = found
        if rank is not None and rank <= own.rank:
            continue
        shown = _shown(original)
        if rank is None:
            why = (f"{head} contains the marking '{shown}' ({party} {level.name}), which has "
                   f"no equivalent in {scheme.party}'s scheme")
        else:
            taken = next((lv.name for lv in scheme.levels if lv.rank == rank), str(rank))
            equiv = "" if party == scheme.party else f" ({party} {level.name}, taken as {taken})"
            why = f"{head} contains the marking '{shown}'{equiv}, higher than its label"
        add(m.start(), m.end(), level.name, "hold" if formal else "warn",
            why if formal else why + " (in prose: a reviewer decides)")
    if NOFORN not in p.label.caveats:
        for m in _NOFORN.finditer(norm):
            if p.label.rel_to:
                add(m.start(), m.end(), NOFORN, "hold",
                    f"{head} contains NOFORN but its label is releasable "
                    f"({', '.join(sorted(p.label.rel_to))})")
            else:
                add(m.start(), m.end(), NOFORN, "warn",
                    f"{head} contains NOFORN but its label has no NOFORN caveat")
    return out

