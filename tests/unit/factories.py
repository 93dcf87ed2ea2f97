"""Test data: parties, the seed agreements, labels and items."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from liaison.domain.agreements import Agreement
from liaison.domain.codec import agreement_from
from liaison.domain.items import Discipline, Grade, Item, Portion, PortionKind
from liaison.domain.labels import Label, make_label
from liaison.domain.parties import default_parties
from liaison.domain.release_facts import Consent, ReleaseFacts

PARTIES = default_parties()
KOR = PARTIES["KOR"]
SEED = Path(__file__).parents[2] / "src" / "liaison" / "reference" / "seed.yaml"
CREATED = datetime(2019, 10, 31, 8, 0, tzinfo=UTC)


def seed_data() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = yaml.safe_load(SEED.read_text())["agreements"]
    return data


def seed_agreements(drop_events: tuple[str, ...] = ()) -> tuple[Agreement, ...]:
    """The seed agreements; ``drop_events`` removes events by kind (counterfactuals)."""
    out = []
    for a in seed_data():
        a = {**a, "events": [e for e in a["events"] if e["kind"] not in drop_events]}
        out.append(agreement_from(a, PARTIES))
    return tuple(out)


def agreement(agreement_id: str, **changes: Any) -> Agreement:
    data = next(a for a in seed_data() if a["id"] == agreement_id)
    return agreement_from({**data, **changes}, PARTIES)


def label(level: str, originator: str = "KOR", **kw: Any) -> Label:
    return make_label(KOR.scheme, level, originator=originator, created=CREATED, **kw)


def item(*labels: Label, topic: str = "DPRK/missile", discipline: str = "HUMINT",
         item_id: str = "I1") -> Item:
    portions = tuple(Portion(f"p{i + 1}", PortionKind.TEXT, f"text {i + 1}", lb)
                     for i, lb in enumerate(labels))
    return Item(item_id, "KOR", Discipline(discipline), topic, Grade("B", 2), "report",
                CREATED, portions)


def facts(agreements: tuple[Agreement, ...] | None = None, consents: tuple[Consent, ...] = (),
          balances: dict[str, int] | None = None) -> ReleaseFacts:
    return ReleaseFacts(KOR, PARTIES, seed_agreements() if agreements is None else agreements,
                        consents, balances or {})


def d(text: str) -> date:
    return date.fromisoformat(text)
