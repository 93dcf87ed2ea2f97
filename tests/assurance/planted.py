"""Planted faults: deliberately broken copies of the product, each paired with the safety
test logic that must catch it (the charter: a safety test is trusted only once it has
caught a planted fault).

A fault is planted in-process with ``pytest.MonkeyPatch`` (a wrapper around, or a stand-in
for, one product function), the matching check is run, and the fault is removed again. A
check *catches* its fault when it fails with an ``AssertionError`` (hypothesis reports a
state machine's failure that way too); any other exception means the planting itself is
broken (e.g. the product function it names was renamed) and is reported as such, never
counted as a catch.

Faults that need a running node (role checks, the API fuzzer's leak oracle) are planted in
the node's own process: ``serve_planted`` is the node's entry point with every fault of
``NODE_FAULTS`` installed behind a switch, a file in the node's data directory naming the
fault that is on (``PLANTED_FILE``); ``tests/assurance/test_api_fuzz.py`` runs them.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

UNIT_TESTS = Path(__file__).resolve().parent.parent / "unit"
PLANTED_FILE = "planted-fault"  # in a node's data directory: the name of the fault that is on

Plant = Callable[[pytest.MonkeyPatch], None]
# how a test fails: an assertion, or pytest's own (``pytest.raises`` that did not raise)
FAILURES = (AssertionError, pytest.fail.Exception)


@dataclass(frozen=True)
class Fault:
    """One planted fault: what it breaks (``plant``) and the safety test logic that must
    fail against it (``check``, raising ``AssertionError`` when it catches the fault)."""

    name: str
    test: str  # the safety test whose logic ``check`` runs
    plant: Plant
    check: Callable[[], None]


@dataclass(frozen=True)
class Verdict:
    fault: str
    caught: bool
    how: str  # the check's failure (first line), or why the planting is broken


def unit_module(name: str) -> Any:
    """A module of ``tests/unit`` (they import their helpers as top-level modules), by the
    name pytest itself gives it, so both share one copy."""
    if str(UNIT_TESTS) not in sys.path:
        sys.path.insert(0, str(UNIT_TESTS))
    return __import__(name)


def target(dotted: str) -> tuple[Any, str, Any]:
    """(owner, attribute, original) for ``package.module.attr`` or ``...Class.attr``; a
    clear error when the product no longer has it, so a rename breaks the planting
    loudly instead of leaving the fault unplanted."""
    module_name, _, attr = dotted.rpartition(".")
    parts = module_name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            owner: Any = __import__(".".join(parts[:cut]), fromlist=["_"])
        except ImportError:
            continue
        for name in parts[cut:]:
            owner = getattr(owner, name)
        break
    else:
        raise LookupError(f"cannot import {module_name}")
    if not hasattr(owner, attr):
        raise LookupError(f"{dotted} no longer exists: update the planted fault")
    return owner, attr, getattr(owner, attr)


def wrap(mp: pytest.MonkeyPatch, dotted: str,
         make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace ``dotted`` with ``make(original)``."""
    owner, attr, original = target(dotted)
    mp.setattr(owner, attr, make(original))


def judge(fault: Fault) -> Verdict:
    with pytest.MonkeyPatch.context() as mp:
        try:
            fault.plant(mp)
        except Exception as exc:
            return Verdict(fault.name, False, f"PLANTING BROKEN: {exc}")
        try:
            fault.check()
        except FAILURES as exc:
            return Verdict(fault.name, True, first_line(exc))
        except BaseExceptionGroup as group:
            found, _ = group.split(FAILURES)
            if found is not None:
                return Verdict(fault.name, True, first_line(found.exceptions[0]))
            return Verdict(fault.name, False, "CHECK BROKEN: " + first_line(group))
        except Exception as exc:
            return Verdict(fault.name, False, "CHECK BROKEN: " + first_line(exc)
                           + "\n" + traceback.format_exc(limit=-3))
    return Verdict(fault.name, False, "survived: the check passed with the fault planted")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


def report(kind: str, verdicts: list[Verdict]) -> str:
    """The figure (``planted faults (…): caught K of N``) and one line per fault."""
    k = sum(v.caught for v in verdicts)
    lines = [f"planted faults ({kind}): caught {k} of {len(verdicts)}"]
    lines += [f"  {'caught' if v.caught else 'MISSED'}: {v.fault} ({v.how})" for v in verdicts]
    return "\n".join(lines)


