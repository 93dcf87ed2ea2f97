"""The partner's traffic on a line, applied here (``domain.hotline_authority`` says what
the partner may write): its messages and check calls, its acknowledgements of ours, and
its severing or re-opening of the line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from liaison.domain import hotline as h
from liaison.domain import hotline_authority as a
from liaison.services.audit_trail import record
from liaison.services.context import Deps
from liaison.services.hotline.line import (
    RULES,
    mou_in_force,
    record_call_outcome,
    status_from,
    status_to,
)
from liaison.services.ports import UnitOfWork


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
        record_call_outcome(uow, deps, channel, item, h.CallOutcome.ANSWERED, deps.clock())
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
        status = status_from(channel["status"])
        channel["status"] = status_to(change(status, mou_in_force(uow, deps, channel)))
    except h.HotlineError as exc:
        return str(exc)
    uow.hotline.put_channel(channel["id"], channel)
    record(uow, deps, f"peer:{sender}", f"hotline.{act}", f"hotline:{channel['id']}",
           {"by": sender})
    return None


APPLIERS = {"hotline": apply_traffic, "hotline_ack": apply_ack, "hotline_sever": apply_sever,
            "hotline_reopen": apply_reopen}
