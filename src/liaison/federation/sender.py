"""The outbox sender: one queue per partner, one request in flight per partner, retry with
backoff, catch-up after downtime (the queue is durable; nothing is lost by a restart).

Several workers of one node share the queue: a partner's lane runs in the worker holding
the lease ``outbox:<party>`` (renewed before every batch), so one worker sends to a partner
at a time, in order. A worker that dies loses its lease after ``leases.TTL`` and another
takes the lane over from the first message not yet acknowledged; a batch the dead worker
had sent but not settled is sent again and the partner's inbox, exactly-once by message
id, acknowledges it without applying it twice."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from liaison.services import federation, leases
from liaison.services.context import Deps
from liaison.services.ports import OutboxMessage, Peer, Transport

log = logging.getLogger("liaison.federation")
MAX_BACKOFF_S = 30.0


class OutboxSender:
    def __init__(self, deps: Deps, transport: Transport, poll_s: float = 0.5) -> None:
        self.deps, self.transport, self.poll_s = deps, transport, poll_s
        self.wake = asyncio.Event()
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._beat = -leases.RENEW_S  # when this worker last said it is alive

    async def run(self) -> None:
        """Start lanes for partners with pending messages whose lease this worker can
        take, up to its fair share of them among the node's live workers, forever."""
        while True:
            try:
                peers, share = await asyncio.to_thread(self._round)
            except Exception as exc:  # the database may come back; nothing is sent meanwhile
                log.warning("outbox not readable: %s", exc)
                peers, share = [], 0
            running = sum(1 for lane in self._lanes.values() if not lane.done())
            for peer in peers:
                lane = self._lanes.get(peer)
                if (lane is None or lane.done()) and running < share:
                    self._lanes[peer] = asyncio.create_task(self._lane(peer))
                    running += 1
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.poll_s)

    async def follow(self, bus: Any) -> None:
        """Wake on ``outbox`` signals from the node's other workers."""
        async with bus.subscribe("outbox") as queue:
            while True:
                await queue.get()
                self.wake.set()

    def _round(self) -> tuple[list[str], int]:
        """Partners with pending messages, and how many lanes this worker should run:
        its share among the live workers (each renews a ``worker:`` lease), so that
        lanes spread over the workers instead of gathering in the first to wake."""
        now = time.monotonic()
        if now - self._beat >= leases.RENEW_S:
            leases.claim(self.deps, f"worker:{leases.worker_id()}")
            self._beat = now
        with self.deps.uow() as uow:
            peers = uow.outbox.peers_with_pending()
            live = sum(1 for name in uow.leases.holders(self.deps.clock())
                       if name.startswith("worker:"))
        return peers, -(-len(peers) // max(live, 1))

    async def _lane(self, peer: str) -> None:
        """Drain one partner's queue in order while holding its lease; back off while it
        cannot be reached."""
        name = f"outbox:{peer}"
        try:
            await self._drain(peer, name)
        except Exception as exc:  # e.g. the database: the next round tries again
            log.warning("outbox lane to %s stopped: %s", peer, exc)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(leases.release, self.deps, name)

    async def _drain(self, peer: str, name: str) -> None:
        backoff = 0.5
        while True:
            if await asyncio.to_thread(leases.claim, self.deps, name) is None:
                return  # another worker holds this partner's lane
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
                if await asyncio.to_thread(leases.claim, self.deps, "hotline-clock") is None:
                    await asyncio.sleep(self.tick_s)  # another worker keeps the clock
                    continue
                placed = await asyncio.to_thread(hotline.place_due_calls, self.deps)
                await asyncio.to_thread(hotline.sweep, self.deps)
                if placed:
                    self.sender.wake.set()
            except Exception as exc:
                log.warning("hotline clock: %s", exc)
            await asyncio.sleep(self.tick_s)


class CheckpointClock:
    """Sends partners a checkpoint of the audit log every ``every_s`` when it has grown
    (one worker of the node at a time: the ``audit-checkpoint`` lease)."""

    def __init__(self, deps: Deps, sender: OutboxSender, every_s: float) -> None:
        self.deps, self.sender, self.every_s = deps, sender, every_s

    async def run(self) -> None:
        from liaison.services import checkpoints

        if self.every_s <= 0:
            return
        while True:
            await asyncio.sleep(self.every_s)
            try:
                held = await asyncio.to_thread(leases.claim, self.deps, "audit-checkpoint")
                if held is not None:  # a position of 0 is held too
                    sent = await asyncio.to_thread(checkpoints.send, self.deps, None)
                    if sent["sent_to"]:
                        self.sender.wake.set()
            except Exception as exc:
                log.warning("audit checkpoint not sent: %s", exc)
