"""What a watch officer reads: a page of the line's traffic with deadlines, overdue flags
and escalation computed now, the whole transcript page by page, and a watcher's live view
that sends only what changed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from liaison.domain import hotline as h
from liaison.domain.users import Role, User
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Invalid
from liaison.services.hotline.line import RULES, stored_channel

PAGE = 100  # entries in a page of the line's traffic, unless asked otherwise
MAX_PAGE = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Key = tuple[str, int]  # (sender, seq): one entry of a channel


def position(entry: dict[str, Any]) -> str:
    """An entry's place in transcript order (sent, seq, sender), as a page cursor:
    ``<microseconds since 1970>.<seq>.<sender>``."""
    micros = (_when(entry["sent_at"]) - EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{entry['seq']}.{entry['sender']}"


def _place_of(cursor: str) -> tuple[datetime, int, str]:
    micros, seq, sender = [*cursor.split("."), "", ""][:3]
    if not (micros.lstrip("-").isdigit() and seq.isdigit() and len(sender) == 3
            and sender.isalpha() and sender.isupper()):
        raise Invalid(f"{cursor[:40]!r} is not a position in a hotline transcript")
    try:
        return EPOCH + timedelta(microseconds=int(micros)), int(seq), sender
    except OverflowError as exc:
        raise Invalid(f"{cursor[:40]!r} is out of range") from exc


def view(deps: Deps, user: User, channel_id: str, limit: int = PAGE,
         before: str | None = None) -> dict[str, Any]:
    """The channel with one page of its traffic, oldest first: the latest ``limit``
    entries, or those before the ``before`` position. ``older`` is the position to ask
    for the page before this one (``None``: this page starts the line); ``awaiting`` holds
    every open entry of the line, whatever the page (unacknowledged messages, unanswered
    calls), and ``summary`` counts them; deadlines, overdue flags and escalation are
    computed now; ``revision`` is the line's revision this view shows."""
    require(user, Role.WATCH_OFFICER, Role.ADMIN)
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit: 1 to {MAX_PAGE} entries")
    place = _place_of(before) if before else None
    now = deps.clock()
    with deps.uow() as uow:
        channel = stored_channel(uow, channel_id)
        revision = uow.hotline.revision(channel_id)
        page = uow.hotline.page(channel_id, limit + 1, before=place)
        awaiting = uow.hotline.awaiting(channel_id)
    traffic = [_flagged(channel_id, e, now) for e in page[-limit:]]
    awaiting = [_flagged(channel_id, e, now) for e in awaiting]
    return {**channel, "traffic": traffic,
            "older": traffic[0]["position"] if len(page) > limit else None,
            "revision": revision, "awaiting": awaiting,
            "summary": _summary(awaiting, deps.party)}


def transcript(deps: Deps, user: User, channel_id: str) -> Iterator[list[dict[str, Any]]]:
    """The whole line in transcript order, a page at a time (each page read in its own
    transaction: writers are not held up by a long transcript); every entry once."""
    after = (datetime.min.replace(tzinfo=UTC), 0, "")  # before any entry
    while True:
        require(user, Role.WATCH_OFFICER, Role.ADMIN)
        now = deps.clock()
        with deps.uow() as uow:
            stored_channel(uow, channel_id)
            page = uow.hotline.page(channel_id, MAX_PAGE, after=after)
        if not page:
            return
        yield [_flagged(channel_id, e, now) for e in page]
        after = _place_of(position(page[-1]))


def _flagged(channel_id: str, item: dict[str, Any], now: datetime) -> dict[str, Any]:
    """``item`` with its position and, for messages, deadline, overdue flag and
    escalation. An entry stored with a value that does not read (a partner's, kept before
    its messages were validated) is shown as stored, marked ``damaged`` with the reason,
    without flags (text or author that is not a string is shown as its JSON): one entry
    never fails the whole view."""
    for name in ("text", "author"):
        if name in item and not isinstance(item[name], str):
            item[name] = json.dumps(item[name], ensure_ascii=False, default=str)[:10_000]
            item["damaged"] = f"stored with {name} that is not text"
    try:
        item["position"] = position(item)
        if item["kind"] == "message":
            m = _message(channel_id, item)
            item.update(deadline=m.deadline(RULES).isoformat(),
                        overdue=m.overdue(now, RULES), escalation=m.escalation(now, RULES))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        item.update(damaged=f"stored with a value that does not read: "
                            f"{type(exc).__name__}: {str(exc)[:200]}",
                    deadline=None, overdue=False, escalation=[])
        item.setdefault("position", f"{item.get('seq')}.{item.get('sender')}")
    return item


