"""Issue 17 point 7: the rule by which a partner's refreshed card replaces the one held
(``domain.card_acceptance``): pinned identity, its signature, no rollback, https."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from liaison.domain.card_acceptance import (
    CARD_SKEW,
    REFRESH_EVERY,
    CardFacts,
    may_refresh,
    refusal,
)

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
HELD = CardFacts("JPN", "f" * 32, NOW - timedelta(days=3), frozenset({"s1", "e1", "s0"}),
                 frozenset({"r1"}),
                 "https://jpn.example:8443")
NEW = replace(HELD, issued=NOW, valid_keys=HELD.valid_keys | {"s2", "e2"})


def test_a_rotated_card_signed_by_the_pinned_identity_is_accepted() -> None:
    assert refusal("JPN", HELD, NEW, True, NOW) is None
    assert refusal("JPN", HELD, replace(NEW, issued=HELD.issued), True, NOW) is None


def test_a_card_not_signed_by_the_pinned_identity_is_refused() -> None:
    assert "not signed by its pinned identity" in str(refusal("JPN", HELD, NEW, False, NOW))


def test_another_identity_is_never_trusted_on_first_use() -> None:
    other = replace(NEW, fingerprint="a" * 32)
    assert "not the pinned" in str(refusal("JPN", HELD, other, True, NOW))


def test_a_card_for_another_party_is_refused() -> None:
    assert "is for KOR" in str(refusal("JPN", HELD, replace(NEW, party="KOR"), True, NOW))


def test_an_older_card_is_refused_as_a_rollback() -> None:
    old = replace(NEW, issued=HELD.issued - timedelta(seconds=1))  # type: ignore[operator]
    assert "an old card is not taken back" in str(refusal("JPN", HELD, old, True, NOW))


def test_a_card_without_an_issue_time_or_from_the_future_is_refused() -> None:
    assert "no issue time" in str(refusal("JPN", HELD, replace(NEW, issued=None), True, NOW))
    ahead = replace(NEW, issued=NOW + CARD_SKEW + timedelta(seconds=1))
    assert "in the future" in str(refusal("JPN", HELD, ahead, True, NOW))
    assert refusal("JPN", HELD, replace(NEW, issued=NOW + CARD_SKEW), True, NOW) is None


def test_a_revoked_key_stays_revoked() -> None:
    back = replace(NEW, valid_keys=NEW.valid_keys | {"r1"})
    assert "stays revoked" in str(refusal("JPN", HELD, back, True, NOW))


def test_only_an_https_address_is_taken() -> None:
    for address in ("http://jpn.example:8443", "https://jpn.example/inbox", "ftp://x", ""):
        assert "address" in str(refusal("JPN", HELD, replace(NEW, address=address), True,
                                         NOW)), address


def test_a_refresh_is_asked_at_most_once_per_interval() -> None:
    assert may_refresh(None, NOW)
    assert not may_refresh(NOW, NOW + REFRESH_EVERY - timedelta(seconds=1))
    assert may_refresh(NOW, NOW + REFRESH_EVERY)
    assert not may_refresh(NOW, NOW - timedelta(hours=1))  # a clock that went back
