"""``create_app``: the node's HTTP API, built from pieces made elsewhere (the settings,
``Deps``, the bus, the track hub). It starts nothing: the node (``liaison.node.serving``)
hands it a ``lifespan`` that starts and stops the background work. No app exists at
import time."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
from liaison.api.body_limit import KIB, SMALL_BODY, BodyLimit, Cap, has_credentials
from liaison.api.security import LoginThrottle, trusted_proxies
from liaison.config import Settings
from liaison.crypto.envelope import MAX_ENVELOPE
from liaison.realtime.bus import Bus
from liaison.services.context import Deps
from liaison.services.federation import Applier
from liaison.tracks.hub import TrackHub

QUIET_PATHS = ("/api/tracks/ingest", "/api/auth/")  # these never queue partner messages
LIVE_RECHECK_S = 30.0  # live sockets re-check their session this often (``live_session``)
# the node's hook around the app's life: starts the bus, the hub, the sender and the clocks
# before the first request and stops them after the last
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

# The console's pages: scripts and styles only from the node itself (no inline script, no
# eval), images also as blob:/data: (attachments shown from fetched blobs), WebSockets to
# the same host ('self' covers ws:/wss: of the page's own origin), never framed.
CONSOLE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' blob: data:; connect-src 'self'; media-src 'self' blob:; "
               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
# A stored file opened directly (not through the console): nothing in it runs
ATTACHMENT_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"
# Any other HTML the API answers (e.g. a hotline transcript): a document, nothing loaded
DOCUMENT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
EVERY_RESPONSE = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                  "X-Frame-Options": "DENY"}
ATTACHMENT_PATH = re.compile(r"^/api/items/[^/]+/portions/[^/]+/attachment$")
INLINE_MEDIA = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
VENDOR_CACHE = "public, max-age=86400, immutable"
# compressed: the console's own files and the API description, never an API answer (no
# secret next to reflected input, so no BREACH) nor a streamed attachment
GZIP_PATHS = ("/console/", "/api/openapi.json")


def _console_page(path: str) -> bool:
    return path in ("/", "/console", "/api/docs") or path.startswith("/console/")


class WebHeaders:
    """ASGI middleware, outermost (so errors answered by the server itself get it too):
    ``nosniff``, ``no-referrer`` and ``DENY`` on every HTTP response; the console's
    Content-Security-Policy and caching on its pages; on an attachment download,
    ``Content-Disposition`` (``inline`` only for an image type a browser shows as a
    picture) and a CSP that runs nothing; on other HTML from the API, a CSP that loads
    nothing. Response bodies pass through untouched, so streamed downloads stay
    streamed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._add(path, message["status"], MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, with_headers)

    @staticmethod
    def _add(path: str, status: int, headers: MutableHeaders) -> None:
        for name, value in EVERY_RESPONSE.items():
            headers[name] = value
        if _console_page(path):
            headers["Content-Security-Policy"] = CONSOLE_CSP
            if path.startswith("/console/vendor/") and status in (200, 304):
                headers["Cache-Control"] = VENDOR_CACHE
            elif "cache-control" not in headers:
                headers["Cache-Control"] = "no-cache"
        elif ATTACHMENT_PATH.match(path) and status < 300:
            media = headers.get("content-type", "").partition(";")[0].strip().lower()
            if "content-disposition" not in headers:
                headers["Content-Disposition"] = ("inline" if media in INLINE_MEDIA
                                                  else "attachment")
            headers["Content-Security-Policy"] = ATTACHMENT_CSP
        elif headers.get("content-type", "").startswith("text/html"):
            headers.setdefault("Content-Security-Policy", DOCUMENT_CSP)


