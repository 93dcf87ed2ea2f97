"""The hotline: channels, traffic, acknowledgements, check calls, severance, transcript."""

from __future__ import annotations

import asyncio
import html
import json
from typing import Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response
from pydantic import Field

from liaison.api import live_session
from liaison.api.schemas import Body
from liaison.api.security import CurrentUser, NodeDeps
from liaison.domain.users import Role, User
from liaison.services import hotline
from liaison.services.auth_roles import require
from liaison.services.errors import ServiceError

router = APIRouter(prefix="/api/hotline", tags=["hotline"])


class ChannelIn(Body):
    agreement_id: str
    times: list[str] = Field(min_length=1, description="local check-call times, HH:MM")
    weekdays: list[int] = Field(default=[0, 1, 2, 3, 4], description="0 = Monday")
    tz: str = Field(description="the channel's time zone, e.g. Asia/Seoul")
    places_calls: bool = Field(default=True, description="this side places the check calls")


class MessageIn(Body):
    precedence: str = Field(pattern="^(FLASH|IMMEDIATE|PRIORITY|ROUTINE)$")
    text: str = Field(min_length=1, max_length=20_000)


class AckIn(Body):
    sender: str = Field(min_length=3, max_length=3)
    seq: int = Field(ge=1, le=2**62)


@router.post("", status_code=201, summary="Open a hotline channel under an MOU (admin)")
def open_channel(body: ChannelIn, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return hotline.open_channel(deps, user, body.agreement_id, body.times, body.weekdays,
                                body.tz, body.places_calls)


@router.get("", summary="Hotline channels and their line status")
def channels(user: CurrentUser, deps: NodeDeps) -> list[dict[str, Any]]:
    return hotline.channels(deps, user)


@router.get("/{channel_id}", summary="A channel with its traffic, deadlines and overdue items")
def channel(channel_id: str, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return hotline.view(deps, user, channel_id)


@router.post("/{channel_id}/messages", status_code=201, summary="Send a message (watch officer)")
def send(channel_id: str, body: MessageIn, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return hotline.send(deps, user, channel_id, body.precedence, body.text)


@router.post("/{channel_id}/acknowledgements",
             summary="Acknowledge a received message or answer a check call")
def acknowledge(channel_id: str, body: AckIn, user: CurrentUser,
                deps: NodeDeps) -> dict[str, Any]:
    return hotline.acknowledge(deps, user, channel_id, body.sender.upper(), body.seq)


@router.post("/{channel_id}/check-calls", status_code=201, summary="Place a check call now")
def check_call(channel_id: str, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    require(user, Role.WATCH_OFFICER)
    return hotline.check_call(deps, user.username, channel_id)


@router.post("/{channel_id}/sever", summary="Declare the line severed (unilateral)")
def sever(channel_id: str, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return hotline.sever(deps, user, channel_id)


@router.post("/{channel_id}/reopen", summary="Re-open a severed line while its MOU is in force")
def reopen(channel_id: str, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return hotline.reopen(deps, user, channel_id)


@router.get("/{channel_id}/transcript", summary="The permanent transcript, JSON or HTML",
            response_model=None)
def transcript(channel_id: str, user: CurrentUser, deps: NodeDeps,
               format: str = Query("json", pattern="^(json|html)$")) -> Response:
    data = hotline.view(deps, user, channel_id)
    if format == "json":
        return Response(json.dumps(data, ensure_ascii=False, indent=1),
                        media_type="application/json")
    rows = "".join(
        f"<tr><td>{html.escape(str(t['sent_at']))}</td><td>{html.escape(t['sender'])}</td>"
        f"<td>{t['seq']}</td><td>{html.escape(t.get('precedence') or t['kind'])}</td>"
        f"<td>{html.escape(t['text'])}</td>"
        f"<td>{html.escape(str(t.get('acknowledged_by') or t.get('outcome') or ''))}</td></tr>"
        for t in data["traffic"])
    page = (f"<!doctype html><meta charset=utf-8><title>Transcript {html.escape(channel_id)}"
            f"</title><h1>Hotline {html.escape(channel_id)} — "
            f"{html.escape(data['status']['state'])}</h1><table><tr><th>sent</th><th>from</th>"
            f"<th>seq</th><th>precedence</th><th>text</th><th>acknowledged / outcome</th></tr>"
            f"{rows}</table>")
    return HTMLResponse(page)


@router.websocket("/{channel_id}/live")
async def live(websocket: WebSocket, channel_id: str, token: str = "") -> None:
    """The channel's state, pushed on every change (browsers cannot set headers on a
    WebSocket, so the bearer token comes as ``?token=``). Closes with 4401 when the session
    is refused or ends while open (re-checked: ``live_session``), 4403 when the channel is
    not for you, 4404 when there is no such channel, 4412 when your roles change."""
    deps = websocket.app.state.deps
    user = await live_session.connect(websocket, token)
    if user is None:
        return
    try:
        first = await asyncio.to_thread(hotline.view, deps, user, channel_id)
    except ServiceError as exc:
        await websocket.close(code=_code(exc), reason=exc.message[:120])
        return
    await live_session.serve(websocket, token, user,
                             _push(websocket, deps, user, channel_id, first))


def _code(exc: ServiceError) -> int:
    return {401: 4401, 403: 4403, 404: 4404}.get(exc.status, 4409)


async def _push(websocket: WebSocket, deps: Any, user: User, channel_id: str,
                first: dict[str, Any]) -> None:
    async with websocket.app.state.bus.subscribe(f"hotline:{channel_id}") as queue:
        try:
            await websocket.send_json(first)
            while True:
                await queue.get()
                while not queue.empty():
                    queue.get_nowait()
                view = await asyncio.to_thread(hotline.view, deps, user, channel_id)
                await websocket.send_json(view)
        except ServiceError as exc:
            await websocket.close(code=_code(exc), reason=exc.message[:120])
        except (WebSocketDisconnect, RuntimeError):
            return
