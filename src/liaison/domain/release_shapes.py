"""What the release engine reads of an item, interned once for every partner.

Pure: no I/O. A decision depends on the item's discipline and topic and, for each portion
in order, its id and the label fields the rules read (policy, classification, originator,
categories); the item's id matters only for written consent naming that item. ``Shapes``
maps each item to an interned ``Shape`` of exactly those values, so a compiled policy
decides a shape once per partner and reuses the answer for every item of that shape.

Exactness: shapes are interned by structure, never by the text tokens alone. ``Label.token``
and ``Item.release_token`` are fast hash keys but not injective (a caveat value may contain
the separators), so a label joins a class only when its fields equal the class's
representative (``same_release_fields``), and an item is matched to its shape by identity
(a weak reference: the table never keeps an item alive).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from liaison.domain.items import Item
from liaison.domain.labels import Label

SEEN_LIMIT = 1 << 18  # items remembered by identity; the table starts over beyond this


class LabelClass:
    """Labels whose release fields are equal; ``label`` is the first one seen."""

    __slots__ = ("label",)

    def __init__(self, label: Label) -> None:
        self.label = label


class PortionShape:
    """A portion id with its label class; identity-hashed (interned)."""

    __slots__ = ("id", "label")

    def __init__(self, portion_id: str, label: LabelClass) -> None:
        self.id, self.label = portion_id, label


class PortionsShape:
    """An item's portions in order; identity-hashed (interned)."""

    __slots__ = ("portions",)

    def __init__(self, portions: tuple[PortionShape, ...]) -> None:
        self.portions = portions


class GateKey:
    """(discipline, topic): what chooses the governing agreement; identity-hashed."""

    __slots__ = ("discipline", "topic")

    def __init__(self, discipline: str, topic: str) -> None:
        self.discipline, self.topic = discipline, topic


class Shape:
    """Everything a consent-free decision depends on; identity-hashed (interned)."""

    __slots__ = ("gate", "portions")

    def __init__(self, gate: GateKey, portions: PortionsShape) -> None:
        self.gate, self.portions = gate, portions


def same_release_fields(a: Label, b: Label) -> bool:
    """Equal in every field a portion verdict reads. Category types are compared by
    identity because the rules test them with ``is``."""
    if (a.policy != b.policy or a.classification != b.classification
            or a.originator != b.originator or len(a.categories) != len(b.categories)):
        return False
    return all(x.tag == y.tag and x.type is y.type and x.values == y.values
               for x, y in zip(a.categories, b.categories, strict=True))


class Shapes:
    """Interning tables shared by every partner of one ``ReleasePolicy``.

    ``seen`` maps ``id(item)`` to a weak reference and the item's shape; an entry counts
    only while the reference still points at that very item, so a reused id is never
    mistaken for the old item.
    """

    def __init__(self) -> None:
        self.seen: dict[int, tuple[Callable[[], Item | None], Shape]] = {}
        self._labels: dict[str, list[LabelClass]] = {}
        self._portion: dict[tuple[str, LabelClass], PortionShape] = {}
        self._portions: dict[tuple[PortionShape, ...], PortionsShape] = {}
        self._gates: dict[tuple[str, str], GateKey] = {}
        self._shapes: dict[tuple[GateKey, PortionsShape], Shape] = {}

    def of(self, item: Item) -> Shape:
        entry = self.seen.get(id(item))
        if entry is not None and entry[0]() is item:
            return entry[1]
        shape = self._shape(item)
        if len(self.seen) >= SEEN_LIMIT:
            self.seen.clear()
        self.seen[id(item)] = (weakref.ref(item), shape)
        return shape

    def label_class(self, label: Label) -> LabelClass:
        classes = self._labels.setdefault(label.token, [])
        for cls in classes:
            if cls.label is label or same_release_fields(cls.label, label):
                return cls
        cls = LabelClass(label)
        classes.append(cls)
        return cls

    def _shape(self, item: Item) -> Shape:
        parts = []
        for p in item.portions:
            key = (p.id, self.label_class(p.label))
            part = self._portion.get(key)
            if part is None:
                part = self._portion[key] = PortionShape(*key)
            parts.append(part)
        portions_key = tuple(parts)
        portions = self._portions.get(portions_key)
        if portions is None:
            portions = self._portions[portions_key] = PortionsShape(portions_key)
        gate_key = (item.discipline, item.topic)
        gate = self._gates.get(gate_key)
        if gate is None:
            gate = self._gates[gate_key] = GateKey(*gate_key)
        shape = self._shapes.get((gate, portions))
        if shape is None:
            shape = self._shapes[gate, portions] = Shape(gate, portions)
        return shape
