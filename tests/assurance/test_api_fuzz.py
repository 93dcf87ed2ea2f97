"""API fuzzing of a real node, as every role.

Schemathesis reads the node's own OpenAPI document over HTTP and generates requests for
every operation (valid and invalid data); each is sent over real HTTP to a real node process
with the bearer token of one user, for one user of each role and a low-clearance analyst.
The node holds items, portions and areas at several levels, each carrying a unique canary
string. What the test proves, for every response to every generated request:

- no server error (5xx): bad input gets a 4xx the caller can act on;
- no leak: nothing the caller may not see shows in the answer — no hidden portion's text, no
  hidden item's or area's id or title, no hidden portion in an item, no count that includes
  hidden items, and no success for a request naming a hidden item, portion or area.

What the caller may see is worked out here from the clearance rules (level, compartments,
need-to-know), not asked of the node.

Beyond schemathesis' generated requests:

- the node (KOR) holds data of every kind, made through the API of KOR and of its partner
  JPN (``fuzz_seed``): tracks in a secret and an open feed, an image attachment, a hotline
  channel and message, talks, releases both ways, RFIs, consent requests and a compromise
  report from JPN, JPN's TAXII collection; requests are aimed at those ids and partners;
- a valid request for every operation (``fuzz_recipes``), some as steps of a sequence
  (an item made, its release requested, reviewed and released), is sent as every user;
  each operation must answer 2xx to someone (``UNREACHABLE`` lists the exceptions, each
  with its reason), and the run prints the coverage per operation;
- the oracle also compares a hidden thing's answer with an absent one's (status, error
  code, message, keys), counts listings exactly, reads banners, and knows who may use the
  release routes (``ROLE_RULES``);
- leaks known and being fixed are listed in ``KNOWN_LEAKS``: each must still be found, so
  the list shrinks as the fixes land (empty since issue 18's fixes);
- sensors, partners' tools and delegates may not read the track picture, and the release
  routes answer an item seen only in part exactly as a missing one (``ROLE_RULES``,
  ``RELEASE_AIMED``).

``tests/assurance/test_planted_faults.py`` plants leaks in a node and checks this oracle
catches them.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, CheckContext, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.integration.node_fixtures import PASSWORD
from tests.integration.processes import NodeProcess, free_port

from . import fuzz_recipes, fuzz_seed
from .fuzz_recipes import Call, Kit, closing, recipes

FAST_EXAMPLES = 1  # per operation and role, valid or invalid: the CI form (<= 90 s, 2 cores)
SOAK_EXAMPLES = int(os.environ.get("LIAISON_FUZZ_EXAMPLES", "60"))  # the long form
REQUEST_TIMEOUT_S = 30
NODE_ENV = {"LIAISON_LOGIN_ATTEMPTS_PER_MINUTE": "100000"}
PARTNERS = ("JPN", "USA", "CHN", "PRK")
SPARE = "spare"  # the user whose password and account the fuzzer may change
READER_ROLES = frozenset({"admin", "analyst", "release_officer", "reviewer", "watch_officer"})
AREA_TOPIC = "areas"  # the need-to-know topic every area is judged under
RANKS = {"군사I급비밀": 4, "군사II급비밀": 3, "군사III급비밀": 2, "대외비": 1, "평문": 0}
CREATED = "2024-05-01T00:00:00Z"
CLOSED_PORT = free_port()  # nothing listens here: where partner cards are fetched from

AnyCase = Case[Any]
Operation = APIOperation[Any, Any, Any, Any]

# Operations left out, each for a reason; everything else in the document is fuzzed.
# (WebSockets — live tracks, hotline watch, talks — are not in the OpenAPI document.)
EXCLUDED = {
    "POST /api/auth/logout": "revokes the very token the rest of the run signs in with",
}
# Who may get a 2xx from the release routes (services/releases.py; docs/rules.md#two-person-review):
# the oracle's role rule. Any other role answered 2xx there is a finding.
OFFICERS = frozenset({"release_officer", "reviewer"})
ROLE_RULES = {
    "GET /api/items/{item_id}/release-check": OFFICERS,
    "GET /api/releases": OFFICERS, "GET /api/releases/{request_id}": OFFICERS,
    "GET /api/releases/{request_id}/content-check": OFFICERS,
    "POST /api/releases": frozenset({"release_officer"}),
    "POST /api/releases/{request_id}/reviews": frozenset({"reviewer"}),
    "GET /api/consents": OFFICERS, "POST /api/consents": frozenset({"release_officer"}),
    "GET /api/ledger": OFFICERS | {"admin"},
    # the track picture: readers only (never a sensor, a partner's tool or a delegate)
    **{f"GET /api/{path}": READER_ROLES for path in (
        "tracks", "tracks/system", "tracks/feeds", "launches", "alerts")},
    "GET /api/tracks/stats": frozenset({"admin", "watch_officer", "release_officer"}),
    # an administrator's acts
    **{op: frozenset({"admin"}) for op in (
        "POST /api/tracks/feeds/{feed}/sensors",
        "DELETE /api/tracks/feeds/{feed}/sensors/{username}",
        "POST /api/agreements/{agreement_id}/amendments")},
    # what partners sent that this node refused (services/inbox_refusals.py), as the outbox's
    "GET /api/inbox/refused": frozenset({"admin", "release_officer"}),
}
# Release routes that name an item in the path: an item seen only in part answers there
# exactly as a missing one (issue 18: no "cleared for only part of item").
RELEASE_AIMED = frozenset({"GET /api/items/{item_id}/release-check"})
# The audit log names the subject of every action (an item's id, its banner) for the admin
# who audits the node; it never carries content, so only ids are allowed there.
IDS_ALLOWED = {"GET /api/audit"}


# -- the world: people, and what they may see -------------------------------------------

@dataclass(frozen=True)
class Person:
    username: str
    role: str
    clearance: str
    compartments: tuple[str, ...] = ()
    topics: tuple[str, ...] | None = None
    party: str | None = None

    @property
    def label(self) -> str:
        return f"{self.role} ({self.clearance})" if self.username == "low" else self.role

    def may_see(self, rank: int, compartments: tuple[str, ...], topic: str) -> bool:
        """Clearance at the level, every compartment, and need-to-know for the topic."""
        if self.role not in READER_ROLES or rank > RANKS[self.clearance]:
            return False
        if not set(compartments) <= set(self.compartments):
            return False
        parts = topic.split("/")
        return self.topics is None or any(
            "/".join(parts[:i]) in self.topics for i in range(1, len(parts) + 1))


@dataclass(frozen=True)
class Part:
    id: str
    level: str
    compartments: tuple[str, ...] = ()
    rel_to: tuple[str, ...] | None = None

    def canary(self, item_id: str) -> str:
        return f"CANARY-{item_id}-{self.id}".upper()


@dataclass(frozen=True)
class Seeded:
    id: str
    topic: str
    parts: tuple[Part, ...]

    @property
    def title(self) -> str:
        return f"Report TITLE-{self.id.split('@')[0]}"


@dataclass(frozen=True)
class Area:
    id: str
    level: str
    compartments: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"CANARY-AREA-{self.id}".upper()


# The admin is made by `liaison init`: the highest level, no compartments, every topic.
ADMIN = Person("admin", "admin", "군사I급비밀")
PEOPLE = (
    Person("ana", "analyst", "군사I급비밀", ("K1",)),  # writes the world: sees all of it
    Person("low", "analyst", "대외비", topics=("DPRK",)),
    Person("rel", "release_officer", "군사I급비밀"),  # requests the release of fz-top
    Person("rev", "reviewer", "군사II급비밀"),
    Person("watch", "watch_officer", "군사III급비밀"),
    Person("dele", "delegate", "군사I급비밀"),
    Person("radar", "sensor", "군사II급비밀"),  # cleared for the secret feed it writes into
    Person("jpn-tool", "partner", "평문", party="JPN"),
)
FUZZED = (*PEOPLE, ADMIN)  # the admin last: it alone may disable users or set passwords
AUTHORED = (  # written by ana below
    Seeded("fz-open", "DPRK/missile", (Part("p1", "평문"),)),
    Seeded("fz-split", "DPRK/missile", (Part("p1", "대외비"), Part("p2", "군사II급비밀"),
                                        Part("p3", "군사I급비밀"))),
    Seeded("fz-top", "DPRK/nuclear", (Part("p1", "군사I급비밀", rel_to=("USA",)),)),
    Seeded("fz-k1", "DPRK/missile", (Part("p1", "군사III급비밀", ("K1",)),)),
    Seeded("fz-navy", "CHN/navy", (Part("p1", "대외비"),)),
)
ITEMS = (
    *AUTHORED,
    # made by fuzz_seed: released to JPN; with an image; received from JPN (秘 = III급)
    Seeded(fuzz_seed.RELEASED_ITEM, "DPRK/missile", (Part("p1", "군사III급비밀"),)),
    Seeded("fz-image", "DPRK/missile", (Part("p1", "군사III급비밀"), Part("p2", "군사III급비밀"))),
    Seeded(f"{fuzz_seed.JPN_ITEM}@JPN", "DPRK/missile", (Part("p1", "군사III급비밀"),)),
)
RELEASED_TO = {"JPN": (fuzz_seed.RELEASED_ITEM,)}  # what each partner's collection holds
# track feeds: (feed, level); a track is seen by a reader cleared for its feed's level
FEEDS = ((fuzz_seed.FEED_SECRET, "군사II급비밀"), (fuzz_seed.FEED_OPEN, "평문"))
AREAS = (Area("fz-area-open", "평문"), Area("fz-area-top", "군사I급비밀"),
         Area("fz-area-k1", "대외비", ("K1",)))
WORDS = ("canary", "report", "sunchon")  # search words: every portion holds them


def by_id(item_id: str) -> Seeded:
    return next(i for i in ITEMS if i.id == item_id)


def seen_parts(person: Person, item: Seeded) -> frozenset[str]:
    return frozenset(p.id for p in item.parts
                     if person.may_see(RANKS[p.level], p.compartments, item.topic))


def sees_area(person: Person, area: Area) -> bool:
    return person.may_see(RANKS[area.level], area.compartments, AREA_TOPIC)


@dataclass
class Secrets:
    """What one person may not see: texts that must never show, ids that must not show
    unless the caller named them, and the bounds on what counts and lists may say."""

    texts: frozenset[str]
    ids: frozenset[str]
    hidden_paths: frozenset[tuple[str, ...]]  # (item,), (item, portion), (area,), (request,)
    visible_parts: dict[str, frozenset[str]]
    visible_items: int
    own_collection: frozenset[str] = frozenset()  # texts a partner's TAXII collection holds
    role: str = ""
    # items seen only in part: release work on them answers as for a missing item
    partial: frozenset[str] = frozenset()

    @classmethod
    def of(cls, person: Person, release_items: dict[str, str]) -> Secrets:
        texts: set[str] = set()
        ids: set[str] = set()
        paths: set[tuple[str, ...]] = set()
        visible: dict[str, frozenset[str]] = {}
        for item in ITEMS:
            seen = visible[item.id] = seen_parts(person, item)
            hidden = [p for p in item.parts if p.id not in seen]
            texts.update(p.canary(item.id) for p in hidden)
            paths.update((item.id, p.id) for p in hidden)
            if not seen:
                texts.add(item.title)
                ids.add(item.id)
                paths.add((item.id,))
        for area in AREAS:
            if not sees_area(person, area):
                texts.add(area.name)
                ids.add(area.id)
                paths.add((area.id,))
        for feed, level in FEEDS:
            if not person.may_see(RANKS[level], (), "DPRK/missile"):
                texts.update((f"fz-track-{feed}", f"CANARY-FEED-{feed}".upper()))
        # Release work needs clearance for the whole item (requested, reviewed, listed).
        paths.update((rid,) for rid, item_id in release_items.items()
                     if visible[item_id] != {p.id for p in by_id(item_id).parts})
        released = [i for i in ITEMS if i.id in RELEASED_TO.get(person.party or "", ())]
        own = {t for i in released for t in (i.title, i.id, *(p.canary(i.id) for p in i.parts))}
        return cls(frozenset(texts), frozenset(ids), frozenset(paths), visible,
                   sum(1 for s in visible.values() if s), frozenset(own), person.role,
                   frozenset(i.id for i in ITEMS
                             if visible[i.id] and visible[i.id] != {p.id for p in i.parts}))


# -- the node -----------------------------------------------------------------------------

@dataclass
class World:
    node: NodeProcess
    release_items: dict[str, str]  # release request id -> its item id
    seed: fuzz_seed.Seed = field(default_factory=fuzz_seed.Seed)
    kit: Kit | None = None
    created: set[str] = field(default_factory=set)  # items the fuzzer itself made


def label(level: str, compartments: tuple[str, ...] = (),
          rel_to: tuple[str, ...] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"policy": "KOR", "classification": level, "originator": "KOR",
                           "created": CREATED, "compartments": list(compartments)}
    if rel_to is not None:
        out["rel_to"] = list(rel_to)
    return out


def item_body(item: Seeded) -> dict[str, Any]:
    return {"id": item.id, "discipline": "IMINT", "topic": item.topic, "grade": "B2",
            "title": item.title, "reported_at": CREATED,
            "portions": [{"id": p.id, "label": label(p.level, p.compartments, p.rel_to),
                          "content": f"{p.canary(item.id)}: {' '.join(WORDS)}."}
                         for p in item.parts]}


def seed(node: NodeProcess) -> dict[str, str]:
    """Users, items, areas and one pending release request of a top item."""
    for p in PEOPLE:
        node.call("POST", "/api/users", json={
            "username": p.username, "roles": [p.role], "clearance": p.clearance,
            "compartments": list(p.compartments), "password": PASSWORD, "party": p.party,
            "topics": list(p.topics) if p.topics is not None else None})
    author = node.login("ana")
    for item in AUTHORED:
        node.call("POST", "/api/items", author, json=item_body(item))
    save_areas(node)
    request = node.call("POST", "/api/releases", node.login("rel"), json={
        "item_id": "fz-top", "recipient": "USA", "purpose": "early warning"})
    return {request["id"]: "fz-top"}


def save_areas(node: NodeProcess) -> None:
    """Save (or save again: a saved area replaces one with the same id) the seeded areas:
    a fuzzed caller may have removed some."""
    author = node.login("ana")
    for area in AREAS:
        node.call("POST", "/api/areas", author, json={
            "id": area.id, "name": area.name, "label": label(area.level, area.compartments),
            "center": [39.0, 125.7], "radius_m": 5000.0, "share_with": []})


def seed_world(kor: NodeProcess, jpn: NodeProcess, fingerprint: str) -> World:
    """Everything: the items, areas and users above, and every other kind of thing
    (``fuzz_seed``), made through the API of KOR and its partner JPN."""
    world = World(kor, seed(kor))
    kor.call("POST", "/api/users", json={"username": SPARE, "roles": ["analyst"],
                                         "clearance": "대외비", "password": PASSWORD})
    s = world.seed
    s.release_requests.update(world.release_items)
    fuzz_seed.seed_tracks(kor, s)
    fuzz_seed.seed_attachment(kor, s)
    fuzz_seed.seed_hotline_and_talks(kor, s)
    fuzz_seed.seed_between_partners(kor, jpn, s)
    fuzz_seed.seed_taxii(kor, s)
    world.release_items = dict(s.release_requests)
    world.kit = Kit(kor, jpn, s, fingerprint)
    return world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # Sign-ins are fuzzed too: the per-address limit must not lock the test out.
    with fuzz_seed.partner_nodes(tmp_path_factory.mktemp("fuzz"), NODE_ENV) as pair:
        yield seed_world(*pair)


def load_schema(world: World) -> OpenApiSchema:
    schema = schemathesis.openapi.from_url(world.node.url + "/api/openapi.json",
                                           config=schemathesis.Config())
    known = known_values(world)

    @schema.hook
    def flatmap_path_parameters(_: Any, params: Any) -> st.SearchStrategy[Any]:
        """Half the time, name the seeded items, portions, areas and requests instead."""
        if not isinstance(params, dict):
            return st.just(params)
        return st.fixed_dictionaries({
            name: st.one_of(st.just(value), st.sampled_from(known[name]))
            if name in known else st.just(value) for name, value in params.items()})

    @schema.hook
    def flatmap_query(_: Any, query: Any) -> st.SearchStrategy[Any]:
        """Search for the seeded words as well as for random text."""
        if not isinstance(query, dict):
            return st.just(query)
        aimed = {"q": WORDS, "to": PARTNERS, "direction": ("incoming", "outgoing")}
        return st.fixed_dictionaries({
            k: st.one_of(st.just(v), st.sampled_from(aimed[k])) if k in aimed else st.just(v)
            for k, v in query.items()})

    @schema.hook
    def map_body(context: Any, body: Any) -> Any:
        """Adding a partner makes the node fetch a card from the given address: point it
        at a closed local port, never at a random host on the network."""
        if (context.operation is not None and context.operation.path == "/api/peers"
                and isinstance(body, dict) and isinstance(body.get("address"), str)):
            return {**body, "address": f"http://127.0.0.1:{CLOSED_PORT}"}
        return body

    return schema


# -- the checks ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """One exchange, as the leak check needs it."""

    operation: str  # "GET /api/items/{item_id}"
    path_parameters: dict[str, Any]
    sent: str  # what the caller sent: an answer may echo it without leaking anything
    status: int
    text: str
    data: Any  # the JSON body, None when there is none

    @classmethod
    def of(cls, case: AnyCase, response: schemathesis.Response) -> Answer:
        request = response.request
        body = request.body or b""
        sent = unquote(request.url or "") + "\n" + (
            body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body))
        types = [v for k, vs in response.headers.items() if k.lower() == "content-type"
                 for v in vs]
        text = response.text_lossy()
        return cls(case.operation.label, dict(case.path_parameters or {}), sent,
                   response.status_code, text,
                   json_or_none(text) if types and "json" in types[0] else None)


def json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def json_nodes(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, dict):
        yield data
        for value in data.values():
            yield from json_nodes(value)
    elif isinstance(data, list):
        for value in data:
            yield from json_nodes(value)


def named_hidden(params: dict[str, Any], secrets: Secrets,
                 operation: str = "") -> tuple[str, ...] | None:
    item, portion = params.get("item_id"), params.get("portion_id")
    if operation in RELEASE_AIMED and item in secrets.partial:
        return (str(item),)  # release work needs clearance for the whole item
    for path in ((item, portion), (item,), (params.get("area_id"),),
                 (params.get("request_id"),)):
        if None not in path and path in secrets.hidden_paths:
            return tuple(str(p) for p in path)
    return None


def count_problems(data: Any, secrets: Secrets, created: int) -> list[str]:
    """Counts and lists inside JSON answers that would include something hidden."""
    problems = []
    for node in json_nodes(data):
        total = node.get("total")
        if isinstance(total, int) and total > secrets.visible_items + created:
            problems.append(f"total {total} > {secrets.visible_items + created} visible")
        seen = secrets.visible_parts.get(str(node.get("id")))
        if seen is None:
            continue
        portions, matched = node.get("portions"), node.get("matched")
        if isinstance(portions, int) and portions > len(seen):
            problems.append(f"{node['id']}: {portions} portions > {len(seen)} visible")
        ids = [p.get("id") for p in portions if isinstance(p, dict)] \
            if isinstance(portions, list) else []
        if isinstance(matched, list):
            ids += matched
        extra = sorted(str(i) for i in ids if i not in seen)
        if extra:
            problems.append(f"{node['id']}: hidden portions {extra}")
    return problems


def leaks_in(answer: Answer, secrets: Secrets, created: int = 0) -> list[str]:
    """Everything in ``answer`` that the caller, who may not see ``secrets``, must not
    learn; ``created`` items made by the fuzzer itself may be counted."""
    allowed = secrets.own_collection if answer.operation.startswith("GET /taxii2/") \
        else frozenset()
    shown = [s for s in secrets.texts - allowed if s in answer.text and s not in answer.sent]
    if answer.operation not in IDS_ALLOWED:
        shown += [i for i in secrets.ids - allowed if i in answer.text and i not in answer.sent]
    problems = [f"shows {s!r}" for s in sorted(shown)]
    allowed_roles = ROLE_RULES.get(answer.operation)
    if allowed_roles is not None and secrets.role and answer.status < 300 \
            and secrets.role not in allowed_roles:
        problems.append(f"answers {answer.status} to the role {secrets.role}")
    hidden = named_hidden(answer.path_parameters, secrets, answer.operation)
    if hidden is not None and answer.status < 300:
        problems.append(f"answers {answer.status} for hidden {'/'.join(hidden)}")
    return problems + count_problems(answer.data, secrets, created)


def leak_check(secrets: Secrets, world: World) -> Callable[..., bool | None]:
    """A schemathesis check: the response reveals nothing ``secrets`` names."""

    def no_hidden_data(ctx: CheckContext, response: schemathesis.Response,
                       case: AnyCase) -> bool | None:
        problems = leaks_in(Answer.of(case, response), secrets, len(world.created))
        if problems:
            raise AssertionError("; ".join(problems))
        return None

    return no_hidden_data


# -- the run ------------------------------------------------------------------------------

# Leaks the fuzzer finds and that are being fixed: (operation, username) -> the issue. An
# answer's problems there are counted apart, not as new leaks; each entry must still be
# found (strict), so once its fix lands it must go. None today: issue 18's are fixed.
KNOWN_LEAKS: dict[tuple[str, str], str] = {}


@dataclass
class Tally:
    sent: int = 0
    server_errors: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    known: Counter[tuple[str, str]] = field(default_factory=Counter)  # KNOWN_LEAKS found
    by_class: Counter[str] = field(default_factory=Counter)  # "2xx": answers
    by_operation: dict[str, Counter[str]] = field(default_factory=dict)  # op -> "2xx": n
    unexplained: list[str] = field(default_factory=list)  # never 2xx, no reason given
    unexpected_2xx: list[str] = field(default_factory=list)

    def count(self, operation: str, status: int) -> None:
        self.sent += 1
        self.by_class[f"{status // 100}xx"] += 1
        self.by_operation.setdefault(operation, Counter())[f"{status // 100}xx"] += 1

    def problems(self, who: str, operation: str, where: str, found: list[str]) -> None:
        if not found:
            return
        if (operation, who) in KNOWN_LEAKS:
            self.known[(operation, who)] += 1
        else:
            self.leaks.append(f"{where}: {'; '.join(found)}"[:600])

    def reached(self) -> set[str]:
        return {op for op, c in self.by_operation.items() if c["2xx"]}

    def figure(self, roles: list[str]) -> str:
        return (f"api fuzz: requests sent {self.sent}, server errors "
                f"{len(self.server_errors)}, leaks {len(self.leaks)} "
                f"(roles: {', '.join(roles)})")


@dataclass(frozen=True)
class Run:
    """Cases for one operation: ``examples`` of them, or the run's size when ``None``."""

    strategy: st.SearchStrategy[AnyCase]
    examples: int | None = None


