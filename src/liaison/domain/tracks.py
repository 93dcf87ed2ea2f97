"""Track data: a sensor feed (with the label its tracks carry by default) and one update
of one track. Pure: no I/O.

A track update is released automatically, not reviewed one by one: the release officer
decides once, when the feed is registered, what label its tracks carry; the release engine
then decides per partner and date whether that label may go there (``feed_item`` is the
one-portion item the engine is asked about). Anything the engine does not allow is not sent.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import datetime

from liaison.domain.items import Discipline, Grade, Item, Portion, PortionKind
from liaison.domain.labels import Label, LabelError

FEED_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
UID = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces (CoT uids)
COT_TYPE = re.compile(r"^[a-zA-Z0-9-]{1,40}$")
MAX_ALT_M = 2_000_000.0  # beyond low Earth orbit: a sensor error, refused
MAX_SPEED_MS = 12_000.0
DEFAULT_GRADE = Grade("B", 2)  # usually reliable, probably true: a calibrated sensor


@dataclass(frozen=True, slots=True)
class Feed:
    """A registered sensor feed. ``label`` is in the node's own scheme and applies to every
    track the feed reports; ``topic`` and ``discipline`` place it in agreements' scope."""

    name: str
    title: str
    label: Label
    topic: str = "DPRK/missile"
    discipline: Discipline = Discipline.MASINT
    grade: Grade = DEFAULT_GRADE


@dataclass(frozen=True, slots=True)
class TrackUpdate:
    """One position report of one track. ``uid`` is the source's track id; ``number`` is
    this node's track number (0 until the node assigns it)."""

    uid: str
    time: datetime
    lat: float
    lon: float
    alt_m: float = 0.0
    kind: str = "a-u-A"  # CoT type: unknown air
    speed_ms: float | None = None
    course_deg: float | None = None
    ce_m: float = 500.0  # circular error, metres (1 sigma)
    callsign: str = ""
    number: int = 0


def validate_update(u: TrackUpdate) -> None:
    """Raise ``LabelError`` (the domain's input error) naming the bad field."""
    if not UID.match(u.uid):
        raise LabelError("uid must be 1–128 printable ASCII characters without spaces")
    if u.time.tzinfo is None:
        raise LabelError("time needs a time zone")
    for name, value, low, high in (("lat", u.lat, -90.0, 90.0), ("lon", u.lon, -180.0, 180.0),
                                   ("alt_m", u.alt_m, -12_000.0, MAX_ALT_M),
                                   ("ce_m", u.ce_m, 0.0, 1e7)):
        if not (math.isfinite(value) and low <= value <= high):
            raise LabelError(f"{name} {value!r} is outside [{low}, {high}]")
    if u.speed_ms is not None and not (math.isfinite(u.speed_ms)
                                       and 0 <= u.speed_ms <= MAX_SPEED_MS):
        raise LabelError(f"speed_ms {u.speed_ms!r} is outside [0, {MAX_SPEED_MS}]")
    if u.course_deg is not None and not (math.isfinite(u.course_deg)
                                         and 0 <= u.course_deg <= 360):
        raise LabelError(f"course_deg {u.course_deg!r} is outside [0, 360]")
    if not COT_TYPE.match(u.kind):
        raise LabelError(f"kind {u.kind!r} is not a CoT type such as 'a-h-A-M-F'")
    if len(u.callsign) > 64:
        raise LabelError("callsign is longer than 64 characters")


def validate_feed(feed: Feed) -> None:
    if not FEED_NAME.match(feed.name):
        raise LabelError("feed name must be 1–64 of a-z 0-9 . _ - (starting with a letter "
                         "or digit)")
    if not 1 <= len(feed.title) <= 200:
        raise LabelError("feed title must be 1–200 characters")


def feed_item(feed: Feed, originator: str) -> Item:
    """The one-portion item the release engine decides for every track of ``feed``."""
    return Item(f"feed:{feed.name}", originator, feed.discipline, feed.topic, feed.grade,
                feed.title, feed.label.created,
                (Portion("track", PortionKind.TRACK, "", feed.label),))


def is_missile(kind: str) -> bool:
    """CoT ``a-?-A-M...`` is a missile (MIL-STD-2525 air / missile)."""
    parts = kind.split("-")
    return len(parts) >= 4 and parts[0] == "a" and parts[2] == "A" and parts[3] == "M"


NUMBER_BLOCKS = 1 << 20  # blocks of 2**32 track numbers: all below 2**52 (exact in JSON)


def number_block(source: str) -> int:
    """The block a source's track numbers start in (``block << 32``), from its name
    alone: one source's numbers never depend on another's tracks."""
    return int.from_bytes(hashlib.sha256(source.encode()).digest()[:3]) >> 4
