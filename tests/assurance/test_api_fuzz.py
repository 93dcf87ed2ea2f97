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

FAST_EXAMPLES = 1  # per operation and role, valid or invalid: the CI form (<= 90 s, 2 cores)
SOAK_EXAMPLES = int(os.environ.get("LIAISON_FUZZ_EXAMPLES", "60"))  # the long form
REQUEST_TIMEOUT_S = 30
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
        return f"Report TITLE-{self.id}"


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
    Person("radar", "sensor", "평문"),
    Person("jpn-tool", "partner", "평문", party="JPN"),
)
FUZZED = (*PEOPLE, ADMIN)  # the admin last: it alone may disable users or set passwords
ITEMS = (
    Seeded("fz-open", "DPRK/missile", (Part("p1", "평문"),)),
    Seeded("fz-split", "DPRK/missile", (Part("p1", "대외비"), Part("p2", "군사II급비밀"),
                                        Part("p3", "군사I급비밀"))),
    Seeded("fz-top", "DPRK/nuclear", (Part("p1", "군사I급비밀", rel_to=("USA",)),)),
    Seeded("fz-k1", "DPRK/missile", (Part("p1", "군사III급비밀", ("K1",)),)),
    Seeded("fz-navy", "CHN/navy", (Part("p1", "대외비"),)),
)
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
        # Release work needs clearance for the whole item (requested, reviewed, listed).
        paths.update((rid,) for rid, item_id in release_items.items()
                     if visible[item_id] != {p.id for p in by_id(item_id).parts})
        return cls(frozenset(texts), frozenset(ids), frozenset(paths), visible,
                   sum(1 for s in visible.values() if s))


# -- the node -----------------------------------------------------------------------------

@dataclass
class World:
    node: NodeProcess
    release_items: dict[str, str]  # release request id -> its item id
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
    for item in ITEMS:
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


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    node = NodeProcess("KOR", tmp_path_factory.mktemp("fuzz"))
    try:
        node.init()
        # Sign-ins are fuzzed too: the per-address limit must not lock the test out.
        node.start(env={"LIAISON_LOGIN_ATTEMPTS_PER_MINUTE": "100000"})
        node.login()
        yield World(node, seed(node))
    finally:
        node.stop()


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
        if not isinstance(query, dict) or "q" not in query:
            return st.just(query)
        return st.fixed_dictionaries({**{k: st.just(v) for k, v in query.items()},
                                      "q": st.one_of(st.just(query["q"]),
                                                     st.sampled_from(WORDS))})

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


def named_hidden(params: dict[str, Any], secrets: Secrets) -> tuple[str, ...] | None:
    item, portion = params.get("item_id"), params.get("portion_id")
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
    shown = [s for s in secrets.texts if s in answer.text and s not in answer.sent]
    if answer.operation not in IDS_ALLOWED:
        shown += [i for i in secrets.ids if i in answer.text and i not in answer.sent]
    problems = [f"shows {s!r}" for s in sorted(shown)]
    hidden = named_hidden(answer.path_parameters, secrets)
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

@dataclass
class Tally:
    sent: int = 0
    server_errors: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    by_class: Counter[str] = field(default_factory=Counter)  # "2xx": answers

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
    return {"item_id": [i.id for i in ITEMS], "portion_id": ["p1", "p2", "p3"],
            "area_id": [a.id for a in AREAS], "request_id": list(world.release_items)}


def aimed(operation: Operation, known: dict[str, list[str]]) -> list[Run]:
    """One case for every combination of seeded names the operation's path can take,
    so that every hidden item, portion, area and request is asked for in every run."""
    names = re.findall(r"{(\w+)}", operation.path)
    if not names or not set(names) <= set(known):
        return []
    return [Run(operation.as_strategy(path_parameters=dict(zip(names, values, strict=True))), 1)
            for values in itertools.product(*(known[n] for n in names))]


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
    tally.sent += 1
    tally.by_class[f"{response.status_code // 100}xx"] += 1
    if case.operation.label == "POST /api/items" and response.status_code == 201:
        world.created.add(str(response.json().get("id")))
    try:
        case.validate_response(response, checks=[not_a_server_error, caller.check],
                               headers=caller.headers)
    except FailureGroup as group:
        where = (f"{caller.person.username}: {case.operation.label} "
                 f"{case.path_parameters or ''} -> {response.status_code}")
        for failure in group.exceptions:
            bucket = tally.server_errors if response.status_code >= 500 else tally.leaks
            bucket.append(f"{where}: {failure.title}: {failure.message[:300]}")


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


def fuzz_every_role(world: World, examples: int, fixed: bool) -> Tally:
    runs = plan(load_schema(world), world)
    tally = Tally()
    started = time.monotonic()
    for person in FUZZED:
        save_areas(world.node)
        fuzz_as(person, world, runs, examples, tally, fixed)
    print(f"\n{tally.figure([p.label for p in FUZZED])}\n"
          f"  answers {', '.join(f'{k} {n}' for k, n in sorted(tally.by_class.items()))}; "
          f"{len(runs)} runs per role, {time.monotonic() - started:.0f} s")
    return tally


def assert_clean(tally: Tally) -> None:
    shown = "\n".join([*tally.server_errors[:15], *tally.leaks[:15]])
    assert not tally.server_errors and not tally.leaks, shown


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


def test_api_fuzz_every_role(world: World) -> None:
    assert_clean(fuzz_every_role(world, FAST_EXAMPLES, fixed=True))


@pytest.mark.slow
def test_api_fuzz_soak(world: World) -> None:
    """The long form (`make soak`): many more examples (LIAISON_FUZZ_EXAMPLES, default 60
    per operation and role), a new random draw each run."""
    assert_clean(fuzz_every_role(world, SOAK_EXAMPLES, fixed=False))