@dataclass
class Caller:
    person: Person
    token: str
    session: requests.Session
    check: Callable[..., bool | None]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def known_values(world: World) -> dict[str, list[str]]:
    """Path parameters that name seeded things, to aim requests at them."""
    s = world.seed
    return {"item_id": [i.id for i in ITEMS], "portion_id": ["p1", "p2", "p3"],
            "area_id": [a.id for a in AREAS],
            "request_id": [*world.release_items, *s.consent_requests],
            "rfi_id": s.rfis or ["none"], "channel_id": s.channels or ["none"],
            "talks_id": s.talks or ["none"], "cid": s.collections or ["none"],
            "oid": s.objects[:3] or ["none"], "username": [SPARE],
            "agreement_id": ["KOR-JPN-GSOMIA", "USA-KOR-GSOMIA", "KOR-CHN-HOTLINE-MOU"]}


def aimed(operation: Operation, known: dict[str, list[str]]) -> list[Run]:
    """One case for every combination of seeded names the operation's path can take (an
    item with its own portions only), so that every hidden item, portion, area and request
    is asked for in every run."""
    names = re.findall(r"{(\w+)}", operation.path)
    if not names or not set(names) <= set(known):
        return []
    return [Run(operation.as_strategy(path_parameters=dict(zip(names, values, strict=True))), 1)
            for values in itertools.product(*(known[n] for n in names))
            if portion_exists(dict(zip(names, values, strict=True)))]


