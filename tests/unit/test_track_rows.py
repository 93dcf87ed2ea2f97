"""The named codec of a track wire row: the same bytes as the positional form partners
already send and read, decoded by name."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from liaison.domain.tracks import TrackUpdate
from liaison.tracks.rows import (
    WireRow,
    decode_row,
    encode_row,
    position_in,
    rows_with_positions,
    update_from_row,
    update_of,
    with_position,
)

AT = datetime(2026, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)
UPDATE = TrackUpdate("T-1", AT, 38.5, 127.25, 9000.0, "a-h-A", 250.0, None, 120.0, "VIPER",
                     42)


def test_a_row_is_the_positional_array_partners_read() -> None:
    wire = json.dumps(encode_row(UPDATE), separators=(",", ":"))
    assert wire == (f'["T-1",{AT.timestamp()!r},38.5,127.25,9000.0,"a-h-A",250.0,null,'
                    f'120.0,"VIPER",42]')
    assert list(WireRow._fields[:11]) == ["uid", "time", "lat", "lon", "alt_m", "kind",
                                          "speed_ms", "course_deg", "ce_m", "callsign",
                                          "number"]


def test_rows_decode_by_name_and_round_trip() -> None:
    row = decode_row(json.loads(json.dumps(encode_row(UPDATE))))
    assert (row.uid, row.number, row.position) == ("T-1", 42, None)
    assert update_of(row, 7) == replace(UPDATE, number=7)
    assert update_from_row(encode_row(UPDATE)).number == 0  # numbered by the receiver


def test_a_stream_position_rides_as_a_twelfth_field() -> None:
    row = with_position(encode_row(UPDATE), 5 << 16 | 3)
    assert len(row) == 12 and position_in(row) == 5 << 16 | 3
    assert position_in(encode_row(UPDATE)) == 0
    assert decode_row(row).position == 5 << 16 | 3
    assert rows_with_positions([(UPDATE, 9), (UPDATE, None)]) == [
        [*encode_row(UPDATE), 9], [*encode_row(UPDATE), None]]


@pytest.mark.parametrize(("raw", "why"), [
    ("not a row", "11 fields"),
    (["T-1", 1.0], "11 fields"),
    ([*encode_row(UPDATE), 1, 2], "11 fields"),
    ([*encode_row(UPDATE), -1], "non-negative"),
    ([*encode_row(UPDATE), "7"], "non-negative"),
])
def test_malformed_rows_are_refused_with_the_reason(raw: object, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        decode_row(raw)


def test_a_field_of_the_wrong_type_is_refused() -> None:
    raw = encode_row(UPDATE)
    raw[2] = "north"
    with pytest.raises(ValueError, match="north"):
        update_of(decode_row(raw))
