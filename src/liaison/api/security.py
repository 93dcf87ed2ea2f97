"""Bearer-token authentication and the login rate limit."""

from __future__ import annotations

import time
from collections import deque
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