def portion_exists(params: dict[str, str]) -> bool:
    """An item and a portion are named together only when the portion is one of the item's
    (an absent one is asked for by ``test_hidden_things_answer_as_absent_ones``)."""
    if "item_id" not in params or "portion_id" not in params:
        return True
    return params["portion_id"] in {p.id for p in by_id(params["item_id"]).parts}


def plan(schema: OpenApiSchema, world: World) -> list[Run]:
    """Every operation but the excluded ones: valid and invalid data alike, and aimed at
    the seeded names."""
    runs = []
    known = known_values(world)
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise result.err()  # the node's own document must describe every operation
        operation = result.ok()
        if operation.label in EXCLUDED:
            continue
        modes = [operation.as_strategy(generation_mode=mode) for mode in GenerationMode]
        runs += [Run(st.one_of(modes)), *aimed(operation, known)]
    return runs


def send(case: AnyCase, caller: Caller, world: World, tally: Tally) -> None:
    response = case.call(base_url=world.node.url, session=caller.session,
                         headers=caller.headers, timeout=REQUEST_TIMEOUT_S)
    tally.count(case.operation.label, response.status_code)
    if case.operation.label == "POST /api/items" and response.status_code == 201:
        world.created.add(str(response.json().get("id")))
    try:
        case.validate_response(response, checks=[not_a_server_error, caller.check],
                               headers=caller.headers)
    except FailureGroup as group:
        where = (f"{caller.person.username}: {case.operation.label} "
                 f"{case.path_parameters or ''} -> {response.status_code}")
        for failure in group.exceptions:
            if response.status_code >= 500:
                tally.server_errors.append(f"{where}: {failure.title}: {failure.message[:300]}")
            else:
                tally.problems(caller.person.username, case.operation.label, where,
                               [failure.message[:300]])


