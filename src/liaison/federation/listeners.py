"""``liaison serve``: the API listener (people and tools) and the federation listener
(partners only: mutual TLS 1.3, each partner pinned), in one process."""

from __future__ import annotations

import asyncio

import uvicorn

from liaison.api.app import create_app, create_federation_app
from liaison.bootstrap import Node
from liaison.federation.tls import server_context, trust
from liaison.services.federation import list_peers


async def serve_node(node: Node) -> None:
    settings = node.settings
    api = create_app(node)
    servers = [uvicorn.Server(uvicorn.Config(api, host=settings.host, port=settings.port,
                                             log_level="warning"))]
    ring = node.deps.keyring
    if ring is not None:
        pins = [p.card.tls_cert for p in list_peers(node.deps)]
        ctx = server_context(*ring.tls_files, pins)
        api.state.trust_hooks.append(lambda pem: trust(ctx, pem))
        config = uvicorn.Config(create_federation_app(node), host=settings.host,
                                port=settings.federation_port, log_level="warning",
                                ssl_certfile=str(ring.tls_files[0]),
                                ssl_keyfile=str(ring.tls_files[1]))
        config.load()
        config.ssl = ctx  # TLS 1.3 only, client certificate required, partners pinned
        servers.append(uvicorn.Server(config))
    await asyncio.gather(*(s.serve() for s in servers))


def run(node: Node) -> None:
    asyncio.run(serve_node(node))
