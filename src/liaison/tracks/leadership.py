"""Which worker runs the node-wide track jobs, with a stream (several workers).

The worker holding the lease ``tracks-link:<party>`` runs that partner's link, fed by its
own reader of the stream from the last position the partner acknowledged (so a worker
that dies loses nothing: the next holder sends again from there and the partner drops
what it already has, by position); the worker holding ``tracks-analytics`` runs the
analytics. Leases are taken, kept or given up every ``leases.RENEW_S``; a worker that
cannot renew them holds nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from liaison.services import leases
from liaison.tracks.links import STALE_S, PartnerLink
from liaison.tracks.picture import Picture
from liaison.tracks.rows import with_position
from liaison.tracks.state import HubState

log = logging.getLogger("liaison.tracks")
ANALYTICS_LEASE = "tracks-analytics"


def link_lease(partner: str) -> str:
    return f"tracks-link:{partner}"


class Leadership:
    def __init__(self, state: HubState, picture: Picture, links: dict[str, PartnerLink],
                 new_link: Callable[[str], PartnerLink]) -> None:
        self.state, self.picture, self.links, self.new_link = state, picture, links, new_link
        self.led: dict[str, Any] = {}  # partner -> this worker's reader for its link

    async def run(self) -> None:
        """Take, keep or give up the node-wide track jobs, every ``leases.RENEW_S``."""
        while True:
            try:
                await self._lead()
            except Exception as exc:  # the database: hold nothing we cannot renew
                log.warning("track leases not renewed: %s", exc)
                for partner in list(self.led):
                    await self._unlead(partner)
                self.picture.lead_analytics = False
            await asyncio.sleep(leases.RENEW_S)

    async def _lead(self) -> None:
        deps = self.state.deps
        partners = {r.partner for routes in self.state.policy.routes.values() for r in routes}
        for partner in sorted(partners | set(self.led)):
            name = link_lease(partner)
            if partner not in partners:
                await self._unlead(partner)
                await asyncio.to_thread(leases.release, deps, name)
                continue
            position = await asyncio.to_thread(leases.claim, deps, name)
            if position is None:
                await self._unlead(partner)
            elif partner not in self.led:
                await self._take_link(partner, position)
            else:
                link = self.links[partner]
                if link.acked_position > position:
                    await asyncio.to_thread(leases.record, deps, name, link.acked_position)
        analytics = await asyncio.to_thread(leases.claim, deps, ANALYTICS_LEASE)
        self.picture.lead_analytics = analytics is not None

    async def _take_link(self, partner: str, position: int) -> None:
        """Run ``partner``'s link here, from the first record it has not acknowledged."""
        stream = self.state.stream
        assert stream is not None
        link = self.new_link(partner)
        link.acked_position = position
        old = self.links.get(partner)
        if old is not None:
            await old.stop()
        self.links[partner] = link
        link.start()

        async def feed_link(pos: int, data: bytes, stored: datetime) -> None:
            rec = json.loads(data)
            if rec["k"] != "feed":
                return
            if (datetime.now(UTC) - stored).total_seconds() > STALE_S:
                link.stats.stale_discarded += len(rec["rows"])  # old positions mislead
                return
            for route in self.state.policy.routes.get(rec["feed"], ()):
                if route.partner == partner:
                    key = f"{rec['feed']}|{route.agreement}"
                    for i, row in enumerate(rec["rows"]):
                        if (pos << 16) | i > position:  # not acknowledged yet
                            link.push(key, with_position(row, (pos << 16) | i))

        # the first holder ever takes what the link's staleness limit still allows
        self.led[partner] = await (
            stream.follow(position >> 16, feed_link) if position else
            stream.follow(None, feed_link, since=datetime.now(UTC) -
                          timedelta(seconds=STALE_S)))
        log.info("track link to %s runs on this worker from position %d", partner, position)

    async def _unlead(self, partner: str) -> None:
        reader = self.led.pop(partner, None)
        if reader is None:
            return
        with contextlib.suppress(Exception):
            await reader.unsubscribe()
        link = self.links.pop(partner, None)
        if link is not None:
            await link.stop()
