"""Each safety test against the faults it exists to catch (``tests/assurance/planted.py``).

Every fault below is planted in-process, the matching safety test's own logic is run
against it, and it must fail; one that survives fails this run. The faults that need a
running node (a route's role check removed, the release check answering every portion's
text, a listing ignoring clearance) are in ``test_api_fuzz.py`` with the fuzzer's oracle.

Figure: ``planted faults (…): caught K of K``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from . import planted
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
