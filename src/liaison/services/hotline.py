"""Hotline channels under an MOU: messages with precedence, acknowledgements, check calls,
severance — each carried node to node as a signed message (see ``domain.hotline``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from liaison.domain import hotline as h
from liaison.domain import hotline_authority as a
from liaison.domain.agreement_lifecycle import status_at
from liaison.domain.agreements import AgreementKind
from liaison.domain.users import Role, User
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Invalid, NotFound, Refused
from liaison.services.ports import UnitOfWork

RULES = h.HotlineRules()


def _status_to(s: h.LineStatus) -> dict[str, Any]:
    return {"state": s.state.value, "missed_days": s.missed_days,
            "last_missed_day": s.last_missed_day.isoformat() if s.last_missed_day else None,
            "last_answered": s.last_answered.isoformat() if s.last_answered else None,
            "severed_by": s.severed_by}


def _status_from(d: dict[str, Any]) -> h.LineStatus:
    return h.LineStatus(h.LineState(d["state"]), d["missed_days"],
                        date.fromisoformat(d["last_missed_day"]) if d["last_missed_day"]
                        else None,
                        datetime.fromisoformat(d["last_answered"]) if d["last_answered"]
                        else None, d["severed_by"])


def schedule_of(channel: dict[str, Any]) -> h.Schedule:
    s = channel["schedule"]
    return h.Schedule(tuple(time.fromisoformat(t) for t in s["times"]),
                      frozenset(s["weekdays"]), ZoneInfo(s["tz"]))


def _channel(uow: UnitOfWork, channel_id: str) -> dict[str, Any]:
    channel = uow.hotline.channel(channel_id)
    if channel is None:
        raise NotFound(f"no hotline channel {channel_id}")
    return channel


def open_channel(deps: Deps, user: User, agreement_id: str, times: list[str],
                 weekdays: list[int], tz: str, places_calls: bool = True) -> dict[str, Any]:
    """A channel exists only under an MOU (or agreement) that opens a hotline."""
    require(user, Role.ADMIN)
    try:
        schedule = h.Schedule(tuple(time.fromisoformat(t) for t in times), frozenset(weekdays),
                              ZoneInfo(tz))
    except (ValueError, ZoneInfoNotFoundError, h.HotlineError) as exc:
        raise Invalid(f"schedule: {exc}") from exc
    with deps.uow() as uow:
        agreement = uow.agreements.get(agreement_id)
        if agreement is None or deps.party not in agreement.parties:
            raise NotFound(f"no agreement {agreement_id} binding {deps.party}")
        if "hotline" not in agreement.opens and agreement.kind is AgreementKind.MOU:
            raise Refused(f"{agreement_id} does not open a hotline")
        partners = sorted(agreement.parties - {deps.party})
        channel = {"id": agreement_id, "partner": partners[0], "agreement": agreement_id,
                   "schedule": {"times": [t.isoformat("minutes") for t in schedule.times],
                                "weekdays": sorted(schedule.weekdays), "tz": tz},
                   "status": _status_to(h.LineStatus()), "places_calls": places_calls,
                   "calls_placed_until": deps.clock().isoformat()}
        uow.hotline.put_channel(agreement_id, channel)
        record(uow, deps, user.username, "hotline.opened", f"hotline:{agreement_id}",
               {"partner": channel["partner"], "schedule": channel["schedule"]})
        uow.commit()
    return channel


def _usable(uow: UnitOfWork, deps: Deps, channel: dict[str, Any]) -> None:
    if channel["status"]["state"] == h.LineState.SEVERED:
        raise Refused(f"the line is severed by {channel['status']['severed_by']}: no traffic")
    agreement = uow.agreements.get(channel["agreement"])
    if agreement is None or not status_at(agreement, deps.clock().date(), deps.rules).in_force:
        raise Refused(f"{channel['agreement']} is not in force: the line is closed")


def send(deps: Deps, user: User, channel_id: str, precedence: str, text: str) -> dict[str, Any]:
    require(user, Role.WATCH_OFFICER)
    try:
        prec = h.Precedence[precedence]
        h.check_message(text, prec, RULES)
    except KeyError as exc:
        raise Invalid(f"precedence: one of {', '.join(p.name for p in h.Precedence)}") from exc
    except h.HotlineError as exc:
        raise Invalid(str(exc)) from exc
    return _place(deps, user.username, channel_id, "message",
                  {"precedence": prec.name, "text": text})


def check_call(deps: Deps, actor: str, channel_id: str) -> dict[str, Any]:
    """Place a check call now (the scheduler calls this at each slot)."""
    return _place(deps, actor, channel_id, "check_call", {"text": "check call"})


def _place(deps: Deps, actor: str, channel_id: str, kind: str,
           data: dict[str, Any]) -> dict[str, Any]:
    now = deps.clock()
    with deps.uow() as uow:
        channel = _channel(uow, channel_id)
        _usable(uow, deps, channel)
        seq = uow.hotline.last_seq(channel_id, deps.party) + 1
        body = {**data, "sent_at": now.isoformat(), "author": actor}
        uow.hotline.put_traffic(channel_id, deps.party, seq, kind, body, now)
        uow.outbox.enqueue(message_id=deps.ids(), peer=channel["partner"], kind="hotline",
                           at=now, payload={"channel": channel_id, "seq": seq, "kind": kind,
                                            **body})
        record(uow, deps, actor, f"hotline.{kind}.sent", f"hotline:{channel_id}",
               {"seq": seq, **data})
        uow.commit()
    deps.publish(f"hotline:{channel_id}")
    return {"channel": channel_id, "sender": deps.party, "seq": seq, "kind": kind, **body}


def acknowledge(deps: Deps, user: User, channel_id: str, sender: str,
                seq: int) -> dict[str, Any]:
    """A person acknowledges a received message or answers a check call."""
    require(user, Role.WATCH_OFFICER)
    now = deps.clock()
    with deps.uow() as uow:
        channel = _channel(uow, channel_id)
        item = uow.hotline.get_traffic(channel_id, sender, seq)
        if item is None or sender == deps.party:
            raise NotFound(f"no received message {seq} from {sender} on {channel_id}")
        if item.get("acknowledged_at"):
            raise Refused(f"message {seq} was already acknowledged by "
                          f"{item['acknowledged_by']}")
        item.update(acknowledged_at=now.isoformat(), acknowledged_by=user.username)
        uow.hotline.put_traffic(channel_id, sender, seq, item["kind"], item,
                                datetime.fromisoformat(item["sent_at"]))
        uow.outbox.enqueue(message_id=deps.ids(), peer=channel["partner"], kind="hotline_ack",
                           at=now, payload={"channel": channel_id, "seq": seq,
                                            "by": user.username, "at": now.isoformat()})
        record(uow, deps, user.username, "hotline.acknowledged", f"hotline:{channel_id}",
               {"sender": sender, "seq": seq})
        uow.commit()
    deps.publish(f"hotline:{channel_id}")
    return item


def sever(deps: Deps, user: User, channel_id: str) -> dict[str, Any]:
    """Either side may declare the line severed, unilaterally; the partner is told."""
    return _change_line(deps, user, channel_id, "sever",
                        lambda uow, channel: lambda s: h.sever(s, deps.party))


def reopen(deps: Deps, user: User, channel_id: str) -> dict[str, Any]:
    """Re-open a severed line, while its MOU is in force; the partner is told."""
    return _change_line(deps, user, channel_id, "reopen",
                        lambda uow, channel: lambda s: h.reopen(s, _mou_in_force(uow, deps,
                                                                                 channel)))


def _mou_in_force(uow: UnitOfWork, deps: Deps, channel: dict[str, Any]) -> bool:
    agreement = uow.agreements.get(channel["agreement"])
    return bool(agreement and status_at(agreement, deps.clock().date(), deps.rules).in_force)


def _change_line(deps: Deps, user: User, channel_id: str, act: str, change: Any,
                 ) -> dict[str, Any]:
    """Change the line's state here and send the same act to the partner's node."""
    require(user, Role.WATCH_OFFICER, Role.ADMIN)
    with deps.uow() as uow:
        channel = _channel(uow, channel_id)
        _set_status(uow, channel, change(uow, channel))
        uow.outbox.enqueue(message_id=deps.ids(), peer=channel["partner"],
                           kind=f"hotline_{act}", at=deps.clock(),
                           payload={"channel": channel_id})
        record(uow, deps, user.username, f"hotline.{act}", f"hotline:{channel_id}", {})
        uow.commit()
    deps.publish(f"hotline:{channel_id}")
    return channel


def _set_status(uow: UnitOfWork, channel: dict[str, Any], change: Any) -> None:
    try:
        channel["status"] = _status_to(change(_status_from(channel["status"])))
    except h.HotlineError as exc:
        raise Refused(str(exc)) from exc
    uow.hotline.put_channel(channel["id"], channel)


def place_due_calls(deps: Deps) -> int:
    """Place the check calls whose slots have come since the last pass (this side calls
    only where ``places_calls``); a severed line gets none."""
    now, placed = deps.clock(), []
    with deps.uow() as uow:
        for channel in uow.hotline.channels():
            if not channel.get("places_calls"):
                continue
            since = datetime.fromisoformat(channel["calls_placed_until"])
            due = h.calls_due(_status_from(channel["status"]), schedule_of(channel), since, now)
            channel["calls_placed_until"] = now.isoformat()
            uow.hotline.put_channel(channel["id"], channel)
            if due:  # one call for the slots just passed, however many
                placed.append(channel["id"])
        uow.commit()
    for channel_id in placed:
        try:
            check_call(deps, "scheduler", channel_id)
        except Refused:
            continue
    return len(placed)


def sweep(deps: Deps) -> int:
    """Record check calls left unanswered past the answer window as missed."""
    now, missed = deps.clock(), 0
    window = timedelta(seconds=deps.check_call_answer_s)
    with deps.uow() as uow:
        for channel in uow.hotline.channels():
            for call in uow.hotline.awaiting(channel["id"]):
                if call["kind"] != "check_call" or call["sender"] != deps.party or \
                        call.get("outcome") or \
                        datetime.fromisoformat(call["sent_at"]) + window > now:
                    continue
                _outcome(uow, deps, channel, call, h.CallOutcome.UNANSWERED, now)
                missed += 1
        uow.commit()
    return missed


def _outcome(uow: UnitOfWork, deps: Deps, channel: dict[str, Any], call: dict[str, Any],
             outcome: h.CallOutcome, at: datetime) -> None:
    tz = ZoneInfo(channel["schedule"]["tz"])
    if channel["status"]["state"] != h.LineState.SEVERED:
        _set_status(uow, channel, lambda s: h.record_call(s, outcome, at, tz))
    call["outcome"] = outcome.value
    uow.hotline.put_traffic(channel["id"], call["sender"], call["seq"], "check_call", call,
                            datetime.fromisoformat(call["sent_at"]))
    record(uow, deps, "hotline", "hotline.check_call", f"hotline:{channel['id']}",
           {"seq": call["seq"], "outcome": outcome.value,
            "state": channel["status"]["state"], "missed_days": channel["status"]["missed_days"]})


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
        channel = _channel(uow, channel_id)
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
            _channel(uow, channel_id)
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
            channel = _channel(uow, self.channel_id)
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


def channels(deps: Deps, user: User) -> list[dict[str, Any]]:
    require(user, Role.WATCH_OFFICER, Role.ADMIN)
    with deps.uow() as uow:
        return uow.hotline.channels()


# --- appliers (traffic from the partner) ---------------------------------------------


def _partner_channel(uow: UnitOfWork, sender: str, body: Any) -> dict[str, Any]:
    """Rule 1 (``domain.hotline_authority``): only the channel's partner writes on it."""
    channel_id = a.channel_of(body)
    channel = uow.hotline.channel(channel_id)
    if channel is None or channel["partner"] != sender:
        raise a.HotlineRefused(f"no hotline channel {channel_id[:128]} with {sender} here")
    return channel


