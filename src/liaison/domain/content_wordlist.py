"""The content check's word list: dirty words and phrases a reviewer must see. Pure.

Dirty words (kind ``dirty_word``). Each term of the ``Wordlist`` carries a severity,
"hold" (the default: a listed term stops release until a reviewer clears it) or "warn".
Terms are indexed once, by first word (or first characters for Han/Hangul/punctuation);
a scan is one pass over the text's words, leftmost then longest term first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from liaison.domain.content_text import FIRST_WORD, TextMap, is_word_edge, map_text, normalise

Severity = Literal["hold", "warn"]
SEVERITIES: tuple[Severity, ...] = ("hold", "warn")
MAX_TERM = 200
MAX_TERMS = 10_000


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
            first = FIRST_WORD.match(key)
            index, k = (words, first.group()) if first else (heads, key[:2])
            index.setdefault(k, []).append((key, is_word_edge(key[-1]), t))
        object.__setattr__(self, "_words", {k: _longest_first(b) for k, b in words.items()})
        object.__setattr__(self, "_heads", {k: _longest_first(b) for k, b in heads.items()})
        firsts = "".join(sorted({re.escape(k[0]) for k in heads}))
        object.__setattr__(self, "_places", re.compile(f"[{firsts}]") if heads else None)

    def find(self, text: str) -> list[tuple[Term, int, int]]:
        """(term, start, end) for each match in ``text``, offsets into ``text`` itself."""
        return self.find_normalised(*map_text(text))

    def find_normalised(self, norm: str, where: TextMap) -> list[tuple[Term, int, int]]:
        """``find`` in text ``map_text`` already normalised, with its map back."""
        places: list[tuple[int, _Bucket | None, _Bucket | None]] = []
        listed = self._words.keys() & set(FIRST_WORD.findall(norm))
        if listed:  # whole words of the text that begin a listed term
            places.extend((m.start(), self._words[m.group()], None)
                          for m in FIRST_WORD.finditer(norm) if m.group() in listed)
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
        if norm.startswith(key, i) and not (guard and end < len(norm) and is_word_edge(norm[end])):
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