class StaticGzip:
    """Gzip (``Accept-Encoding: gzip``, bodies of 1 KiB or more) for ``GZIP_PATHS`` only;
    every other request, WebSockets included, passes straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=1024)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(GZIP_PATHS):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class NodeApp(FastAPI):
    """The API app with ``WebHeaders``, ``StaticGzip`` and ``BodyLimit`` outside every
    other layer (``body_cap``: each request's body cap)."""

    def __init__(self, body_cap: Callable[[Scope], Cap], **kwargs: Any) -> None:
        self.body_cap = body_cap
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return WebHeaders(StaticGzip(BodyLimit(super().build_middleware_stack(),
                                               self.body_cap)))


UPLOAD_SLACK = 1024 * KIB  # over the upload cap, so the store's own refusal answers first


def api_body_cap(settings: Settings) -> Callable[[Scope], Cap]:
    """Sign-in: 64 KiB; a request without credentials: 64 KiB, then 401 (every other
    route needs them); an attachment upload: ``max_attachment_mb``; anything else:
    ``max_body_kb``."""
    sign_in = Cap(SMALL_BODY, "sign-in")
    anonymous = Cap(SMALL_BODY, "a request without credentials", needs_credentials=True)
    upload = Cap(settings.max_attachment_mb * 1024 * KIB + UPLOAD_SLACK,
                 "an attachment upload (max_attachment_mb)")
    default = Cap(settings.max_body_kb * KIB, "an API request (max_body_kb)")

    def cap(scope: Scope) -> Cap:
        path: str = scope["path"]
        if path.startswith("/api/auth/"):
            return sign_in
        if not has_credentials(scope):
            return anonymous
        if path == "/api/attachments":
            return upload
        return default

    return cap


def create_app(settings: Settings, deps: Deps, bus: Bus, tracks: TrackHub | None, *,
               lifespan: Lifespan | None = None) -> FastAPI:
    """The node's app over its pieces. It starts nothing itself: ``lifespan`` (from
    ``liaison.node.serving``) starts the bus, the hub and the background tasks, and sets
    ``state.transport`` (partners' cards) and ``state.sender`` (woken by ``wake``)."""
    app = NodeApp(
        api_body_cap(settings),
        lifespan=lifespan,
        title=f"Liaison node {deps.party}",
        version=__version__,
        description="Share classified military information with partners under the "
                    "agreements that bind them. Every error is JSON "
                    "`{\"error\": {\"code\", \"message\"}}`.",
        docs_url=None, openapi_url="/api/openapi.json", redoc_url=None,
    )
    app.state.trusted_proxies = trusted_proxies(settings.trusted_proxies)
    app.state.deps = deps
    app.state.bus = bus
    app.state.sender = None  # the outbox sender, once the lifespan has started it
    app.state.live_recheck_s = LIVE_RECHECK_S
    app.state.tracks = tracks

    @app.middleware("http")
    async def wake_sender(request: Request, call_next: Any) -> Any:
        """A change may have queued messages: wake the sender instead of waiting a poll."""
        response = await call_next(request)
        if request.method != "GET" and not request.url.path.startswith(QUIET_PATHS):
            wake(app)
        return response

    app.state.trust_hooks = []  # called with a partner's certificate PEM when it is added
    app.state.login_throttle = LoginThrottle(settings.login_attempts_per_minute)
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

    @app.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(docs_page(app.title))

    @app.get("/api/health", tags=["node"], summary="Liveness and the node's party")
    def health() -> dict[str, Any]:
        return {"status": "ok", "party": deps.party, "version": __version__}

    return app


def docs_page(title: str) -> str:
    """Swagger UI from the node's own files (vendored: nodes have no internet), started by
    a script file, not inline, so the console's CSP holds on this page too."""
    vendor = "/console/vendor/swagger-ui"
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)} — API</title><link rel=\"icon\" href=\"data:,\">"
            f"<link rel=\"stylesheet\" href=\"{vendor}/swagger-ui.css\"></head><body>"
            f"<div id=\"swagger-ui\"></div>"
            f"<script src=\"{vendor}/swagger-ui-bundle.js\"></script>"
            f"<script src=\"/console/api-docs.js\"></script></body></html>")


def wake(app: FastAPI) -> None:
    """Wake this worker's sender, and through the bus the worker holding the lane."""
    sender = app.state.sender
    if sender is not None:
        sender.wake.set()
    app.state.bus.publish("outbox")


def create_federation_app(deps: Deps, appliers: dict[str, Applier],
                          tracks: TrackHub | None) -> FastAPI:
    """The partners' door: only the inbox, served over mutual TLS 1.3 (see
    ``liaison.node.serving``). ``appliers``: each partner message kind and the function
    that applies it (``services.appliers``); ``tracks``: the API app's hub."""
    envelope = Cap(MAX_ENVELOPE, "a partner's envelope")
    app = NodeApp(lambda _scope: envelope, title=f"Liaison federation {deps.party}",
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.deps = deps
    app.state.appliers = dict(appliers)
    app.state.tracks = tracks
    errors.install(app)
    app.include_router(routes_federation.inbox_router)
    app.include_router(routes_tracks.federation_router)
    return app
