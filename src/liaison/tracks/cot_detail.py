"""What a CoT event says beyond the track update, and which events are a TAK client's own.

``CotDetail`` keeps the fields of an ingested event that a ``TrackUpdate`` does not hold
(``how``, ``stale``, ``le``) or holds for the analytics rather than as sent (``hae`` and
``ce``, where CoT writes 9999999 for "unknown"); ``CotDetails`` remembers the latest per
track, so the event a TAK client gets back is the one that came in. ``access_of`` gives
the classification attributes TAK clients show and filter on.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.etree.ElementTree import Element

from liaison.domain.labels import Label, LabelError, Scheme
from liaison.domain.tracks import TrackUpdate

UNKNOWN = 9_999_999.0  # CoT's "unknown" for hae, ce and le
HOW = re.compile(r"^[a-z](-[a-zA-Z0-9]{1,8}){0,4}$")  # e.g. m-g, h-e, m-i, h-g-i-g-o
CLIENT_TYPES = "t-x-"  # presence and ping: t-x-d-d, t-x-c-t, t-x-c-t-r, ...
STALE_S = 60.0  # an event without a stale time goes stale this long after its time
KEPT = 100_000  # tracks whose last event is remembered, per CoT port
PRESENCE = "presence or ping"
SELF_REPORT = "a TAK client's report of itself"


@dataclass(frozen=True, slots=True)
class CotDetail:
    time: datetime  # the update's time: the detail belongs to that report only
    how: str
    stale: datetime
    hae: float
    ce: float
    le: float


@dataclass(frozen=True, slots=True)
class CotEvent:
    """A track update and its detail, or (``update`` None) a client's own traffic."""

    update: TrackUpdate | None
    detail: CotDetail | None
    client: str  # why it is a client's own event; "" for a track


def client_traffic(root: Element) -> str:
    """Why the event is a TAK client's own traffic, or "" when it reports a track."""
    kind = root.get("type") or ""
    if kind.startswith(CLIENT_TYPES):
        return f"{PRESENCE} ({kind})"
    detail = root.find("detail")
    if detail is None:
        return ""
    if detail.find("takv") is not None or detail.find("__group") is not None:
        return f"{SELF_REPORT} (takv or __group)"
    contact = detail.find("contact")
    if contact is not None and contact.get("endpoint"):
        return f"{SELF_REPORT} (contact endpoint)"
    return ""


def detail_of(time: datetime, how: str | None, stale: datetime | None, hae: float,
              ce: float, le: float) -> CotDetail:
    """The detail as it arrived; ``LabelError`` for a ``how`` that is not CoT's."""
    how = how.strip() if how else "m-g"
    if not HOW.match(how):
        raise LabelError(f"how {how[:20]!r} is not a CoT how such as 'm-g' or 'h-e'")
    return CotDetail(time, how, stale or time + timedelta(seconds=STALE_S),
                     _given(hae, -UNKNOWN), _given(ce, 0.0), _given(le, 0.0))


def _given(value: float, low: float) -> float:
    """A value as sent; anything CoT cannot mean (not finite, out of range) is unknown."""
    return value if math.isfinite(value) and low <= value < UNKNOWN else UNKNOWN


class CotDetails:
    """The last detail per track of one feed, at most ``KEPT`` tracks (oldest forgotten)."""

    def __init__(self, kept: int = KEPT) -> None:
        self.kept = kept
        self._by_uid: dict[str, CotDetail] = {}

    def keep(self, uid: str, detail: CotDetail) -> None:
        self._by_uid.pop(uid, None)  # to the end: the most recently heard
        self._by_uid[uid] = detail
        if len(self._by_uid) > self.kept:
            del self._by_uid[next(iter(self._by_uid))]

    def of(self, u: TrackUpdate) -> CotDetail | None:
        """The detail that came with this very report (same uid and time), if any."""
        detail = self._by_uid.get(u.uid)
        return detail if detail is not None and detail.time == u.time else None


def access_of(label: Label, scheme: Scheme) -> tuple[str, str, str]:
    """Classification, caveats and releasable-to countries, for ``access``, ``caveat``
    and ``rel_to``."""
    return (scheme.level(label.classification).name, ",".join(sorted(label.caveats)),
            ",".join(sorted(label.rel_to)))
