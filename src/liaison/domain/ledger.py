"""The reciprocity ledger: what each side gave and received. Pure: no I/O.

docs/rules.md#reciprocity: "information of the same level after a thorough review of each
issue". Every release and receipt is one entry; balances are computed, never stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Direction(StrEnum):
    GIVEN = "given"
    RECEIVED = "received"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    agreement_id: str
    partner: str
    direction: Direction
    level: str  # the common level name of the equivalence row (e.g. SECRET)
    discipline: str
    item_id: str
    at: datetime


@dataclass(frozen=True)
class Balance:
    """Given minus received: positive means this node has given more."""

    given: int = 0
    received: int = 0
    by_discipline: dict[str, tuple[int, int]] = field(default_factory=dict)
    by_level: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def net(self) -> int:
        return self.given - self.received


def balance(entries: Iterable[LedgerEntry]) -> Balance:
    given, received = Counter[tuple[str, str]](), Counter[tuple[str, str]]()
    for e in entries:
        target = given if e.direction is Direction.GIVEN else received
        target["d", e.discipline] += 1
        target["l", e.level] += 1
    return Balance(
        given=sum(n for (k, _), n in given.items() if k == "d"),
        received=sum(n for (k, _), n in received.items() if k == "d"),
        by_discipline=_split(given, received, "d"),
        by_level=_split(given, received, "l"),
    )


def _split(given: Counter[tuple[str, str]], received: Counter[tuple[str, str]],
           axis: str) -> dict[str, tuple[int, int]]:
    keys = sorted({k for a, k in given if a == axis} | {k for a, k in received if a == axis})
    return {k: (given[axis, k], received[axis, k]) for k in keys}


def balances_by_agreement(entries: Iterable[LedgerEntry]) -> dict[str, Balance]:
    grouped: dict[str, list[LedgerEntry]] = {}
    for e in entries:
        grouped.setdefault(e.agreement_id, []).append(e)
    return {ag: balance(es) for ag, es in sorted(grouped.items())}
