"""Track feeds, the track-sharing policy, launch events and alerts (storage side).

The real-time path (``liaison.tracks.hub``) never touches the database per update: it works
from a ``TrackPolicy`` snapshot computed here, recomputed when one of its inputs changes
(``liaison.tracks.policy_watch``: the audit log names the change, or the date moves on) and
at once when a feed or area changes through the API. A snapshot that cannot be computed is
replaced by an empty one: nothing goes out (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from liaison.domain.agreement_lifecycle import status_at
from liaison.domain.agreements import Agreement
from liaison.domain.areas import AREA_TOPIC
from liaison.domain.codec import label_from, label_to
from liaison.domain.decoding import CodecError, field_of
from liaison.domain.items import Discipline, Grade
from liaison.domain.labels import LabelError, Party
from liaison.domain.release import ReleasePolicy
from liaison.domain.release_decision import Outcome
from liaison.domain.tracks import DEFAULT_GRADE, Feed, feed_item, validate_feed
from liaison.domain.users import Role, User
from liaison.services.agreements import load_parties
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.context import Deps
from liaison.services.errors import Invalid, NotFound
from liaison.services.ports import UnitOfWork
from liaison.services.releases import facts

FEED_ROLES = (Role.ADMIN, Role.RELEASE_OFFICER)
READERS = (Role.ANALYST, Role.RELEASE_OFFICER, Role.REVIEWER, Role.WATCH_OFFICER, Role.ADMIN)


# --- feeds ---------------------------------------------------------------------------


def feed_from(data: dict[str, Any], parties: dict[str, Party], own: str) -> Feed:
    try:
        label = label_from(field_of(data, "label", "", dict), parties, "label")
        feed = Feed(name=field_of(data, "name", "", str), title=field_of(data, "title", "", str),
                    label=label, topic=field_of(data, "topic", "", str, default="DPRK/missile"),
                    discipline=Discipline(field_of(data, "discipline", "", str,
                                                   default="MASINT")),
                    grade=Grade.parse(field_of(data, "grade", "", str,
                                               default=str(DEFAULT_GRADE))))
        validate_feed(feed)
    except (CodecError, LabelError, ValueError) as exc:
        raise Invalid(str(exc)) from exc
    if label.policy != own:
        raise Invalid(f"label.policy: a feed's label is in this node's scheme ({own})")
    return feed


def feed_to(feed: Feed) -> dict[str, Any]:
    return {"name": feed.name, "title": feed.title, "label": label_to(feed.label),
            "topic": feed.topic, "discipline": feed.discipline.value,
            "grade": str(feed.grade)}


def register_feed(deps: Deps, user: User, data: dict[str, Any]) -> dict[str, Any]:
    """Register or change a feed: the release officer's standing decision on the label
    its tracks carry (the engine still decides per partner and date). A change keeps the
    feed's owner and the sensors registered to it (``feed_sensors``)."""
    require(user, *FEED_ROLES)
    with deps.uow() as uow:
        parties = load_parties(uow)
        feed = feed_from(data, parties, deps.party)
        held = next((d for d in uow.tracks.feeds() if d["name"] == feed.name), {})
        out = {**feed_to(feed), "owner": held.get("owner", user.username),
               "sensors": list(held.get("sensors", []))}
        uow.tracks.put_feed(feed.name, out, deps.clock())
        record(uow, deps, user.username, "track_feed.registered", f"feed:{feed.name}",
               {"label": out["label"], "topic": feed.topic})
        uow.commit()
    return out


def list_feeds(deps: Deps, user: User) -> list[dict[str, Any]]:
    """The feeds whose label ``user`` may see (a feed above it is not named)."""
    require(user, *READERS)
    with deps.uow() as uow:
        parties = load_parties(uow)
        docs = uow.tracks.feeds()
    return [d for d in docs if may_see_feed(user, feed_from(d, parties, deps.party),
                                            parties[deps.party])]


def may_see_feed(user: User, feed: Feed, party: Party) -> bool:
    rank = party.scheme.level(feed.label.classification).rank
    return user.clearance.may_see(feed.label, rank, feed.topic)


def write_refusal(policy: TrackPolicy, user: User, feed_name: str) -> str | None:
    """Why ``user`` may not write into ``feed_name`` now, or ``None`` (issue 18). A sensor
    writes only into the feeds registered to it; everyone writes only into feeds within
    their clearance. A feed that is missing, not registered to the sensor or above a watch
    officer's clearance gets one answer: existence never leaks."""
    feed = policy.feeds.get(feed_name)
    if feed is None and policy.error:
        return None  # the hub refuses every update and says why
    registered = feed is not None and user.username in policy.writers.get(feed_name, ())
    if feed is None or (Role.SENSOR in user.roles and not registered) or (
            not registered and not may_see_feed(user, feed, policy.parties[policy.own])):
        return (f"no feed {feed_name!r} is registered that you may write into: an "
                f"administrator registers a sensor to a feed (`liaison tracks feed-sensor`)")
    if not may_see_feed(user, feed, policy.parties[policy.own]):
        return (f"feed {feed_name!r} carries a label above your clearance: nothing is "
                f"accepted until an administrator raises the account's clearance or "
                f"changes the feed's label")
    return None


def load_feeds(deps: Deps) -> dict[str, Feed]:
    with deps.uow() as uow:
        parties = load_parties(uow)
        return {d["name"]: feed_from(d, parties, deps.party) for d in uow.tracks.feeds()}


