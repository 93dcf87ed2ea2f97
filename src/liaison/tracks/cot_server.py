"""A TAK-style CoT port: what sensors send is ingested into a registered feed; what the
node holds is streamed back to every connected client, cut to the clearance of one account.

Over plain TCP the port has no per-client identity (every connection's input goes to one
feed: bind it to loopback or a protected segment). Over TLS with client certificates
(``sensor_tls``, as TAK servers run it) each sensor's certificate names it and its input
goes to its own feed (``sensors``); a certificate that names no sensor with a feed sends
nothing in.

Ingest is kept apart from the stream out: a TAK client's own presence, ping and
self-report events are never tracks (``tracks.cot_detail``), and a connection whose
client reported itself is a TAK client's: nothing it sends after that is ingested. An
ingested event goes back out as it came in (its ``how``, ``stale``, ``ce``, ``le`` and
unknown altitude), under this node's uid for the track with the sender's uid mapped in
``<liaison uid>``, and carries its label in the attributes TAK clients show and filter
(``access``, ``caveat``, ``rel_to``) as well as in ``<remarks>``. The fields kept as they
came are remembered by the port that took the event: with several workers, another
worker's port sends that track with the defaults (``m-g``, stale a minute after its time,
``le`` unknown), as partners' tracks are sent.

Bad events are refused and counted, never crash the stream; an event without its end tag
within ``MAX_EVENT`` bytes closes that connection (its framing is lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from liaison.domain.labels import Label
from liaison.domain.tracks import TrackUpdate
from liaison.domain.users import User
from liaison.services.context import Deps
from liaison.services.errors import Unavailable
from liaison.tracks.cot import MAX_EVENT, StreamStats, iter_events, to_event
from liaison.tracks.cot_detail import SELF_REPORT, CotDetail, CotDetails, access_of
from liaison.tracks.hub import TrackHub
from liaison.tracks.picture import Published

log = logging.getLogger("liaison.cot")


@dataclass
class CotStats:
    connections: int = 0
    stream: StreamStats = field(default_factory=StreamStats)
    sent: int = 0
    refused_by_hub: int = 0
    from_clients: int = 0  # tracks a TAK client's connection sent after reporting itself

    def view(self) -> dict[str, Any]:
        return {"connections": self.connections,
                "events_in": self.stream.events - self.from_clients,
                "refused_in": self.stream.refused + self.refused_by_hub,
                "client_events": self.stream.client + self.from_clients,
                "last_error": self.stream.last_error, "events_out": self.sent}


class CotServer:
    """``feed``: the feed every connection's input goes to; ``sensors``: instead, over
    TLS with client certificates, the feed of each sensor identity (the certificate's
    common name), and a connection whose identity has no feed sends nothing in."""

    def __init__(self, deps: Deps, hub: TrackHub, feed: str, username: str,
                 sensors: Mapping[str, str] | None = None) -> None:
        self.deps, self.hub, self.feed, self.username = deps, hub, feed, username
        self.sensors = sensors
        self.stats = CotStats()
        self.details: dict[str, CotDetails] = {}  # feed source -> what updates came with
        self._access: dict[Label, tuple[str, str, str]] = {}
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        if self.sensors is not None and tls is None:
            raise ValueError("a feed per sensor identity needs TLS with client certificates")
        self._server = await asyncio.start_server(self._client, host, port, ssl=tls,
                                                  limit=MAX_EVENT + 1024)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _client(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        user = await asyncio.to_thread(self._user) if self.username else None
        out = asyncio.create_task(self._stream_out(writer, user)) if user else None
        try:
            client = False  # this connection is a TAK client's, not a sensor's
            feed = self._feed_of(writer)
            async for event in iter_events(reader, self.stats.stream):
                client = client or event.client.startswith(SELF_REPORT)
                if event.update is None:
                    continue
                if client:
                    self.stats.from_clients += 1
                    continue
                await self._ingest(feed, event.update, event.detail)
        except (ConnectionError, OSError):
            pass
        finally:
            self.stats.connections -= 1
            if out is not None:
                if out.done() and not out.cancelled() and out.exception():
                    log.error("CoT stream out failed: %r", out.exception())
                out.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await out
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _feed_of(self, writer: asyncio.StreamWriter) -> str:
        """The feed this connection's input goes to ("" when none: refused)."""
        if self.sensors is None:
            return self.feed
        return self.sensors.get(identity(writer.get_extra_info("peercert")), "")

    async def _ingest(self, feed: str, update: TrackUpdate, detail: CotDetail | None) -> None:
        if not feed:
            self.stats.refused_by_hub += 1
            self.stats.stream.last_error = (
                "this connection's certificate names no sensor with a feed" if self.sensors
                is not None else "this CoT port takes no input: set LIAISON_COT_FEED")
            return
        if detail is not None:
            self.details.setdefault(f"feed:{feed}", CotDetails()).keep(update.uid, detail)
        try:
            _, refusals = await self.hub.accept(feed, [update])
        except Unavailable as exc:
            refusals = [exc.message]
        if refusals:
            self.stats.refused_by_hub += 1
            self.stats.stream.last_error = refusals[0]

    def _user(self) -> User | None:
        """Looked up per connection: a disabled account or a lowered clearance applies to
        the next connection."""
        with self.deps.uow() as uow:
            user = uow.users.get(self.username)
        return None if user is None or user.disabled else user

    async def _stream_out(self, writer: asyncio.StreamWriter, user: User) -> None:
        sub = self.hub.subscribe(user)
        try:
            for track in self.hub.snapshot(user):
                current = self.hub.current.get(int(track["number"]))
                if current is not None:
                    writer.write(self._cot(current))
            while True:
                item = await sub.queue.get()
                if isinstance(item, Published):
                    writer.write(self._cot(item))
                    self.stats.sent += 1
                if sub.queue.empty():
                    await writer.drain()
        finally:
            self.hub.unsubscribe(sub)


    def _cot(self, p: Published) -> bytes:
        """TAK identifies a track by uid: this node's track number is stable and unique."""
        u = p.update
        shown = TrackUpdate(f"liaison-{u.number}", u.time, u.lat, u.lon, u.alt_m, u.kind,
                            u.speed_ms, u.course_deg, u.ce_m, u.callsign or u.uid, u.number)
        kept = self.details.get(p.source)
        detail = kept.of(u) if kept is not None else None
        return to_event(shown, marking=p.marking, source=p.source, detail=detail,
                        access=self._access_of(p.label), sender_uid=u.uid)

    def _access_of(self, label: Label) -> tuple[str, str, str]:
        access = self._access.get(label)
        if access is None:
            if len(self._access) > 1_000:
                self._access.clear()
            scheme = self.hub.policy.parties[self.deps.party].scheme
            access = self._access[label] = access_of(label, scheme)
        return access


def identity(peercert: Any) -> str:
    """The common name of a verified client certificate ("" without one)."""
    if not isinstance(peercert, dict):
        return ""
    for rdn in peercert.get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return ""


class CotTlsError(RuntimeError):
    """The CoT port's TLS settings name files that do not make a TLS context."""


def cot_tls_context(cert: Path, key: Path, sensors_ca: Path) -> ssl.SSLContext:
    """``sensor_tls`` from the node's settings, failing with what to fix."""
    try:
        return sensor_tls(cert, key, sensors_ca)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise CotTlsError(
            f"the CoT port's TLS cannot be set up from LIAISON_COT_TLS_CERT={cert}, "
            f"LIAISON_COT_TLS_KEY={key}, LIAISON_COT_SENSOR_CA={sensors_ca}: {exc} "
            "(PEM files: the port's certificate and its unencrypted key, and the CA "
            "certificate that issues sensors' certificates)") from exc


def sensor_tls(cert: Path, key: Path, sensors_ca: Path) -> ssl.SSLContext:
    """The port's TLS: its own certificate, and a client certificate required, issued
    by ``sensors_ca`` (as TAK servers do)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # what TAK clients speak
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(cafile=sensors_ca)
    return ctx
