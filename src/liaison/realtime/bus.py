"""The real-time bus port: ``publish(topic)`` wakes whoever follows that topic (a hotline
channel's or talks' WebSockets, the outbox sender); the data itself is in the database.
In-process by default (``LocalBus``); NATS JetStream when the node runs as several workers
(``realtime.nats_bus``), with the track stream on top. ``publish`` is safe from any
thread."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any, Protocol


class TrackStream(Protocol):
    """The node's durable stream of track records, shared by its workers."""

    async def append(self, record: bytes, msg_id: str) -> int:
        """Store a record once (a repeated ``msg_id`` is not stored again); its position."""

    async def follow(self, start: int | None,
                     handler: Callable[[int, bytes, datetime], Awaitable[None]],
                     since: datetime | None = None) -> Any:
        """Call ``handler(position, record, stored_at)`` for each record, in order, from
        position ``start``, else from time ``since``, else new records only; a handle
        whose ``unsubscribe()`` stops it."""


class Bus(Protocol):
    tracks: TrackStream | None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def publish(self, topic: str) -> None: ...
    def subscribe(self, *topics: str) -> AbstractAsyncContextManager[asyncio.Queue[str]]: ...
    def view(self) -> dict[str, Any]: ...


class LocalBus:
    tracks: TrackStream | None = None

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queues: dict[str, set[asyncio.Queue[str]]] = {}

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

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

    def view(self) -> dict[str, Any]:
        return {"kind": "in-process"}