def fuzz_as(person: Person, world: World, runs: list[Run], examples: int, tally: Tally,
            fixed: bool) -> None:
    token = world.node.login(person.username)
    with requests.Session() as session:
        caller = Caller(person, token, session, leak_check(
            Secrets.of(person, world.release_items), world))
        for r in runs:
            # Health checks are off on purpose: generating bodies for this schema can be
            # slow and schemathesis filters some cases; neither says anything of the node.
            @settings(max_examples=r.examples or examples, deadline=None, database=None,
                      derandomize=fixed, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=r.strategy)
            def run(case: AnyCase) -> None:
                send(case, caller, world, tally)

            run()
    me = httpx.get(world.node.url + "/api/me", headers=caller.headers)
    assert me.status_code == 200, f"{person.username} lost their session during the run"


# Operations that cannot answer 2xx on this test node, each with the reason.
UNREACHABLE = {
    "GET /api/launches/{event_id}": "no launch is derived from the seeded tracks (a launch "
                                    "needs a ballistic track history; tests/unit/test_launch)",
    "POST /api/hotline/{channel_id}/acknowledgements": "acknowledges a partner's message; "
                                                       "CHN, the hotline's partner, has no "
                                                       "node here",
    "POST /api/talks/{talks_id}/minutes": "minutes need talks the counterpart (PRK, no node "
                                          "here) accepted",
    "GET /api/talks/{talks_id}/minutes/verify": "verifies minutes both sides signed: as above",
    "POST /taxii2/liaison/collections/{cid}/objects/": "needs a labelled STIX bundle built "
        "with the interop kit (tests/integration/test_products.py posts one); the fuzzer's "
        "empty bundle is refused",
    "GET /taxii2/liaison/status/{sid}/": "the status of such a post: as above",
    "POST /api/talks/{talks_id}/answer": "TODO: the proposer's cancel of its own proposal "
        "is refused here; not yet worked out",
}