def _refused(uow: UnitOfWork, deps: Deps, sender: str, channel_id: str, reason: str,
             detail: dict[str, Any]) -> str:
    """A conflict is recorded in the audit log as well as refused (rule 3)."""
    if reason.startswith("conflict"):
        record(uow, deps, f"peer:{sender}", "hotline.conflict", f"hotline:{channel_id}",
               {"sender": sender, "reason": reason, **detail})
    return reason


def apply_traffic(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """Rules 1-3: the partner's own message or call, validated whole, stored once."""
    now = deps.clock()
    try:
        channel = _partner_channel(uow, sender, body)
        if channel["status"]["state"] == h.LineState.SEVERED:
            return "the line is severed here: traffic refused"
        seq, kind, data, sent_at = a.traffic_from(body, now, RULES)
        held = uow.hotline.get_traffic(channel["id"], sender, seq)
        if held is not None:
            a.resend(held, kind, data, f"{kind} {seq} from {sender}")
            return None  # a duplicate: the transcript keeps what was delivered
    except a.HotlineRefused as exc:
        channel_id = body.get("channel") if isinstance(body, dict) else None
        return _refused(uow, deps, sender, str(channel_id)[:128], str(exc),
                        {"seq": body.get("seq") if isinstance(body, dict) else None})
    data["delivered_at"] = now.isoformat()
    uow.hotline.put_traffic(channel["id"], sender, seq, kind, data, sent_at)
    record(uow, deps, f"peer:{sender}", f"hotline.{kind}.received", f"hotline:{channel['id']}",
           {"seq": seq, "precedence": data.get("precedence")})
    return None


def apply_ack(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """Rule 4: the partner acknowledges a message or call of ours, once."""
    try:
        channel = _partner_channel(uow, sender, body)
        seq = a.seq_of(body)
        item = uow.hotline.get_traffic(channel["id"], deps.party, seq)
        if item is None:
            return f"no message {seq} of {deps.party} on {channel['id']} to acknowledge"
        by, at = a.ack_from(body, datetime.fromisoformat(item["sent_at"]), deps.clock())
        who = f"{sender}: {by}"
        if item.get("acknowledged_at"):
            if item.get("acknowledged_by") == who and item["acknowledged_at"] == at.isoformat():
                return None  # the same acknowledgement again: a duplicate
            raise a.HotlineRefused(f"conflict: message {seq} was already acknowledged by "
                                   f"{item.get('acknowledged_by')}")
    except a.HotlineRefused as exc:
        channel_id = body.get("channel") if isinstance(body, dict) else None
        return _refused(uow, deps, sender, str(channel_id)[:128], str(exc),
                        {"seq": body.get("seq") if isinstance(body, dict) else None,
                         "acknowledgement": True})
    item.update(acknowledged_at=at.isoformat(), acknowledged_by=who)
    uow.hotline.put_traffic(channel["id"], deps.party, item["seq"], item["kind"], item,
                            datetime.fromisoformat(item["sent_at"]))
    if item["kind"] == "check_call" and not item.get("outcome"):
        _outcome(uow, deps, channel, item, h.CallOutcome.ANSWERED, deps.clock())
    return None


def apply_sever(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    return _apply_line(uow, deps, sender, body, "sever",
                       lambda status, _in_force: status
                       if status.state is h.LineState.SEVERED else h.sever(status, sender))


def apply_reopen(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    return _apply_line(uow, deps, sender, body, "reopen", h.reopen)


def _apply_line(uow: UnitOfWork, deps: Deps, sender: str, body: Any, act: str,
                change: Callable[[h.LineStatus, bool], h.LineStatus]) -> str | None:
    """The partner's sever or reopen, applied to this side's copy of the line."""
    try:
        channel = _partner_channel(uow, sender, body)
    except a.HotlineRefused as exc:
        return str(exc)
    try:
        status = _status_from(channel["status"])
        channel["status"] = _status_to(change(status, _mou_in_force(uow, deps, channel)))
    except h.HotlineError as exc:
        return str(exc)
    uow.hotline.put_channel(channel["id"], channel)
    record(uow, deps, f"peer:{sender}", f"hotline.{act}", f"hotline:{channel['id']}",
           {"by": sender})
    return None


APPLIERS = {"hotline": apply_traffic, "hotline_ack": apply_ack, "hotline_sever": apply_sever,
            "hotline_reopen": apply_reopen}