# --- the two-person rule ---------------------------------------------------------------


def reviewer_role_not_required(mp: pytest.MonkeyPatch) -> None:
    """``require(user, Role.REVIEWER)`` deleted from ``services.releases.review``."""
    from liaison.domain.users import Role

    def require(user: Any, *roles: Any) -> None:
        if roles != (Role.REVIEWER,):
            original(user, *roles)

    _, _, original = target("liaison.services.releases.require")
    mp.setattr("liaison.services.releases.require", require)


def same_person_approves_twice(mp: pytest.MonkeyPatch) -> None:
    """The "already reviewed" check dropped: a reviewer's second approval counts."""
    from liaison.domain import review

    def check(request: Any, r: Any) -> None:
        original(replace(request, reviews=tuple(v for v in request.reviews
                                                if v.reviewer != r.reviewer)), r)

    _, _, original = target("liaison.domain.review._check_reviewer")
    mp.setattr(review, "_check_reviewer", check)


def one_review_always(mp: pytest.MonkeyPatch) -> None:
    """The number of reviews needed computed wrongly (one, at every level): a test that
    reads the request's stored ``required_reviews`` cannot see it."""
    target("liaison.domain.review.required_reviews")
    mp.setattr("liaison.domain.review.required_reviews", lambda *_args: 1)


def requester_reviews_own(mp: pytest.MonkeyPatch) -> None:
    """The requester-may-not-review check dropped."""
    def check(request: Any, r: Any) -> None:
        original(replace(request, requested_by="\x00nobody"), r)

    _, _, original = target("liaison.domain.review._check_reviewer")
    mp.setattr("liaison.domain.review._check_reviewer", check)


def two_person_check() -> None:
    machine = unit_module("test_two_person_rule")
    machine.run_machine(machine.Totals(), examples=40, shrink=False)


# --- fail closed -----------------------------------------------------------------------


def engine_fault_treated_as_no_objection(mp: pytest.MonkeyPatch) -> None:
    """A policy exception at release time treated as allow: when the engine, asked again,
    fails closed, the decision made at request time is kept."""
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def conclude(request: Any, fresh: Any) -> Any:
            if any("fail closed" in r.text for r in fresh.reasons):
                fresh = request.decision
            return original(request, fresh)
        return conclude

    wrap(mp, "liaison.services.releases.conclude", make)


def db_fault_treated_as_success(mp: pytest.MonkeyPatch) -> None:
    """A database fault while writing the release's audit record swallowed ("auditing
    must not block work"): the release goes on and commits."""
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def record(*args: Any, **kwargs: Any) -> Any:
            try:
                return original(*args, **kwargs)
            except Exception:
                return None
        return record

    wrap(mp, "liaison.services.releases.record", make)


@contextmanager
def fail_closed_world(root: Path) -> Iterator[Any]:
    """The world of ``test_fail_closed`` (KOR and JPN on SQLite, trusting each other, one
    item at KOR)."""
    from liaison.services import federation
    from liaison.services.items import create_item

    from . import test_fail_closed as fc

    kor, jpn = fc.build_side(root, "KOR"), fc.build_side(root, "JPN")
    for a, b in ((kor, jpn), (jpn, kor)):
        federation.add_peer(a.deps, fc.ADMIN, b.party, b.deps.address, b.keys.fingerprint,
                            b.card())
    create_item(kor.deps, fc.KIM, fc.ITEM)
    try:
        yield fc.World(kor, jpn)
    finally:
        kor.engine.dispose()
        jpn.engine.dispose()


def engine_faults_check(root: Callable[[], Path]) -> Callable[[], None]:
    def check() -> None:
        from . import test_fail_closed as fc
        with fail_closed_world(root()) as world, pytest.MonkeyPatch.context() as mp:
            fc.test_faults_in_the_release_engine_release_nothing(world, fc.Tally(), mp)
    return check


def database_faults_check(root: Callable[[], Path]) -> Callable[[], None]:
    def check() -> None:
        from . import test_fail_closed as fc
        with fail_closed_world(root()) as world:
            fc.test_database_faults_during_a_release_release_nothing(world, fc.Tally())
    return check


# --- envelopes -------------------------------------------------------------------------


class _AnySignature:
    """A public key whose ``verify`` accepts everything."""

    def verify(self, signature: bytes, data: bytes) -> None:
        return None