def run_recipes(world: World, person: Person, tally: Tally, *, last: bool = False) -> None:
    """Every recipe (``fuzz_recipes``; ``last``: the closing ones) sent as ``person``,
    each answer judged."""
    assert world.kit is not None
    secrets = Secrets.of(person, world.release_items)
    token = world.node.login(person.username)
    for recipe in (closing if last else recipes)(world.kit):
        for c in recipe(world.kit, person.username):
            send_call(world, person, token, secrets, c, tally)


def send_call(world: World, person: Person, token: str, secrets: Secrets, c: Call,
              tally: Tally) -> None:
    headers = {"Authorization": f"Bearer {token}", **c.kwargs.get("headers", {})}
    kw = {k: v for k, v in c.kwargs.items() if k != "headers"}
    r = httpx.request(c.method, world.node.url + c.path, headers=headers,
                      timeout=REQUEST_TIMEOUT_S, **kw)
    tally.count(c.operation, r.status_code)
    where = f"{person.username}: {c.operation} {c.path_parameters or ''} -> {r.status_code}"
    if r.status_code >= 500:
        tally.server_errors.append(f"{where}: {r.text[:300]}")
    body = kw.get("json", kw.get("content", ""))
    sent = c.path + "\n" + (json.dumps(body, ensure_ascii=False) if "json" in kw
                            else str(body)[:200])
    data = json_or_none(r.text) if "json" in r.headers.get("content-type", "") else None
    answer = Answer(c.operation, c.path_parameters, sent, r.status_code, r.text, data)
    created = len(world.created) + len(fuzz_recipes.MADE)
    tally.problems(person.username, c.operation, where, leaks_in(answer, secrets, created))


