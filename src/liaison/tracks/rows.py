"""The wire form of one track update, by name: a row of a partner frame or a stream record.

A row is a JSON array, positional on the wire (short, and what every node already sends
and reads): the fields of ``WireRow`` in that order, 11 of them, and a 12th, the
sender's stream position, from a node run as several workers (``rows_with_positions``).
Code reads a row through ``decode_row`` and its names, never by index.

Stream records (``encode_record``) are compact JSON objects: ``k`` says which kind
("feed", "peer" or "event"), ``rows`` holds wire rows.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, NamedTuple

from liaison.domain.tracks import TrackUpdate


class WireRow(NamedTuple):
    """One update as sent, field by field (values unchecked until ``update_of``)."""

    uid: str  # the source's track id
    time: float  # seconds since the epoch (UTC)
    lat: float
    lon: float
    alt_m: float
    kind: str  # CoT type
    speed_ms: float | None
    course_deg: float | None
    ce_m: float  # circular error, metres
    callsign: str
    number: int  # the sender's track number
    position: int | None = None  # the sender's stream position (several workers)


FIELDS = len(WireRow._fields) - 1  # on every row; the position comes on top
_as_row = tuple.__new__  # a row from a list of the right length, without a call per field


def encode_row(u: TrackUpdate) -> list[Any]:
    """The row of ``u``, in ``WireRow`` order, without a position (the hot path: built
    as one list, no intermediate object)."""
    return [u.uid, u.time.timestamp(), u.lat, u.lon, u.alt_m, u.kind, u.speed_ms,
            u.course_deg, u.ce_m, u.callsign, u.number]


def with_position(row: list[Any], position: int) -> list[Any]:
    """``row`` with the sender's stream position appended (a new list: rows are shared)."""
    return [*row, position]


def rows_with_positions(pairs: list[tuple[TrackUpdate, int | None]]) -> list[list[Any]]:
    """The rows of a partner's updates as put on the stream: each with its position."""
    return [[*encode_row(u), position] for u, position in pairs]


def decode_row(raw: Any) -> WireRow:
    """A row as received, named; ``ValueError`` when its shape is wrong."""
    if not isinstance(raw, list) or len(raw) not in (FIELDS, FIELDS + 1):
        raise ValueError(f"an update row has {FIELDS} fields ({FIELDS + 1} with a stream "
                         f"position)")
    if len(raw) == FIELDS:
        return _as_row(WireRow, (*raw, None))
    row = _as_row(WireRow, raw)
    if not isinstance(row.position, int) or row.position < 0:
        raise ValueError("a stream position is a non-negative integer")
    return row


def update_of(row: WireRow, number: int = 0) -> TrackUpdate:
    """The update a row carries, numbered ``number`` here; ``ValueError`` or
    ``TypeError`` when a field is not of its type."""
    uid, time, lat, lon, alt_m, kind, speed_ms, course_deg, ce_m, callsign, _, _ = row
    return TrackUpdate(str(uid), datetime.fromtimestamp(float(time), UTC), float(lat),
                       float(lon), float(alt_m), str(kind),
                       None if speed_ms is None else float(speed_ms),
                       None if course_deg is None else float(course_deg), float(ce_m),
                       str(callsign), number)


def update_from_row(raw: Any) -> TrackUpdate:
    """The update in a wire row, not numbered here."""
    return update_of(decode_row(raw))


def numbered(u: TrackUpdate, number: int) -> TrackUpdate:
    return TrackUpdate(u.uid, u.time, u.lat, u.lon, u.alt_m, u.kind, u.speed_ms,
                       u.course_deg, u.ce_m, u.callsign, number)


def encode_record(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


def digest(record: bytes) -> str:
    """The record's short digest: the stream stores a record once per id built on it."""
    return hashlib.sha256(record).hexdigest()[:32]


def position_in(row: list[Any]) -> int:
    """The sender's stream position an outgoing row carries (0 without one)."""
    return int(row[FIELDS]) if len(row) > FIELDS else 0
