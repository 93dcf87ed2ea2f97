"""Serving a node: ``liaison serve`` runs the API listener (people and tools) and the
federation listener (partners only: mutual TLS 1.3, each partner pinned) in one process;
``api_app`` is the API app with everything that runs while it is up: the bus, the track
hub and, on a node with keys, the outbox sender, its wake-ups from the other workers, and
the hotline and checkpoint clocks."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from liaison.api import routes_federation
from liaison.api.app import Lifespan, create_app, create_federation_app, wake
from liaison.federation.tls import server_context, trust, with_client_certificate
from liaison.federation.transport import HttpTransport, fetch_card_pinned
from liaison.node.clocks import CheckpointClock, HotlineClock
from liaison.node.composition import Node
from liaison.node.sender import OutboxSender
from liaison.services.appliers import APPLIERS
from liaison.services.card_refresh import CardRefresher
from liaison.services.federation import list_peers
from liaison.tracks.cot_server import CotServer, cot_tls_context
from liaison.tracks.hub import TrackHub

GRACE_S = 3  # open partner connections get this long to finish on shutdown
# proxy_headers=False on both listeners: uvicorn would otherwise take the client address
# from X-Forwarded-For of any loopback peer; the API reads that header itself, and only
# from the proxies named in trusted_proxies (``api.security.client_address``)


def api_app(node: Node, *, send: bool = True) -> FastAPI:
    """The node's API app, with its track hub; with ``send``, the outbox sender and the
    clocks run while the app is up."""
    hub = TrackHub(node.deps, node.settings.track_refresh_s, node.bus)
    return create_app(node.settings, node.deps, node.bus, hub,
                      lifespan=background(node, hub, send=send))


def background(node: Node, hub: TrackHub, *, send: bool) -> Lifespan:
    """Start the bus and the hub before the app's first request, and the sender and the
    clocks (``send``, on a node with keys); stop them all after its last."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        node.bus.attach(asyncio.get_running_loop())
        await node.bus.start()
        await hub.start()
        ring = node.deps.keyring
        app.state.transport = HttpTransport(ring.tls_files if ring else None)
        tasks = []
        if send and ring is not None:
            app.state.sender = OutboxSender(node.deps, app.state.transport)
            tasks = _start_sending(node, app.state.sender)
        yield
        for task in tasks:
            task.cancel()
        await hub.stop()
        await app.state.transport.close()
        await node.bus.stop()

    return lifespan


def _start_sending(node: Node, sender: OutboxSender) -> list[asyncio.Task[None]]:
    """The sender, its wake-ups from the node's other workers, and the clocks."""
    settings = node.settings
    jobs = [sender.run(), sender.follow(node.bus),
            HotlineClock(node.deps, sender, settings.hotline_tick_s).run(),
            CheckpointClock(node.deps, sender, settings.audit_checkpoint_s).run()]
    return [asyncio.create_task(job) for job in jobs]


def federation_app(node: Node, api: FastAPI, ctx: ssl.SSLContext) -> FastAPI:
    """The partners' app beside ``api``: the inbox and the track frames (into the API
    app's hub), this node's card, and a wake of the sender after every envelope. ``ctx``:
    the listener's TLS context, which trusts a partner's certificate once it is added."""
    ring = node.deps.keyring
    assert ring is not None  # a node without keys has no federation listener
    federation = create_federation_app(node.deps, APPLIERS, api.state.tracks)
    # partners refresh this node's card here, over mutual TLS (issue 17 point 7); and
    # this node refreshes theirs when an envelope is signed with a key not on it
    federation.include_router(routes_federation.card_router)
    federation.state.card_refresher = CardRefresher(
        node.deps, lambda peer: fetch_card_pinned(ring.tls_files, peer),
        trust=lambda pem: trust(ctx, pem))

    @federation.middleware("http")
    async def wake_after_inbox(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        wake(api)  # receipts, relays and answers may have queued messages
        return response

    return federation


class _Listener(uvicorn.Server):
    """A uvicorn server that leaves signals to ``serve_node`` (two servers, one process)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int, reuse_port: bool) -> socket.socket:
    """A listening socket; with ``reuse_port`` the node's other workers bind it too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY on accepted connections only
    # for sockets created so; without it each answer waited ~40 ms on a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def serve_node(node: Node, reuse_port: bool = False) -> None:
    """Serve until SIGTERM or SIGINT, then stop both listeners gracefully."""
    settings = node.settings
    sockets = [_bind(settings.host, settings.port, reuse_port)]
    api = api_app(node)
    servers = [_Listener(uvicorn.Config(api, host=settings.host, port=settings.port,
                                        log_level="warning", proxy_headers=False,
                                        timeout_graceful_shutdown=GRACE_S))]
    ring = node.deps.keyring
    if ring is not None:
        pins = [p.card.tls_cert for p in list_peers(node.deps)]
        ctx = server_context(*ring.tls_files, pins)
        api.state.trust_hooks.append(lambda pem: trust(ctx, pem))
        config = uvicorn.Config(federation_app(node, api, ctx), host=settings.host,
                                port=settings.federation_port, log_level="warning",
                                proxy_headers=False,
                                ssl_certfile=str(ring.tls_files[0]),
                                ssl_keyfile=str(ring.tls_files[1]),
                                timeout_graceful_shutdown=GRACE_S)
        config.load()
        config.ssl = ctx  # TLS 1.3 only, client certificate required, partners pinned
        # the inbox sees which partner's certificate delivered each envelope
        config.http_protocol_class = with_client_certificate(config.http_protocol_class)
        servers.append(_Listener(config))
        sockets.append(_bind(settings.host, settings.federation_port, reuse_port))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stop, servers)
    cot = await _start_cot(node, api.state.tracks) if settings.cot_port else None
    try:
        await asyncio.gather(*(s.serve(sockets=[sock])
                               for s, sock in zip(servers, sockets, strict=True)))
    finally:
        if cot is not None:
            await cot.stop()


async def _start_cot(node: Node, hub: TrackHub) -> CotServer:
    """The TAK-style CoT port, streaming what ``cot_user`` may see; over TLS with client
    certificates when configured, and then with a feed per sensor identity when given."""
    settings = node.settings
    tls = settings.cot_tls
    server = CotServer(node.deps, hub, settings.cot_feed, settings.cot_user,
                       sensors=settings.cot_sensor_feeds)
    await server.start(settings.host, settings.cot_port,
                       cot_tls_context(*tls) if tls is not None else None)
    hub.cot = server
    return server


def _stop(servers: list[_Listener]) -> None:
    for server in servers:
        server.should_exit = True


def run(node: Node, reuse_port: bool = False) -> None:
    asyncio.run(serve_node(node, reuse_port))
