"""Tracks: feeds, ingest (HTTP and WebSocket), live subscription, launch events, areas,
alerts, statistics; and the partners' track link on the federation listener."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from pydantic import Field

from liaison.api import live_session
from liaison.api.schemas import Body
from liaison.api.security import CurrentUser, NodeDeps
from liaison.domain.tracks import TrackUpdate
from liaison.domain.users import Role, User
from liaison.services import areas, feed_sensors, tracks
from liaison.services.auth_roles import require
from liaison.services.errors import Forbidden, Refused, Unavailable
from liaison.tracks.hub import TrackHub
from liaison.tracks.picture import Published

router = APIRouter(prefix="/api", tags=["tracks"])
federation_router = APIRouter(prefix="/federation/v1", tags=["federation (node to node)"])
INGEST_ROLES = (Role.SENSOR, Role.WATCH_OFFICER)
MAX_INGEST = 10_000


def hub_of(app: Any) -> TrackHub:
    hub: TrackHub | None = getattr(app.state, "tracks", None)
    if hub is None:
        raise Refused("the track hub is not running on this node (start it with "
                      "`liaison serve`)")
    return hub


class FeedIn(Body):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    title: str = Field(min_length=1, max_length=200)
    label: dict[str, Any] = Field(description="the label every track of the feed carries, in "
                                  "this node's scheme")
    topic: str = Field(default="DPRK/missile", max_length=200)
    discipline: str = Field(default="MASINT", max_length=16)
    grade: str = Field(default="B2", pattern="^[A-F][1-6]$")


class UpdateIn(Body):
    uid: str = Field(min_length=1, max_length=128)
    time: datetime
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    alt_m: float = 0.0
    kind: str = Field(default="a-u-A", max_length=40)
    speed_ms: float | None = None
    course_deg: float | None = None
    ce_m: float = Field(default=500.0, ge=0)
    callsign: str = Field(default="", max_length=64)

    def domain(self) -> TrackUpdate:
        return TrackUpdate(self.uid, self.time, self.lat, self.lon, self.alt_m, self.kind,
                           self.speed_ms, self.course_deg, self.ce_m, self.callsign)


class IngestIn(Body):
    feed: str = Field(max_length=64)
    updates: list[UpdateIn] = Field(min_length=1, max_length=MAX_INGEST)


class AreaIn(Body):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(default="other", pattern="^(border|port|railroad|launch_site|target|"
                                                "other)$")
    priority: int = Field(default=3, ge=1, le=5)
    label: dict[str, Any]
    polygon: list[list[float]] = Field(default=[], max_length=10_000,
                                       description="[[lat, lon], ...], not closed")
    center: list[float] | None = Field(default=None, min_length=2, max_length=2)
    radius_m: float = 0.0
    share_with: list[str] | None = Field(default=None, description="partners to share with; "
                                         "omitted: every partner the engine allows")


@router.get("/tracks/feeds", summary="Registered sensor feeds and their labels")
def feeds(user: CurrentUser, deps: NodeDeps) -> list[dict[str, Any]]:
    return tracks.list_feeds(deps, user)


@router.post("/tracks/feeds", status_code=201,
             summary="Register or change a feed (release officer): the label its tracks carry")
async def add_feed(body: FeedIn, request: Request, user: CurrentUser,
                   deps: NodeDeps) -> dict[str, Any]:
    out = await asyncio.to_thread(tracks.register_feed, deps, user, body.model_dump())
    await _refresh(request)
    return out


async def _refresh(request: Request) -> None:
    """A feed or area changed: the hub takes the new policy before the answer goes back."""
    hub: TrackHub | None = getattr(request.app.state, "tracks", None)
    if hub is not None:
        await hub.refresh()


def _answer(accepted: int, refusals: list[str]) -> dict[str, Any]:
    return {"accepted": accepted, "refused": len(refusals), "reasons": sorted(set(refusals))}


class SensorIn(Body):
    username: str = Field(min_length=1, max_length=64)


@router.post("/tracks/feeds/{feed}/sensors", status_code=201,
             summary="Register a sensor account to a feed (admin): it may write into it")
async def add_sensor(feed: str, body: SensorIn, request: Request, user: CurrentUser,
                     deps: NodeDeps) -> dict[str, Any]:
    out = await asyncio.to_thread(feed_sensors.register_sensor, deps, user, feed,
                                  body.username)
    await _refresh(request)
    return out


@router.delete("/tracks/feeds/{feed}/sensors/{username}",
               summary="Unregister a sensor account from a feed (admin)")
async def remove_sensor(feed: str, username: str, request: Request, user: CurrentUser,
                        deps: NodeDeps) -> dict[str, Any]:
    out = await asyncio.to_thread(feed_sensors.register_sensor, deps, user, feed, username,
                                  remove=True)
    await _refresh(request)
    return out


def _may_write(hub: TrackHub, user: User, feed: str) -> None:
    why = tracks.write_refusal(hub.policy, user, feed)
    if why is not None:
        raise Forbidden(why)


@router.post("/tracks/ingest", summary="Ingest a batch of track updates from a feed")
async def ingest(body: IngestIn, request: Request, user: CurrentUser) -> dict[str, Any]:
    require(user, *INGEST_ROLES)
    hub = hub_of(request.app)
    _may_write(hub, user, body.feed)
    return _answer(*await hub.accept(body.feed, [u.domain() for u in body.updates]))


@router.get("/tracks", summary="Current tracks you may see")
def current(request: Request, user: CurrentUser) -> list[dict[str, Any]]:
    require(user, *tracks.READERS)
    return hub_of(request.app).snapshot(user)


@router.get("/tracks/system", summary="Correlated system tracks and their sources")
def system(request: Request, user: CurrentUser) -> list[dict[str, Any]]:
    require(user, *tracks.READERS)
    return hub_of(request.app).system_tracks(user)


@router.get("/tracks/stats", summary="Counters: ingested, refused, sent, dropped, per partner",
            description="Cut to the caller (issue 18): ``tracks_current`` counts the tracks "
                        "you may see; the node's counters, links and policy go to "
                        "administrators; others get the routes of the feeds they may see.")
def stats(request: Request, user: CurrentUser) -> dict[str, Any]:
    require(user, Role.ADMIN, Role.WATCH_OFFICER, Role.RELEASE_OFFICER)
    hub = hub_of(request.app)
    seen = {"tracks_current": len(hub.snapshot(user)),
            "system_tracks": len(hub.system_tracks(user))}
    if user.has(Role.ADMIN):
        return {**hub.view(), **seen}
    policy = tracks.policy_view(hub.policy)
    own = hub.policy.parties.get(hub.policy.own)
    policy["feeds"] = {name: routes for name, routes in policy["feeds"].items()
                       if own is not None and tracks.may_see_feed(
                           user, hub.policy.feeds[name], own)}
    return {**seen, "policy": policy}


@router.get("/launches", summary="Launch events (latest revision of each)")
def launches(user: CurrentUser, deps: NodeDeps,
             limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    return tracks.list_launches(deps, user, limit)


@router.get("/launches/{event_id}", summary="Every revision of a launch event, oldest first")
def launch(event_id: str, user: CurrentUser, deps: NodeDeps) -> list[dict[str, Any]]:
    return tracks.launch_history(deps, user, event_id)


@router.get("/alerts", summary="Area alerts, newest first")
def alerts(user: CurrentUser, deps: NodeDeps,
           limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    return tracks.list_alerts(deps, user, limit)


@router.get("/areas", summary="Areas and targets of interest you may see")
def list_areas(user: CurrentUser, deps: NodeDeps) -> list[dict[str, Any]]:
    return areas.list_areas(deps, user)


@router.post("/areas", status_code=201,
             summary="Save an area and share it with partners the engine allows")
async def add_area(body: AreaIn, request: Request, user: CurrentUser,
                   deps: NodeDeps) -> dict[str, Any]:
    data = body.model_dump(exclude={"share_with"})
    out = await asyncio.to_thread(areas.add_area, deps, user, data, body.share_with)
    await _refresh(request)
    return out


@router.delete("/areas/{area_id}", status_code=204, summary="Remove an area")
async def remove_area(area_id: str, request: Request, user: CurrentUser,
                      deps: NodeDeps) -> None:
    await asyncio.to_thread(areas.remove_area, deps, user, area_id)
    await _refresh(request)


@router.websocket("/tracks/live")
async def live(websocket: WebSocket, token: str = "") -> None:
    """Tracks, launch events and alerts you may see, pushed as JSON as they happen (first
    the current picture). Browsers cannot set headers here: the token comes as ``?token=``.
    The session is re-checked while the socket is open (``live_session``: 4401 when it
    ends, 4412 when your roles or clearance change)."""
    user = await live_session.connect(websocket, token)
    if user is None:
        return
    if not user.has(*tracks.READERS):
        await websocket.close(code=4403, reason="this needs the role "
                                                + " or ".join(r.value for r in tracks.READERS))
        return
    hub = getattr(websocket.app.state, "tracks", None)
    if hub is None:
        await websocket.close(code=1011, reason="the track hub is not running")
        return
    await live_session.serve(websocket, token, user, _push(websocket, hub, user))


async def _push(websocket: WebSocket, hub: TrackHub, user: User) -> None:
    sub = hub.subscribe(user)
    try:
        await websocket.send_json({"type": "snapshot", "tracks": hub.snapshot(user)})
        while True:
            item = await sub.queue.get()
            batch = [item]
            while not sub.queue.empty() and len(batch) < 500:
                batch.append(sub.queue.get_nowait())
            text = json.dumps([b.as_json() if isinstance(b, Published) else b for b in batch])
            await websocket.send_text(text)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        hub.unsubscribe(sub)


@router.websocket("/tracks/ingest/ws")
async def ingest_ws(websocket: WebSocket, feed: str, token: str = "") -> None:
    """Long-lived ingest: each text frame is an update or a JSON list of updates; the node
    answers each frame with ``{"accepted": n, "refused": m, "reasons": [...]}``. The
    session is re-checked while the socket is open (``live_session``)."""
    user = await live_session.connect(websocket, token)
    if user is None:
        return
    if not user.has(*INGEST_ROLES):
        await websocket.close(code=4403, reason="this needs the role sensor or watch_officer")
        return
    hub = getattr(websocket.app.state, "tracks", None)
    if hub is None:
        await websocket.close(code=1011, reason="the track hub is not running")
        return
    why = tracks.write_refusal(hub.policy, user, feed)
    if why is not None:
        await websocket.close(code=4403, reason=why[:120])
        return
    await live_session.serve(websocket, token, user, _take(websocket, hub, feed, user))


async def _take(websocket: WebSocket, hub: TrackHub, feed: str, user: User) -> None:
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_json(await _ingest_frame(hub, feed, text, user))
    except (WebSocketDisconnect, RuntimeError):
        return


async def _ingest_frame(hub: TrackHub, feed: str, text: str, user: User) -> dict[str, Any]:
    """One frame's answer; the feed is checked again per frame (the registration or the
    feed's label may change while the socket is open)."""
    try:
        data = json.loads(text)
        rows = data if isinstance(data, list) else [data]
        if len(rows) > MAX_INGEST:
            raise ValueError(f"at most {MAX_INGEST} updates per frame")
        updates = [UpdateIn.model_validate(r).domain() for r in rows]
    except ValueError as exc:
        return {"accepted": 0, "refused": 1, "reasons": [f"malformed frame: {exc}"[:500]]}
    why = tracks.write_refusal(hub.policy, user, feed)
    if why is not None:
        return {"accepted": 0, "refused": len(updates), "reasons": [why]}
    try:
        return _answer(*await hub.accept(feed, updates))
    except Unavailable as exc:
        return {"accepted": 0, "refused": len(updates), "reasons": [exc.message]}


@federation_router.websocket("/tracks")
async def partner_link(websocket: WebSocket) -> None:
    """A partner's long-lived track link (mutual TLS already verified by the listener):
    each binary frame is a signed, encrypted batch; each is answered with an ack."""
    hub = getattr(websocket.app.state, "tracks", None)
    await websocket.accept()
    if hub is None:
        await websocket.close(code=1011, reason="the track hub is not running")
        return
    try:
        while True:
            wire = await websocket.receive_bytes()
            answer, keep = await hub.receive(wire)
            await websocket.send_text(json.dumps(answer))
            if not keep:
                await websocket.close(code=1008, reason=str(answer.get("error", ""))[:120])
                return
    except (WebSocketDisconnect, RuntimeError, KeyError):
        return
