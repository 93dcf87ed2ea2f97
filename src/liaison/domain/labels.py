"""Classification schemes, STANAG 4774-style labels and CAPCO-style marks.

Pure: no I/O. Every party has its own ordered national levels; a label is always
expressed in one party's scheme (its *policy*). Translation between schemes happens
only through an agreement's equivalence table (see ``agreements.EquivalenceTable``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property

PARTY_CODE = re.compile(r"^[A-Z]{3}$")


class LabelError(ValueError):
    """A label, level or mark that breaks a rule; the message says which."""


@dataclass(frozen=True, slots=True)
class Level:
    """One national level. ``rank`` orders levels inside a scheme (higher = more
    protected; 0 = unclassified). ``mark`` is the short form used in portion marks."""

    name: str
    rank: int
    mark: str


@dataclass(frozen=True, slots=True)
class Scheme:
    """A party's ordered classification levels, highest first."""

    party: str
    levels: tuple[Level, ...]

    def __post_init__(self) -> None:
        ranks = [lv.rank for lv in self.levels]
        if ranks != sorted(ranks, reverse=True) or len(set(ranks)) != len(ranks):
            raise LabelError(f"{self.party}: levels must be listed highest first, ranks unique")
        names = [lv.name for lv in self.levels]
        if len(set(names)) != len(names):
            raise LabelError(f"{self.party}: duplicate level names")

    def level(self, name: str) -> Level:
        """The level called ``name`` (full name or mark); ``LabelError`` when unknown."""
        for lv in self.levels:
            if name in (lv.name, lv.mark):
                return lv
        known = ", ".join(lv.name for lv in self.levels)
        raise LabelError(f"{self.party} has no level {name!r} (known: {known})")

    def has(self, name: str) -> bool:
        return any(name in (lv.name, lv.mark) for lv in self.levels)


@dataclass(frozen=True, slots=True)
class Party:
    """A government, by ISO 3166 alpha-3 code, with its national scheme."""

    code: str
    name: str
    scheme: Scheme
    secret_level: str = ""  # the national level equivalent to SECRET ("" = second highest)

    def __post_init__(self) -> None:
        if not PARTY_CODE.match(self.code):
            raise LabelError(f"party code {self.code!r} is not an ISO 3166 alpha-3 code")
        if self.scheme.party != self.code:
            raise LabelError(f"scheme of {self.scheme.party} given to party {self.code}")
        if self.secret_level:
            self.scheme.level(self.secret_level)

    @property
    def two_person_rank(self) -> int:
        """Releases at or above this rank need two reviewers (docs/rules.md#two-person-review)."""
        if self.secret_level:
            return self.scheme.level(self.secret_level).rank
        classified = [lv.rank for lv in self.scheme.levels if lv.rank > 0]
        return classified[1] if len(classified) > 1 else classified[0]


class CategoryType(StrEnum):
    """STANAG 4774 category types: a recipient must hold every RESTRICTIVE value and at
    least one value of each PERMISSIVE category; INFORMATIVE ones never gate access."""

    RESTRICTIVE = "RESTRICTIVE"
    PERMISSIVE = "PERMISSIVE"
    INFORMATIVE = "INFORMATIVE"


REL_TO = "REL TO"
EYES = "EYES ONLY"
NOFORN = "NOFORN"
ORCON = "ORCON"
CAVEAT = "CAVEAT"  # tag of the restrictive dissemination-control category
COMPARTMENT = "COMPARTMENT"  # tag of the restrictive need-to-know category
FOREIGN_DISSEM = frozenset({REL_TO, EYES})


@dataclass(frozen=True, slots=True)
class Category:
    tag: str
    type: CategoryType
    values: frozenset[str]


@dataclass(frozen=True)
class Label:
    """A STANAG 4774-style confidentiality label.

    Invariant (ISM-ID-00033): REL TO, EYES ONLY and NOFORN are mutually exclusive.
    """

    policy: str  # the party whose scheme ``classification`` belongs to
    classification: str
    originator: str
    created: datetime
    categories: tuple[Category, ...] = ()
    review: datetime | None = None
    privacy_mark: str | None = None

    def category(self, tag: str) -> Category | None:
        for cat in self.categories:
            if cat.tag == tag:
                return cat
        return None

    def values(self, tag: str) -> frozenset[str]:
        cat = self.category(tag)
        return cat.values if cat else frozenset()

    @property
    def rel_to(self) -> frozenset[str]:
        return self.values(REL_TO) | self.values(EYES)

    @property
    def caveats(self) -> frozenset[str]:
        return self.values(CAVEAT)

    @property
    def compartments(self) -> frozenset[str]:
        return self.values(COMPARTMENT)

    @cached_property
    def token(self) -> str:
        """Canonical text of what the release engine looks at: equal tokens get equal
        portion verdicts. Computed once per label (the engine's cache key)."""
        cats = ";".join(
            f"{c.tag}:{c.type}=" + ",".join(sorted(c.values))
            for c in sorted(self.categories, key=lambda c: c.tag)
            if c.type is not CategoryType.INFORMATIVE
        )
        return f"{self.policy}|{self.classification}|{self.originator}|{cats}"


