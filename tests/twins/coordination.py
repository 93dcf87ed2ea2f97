"""Twins of the ``coordination`` ports: settings and leases."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.twins.state import MemoryState


class MemorySettings:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def get(self, key: str) -> str | None:
        return self.s.settings.get(key)

    def put(self, key: str, value: str) -> None:
        self.s.settings[key] = value


class MemoryLeases:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def claim(self, name: str, holder: str, now: datetime, ttl: timedelta) -> int | None:
        current = self.s.leases.get(name)
        if current is not None and current[0] != holder and current[1] >= now:
            return None
        position = current[2] if current else 0
        self.s.leases[name] = (holder, now + ttl, position)
        return position

    def record(self, name: str, holder: str, position: int) -> bool:
        current = self.s.leases.get(name)
        if current is None or current[0] != holder or current[2] >= position:
            return False
        self.s.leases[name] = (holder, current[1], position)
        return True

    def release(self, name: str, holder: str, now: datetime) -> None:
        current = self.s.leases.get(name)
        if current is not None and current[0] == holder:
            self.s.leases[name] = (holder, now, current[2])

    def holders(self, now: datetime) -> dict[str, str]:
        return {n: h for n, (h, until, _) in self.s.leases.items() if until >= now}
