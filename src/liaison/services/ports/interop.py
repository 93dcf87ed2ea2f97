"""STIX objects served over TAXII."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from liaison.domain.search import Visibility


@dataclass(frozen=True)
class TaxiiObject:
    """A STIX object in a collection, with who at this node may read it (the partner whose
    collection it is reads all of it)."""

    data: Mapping[str, Any]
    version: str  # the object's ``modified`` (or ``created``)
    rank: int = 0
    compartments: str = ""  # canonical "A,B"
    topic: str = ""  # "" = not bound to a topic
    raw: str = ""  # the object as stored JSON text, when read back (served as it is)


@dataclass(frozen=True)
class TaxiiQuery:
    collection: str
    visibility: Visibility | None  # None: the partner's own collection, all of it
    after_seq: int = 0
    limit: int = 100
    added_after: datetime | None = None
    ids: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    versions: str = "last"  # last | first | all | comma-separated versions


class TaxiiRepo(Protocol):
    def add(self, collection: str, objects: Sequence[TaxiiObject], at: datetime) -> int: ...
    def page(self, q: TaxiiQuery) -> list[tuple[int, datetime, TaxiiObject]]: ...
    def put_status(self, status_id: str, data: Mapping[str, Any], at: datetime) -> None: ...
    def status(self, status_id: str) -> dict[str, Any] | None: ...
