"""The outbox sender: one queue per partner, one request in flight per partner, retry with
backoff, catch-up after downtime (the queue is durable; nothing is lost by a restart)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from liaison.services import federation
from liaison.services.context import Deps
from liaison.services.ports import OutboxMessage, Peer, Transport

log = logging.getLogger("liaison.federation")
MAX_BACKOFF_S = 30.0


class OutboxSender:
    def __init__(self, deps: Deps, transport: Transport, poll_s: float = 0.5) -> None:
        self.deps, self.transport, self.poll_s = deps, transport, poll_s
        self.wake = asyncio.Event()
        self._lanes: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        """Start a lane for every partner with pending messages, forever."""
        while True:
            peers = await asyncio.to_thread(self._peers_with_pending)
            for peer in peers:
                lane = self._lanes.get(peer)
                if lane is None or lane.done():
                    self._lanes[peer] = asyncio.create_task(self._lane(peer))
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.poll_s)

    def _peers_with_pending(self) -> list[str]:
        with self.deps.uow() as uow:
            return uow.outbox.peers_with_pending()

    async def _lane(self, peer: str) -> None:
        """Drain one partner's queue in order; back off while it cannot be reached."""
        backoff = 0.5
        while True:
            batch = await asyncio.to_thread(federation.next_batch, self.deps, peer)
            if batch is None:
                return
            try:
                await self._send(*batch)
                backoff = 0.5
            except Exception as exc:
                log.warning("delivery to %s failed (%s); retrying in %.1f s", peer, exc,
                            backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _send(self, peer: Peer, messages: list[OutboxMessage]) -> None:
        header, wire = await asyncio.to_thread(federation.seal_batch, self.deps, peer,
                                               messages)
        answer = await self.transport.send(peer, wire)
        await asyncio.to_thread(federation.settle_receipt, self.deps, peer, header, messages,
                                answer)


class HotlineClock:
    """Places scheduled check calls and records unanswered ones as missed."""

    def __init__(self, deps: Deps, sender: OutboxSender, tick_s: float = 15.0) -> None:
        self.deps, self.sender, self.tick_s = deps, sender, tick_s

    async def run(self) -> None:
        from liaison.services import hotline

        while True:
            try:
                placed = await asyncio.to_thread(hotline.place_due_calls, self.deps)
                await asyncio.to_thread(hotline.sweep, self.deps)
                if placed:
                    self.sender.wake.set()
            except Exception as exc:
                log.warning("hotline clock: %s", exc)
            await asyncio.sleep(self.tick_s)
