"""Talks proposed and answered: a proposal, a counter-proposal (amend), accept, decline,
cancel and end, by this party or received from the partner, under an MOU in force that opens
talks (calling talks off needs none). Every refusal changes nothing.
"""

from __future__ import annotations

from typing import Any

from liaison.domain import talks as dt
from liaison.domain import talks_wire as wire
from liaison.domain.users import User
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Invalid, Refused, ServiceError
from liaison.services.ports import UnitOfWork
from liaison.services.talks.shared import (
    CLOSING,
    DELEGATES,
    load,
    mou_opening_talks,
    partner_field,
    refusal,
    ruled,
    save,
    send,
    view_of,
)

ANSWERS = ("accept", "amend", "decline", "cancel", "end")


def propose(deps: Deps, user: User, counterpart: str, data: dict[str, Any]) -> dict[str, Any]:
    require(user, *DELEGATES)
    try:
        proposal = wire.proposal_from({**data, "version": 1, "by": deps.party}, "proposal")
    except (dt.TalksError, ValueError) as exc:
        raise Invalid(str(exc)) from exc
    with deps.uow() as uow:
        agreement = mou_opening_talks(uow, deps, counterpart)
        t = ruled(dt.propose, f"{deps.party}-{deps.ids()[:12]}", agreement, deps.party,
                    counterpart, proposal)
        view = view_of(t, None)  # before anything is stored: a view that fails stores nothing
        save(uow, deps, t, None)
        send(uow, deps, t, "talks", {"action": "propose", "talks": wire.talks_to(t)})
        record(uow, deps, user.username, "talks.proposed", f"talks:{t.id}",
               {"with": counterpart, "title": proposal.title})
        uow.commit()
    return view


def answer(deps: Deps, user: User, talks_id: str, action: str,
           data: dict[str, Any]) -> dict[str, Any]:
    """accept (version), amend (a proposal), decline or cancel (a reason), or end (an
    optional reason), as this party."""
    require(user, *DELEGATES)
    if action not in ANSWERS:
        raise Invalid(f"action {action!r}: accept, amend, decline, cancel or end")
    with deps.uow() as uow:
        t, m = load(uow, talks_id)
        if action not in CLOSING:
            mou_opening_talks(uow, deps, t.other(deps.party))
        t, body = _answered(t, deps.party, action, data)
        save(uow, deps, t, m)
        send(uow, deps, t, "talks", body)
        record(uow, deps, user.username, f"talks.{action}", f"talks:{t.id}",
               {"version": t.current.version})
        uow.commit()
    return view_of(t, m)


def _answered(t: dt.Talks, party: str, action: str,
              data: dict[str, Any]) -> tuple[dt.Talks, dict[str, Any]]:
    """``t`` after ``party``'s answer, and the message that tells the partner."""
    body: dict[str, Any] = {"action": action}
    if action == "accept":
        version = data.get("version")
        body["version"] = t.current.version if version is None else version
        return ruled(dt.accept, t, party, body["version"]), body
    if action == "amend":
        try:
            p = wire.proposal_from({**data, "version": t.current.version + 1, "by": party},
                                 "proposal")
        except (dt.TalksError, ValueError) as exc:
            raise Invalid(str(exc)) from exc
        body["proposal"] = wire.proposal_to(p)
        return ruled(dt.amend, t, party, p), body
    body["reason"] = str(data.get("reason") or "")
    fn = {"decline": dt.decline, "cancel": dt.cancel, "end": dt.end}[action]
    return ruled(fn, t, party, body["reason"]), body


def apply_talks(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """The partner proposed or answered: the same rules (and the MOU), applied to our
    copy. A refusal stores nothing."""
    try:
        action, talks_id = partner_field(body, "action", str), partner_field(body, "talks_id", str)
        if action == "propose":
            t, m = _received_proposal(uow, deps, sender, talks_id, body["talks"]), None
        else:
            t, m = load(uow, talks_id)
            t.other(sender)
            if action not in CLOSING:
                mou_opening_talks(uow, deps, sender)
            t = _received_answer(t, sender, action, body)
    except (ServiceError, KeyError, TypeError, ValueError) as exc:  # TalksError: a ValueError
        return refusal(exc, "talks message")
    save(uow, deps, t, m)
    record(uow, deps, f"peer:{sender}", f"talks.{action}.received", f"talks:{t.id}",
           {"version": t.current.version})
    return None


def _received_proposal(uow: UnitOfWork, deps: Deps, sender: str, talks_id: str,
                       data: Any) -> dt.Talks:
    t = wire.talks_from(data)
    if t.parties != (sender, deps.party) or len(t.proposals) != 1 \
            or t.state is not dt.TalksState.PROPOSED or t.id != talks_id:
        raise Refused("a proposal must come from its proposer, to this party")
    if uow.talks.get(t.id) is not None:
        raise Refused(f"talks {t.id} already exist here")
    mou_opening_talks(uow, deps, sender)
    return t


def _received_answer(t: dt.Talks, sender: str, action: str, body: Any) -> dt.Talks:
    if action == "accept":
        return dt.accept(t, sender, partner_field(body, "version", int))
    if action == "amend":
        return dt.amend(t, sender, wire.proposal_from(partner_field(body, "proposal", dict),
                                                    "proposal", t.parties))
    if action == "decline":
        return dt.decline(t, sender, partner_field(body, "reason", str))
    if action == "cancel":
        return dt.cancel(t, sender, partner_field(body, "reason", str))
    if action == "end":
        return dt.end(t, sender, partner_field(body, "reason", str))
    raise Refused(f"unknown talks action {action!r}")


def view(deps: Deps, user: User, talks_id: str) -> dict[str, Any]:
    require(user, *DELEGATES)
    with deps.uow() as uow:
        t, m = load(uow, talks_id)
    return view_of(t, m, deps.talks_relay)


def list_talks(deps: Deps, user: User) -> list[dict[str, Any]]:
    """Newest first. Talks stored before a rule existed and that break it now are left
    out (``view`` of one of them says why)."""
    require(user, *DELEGATES)
    with deps.uow() as uow:
        rows = uow.talks.list()
    out = []
    for data in rows:
        try:
            out.append(view_of(wire.talks_from(data), None))
        except dt.TalksError:
            continue
    return out
