"""The bus over NATS JetStream, for a node run as several workers (``LIAISON_BUS_URL``).

Two streams per node (a NATS server may serve several nodes; names carry the party and
the node's identity fingerprint, so a node created again never reads an old node's records):

- ``LIAISON_<P>_EVENTS``: wake-ups (hotline channels, talks, the outbox), kept a minute.
  Each worker follows it with an ordered consumer and wakes its own subscribers; what a
  worker publishes wakes its own subscribers at once and the others through the stream.
- ``LIAISON_<P>_TRACKS``: track records (own feeds' updates, partners' updates, alerts,
  launch events), kept an hour, with JetStream's duplicate window: a record appended
  twice under one message id (a retried ingest, a frame a partner sent again) is stored
  once. An ingest is answered only after the stream has stored it, so a worker killed
  after answering loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from liaison.realtime.bus import LocalBus, TrackStream

log = logging.getLogger("liaison.bus")
EVENTS_MAX_AGE_S = 60.0
TRACKS_MAX_AGE_S = 3600.0
DUPLICATE_WINDOW_S = 600.0  # a partner or feed resending within 10 minutes is caught


class NatsTrackStream:
    def __init__(self, js: JetStreamContext, subject: str, stream: str) -> None:
        self.js, self.subject, self.stream = js, subject, stream
        self.appended = 0
        self.duplicates = 0

    async def append(self, record: bytes, msg_id: str) -> int:
        ack = await self.js.publish(self.subject, record, stream=self.stream,
                                    headers={"Nats-Msg-Id": msg_id})
        if ack.duplicate:
            self.duplicates += 1
        else:
            self.appended += 1
        return int(ack.seq)

    async def follow(self, start: int | None,
                     handler: Callable[[int, bytes, datetime], Awaitable[None]],
                     since: datetime | None = None) -> Any:
        async def deliver(msg: Msg) -> None:
            meta = msg.metadata
            try:
                await handler(int(meta.sequence.stream), msg.data, meta.timestamp)
            except Exception:  # one bad record must not stop the worker's stream
                log.exception("track record not applied")

        if start is not None:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                                    opt_start_seq=max(1, start))
        elif since is not None:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME,
                                    opt_start_time=since)
        else:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
        return await self.js.subscribe(self.subject, stream=self.stream, cb=deliver,
                                       ordered_consumer=True, config=config,
                                       pending_msgs_limit=1_000_000,
                                       pending_bytes_limit=1024 * 1024 * 1024)


class NatsBus:
    def __init__(self, url: str, party: str, node: str, worker: str) -> None:
        """``node``: the node's identity fingerprint (hex); ``worker``: this worker's id,
        the same that names its leases (``services.leases.worker_id``)."""
        self.url, self.party = url, party
        self._name = f"{party.upper()}_{node.upper()}"  # node: [0-9a-f] only
        self.local = LocalBus()
        self.tracks: TrackStream | None = None
        self._stream: NatsTrackStream | None = None
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events = f"liaison.{self._name.lower()}.events"
        self._origin = worker
        self.published = 0
        self.received = 0
        self.lost = 0

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.local.attach(loop)

    async def start(self) -> None:
        self._nc = await nats.connect(self.url, name=f"liaison-{self.party}-{self._origin}",
                                      max_reconnect_attempts=-1, connect_timeout=5)
        js = self._js = self._nc.jetstream()
        p = self._name
        await _ensure(js, StreamConfig(name=f"LIAISON_{p}_EVENTS", subjects=[self._events],
                                       max_age=EVENTS_MAX_AGE_S, storage=StorageType.FILE))
        tracks = f"liaison.{p.lower()}.tracks"
        await _ensure(js, StreamConfig(name=f"LIAISON_{p}_TRACKS", subjects=[tracks],
                                       max_age=TRACKS_MAX_AGE_S, storage=StorageType.FILE,
                                       duplicate_window=DUPLICATE_WINDOW_S))
        self.tracks = self._stream = NatsTrackStream(js, tracks, f"LIAISON_{p}_TRACKS")
        await js.subscribe(self._events, stream=f"LIAISON_{p}_EVENTS", cb=self._on_event,
                           ordered_consumer=True,
                           config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW))

    async def stop(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.drain()

    async def _on_event(self, msg: Msg) -> None:
        if (msg.headers or {}).get("origin") == self._origin:
            return  # woken locally when published
        self.received += 1
        self.local.publish(msg.data.decode())

    def publish(self, topic: str) -> None:
        """Wake this worker's subscribers now and the other workers' through the stream
        (from any thread)."""
        self.local.publish(topic)
        loop = self._loop
        if loop is None or loop.is_closed() or self._js is None:
            return
        loop.call_soon_threadsafe(lambda: loop.create_task(self._send(topic)))

    async def _send(self, topic: str) -> None:
        assert self._js is not None
        try:
            await self._js.publish(self._events, topic.encode(),
                                   headers={"origin": self._origin})
            self.published += 1
        except Exception as exc:  # the others fall back on their polls
            self.lost += 1
            log.warning("wake-up %s not published: %s", topic, exc)

    def subscribe(self, *topics: str) -> AbstractAsyncContextManager[asyncio.Queue[str]]:
        return self.local.subscribe(*topics)

    def view(self) -> dict[str, Any]:
        t = self._stream
        return {"kind": "nats-jetstream", "connected": bool(self._nc and
                                                            self._nc.is_connected),
                "worker": self._origin, "wakeups_published": self.published,
                "wakeups_received": self.received, "wakeups_lost": self.lost,
                "track_records_appended": t.appended if t else 0,
                "track_records_duplicate": t.duplicates if t else 0}


async def _ensure(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or bring an existing one to this configuration."""
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError:
        await js.update_stream(config)

