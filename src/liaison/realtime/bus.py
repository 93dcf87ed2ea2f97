"""The real-time bus port: in-process by default (NATS JetStream for scale-out is a later
adapter behind the same two methods). ``publish`` is safe from any thread."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class LocalBus:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queues: dict[str, set[asyncio.Queue[str]]] = {}

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def publish(self, topic: str) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for queue in list(self._queues.get(topic, ())):
            loop.call_soon_threadsafe(queue.put_nowait, topic)

    @asynccontextmanager
    async def subscribe(self, *topics: str) -> AsyncIterator[asyncio.Queue[str]]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        for t in topics:
            self._queues.setdefault(t, set()).add(queue)
        try:
            yield queue
        finally:
            for t in topics:
                self._queues.get(t, set()).discard(queue)