def fuzz_every_role(world: World, examples: int, fixed: bool) -> Tally:
    schema = load_schema(world)
    runs = plan(schema, world)
    tally = Tally()
    started = time.monotonic()
    for person in FUZZED:
        save_areas(world.node)
        fuzz_as(person, world, runs, examples, tally, fixed)
    for last in (False, True):
        for person in FUZZED:
            run_recipes(world, person, tally, last=last)
    operations = [r.ok().label for r in schema.get_all_operations() if isinstance(r, Ok)]
    print(f"\n{tally.figure([p.label for p in FUZZED])}\n"
          f"  answers {', '.join(f'{k} {n}' for k, n in sorted(tally.by_class.items()))}; "
          f"{len(runs)} runs per role, {time.monotonic() - started:.0f} s")
    report_coverage(tally, operations)
    return tally


def report_coverage(tally: Tally, operations: list[str]) -> None:
    reached = tally.reached()
    for op in operations:
        c = tally.by_operation.get(op, Counter())
        note = "" if c["2xx"] else f"  (never 2xx: {UNREACHABLE.get(op, 'NOT EXPLAINED')})"
        print(f"  {op}: {sum(c.values())} requests, 2xx {c['2xx']}{note}")
    hit = sum(op in reached for op in operations)
    print(f"api fuzz: operations that answered 2xx {hit} of {len(operations)} "
          f"({sum(op in UNREACHABLE for op in operations)} cannot on a test node, listed "
          f"with the reason), requests {tally.sent}; known issue-18 leaks still found "
          f"{len(tally.known)} of {len(KNOWN_LEAKS)}")
    tally.unexplained = [op for op in operations if op not in reached
                         and op not in UNREACHABLE]
    tally.unexpected_2xx = [op for op in UNREACHABLE if op in reached]


