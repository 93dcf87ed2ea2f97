"""Twin of the ``tracks`` port."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from liaison.domain.tracks import number_block
from tests.twins.state import MemoryState, insert_new


class MemoryTracks:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def put_feed(self, name: str, data: dict[str, Any], at: datetime) -> None:
        self.s.feeds[name] = copy.deepcopy(data)

    def feeds(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(self.s.feeds[k]) for k in sorted(self.s.feeds)]

    def put_area(self, area_id: str, data: dict[str, Any], at: datetime) -> None:
        self.s.areas[area_id] = copy.deepcopy(data)

    def remove_area(self, area_id: str) -> bool:
        return self.s.areas.pop(area_id, None) is not None

    def areas(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(self.s.areas[k]) for k in sorted(self.s.areas)]

    def number_for(self, source: str, uid: str, at: datetime) -> int:
        key = (source, uid)
        if key not in self.s.numbers:  # as storage does, without probing for a free block
            ours = [n for (s, _), n in self.s.numbers.items() if s == source]
            self.s.numbers[key] = max(ours) + 1 if ours else (number_block(source) << 32) + 1
        return self.s.numbers[key]

    def numbers(self) -> dict[tuple[str, str], int]:
        return dict(self.s.numbers)

    def add_launch(self, event_id: str, revision: int, data: dict[str, Any],
                   at: datetime) -> None:
        insert_new(self.s.launches, (event_id, revision), (copy.deepcopy(data), at),
             f"launch event {event_id} revision {revision}")

    def launches(self, limit: int) -> list[dict[str, Any]]:
        latest: dict[str, tuple[int, dict[str, Any], datetime]] = {}
        for (eid, rev), (data, at) in self.s.launches.items():
            if eid not in latest or rev > latest[eid][0]:
                latest[eid] = (rev, data, at)
        rows = sorted(latest.values(), key=lambda r: r[2], reverse=True)
        return [copy.deepcopy(r[1]) for r in rows[:limit]]

    def launch_history(self, event_id: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(d) for (eid, _), (d, _) in sorted(self.s.launches.items())
                if eid == event_id]

    def add_alert(self, alert_id: str, area: str, data: dict[str, Any], at: datetime) -> None:
        self.s.alerts.append((copy.deepcopy(data), at))

    def alerts(self, limit: int) -> list[dict[str, Any]]:
        rows = sorted(self.s.alerts, key=lambda r: r[1], reverse=True)
        return [copy.deepcopy(d) for d, _ in rows[:limit]]
