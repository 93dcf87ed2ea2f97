"""How the content check reads text. Pure: no I/O.

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
"""

from __future__ import annotations

import re
import string
import unicodedata
from bisect import bisect_right
from functools import lru_cache

_CJK = (r"\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
        r"\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\U00020000-\U0003134f")
WORD_CHAR = rf"[^\W{_CJK}]"  # a letter/digit/underscore of a space-delimited script
_IS_BLOCK = re.compile(WORD_CHAR)
IS_CJK = re.compile(f"[{_CJK}]")
FIRST_WORD = re.compile(f"{WORD_CHAR}+")
_ODD_SPACE = re.compile(r"\s{2,}|[^\S ]")  # any whitespace but one plain space
_SPACE_OR_WORD = re.compile(r" |[^ ]+")
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


class TextMap:
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


def map_text(text: str) -> tuple[str, TextMap]:
    """Normalised text, and the map back to ``text``."""
    m, pos = TextMap(text), 0
    for ws in _ODD_SPACE.finditer(text):
        m.chunk(text[pos:ws.start()], pos)
        m.char(" ", ws.start(), ws.end())
        pos = ws.end()
    m.chunk(text[pos:], pos)
    return "".join(m.out), m


def normalise(text: str) -> str:
    """NFKC, case-folded, format characters removed, whitespace runs collapsed."""
    return map_text(text)[0]


def is_word_edge(ch: str) -> bool:
    return bool(_IS_BLOCK.fullmatch(ch))