def _when(value: Any) -> datetime:
    """A stored time (``ValueError`` or ``TypeError`` when it is none, naive read as UTC)."""
    at = datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _summary(awaiting: Iterable[dict[str, Any]], party: str) -> dict[str, Any]:
    """What a watch officer must see whatever page is shown: how many entries are open,
    how many are overdue, and the partner's FLASH messages nobody here acknowledged."""
    items = list(awaiting)
    return {"open": len(items), "overdue": sum(1 for e in items if e.get("overdue")),
            "unacknowledged_flash": [
                {"sender": e["sender"], "seq": e["seq"]} for e in items
                if e.get("precedence") == h.Precedence.FLASH.name and e["sender"] != party]}


class Watch:
    """One watcher's live view of a channel (the watch page's WebSocket). ``start`` gives
    the latest page (``view``); each ``update`` then only what changed since: the entries
    written since (new, acknowledged, answered or missed), open entries whose overdue flag
    or escalation turned since, the line's status and the summary; ``None`` when nothing
    changed. Its cost follows the changes and the open entries, not the line's age. The
    role is checked on every call, as ``view`` does."""

    def __init__(self, deps: Deps, user: User, channel_id: str, limit: int = PAGE) -> None:
        self.deps, self.user, self.channel_id, self.limit = deps, user, channel_id, limit
        self.revision = 0
        self.status: dict[str, Any] = {}
        self.open: dict[Key, dict[str, Any]] = {}  # open entries as last sent
        self.turns: dict[Key, datetime] = {}  # when an open message's flags next turn

    def start(self) -> dict[str, Any]:
        """The snapshot to show first: ``view``'s latest page, ``type: snapshot``."""
        first = view(self.deps, self.user, self.channel_id, self.limit)
        self.revision, self.status = first["revision"], first["status"]
        self.open, self.turns = {}, {}
        now = self.deps.clock()
        for entry in first["awaiting"]:
            self._keep(entry, now)
        return {"type": "snapshot", **first}

    def _keep(self, entry: dict[str, Any], now: datetime) -> None:
        """Remember ``entry`` as sent: open or not, and when its flags turn next."""
        key = (entry["sender"], entry["seq"])
        self.open.pop(key, None)
        self.turns.pop(key, None)
        if entry.get("acknowledged_at") or entry.get("outcome"):
            return
        self.open[key] = entry
        if entry["kind"] == "message" and not entry.get("damaged") and (
                at := h.flags_change_at(_message(self.channel_id, entry), now, RULES)):
            self.turns[key] = at

    def update(self) -> dict[str, Any] | None:
        """What changed since the last ``start`` or ``update`` (``type: delta``), a
        fresh snapshot when the channel's change log no longer reaches back that far,
        or ``None``."""
        require(self.user, Role.WATCH_OFFICER, Role.ADMIN)
        now = self.deps.clock()
        with self.deps.uow() as uow:
            channel = stored_channel(uow, self.channel_id)
            revision, changed = uow.hotline.changed_since(self.channel_id, self.revision)
        if changed is None:
            return self.start()
        out = {(e["sender"], e["seq"]): _flagged(self.channel_id, e, now) for e in changed}
        for key in [k for k, at in self.turns.items() if at <= now and k not in out]:
            out[key] = _flagged(self.channel_id, dict(self.open[key]), now)  # flags turned
        for entry in out.values():
            self._keep(entry, now)
        if not out and channel["status"] == self.status and revision == self.revision:
            return None
        self.revision, self.status = revision, channel["status"]
        return {"type": "delta", "revision": revision, "status": channel["status"],
                "changed": list(out.values()),
                "summary": _summary(self.open.values(), self.deps.party)}

    def next_change(self) -> datetime | None:
        """When an open message's overdue flag or escalation next turns (then ``update``)."""
        return min(self.turns.values(), default=None)


def _flags(entry: dict[str, Any]) -> tuple[Any, ...]:
    return entry.get("overdue"), tuple(entry.get("escalation") or ())


def _message(channel_id: str, item: dict[str, Any]) -> h.Message:
    ack = item.get("acknowledged_at")
    return h.Message(channel_id, item["seq"], h.Precedence[item["precedence"]], item["text"],
                     item["sender"], _when(item["sent_at"]),
                     acknowledged_at=_when(ack) if ack else None)
