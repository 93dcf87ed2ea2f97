"""Twins of the ``conversations`` ports: hotline and talks."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from liaison.domain.hotline import changed_after
from liaison.services.ports.conversations import TalksEvent
from tests.twins.state import MemoryState


class MemoryHotline:
    """The twin of ``storage.federation_repos.SqlHotline``: the same revisions, change
    log and open entries, kept beside the channels here."""

    CHANGE_LOG = 128

    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def channel(self, channel_id: str) -> dict[str, Any] | None:
        found = self.s.channels.get(channel_id)
        return self._shown(found) if found else None

    @staticmethod
    def _shown(data: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy({k: v for k, v in data.items() if not k.startswith("_")})

    def channels(self) -> list[dict[str, Any]]:
        return [self._shown(self.s.channels[k]) for k in sorted(self.s.channels)]

    def put_channel(self, channel_id: str, data: Mapping[str, Any]) -> None:
        stored = self.s.channels.get(channel_id, {"_revision": 0, "_changes": [], "_open": []})
        kept = {k: v for k, v in stored.items() if k.startswith("_")}
        self.s.channels[channel_id] = {**self._shown(dict(data)), **kept}

    def revision(self, channel_id: str) -> int:
        return int(self.s.channels.get(channel_id, {}).get("_revision", 0))

    def _entries(self, channel_id: str) -> list[dict[str, Any]]:
        return [{**copy.deepcopy(v[1]), "sender": k[1], "seq": k[2], "kind": v[0],
                 "_at": v[2]} for k, v in self.s.traffic.items() if k[0] == channel_id]

    @staticmethod
    def _order(e: dict[str, Any]) -> tuple[datetime, int, str]:
        return e["_at"], e["seq"], e["sender"]

    def traffic(self, channel_id: str) -> list[dict[str, Any]]:
        return self._strip(sorted(self._entries(channel_id), key=self._order))

    @staticmethod
    def _strip(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.items() if k != "_at"} for e in entries]

    def page(self, channel_id: str, limit: int, *,
             before: tuple[datetime, int, str] | None = None,
             after: tuple[datetime, int, str] | None = None) -> list[dict[str, Any]]:
        rows = sorted(self._entries(channel_id), key=self._order)
        if after is not None:
            return self._strip([e for e in rows if self._order(e) > after][:limit])
        if before is not None:
            rows = [e for e in rows if self._order(e) < before]
        return self._strip(rows[-limit:] if limit else [])

    def changed_since(self, channel_id: str,
                      revision: int) -> tuple[int, list[dict[str, Any]] | None]:
        now, keys = changed_after(self.s.channels.get(channel_id, {}), revision)
        if keys is None:
            return now, None
        found = (self.get_traffic(channel_id, s, q) for s, q in keys)
        return now, [e for e in found if e is not None]

    def awaiting(self, channel_id: str) -> list[dict[str, Any]]:
        keys = self.s.channels.get(channel_id, {}).get("_open", [])
        found = [e for s, q in keys if (e := self.get_traffic(channel_id, s, q))]
        return sorted(found, key=lambda e: (e["sent_at"], e["seq"], e["sender"]))

    def get_traffic(self, channel_id: str, sender: str, seq: int) -> dict[str, Any] | None:
        found = self.s.traffic.get((channel_id, sender, seq))
        if found is None:
            return None
        return {**copy.deepcopy(found[1]), "sender": sender, "seq": seq, "kind": found[0]}

    def put_traffic(self, channel_id: str, sender: str, seq: int, kind: str,
                    data: Mapping[str, Any], sent_at: datetime) -> None:
        self.s.traffic[channel_id, sender, seq] = (kind, copy.deepcopy(dict(data)), sent_at)
        channel = self.s.channels.get(channel_id)
        if channel is None:
            return
        revision = int(channel.get("_revision", 0)) + 1
        opened = [k for k in channel.get("_open", []) if k != [sender, seq]]
        if not data.get("acknowledged_at") and not data.get("outcome"):
            opened.append([sender, seq])
        channel.update(_revision=revision, _open=opened, _changes=[
            *channel.get("_changes", []), [revision, sender, seq]][-self.CHANGE_LOG:])

    def last_seq(self, channel_id: str, sender: str) -> int:
        return max((k[2] for k in self.s.traffic if k[:2] == (channel_id, sender)), default=0)


class MemoryTalks:
    def __init__(self, s: MemoryState) -> None:
        self.s = s

    def get(self, talks_id: str) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        return self.s.talks.get(talks_id)

    def put(self, talks_id: str, data: Mapping[str, Any], minutes: Mapping[str, Any] | None,
            at: datetime) -> None:
        self.s.talks.pop(talks_id, None)
        self.s.talks[talks_id] = (dict(data), dict(minutes) if minutes else None)

    def add_event(self, talks_id: str, kind: str, party: str, data: Mapping[str, Any],
                  at: datetime) -> None:
        self.s.talks_events.append((len(self.s.talks_events) + 1, talks_id, kind, party,
                                    dict(data), at))

    def events(self, talks_id: str, after: int = 0,
               kinds: tuple[str, ...] = ()) -> list[TalksEvent]:
        return [(seq, kind, party, data, at) for seq, tid, kind, party, data, at
                in self.s.talks_events
                if tid == talks_id and seq > after and (not kinds or kind in kinds)]

    def last_seq(self, talks_id: str) -> int:
        return max((e[0] for e in self.s.talks_events if e[1] == talks_id), default=0)
    def list(self) -> list[dict[str, Any]]:
        return [data for data, _ in reversed(self.s.talks.values())]
