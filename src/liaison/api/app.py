"""``create_app(node)``: the node's HTTP API. No app exists at import time."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
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
from liaison.bootstrap import Node
from liaison.crypto.envelope import MAX_ENVELOPE
from liaison.federation.sender import CheckpointClock, HotlineClock, OutboxSender
from liaison.federation.transport import HttpTransport
from liaison.services.appliers import APPLIERS
from liaison.tracks.hub import TrackHub

QUIET_PATHS = ("/api/tracks/ingest", "/api/auth/")  # these never queue partner messages
LIVE_RECHECK_S = 30.0  # live sockets re-check their session this often (``live_session``)

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


def api_body_cap(node: Node) -> Callable[[Scope], Cap]:
    """Sign-in: 64 KiB; a request without credentials: 64 KiB, then 401 (every other
    route needs them); an attachment upload: ``max_attachment_mb``; anything else:
    ``max_body_kb``."""
    settings = node.settings
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

    app = NodeApp(
        api_body_cap(node),
        lifespan=lifespan,
        title=f"Liaison node {node.deps.party}",
        version=__version__,
        description="Share classified military information with partners under the "
                    "agreements that bind them. Every error is JSON "
                    "`{\"error\": {\"code\", \"message\"}}`.",
        docs_url=None, openapi_url="/api/openapi.json", redoc_url=None,
    )
    app.state.trusted_proxies = trusted_proxies(node.settings.trusted_proxies)
    app.state.deps = node.deps
    app.state.bus = node.bus
    app.state.sender = None
    app.state.live_recheck_s = LIVE_RECHECK_S
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

    @app.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(docs_page(app.title))

    @app.get("/api/health", tags=["node"], summary="Liveness and the node's party")
    def health() -> dict[str, Any]:
        return {"status": "ok", "party": node.deps.party, "version": __version__}

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


def create_federation_app(node: Node) -> FastAPI:
    """The partners' door: only the inbox, served over mutual TLS 1.3 (see ``serve``)."""
    envelope = Cap(MAX_ENVELOPE, "a partner's envelope")
    app = NodeApp(lambda _scope: envelope, title=f"Liaison federation {node.deps.party}",
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.deps = node.deps
    app.state.appliers = dict(APPLIERS)
    app.state.tracks = None  # the API app's hub, shared by ``serve``
    errors.install(app)
    app.include_router(routes_federation.inbox_router)
    app.include_router(routes_tracks.federation_router)
    return app
