"""Search over items: the query a user asks and what they may see of the answer. Pure.

Full-text terms are parsed here into words, "quoted phrases" and prefixes (``missil*``);
nothing of the user's text reaches a search engine's own query syntax, so an error can only
come from the query itself — never from what is stored (docs/rules.md#insiders-share).

Visibility is per portion and decided before anything is counted, ordered or paged:
a portion matches only if the user may see it (level, compartments, topic scope). The
item's title is searched as part of each of its portions, so a title matches exactly when
some portion the user may see exists. Results are ordered by report time, never by a
relevance score: a score depends on corpus statistics, hidden items included.

Each portion row has a 63-bit id that orders and groups without reading the row:
``seq << PORTION_BITS | portion index``. An item's ``seq`` follows report time exactly: an
item reported earlier has a smaller ``seq``, and items reported at the same microsecond
follow the order they were first indexed (re-indexing an item keeps its place). A search
walks the matches newest first by id and stops counting at ``TOTAL_CAP`` items ("10,000 or
more"), so the cost of a very common word is bounded; the cap applies to what the user may
see, never to what is stored.

How ``seq`` is chosen, and why. An item goes just above the last item reported at or before
it, but no lower than its millisecond's base ``ms << SAME_MS_BITS``: times far apart leave
gaps, and up to 2,048 items of one millisecond fit before the next millisecond's base. More
items with the same time simply take the next free numbers — they spill into later
milliseconds' slots, which is harmless because nothing reads a time out of an id: the exact
report time is a column of its own (``reported_us``, microseconds since 1970), the since and
until filters compare it, and they turn it into an id range through the order alone. Only
when the next number is already held by an item reported later are later items renumbered:
the smallest window of numbers at most half full (``room``) is re-spread with the
new item at its start and a wide gap before and after the moved block, so a burst at one
time moves each item a bounded number of times on average (amortised O(1) per insertion for
a single hot time). Any number of items may share a time: the numbers above the end of
2100, the last report time the node keeps, leave room for 5 * 10**14 spilled items.

Search time does not depend on what the user may not see. Each portion's words are stored
in the full-text index behind a key naming its visibility class, its level and compartment
set (``access_key``): ``v03`` + 12 hex digits + the word, one token. A search asks only for
the keys of the classes the user may see (``keyed_terms``), so the index never reads, let
alone filters out, a hidden portion's postings: a word found only in hidden portions costs
what an absent word costs. The rows' own level and compartment columns are still checked
(defence in depth: a key is a hash). Topic scope, a narrower need-to-know, is still a filter.

Other designs weighed: ordering by two columns (report time, then a tie-breaking id) is
exact too, but neither SQLite FTS5 nor a GIN index can hand back matches in that order, so
every search would read and sort all its matches before counting the first 10,000 — the
walk that stops early is what keeps a common word cheap. A wider same-millisecond counter
only moves the limit: 63 bits hold 42 of milliseconds and 10 of portions.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import combinations

from liaison.domain.items import (
    PARENT_DISCIPLINE,
    REPORT_TIMES,
    REPORTED_FROM,
    REPORTED_UNTIL,
    TOPIC,
    Discipline,
    Item,
)
from liaison.domain.labels import Clearance, Scheme, topic_in

MAX_QUERY = 500
MAX_TERMS = 16
MAX_COMPARTMENTS = 12  # visibility is the set of subsets of a user's compartments
PORTION_BITS = 10  # up to 1,024 portions per item
SAME_MS_BITS = 11  # 2,048 numbers per millisecond before items spill into the next ones
MAX_PORTIONS = 1 << PORTION_BITS
SEQ_LIMIT = 1 << (63 - PORTION_BITS)  # every id below 2**63
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TOTAL_CAP = 10_000  # items counted at most; pages reach no further
WORD = re.compile(r"[^\W_]+")  # letters and digits: the tokenizers' idea of a word
TOKEN = re.compile(r'"([^"]*)"|(\S+)')


class SearchError(ValueError):
    """A query that cannot be run, with the reason; depends on the query alone."""


def time_bound(at: datetime, name: str) -> datetime:
    """``at`` as a bound of a search by report time (reports are kept only between 1970
    and 2100: ``items.REPORTED_FROM``/``REPORTED_UNTIL``); ``SearchError`` outside."""
    if not REPORTED_FROM <= at <= REPORTED_UNTIL:
        raise SearchError(f"{name} {at.isoformat()} is outside the report times this node "
                          f"keeps ({REPORT_TIMES})")
    return at


@dataclass(frozen=True, slots=True)
class Term:
    """Words that must appear in this order (one word: anywhere); ``prefix`` lets the
    last word match any word it begins."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Box:
    south: float
    west: float
    north: float
    east: float


@dataclass(frozen=True)
class SearchQuery:
    terms: tuple[Term, ...] = ()
    disciplines: frozenset[str] | None = None  # with their children: SIGINT covers COMINT
    topic: str | None = None  # the topic and everything under it
    level_rank: int | None = None  # portions at exactly this level
    box: Box | None = None  # the item's place
    since: datetime | None = None  # reported at or after
    until: datetime | None = None  # reported before
    source: str | None = None  # the originating party
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class Visibility:
    """What a user may see, in the form a search engine filters on."""

    max_rank: int
    compartment_sets: frozenset[str]  # canonical "A,B" of every subset a portion may carry
    topics: frozenset[str] | None  # None = every topic


