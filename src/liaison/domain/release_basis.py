"""What a release decision rests on, as a ``Basis`` of digests. Pure: no I/O.

Issue 18: an approval counts only while nothing it was given on has changed. The parts:
the portions' labels (levels, caveats, categories, releasability), the rest of the item
(its text, attachments, metadata), every agreement binding the node's party and the
recipient (terms, events and status on the day asked), the consents naming the recipient
for this item or any item, and the route the engine chose (governing agreement, hubs).
The reciprocity balance is left out on purpose: it moves with every release, and the
engine, asked again at release, holds the release when the balance forbids it.
"""

from __future__ import annotations

import json
from datetime import date
from hashlib import sha256
from typing import Any

from liaison.domain.agreement_lifecycle import status_at
from liaison.domain.agreements import Agreement
from liaison.domain.codec import agreement_to, item_to
from liaison.domain.items import Item
from liaison.domain.release_decision import Decision
from liaison.domain.release_facts import ReleaseFacts
from liaison.domain.review import Basis


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)
    return sha256(text.encode()).hexdigest()


def basis_of(item: Item, decision: Decision, facts: ReleaseFacts, day: date) -> Basis:
    """The basis of ``decision`` (the engine's, for ``item`` to its recipient on ``day``)."""
    whole = item_to(item)
    labels = [(p["id"], p.pop("label")) for p in whole["portions"]]
    owner, recipient = facts.owner.code, decision.recipient
    agreements = [(agreement_to(a), _status(a, day, facts))
                  for a in sorted(facts.agreements, key=lambda a: a.id)
                  if owner in a.parties and recipient in a.parties]
    consents = sorted(
        (c.originator, c.item_id, c.purpose, c.granted_by, c.granted_on.isoformat())
        for c in facts.consents if c.recipient == recipient and c.item_id in (item.id, "*"))
    return Basis(labels=_digest(labels), content=_digest(whole),
                 agreements=_digest([list(a) for a in agreements]),
                 consents=_digest(consents),
                 route=_digest([decision.agreement_id, list(decision.route)]))


def _status(agreement: Agreement, day: date, facts: ReleaseFacts) -> dict[str, Any]:
    s = status_at(agreement, day, facts.rules)
    return {"state": s.state.value, "since": s.in_force_since, "ends": s.ends_on,
            "withdrawn": sorted(s.withdrawn)}
