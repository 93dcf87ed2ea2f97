"""The line itself: opening a channel under an MOU, messages with precedence,
acknowledgements, check calls on the schedule and their outcomes, severance and
re-opening; each act here is sent to the partner's node as a signed message."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from liaison.domain import hotline as h
from liaison.domain.agreement_lifecycle import status_at
from liaison.domain.agreements import AgreementKind
from liaison.domain.users import Role, User
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Invalid, NotFound, Refused
from liaison.services.ports import UnitOfWork

RULES = h.HotlineRules()


def status_to(s: h.LineStatus) -> dict[str, Any]:
    """The line's status as the channel stores it."""
    return {"state": s.state.value, "missed_days": s.missed_days,
            "last_missed_day": s.last_missed_day.isoformat() if s.last_missed_day else None,
            "last_answered": s.last_answered.isoformat() if s.last_answered else None,
            "severed_by": s.severed_by}


def status_from(d: dict[str, Any]) -> h.LineStatus:
    """The line's status from the channel's stored form."""
    return h.LineStatus(h.LineState(d["state"]), d["missed_days"],
                        date.fromisoformat(d["last_missed_day"]) if d["last_missed_day"]
                        else None,
                        datetime.fromisoformat(d["last_answered"]) if d["last_answered"]
                        else None, d["severed_by"])


def schedule_of(channel: dict[str, Any]) -> h.Schedule:
    s = channel["schedule"]
    return h.Schedule(tuple(time.fromisoformat(t) for t in s["times"]),
                      frozenset(s["weekdays"]), ZoneInfo(s["tz"]))


def stored_channel(uow: UnitOfWork, channel_id: str) -> dict[str, Any]:
    """The channel, or ``NotFound``."""
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
                   "status": status_to(h.LineStatus()), "places_calls": places_calls,
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
        channel = stored_channel(uow, channel_id)
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
        channel = stored_channel(uow, channel_id)
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
                        lambda uow, channel: lambda s: h.reopen(s, mou_in_force(uow, deps,
                                                                                 channel)))


def mou_in_force(uow: UnitOfWork, deps: Deps, channel: dict[str, Any]) -> bool:
    """The agreement the line runs under is in force today."""
    agreement = uow.agreements.get(channel["agreement"])
    return bool(agreement and status_at(agreement, deps.clock().date(), deps.rules).in_force)


def _change_line(deps: Deps, user: User, channel_id: str, act: str, change: Any,
                 ) -> dict[str, Any]:
    """Change the line's state here and send the same act to the partner's node."""
    require(user, Role.WATCH_OFFICER, Role.ADMIN)
    with deps.uow() as uow:
        channel = stored_channel(uow, channel_id)
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
        channel["status"] = status_to(change(status_from(channel["status"])))
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
            due = h.calls_due(status_from(channel["status"]), schedule_of(channel), since, now)
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
                record_call_outcome(uow, deps, channel, call, h.CallOutcome.UNANSWERED, now)
                missed += 1
        uow.commit()
    return missed


def record_call_outcome(uow: UnitOfWork, deps: Deps, channel: dict[str, Any],
                        call: dict[str, Any], outcome: h.CallOutcome, at: datetime) -> None:
    """A check call of ours answered or missed: the line's status, the call, the audit."""
    tz = ZoneInfo(channel["schedule"]["tz"])
    if channel["status"]["state"] != h.LineState.SEVERED:
        _set_status(uow, channel, lambda s: h.record_call(s, outcome, at, tz))
    call["outcome"] = outcome.value
    uow.hotline.put_traffic(channel["id"], call["sender"], call["seq"], "check_call", call,
                            datetime.fromisoformat(call["sent_at"]))
    record(uow, deps, "hotline", "hotline.check_call", f"hotline:{channel['id']}",
           {"seq": call["seq"], "outcome": outcome.value,
            "state": channel["status"]["state"], "missed_days": channel["status"]["missed_days"]})


def channels(deps: Deps, user: User) -> list[dict[str, Any]]:
    require(user, Role.WATCH_OFFICER, Role.ADMIN)
    with deps.uow() as uow:
        return uow.hotline.channels()
