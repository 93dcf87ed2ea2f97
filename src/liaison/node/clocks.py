"""The node's clocks: scheduled hotline check calls, and audit checkpoints sent to
partners. Each runs in one worker of the node at a time (a lease per clock) and wakes the
outbox sender when it has queued messages."""

from __future__ import annotations

import asyncio
import logging

from liaison.node.sender import OutboxSender
from liaison.services import checkpoints, hotline, leases
from liaison.services.context import Deps

log = logging.getLogger("liaison.federation")


class HotlineClock:
    """Places scheduled check calls and records unanswered ones as missed."""

    def __init__(self, deps: Deps, sender: OutboxSender, tick_s: float = 15.0) -> None:
        self.deps, self.sender, self.tick_s = deps, sender, tick_s

    async def run(self) -> None:
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
