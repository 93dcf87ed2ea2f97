"""Talks: proposals, answers, minutes, and the live call's WebSocket (signalling, roster,
chat) — the browser only ever talks to its own node."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import Field

from liaison.api.schemas import Body
from liaison.api.security import CurrentUser, NodeDeps
from liaison.services import auth, talks
from liaison.services.errors import ServiceError

router = APIRouter(prefix="/api/talks", tags=["talks"])


class ProposalIn(Body):
    title: str = Field(min_length=1, max_length=200)
    starts_at: str = Field(description="ISO 8601 with offset")
    tz: str = Field(description="the time zone the talks are scheduled in, e.g. Asia/Seoul")
    duration_min: int = Field(ge=5, le=600)
    delegations: dict[str, list[str]]
    agenda: list[dict[str, str]] = Field(
        min_length=1, max_length=50,
        description='[{"id", "kind": "agreed" | "concerns" | "urgent", "title"}]')
    note: str = Field("", max_length=2000)


class TalksIn(ProposalIn):
    counterpart: str = Field(min_length=3, max_length=3, description="the other party")


class AnswerIn(Body):
    action: str = Field(pattern="^(accept|amend|decline|cancel)$")
    version: int | None = None
    proposal: ProposalIn | None = Field(None, description="for amend")
    reason: str = Field("", max_length=2000)


class MinutesIn(Body):
    attendance: dict[str, list[str]] | None = None
    outcomes: dict[str, str] | None = None
    agreed: list[str] | None = None
    sign: bool = Field(False, description="sign the minutes as they stand after this edit")


@router.post("", status_code=201, summary="Propose talks to a partner (delegate)")
def propose(body: TalksIn, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    data = body.model_dump()
    return talks.propose(deps, user, data.pop("counterpart").upper(), data)


@router.get("", summary="Talks, newest first")
def list_talks(user: CurrentUser, deps: NodeDeps) -> list[dict[str, Any]]:
    return talks.list_talks(deps, user)


@router.get("/{talks_id}", summary="One talks: proposals, state, minutes")
def one(talks_id: str, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    return talks.view(deps, user, talks_id)


@router.post("/{talks_id}/answer", summary="Accept, amend, decline or cancel")
def answer(talks_id: str, body: AnswerIn, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    data: dict[str, Any] = {"version": body.version, "reason": body.reason}
    if body.proposal is not None:
        data.update(body.proposal.model_dump())
    return talks.answer(deps, user, talks_id, body.action, data)


@router.post("/{talks_id}/minutes", summary="Draft, edit and/or sign the minutes")
def minutes(talks_id: str, body: MinutesIn, user: CurrentUser,
            deps: NodeDeps) -> dict[str, Any]:
    changes = body.model_dump(exclude={"sign"}, exclude_none=True)
    return talks.minutes(deps, user, talks_id, changes or None, body.sign)


@router.get("/{talks_id}/minutes/verify", summary="Each side's signature on the minutes")
def verify(talks_id: str, user: CurrentUser, deps: NodeDeps) -> dict[str, str]:
    return talks.verify_minutes(deps, user, talks_id)


@router.get("/{talks_id}/record", summary="The call's record: presence and chat")
def call_record(talks_id: str, user: CurrentUser, deps: NodeDeps) -> list[dict[str, Any]]:
    talks.view(deps, user, talks_id)
    return [{"seq": seq, "kind": kind, "party": party, "at": at.isoformat(), **data}
            for seq, kind, party, data, at in talks.record_of(deps, talks_id)[0]]


@router.websocket("/{talks_id}/live")
async def live(websocket: WebSocket, talks_id: str, token: str = "") -> None:
    """The call: hello (roster, chat), then roster, signal and chat messages both ways (the
    bearer token comes as ``?token=``: browsers cannot set headers on a WebSocket)."""
    deps = websocket.app.state.deps
    try:
        user = await asyncio.to_thread(auth.authenticate, deps, token)
        await asyncio.to_thread(talks.view, deps, user, talks_id)
        events, cursor = await asyncio.to_thread(talks.record_of, deps, talks_id)
    except ServiceError as exc:
        await websocket.close(code=4403 if exc.status == 403 else 4401, reason=exc.message)
        return
    await websocket.accept()
    me = talks.participant_id(deps, user)
    await websocket.send_json({"type": "hello", "me": me, "roster": talks.roster(events),
                               "chat": [_chat(e) for e in events if e[1] == "chat"]})
    joined = False

    async def act(kind: str, data: dict[str, Any]) -> None:
        await asyncio.to_thread(talks.live_event, deps, user, talks_id, kind, data)
        sender = getattr(websocket.app.state, "sender", None)
        if sender is not None:  # the partner should have it now, not at the next poll
            sender.wake.set()

    async with websocket.app.state.bus.subscribe(f"talks:{talks_id}") as queue:
        pump = asyncio.create_task(_pump(websocket, deps, talks_id, me, cursor, queue))
        try:
            while True:
                message = json.loads(await websocket.receive_text())
                kind = message.get("type") if isinstance(message, dict) else None
                try:
                    if kind == "join":
                        joined = True
                        await act("presence", {"action": "join", "muted": False,
                                               "camera": True, "hand": False})
                    elif kind == "state" and joined:
                        await act("presence", {"action": "state", **{
                            k: bool(message.get(k)) for k in
                            ("muted", "camera", "hand", "sharing")}})
                    elif kind == "signal" and joined:
                        await act("signal", {"to": str(message.get("to", "")),
                                             "data": message.get("data")})
                    elif kind == "chat":
                        await act("chat", {"text": str(message.get("text", ""))[:2000]})
                    elif kind == "leave":
                        if joined:
                            joined = False
                            await act("presence", {"action": "leave"})
                    else:
                        await websocket.send_json({"type": "error", "message":
                                                   f"unexpected message {kind!r}"})
                except ServiceError as exc:
                    await websocket.send_json({"type": "error", "message": exc.message})
        except (WebSocketDisconnect, json.JSONDecodeError):
            pass
        finally:
            pump.cancel()
            if joined:
                with contextlib.suppress(ServiceError):
                    await act("presence", {"action": "leave"})
            with contextlib.suppress(Exception):
                await websocket.close()


async def _pump(websocket: WebSocket, deps: Any, talks_id: str, me: str, cursor: int,
                queue: asyncio.Queue[str]) -> None:
    """Push what the record gained: roster changes, signals addressed to me, chat."""
    while True:
        await queue.get()
        while not queue.empty():
            queue.get_nowait()
        events, cursor = await asyncio.to_thread(talks.live_state, deps, talks_id, cursor)
        if any(e[1] == "presence" for e in events):
            presence, _ = await asyncio.to_thread(talks.record_of, deps, talks_id,
                                                  ("presence",))
            await websocket.send_json({"type": "roster", "roster": talks.roster(presence)})
        for _, kind, _, data, at in events:
            if kind == "signal" and data.get("to") == me:
                await websocket.send_json({"type": "signal", "from": data["from"],
                                           "data": data.get("data")})
            elif kind == "chat":
                await websocket.send_json(_chat((0, kind, "", data, at)))


def _chat(event: Any) -> dict[str, Any]:
    _, _, _, data, at = event
    return {"type": "chat", "from": data.get("from"), "name": data.get("name"),
            "text": data.get("text"), "at": at.isoformat()}