def make_label(
    scheme: Scheme,
    classification: str,
    *,
    originator: str,
    created: datetime,
    rel_to: frozenset[str] | set[str] | None = None,
    eyes_only: frozenset[str] | set[str] | None = None,
    caveats: frozenset[str] | set[str] = frozenset(),
    compartments: frozenset[str] | set[str] = frozenset(),
    informative: dict[str, frozenset[str]] | None = None,
    review: datetime | None = None,
) -> Label:
    """Build and validate a label in ``scheme``; raises ``LabelError`` with the rule broken."""
    level = scheme.level(classification)
    cats: list[Category] = []
    if rel_to is not None:
        cats.append(Category(REL_TO, CategoryType.PERMISSIVE, _parties(rel_to, REL_TO)))
    if eyes_only is not None:
        cats.append(Category(EYES, CategoryType.PERMISSIVE, _parties(eyes_only, EYES)))
    if caveats:
        cats.append(Category(CAVEAT, CategoryType.RESTRICTIVE, frozenset(caveats)))
    if compartments:
        cats.append(Category(COMPARTMENT, CategoryType.RESTRICTIVE, frozenset(compartments)))
    for tag, vals in sorted((informative or {}).items()):
        cats.append(Category(tag, CategoryType.INFORMATIVE, frozenset(vals)))
    label = Label(
        policy=scheme.party,
        classification=level.name,
        originator=originator,
        created=created,
        categories=tuple(cats),
        review=review,
    )
    validate_label(label, scheme)
    return label


def _parties(values: frozenset[str] | set[str], tag: str) -> frozenset[str]:
    bad = sorted(v for v in values if not PARTY_CODE.match(v))
    if bad:
        raise LabelError(f"{tag} lists {', '.join(bad)}: not ISO 3166 alpha-3 party codes")
    if not values:
        raise LabelError(f"{tag} needs at least one party")
    return frozenset(values)


def validate_label(label: Label, scheme: Scheme) -> None:
    """Raise ``LabelError`` when the label breaks a marking rule."""
    if label.policy != scheme.party:
        raise LabelError(f"label policy {label.policy} does not match scheme {scheme.party}")
    level = scheme.level(label.classification)
    if not PARTY_CODE.match(label.originator):
        raise LabelError(f"originator {label.originator!r} is not an alpha-3 party code")
    tags = [c.tag for c in label.categories]
    if len(set(tags)) != len(tags):
        raise LabelError("a category tag appears twice")
    # ISM-ID-00033: REL TO, EYES ONLY and NOFORN are mutually exclusive.
    present = [t for t in (REL_TO, EYES) if t in tags]
    if NOFORN in label.caveats:
        present.append(NOFORN)
    if len(present) > 1:
        raise LabelError(f"{' and '.join(present)} are mutually exclusive (ISM-ID-00033)")
    if level.rank == 0 and (present or label.caveats):
        raise LabelError("an unclassified portion carries no dissemination controls")
    if label.review is not None and label.review < label.created:
        raise LabelError("review date is before the creation date")


def portion_mark(label: Label, scheme: Scheme) -> str:
    """CAPCO-style portion mark, e.g. ``(S//REL TO USA, KOR)``."""
    return "(" + _marking(label, scheme, short=True) + ")"


def banner(labels: list[Label], scheme: Scheme) -> str:
    """Banner line for a page or item: highest level, every caveat, the REL TO
    countries common to all portions that carry one."""
    if not labels:
        return scheme.levels[-1].name
    top = max(labels, key=lambda lb: scheme.level(lb.classification).rank)
    caveats: set[str] = set().union(*(lb.caveats for lb in labels))
    rels = [lb.rel_to for lb in labels if lb.rel_to]
    parts = [scheme.level(top.classification).name]
    if NOFORN in caveats or (rels and not frozenset.intersection(*rels)):
        caveats.add(NOFORN)
    elif rels:
        parts.append(REL_TO + " " + ", ".join(_rel_order(frozenset.intersection(*rels), scheme)))
    parts.extend(sorted(caveats))
    return "//".join(parts)


def _marking(label: Label, scheme: Scheme, *, short: bool) -> str:
    level = scheme.level(label.classification)
    parts = [level.mark if short else level.name]
    if label.category(REL_TO):
        parts.append(REL_TO + " " + ", ".join(_rel_order(label.values(REL_TO), scheme)))
    if label.category(EYES):
        parts.append("/".join(_rel_order(label.values(EYES), scheme)) + " " + EYES)
    parts.extend(sorted(label.caveats))
    if label.compartments:
        parts.insert(1, "/".join(sorted(label.compartments)))
    return "//".join(parts)


def _rel_order(parties: frozenset[str], scheme: Scheme) -> list[str]:
    """Own party first (always releasable to itself), then the others alphabetically
    (CAPCO REL TO ordering)."""
    return [scheme.party, *sorted(p for p in parties if p != scheme.party)]


@dataclass(frozen=True, slots=True)
class Clearance:
    """A person's clearance in the node's scheme and their need-to-know."""

    level_rank: int
    compartments: frozenset[str] = field(default_factory=frozenset)
    topics: frozenset[str] | None = None  # None = every topic

    def may_see(self, label: Label, level_rank: int, topic: str) -> bool:
        """Clearance at the level AND need-to-know; rank alone never
        (docs/rules.md#need-to-know)."""
        if level_rank > self.level_rank:
            return False
        if not label.compartments <= self.compartments:
            return False
        return self.topics is None or topic_in(topic, self.topics)


def topic_in(topic: str, scope: frozenset[str]) -> bool:
    """``DPRK/missile/SRBM`` is within a scope that holds ``DPRK/missile`` or ``DPRK``."""
    parts = topic.split("/")
    return any("/".join(parts[:i]) in scope for i in range(1, len(parts) + 1))
