"""When a partner's refreshed card replaces the one held (issue 17 point 7: a partner's
rotated keys are picked up without a manual ``peer add``). Pure: facts in, a refusal reason
or ``None`` out.

A partner's identity key is pinned out of band (its fingerprint, ``liaison peer add``); its
signing and encryption keys rotate under it, old ones listed with their expiry for the
overlap (``crypto.keys``). So a refreshed card is accepted only when:

1. its identity key is the one pinned (a new identity takes a new ``peer add`` with a
   fingerprint exchanged out of band: nothing is trusted on first use);
2. it is signed by that pinned identity key;
3. it names the same party;
4. it states when it was issued, not before the card held (a replayed old card would undo a
   rotation or a revocation: rollback), nor after our clock plus a small skew;
5. no key the held card revoked is listed as valid again;
6. its federation address is one envelopes may go to (https, ``partner_address``).

A refresh is asked of a partner at most once per interval (``may_refresh``): envelopes
naming unknown key ids must not make this node fetch cards in a loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from liaison.domain.partner_address import AddressRefused, federation_address

CARD_SKEW = timedelta(minutes=5)  # a card may be dated this far past our clock
REFRESH_EVERY = timedelta(seconds=30)  # one card fetch per partner per interval


@dataclass(frozen=True)
class CardFacts:
    """What the rule needs to know of a card (held or offered)."""

    party: str
    fingerprint: str  # the id of its identity key
    issued: datetime | None  # None: absent or not a time with a zone
    valid_keys: frozenset[str]  # key ids listed and not revoked
    revoked_keys: frozenset[str]
    address: str


def rollback_problem(held: CardFacts, offered: CardFacts) -> str | None:
    """Rule 4 (the "before" half) and rule 5: an older card, or one that brings back a
    revoked key, is not taken back."""
    if held.issued and offered.issued and offered.issued < held.issued:
        return (f"the card offered for {offered.party} was issued "
                f"{offered.issued.isoformat()}, before the one already trusted "
                f"({held.issued.isoformat()}); an old card is not taken back")
    back = sorted(offered.valid_keys & held.revoked_keys)
    if back:
        return (f"the card offered for {offered.party} lists revoked key(s) "
                f"{', '.join(back)} as valid; a revoked key stays revoked")
    return None


def refusal(pinned_party: str, held: CardFacts, offered: CardFacts, signed_by_pinned: bool,
            now: datetime) -> str | None:
    """Why the ``offered`` card may not replace the ``held`` one of ``pinned_party``
    (whose pinned identity is ``held.fingerprint``); ``None`` when it may.
    ``signed_by_pinned``: its signature verifies with that pinned identity key."""
    if offered.fingerprint != held.fingerprint:
        return (f"the card offered for {pinned_party} has identity key {offered.fingerprint}, "
                f"not the pinned {held.fingerprint}; a new identity takes a new `liaison "
                f"peer add` with a fingerprint exchanged out of band")
    if not signed_by_pinned:
        return (f"the card offered for {pinned_party} is not signed by its pinned identity "
                f"key {held.fingerprint}")
    if offered.party != pinned_party:
        return f"the card offered for {pinned_party} is for {offered.party}"
    if offered.issued is None:
        return (f"the card offered for {pinned_party} states no issue time with a time "
                f"zone; its age cannot be checked against the one held")
    if offered.issued > now + CARD_SKEW:
        return (f"the card offered for {pinned_party} is dated {offered.issued.isoformat()}, "
                f"in the future")
    problem = rollback_problem(held, offered)
    if problem:
        return problem
    try:
        federation_address(offered.address)
    except AddressRefused as exc:
        return (f"the card offered for {pinned_party} names a federation address envelopes "
                f"may not go to: {exc}")
    return None


def may_refresh(last: datetime | None, now: datetime,
                every: timedelta = REFRESH_EVERY) -> bool:
    """Whether a partner's card may be fetched now, its last fetch being at ``last``. A
    clock that went back counts as just fetched (fail closed)."""
    return last is None or now - last >= every
