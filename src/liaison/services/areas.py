"""Areas and targets of interest: kept, shown by clearance, and shared with partners under
the agreements like items (the engine decides per partner; only what it allows is queued).
A partner's area is re-marked on receipt (docs/rules.md#receiver-marks) and kept under the
partner's id."""

from __future__ import annotations

from typing import Any

from liaison.domain.agreement_lifecycle import status_at
from liaison.domain.areas import AREA_TOPIC, Area, AreaKind, validate_area
from liaison.domain.codec import label_from, label_to
from liaison.domain.decoding import CodecError, field_of
from liaison.domain.items import Discipline, Grade, Item, Portion, PortionKind
from liaison.domain.labels import LabelError, Party
from liaison.domain.release import ReleasePolicy
from liaison.domain.release_decision import Outcome
from liaison.domain.users import Role, User
from liaison.services import taxii
from liaison.services.agreements import load_parties
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Invalid, NotFound
from liaison.services.federation.outbox import enqueue
from liaison.services.ports import UnitOfWork
from liaison.services.receiving import remark_label
from liaison.services.releases import facts

EDITORS = (Role.ANALYST, Role.WATCH_OFFICER, Role.RELEASE_OFFICER)
READERS = (Role.ANALYST, Role.RELEASE_OFFICER, Role.REVIEWER, Role.WATCH_OFFICER, Role.ADMIN)


def area_from(data: dict[str, Any], parties: dict[str, Party], originator: str) -> Area:
    try:
        polygon = field_of(data, "polygon", "", list, default=[])
        center = field_of(data, "center", "", list, default=None)
        area = Area(
            id=field_of(data, "id", "", str), name=field_of(data, "name", "", str),
            kind=AreaKind(field_of(data, "kind", "", str, default="other")),
            priority=field_of(data, "priority", "", int, default=3),
            label=label_from(field_of(data, "label", "", dict), parties, "label"),
            originator=field_of(data, "originator", "", str, default=originator),
            polygon=tuple((float(p[0]), float(p[1])) for p in polygon),
            center=(float(center[0]), float(center[1])) if center else None,
            radius_m=field_of(data, "radius_m", "", float, default=0.0))
        validate_area(area)
    except (CodecError, LabelError, ValueError, TypeError, IndexError) as exc:
        raise Invalid(f"area: {exc}") from exc
    return area


def area_to(area: Area) -> dict[str, Any]:
    return {"id": area.id, "name": area.name, "kind": area.kind.value,
            "priority": area.priority, "label": label_to(area.label),
            "originator": area.originator, "polygon": [list(p) for p in area.polygon],
            "center": list(area.center) if area.center else None, "radius_m": area.radius_m}


def area_item(area: Area) -> Item:
    """The one-portion item the release engine decides for an area."""
    return Item(f"area:{area.id}", area.originator, Discipline.GEOINT, AREA_TOPIC,
                Grade("B", 2), area.name, area.label.created,
                (Portion("area", PortionKind.TEXT, area.name, area.label),))


def load_areas(deps: Deps) -> list[Area]:
    with deps.uow() as uow:
        parties = load_parties(uow)
        return [area_from(d, parties, deps.party) for d in uow.tracks.areas()]


def add_area(deps: Deps, user: User, data: dict[str, Any],
             share_with: list[str] | None = None) -> dict[str, Any]:
    """Keep an area and share it with each named partner the engine allows (all partners
    when ``share_with`` is None). The answer lists where it went and why not elsewhere."""
    require(user, *EDITORS)
    with deps.uow() as uow:
        parties = load_parties(uow)
        area = area_from({**data, "originator": deps.party}, parties, deps.party)
        if area.label.policy != deps.party:
            raise Invalid(f"label.policy: an area's label is in this node's scheme "
                          f"({deps.party})")
        own = parties[deps.party].scheme
        if not user.clearance.may_see(area.label, own.level(area.label.classification).rank,
                                      AREA_TOPIC):
            raise Invalid("you may only mark an area within your clearance")
        uow.tracks.put_area(area.id, area_to(area), deps.clock())
        shared, not_shared = _share(uow, deps, area, share_with)
        record(uow, deps, user.username, "area.saved", f"area:{area.id}",
               {"shared_with": shared, "not_shared": not_shared})
        uow.commit()
    return {**area_to(area), "shared_with": shared, "not_shared": not_shared}


def _share(uow: UnitOfWork, deps: Deps, area: Area,
           share_with: list[str] | None) -> tuple[list[str], dict[str, str]]:
    peers = [p.party for p in uow.peers.list()]
    targets = peers if share_with is None else share_with
    unknown = sorted(set(targets) - set(peers))
    if unknown:
        raise Invalid(f"not partner nodes here: {', '.join(unknown)}")
    day = deps.clock().date()
    policy = ReleasePolicy(facts(uow, deps))
    shared, refused = [], {}
    for partner in targets:
        decision = policy.for_partner(partner, day).decide(area_item(area))
        if decision.outcome is Outcome.ALLOWED and not decision.route:
            enqueue(uow, deps, partner, "area", {"agreement": decision.agreement_id,
                                                 "area": area_to(area)})
            taxii.publish_area(uow, deps, partner, area)
            shared.append(partner)
        else:
            refused[partner] = decision.summary
    return shared, refused


def list_areas(deps: Deps, user: User) -> list[dict[str, Any]]:
    require(user, *READERS)
    with deps.uow() as uow:
        parties = load_parties(uow)
        rows = uow.tracks.areas()
    return [row for row in rows if _may_see(user, area_from(row, parties, deps.party),
                                            parties[deps.party])]


def remove_area(deps: Deps, user: User, area_id: str) -> None:
    """Remove an area the user may see; the same answer for a hidden area as for a
    missing one, so its existence does not leak (and it stays)."""
    require(user, *EDITORS)
    with deps.uow() as uow:
        parties = load_parties(uow)
        row = next((r for r in uow.tracks.areas() if r.get("id") == area_id), None)
        if row is None or not _may_see(user, area_from(row, parties, deps.party),
                                       parties[deps.party]):
            raise NotFound(f"no area {area_id} that you may see")
        uow.tracks.remove_area(area_id)
        record(uow, deps, user.username, "area.removed", f"area:{area_id}", {})
        uow.commit()


def _may_see(user: User, area: Area, own: Party) -> bool:
    rank = own.scheme.level(area.label.classification).rank
    return user.clearance.may_see(area.label, rank, AREA_TOPIC)


def apply_area(uow: UnitOfWork, deps: Deps, sender: str, body: Any) -> str | None:
    """A partner's area: under an agreement in force with it, re-marked in our scheme."""
    try:
        agreement_id, data = str(body["agreement"]), dict(body["area"])
    except (KeyError, TypeError, ValueError):
        return "malformed area"
    agreement = uow.agreements.get(agreement_id)
    # shared under an agreement between the sender and us: no partner touches an
    # agreement between other parties (issue 17)
    if agreement is None or not {sender, deps.party} <= agreement.parties or not status_at(
            agreement, deps.clock().date(), deps.rules).in_force:
        return f"no agreement {agreement_id} in force with {sender} here"
    parties = load_parties(uow)
    try:
        theirs = area_from({**data, "originator": sender}, parties, sender)
        label = remark_label(theirs.label, parties[sender], agreement, parties[deps.party])
    except (Invalid, LabelError) as exc:
        return str(exc)
    local = {**area_to(theirs), "id": f"{sender}:{theirs.id}", "label": label_to(label)}
    uow.tracks.put_area(local["id"], local, deps.clock())
    return None


APPLIERS = {"area": apply_area}
