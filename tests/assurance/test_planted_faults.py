"""Each safety test against the faults it exists to catch (``tests/assurance/planted.py``).

Every fault below is planted in-process, the matching safety test's own logic is run
against it, and it must fail; one that survives fails this run. The faults that need a
running node (a route's role check removed, the release check answering every portion's
text, a listing ignoring clearance) are in ``test_api_fuzz.py`` with the fuzzer's oracle.

Figure: ``planted faults (…): caught K of K``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from liaison.config import Settings

from ..integration.node_fixtures import PASSWORD, NodeUnderTest, start_node
from . import planted
from . import test_api_fuzz as fuzz
from .planted import Fault


@pytest.fixture
def scratch(tmp_path: Path) -> Callable[[], Path]:
    """A fresh directory per call (each check builds its own nodes)."""
    count = iter(range(10**6))

    def fresh() -> Path:
        path = tmp_path / f"w{next(count)}"
        path.mkdir()
        return path

    return fresh


def faults(fresh: Callable[[], Path]) -> list[Fault]:
    def envelopes(test: str) -> Callable[[], None]:
        check = planted.envelope_check(test)
        return lambda: check(fresh())

    two_person = "tests/unit/test_two_person_rule.py"
    fail_closed = "tests/assurance/test_fail_closed.py"
    corpus = "test_the_bad_envelope_corpus_is_refused"
    return [
        Fault("the reviewer role check deleted from the review", two_person,
              planted.reviewer_role_not_required, planted.two_person_check),
        Fault("the same person approves twice", two_person,
              planted.same_person_approves_twice, planted.two_person_check),
        Fault("one review needed at every level (the stored count wrong)", two_person,
              planted.one_review_always, planted.two_person_check),
        Fault("the requester reviews their own request", two_person,
              planted.requester_reviews_own, planted.two_person_check),
        Fault("a policy exception at release treated as allow", fail_closed,
              planted.engine_fault_treated_as_no_objection,
              planted.engine_faults_check(fresh)),
        Fault("a database fault during release treated as success", fail_closed,
              planted.db_fault_treated_as_success, planted.database_faults_check(fresh)),
        Fault("the envelope signature not verified", f"tests/unit/test_envelopes.py::{corpus}",
              planted.signature_not_checked, envelopes(corpus)),
        Fault("replayed envelopes applied again",
              "tests/unit/test_envelopes.py::test_a_valid_batch_is_accepted_once",
              planted.replay_not_checked, envelopes("test_a_valid_batch_is_accepted_once")),
        Fault("an expired envelope from a pinned key accepted",
              f"tests/unit/test_envelopes.py::{corpus}",
              planted.expired_envelope_accepted, envelopes(corpus)),
        Fault("an expired pinned signing key accepted",
              "tests/unit/test_envelopes.py::test_rotation_keeps_old_keys_until_expiry",
              planted.expired_key_accepted,
              envelopes("test_rotation_keeps_old_keys_until_expiry")),
    ]


def test_every_planted_fault_is_caught(scratch: Callable[[], Path]) -> None:
    verdicts = [planted.judge(f) for f in faults(scratch)]
    print("\n" + planted.report("two-person rule, fail closed, envelopes", verdicts))
    missed = [f"{v.fault}: {v.how}" for v in verdicts if not v.caught]
    assert not missed, missed


# --- the API fuzzer's oracle, on a node served in this process -------------------------


class ServedNode:
    """``start_node``'s in-process node with the calls ``test_api_fuzz.seed`` makes."""

    url = ""

    def __init__(self, node: NodeUnderTest) -> None:
        self.client = node.client
        self.token = node.tokens["admin"]
        self.tokens: dict[str, str] = {}

    def login(self, user: str = "admin") -> str:
        if user not in self.tokens:
            r = self.client.post("/api/auth/login", json={"username": user,
                                                          "password": PASSWORD})
            assert r.status_code == 200, r.text
            self.tokens[user] = r.json()["token"]
        return self.tokens[user]

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        r = self.client.request(method, path, headers={
            "Authorization": f"Bearer {token or self.token}"}, **kw)
        assert r.status_code < 400, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedNode,
                                                                       dict[str, str]]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("planted-api") / "kor")
    for node in start_node(settings):
        served = ServedNode(node)
        yield served, fuzz.seed(served)  # type: ignore[arg-type]


def oracle_check(node: ServedNode, release_items: dict[str, str]) -> Callable[[], None]:
    """The fuzzer's oracle (``leaks_in``) over the reads aimed at every seeded item, as
    every user: raises ``AssertionError`` naming what it found."""
    def check() -> None:
        found = []
        for person in fuzz.FUZZED:
            secrets = fuzz.Secrets.of(person, release_items)
            headers = {"Authorization": f"Bearer {node.login(person.username)}"}
            reads = [("GET /api/items", "/api/items", {}, {}),
                     ("GET /api/releases", "/api/releases", {}, {})]
            reads += [(f"GET /api/items/{{item_id}}{tail}", f"/api/items/{i.id}{tail}",
                       {"item_id": i.id}, query) for i in fuzz.AUTHORED
                      for tail, query in (("", {}), ("/release-check", {"to": "USA"}))]
            for operation, path, params, query in reads:
                r = node.client.get(path, params=query, headers=headers)
                data = r.json() if "json" in r.headers.get("content-type", "") else None
                answer = fuzz.Answer(operation, params, path, r.status_code, r.text, data)
                found += [f"{person.username}: {operation}: {p}"
                          for p in fuzz.leaks_in(answer, secrets)]
        assert not found, "; ".join(found[:3])
    return check


def test_the_api_oracle_catches_planted_leaks(served: tuple[ServedNode, dict[str, str]]
                                              ) -> None:
    node, release_items = served
    check = oracle_check(node, release_items)
    check()  # the unbroken node passes
    fuzz_test = "tests/assurance/test_api_fuzz.py (leaks_in, the role rules)"
    verdicts = [planted.judge(Fault(name, fuzz_test, plant, check)) for name, plant in (
        ("the release check returns every portion's text to any caller",
         planted.release_check_tells_all),
        ("a listing ignores clearance", planted.listing_ignores_clearance),
        ("the release routes' role check removed", planted.release_role_check_removed))]
    print("\n" + planted.report("API fuzzer oracle", verdicts))
    missed = [f"{v.fault}: {v.how}" for v in verdicts if not v.caught]
    assert not missed, missed
