"""What a partner may send on a hotline, and in what shape: the authority rule for
``hotline``, ``hotline_ack``, ``hotline_sever`` and ``hotline_reopen``.

Pure: each ``*_from`` reads a partner's message body whole (types, sizes, enumerations,
times) and returns what may be stored, or raises ``HotlineRefused`` with the reason.

The rules, numbered after the practice they follow:

1. Who may send it: only the partner of the channel, about that channel (the hotline
   agreement binds two parties; no third party writes on their line).
2. Traffic (``hotline``) is the partner's own: a message (precedence FLASH, IMMEDIATE,
   PRIORITY or ROUTINE; FLASH and IMMEDIATE at most 200 words, docs/rules.md#precedence) or a check
   call; sent at a time from 2000 to our clock plus ``SKEW``. Not bounded below by our
   channel's opening: the partner may open its side first, and a message queued there
   while our node was unreachable is dated before our side opened.
3. What was delivered is immutable: a resend of a sequence number with the same content
   is a duplicate and changes nothing; with other content it is refused as a conflict and
   never applied (``resend``).
4. An acknowledgement (``hotline_ack``) is a person's, on the partner's side, of a message
   or call *we* sent; once; not before that message (less ``SKEW``) nor after our clock
   plus ``SKEW``.
5. Either side may sever the line unilaterally (``hotline_sever``); a reopen
   (``hotline_reopen``) takes the MOU in force (docs/rules.md#check-calls).
6. Everything stored is bounded and well-formed, so no later read can fail on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from liaison.domain.hotline import HotlineError, HotlineRules, Precedence, check_message

# Partners' clocks are NTP-synchronised; five minutes covers drift and the time a batch
# waits in a lane, while a message dated further ahead would sort after traffic sent
# later and would not turn overdue when it should.
SKEW = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # no line carried traffic before
KINDS = ("message", "check_call")
MAX_TEXT = 10_000  # characters; FLASH and IMMEDIATE are bounded in words too
MAX_NAME = 200  # an author's or acknowledging person's name
MAX_SEQ = 2**53  # a sequence number any JSON reader keeps exactly


class HotlineRefused(ValueError):
    """The message is refused; the text says why."""


def _object(body: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise HotlineRefused(f"malformed {what}: an object")
    return body


def _text(body: Mapping[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or len(value) > limit:
        raise HotlineRefused(f"{name}: a string of at most {limit} characters")
    return value


def seq_of(body: Any) -> int:
    """A message's sequence number on its sender's side."""
    value = _object(body, "hotline message").get("seq")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SEQ:
        raise HotlineRefused(f"seq: an integer from 1 to {MAX_SEQ}")
    return value


def moment(value: Any, name: str, earliest: datetime, latest: datetime) -> datetime:
    """``value`` as an ISO 8601 time with its zone, within [earliest, latest]."""
    try:
        at = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise HotlineRefused(f"{name}: an ISO 8601 time with its zone")
    if not earliest <= at <= latest:
        raise HotlineRefused(f"{name}: {value} is outside {earliest.isoformat()} to "
                             f"{latest.isoformat()} (our clock plus {SKEW})")
    return at


def channel_of(body: Any) -> str:
    """Rule 1: the channel a message names (its partner is checked by the caller)."""
    return _text(_object(body, "hotline message"), "channel", 128)


def traffic_from(body: Any, now: datetime,
                 rules: HotlineRules) -> tuple[int, str, dict[str, Any], datetime]:
    """Rule 2: (seq, kind, data to store, sent_at) of a partner's message or call."""
    body = _object(body, "hotline traffic")
    seq, kind = seq_of(body), body.get("kind")
    if kind not in KINDS:
        raise HotlineRefused(f"kind: one of {', '.join(KINDS)}")
    sent_at = moment(body.get("sent_at"), "sent_at", EARLIEST, now + SKEW)
    data: dict[str, Any] = {"text": _text(body, "text", MAX_TEXT),
                            "sent_at": sent_at.isoformat(),
                            "author": _text(body, "author", MAX_NAME)}
    if kind == "message":
        name = body.get("precedence")
        if not isinstance(name, str) or name not in Precedence.__members__:
            raise HotlineRefused(f"precedence: one of {', '.join(Precedence.__members__)}")
        data["precedence"] = name
        try:
            check_message(data["text"], Precedence[name], rules)
        except HotlineError as exc:
            raise HotlineRefused(str(exc)) from exc
    return seq, str(kind), data, sent_at


CONTENT = ("kind", "text", "sent_at", "author", "precedence")


def resend(held: Mapping[str, Any], kind: str, data: Mapping[str, Any], what: str) -> None:
    """Rule 3: a message already held comes again; ``None`` when identical."""
    new = {**data, "kind": kind}
    if any(_same(held.get(k), new.get(k), k) is False for k in CONTENT):
        raise HotlineRefused(f"conflict: {what} was delivered with other content; the "
                             f"transcript keeps what was delivered")


def _same(old: Any, new: Any, key: str) -> bool:
    if key == "sent_at" and isinstance(old, str) and isinstance(new, str):
        try:
            return datetime.fromisoformat(old) == datetime.fromisoformat(new)
        except ValueError:
            return old == new
    return bool(old == new)


def ack_from(body: Any, sent_at: datetime, now: datetime) -> tuple[str, datetime]:
    """Rule 4: (who, when) of an acknowledgement of our message sent at ``sent_at``; the
    caller checks the message is ours and not yet acknowledged."""
    body = _object(body, "hotline acknowledgement")
    by = _text(body, "by", MAX_NAME)
    at = moment(body.get("at"), "at", sent_at - SKEW, now + SKEW)
    return by, at
