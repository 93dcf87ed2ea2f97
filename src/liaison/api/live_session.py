"""Live sockets re-check their session.

A WebSocket authenticates once, when it opens; without a re-check a revoked token, an
expired session or a disabled user would go on receiving until the socket closes. In a
``@router.websocket`` route::

    user = await live_session.connect(websocket, token)
    if user is None:
        return  # refused: already closed with 4401 and the reason
    ...  # the route's own checks (close with 4403 …) and setup
    await live_session.serve(websocket, token, user, pump(websocket, user))

``connect(websocket, token) -> User | None``
    Authenticates the bearer token (browsers pass it as ``?token=``: they cannot set
    headers on a WebSocket) and accepts the socket. A refused token gets the socket
    accepted and closed at once with ``ENDED`` (4401) and the reason, and ``None``: a
    handshake refused before accepting reaches a browser as a bare 1006, without the code.

``serve(websocket, token, user, loop, *, every=None) -> None``
    Runs ``loop`` (the route's coroutine, e.g. receive/send until the peer goes) until it
    ends, while ``watch`` re-checks the session; when ``watch`` returns, ``loop`` is
    cancelled (its ``finally`` and ``async with`` blocks run) and the socket is closed with
    the code and reason ``watch`` gave. An exception ``loop`` raises propagates.

``watch(websocket, token, user, *, every=None) -> tuple[int, str]``
    For a route that races its own tasks: returns, as ``(code, reason)``, when the session
    may no longer use the socket; never returns while it may. It re-authenticates
    ``token`` every ``every`` seconds (default ``app.state.live_recheck_s``, 30 s) and just
    after the session's expiry:

    - ``ENDED`` (4401): the token is revoked or unknown, the session expired, or the user
      is disabled: sign in again;
    - ``CHANGED`` (4412): the user's roles, clearance or party changed since ``user``
      was read: reconnect (the new socket is served under the new ones);
    - 1011: the session could not be re-checked (e.g. the database is unreachable): the
      socket fails closed; reconnect later.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from fastapi import WebSocket

from liaison.crypto.passwords import token_hash
from liaison.domain.users import User
from liaison.services import auth
from liaison.services.context import Deps
from liaison.services.errors import ServiceError

ENDED = 4401  # sign in again
CHANGED = 4412  # roles or clearance changed: reconnect
DEFAULT_EVERY_S = 30.0
REASON_BYTES = 123  # RFC 6455 5.5: a close frame's reason fits in 123 bytes


def _reason(text: str) -> str:
    return text.encode()[:REASON_BYTES].decode(errors="ignore")


def _every(websocket: WebSocket, every: float | None) -> float:
    if every is not None:
        return every
    return float(getattr(websocket.app.state, "live_recheck_s", DEFAULT_EVERY_S))


def _expires_at(deps: Deps, token: str) -> datetime | None:
    with deps.uow() as uow:
        record = uow.tokens.get(token_hash(token))
    return record.expires_at if record else None


async def connect(websocket: WebSocket, token: str) -> User | None:
    """The user behind ``token`` with the socket accepted; ``None`` when refused (the
    socket then closed with ``ENDED`` and the reason)."""
    deps: Deps = websocket.app.state.deps
    try:
        user = await asyncio.to_thread(auth.authenticate, deps, token)
    except ServiceError as exc:
        await websocket.accept()
        await websocket.close(code=ENDED, reason=_reason(exc.message))
        return None
    await websocket.accept()
    return user


async def watch(websocket: WebSocket, token: str, user: User, *,
                every: float | None = None) -> tuple[int, str]:
    """``(code, reason)`` once the session may no longer use the socket (see the module's
    docstring); runs until then."""
    deps: Deps = websocket.app.state.deps
    interval = max(0.01, _every(websocket, every))
    while True:
        try:
            expires = await asyncio.to_thread(_expires_at, deps, token)
        except Exception:  # fail closed, whatever the store raised
            return 1011, "the session could not be re-checked: reconnect"
        wait = interval
        if expires is not None:  # just after it expires, not up to ``interval`` later
            wait = min(wait, max(0.0, (expires - deps.clock()).total_seconds()) + 0.05)
        await asyncio.sleep(wait)
        try:
            fresh = await asyncio.to_thread(auth.authenticate, deps, token)
        except ServiceError as exc:
            return ENDED, _reason(exc.message)
        except Exception:  # fail closed
            return 1011, "the session could not be re-checked: reconnect"
        if (fresh.roles, fresh.clearance, fresh.party) != (user.roles, user.clearance,
                                                           user.party):
            return CHANGED, "your roles or clearance changed: reconnect"


async def serve(websocket: WebSocket, token: str, user: User,
                loop: Coroutine[Any, Any, None], *, every: float | None = None) -> None:
    """Run ``loop`` until it ends or ``watch`` ends the session (then the socket is closed
    with its code and reason)."""
    main = asyncio.ensure_future(loop)
    guard = asyncio.ensure_future(watch(websocket, token, user, every=every))
    try:
        await asyncio.wait({main, guard}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (main, guard):
            task.cancel()
        await asyncio.gather(main, guard, return_exceptions=True)
    if guard.done() and not guard.cancelled() and guard.exception() is None:
        code, reason = guard.result()
        with contextlib.suppress(Exception):  # the peer may have gone meanwhile
            await websocket.close(code=code, reason=reason)
        return
    if not main.cancelled():
        main.result()  # re-raise what the loop raised