def fold(word: str) -> str:
    return unicodedata.normalize("NFKC", word).lower()


def parse_text(text: str) -> tuple[Term, ...]:
    """Words, "phrases" and ``prefix*``; punctuation separates words as the index does."""
    if len(text) > MAX_QUERY:
        raise SearchError(f"the search text is longer than {MAX_QUERY} characters")
    terms: list[Term] = []
    for phrase, bare in TOKEN.findall(text):
        raw = phrase if phrase else bare
        prefix = not phrase and raw.endswith("*")
        words = tuple(fold(w) for w in WORD.findall(raw))
        if words:
            terms.append(Term(words, prefix))
    if len(terms) > MAX_TERMS:
        raise SearchError(f"at most {MAX_TERMS} words or phrases in one search")
    return tuple(terms)


def discipline_filter(name: str) -> frozenset[str]:
    try:
        wanted = Discipline(name.upper())
    except ValueError:
        names = ", ".join(d.value for d in Discipline)
        raise SearchError(f"discipline {name!r} is not one of {names}") from None
    return frozenset({wanted.value} | {c.value for c, p in PARENT_DISCIPLINE.items()
                                       if p is wanted})


def topic_filter(topic: str) -> str:
    if not TOPIC.match(topic):
        raise SearchError(f"topic {topic!r} must look like 'DPRK/missile'")
    return topic


def box_filter(text: str) -> Box:
    """``south,west,north,east`` in degrees."""
    try:
        south, west, north, east = (float(v) for v in text.split(","))
    except ValueError:
        raise SearchError("place must be 'south,west,north,east' in degrees, e.g. "
                          "'37,124,43,131'") from None
    if not (-90 <= south <= north <= 90 and -180 <= west <= 180 and -180 <= east <= 180):
        raise SearchError("place: latitudes within ±90 with south ≤ north, longitudes "
                          "within ±180")
    return Box(south, west, north, east)


def visibility(clearance: Clearance) -> Visibility:
    comps = sorted(clearance.compartments)
    if len(comps) > MAX_COMPARTMENTS:
        raise SearchError(f"search supports users with up to {MAX_COMPARTMENTS} "
                          f"compartments; ask an administrator to split the account")
    sets = {compartment_key(frozenset(c)) for n in range(len(comps) + 1)
            for c in combinations(comps, n)}
    return Visibility(clearance.level_rank, frozenset(sets), clearance.topics)


def compartment_key(compartments: frozenset[str]) -> str:
    """The sorted names joined by ",", each with "\\" and "," escaped: one key per set,
    so no compartment's name (say "A,B") can stand for another set (issue 18). Names
    without either character keep the plain "A,B" form the index always held."""
    return ",".join(sorted(c.replace("\\", "\\\\").replace(",", "\\,")
                           for c in compartments))


def access_key(rank: int, compartments: str) -> str:
    """The visibility class of a portion as a token prefix: fixed length, lower-case letters
    and digits only, so key and word stay one token to every tokenizer."""
    if not 0 <= rank < 100:
        raise ValueError(f"rank {rank} is outside 0–99")
    return f"v{rank:02d}" + hashlib.sha256(compartments.encode()).hexdigest()[:12]


def keyed_text(body: str, key: str) -> str:
    """``body`` with every word behind ``key``: what the full-text index stores."""
    return WORD.sub(lambda m: key + fold(m.group()), body)


def keyed_terms(terms: tuple[Term, ...], keys: list[str]) -> list[list[Term]]:
    """For each term, its alternatives under each key the user may see (the index ORs
    the alternatives and ANDs the terms; a row has one key, so this is exact)."""
    return [[Term(tuple(k + w for w in term.words), term.prefix) for k in keys]
            for term in terms]


def in_box(box: Box, lat: float, lon: float) -> bool:
    """Boxes may cross the antimeridian (west > east)."""
    if not box.south <= lat <= box.north:
        return False
    return box.west <= lon <= box.east if box.west <= box.east else (
        lon >= box.west or lon <= box.east)


def matches(terms: tuple[Term, ...], text: str) -> bool:
    """The reference semantics both search engines implement: every term appears."""
    words = [fold(w) for w in WORD.findall(text)]
    return all(_has(term, words) for term in terms)


def _has(term: Term, words: list[str]) -> bool:
    n = len(term.words)
    for i in range(len(words) - n + 1):
        head, last = words[i:i + n - 1], words[i + n - 1]
        if list(term.words[:-1]) == head and (
                last == term.words[-1] or (term.prefix and last.startswith(term.words[-1]))):
            return True
    return False


def report_us(at: datetime) -> int:
    """``at`` in whole microseconds since 1970: exact (no floating point), so filters on it
    agree with comparing the datetimes themselves."""
    return (at - EPOCH) // timedelta(microseconds=1)


