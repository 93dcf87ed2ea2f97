"""What a partner may send about requests, and in what shape: the authority rule for
``rfi``, ``rfi_answer``, ``consent_request`` and ``consent_answer``.

Pure: each ``*_from`` reads a partner's message body whole — types, sizes, enumerations,
times — and returns what may be stored, or raises ``RequestRefused`` with the reason.
``resend`` decides a message that names a request already held.

The rules, numbered after the practice they follow:

1. Who may send it: any partner with a node we trust (32 CFR 117.19: an RFI or a consent
   request commits no one; it only asks). A partner's request is kept under (sender, id):
   its ids are its own and never reach another partner's requests (issue 17).
2. Answers (``rfi_answer``, ``consent_answer``) come only from the party we asked, about
   a request of ours to it (docs/rules.md#consent: the consent comes from the originator).
3. What was delivered is immutable: a resend of an id with the same content is a
   duplicate and changes nothing; with other content it is refused as a conflict and
   never applied. A partner's message never erases our answer to its request.
4. Everything stored is bounded and well-formed, so no later read can fail on it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from liaison.domain.decoding import CodecError, parse_date, parse_datetime

ID = re.compile(r"[A-Za-z0-9._@-]{1,64}")  # no ":": the stored key is <sender>:<id>
PARTY = re.compile(r"[A-Z]{3}")  # ISO 3166 alpha-3 (docs/rules.md#parties)
PRIORITIES = ("urgent", "high", "routine")
MAX_PORTIONS = 64
MAX_RELEASES = 100
SKEW = timedelta(days=1)  # as domain.note_authority.CLOCK_SKEW: time zones and drift
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


class RequestRefused(ValueError):
    """The message is refused; the text says why."""


def _text(body: Mapping[str, Any], name: str, limit: int, *, required: bool = True) -> str:
    value = body.get(name, None if required else "")
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        need = "a non-empty" if required else "a"
        raise RequestRefused(f"{name}: {need} string of at most {limit} characters")
    return value


def _pattern(body: Mapping[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise RequestRefused(f"{name}: must match {pattern.pattern}")
    return value


def _object(body: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise RequestRefused(f"malformed {what}: an object")
    return body


def request_id(body: Any, what: str) -> str:
    return _pattern(_object(body, what), "id", ID)


def rfi_from(body: Any) -> dict[str, Any]:
    """An incoming RFI's stored fields."""
    b = _object(body, "RFI")
    priority = b.get("priority")
    if priority not in PRIORITIES:
        raise RequestRefused(f"priority: one of {', '.join(PRIORITIES)}")
    try:
        deadline = parse_datetime(b.get("deadline"), "deadline")
    except CodecError as exc:
        raise RequestRefused(str(exc)) from exc
    if not EARLIEST <= deadline < LATEST:
        raise RequestRefused("deadline: between 2000 and 2100")
    return {"topic": _text(b, "topic", 256), "event": _text(b, "event", 500, required=False),
            "priority": priority, "deadline": deadline.isoformat(),
            "purpose": _text(b, "purpose", 2000)}


def consent_request_from(body: Any) -> dict[str, Any]:
    """An incoming consent request's stored fields; the portions it carries are the
    originator's own, shown to our officer (docs/rules.md#consent)."""
    b = _object(body, "consent request")
    portions = b.get("portions", [])
    if not isinstance(portions, list) or len(portions) > MAX_PORTIONS:
        raise RequestRefused(f"portions: a list of at most {MAX_PORTIONS}")
    return {"item_id": _text(b, "item_id", 256), "recipient": _pattern(b, "recipient", PARTY),
            "purpose": _text(b, "purpose", 2000),
            "portions": [_portion(p) for p in portions]}


def _portion(p: Any) -> dict[str, str]:
    p = _object(p, "portion")
    return {"id": _text(p, "id", 64), "content": _text(p, "content", 65536, required=False),
            "classification": _text(p, "classification", 64)}


def rfi_answer_from(body: Any) -> dict[str, Any]:
    b = _object(body, "RFI answer")
    state = b.get("state")
    if state not in ("answered", "declined"):
        raise RequestRefused("state: 'answered' or 'declined'")
    releases = b.get("releases", [])
    if not isinstance(releases, list) or len(releases) > MAX_RELEASES or not all(
            isinstance(r, str) and 0 < len(r) <= 64 for r in releases):
        raise RequestRefused(f"releases: at most {MAX_RELEASES} ids of at most 64 characters")
    return {"state": state, "reason": _text(b, "reason", 4000, required=False),
            "releases": list(releases)}


def consent_answer_from(body: Any, asked_on: date, today: date) -> dict[str, Any]:
    """The answer's fields; ``granted_on`` lies between our asking and our date plus the
    skew (a consent cannot predate the request, nor come from the future)."""
    b = _object(body, "consent answer")
    if not isinstance(b.get("granted"), bool):
        raise RequestRefused("granted: true or false")
    try:
        granted_on = parse_date(b.get("granted_on"), "granted_on")
    except CodecError as exc:
        raise RequestRefused(str(exc)) from exc
    if not asked_on - SKEW <= granted_on <= today + SKEW:
        raise RequestRefused(f"granted_on: {granted_on} is outside {asked_on} to {today}")
    return {"granted": b["granted"], "reason": _text(b, "reason", 4000, required=False),
            "granted_by": _text(b, "granted_by", 128), "granted_on": granted_on.isoformat()}


def resend(held: Mapping[str, Any], sent: Mapping[str, Any], what: str) -> None:
    """A message about a request already held (rule 3): ``None`` when it says the same
    (a duplicate, nothing to do); ``RequestRefused`` when it says otherwise."""
    if any(held.get(k) != v for k, v in sent.items()):
        raise RequestRefused(f"conflict: {what} was already received with other content; "
                             "what was delivered cannot be changed")
