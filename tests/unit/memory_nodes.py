"""A node in memory for unit tests of what two nodes exchange: the in-memory twins for
storage, real node keys, and partners trusted by their signed cards."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from tests.twins import MemoryState, MemoryUnitOfWork

from liaison.crypto.keys import verify_card
from liaison.domain.agreements import Agreement
from liaison.federation.keystore import Keystore
from liaison.services.context import Deps
from liaison.services.ports import Peer


class MemoryNode:
    def __init__(self, party: str, root: Path, now: datetime,
                 agreements: Iterable[Agreement]) -> None:
        self.party, self.now = party, now
        self.keys = Keystore.create(root / party, now)
        self.state = MemoryState()
        for a in agreements:
            self.state.agreements[a.id] = a
        counter = iter(range(10**6))
        self.deps = Deps(uow=lambda: MemoryUnitOfWork(self.state), party=party,
                         clock=lambda: self.now, ids=lambda: f"{party}{next(counter):04}",
                         keyring=self.keys, address=f"http://{party.lower()}")

    def trust(self, other: MemoryNode) -> None:
        """Pin ``other``'s card, as `liaison peer add` does after checking its fingerprint."""
        card = other.keys.card(other.party, other.deps.address, self.now)
        self.state.peers[other.party] = Peer(other.party, other.deps.address,
                                             other.keys.fingerprint,
                                             verify_card(asdict(card), other.keys.fingerprint),
                                             self.now)
