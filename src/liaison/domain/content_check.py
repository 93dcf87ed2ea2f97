"""Content check a release reviewer sees before an item is released. Pure: no I/O.

What goes to the partner as words is read: the text of TEXT portions, the captions of
IMAGE portions, and the item's title (it travels with every tearline). TRACK portions are
data and are skipped. The title is checked against the label the partner's copy carries
for it: the highest label of the portions checked (of those, one that is releasable and
not NOFORN when there is one, the strictest case for a NOFORN in the title).

Normalisation. Text and terms are compared after NFKC, case folding, removal of format
characters (Unicode category Cf: zero-width space, joiners, soft hyphen, BOM …) and
collapsing every run of whitespace to one space, so "ＳＥＣＲＥＴ", "Se\u200bcret" and
"SECRET" all read "secret" and a phrase may span a line break. NFKC is applied per base
character with its combining marks (and Hangul jamo), so every normalised character maps
back to a span of the original text: findings give ``start``/``end`` in the ORIGINAL content.
A match inside what one original character became (a ligature "㍿", a letter with a combining
accent) still counts, its span then covering that whole character: an added accent does not
hide a term.

Word rule. A match must not be glued to a letter or digit of a space-delimited script
("ass" is not found in "assess"). Han, Kana and Hangul characters never block a match:
those scripts have no spaces between words or attach particles ("SECRET을" holds "secret").

Dirty words (kind ``dirty_word``). Each term of the ``Wordlist`` carries a severity,
"hold" (the default: a listed term stops release until a reviewer clears it) or "warn".
Terms are indexed once, by first word (or first characters for Han/Hangul/punctuation);
a scan is one pass over the text's words, leftmost then longest term first.

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
import string
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from liaison.domain.items import Item, Portion, PortionKind
from liaison.domain.labels import NOFORN, Label, Level, Scheme
from liaison.domain.parties import default_parties

Severity = Literal["hold", "warn"]
FindingKind = Literal["dirty_word", "marking"]
RankOf = Callable[[str, str], int | None]
SEVERITIES: tuple[Severity, ...] = ("hold", "warn")
MAX_TERM = 200
MAX_TERMS = 10_000
SNIPPET = 30  # original characters shown either side of a finding

_CJK = (r"\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
        r"\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\U00020000-\U0003134f")
_BLOCK = rf"[^\W{_CJK}]"  # a letter/digit/underscore of a space-delimited script
_IS_BLOCK = re.compile(_BLOCK)
_IS_CJK = re.compile(f"[{_CJK}]")
_FIRST_WORD = re.compile(f"{_BLOCK}+")
_ODD_SPACE = re.compile(r"\s{2,}|[^\S ]")  # any whitespace but one plain space
_SPACE_OR_WORD = re.compile(r" |[^ ]+")
_ROMAN = frozenset("ivxlcdm")
# characters NFKC and case folding leave alone: printable ASCII but capitals, Hangul
# syllables, CJK ideographs, kana
_PLAIN = re.compile(r"[ -@\[-~\uac00-\ud7a3\u3400-\u4dbf\u4e00-\u9fff\u3041-\u3096\u30a1-\u30fa]+")
_ASCII_UPPER = {ord(c): c.lower() for c in string.ascii_uppercase}


def _fold(s: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", s).casefold())


@lru_cache(maxsize=65536)
def _joins(c: str) -> bool:
    """``c`` joins the preceding character under NFKC (combining mark, jamo, ﾞ)."""
    return bool(unicodedata.combining(c) or "\u1160" <= c <= "\u11ff"
                or unicodedata.combining(unicodedata.normalize("NFKC", c)[:1] or "a"))


@lru_cache(maxsize=65536)
def _piece(cluster: str) -> str:
    return "".join(c for c in _fold(cluster) if unicodedata.category(c) != "Cf")


class _Map:
    """Normalised text and where each of its characters came from in the original.

    Each distinct character is classified once per text: it folds to exactly one character
    (folded in C by ``str.translate``), or it is *odd* (dropped, expands, or joins its
    neighbour) and its cluster is folded on its own. Offsets are kept as segments: a run
    of one-to-one characters, or the characters one original cluster became."""

    def __init__(self, text: str) -> None:
        self.out: list[str] = []
        self.n = 0  # normalised length so far
        self.seg: list[int] = []  # normalised start of each segment
        self.orig: list[int] = []  # original start of each segment
        self.stop: list[int] = []  # original end of a cluster segment; -1 for a run
        self.space = False
        self.table: dict[int, str] = dict(_ASCII_UPPER)
        self.odd: set[str] = set()
        for c in set(_PLAIN.sub("", text)):
            p = _piece(c)
            if len(p) != 1 or (p.isspace() and c != " ") or _joins(c):
                self.odd.add(c)
            elif p != c:
                self.table[ord(c)] = p

    def run(self, s: str, a: int) -> None:  # no odd characters, no double spaces
        folded = s.translate(self.table)
        self.seg.append(self.n)
        self.orig.append(a)
        self.stop.append(-1)
        self.out.append(folded)
        self.n += len(folded)
        self.space = folded.endswith(" ")

    def char(self, ch: str, a: int, b: int) -> None:
        if ch.isspace():
            if self.space:
                return
            ch = " "
        if not (self.stop and self.stop[-1] == b and self.orig[-1] == a):
            self.seg.append(self.n)
            self.orig.append(a)
            self.stop.append(b)
        self.out.append(ch)
        self.n += 1
        self.space = ch == " "

    def chunk(self, s: str, a: int) -> None:  # text without line breaks or double spaces
        if self.odd.isdisjoint(s):
            if s:
                self.run(s, a)
            return
        for w in _SPACE_OR_WORD.finditer(s):
            word, base = w.group(), a + w.start()
            if word == " ":
                self.char(" ", base, base + 1)
            elif self.odd.isdisjoint(word):
                self.run(word, base)
            else:
                self.odd_word(word, base)

    def odd_word(self, word: str, base: int) -> None:
        i = 0
        for k in [k for k, c in enumerate(word) if c in self.odd]:
            if k < i:
                continue  # already folded with the cluster before it
            start = k
            while start > i and _joins(word[start]):
                start -= 1
            if start > i:
                self.run(word[i:start], base + i)
            end = k + 1
            while end < len(word) and _joins(word[end]):
                end += 1
            for ch in _piece(word[start:end]):
                self.char(ch, base + start, base + end)
            i = end
        if i < len(word):
            self.run(word[i:], base + i)

    def span(self, i: int, j: int) -> tuple[int, int]:
        """Original [start, end) of normalised ``[i, j)``, ``j > i``."""
        return self._at(i)[0], self._at(j - 1)[1]

    def _at(self, i: int) -> tuple[int, int]:
        k = bisect_right(self.seg, i) - 1
        if self.stop[k] < 0:
            at = self.orig[k] + i - self.seg[k]
            return at, at + 1
        return self.orig[k], self.stop[k]


def _mapped(text: str) -> tuple[str, _Map]:
    """Normalised text, and the map back to ``text``."""
    m, pos = _Map(text), 0
    for ws in _ODD_SPACE.finditer(text):
        m.chunk(text[pos:ws.start()], pos)
        m.char(" ", ws.start(), ws.end())
        pos = ws.end()
    m.chunk(text[pos:], pos)
    return "".join(m.out), m


def normalise(text: str) -> str:
    """NFKC, case-folded, format characters removed, whitespace runs collapsed."""
    return _mapped(text)[0]


def _edge(ch: str) -> bool:
    return bool(_IS_BLOCK.fullmatch(ch))


@dataclass(frozen=True, slots=True)
class Term:
    """One listed word or phrase."""

    text: str
    severity: Severity = "hold"
    note: str = ""

    def __post_init__(self) -> None:
        if len(self.text) > MAX_TERM:
            raise ValueError(f"term {self.text[:20]!r}… is longer than {MAX_TERM} characters")
        if not normalise(self.text).strip():
            raise ValueError("a term is empty (or only spaces and format characters)")
        if self.severity not in SEVERITIES:
            raise ValueError(f"term {self.text!r}: severity {self.severity!r} is not one of "
                             + ", ".join(SEVERITIES))


_Bucket = tuple[tuple[str, bool, Term], ...]  # (normalised term, guard its end?, term)


def _longest_first(bucket: list[tuple[str, bool, Term]]) -> _Bucket:
    return tuple(sorted(bucket, key=lambda e: (-len(e[0]), e[0])))


@dataclass(frozen=True)
class Wordlist:
    """Dirty words and phrases, indexed once: a term starting with a letter or digit of a
    space-delimited script by its first word, any other by its first one or two characters;
    one regex finds the candidate places, longest term first."""

    terms: tuple[Term, ...]
    _words: dict[str, _Bucket] = field(init=False, repr=False, compare=False)
    _heads: dict[str, _Bucket] = field(init=False, repr=False, compare=False)
    _places: re.Pattern[str] | None = field(init=False, repr=False, compare=False)  # heads

    def __post_init__(self) -> None:
        if len(self.terms) > MAX_TERMS:
            raise ValueError(f"{len(self.terms)} terms: a wordlist holds at most {MAX_TERMS}")
        by_key: dict[str, Term] = {}
        for t in self.terms:
            key = normalise(t.text).strip()
            if key not in by_key or (t.severity == "hold" and by_key[key].severity != "hold"):
                by_key[key] = t  # the same words listed twice: the stricter entry wins
        words: dict[str, list[tuple[str, bool, Term]]] = {}
        heads: dict[str, list[tuple[str, bool, Term]]] = {}
        for key, t in by_key.items():
            first = _FIRST_WORD.match(key)
            index, k = (words, first.group()) if first else (heads, key[:2])
            index.setdefault(k, []).append((key, _edge(key[-1]), t))
        object.__setattr__(self, "_words", {k: _longest_first(b) for k, b in words.items()})
        object.__setattr__(self, "_heads", {k: _longest_first(b) for k, b in heads.items()})
        firsts = "".join(sorted({re.escape(k[0]) for k in heads}))
        object.__setattr__(self, "_places", re.compile(f"[{firsts}]") if heads else None)

    def find(self, text: str) -> list[tuple[Term, int, int]]:
        """(term, start, end) for each match in ``text``, offsets into ``text`` itself."""
        return self._find(*_mapped(text))

    def _find(self, norm: str, where: _Map) -> list[tuple[Term, int, int]]:
        places: list[tuple[int, _Bucket | None, _Bucket | None]] = []
        listed = self._words.keys() & set(_FIRST_WORD.findall(norm))
        if listed:  # whole words of the text that begin a listed term
            places.extend((m.start(), self._words[m.group()], None)
                          for m in _FIRST_WORD.finditer(norm) if m.group() in listed)
        if self._places is not None:
            places.extend((m.start(), self._heads.get(m.group() + norm[m.end():m.end() + 1]),
                           self._heads.get(m.group())) for m in self._places.finditer(norm))
        places.sort(key=lambda p: p[0])
        out: list[tuple[Term, int, int]] = []
        last = 0
        for i, longer, single in places:
            hit = None if i < last else _first(longer, norm, i) or _first(single, norm, i)
            if hit:
                last = i + len(hit[0])
                out.append((hit[1], *where.span(i, last)))
        return out


def _first(bucket: _Bucket | None, norm: str, i: int) -> tuple[str, Term] | None:
    """The longest term of ``bucket`` at ``norm[i:]`` that does not run into a word."""
    for key, guard, term in bucket or ():
        end = i + len(key)
        if norm.startswith(key, i) and not (guard and end < len(norm) and _edge(norm[end])):
            return key, term
    return None


def wordlist_from(data: Mapping[str, Any]) -> Wordlist:
    """A wordlist from ``{"terms": ["plain term", {"term": …, "severity": …, "note": …}]}``;
    ``ValueError`` naming the bad entry otherwise."""
    if not isinstance(data, Mapping) or set(data) != {"terms"}:
        raise ValueError("a wordlist is a mapping with exactly one key, 'terms'")
    raw = data["terms"]
    if not isinstance(raw, list | tuple):
        raise ValueError("'terms' must be a list")
    if len(raw) > MAX_TERMS:
        raise ValueError(f"{len(raw)} terms: a wordlist holds at most {MAX_TERMS}")
    terms: list[Term] = []
    for i, entry in enumerate(raw):
        try:
            if isinstance(entry, str):
                terms.append(Term(entry))
                continue
            if not isinstance(entry, Mapping) or "term" not in entry:
                raise ValueError("expected a string or a mapping with a 'term'")
            extra = set(entry) - {"term", "severity", "note"}
            if extra:
                raise ValueError(f"unknown keys {', '.join(sorted(map(str, extra)))}")
            text, sev, note = entry["term"], entry.get("severity", "hold"), entry.get("note", "")
            if not isinstance(text, str) or not isinstance(note, str):
                raise ValueError("'term' and 'note' must be strings")
            terms.append(Term(text, sev, note))
        except ValueError as exc:
            raise ValueError(f"terms[{i}]: {exc}") from None
    return Wordlist(tuple(terms))


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
            cjk = _IS_CJK.match(prev) or _IS_CJK.match(ch)
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
                edges.setdefault((_edge(name[0]), _edge(name[-1])), []).append(name)
    named = "|".join(
        (f"(?<!{_BLOCK})" if left else "") + "(?:"
        + "|".join(_name_pattern(n) for n in sorted(set(names), key=lambda t: (-len(t), t)))
        + ")" + (f"(?!{_BLOCK})" if right else "")
        for (left, right), names in sorted(edges.items(), reverse=True))
    regex = (r"(?P<pm>\((?P<mark>" + "|".join(map(re.escape, sorted(toks, key=len, reverse=True)))
             + r")(?P<ctl>//[^()]{0,300})?\))|(?P<name>" + named + ")")
    return _Markings(re.compile(regex), {k: tuple(dict.fromkeys(v)) for k, v in levels.items()})


_NOFORN = re.compile(f"(?<!{_BLOCK})noforn(?!{_BLOCK})")


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
    mapped = _mapped(p.content)
    found = [Finding(p.id, "dirty_word", t.text, a, b, _snippet(p.content, a, b), t.severity,
                     f"{where} contains the listed term '{t.text}'"
                     + (f" ({t.note})" if t.note else ""))
             for t, a, b in wordlist._find(*mapped)]
    found += _marking_findings(p, mapped, own, scheme, known, marks, rank_of, where)
    return sorted(found, key=lambda f: (f.start, f.end, f.kind))


def _marking_findings(p: Portion, mapped: tuple[str, _Map], own: Level,
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
            glued = m.start() > 0 and _edge(norm[m.start() - 1])
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

