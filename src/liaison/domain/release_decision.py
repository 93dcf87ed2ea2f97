"""What a release decision says: its outcome, and one reason per rule it read, each with
its verdict (pass, deny, or needs consent). Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import NamedTuple


class Outcome(StrEnum):
    ALLOWED = "allowed"
    HELD = "held"
    DENIED = "denied"


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a secret
    DENY = "deny"
    CONSENT = "needs consent"


@dataclass(frozen=True, slots=True)
class Reason:
    portion_id: str | None  # None: a reason about the whole item
    verdict: Verdict
    text: str  # cites the rule, e.g. "GSOMIA Art. 4: ..." (docs/rules.md names them)



class Decision(NamedTuple):
    """One release decision. A named tuple, not a frozen dataclass, because a cold pass
    builds one per (partner, item shape) and a frozen dataclass's ``__init__`` costs as
    much as the rest of the decision; it is just as immutable. Compare decisions with
    each other only (a tuple of the same values also compares equal)."""

    outcome: Outcome
    recipient: str
    at: date
    agreement_id: str | None
    route: tuple[str, ...]
    recipient_level: str | None
    tearline: tuple[str, ...]  # ids of the portions that pass
    reasons: tuple[Reason, ...]

    @property
    def summary(self) -> str:
        head = f"{self.outcome.value.upper()} to {self.recipient} on {self.at}"
        if self.outcome is Outcome.ALLOWED:
            via = f" via {', '.join(self.route)}" if self.route else ""
            return f"{head} as {self.recipient_level}{via}: {len(self.tearline)} portion(s)"
        first = next((r.text for r in self.reasons if r.verdict is not Verdict.PASS), "")
        return f"{head}: {first}"



def denied(recipient: str, at: date, text: str) -> Decision:
    return Decision(Outcome.DENIED, recipient, at, None, (), None, (),
                    (Reason(None, Verdict.DENY, text),))
