"""A small reference model of what may leave a Liaison node and who may see what, written
from the domain rules alone (docs/rules.md), to judge the real engine against.

It imports nothing from ``liaison``: worlds are described here as plain data (``World``)
and the tests build a real node from the same description. Each clause names the rule
it stands for (docs/rules.md); (I) marks our own inference, as the rules do.

What the model decides:

- ``rule(world, item, recipient, day)``: may ``item`` go to ``recipient`` on ``day``, which
  portions (the tearline), marked at which level of the recipient's scheme, under which
  agreement and through which hub.
- ``may_see(world, clearance, label, topic)``: may a person of this node see a portion.
- ``track_route(world, feed, partner, day)``: may a sensor feed's tracks go to a partner.

Settings the model assumes (the node's defaults): the 90th day before an anniversary is in
time for a notice; the reciprocity hold is not used by the generated agreements.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

NOTICE_DAYS = 90  # docs/rules.md#term-and-renewal: written notice 90 days before an anniversary
PARENT = {"COMINT": "SIGINT", "ELINT": "SIGINT", "FISINT": "SIGINT", "IMINT": "GEOINT"}


# --- the world, as data ----------------------------------------------------------------


@dataclass(frozen=True)
class PartyModel:
    """A government and its own ordered national levels (docs/rules.md#parties)."""

    code: str
    levels: tuple[str, ...]  # classified levels, highest first
    unclassified: str

    def rank(self, level: str) -> int:
        """0 for unclassified; the lowest classified level is 1."""
        if level == self.unclassified:
            return 0
        return len(self.levels) - self.levels.index(level)

    def level_at(self, rank: int) -> str:
        return self.unclassified if rank == 0 else self.levels[len(self.levels) - rank]


@dataclass(frozen=True)
class AgreementModel:
    id: str
    kind: str  # GSOMIA | ARRANGEMENT | MOU
    parties: frozenset[str]
    rows: tuple[Mapping[str, tuple[str, ...]], ...] = ()  # equivalence table rows
    hub: str | None = None
    disciplines: frozenset[str] | None = None  # None: no limit
    topics: frozenset[str] | None = None  # None: no limit
    ceiling: str | None = None  # the owner's highest level that may pass under it
    events: tuple[tuple[str, date], ...] = ()  # (kind, day), in date order: the owner's
    # partners' acts recorded from their notes (``partner_note``): (kind, day, party)
    partner_events: tuple[tuple[str, date, str], ...] = ()


@dataclass(frozen=True)
class LabelModel:
    level: str  # in the owner's scheme
    originator: str
    rel_to: frozenset[str] | None = None
    eyes_only: frozenset[str] | None = None
    noforn: bool = False
    orcon: bool = False
    compartments: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PortionModel:
    id: str
    content: str
    label: LabelModel


@dataclass(frozen=True)
class ItemModel:
    id: str
    discipline: str
    topic: str
    title: str
    reported_at: datetime
    portions: tuple[PortionModel, ...]


@dataclass(frozen=True)
class ConsentModel:
    originator: str
    recipient: str
    item_id: str  # "*": every item


@dataclass(frozen=True)
class ClearanceModel:
    rank: int  # in the owner's scheme
    compartments: frozenset[str] = frozenset()
    topics: frozenset[str] | None = None  # None: every topic


@dataclass(frozen=True)
class FeedModel:
    name: str
    label: LabelModel
    topic: str
    discipline: str


@dataclass(frozen=True)
class World:
    owner: str
    parties: Mapping[str, PartyModel]
    agreements: tuple[AgreementModel, ...]
    items: tuple[ItemModel, ...] = ()
    consents: tuple[ConsentModel, ...] = ()
    feeds: tuple[FeedModel, ...] = ()
    peers: frozenset[str] = field(default_factory=frozenset)

    @property
    def scheme(self) -> PartyModel:
        return self.parties[self.owner]


class Outcome(StrEnum):
    ALLOWED = "allowed"
    HELD = "held"
    DENIED = "denied"


@dataclass(frozen=True)
class Ruling:
    outcome: Outcome
    tearline: tuple[str, ...] = ()
    level: str | None = None  # the recipient's marking of the highest portion that passes
    route: tuple[str, ...] = ()
    agreement: str | None = None


DENIED = Ruling(Outcome.DENIED)


# --- agreements in force (docs/rules.md#term-and-renewal) ---------------------------------


def anniversary(start: date, years: int) -> date:
    """Same day ``years`` later; 29 February falls on 28 February (I)."""
    year = start.year + years
    if (start.month, start.day) == (2, 29):
        return date(year, 2, 28)
    return start.replace(year=year)


def end_after_notice(start: date, notice: date) -> date:
    """Art. 21: renewal at each anniversary unless written notice came 90 days before it
    (the 90th day counts); the agreement then ends at the end of the day before."""
    years = 1
    while (anniversary(start, years) - notice).days < NOTICE_DAYS:
        years += 1
    return anniversary(start, years) - timedelta(days=1)


def in_force(agreement: AgreementModel, day: date) -> bool:
    """Art. 21, replayed event by event up to ``day``. A notice fixes the last day; a
    suspended or withdrawn notice lets the agreement renew again; reactivating it counts as
    notice given that day (docs/rules.md#notice-2019). Termination is final: no new transfers
    after it, and nothing recorded later revives the agreement. Each party's notice is its
    own (docs/rules.md#own-acts): the earliest active one fixes the last day."""
    start, last, _ = _replay(agreement, day)
    return start is not None and start <= day and (last is None or day <= last)


def _timeline(agreement: AgreementModel) -> list[tuple[str, date, str]]:
    """The owner's records and the partners' recorded acts, in date order (a partner's
    after the owner's of the same day)."""
    ours = [(kind, on, OWNER_ACT) for kind, on in agreement.events]
    return sorted([*ours, *agreement.partner_events], key=lambda e: e[1])


OWNER_ACT = ""  # the party of the owner's own records


def _replay(agreement: AgreementModel, day: date,
            ) -> tuple[date | None, date | None, dict[str, tuple[date, bool]]]:
    """Entry into force, the last day in force (once fixed) and the notices in effect
    (giver: (given on, suspended)) after the events up to ``day``."""
    start: date | None = None
    ended: date | None = None  # the day before a termination
    notices: dict[str, tuple[date, bool]] = {}

    def last() -> date | None:
        ends = [end_after_notice(start, g) for g, held in notices.values()
                if not held and start is not None]
        return min([*ends, *([ended] if ended else [])], default=None)

    for kind, on, by in _timeline(agreement):
        fixed = last()
        if on > day or (fixed is not None and on > fixed):
            break
        if kind == "ENTERED_INTO_FORCE" and by == OWNER_ACT:
            start, ended, notices = on, None, {}
        elif kind == "TERMINATED":
            ended = on - timedelta(days=1)
        elif start is None:
            continue
        elif kind in ("NOTICE_GIVEN", "NOTICE_REACTIVATED"):
            notices[by] = (on, False)
        elif kind == "NOTICE_SUSPENDED" and by in notices:
            notices[by] = (notices[by][0], True)
        elif kind == "NOTICE_WITHDRAWN":
            notices.pop(by, None)
    return start, last(), notices


SKEW = timedelta(days=1)  # a partner's day may be our tomorrow (time zones)
ON_NOTICE = ("NOTICE_SUSPENDED", "NOTICE_REACTIVATED", "NOTICE_WITHDRAWN")


def partner_note(agreement: AgreementModel, owner: str, sender: str, kind: str, on: date,
                 by: str, today: date) -> AgreementModel:
    """A partner's note of an act, as the owner records it (issue 17, from
    docs/rules.md#own-acts): the agreement unchanged when the note is refused.

    A partner records only its own acts, on an agreement between it and the owner, never a
    signature; on an arrangement of several parties only what binds itself alone; dated
    from the signature to the owner's day plus a day, not before its own last act, not
    after the agreement ended. Its entry into force is its notification, which never
    brings the agreement into force alone (the owner's records carry the owner's entry
    into force). Only the party that gave a notice may suspend, reactivate or withdraw it
    (a reactivation without any notice counts as a notice given)."""
    if by != sender or sender == owner or not {sender, owner} <= agreement.parties:
        return agreement
    if kind == "SIGNED" or (len(agreement.parties) > 2 and kind not in (
            "ENTERED_INTO_FORCE", "WITHDRAWN")):
        return agreement
    # signed by the first of its signature and its entry into force (an agreement in
    # force was signed by then)
    signed = min((d for k, d in agreement.events if k in ("SIGNED", "ENTERED_INTO_FORCE")),
                 default=None)
    if signed is None or not signed <= on <= today + SKEW:
        return agreement
    own = [d for _, d, p in agreement.partner_events if p == sender]
    if own and on < max(own):
        return agreement
    start, last, notices = _replay(agreement, on)
    if start is not None and last is not None and on > last:
        return agreement  # ended: nothing more to record
    if kind == "ENTERED_INTO_FORCE":
        return agreement  # the partner's notification: changes nothing by itself
    if kind in ON_NOTICE and sender not in notices and (
            kind != "NOTICE_REACTIVATED" or notices):
        return agreement
    if kind == "WITHDRAWN":
        raise NotImplementedError("a party's withdrawal is not modelled")
    return replace(agreement,
                   partner_events=(*agreement.partner_events, (kind, on, sender)))


def boundary_days(agreement: AgreementModel, *, ends_only: bool = False) -> set[date]:
    """Days where an off-by-one in Art. 21 would show, with their neighbours: the day a
    notice would end the agreement, and (unless ``ends_only``) each event's day (the
    partners' recorded acts included)."""
    days: set[date] = set()
    start: date | None = None
    for kind, on, by in _timeline(agreement):
        start = on if kind == "ENTERED_INTO_FORCE" and by == OWNER_ACT else start
        edges = set() if ends_only else {on}
        if kind in ("NOTICE_GIVEN", "NOTICE_REACTIVATED") and start is not None:
            edges.add(end_after_notice(start, on))
        days |= {d + timedelta(days=k) for d in edges for k in (-1, 0, 1)}
    return days


# --- scope -----------------------------------------------------------------------------


def topic_within(topic: str, scopes: frozenset[str]) -> bool:
    """'DPRK/missile/SRBM' is within 'DPRK/missile' and within 'DPRK' (I)."""
    return any(topic == s or topic.startswith(s + "/") for s in scopes)


def covers(agreement: AgreementModel, discipline: str, topic: str) -> bool:
    """Scope (docs/rules.md#agreement-kinds: TISA 'scope limited to North Korean nuclear and missile
    threats'); disciplines as docs/rules.md#disciplines groups them: SIGINT covers COMINT."""
    family = {discipline, PARENT.get(discipline, discipline)}
    if agreement.disciplines is not None and not family & agreement.disciplines:
        return False
    return agreement.topics is None or topic_within(topic, agreement.topics)


# --- the governing agreement and route ---------------------------------------------------


def route_through(agreement: AgreementModel, owner: str, recipient: str) -> tuple[str, ...]:
    """Protection 6: under an arrangement with a hub, transfers between two non-hub parties
    go through the hub."""
    if agreement.kind == "ARRANGEMENT" and agreement.hub not in (owner, recipient):
        return (str(agreement.hub),)
    return ()


def governing(world: World, recipient: str, discipline: str, topic: str,
              day: date) -> AgreementModel | None:
    """The agreement a release goes under: one binding both ends, in force that day and covering the
    item. An MOU opens a channel, never classified exchange (docs/rules.md#agreement-kinds).
    Preference (I): a binding GSOMIA before an arrangement, a direct route before one through a hub;
    ties by agreement id."""
    owner = world.owner

    def preference(a: AgreementModel) -> tuple[bool, bool, str]:
        return a.kind != "GSOMIA", bool(route_through(a, owner, recipient)), a.id

    usable = [a for a in world.agreements
              if {owner, recipient} <= a.parties and a.kind != "MOU"]
    for agreement in sorted(usable, key=preference):
        if in_force(agreement, day) and covers(agreement, discipline, topic):
            return agreement
    return None


# --- one portion -------------------------------------------------------------------------


def equivalent(world: World, agreement: AgreementModel, level: str, to: str) -> str | None:
    """Art. 4: the receiver marks with its own equivalent level, the first one its column
    of the row lists; a level with no row is not released (I). Unclassified needs no row:
    it is the receiver's unclassified (I)."""
    if world.scheme.rank(level) == 0:
        return world.parties[to].unclassified
    for row in agreement.rows:
        if level in row.get(world.owner, ()) and row.get(to):
            return row[to][0]
    return None


def disseminable(label: LabelModel, route: tuple[str, ...], recipient: str) -> bool:
    """STANAG 4774 / CAPCO (docs/rules.md#marks): NOFORN never goes abroad; REL TO and EYES ONLY
    must name every party the portion reaches (the hub included); a compartment is a
    restrictive value no foreign government holds."""
    if label.noforn or label.compartments:
        return False
    for listed in (label.rel_to, label.eyes_only):
        if listed is not None and not set(route) | {recipient} <= listed:
            return False
    return True


def consent_needed(world: World, label: LabelModel, recipient: str) -> str | None:
    """Protection 1 (Art. 6, third-party rule) and ORCON: information not originated here,
    or originator-controlled, needs its originator's written consent naming the
    recipient; nothing is needed to send information back to its originator."""
    if label.originator == recipient:
        return None
    if label.originator != world.owner or label.orcon:
        return label.originator
    return None


def consented(world: World, originator: str, recipient: str, item_id: str) -> bool:
    return any(c.originator == originator and c.recipient == recipient
               and c.item_id in (item_id, "*") for c in world.consents)


def portion_rule(world: World, agreement: AgreementModel, route: tuple[str, ...],
                 item_id: str, label: LabelModel, recipient: str) -> tuple[str, str | None]:
    """("pass", the recipient's level), ("await", None) for missing consent, or
    ("deny", None)."""
    if not disseminable(label, route, recipient):
        return "deny", None
    scheme = world.scheme
    if agreement.ceiling is not None and scheme.rank(label.level) > scheme.rank(
            agreement.ceiling):
        return "deny", None  # scope: above the agreement's ceiling
    marked = equivalent(world, agreement, label.level, recipient)
    if marked is None or any(equivalent(world, agreement, label.level, hop) is None
                             for hop in route):
        return "deny", None  # Art. 4: no row, for the recipient or for the hub
    originator = consent_needed(world, label, recipient)
    if originator is not None and not consented(world, originator, recipient, item_id):
        return "await", None
    return "pass", marked


# --- one release -----------------------------------------------------------------------


def rule(world: World, item: ItemModel, recipient: str, day: date) -> Ruling:
    """The model's answer for a release. Nothing goes to the node's own party (I); without
    a governing agreement nothing goes at all (32 CFR 117.19: exchange only under an
    agreement). A tearline carries only the portions that pass (docs/rules.md#portions); with none,
    the release is held when consent could still open it, else denied."""
    if recipient == world.owner:
        return DENIED
    agreement = governing(world, recipient, item.discipline, item.topic, day)
    if agreement is None:
        return DENIED
    route = route_through(agreement, world.owner, recipient)
    passed: list[tuple[str, str]] = []
    awaiting = False
    for portion in item.portions:
        verdict, marked = portion_rule(world, agreement, route, item.id, portion.label,
                                       recipient)
        awaiting = awaiting or verdict == "await"
        if marked is not None and verdict == "pass":
            passed.append((portion.id, marked))
    if not passed:
        held = Outcome.HELD if awaiting else Outcome.DENIED
        return Ruling(held, (), None, route, agreement.id)
    receiver = world.parties[recipient]
    top = max((m for _, m in passed), key=receiver.rank)
    return Ruling(Outcome.ALLOWED, tuple(p for p, _ in passed), top, route, agreement.id)


def track_item(feed: FeedModel) -> ItemModel:
    """A feed's tracks are decided as one item of one portion labelled as the feed."""
    return ItemModel(f"feed:{feed.name}", feed.discipline, feed.topic, feed.name,
                     datetime.min, (PortionModel("track", "", feed.label),))


def track_route(world: World, feed: FeedModel, partner: str, day: date) -> Ruling:
    """Tracks go to a partner node this node knows, only when a release of the feed's
    label would be allowed, and never through a hub (I: real-time data is not relayed)."""
    ruling = rule(world, track_item(feed), partner, day)
    if partner not in world.peers or ruling.outcome is not Outcome.ALLOWED or ruling.route:
        return DENIED
    return ruling


# --- people of this node ---------------------------------------------------------------


def may_see(world: World, clearance: ClearanceModel, label: LabelModel, topic: str) -> bool:
    """Protection 3: a clearance at the level AND need-to-know (the label's compartments,
    the person's topics); rank alone never."""
    if world.scheme.rank(label.level) > clearance.rank:
        return False
    if not label.compartments <= clearance.compartments:
        return False
    return clearance.topics is None or topic_within(topic, clearance.topics)


def visible_portions(world: World, clearance: ClearanceModel, item: ItemModel) -> tuple[str, ...]:
    return tuple(p.id for p in item.portions if may_see(world, clearance, p.label, item.topic))
