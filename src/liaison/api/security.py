"""Bearer-token authentication and the login rate limit."""

from __future__ import annotations

import ipaddress
import time
from collections import deque
from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from liaison.domain.users import User
from liaison.services import auth
from liaison.services.context import Deps
from liaison.services.errors import TooMany, Unauthorized

bearer = HTTPBearer(auto_error=False)


def deps_of(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


def current_user(request: Request,
                 creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> User:
    if creds is None or creds.scheme.lower() != "bearer":
        raise Unauthorized("sign in first: send 'Authorization: Bearer <token>'")
    return auth.authenticate(deps_of(request), creds.credentials)


def bearer_token(creds: Annotated[HTTPAuthorizationCredentials | None,
                                  Depends(bearer)]) -> str:
    if creds is None:
        raise Unauthorized("no token given")
    return creds.credentials


CurrentUser = Annotated[User, Depends(current_user)]
NodeDeps = Annotated[Deps, Depends(deps_of)]


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_proxies(text: str) -> tuple[Network, ...]:
    """``trusted_proxies`` (addresses or CIDRs, comma-separated) as networks; a bad entry
    stops the node from starting, naming it."""
    nets = []
    for entry in (e.strip() for e in text.split(",")):
        if entry:
            try:
                nets.append(ipaddress.ip_network(entry, strict=False))
            except ValueError as exc:
                raise ValueError(f"LIAISON_TRUSTED_PROXIES: {entry!r} is not an address or "
                                 f"CIDR ({exc})") from exc
    return tuple(nets)


def _trusted(host: str, proxies: Sequence[Network]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in net for net in proxies)


def client_address(request: Request) -> str:
    """Who is asking, for rate limits: the socket's peer; only when that peer is a
    configured trusted proxy, the right-most ``X-Forwarded-For`` hop that is not itself a
    trusted proxy (the hops left of it are whatever the client chose to send)."""
    peer = request.client.host if request.client else "unknown"
    proxies: Sequence[Network] = getattr(request.app.state, "trusted_proxies", ())
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for v in request.headers.getlist("x-forwarded-for")
            for h in v.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


class LoginThrottle:
    """At most ``per_minute`` login attempts per client address and per username."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}

    def check(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            window = self._seen.setdefault(key, deque())
            while window and now - window[0] > 60:
                window.popleft()
            if len(window) >= self.per_minute:
                raise TooMany("too many sign-in attempts; wait a minute and try again")
            window.append(now)
