"""Cursor-on-Target (CoT 2.0) events, both ways, parsed safely.

Framing is the TAK "stream" form: XML ``<event>`` documents back to back on a TCP stream,
each ending with ``</event>`` (what TAK clients and ``pytak`` send and read). Parsing uses
``defusedxml`` (no DTDs, no entity expansion, no external references) and refuses any event
longer than ``MAX_EVENT`` bytes; a bad event is refused with the reason, never raised past
the stream reader.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree.ElementTree import Element
from xml.sax.saxutils import quoteattr

from defusedxml import ElementTree as SafeET  # type: ignore[import-untyped]
from defusedxml.common import DefusedXmlException  # type: ignore[import-untyped]

from liaison.domain.labels import LabelError
from liaison.domain.tracks import TrackUpdate, validate_update

MAX_EVENT = 64 * 1024
END = b"</event>"
UNKNOWN = 9_999_999.0


class CotError(ValueError):
    """A CoT event that is refused; the message says why."""


def parse_event(raw: bytes) -> TrackUpdate:
    if len(raw) > MAX_EVENT:
        raise CotError(f"event larger than {MAX_EVENT} bytes")
    try:
        root: Element = SafeET.fromstring(raw, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise CotError(f"forbidden XML construct: {exc.__class__.__name__}") from exc
    except SafeET.ParseError as exc:
        raise CotError(f"not well-formed XML: {exc}") from exc
    except LookupError as exc:  # expat: an unknown encoding in the XML declaration
        raise CotError(f"unknown XML encoding: {exc}") from exc
    if root.tag != "event":
        raise CotError(f"root element is <{root.tag}>, not <event>")
    point = root.find("point")
    if point is None:
        raise CotError("event has no <point>")
    try:
        uid = _attr(root, "uid")
        update = TrackUpdate(
            uid=uid, time=_time(_attr(root, "time")),
            lat=_num(point, "lat"), lon=_num(point, "lon"),
            alt_m=_known(_num(point, "hae", 0.0), 0.0), kind=_attr(root, "type"),
            ce_m=_known(_num(point, "ce", 500.0), 500.0),
            speed_ms=_motion(root, "speed"), course_deg=_motion(root, "course"),
            callsign=_callsign(root))
        validate_update(update)
    except LabelError as exc:
        raise CotError(str(exc)) from exc
    return update


def _attr(el: Element, name: str) -> str:
    value = el.get(name)
    if value is None or not value.strip():
        raise CotError(f"<{el.tag}> lacks the {name!r} attribute")
    return value.strip()


def _num(el: Element, name: str, default: float | None = None) -> float:
    value = el.get(name)
    if value is None:
        if default is None:
            raise CotError(f"<{el.tag}> lacks the {name!r} attribute")
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise CotError(f"<{el.tag} {name}={value[:40]!r}> is not a number") from exc


def _known(value: float, default: float) -> float:
    """CoT writes 9999999 for "unknown"."""
    return default if value >= UNKNOWN else value


def _time(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CotError(f"time {text[:40]!r} is not ISO 8601") from exc
    if at.tzinfo is None:
        raise CotError("time needs a time zone (CoT times end in Z)")
    return at.astimezone(UTC)


def _motion(root: Element, name: str) -> float | None:
    track = root.find("detail/track")
    return _num(track, name) if track is not None and track.get(name) else None


def _callsign(root: Element) -> str:
    contact = root.find("detail/contact")
    return (contact.get("callsign") or "")[:64] if contact is not None else ""


def to_event(u: TrackUpdate, *, stale_s: float = 60.0, marking: str = "",
             source: str = "") -> bytes:
    """A CoT event for TAK clients; ``marking`` (the portion mark) goes in ``remarks``."""
    start = u.time.astimezone(UTC)
    stale = datetime.fromtimestamp(start.timestamp() + stale_s, UTC)
    track = ""
    if u.speed_ms is not None or u.course_deg is not None:
        track = (f"<track speed={quoteattr(_f(u.speed_ms or 0.0))} "
                 f"course={quoteattr(_f(u.course_deg or 0.0))}/>")
    contact = f"<contact callsign={quoteattr(u.callsign or u.uid)}/>"
    remarks = f"<remarks>{_esc(marking)}</remarks>" if marking else ""
    liaison = (f"<liaison number=\"{u.number}\" source={quoteattr(source)} "
               f"marking={quoteattr(marking)}/>")
    return (f"<event version=\"2.0\" uid={quoteattr(u.uid)} type={quoteattr(u.kind)} "
            f"how=\"m-g\" time=\"{_ts(start)}\" start=\"{_ts(start)}\" stale=\"{_ts(stale)}\">"
            f"<point lat=\"{u.lat:.7f}\" lon=\"{u.lon:.7f}\" hae=\"{u.alt_m:.1f}\" "
            f"ce=\"{u.ce_m:.1f}\" le=\"9999999.0\"/>"
            f"<detail>{track}{contact}{remarks}{liaison}</detail></event>").encode()


def _ts(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _f(x: float) -> str:
    return f"{x:.2f}"


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class StreamStats:
    events: int = 0
    refused: int = 0
    last_error: str = ""


async def iter_events(reader: asyncio.StreamReader,
                      stats: StreamStats) -> AsyncIterator[TrackUpdate]:
    """Yield parsed updates from a CoT stream until EOF; bad events are counted and skipped;
    an event over ``MAX_EVENT`` without its end tag closes the stream (framing is lost)."""
    while True:
        try:
            raw = await reader.readuntil(END)
        except asyncio.IncompleteReadError:
            return
        except asyncio.LimitOverrunError:
            stats.refused += 1
            stats.last_error = f"event longer than {MAX_EVENT} bytes: stream closed"
            return
        start = raw.find(b"<event")
        if start < 0:
            stats.refused += 1
            stats.last_error = "data before </event> holds no <event>"
            continue
        body = raw[start:]
        head = raw[:start].lstrip()
        if head.startswith(b"<?xml"):
            body = raw[raw.find(b"<?xml"):]
        try:
            update = parse_event(body)
        except CotError as exc:
            stats.refused += 1
            stats.last_error = str(exc)
            continue
        stats.events += 1
        yield update
