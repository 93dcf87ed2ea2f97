"""What the node keeps about itself: settings, and the leases its workers share work by."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol


class SettingRepo(Protocol):
    def get(self, key: str) -> str | None: ...
    def put(self, key: str, value: str) -> None: ...


class LeaseRepo(Protocol):
    def claim(self, name: str, holder: str, now: datetime, ttl: timedelta) -> int | None:
        """Take or renew a lease; its recorded position, or ``None`` if another holds it."""
    def record(self, name: str, holder: str, position: int) -> bool: ...
    def release(self, name: str, holder: str, now: datetime) -> None: ...
    def holders(self, now: datetime) -> dict[str, str]: ...