def seq_base(at_us: int) -> int:
    """The lowest ``seq`` an item reported at ``at_us`` takes: its millisecond's first slot
    (times before 1970 share the first one)."""
    return max(0, at_us // 1000) << SAME_MS_BITS


def next_seq(at_us: int, before: int | None) -> int:
    """Where an item reported at ``at_us`` goes, given ``before``: the largest ``seq`` of an
    item reported at or before it. The number is free unless an item reported later holds
    it; then ``room`` renumbers later items first."""
    return seq_base(at_us) if before is None else max(seq_base(at_us), before + 1)


def windows(start: int) -> Iterator[int]:
    """Sizes of the windows ``[start, start + size)`` to try for ``room``, smallest first."""
    size = 1 << SAME_MS_BITS
    while start + size <= SEQ_LIMIT:
        yield size
        size <<= 1
    raise ValueError("the search index has no numbers left above this report time")


def room(start: int, size: int, taken: list[int]) -> list[tuple[int, int]] | None:
    """Moves ``(old, new)`` of the items numbered ``taken`` (ascending, all in the window
    ``[start, start + size)``) that free ``start`` and keep their order inside the window;
    ``None`` if the window would be more than half full. The moved block sits in the middle
    of what is left, so the next insertions before and after it find free numbers."""
    if 2 * (len(taken) + 1) > size:
        return None
    first = start + 1 + (size - 1 - len(taken)) // 2
    return [(old, first + j) for j, old in enumerate(taken) if old != first + j]


@dataclass(frozen=True, slots=True)
class IndexRow:
    """What the index holds of one portion."""

    id: int  # seq << PORTION_BITS | portion index
    item_id: str
    portion_id: str
    rank: int
    compartments: str
    topic: str
    discipline: str
    source: str
    reported_at: datetime
    lat: float | None
    lon: float | None
    body: str  # title and text, NFKC-normalised


def index_rows(item: Item, scheme: Scheme, seq: int) -> list[IndexRow]:
    """One row per portion; the text is NFKC-normalised (so full-width letters match) and
    carries the item's title."""
    if len(item.portions) > MAX_PORTIONS:
        raise ValueError(f"at most {MAX_PORTIONS} portions are searchable per item")
    lat, lon = (item.place.lat, item.place.lon) if item.place else (None, None)
    rows = []
    for i, p in enumerate(item.portions):
        rows.append(IndexRow(seq << PORTION_BITS | i, item.id, p.id,
                             scheme.level(p.label.classification).rank,
                             compartment_key(p.label.compartments), item.topic,
                             item.discipline.value, item.originator, item.reported_at, lat,
                             lon, unicodedata.normalize("NFKC", f"{item.title}\n{p.content}")))
    return rows


def row_visible(row: IndexRow, vis: Visibility) -> bool:
    return (row.rank <= vis.max_rank and row.compartments in vis.compartment_sets
            and (vis.topics is None or topic_in(row.topic, vis.topics)))


def row_selected(row: IndexRow, q: SearchQuery) -> bool:
    """The reference semantics of every filter (the memory index uses it; the SQL ones
    are tested against it)."""
    return ((q.disciplines is None or row.discipline in q.disciplines)
            and (q.topic is None or topic_in(row.topic, frozenset({q.topic})))
            and (q.level_rank is None or row.rank == q.level_rank)
            and (q.box is None or (row.lat is not None and row.lon is not None
                                   and in_box(q.box, row.lat, row.lon)))
            and (q.since is None or row.reported_at >= q.since)
            and (q.until is None or row.reported_at < q.until)
            and (q.source is None or row.source == q.source)
            and matches(q.terms, row.body))


@dataclass(frozen=True)
class SearchPage:
    """Item ids of one page, newest report first, with the portions that matched; the
    total counts items."""

    item_ids: tuple[str, ...]
    matched: dict[str, tuple[str, ...]]
    total: int
    capped: bool = False  # total reached TOTAL_CAP: there are at least that many


def rows_in_order(items: list[Item], scheme_of: Callable[[Item], Scheme]) -> list[IndexRow]:
    """Index rows of ``items`` taken in the order they were first indexed, numbered in
    report-time order (ties: that order), as the SQL index numbers them."""
    order = sorted(range(len(items)), key=lambda i: (report_us(items[i].reported_at), i))
    rows = []
    for seq, i in enumerate(order):
        rows += index_rows(items[i], scheme_of(items[i]), seq)
    return rows


def page_of(rows: list[IndexRow], q: SearchQuery, vis: Visibility) -> SearchPage:
    """Search a list of rows (the memory index, and the model the SQL indexes follow):
    newest report first; items reported at the same time, last indexed first."""
    hits: dict[str, list[IndexRow]] = {}
    for row in rows:
        if row_visible(row, vis) and row_selected(row, q):
            hits.setdefault(row.item_id, []).append(row)
    order = sorted(hits, key=lambda i: -hits[i][0].id)
    capped = len(order) > TOTAL_CAP
    order = order[:TOTAL_CAP]
    page = tuple(order[q.offset:q.offset + q.limit])
    return SearchPage(page, {i: tuple(sorted(r.portion_id for r in hits[i])) for i in page},
                      len(order), capped)
