"""The hotline: channels, traffic, acknowledgements, check calls, severance, transcript."""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import Response, StreamingResponse
from pydantic import Field

from liaison.api import live_session
from liaison.api.schemas import Body
from liaison.api.security import CurrentUser, NodeDeps
from liaison.domain.users import Role
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


Limit = Annotated[int, Query(ge=1, le=hotline.MAX_PAGE,
                             description="entries in the page (the latest, or before `before`)")]
Before = Annotated[str | None, Query(max_length=64, pattern=r"^-?\d+\.\d+\.[A-Z]{3}$",
                                     description="a position (`older` of a page): the page "
                                                 "of entries just before it")]


@router.get("/{channel_id}", summary="A channel with a page of its traffic (the latest "
                                     "first), deadlines, overdue items and open entries")
def channel(channel_id: str, user: CurrentUser, deps: NodeDeps, limit: Limit = hotline.PAGE,
            before: Before = None) -> dict[str, Any]:
    return hotline.view(deps, user, channel_id, limit, before)


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


@router.get("/{channel_id}/transcript", summary="The permanent transcript, JSON or HTML: the "
            "whole line, or one page with `limit` (and `before`)", response_model=None)
def transcript(channel_id: str, user: CurrentUser, deps: NodeDeps,
               format: str = Query("json", pattern="^(json|html)$"), limit: int | None = Query(
                   None, ge=1, le=hotline.MAX_PAGE), before: Before = None) -> Response:
    data = hotline.view(deps, user, channel_id, limit or 1, before)  # refuses before a byte
    pages: Iterable[list[dict[str, Any]]] = (
        [data["traffic"]] if limit else hotline.transcript(deps, user, channel_id))
    head = {k: v for k, v in data.items()
            if k not in ("traffic", "awaiting", "summary") and (limit or k != "older")}
    if format == "json":
        return StreamingResponse(_json_transcript(head, pages), media_type="application/json")
    return StreamingResponse(_html_transcript(channel_id, head, pages),
                             media_type="text/html; charset=utf-8")


def _json_transcript(head: dict[str, Any], pages: Iterable[list[dict[str, Any]]],
                     ) -> Iterator[str]:
    """``{...channel, "traffic": [...]}``, written a page at a time."""
    yield json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "traffic": ['
    first = True
    for page in pages:
        for entry in page:
            yield ("\n  " if first else ",\n  ") + json.dumps(entry, ensure_ascii=False)
            first = False
    yield "\n ]\n}\n"


def _html_transcript(channel_id: str, head: dict[str, Any],
                     pages: Iterable[list[dict[str, Any]]]) -> Iterator[str]:
    yield (f"<!doctype html><meta charset=utf-8><title>Transcript {html.escape(channel_id)}"
           f"</title><h1>Hotline {html.escape(channel_id)} — "
           f"{html.escape(head['status']['state'])}</h1><table><tr><th>sent</th><th>from</th>"
           f"<th>seq</th><th>precedence</th><th>text</th><th>acknowledged / outcome</th></tr>")
    for page in pages:
        yield "".join(
            f"<tr><td>{html.escape(str(t['sent_at']))}</td><td>{html.escape(t['sender'])}</td>"
            f"<td>{t['seq']}</td><td>{html.escape(t.get('precedence') or t['kind'])}</td>"
            f"<td>{html.escape(t['text'])}</td><td>"
            f"{html.escape(str(t.get('acknowledged_by') or t.get('outcome') or ''))}</td></tr>"
            for t in page)
    yield "</table>"
    if head.get("older"):
        yield f"<p>Older entries: before={html.escape(head['older'])}</p>"


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
    watch = hotline.Watch(deps, user, channel_id)
    try:
        first = await asyncio.to_thread(watch.start)
    except ServiceError as exc:
        await websocket.close(code=_code(exc), reason=exc.message[:120])
        return
    await live_session.serve(websocket, token, user, _push(websocket, watch, first))


def _code(exc: ServiceError) -> int:
    return {401: 4401, 403: 4403, 404: 4404}.get(exc.status, 4409)


async def _push(websocket: WebSocket, watch: hotline.Watch, first: dict[str, Any]) -> None:
    """The snapshot, then a delta after each change of the channel (its bus topic) and
    whenever an open message's overdue flag or escalation turns."""
    async with websocket.app.state.bus.subscribe(f"hotline:{watch.channel_id}") as queue:
        try:
            await websocket.send_json(first)
            while True:  # the first pass catches what changed before the subscription
                update = await asyncio.to_thread(watch.update)
                if update is not None:
                    await websocket.send_json(update)
                await _next(queue, watch)
        except ServiceError as exc:
            await websocket.close(code=_code(exc), reason=exc.message[:120])
        except (WebSocketDisconnect, RuntimeError):
            return


async def _next(queue: asyncio.Queue[str], watch: hotline.Watch) -> None:
    """Until the channel changes or an open message's flags turn."""
    turn = watch.next_change()
    wait = (turn - watch.deps.clock()).total_seconds() if turn else None
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(queue.get(), None if wait is None else max(wait, 0.0) + 0.01)
    while not queue.empty():
        queue.get_nowait()
