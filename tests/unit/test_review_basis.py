"""Issue 18, the pure parts: what a release decision rests on (``basis_of``), which parts a
change touches, approvals that count only on the basis they were given on, the reviews
needed derived from the item as it is, and requests stored before the basis existed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from liaison.domain.release import decide
from liaison.domain.release_basis import basis_of
from liaison.domain.release_facts import Consent
from liaison.domain.request_codec import request_from, request_to
from liaison.domain.review import (
    Basis,
    RequestState,
    Review,
    ReviewError,
    add_review,
    conclude,
    open_request,
    refresh,
    reviews_needed,
)

from factories import KOR, agreement, d, facts, item, label, seed_agreements

NOW = datetime(2019, 11, 23, 9, tzinfo=UTC)
DAY = d("2019-11-23")


def basis(it, f=None):  # type: ignore[no-untyped-def]
    f = f or facts()
    return basis_of(it, decide(it, "JPN", DAY, f), f, DAY)


def test_each_change_touches_its_part_and_only_it() -> None:
    it = item(label("군사III급비밀", rel_to={"JPN"}), label("군사III급비밀", "USA", rel_to={"JPN"}))
    before = basis(it)
    regraded = replace(it, portions=(replace(it.portions[0], label=label(
        "군사II급비밀", rel_to={"JPN"})), it.portions[1]))
    assert basis(regraded).changed_since(before) == ("labels",)
    edited = replace(it, portions=(replace(it.portions[0], content="amended"), it.portions[1]))
    assert basis(edited).changed_since(before) == ("content",)
    consent = Consent("USA", "JPN", it.id, "warning", "USFK J2", d("2019-11-20"))
    assert basis(it, facts(consents=(consent,))).changed_since(before) == ("consents",)
    other = replace(consent, item_id="OTHER")  # a consent for another item changes nothing
    assert basis(it, facts(consents=(other,))).changed_since(before) == ()
    ended = seed_agreements(drop_events=("NOTICE_SUSPENDED", "NOTICE_WITHDRAWN"))
    later = d("2019-12-01")
    moved = basis_of(it, decide(it, "JPN", later, facts(ended)), facts(ended), later)
    assert moved.changed_since(before) == ("agreements", "route")
    wider = tuple(agreement(a.id, max_imbalance=3) if a.id == "KOR-JPN-GSOMIA" else a
                  for a in seed_agreements())
    assert basis(it, facts(wider)).changed_since(before) == ("agreements",)
    # the reciprocity balance moves with every release: the engine holds at release instead
    assert basis(it, facts(balances={"KOR-JPN-GSOMIA": 5})) == before


def request(it, b: Basis):  # type: ignore[no-untyped-def]
    dec = decide(it, "JPN", DAY, facts())
    return open_request(request_id="r", item_id=it.id, recipient="JPN", purpose="warning",
                        requested_by="lee", requested_at=NOW, decision=dec,
                        required=reviews_needed(it, dec.tearline, KOR), basis=b)


def test_a_change_voids_earlier_approvals_and_recounts_the_reviews() -> None:
    it = item(label("군사III급비밀", rel_to={"JPN"}))
    b = basis(it)
    req = add_review(request(it, b), Review("park", True, ("p1",), "", NOW, b.digest))
    assert (req.approvals, req.required_reviews) == (1, 1)
    raised = replace(it, portions=(replace(it.portions[0], label=label(
        "군사II급비밀", rel_to={"JPN"})),))
    fresh = decide(raised, "JPN", DAY, facts())
    now = basis(raised)
    needed = reviews_needed(raised, fresh.tearline, KOR)
    assert needed == 2
    # the release cannot be concluded on the stale basis, even with enough approvals
    assert conclude(req, fresh, now, needed) == req
    after, voiding = refresh(req, now, fresh, needed, NOW)
    assert voiding is not None and voiding.voided == ("park",)
    assert voiding.text.startswith("approvals before the change of the portions' levels or "
                                   "markings on 2019-11-23 09:00 UTC no longer count (park)")
    assert (after.approvals, after.required_reviews) == (0, 2)
    with pytest.raises(ReviewError, match="not given on what the decision rests on now"):
        add_review(after, Review("choi", True, ("p1",), "", NOW, b.digest))
    after = add_review(after, Review("park", True, ("p1",), "", NOW, now.digest))  # again
    with pytest.raises(ReviewError, match="already reviewed"):
        add_review(after, Review("park", True, ("p1",), "", NOW, now.digest))
    after = add_review(after, Review("choi", True, ("p1",), "", NOW, now.digest))
    assert conclude(after, fresh, now, needed).state is RequestState.RELEASED


def test_a_request_stored_before_the_basis_counts_no_approval() -> None:
    it = item(label("군사III급비밀", rel_to={"JPN"}))
    b = basis(it)
    req = add_review(request(it, b), Review("park", True, ("p1",), "", NOW, b.digest))
    old = request_to(req)
    del old["basis"], old["voidings"]
    for v in old["reviews"]:
        del v["basis"]
    stored = request_from(old)
    assert stored.basis.digest == "" and stored.approvals == 0
    assert request_from(request_to(req)) == req


def test_reviews_needed_fails_closed_on_unknown_portions() -> None:
    it = item(label("군사III급비밀", rel_to={"JPN"}))
    assert reviews_needed(it, ("p1",), KOR) == 1
    assert reviews_needed(it, ("p1", "gone"), KOR) == 2
