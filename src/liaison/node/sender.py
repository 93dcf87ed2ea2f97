"""The outbox sender: per partner, one queue per lane (``domain.lanes``: flash, urgent,
routine), each lane with one request in flight, retried with backoff, caught up after
downtime (the queue is durable; nothing is lost by a restart). Lanes are sent
independently, so a FLASH goes out while a routine batch of releases is in flight; the
order rules are in ``services.federation``.

Several workers of one node share the queue: a lane runs in the worker holding the lease
``outbox:<party>:<lane>`` (renewed before every batch), so one worker sends a lane at a
time, in order. A worker that dies loses its lease after ``leases.TTL`` and another takes
the lane over from the first message not yet acknowledged; a batch the dead worker had
sent but not settled is sent again and the partner's inbox, exactly-once by message id,
acknowledges it without applying it twice.

A whole-envelope failure (partner down, 5xx, TLS, a bad receipt) is recorded on the lane
(failures, last error and when) before the backoff; every worker checks now and then for
lanes stuck past ``outbox_stuck_s`` (``services.outbox_lanes.check``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from liaison.domain.lanes import FLASH, URGENT
from liaison.services import federation, leases, outbox_lanes
from liaison.services.card_refresh import CardRefresher
from liaison.services.context import Deps
from liaison.services.ports import OutboxMessage, Peer, Transport

log = logging.getLogger("liaison.federation")
# A partner that comes back is found within this long even by the routine lane (a backlog's
# drain is timed from the partner's return); a refused connection every few seconds costs
# nothing worth saving.
MAX_BACKOFF_S = 5.0
# A partner that comes back is tried again within this long on each lane: a FLASH is not
# left waiting out a long backoff while the routine lane already delivers.
LANE_MAX_BACKOFF_S = {FLASH: 1.0, URGENT: 5.0}
Lane = tuple[str, str]  # (partner, lane)


class OutboxSender:
    def __init__(self, deps: Deps, transport: Transport, poll_s: float = 0.5) -> None:
        self.deps, self.transport, self.poll_s = deps, transport, poll_s
        self.wake = asyncio.Event()
        self._lanes: dict[Lane, asyncio.Task[None]] = {}
        self._beat = -leases.RENEW_S  # when this worker last said it is alive
        self._checked = 0.0  # when this worker last looked for stuck lanes
        self.check_s = min(5.0, max(deps.outbox_stuck_s / 4, 0.2))
        self._reached: dict[str, asyncio.Event] = {}  # set when a lane delivers to a partner
        # a receipt signed with a key not on the partner's held card: its card is refreshed
        fetch = getattr(transport, "fetch_card_pinned", None)
        self.cards = CardRefresher(deps, fetch) if fetch is not None else None

    async def run(self) -> None:
        """Start lanes with pending messages whose lease this worker can take, up to its
        fair share of them among the node's live workers, forever."""
        while True:
            # Cleared before the round reads the queue: a wake set while it reads (a message
            # queued meanwhile) is kept and starts the next round at once.
            self.wake.clear()
            try:
                lanes, share = await asyncio.to_thread(self._round)
            except Exception as exc:  # the database may come back; nothing is sent meanwhile
                log.warning("outbox not readable: %s", exc)
                lanes, share = [], 0
            running = sum(1 for task in self._lanes.values() if not task.done())
            for lane in lanes:
                task = self._lanes.get(lane)
                if (task is None or task.done()) and running < share:
                    self._lanes[lane] = asyncio.create_task(self._lane(*lane))
                    running += 1
            await self._check_stuck()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.poll_s)

    async def follow(self, bus: Any) -> None:
        """Wake on ``outbox`` signals from the node's other workers."""
        async with bus.subscribe("outbox") as queue:
            while True:
                await queue.get()
                self.wake.set()

    def _round(self) -> tuple[list[Lane], int]:
        """Lanes with pending messages, and how many of them this worker should run: its
        share among the live workers (each renews a ``worker:`` lease), so that lanes
        spread over the workers instead of gathering in the first to wake."""
        now = time.monotonic()
        if now - self._beat >= leases.RENEW_S:
            leases.claim(self.deps, f"worker:{leases.worker_id()}")
            self._beat = now
        with self.deps.uow() as uow:
            lanes = uow.outbox.lanes_with_pending()
            live = sum(1 for name in uow.leases.holders(self.deps.clock())
                       if name.startswith("worker:"))
        return lanes, -(-len(lanes) // max(live, 1))

    async def _check_stuck(self) -> None:
        if time.monotonic() - self._checked < self.check_s:
            return
        self._checked = time.monotonic()
        try:
            for peer, lane, now_stuck in await asyncio.to_thread(outbox_lanes.check,
                                                                 self.deps):
                log.warning("outbox lane %s to %s %s", lane, peer,
                            "is stuck" if now_stuck else "recovered")
        except Exception as exc:
            log.warning("outbox lanes not checked: %s", exc)

    async def _lane(self, peer: str, lane: str) -> None:
        """Drain one lane of one partner in order while holding its lease; back off while
        the partner cannot be reached."""
        name = f"outbox:{peer}:{lane}"
        drained = False
        try:
            drained = await self._drain(peer, lane, name)
        except Exception as exc:  # e.g. the database: the next round tries again
            log.warning("outbox lane %s to %s stopped: %s", lane, peer, exc)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(leases.release, self.deps, name)
        # A message queued after the lane's last read and before its end found the lane
        # still running and would wait for the next poll: look once more, and wake the run
        # loop if one is ready (not for messages waiting out a retry: that would spin).
        if drained:
            with contextlib.suppress(Exception):
                if await asyncio.to_thread(self._ready, peer, lane):
                    self.wake.set()

    def _ready(self, peer: str, lane: str) -> bool:
        with self.deps.uow() as uow:
            return bool(uow.outbox.pending(peer, 1, lane, self.deps.clock()))

    async def _drain(self, peer: str, lane: str, name: str) -> bool:
        """Send the lane's batches in order. While the partner cannot be reached, back off
        (doubling, up to the lane's cap); a delivery on another lane of this worker to the
        same partner ends the wait at once. True when nothing is left ready to send."""
        backoff, cap = 0.5, LANE_MAX_BACKOFF_S.get(lane, MAX_BACKOFF_S)
        while True:
            if await asyncio.to_thread(leases.claim, self.deps, name) is None:
                return False  # another worker holds this lane
            batch = await asyncio.to_thread(federation.next_batch, self.deps, peer, lane)
            if batch is None:
                return True  # nothing ready: drained
            try:
                await self._send(*batch)
                backoff = 0.5
                self._reached.pop(peer, asyncio.Event()).set()
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.warning("delivery to %s failed (%s lane: %s); retrying in %.1f s", peer,
                            lane, error, backoff)
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(federation.note_failure, self.deps, peer, lane,
                                            error)
                reached = self._reached.setdefault(peer, asyncio.Event())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reached.wait(), backoff)
                backoff = min(backoff * 2, cap)

    async def _send(self, peer: Peer, messages: list[OutboxMessage]) -> None:
        header, wire = await asyncio.to_thread(federation.seal_batch, self.deps, peer,
                                               messages)
        answer = await self.transport.send(peer, wire)
        await asyncio.to_thread(federation.settle_receipt, self.deps, peer, header, messages,
                                answer, self.cards)
