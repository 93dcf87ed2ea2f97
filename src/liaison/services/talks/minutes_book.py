"""The minutes of accepted talks: drafted, edited and signed here, each change sent to the
partner; the partner's changes kept as the domain decides once their signatures verify; each
side's signature checked against that side's published keys.
"""

from __future__ import annotations

from typing import Any

from liaison.crypto import signed_minutes
from liaison.domain import minutes as dm
from liaison.domain import talks as dt
from liaison.domain import talks_wire as wire
from liaison.domain.users import User
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import NotFound, Refused, ServiceError
from liaison.services.federation import keyring
from liaison.services.ports import UnitOfWork
from liaison.services.talks.shared import (
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


def _own_keys(deps: Deps) -> signed_minutes.Keys:
    """This node's own signing keys usable now."""
    card = keyring(deps).card(deps.party, deps.address, deps.clock())
    return signed_minutes.usable_keys(card.signing_keys, deps.clock())


def minutes(deps: Deps, user: User, talks_id: str, changes: dict[str, Any] | None,
            sign: bool, revision: int | None = None) -> dict[str, Any]:
    """Draft, edit and/or sign the minutes; every change goes to the partner.

    ``revision`` is the revision the user last saw (0: none yet): when the minutes have
    changed since (the partner's edit arrived), nothing is done and the user is told to
    reload. A request that changes nothing on existing minutes stores and sends nothing.
    """
    require(user, *DELEGATES)
    with deps.uow() as uow:
        t, m = load(uow, talks_id)
        ruled(dm.need_minutes, t)
        mou_opening_talks(uow, deps, t.other(deps.party))
        now = m.revision if m else 0
        if revision is not None and revision != now:
            raise Refused(f"the minutes changed (now revision {now}); reload and edit again")
        if m is not None and not changes and not sign:
            return view_of(t, m)
        if m is None:
            m = ruled(dm.draft, t, deps.party)
        if changes:
            m = ruled(_edit, m, deps.party, changes)
        if sign:
            key_id, key = keyring(deps).signer(deps.clock())
            m = ruled(signed_minutes.sign, m, deps.party, key_id, key, deps.clock())
        save(uow, deps, t, m)
        send(uow, deps, t, "talks_minutes", {"minutes": wire.minutes_to(m)})
        record(uow, deps, user.username, "talks.minutes.signed" if sign else
               "talks.minutes.edited", f"talks:{t.id}", {"revision": m.revision})
        uow.commit()
    return view_of(t, m)


def _edit(m: dm.Minutes, party: str, changes: dict[str, Any]) -> dm.Minutes:
    """``dm.edit`` with the request's plain data (lists become tuples; anything else is
    left for the domain to refuse, naming the field)."""
    def seq(raw: Any) -> Any:
        return tuple(raw) if isinstance(raw, list) else raw

    attendance = changes.get("attendance")
    if isinstance(attendance, dict):
        attendance = {str(k): seq(v) for k, v in attendance.items()}
    return dm.edit(m, party, attendance=attendance, outcomes=changes.get("outcomes"),
                   agreed=seq(changes.get("agreed")))


def apply_minutes(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """The partner's edit or signature, kept as ``signed_minutes.receive_minutes`` decides: every
    signature on it verifies against the signer's published keys, the talks may have
    minutes, the MOU is in force, and the minutes fit the talks."""
    try:
        incoming = wire.minutes_from(partner_field(body, "minutes", dict), "minutes")
        t, m = load(uow, partner_field(body, "talks_id", str))
        t.other(sender)
        dm.check_minutes(t, incoming)
        mou_opening_talks(uow, deps, sender)
        peer = uow.peers.get(sender)
        if peer is None:
            raise Refused(f"{sender} is not a partner here")
        keys = {sender: signed_minutes.usable_keys(peer.card.signing_keys, deps.clock()),
                deps.party: _own_keys(deps)}
        kept = signed_minutes.receive_minutes(m, incoming, sender, keys)
    except (ServiceError, KeyError, TypeError, ValueError) as exc:  # TalksError: a ValueError
        return refusal(exc, "minutes")
    save(uow, deps, t, kept)
    record(uow, deps, f"peer:{sender}", "talks.minutes.received", f"talks:{t.id}",
           {"revision": kept.revision, "signed_by": sorted(kept.signatures)})
    return None


def verify_minutes(deps: Deps, user: User, talks_id: str) -> dict[str, str]:
    """Each side's signature checked against that side's published keys."""
    require(user, *DELEGATES)
    with deps.uow() as uow:
        t, m = load(uow, talks_id)
        peers = {p.party: p for p in uow.peers.list()}
    if m is None:
        raise NotFound(f"talks {talks_id} have no minutes yet")
    out = {}
    for party in t.parties:
        keys = _own_keys(deps) if party == deps.party else (
            signed_minutes.usable_keys(peers[party].card.signing_keys, deps.clock())
            if party in peers else {})
        try:
            signed_minutes.verify(m, party, keys)
            out[party] = "verified"
        except dt.TalksError as exc:
            out[party] = f"not verified: {exc}"
    return out
