"""Talks: proposals, answers, minutes, and the live call's WebSocket (signalling, roster,
chat) — the browser only ever talks to its own node."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import Field

from liaison.api.schemas import Body
from liaison.api.security import CurrentUser, NodeDeps
from liaison.domain.users import User
from liaison.services import auth, talks
from liaison.services.errors import Invalid, ServiceError

router = APIRouter(prefix="/api/talks", tags=["talks"])

SESSION_CHECK_S = 30.0  # the live call re-checks the session (and the talks) this often
# WebSocket close codes: the page signs in again only on 4401
CLOSE_CODES = {401: 4401, 403: 4403, 404: 4404}  # anything else: 4409 (the call is not open)
REASON_BYTES = 123  # RFC 6455 5.5: a close frame's reason fits in 123 bytes
# a join without a state: mic and camera on, no hand, not sharing (what pages sent before
# a join carried the state)
JOINING = {"muted": False, "camera": True, "hand": False, "sharing": False}
NO_FLAGS = dict.fromkeys(talks.FLAGS, False)


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
    action: str = Field(pattern="^(accept|amend|decline|cancel|end)$",
                        description="end: either party closes accepted talks' call")
    version: int | None = None
    proposal: ProposalIn | None = Field(None, description="for amend")
    reason: str = Field("", max_length=2000,
                        description="needed to decline or cancel; optional to end")


class MinutesIn(Body):
    attendance: dict[str, list[str]] | None = None
    outcomes: dict[str, str] | None = None
    agreed: list[str] | None = None
    sign: bool = Field(False, description="sign the minutes as they stand after this edit")
    revision: int | None = Field(
        None, ge=0, description="the revision this edit or signature is based on (0: no "
        "minutes yet); if the minutes have changed since, 409 and nothing is done")


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


@router.post("/{talks_id}/answer", summary="Accept, amend, decline, cancel or end")
def answer(talks_id: str, body: AnswerIn, user: CurrentUser, deps: NodeDeps) -> dict[str, Any]:
    data: dict[str, Any] = {"version": body.version, "reason": body.reason}
    if body.proposal is not None:
        data.update(body.proposal.model_dump())
    return talks.answer(deps, user, talks_id, body.action, data)


@router.post("/{talks_id}/minutes", summary="Draft, edit and/or sign the minutes")
def minutes(talks_id: str, body: MinutesIn, user: CurrentUser,
            deps: NodeDeps) -> dict[str, Any]:
    changes = body.model_dump(exclude={"sign", "revision"}, exclude_none=True)
    return talks.minutes(deps, user, talks_id, changes or None, body.sign, body.revision)


@router.get("/{talks_id}/minutes/verify", summary="Each side's signature on the minutes")
def verify(talks_id: str, user: CurrentUser, deps: NodeDeps) -> dict[str, str]:
    return talks.verify_minutes(deps, user, talks_id)


@router.get("/{talks_id}/record", summary="The call's record: presence and chat")
def call_record(talks_id: str, user: CurrentUser, deps: NodeDeps) -> list[dict[str, Any]]:
    talks.view(deps, user, talks_id)
    return [{"seq": seq, "kind": kind, "party": party, "at": at.isoformat(), **data}
            for seq, kind, party, data, at in talks.record_of(deps, talks_id)[0]]


Closing = tuple[int, str] | None  # a close code and reason; None: the page went away


def _closing(exc: ServiceError) -> tuple[int, str]:
    reason = exc.message.encode()[:REASON_BYTES].decode(errors="ignore")
    return CLOSE_CODES.get(exc.status, 4409), reason


@router.websocket("/{talks_id}/live")
async def live(websocket: WebSocket, talks_id: str, token: str = "") -> None:
    """The call: hello (roster, chat), then roster, signal and chat messages both ways (the
    bearer token comes as ``?token=``: browsers cannot set headers on a WebSocket).

    ``{"type": "join"}`` may carry the page's state (``muted``, ``camera``, ``hand``,
    ``sharing``) and ``signals`` (``[{"to", "data"}]``: the newcomer's offers to whoever
    is in the call already), recorded with the join in one transaction, so they reach the
    partner in one envelope instead of each waiting for the one before.

    Only members of this party's delegation join. Closes with 4401 (sign in again: the
    session is missing, expired or revoked, or the user disabled — checked every
    ``SESSION_CHECK_S`` and when the session expires), 4403 (not a delegate of these
    talks), 4404 (no such talks) or 4409 (the call is not open: talks not accepted, ended,
    or no MOU in force). A bad frame gets an error frame; the call goes on."""
    deps = websocket.app.state.deps
    try:
        user = await asyncio.to_thread(auth.authenticate, deps, token)
        await asyncio.to_thread(talks.may_join, deps, user, talks_id)
        events, cursor = await asyncio.to_thread(talks.record_of, deps, talks_id)
    except ServiceError as exc:
        code, reason = _closing(exc)
        # accepted first: a refused handshake reaches the page as a bare 1006, not the code
        await websocket.accept()
        await websocket.close(code=code, reason=reason)
        return
    await websocket.accept()
    call = _Call(websocket, deps, user, talks_id, token, talks.participant_id(deps, user))
    await websocket.send_json({"type": "hello", "me": call.me, "roster": talks.roster(events),
                               "chat": [_chat(e) for e in events if e[1] == "chat"]})
    async with websocket.app.state.bus.subscribe(f"talks:{talks_id}") as queue:
        closing = await _first((call.read(), call.pump(cursor, queue), call.guard()))
        if call.joined:
            with contextlib.suppress(ServiceError):
                await call.act("presence", {"action": "leave"})
        with contextlib.suppress(Exception):
            if closing is None:
                await websocket.close()
            else:
                await websocket.close(code=closing[0], reason=closing[1])


async def _first(jobs: tuple[Any, ...]) -> Closing:
    """Run ``jobs`` until one finishes (the page left, or the call must close); cancel the
    others. A job that failed (the page vanished mid-send) closes without a code."""
    tasks = [asyncio.create_task(j) for j in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is None and task.result():
            return task.result()  # type: ignore[no-any-return]
    return None


@dataclass
class _Call:
    websocket: WebSocket
    deps: Any
    user: User
    talks_id: str
    token: str
    me: str
    joined: bool = False

    async def act(self, kind: str, data: dict[str, Any],
                  signals: list[dict[str, Any]] | None = None) -> None:
        """Record ``kind`` and then ``signals`` (in one transaction: they reach the partner
        together) and wake the sender."""
        events = [(kind, data), *(("signal", s) for s in signals or [])]
        await asyncio.to_thread(talks.live_events, self.deps, self.user, self.talks_id,
                                events)
        from liaison.api.app import wake  # app imports this module

        wake(self.websocket.app)  # the partner should have it now, not at the next poll

    async def error(self, message: str) -> None:
        await self.websocket.send_json({"type": "error", "message": message})

    async def read(self) -> Closing:
        """The page's frames until it goes away; each bad one gets an error frame."""
        while True:
            frame = await self.websocket.receive()
            if frame["type"] == "websocket.disconnect":
                return None
            text = frame.get("text")
            if text is None:
                await self.error("frames are JSON text, e.g. {\"type\": \"chat\", "
                                 "\"text\": \"…\"}; binary frames are not read")
                continue
            try:
                message = json.loads(text)
            except json.JSONDecodeError as exc:
                await self.error(f"not JSON ({exc.msg} at character {exc.pos}): frames are "
                                 "objects such as {\"type\": \"join\"}")
                continue
            try:
                await self.handle(message)
            except ServiceError as exc:
                await self.error(exc.message)

    async def handle(self, message: Any) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind in ("state", "signal") and not self.joined:
            await self.error(f"{kind}: join the call first ({{\"type\": \"join\"}})")
        elif kind == "join":  # may carry the state and the first offers: one message
            await self.act("presence", {"action": "join", **_flags(message, JOINING)},
                           _signals(message.get("signals", [])))
            self.joined = True
        elif kind == "state":
            await self.act("presence", {"action": "state", **_flags(message, NO_FLAGS)})
        elif kind == "signal":
            await self.act("signal", {"to": message.get("to"), "data": message.get("data")})
        elif kind == "chat":
            await self.act("chat", {"text": message.get("text")})
        elif kind == "leave":
            if self.joined:
                self.joined = False
                await self.act("presence", {"action": "leave"})
        else:
            await self.error(f"unexpected message {kind!r}: join, state, signal, chat or "
                             "leave")

    async def pump(self, cursor: int, queue: asyncio.Queue[str]) -> Closing:
        """Push what the record gained: roster changes, signals addressed to me, chat. A
        wake-up with nothing new is a change of the talks (ended, cancelled): the call is
        checked again."""
        while True:
            await queue.get()
            while not queue.empty():
                queue.get_nowait()
            events, cursor = await asyncio.to_thread(talks.live_state, self.deps,
                                                     self.talks_id, cursor)
            if not events:
                try:
                    await asyncio.to_thread(talks.may_join, self.deps, self.user,
                                            self.talks_id)
                except ServiceError as exc:
                    return _closing(exc)
            await self.push(events)

    async def push(self, events: list[Any]) -> None:
        """Signals first (a newcomer's offer comes with its join: the page answers it
        without waiting for the roster, which takes another read of the record), then the
        roster if anyone came, went or changed, then chat."""
        ws = self.websocket
        for _, kind, _, data, _ in events:
            if kind == "signal" and data.get("to") == self.me:
                await ws.send_json({"type": "signal", "from": data["from"],
                                    "data": data.get("data")})
        if any(e[1] == "presence" for e in events):
            presence, _ = await asyncio.to_thread(talks.record_of, self.deps, self.talks_id,
                                                  ("presence",))
            await ws.send_json({"type": "roster", "roster": talks.roster(presence)})
        for event in events:
            if event[1] == "chat":
                await ws.send_json(_chat(event))

    async def guard(self) -> Closing:
        """Every ``SESSION_CHECK_S`` and when the session expires: the session still good
        (not revoked or expired, the user not disabled) and the user still in the call."""
        while True:
            ends = await asyncio.to_thread(talks.session_ends, self.deps, self.token)
            wait = SESSION_CHECK_S
            if ends is not None:
                left = (ends - self.deps.clock()).total_seconds()
                wait = min(wait, max(left, 0.0) + 0.05)
            await asyncio.sleep(wait)
            try:
                self.user = await asyncio.to_thread(auth.authenticate, self.deps, self.token)
                await asyncio.to_thread(talks.may_join, self.deps, self.user, self.talks_id)
            except ServiceError as exc:
                return _closing(exc)


def _signals(raw: Any) -> list[dict[str, Any]]:
    """A join's signals, each ``{"to", "data"}`` (``talks.live_events`` checks them)."""
    if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
        raise Invalid("signals: a list of {\"to\": …, \"data\": …} objects")
    return [{"to": s.get("to"), "data": s.get("data")} for s in raw]


def _flags(message: dict[str, Any], default: dict[str, bool]) -> dict[str, bool]:
    return {k: bool(message.get(k, default[k])) for k in talks.FLAGS}


def _chat(event: Any) -> dict[str, Any]:
    _, _, _, data, at = event
    return {"type": "chat", "from": data.get("from"), "name": data.get("name"),
            "text": data.get("text"), "at": at.isoformat()}