def assert_clean(tally: Tally) -> None:
    shown = "\n".join([*tally.server_errors[:15], *tally.leaks[:15]])
    assert not tally.server_errors and not tally.leaks, shown
    assert not tally.unexplained, f"never answered 2xx: {tally.unexplained}"
    assert not tally.unexpected_2xx, f"listed as unreachable, yet 2xx: {tally.unexpected_2xx}"
    fixed = {f"{op} as {who}: {why}" for (op, who), why in KNOWN_LEAKS.items()
             if (op, who) not in tally.known}
    assert not fixed, f"known leaks no longer found (fixed? remove them from KNOWN_LEAKS): " \
                      f"{sorted(fixed)}"


def test_the_world_hides_something_from_everyone_but_its_author() -> None:
    """The leak check has something to look for in every role's answers."""
    for person in FUZZED:
        assert bool(Secrets.of(person, {}).texts) == (person.username != "ana"), person.username
    low = next(p for p in PEOPLE if p.username == "low")
    assert seen_parts(low, by_id("fz-split")) == {"p1"}


@pytest.mark.parametrize(("reader", "target", "path", "params"), [
    ("ana", "low", "/api/items", {}),
    ("ana", "low", "/api/search?q=canary", {}),
    ("ana", "low", "/api/items/fz-top", {"item_id": "fz-top"}),
    ("ana", "low", "/api/items/fz-split", {"item_id": "fz-split"}),
    ("ana", "watch", "/api/areas", {}),
    ("ana", "rev", "/api/items/fz-k1/portions/p1/label", {"item_id": "fz-k1",
                                                          "portion_id": "p1"}),
    ("rel", "rev", "/api/releases", {}),
])
def test_the_leak_check_is_not_blind(world: World, reader: str, target: str, path: str,
                                     params: dict[str, str]) -> None:
    """An answer given to someone cleared for more, judged as if given to ``target``, is
    a leak (checked before the fuzzing changes the world)."""
    response = httpx.get(world.node.url + path,
                         headers={"Authorization": f"Bearer {world.node.login(reader)}"})
    assert response.status_code == 200, response.text
    data = response.json() if "json" in response.headers["content-type"] else None
    answer = Answer(f"GET {path}", params, path, 200, response.text, data)
    person = next(p for p in FUZZED if p.username == target)
    assert leaks_in(answer, Secrets.of(person, world.release_items))


LEVEL_OF_RANK = {rank: name for name, rank in RANKS.items()}
ABSENT = "fz-absent"
# Where a hidden thing answers otherwise than an absent one today: (operation, user,
# hidden id) -> the issue-18 bullet; each must still differ (strict) until fixed.
KNOWN_DIFFERENCES: dict[tuple[str, str, str], str] = {}
AIMED_GETS = ("/api/items/{item_id}", "/api/items/{item_id}/portions/{portion_id}/label",
              "/api/items/{item_id}/portions/{portion_id}/binding",
              "/api/items/{item_id}/release-check", "/api/releases/{request_id}",
              "/api/releases/{request_id}/content-check")


def shape(response: httpx.Response, hidden: str) -> tuple[Any, ...]:
    """Status, error code and message (the id named in it written as ABSENT), and the
    JSON keys: all a caller can tell two answers apart by."""
    data = json_or_none(response.text) if "json" in response.headers.get(
        "content-type", "") else None
    error = data.get("error", {}) if isinstance(data, dict) else {}
    message = str(error.get("message", "")).replace(hidden, ABSENT) \
        if isinstance(error, dict) else ""
    keys = sorted(data) if isinstance(data, dict) else type(data).__name__
    return response.status_code, error.get("code") if isinstance(error, dict) else None, \
        message, keys


