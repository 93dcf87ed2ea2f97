"""``create_app(node)``: the node's HTTP API. No app exists at import time."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from liaison import __version__
from liaison.api import (
    errors,
    routes_agreements,
    routes_audit,
    routes_auth,
    routes_items,
    routes_releases,
)
from liaison.api.security import LoginThrottle
from liaison.bootstrap import Node


def create_app(node: Node) -> FastAPI:
    app = FastAPI(
        title=f"Liaison node {node.deps.party}",
        version=__version__,
        description="Share classified military information with partners under the "
                    "agreements that bind them. Every error is JSON "
                    "`{\"error\": {\"code\", \"message\"}}`.",
        docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None,
    )
    app.state.deps = node.deps
    app.state.login_throttle = LoginThrottle(node.settings.login_attempts_per_minute)
    errors.install(app)
    for module in (routes_auth, routes_agreements, routes_items, routes_releases, routes_audit):
        app.include_router(module.router)

    @app.get("/api/health", tags=["node"], summary="Liveness and the node's party")
    def health() -> dict[str, Any]:
        return {"status": "ok", "party": node.deps.party, "version": __version__}

    return app