def signature_not_checked(mp: pytest.MonkeyPatch) -> None:
    """The envelope's signature never verified (the sender's key looked up, not used)."""
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        return lambda info: _AnySignature()
    wrap(mp, "liaison.services.federation.envelopes.ed25519_public", make)


def replay_not_checked(mp: pytest.MonkeyPatch) -> None:
    """The inbox never finds a message it already applied, and records a message again
    over its earlier row (exactly-once dropped; the in-memory inbox the unit test uses)."""
    owner, _, _ = target("tests.twins.partners.MemoryInbox.seen_many")
    target("tests.twins.partners.MemoryInbox.add")

    def add(self: Any, *, sender: str, message_id: str, seq: int, outcome: str,
            **_rest: Any) -> None:
        self.s.inbox[(sender, message_id)] = (seq, outcome)

    mp.setattr(owner, "seen_many", lambda self, sender, ids: set())
    mp.setattr(owner, "add", add)


def expired_envelope_accepted(mp: pytest.MonkeyPatch) -> None:
    """An envelope past its ``expires`` accepted (the check of its times skips expiry)."""
    from liaison.crypto.envelope import utc

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def check_times(header: Any, now: Any) -> None:
            original(replace(header, expires=utc(now + timedelta(days=1))), now)
        return check_times
    wrap(mp, "liaison.crypto.envelope._check_times", make)


def expired_key_accepted(mp: pytest.MonkeyPatch) -> None:
    """A pinned partner key past its expiry still usable (only revocation checked)."""
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        return lambda self, now: not self.revoked
    wrap(mp, "liaison.crypto.keys.PublicKeyInfo.usable", make)


def envelope_check(test: str) -> Callable[[Path], None]:
    """Run ``tests/unit/test_envelopes.py``'s ``test`` on fresh nodes under ``root``."""
    def check(root: Path) -> None:
        envelopes = unit_module("test_envelopes")
        nodes = tuple(envelopes.Node(p, root) for p in ("KOR", "JPN", "USA"))
        kor, jpn, usa = nodes
        for a, b in ((kor, jpn), (jpn, kor), (jpn, usa), (usa, jpn), (kor, usa)):
            a.trust(b)
        function = getattr(envelopes, test)
        if "tmp_path" in function.__code__.co_varnames[:function.__code__.co_argcount]:
            function(nodes, root / "extra")
        else:
            function(nodes)
    return check


# --- the API: the fuzzer's leak oracle and role checks ----------------------------------
# Planted in a node served in this process (``tests/integration/node_fixtures.start_node``:
# real SQLite storage, the real app through ASGI), so a monkeypatch reaches the routes.


def release_check_tells_all(mp: pytest.MonkeyPatch) -> None:
    """The release check answers every officer, with every portion's text in its
    reasons (no clearance check, a "verbose" explanation); the role check stays, so the
    text oracle, not the role rule, has to catch it."""
    from liaison.domain.release import decide
    from liaison.domain.release_decision import Reason, Verdict
    from liaison.services import releases
    from liaison.services.errors import NotFound

    def check(deps: Any, user: Any, item_id: str, recipient: str, on: Any,
              purpose: str | None = None) -> Any:
        releases.require(user, *releases.OFFICERS)
        with deps.uow() as uow:
            stored = uow.items.get(item_id)
            if stored is None:
                raise NotFound(f"no item {item_id}")
            decision = decide(stored.item, recipient, on, releases.facts(uow, deps), purpose)
        told = tuple(Reason(p.id, Verdict.PASS, p.content) for p in stored.item.portions)
        return decision._replace(reasons=decision.reasons + told)

    target("liaison.services.releases.check")
    mp.setattr("liaison.services.releases.check", check)


def listing_ignores_clearance(mp: pytest.MonkeyPatch) -> None:
    """Items are cut to nothing: every reader sees every portion of every item."""
    target("liaison.services.items.visible_part")
    mp.setattr("liaison.services.items.visible_part", lambda item, user, party: item)


def release_role_check_removed(mp: pytest.MonkeyPatch) -> None:
    """The role check of the release routes removed (``require`` in
    ``services.releases`` lets everyone through)."""
    target("liaison.services.releases.require")
    mp.setattr("liaison.services.releases.require", lambda user, *roles: None)
