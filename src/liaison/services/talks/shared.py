"""What the three parts of the talks service share: the MOU that opens talks, loading and
storing talks with their minutes, sending to the partner, and the view both return.

Every function here runs inside the caller's unit of work; none commits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from liaison.domain import minutes as dm
from liaison.domain import talks as dt
from liaison.domain import talks_wire as wire
from liaison.domain.agreement_lifecycle import status_at
from liaison.domain.agreements import Agreement, AgreementKind
from liaison.domain.users import Role
from liaison.services.context import Deps
from liaison.services.errors import NotFound, Refused, ServiceError
from liaison.services.ports import UnitOfWork

DELEGATES = (Role.DELEGATE,)
CLOSING = ("cancel", "end")  # calling talks off needs no MOU in force
T = TypeVar("T")


def mou_opening_talks(uow: UnitOfWork, deps: Deps, other: str, likely: str | None = None) -> str:
    """The MOU in force today between this party and ``other`` that opens talks. ``likely``
    (the talks' own agreement) is looked at first: the live call checks on every event, and
    decoding one agreement instead of all of them is most of that check's cost."""
    today = deps.clock().date()

    def opens(a: Agreement) -> bool:
        return (a.kind is AgreementKind.MOU and "talks" in a.opens
                and {deps.party, other} <= set(a.parties)
                and status_at(a, today, deps.rules).in_force)

    found = uow.agreements.get(likely) if likely is not None else None
    if found is not None and opens(found):
        return found.id
    for a in uow.agreements.list():
        if opens(a):
            return a.id
    raise Refused(f"no MOU in force today between {deps.party} and {other} opens talks")


def load(uow: UnitOfWork, talks_id: str) -> tuple[dt.Talks, dm.Minutes | None]:
    """The talks ``talks_id`` and their minutes as stored here."""
    found = uow.talks.get(talks_id)
    if found is None:
        raise NotFound(f"no talks {talks_id} here")
    data, minutes = found
    try:
        return wire.talks_from(data), wire.minutes_from(minutes) if minutes else None
    except dt.TalksError as exc:
        raise Refused(f"talks {talks_id} as stored here break a rule ({exc}); an "
                      "administrator must look at them") from exc


def save(uow: UnitOfWork, deps: Deps, t: dt.Talks, m: dm.Minutes | None) -> None:
    """Store ``t`` and ``m`` and tell this node's pages they changed."""
    uow.talks.put(t.id, wire.talks_to(t), wire.minutes_to(m) if m else None, deps.clock())
    deps.publish(f"talks:{t.id}")


def send(uow: UnitOfWork, deps: Deps, t: dt.Talks, kind: str, body: dict[str, Any]) -> None:
    """Queue a message of ``kind`` about ``t`` for the other party's node."""
    uow.outbox.enqueue(message_id=deps.ids(), peer=t.other(deps.party), kind=kind,
                       payload={"talks_id": t.id, **body}, at=deps.clock())


def ruled(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, a broken talks rule refused (``Refused``) with its own message."""
    try:
        return fn(*args)
    except dt.TalksError as exc:
        raise Refused(str(exc)) from exc


def refusal(exc: Exception, what: str) -> str:
    """Why a partner's message is refused: a rule's own message, else what was malformed."""
    if isinstance(exc, ServiceError):
        return exc.message
    if isinstance(exc, dt.TalksError):
        return str(exc)
    return f"malformed {what}: {exc}"


def partner_field(body: Any, name: str, kind: type[T]) -> T:
    """``body[name]`` of type ``kind`` (a partner's message); ``TypeError`` otherwise."""
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{name} must be {kind.__name__}, not {type(value).__name__}")
    return value


def view_of(t: dt.Talks, m: dm.Minutes | None,
            relay: dict[str, Any] | None = None) -> dict[str, Any]:
    """The talks and their minutes as the API shows them."""
    data = wire.talks_to(t)
    data["current"] = wire.proposal_to(t.current)
    data["local_start"] = dt.local_start(t.current).isoformat()
    data["relay"] = relay  # None: host candidates only (a closed network has no STUN/TURN)
    # an MOU opens talks, not the exchange of classified information (docs/rules.md#talks)
    data["classification"] = "UNCLASSIFIED"
    data["minutes"] = wire.minutes_to(m) if m else None
    data["minutes_sealed"] = bool(m and dm.sealed(m))
    return data
