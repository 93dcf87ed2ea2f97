"""A partner's rotated keys, picked up without a manual ``peer add`` (issue 17 point 7).

When an envelope or a receipt from a partner is signed with a key id its held card does not
list, this node fetches the partner's card again, over mutual TLS from the partner's
federation address pinned to the TLS certificate on the held card (``fetch``, the
transport's), and takes it only as ``domain.card_acceptance`` allows: the same pinned
identity key signed it, it is not older than the card held, it revives no revoked key and
names an https address. At most one fetch per partner per ``REFRESH_EVERY`` in each
process (a node with several workers fetches at most once per worker).
Every card accepted or refused is audited (``peer.card_refreshed`` / ``peer.card_refused``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from liaison.crypto.keys import Card, KeyError_, parse_card, self_signed
from liaison.domain.card_acceptance import REFRESH_EVERY, CardFacts, may_refresh, refusal
from liaison.domain.partner_address import federation_address
from liaison.services.audit_trail import record
from liaison.services.context import Deps
from liaison.services.ports import Peer

CardFetch = Callable[[Peer], dict[str, Any]]


def facts(card: Card) -> CardFacts:
    keys = (*card.signing_keys, *card.encryption_keys)
    return CardFacts(card.party, card.fingerprint, _issued(card.issued),
                     frozenset(k.id for k in keys if not k.revoked),
                     frozenset(k.id for k in keys if k.revoked), card.address)


def _issued(text: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return at if at.tzinfo else None


def _keys(card: Card) -> dict[str, list[str]]:
    return {"signing": [k.id for k in card.signing_keys],
            "encryption": [k.id for k in card.encryption_keys]}


def accept_card(deps: Deps, party: str, data: dict[str, Any], trigger: str) -> Peer | str:
    """Replace ``party``'s held card by ``data`` when the acceptance rule allows it: the
    refreshed partner, or the reason it was refused. Either way audited."""
    now = deps.clock()
    with deps.uow() as uow:
        held = uow.peers.get(party)
        if held is None:
            return f"{party} is not a partner here"
        try:
            card = parse_card(data)
            # a card stating no address keeps the one held (as ``peer add`` takes the one
            # given); the address used is checked either way
            offered = replace(facts(card), address=card.address or held.address)
            problem = refusal(party, facts(held.card), offered, self_signed(card), now)
        except KeyError_ as exc:
            card, problem = None, f"the card offered for {party} is malformed: {exc}"
        if problem or card is None:
            record(uow, deps, "federation", "peer.card_refused", f"peer:{party}",
                   {"reason": problem, "trigger": trigger[:300],
                    "offered_issued": str(data.get("issued", ""))[:64]
                    if isinstance(data, dict) else ""})
            uow.commit()
            return problem or "refused"
        peer = Peer(party, federation_address(card.address or held.address),
                    held.fingerprint, card, held.added_at)
        uow.peers.put(peer)
        record(uow, deps, "federation", "peer.card_refreshed", f"peer:{party}",
               {"trigger": trigger[:300], "issued": card.issued, "keys": _keys(card),
                "previous_issued": held.card.issued, "previous_keys": _keys(held.card)})
        uow.commit()
    return peer


# One refresh at a time in this process, and one fetch per partner per interval, shared by
# the inbox and the outbox sender (keyed by this node's party and the partner's): two
# refreshes racing would fetch twice and refuse the older of the two cards as a rollback.
_LOCK = threading.Lock()
_LAST: dict[tuple[str, str], datetime] = {}


class CardRefresher:
    """Fetches and accepts a partner's card on demand, at most once per ``every`` per
    partner in this process; safe to call from several threads."""

    def __init__(self, deps: Deps, fetch: CardFetch,
                 every: timedelta = REFRESH_EVERY,
                 trust: Callable[[str], None] | None = None) -> None:
        """``trust``: called with the partner's TLS certificate (PEM) when a card taken
        names a new one, so the federation listener accepts the partner's connections
        under it at once (as ``peer add`` does)."""
        self.deps, self.fetch, self.every, self.trust = deps, fetch, every, trust
        self._last = _LAST

    def __call__(self, peer: Peer, key_id: str, trigger: str) -> Peer | str:
        """``peer`` with a card listing signing key ``key_id`` (refreshed now, or by
        another thread meanwhile), or why not."""
        with _LOCK:
            with self.deps.uow() as uow:
                stored = uow.peers.get(peer.party)
            if stored is not None and any(k.id == key_id for k in stored.card.signing_keys):
                return stored
            now, slot = self.deps.clock(), (self.deps.party, peer.party)
            last = self._last.get(slot)
            if last is not None and not may_refresh(last, now, self.every):
                return (f"{peer.party}'s card was last fetched at {last.isoformat()}; it is "
                        f"fetched at most every {self.every.total_seconds():.0f} s")
            self._last[slot] = now
            return self._refresh(stored or peer, trigger)

    def _refresh(self, peer: Peer, trigger: str) -> Peer | str:
        try:
            data = self.fetch(peer)
        except Exception as exc:  # unreachable, TLS, not JSON: nothing changes
            reason = f"the card of {peer.party} could not be fetched: {exc}"[:500]
            with self.deps.uow() as uow:
                record(uow, self.deps, "federation", "peer.card_refused", f"peer:{peer.party}",
                       {"reason": reason, "trigger": trigger[:300], "offered_issued": ""})
                uow.commit()
            return reason
        taken = accept_card(self.deps, peer.party, data, trigger)
        if (self.trust is not None and not isinstance(taken, str)
                and taken.card.tls_cert != peer.card.tls_cert):
            self.trust(taken.card.tls_cert)
        return taken
