"""``create_app(node)``: the node's HTTP API. No app exists at import time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from liaison import __version__
from liaison.api import (
    errors,
    routes_agreements,
    routes_audit,
    routes_auth,
    routes_federation,
    routes_hotline,
    routes_items,
    routes_releases,
    routes_requests,
    routes_talks,
    routes_taxii,
    routes_tracks,
)
from liaison.api.security import LoginThrottle
from liaison.bootstrap import Node
from liaison.federation.sender import CheckpointClock, HotlineClock, OutboxSender
from liaison.federation.transport import HttpTransport
from liaison.services import (
    agreements,
    areas,
    checkpoints,
    hotline,
    protection,
    receiving,
    requests,
    talks,
)
from liaison.tracks.hub import TrackHub

QUIET_PATHS = ("/api/tracks/ingest", "/api/auth/")  # these never queue partner messages


def create_app(node: Node, *, send: bool = True) -> FastAPI:
    """The node's app; with ``send``, the outbox sender runs while the app is up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        node.bus.attach(asyncio.get_running_loop())
        await node.bus.start()
        await app.state.tracks.start()
        ring = node.deps.keyring
        app.state.transport = HttpTransport(ring.tls_files if ring else None)
        tasks = []
        if send and node.deps.keyring is not None:
            sender = OutboxSender(node.deps, app.state.transport)
            app.state.sender = sender
            tasks = [asyncio.create_task(sender.run()),
                     asyncio.create_task(sender.follow(node.bus)),
                     asyncio.create_task(HotlineClock(node.deps, sender,
                                                      node.settings.hotline_tick_s).run()),
                     asyncio.create_task(CheckpointClock(
                         node.deps, sender, node.settings.audit_checkpoint_s).run())]
        yield
        for task in tasks:
            task.cancel()
        await app.state.tracks.stop()
        await app.state.transport.close()
        await node.bus.stop()

    app = FastAPI(
        lifespan=lifespan,
        title=f"Liaison node {node.deps.party}",
        version=__version__,
        description="Share classified military information with partners under the "
                    "agreements that bind them. Every error is JSON "
                    "`{\"error\": {\"code\", \"message\"}}`.",
        docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None,
    )
    app.state.deps = node.deps
    app.state.bus = node.bus
    app.state.sender = None
    app.state.tracks = TrackHub(node.deps, node.settings.track_refresh_s,
                                   node.bus)

    @app.middleware("http")
    async def wake_sender(request: Request, call_next: Any) -> Any:
        """A change may have queued messages: wake the sender instead of waiting a poll."""
        response = await call_next(request)
        if request.method != "GET" and not request.url.path.startswith(QUIET_PATHS):
            wake(app)
        return response

    app.state.trust_hooks = []  # called with a partner's certificate PEM when it is added
    app.state.login_throttle = LoginThrottle(node.settings.login_attempts_per_minute)
    errors.install(app)
    for module in (routes_auth, routes_agreements, routes_items, routes_releases, routes_audit):
        app.include_router(module.router)
    app.include_router(routes_federation.card_router)
    app.include_router(routes_federation.admin)
    app.include_router(routes_requests.router)
    app.include_router(routes_hotline.router)
    app.include_router(routes_tracks.router)
    app.include_router(routes_taxii.router)
    app.include_router(routes_talks.router)

    static = Path(__file__).parent.parent / "web" / "static"
    app.mount("/console", StaticFiles(directory=static, html=True), name="console")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    @app.get("/api/health", tags=["node"], summary="Liveness and the node's party")
    def health() -> dict[str, Any]:
        return {"status": "ok", "party": node.deps.party, "version": __version__}

    return app


def wake(app: FastAPI) -> None:
    """Wake this worker's sender, and through the bus the worker holding the lane."""
    sender = app.state.sender
    if sender is not None:
        sender.wake.set()
    app.state.bus.publish("outbox")


def create_federation_app(node: Node) -> FastAPI:
    """The partners' door: only the inbox, served over mutual TLS 1.3 (see ``serve``)."""
    app = FastAPI(title=f"Liaison federation {node.deps.party}", docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.deps = node.deps
    app.state.appliers = {"release": receiving.apply_release,
                          "note": agreements.apply_note, **requests.APPLIERS,
                          **protection.APPLIERS, **hotline.APPLIERS, **areas.APPLIERS,
                          **talks.APPLIERS, **checkpoints.APPLIERS}
    app.state.tracks = None  # the API app's hub, shared by ``serve``
    errors.install(app)
    app.include_router(routes_federation.inbox_router)
    app.include_router(routes_tracks.federation_router)
    return app
