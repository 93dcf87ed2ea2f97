"""What the release engine knows besides the item: the node's party, the parties and
agreements it knows, the originators' written consents and the reciprocity ledger.
Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from liaison.domain.agreement_lifecycle import LifecycleRules
from liaison.domain.agreements import Agreement
from liaison.domain.labels import Party


@dataclass(frozen=True, slots=True)
class Consent:
    """Written consent of an originator (docs/rules.md#consent): its
    information in ``item_id`` may go to ``recipient`` for ``purpose``."""

    originator: str
    recipient: str
    item_id: str
    purpose: str
    granted_by: str
    granted_on: date


@dataclass(frozen=True)
class ReleaseFacts:
    """What the engine knows besides the item. ``balances``: per agreement id, how many
    more releases this node has given than received (reciprocity ledger)."""

    owner: Party
    parties: Mapping[str, Party]
    agreements: tuple[Agreement, ...]
    consents: tuple[Consent, ...] = ()
    balances: Mapping[str, int] = field(default_factory=dict)
    rules: LifecycleRules = field(default_factory=LifecycleRules)

