"""The partners this node trusts: adding one from its card and the fingerprint exchanged
out of band (never trusted on first use, never rolled back to an older card)."""

from __future__ import annotations

from typing import Any

from liaison.crypto.keys import Card, KeyError_, verify_card
from liaison.domain.card_acceptance import rollback_problem
from liaison.domain.partner_address import AddressRefused, federation_address
from liaison.domain.users import Role, User
from liaison.services.audit_trail import record
from liaison.services.auth_roles import require
from liaison.services.card_refresh import facts
from liaison.services.context import Deps
from liaison.services.errors import Invalid, NotFound, Refused
from liaison.services.ports import Peer


def add_peer(deps: Deps, user: User, party: str, address: str, fingerprint: str,
             card_data: dict[str, Any]) -> Peer:
    """Trust a partner: its card must carry the identity key whose fingerprint was
    exchanged out of band, and name ``party`` (nothing is trusted on first use)."""
    require(user, Role.ADMIN)
    try:
        card = verify_card(card_data, fingerprint)
    except KeyError_ as exc:
        raise Refused(str(exc)) from exc
    if card.party != party:
        raise Refused(f"the card at {address} is for {card.party}, not {party}")
    if party == deps.party:
        raise Invalid("a node is not its own partner")
    # Envelopes go to the federation address the partner states in its signed card, and
    # only over https (issue 17, rule 7): a card naming anything else is not trusted.
    try:
        target = federation_address(card.address or address)
    except AddressRefused as exc:
        raise Refused(f"the card of {party} names a federation address envelopes may not "
                      f"go to: {exc}") from exc
    peer = Peer(party, target, card.fingerprint, card, deps.clock())
    with deps.uow() as uow:
        known = uow.peers.get(party)
        if known is not None:
            _no_rollback(known.card, card)
        uow.peers.put(peer)
        record(uow, deps, user.username, "peer.added", f"peer:{party}",
               {"address": peer.address, "fingerprint": peer.fingerprint})
        uow.commit()
    return peer


def _no_rollback(trusted: Card, card: Card) -> None:
    """A card given again may not be older than the trusted one, nor list as usable a key
    the trusted one revoked: a replayed old card would undo a rotation or a revocation."""
    problem = rollback_problem(facts(trusted), facts(card))
    if problem:
        raise Refused(problem)


def list_peers(deps: Deps) -> list[Peer]:
    with deps.uow() as uow:
        return uow.peers.list()


def get_peer(deps: Deps, party: str) -> Peer:
    with deps.uow() as uow:
        peer = uow.peers.get(party)
    if peer is None:
        raise NotFound(f"no partner node {party}: add it with `liaison peer add`")
    return peer