def hidden_targets(secrets: Secrets) -> list[tuple[str, dict[str, str], str]]:
    """(path template, path parameters, the hidden id) for every hidden thing the aimed
    operations can name, and every item seen only in part on the release routes."""
    out = []
    for path in secrets.hidden_paths:
        for template in AIMED_GETS:
            names = re.findall(r"{(\w+)}", template)
            if len(names) != len(path):
                continue
            params = dict(zip(names, path, strict=True))
            if (names[0] == "item_id" and path[0] in {i.id for i in ITEMS}) or \
                    (names[0] == "request_id" and path[0] in REQUEST_IDS):
                out.append((template, params, path[-1]))
    out += [(op.split(" ", 1)[1], {"item_id": item}, item)
            for op in sorted(RELEASE_AIMED) for item in sorted(secrets.partial)]
    return out


REQUEST_IDS: set[str] = set()


@pytest.mark.parametrize("username", [p.username for p in FUZZED])
def test_hidden_things_answer_as_absent_ones(world: World, username: str) -> None:
    """Every hidden item, portion and release request (and on the release routes, every
    item seen only in part) answers exactly as a thing that does not exist (same status,
    error code, message and keys), so a caller cannot tell hidden from absent."""
    person = next(p for p in FUZZED if p.username == username)
    secrets = Secrets.of(person, world.release_items)
    REQUEST_IDS.update(world.release_items)
    headers = {"Authorization": f"Bearer {world.node.login(username)}"}
    compared, differ = 0, {}
    for template, params, hidden in hidden_targets(secrets):
        absent = {k: (ABSENT if v == hidden else v) for k, v in params.items()}
        query = {"to": "JPN"} if template.endswith("release-check") else {}
        got = [httpx.get(world.node.url + "/api" + template[4:].format(**p), params=query,
                         headers=headers, timeout=REQUEST_TIMEOUT_S) for p in (params, absent)]
        compared += 1
        if shape(got[0], hidden) != shape(got[1], hidden):
            differ[(f"GET {template}", username, hidden)] = \
                f"{shape(got[0], hidden)} != {shape(got[1], hidden)}"
    print(f"\nhidden answered as absent for {username}: "
          f"{compared - len(differ)} of {compared}")
    known = {k for k in KNOWN_DIFFERENCES if k[1] == username}
    assert set(differ) - known == set(), {k: v for k, v in differ.items() if k not in known}
    assert known <= set(differ), f"fixed (remove from KNOWN_DIFFERENCES): {known - set(differ)}"


@pytest.mark.parametrize("username", [p.username for p in FUZZED])
def test_listings_count_exactly_and_markings_cover_what_is_shown(world: World,
                                                                username: str) -> None:
    """Totals equal the number of seeded things the user may see, worked out here from
    the seed and the clearance rules; every item shown carries a banner at least as high
    as its highest visible portion and naming no level above it."""
    person = next(p for p in FUZZED if p.username == username)
    secrets = Secrets.of(person, world.release_items)
    headers = {"Authorization": f"Bearer {world.node.login(username)}"}

    def get(path: str, **params: Any) -> Any:
        r = httpx.get(world.node.url + path, params=params, headers=headers,
                      timeout=REQUEST_TIMEOUT_S)
        return r.json() if r.status_code == 200 else None

    items = get("/api/items", limit=500)
    if items is not None:
        assert items["total"] == secrets.visible_items, items["total"]
    areas = get("/api/areas")
    if areas is not None:
        assert len(areas) == sum(sees_area(person, a) for a in AREAS), areas
    if person.role in READER_ROLES:
        tracks = get("/api/tracks")
        if tracks is not None:
            shown = {t["uid"] for t in (tracks if isinstance(tracks, list)
                                        else tracks.get("tracks", []))}
            assert shown == {f"fz-track-{f}" for f, lv in FEEDS
                             if person.may_see(RANKS[lv], (), "DPRK/missile")}, shown
    checked = 0
    for item in ITEMS:
        seen = secrets.visible_parts[item.id]
        if not seen:
            continue
        got = get(f"/api/items/{item.id}")
        if got is None:
            continue
        top = max(RANKS[p.level] for p in item.parts if p.id in seen)
        banner, level = str(got.get("banner", "")), str(got.get("level", ""))
        assert RANKS.get(level, -1) >= top, (item.id, level)
        above = [name for name, rank in RANKS.items() if rank > top and name in banner]
        assert not above, (item.id, banner)
        checked += 1
    print(f"\nmarkings of items shown to {username}: banner covers the shown portions "
          f"{checked} of {checked}")


def test_track_statistics_count_only_visible_tracks(world: World) -> None:
    """A watch officer cleared below the secret feed counts only the open feed's track."""
    r = httpx.get(world.node.url + "/api/tracks/stats", timeout=REQUEST_TIMEOUT_S,
                  headers={"Authorization": f"Bearer {world.node.login('watch')}"})
    assert r.status_code == 403 or r.json().get("tracks_current") == 1, r.text[:300]


def test_api_fuzz_every_role(world: World) -> None:
    assert_clean(fuzz_every_role(world, FAST_EXAMPLES, fixed=True))


@pytest.mark.slow
def test_api_fuzz_soak(world: World) -> None:
    """The long form (`make soak`): many more examples (LIAISON_FUZZ_EXAMPLES, default 60
    per operation and role), a new random draw each run."""
    assert_clean(fuzz_every_role(world, SOAK_EXAMPLES, fixed=False))
