"""What every room of the track hub reads and counts: the node, the policy snapshot in
force, the partners' peers, the stream (with several workers), the hub's counters and
this node's track numbers.

The hub replaces ``policy`` and ``peers`` on each refresh; the rooms hold this object,
never a copy of them, so they always decide by the snapshot in force.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from liaison.domain.areas import AREA_TOPIC
from liaison.domain.codec import label_from
from liaison.domain.labels import Label, portion_mark
from liaison.realtime.bus import TrackStream
from liaison.services.context import Deps
from liaison.services.ports import Peer
from liaison.services.tracks import TrackPolicy

NO_CLEARANCE_RANK = 1_000_000  # above every scheme's levels: nobody may see it


@dataclass
class HubStats:
    ingested: int = 0
    refused: int = 0
    received: int = 0
    received_refused: int = 0
    frames_in: int = 0
    frames_refused: int = 0
    frames_duplicate: int = 0
    duplicates: int = 0  # updates a partner sent again after moving its link (by position)
    analytics_dropped: int = 0
    subscriber_dropped: int = 0
    launch_revisions: int = 0
    alerts: int = 0
    last_refusal: str = ""
    refusals: dict[str, int] = field(default_factory=dict)

    def refuse(self, why: str, n: int = 1) -> None:
        self.last_refusal = why[:300]
        key = why.split(":")[0][:80]
        self.refusals[key] = self.refusals.get(key, 0) + n


@dataclass(eq=False)
class HubState:
    deps: Deps
    policy: TrackPolicy
    peers: dict[str, Peer] = field(default_factory=dict)
    stats: HubStats = field(default_factory=HubStats)
    numbers: dict[tuple[str, str], int] = field(default_factory=dict)
    stream: TrackStream | None = None  # set by the hub's ``start`` when the bus has one
    # a label as stored on the stream -> (label, rank here)
    _labels: dict[str, tuple[Label, int]] = field(default_factory=dict)

    def number(self, source: str, uid: str) -> int:
        """This node's track number for ``uid`` from ``source``."""
        key = (source, uid)
        number = self.numbers.get(key)
        if number is None:  # first sight of this track: one short transaction
            with self.deps.uow() as uow:
                number = uow.tracks.number_for(source, uid, self.deps.clock())
                uow.commit()
            self.numbers[key] = number
        return number

    def load_numbers(self) -> dict[tuple[str, str], int]:
        with self.deps.uow() as uow:
            return uow.tracks.numbers()

    def marking(self, label: Label) -> str:
        return portion_mark(label, self.policy.parties[self.deps.party].scheme)

    def rank(self, label: Label) -> int:
        return self.policy.parties[self.deps.party].scheme.level(label.classification).rank

    def record_label(self, data: dict[str, Any]) -> tuple[Label, int, str]:
        """A label as a stream record holds it: the label, its rank and marking here."""
        key = json.dumps(data, sort_keys=True)
        hit = self._labels.get(key)
        if hit is None:
            label = label_from(data, self.policy.parties, "label")
            hit = (label, self.rank(label))
            self._labels[key] = hit
        return hit[0], hit[1], self.marking(hit[0])

    def area_label(self, event: dict[str, Any]) -> tuple[Label, int, str] | None:
        """An alert's area label (``None`` for a launch event). An alert without one is
        shown to nobody (fail closed)."""
        if event.get("type") != "alert":
            return None
        if not isinstance(event.get("area_label"), dict):
            label, _, _ = self.record_label(event["label"])
            return label, NO_CLEARANCE_RANK, AREA_TOPIC
        label, rank, _ = self.record_label(event["area_label"])
        return label, rank, AREA_TOPIC
