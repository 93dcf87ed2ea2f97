"""A node over in-memory storage with its real keys, and partners pinned by their cards: what
the hostile-partner tests drive. A partner seals valid envelopes exactly as a real partner
node would (``federation.seal_batch``); the node under test receives them through its inbox
with the node's own appliers (``services.appliers.APPLIERS``) and answers a signed receipt."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from liaison.crypto.keys import verify_card
from liaison.domain.agreements import Agreement
from liaison.federation.keystore import Keystore
from liaison.services import federation
from liaison.services.appliers import APPLIERS
from liaison.services.context import Deps
from liaison.services.ports import OutboxMessage, Peer
from tests.twins import MemoryState, MemoryUnitOfWork

SEQ = itertools.count(1)


class Node:
    def __init__(self, party: str, root: Path, agreements: Iterable[Agreement],
                 now: datetime) -> None:
        self.party, self.now = party, now
        self.keys = Keystore.create(root / party, now)
        self.state = MemoryState()
        for a in agreements:
            self.state.agreements[a.id] = a
        ids = itertools.count()
        self.deps = Deps(uow=lambda: MemoryUnitOfWork(self.state), party=party,
                         clock=lambda: now, ids=lambda: f"{party}-{next(ids)}",
                         keyring=self.keys, address=f"https://{party.lower()}.example")

    def trust(self, other: Node) -> None:
        card = asdict(other.keys.card(other.party, other.deps.address, self.now))
        self.state.peers[other.party] = Peer(other.party, other.deps.address,
                                             other.keys.fingerprint,
                                             verify_card(card, other.keys.fingerprint),
                                             self.now)

    def send(self, to: Node, kind: str, payload: Any) -> tuple[str, str]:
        """``payload`` as one message of ``kind``, sealed and signed with this node's real
        keys and received by ``to``'s inbox; the outcome and reason from ``to``'s signed
        receipt."""
        message = OutboxMessage(f"{self.party}-m{next(SEQ)}", to.party, next(SEQ), kind,
                                payload, self.now, "pending")
        _, wire = federation.seal_batch(self.deps, self.state.peers[to.party], [message])
        receipt = federation.receive(to.deps, wire, APPLIERS)
        _, body = federation.open_from_peer(self.deps, receipt, self.state.peers)
        result = json.loads(body)["results"][0]
        return str(result["outcome"]), str(result.get("reason", ""))
