"""Request-body caps, applied to every HTTP route before anything parses the body.

``BodyLimit`` is ASGI middleware: a body declared (``Content-Length``) over the route's
cap is answered 413 at once, without reading it and before the route runs (no sign-in,
no parsing); a body without a declared length (chunked) is counted as it streams in, and
the read that passes the cap answers 413 and tells the app the client has gone. Caps
come from a function of the request, so each app (the API, the federation listener) says
which route takes how much: an upload route more, sign-in and requests with no
credentials very little.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liaison.api.errors import error_body

KIB = 1024
SMALL_BODY = 64 * KIB  # sign-in, and any request that carries no credentials


@dataclass(frozen=True)
class Cap:
    size: int  # bytes
    what: str  # named in the refusal: which cap, so a caller knows what to change
    # a route that needs credentials, asked without any: over the cap, the answer is
    # 401 (who asks is known before the size matters), not 413
    needs_credentials: bool = False

    def refusal(self, size: int | None) -> tuple[int, str, str]:
        if self.needs_credentials:
            return (401, "unauthorized", "sign in first: send 'Authorization: Bearer "
                    f"<token>' (without it a request carries at most {self.size} bytes)")
        given = f"{size} bytes, " if size is not None else ""
        return (413, "payload_too_large", f"the request body is {given}over the "
                f"{self.size} bytes {self.what} takes: send less, or split it")


class BodyLimit:
    def __init__(self, app: ASGIApp, cap_for: Callable[[Scope], Cap]) -> None:
        self.app = app
        self.cap_for = cap_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.cap_for(scope)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _answer(scope, receive, send, 400, "bad_request",
                              "Content-Length must be a whole number of bytes")
                return
            if int(declared) > cap.size:
                await _answer(scope, receive, send, *cap.refusal(int(declared)))
                return
        seen = 0
        started = answered = False

        async def counted() -> Message:
            """The body as it streams in; past the cap, the 413 is sent and the app is
            told the client has gone (so whatever it does next is dropped)."""
            nonlocal seen, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap.size:
                    if not started:
                        await _answer(scope, receive, send, *cap.refusal(None))
                    answered = True
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except Exception:
            if not answered:  # after the 413, the app's complaint that the client left
                raise


async def _answer(scope: Scope, receive: Receive, send: Send, status: int, code: str,
                  message: str) -> None:
    """Answer and close: the rest of the body is never read."""
    response = JSONResponse(error_body(code, message), status,
                            headers={"Connection": "close"})
    await response(scope, receive, send)


def has_credentials(scope: Scope) -> bool:
    return "authorization" in Headers(scope=scope)
