"""What a partner may send about information it exchanged with us after the release: the
authority rule for ``regrade``, ``compromise`` and ``destruction`` (issue 17).

Pure: ``regrade_from`` and ``report_from`` read a partner's message body whole — types,
sizes — and return what may be used, or raise ``ProtectionRefused`` with the reason;
``regrade_refusal`` and ``report_refusal`` decide against what this node holds.

The rules, numbered after the practice they follow:

1. A level changes only when the originator notifies it (docs/rules.md#level-change): a
   partner regrades only the portions it originated, of a copy it released to us, and
   only to a level its own scheme has; a portion of another originator in the same item
   stays as it is.
2. Loss or compromise is reported to the originator, and so is a destruction
   (docs/rules.md#compromise, docs/rules.md#disposal): a partner reports only on
   information we gave it. A report on anything else is not the partner's to make here
   and is refused.
3. Everything stored is bounded and well-formed: a report keeps its description and
   measures (as our own report sends them), nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from liaison.domain.items import Item

ID = re.compile(r"[^\x00-\x1f]{1,256}")
MAX_REASON = 2000  # as the regrade form's reason
MAX_REPORT = 8000  # as the report form's description and measures
KINDS = ("compromise", "destruction")


class ProtectionRefused(ValueError):
    """The message is refused; the text says why."""


def _object(body: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise ProtectionRefused(f"malformed {what}: an object")
    return body


def _text(body: Mapping[str, Any], name: str, limit: int, *, required: bool = True) -> str:
    value = body.get(name, None if required else "")
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        need = "a non-empty" if required else "a"
        raise ProtectionRefused(f"{name}: {need} string of at most {limit} characters")
    return value


def _id(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not ID.fullmatch(value):
        raise ProtectionRefused(f"{name}: an id of 1 to 256 printable characters")
    return value


def regrade_from(body: Any) -> dict[str, str]:
    """A level change's fields: the item (the originator's id), portion, new level (in the
    originator's scheme) and the reason."""
    b = _object(body, "level change")
    return {"item_id": _id(b, "item_id"), "portion_id": _id(b, "portion_id"),
            "level": _text(b, "level", 64),
            "reason": _text(b, "reason", MAX_REASON, required=False)}


def regrade_refusal(item: Item, portion_id: str, sender: str) -> str | None:
    """Rule 1: ``None`` when ``sender`` may change the level of ``portion_id`` of our copy
    ``item`` (received from it)."""
    portion = next((p for p in item.portions if p.id == portion_id), None)
    if portion is None:
        return f"item {item.id} has no portion {portion_id}"
    if portion.label.originator != sender:
        return (f"GSOMIA Art. 7: only the originator changes a level; portion {portion_id} "
                f"of {item.id} was originated by {portion.label.originator}, not {sender}")
    return None


def report_from(body: Any, kind: str) -> dict[str, str]:
    """Rule 3: a report's stored fields."""
    b = _object(body, f"{kind} report")
    return {"item_id": _id(b, "item_id"),
            "description": _text(b, "description", MAX_REPORT),
            "measures": _text(b, "measures", MAX_REPORT, required=False)}


def report_refusal(item_id: str, sender: str, kind: str,
                   given: Collection[str]) -> str | None:
    """Rule 2: ``None`` when ``item_id`` is among the items we gave ``sender``."""
    if item_id not in given:
        return (f"a {kind} report is about information we gave the reporter: no item "
                f"{item_id} was released to {sender} here")
    return None
