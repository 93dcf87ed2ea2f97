"""Cursor-on-Target (CoT 2.0) events, both ways, parsed safely.

Framing is the TAK "stream" form: XML ``<event>`` documents back to back on a TCP stream,
each ending with ``</event>`` (what TAK clients and ``pytak`` send and read). Parsing uses
``defusedxml`` (no DTDs, no entity expansion, no external references) and refuses any event
longer than ``MAX_EVENT`` bytes; a bad event is refused with the reason, never raised past
the stream reader.

A TAK client's own traffic is not a track: its presence and ping events (``t-x-d-d``,
``t-x-c-t``, ``t-x-c-t-r``: any ``t-x-`` type) and its self situational-awareness posts
(a ``<detail>`` with ``<takv>``, ``<__group>`` or a ``<contact endpoint>``, as ATAK,
WinTAK and iTAK send about themselves) are read as ``client`` events, never ingested.

What the update does not hold is kept as it arrived (``CotDetail``: ``how``, ``stale``,
``ce``, ``le`` and ``hae``, 9999999 for unknown) so the event goes out as it came in.
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
from liaison.tracks.cot_detail import UNKNOWN, CotDetail, CotEvent, client_traffic, detail_of

MAX_EVENT = 64 * 1024
END = b"</event>"


class CotError(ValueError):
    """A CoT event that is refused; the message says why."""


def parse_event(raw: bytes) -> TrackUpdate:
    """The track update an event reports; ``CotError`` for a client's own traffic."""
    event = read_event(raw)
    if event.update is None:
        raise CotError(f"a TAK client's own event, not a track: {event.client}")
    return event.update


def read_event(raw: bytes) -> CotEvent:
    """A track update and the fields it does not hold, or a client's own traffic."""
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
    client = client_traffic(root)
    if client:
        return CotEvent(None, None, client)
    point = root.find("point")
    if point is None:
        raise CotError("event has no <point>")
    try:
        uid = _attr(root, "uid")
        hae, ce = _num(point, "hae", 0.0), _num(point, "ce", 500.0)
        update = TrackUpdate(
            uid=uid, time=_time(_attr(root, "time")),
            lat=_num(point, "lat"), lon=_num(point, "lon"),
            alt_m=_known(hae, 0.0), kind=_attr(root, "type"),
            ce_m=_known(ce, 500.0),
            speed_ms=_motion(root, "speed"), course_deg=_motion(root, "course"),
            callsign=_callsign(root))
        validate_update(update)
        stale = root.get("stale")
        detail = detail_of(update.time, root.get("how"), _time(stale) if stale else None,
                           hae, ce, _num(point, "le", UNKNOWN))
    except LabelError as exc:
        raise CotError(str(exc)) from exc
    return CotEvent(update, detail, "")


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
             source: str = "", detail: CotDetail | None = None,
             access: tuple[str, str, str] | None = None, sender_uid: str = "") -> bytes:
    """A CoT event for TAK clients: ``marking`` (the portion mark) goes in ``remarks``;
    ``access`` (classification, caveats, releasable to) in the event attributes TAK
    clients show and filter (``access``, ``caveat``, ``rel_to``, as pytak writes them);
    ``detail`` the fields as they arrived (else ``m-g``, ``stale_s`` after the time, the
    update's altitude and error, ``le`` unknown); ``sender_uid`` the source's own uid."""
    start = u.time.astimezone(UTC)
    if detail is None:
        detail = CotDetail(start, "m-g", datetime.fromtimestamp(start.timestamp() + stale_s,
                                                                UTC),
                           u.alt_m, u.ce_m, UNKNOWN)
    track = ""
    if u.speed_ms is not None or u.course_deg is not None:
        track = (f"<track speed={quoteattr(_f(u.speed_ms or 0.0))} "
                 f"course={quoteattr(_f(u.course_deg or 0.0))}/>")
    contact = f"<contact callsign={quoteattr(u.callsign or u.uid)}/>"
    remarks = f"<remarks>{_esc(marking)}</remarks>" if marking else ""
    mapped = f" uid={quoteattr(sender_uid)}" if sender_uid else ""
    liaison = (f"<liaison number=\"{u.number}\" source={quoteattr(source)}{mapped} "
               f"marking={quoteattr(marking)}/>")
    labels = "" if access is None else "".join(
        f" {name}={quoteattr(value)}" for name, value in zip(
            ("access", "caveat", "rel_to"), access, strict=True) if value)
    return (f"<event version=\"2.0\" uid={quoteattr(u.uid)} type={quoteattr(u.kind)} "
            f"how={quoteattr(detail.how)} time=\"{_ts(start)}\" start=\"{_ts(start)}\" "
            f"stale=\"{_ts(detail.stale)}\"{labels}>"
            f"<point lat=\"{u.lat:.7f}\" lon=\"{u.lon:.7f}\" hae=\"{detail.hae:.1f}\" "
            f"ce=\"{detail.ce:.1f}\" le=\"{detail.le:.1f}\"/>"
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
    client: int = 0  # TAK clients' own events (presence, ping, self-SA): never ingested
    last_error: str = ""


async def iter_events(reader: asyncio.StreamReader,
                      stats: StreamStats) -> AsyncIterator[CotEvent]:
    """Yield parsed events from a CoT stream until EOF; bad events are counted and skipped;
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
            event = read_event(body)
        except CotError as exc:
            stats.refused += 1
            stats.last_error = str(exc)
            continue
        if event.update is None:
            stats.client += 1
        else:
            stats.events += 1
        yield event