# --- the sharing policy snapshot -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Route:
    partner: str
    agreement: str
    level: str  # the partner's equivalent level


@dataclass(frozen=True)
class TrackPolicy:
    day: date
    own: str
    parties: dict[str, Party] = field(default_factory=dict)
    feeds: dict[str, Feed] = field(default_factory=dict)
    routes: dict[str, tuple[Route, ...]] = field(default_factory=dict)  # feed -> partners
    refusals: dict[str, dict[str, str]] = field(default_factory=dict)  # feed -> partner -> why
    inbound: dict[str, dict[str, Agreement]] = field(default_factory=dict)  # peer -> id -> ag
    error: str = ""
    writers: dict[str, frozenset[str]] = field(default_factory=dict)  # feed -> sensors

    def may_receive_from(self, sender: str, agreement_id: str) -> Agreement | None:
        return self.inbound.get(sender, {}).get(agreement_id)


def track_policy(deps: Deps) -> TrackPolicy:
    """Which partner may receive which feed today, and under which agreement each partner
    may send tracks here. Only direct routes: tracks are never relayed."""
    day = deps.clock().date()
    try:
        with deps.uow() as uow:
            f = facts(uow, deps)
            peers = [p.party for p in uow.peers.list()]
            parties = dict(f.parties)
            docs = uow.tracks.feeds()
            feeds = {d["name"]: feed_from(d, parties, deps.party) for d in docs}
            writers = {d["name"]: frozenset(d.get("sensors", [])) for d in docs}
    except Exception as exc:  # fail closed: an empty policy sends nothing
        return TrackPolicy(day, deps.party, error=f"{exc.__class__.__name__}: {exc}")
    policy = ReleasePolicy(f)
    routes: dict[str, list[Route]] = {name: [] for name in feeds}
    refusals: dict[str, dict[str, str]] = {name: {} for name in feeds}
    for partner in peers:
        per = policy.for_partner(partner, day)
        for name, feed in feeds.items():
            decision = per.decide(feed_item(feed, deps.party))
            if (decision.outcome is Outcome.ALLOWED and not decision.route
                    and decision.agreement_id and decision.recipient_level):
                routes[name].append(Route(partner, decision.agreement_id,
                                          decision.recipient_level))
            else:
                refusals[name][partner] = decision.summary
    inbound: dict[str, dict[str, Agreement]] = {}
    for ag in f.agreements:
        if deps.party in ag.parties and status_at(ag, day, deps.rules).in_force:
            for party in ag.parties:
                if party != deps.party and party in peers:
                    inbound.setdefault(party, {})[ag.id] = ag
    return TrackPolicy(day, deps.party, parties, feeds,
                       {k: tuple(v) for k, v in routes.items()}, refusals, inbound,
                       writers=writers)


def policy_view(policy: TrackPolicy) -> dict[str, Any]:
    return {"day": policy.day.isoformat(), "error": policy.error,
            "feeds": {name: {"to": [{"partner": r.partner, "agreement": r.agreement,
                                     "level": r.level} for r in policy.routes.get(name, ())],
                             "not_to": policy.refusals.get(name, {})}
                      for name in policy.feeds},
            "accepting_from": {p: sorted(a) for p, a in policy.inbound.items()}}


# --- launch events and alerts --------------------------------------------------------


def record_launch(deps: Deps, data: dict[str, Any]) -> None:
    with deps.uow() as uow:
        uow.tracks.add_launch(data["id"], int(data["revision"]), data, deps.clock())
        record(uow, deps, "tracks", "launch_event.revised", f"launch:{data['id']}",
               {"revision": data["revision"], "summary": data.get("summary", "")})
        uow.commit()


def record_alert(deps: Deps, data: dict[str, Any]) -> None:
    with deps.uow() as uow:
        uow.tracks.add_alert(data["id"], data["area_id"], data, deps.clock())
        uow.commit()


def _readable(uow: UnitOfWork, deps: Deps, user: User,
              rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The launch events or alerts ``user`` may see: each carries the label of the track
    it came from, and an alert its area's label too (it names the area: the reader must
    be cleared for both); an unreadable one, or an alert without its area's label, is hidden
    (fail closed)."""
    parties = load_parties(uow)
    own = parties[deps.party].scheme
    out = []
    for row in rows:
        try:
            label = label_from(row["label"], parties, "label")
            seen = user.clearance.may_see(label, int(row["rank"]), str(row["topic"]))
            if seen and row.get("type") == "alert":
                area = label_from(row["area_label"], parties, "area_label")
                seen = user.clearance.may_see(area, own.level(area.classification).rank,
                                              AREA_TOPIC)
        except (CodecError, KeyError, TypeError, ValueError, LabelError):
            continue
        if seen:
            out.append(row)
    return out


def list_launches(deps: Deps, user: User, limit: int) -> list[dict[str, Any]]:
    require(user, *READERS)
    with deps.uow() as uow:
        return _readable(uow, deps, user, uow.tracks.launches(10_000))[:limit]


def launch_history(deps: Deps, user: User, event_id: str) -> list[dict[str, Any]]:
    require(user, *READERS)
    with deps.uow() as uow:
        seen = _readable(uow, deps, user, uow.tracks.launch_history(event_id))
    if not seen:
        raise NotFound(f"no launch event {event_id} that you may see")
    return seen


def list_alerts(deps: Deps, user: User, limit: int) -> list[dict[str, Any]]:
    require(user, *READERS)
    with deps.uow() as uow:
        return _readable(uow, deps, user, uow.tracks.alerts(10_000))[:limit]
