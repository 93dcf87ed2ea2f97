"""The authority rule for a partner's level change, compromise and destruction reports
(domain.protection_authority; issue 17)."""

from __future__ import annotations

from typing import Any

import pytest

from liaison.domain.protection_authority import (
    ProtectionRefused,
    regrade_from,
    regrade_refusal,
    report_from,
    report_refusal,
)

from factories import item, label

JPNS = item(label("군사II급비밀", "JPN"), label("군사II급비밀", "KOR"))  # our copy of J1


def test_a_partner_regrades_only_the_portions_it_originated() -> None:
    """docs/rules.md#level-change: the originator changes a level; JPN's copy quoting KOR's portion
    does not let JPN regrade KOR's portion."""
    first, second = (p.id for p in JPNS.portions)
    assert regrade_refusal(JPNS, first, "JPN") is None
    assert "originated by KOR, not JPN" in str(regrade_refusal(JPNS, second, "JPN"))
    assert "originated by JPN, not USA" in str(regrade_refusal(JPNS, first, "USA"))
    assert "has no portion nope" in str(regrade_refusal(JPNS, "nope", "JPN"))


def test_a_partner_reports_only_on_what_we_gave_it() -> None:
    assert report_refusal("K1", "JPN", "compromise", {"K1"}) is None
    reason = report_refusal("K1", "USA", "destruction", set())
    assert reason and "no item K1 was released to USA" in reason


REPORT = {"item_id": "K1", "description": "lost in transit", "measures": "investigating"}


def test_a_report_keeps_its_description_and_measures_only() -> None:
    assert report_from({**REPORT, "extra": "x" * 10**6}, "compromise") == REPORT
    assert report_from({"item_id": "K1", "description": "gone"}, "destruction")[
        "measures"] == ""


@pytest.mark.parametrize("body", [
    "not an object", {**REPORT, "item_id": 7}, {**REPORT, "item_id": ""},
    {**REPORT, "item_id": "a\nb"}, {**REPORT, "description": ""},
    {**REPORT, "description": ["x"]}, {**REPORT, "description": "x" * 8001},
    {**REPORT, "measures": None},
])
def test_a_malformed_report_is_refused(body: Any) -> None:
    with pytest.raises(ProtectionRefused):
        report_from(body, "compromise")


CHANGE = {"item_id": "J1", "portion_id": "p1", "level": "秘", "reason": "declassified"}


@pytest.mark.parametrize("body", [
    None, {**CHANGE, "level": 3}, {**CHANGE, "level": ""}, {**CHANGE, "portion_id": None},
    {**CHANGE, "reason": "x" * 2001}, {**CHANGE, "item_id": "x" * 257},
])
def test_a_malformed_level_change_is_refused(body: Any) -> None:
    with pytest.raises(ProtectionRefused):
        regrade_from(body)


def test_a_level_change_reads_whole() -> None:
    assert regrade_from({**CHANGE, "extra": 1}) == CHANGE
