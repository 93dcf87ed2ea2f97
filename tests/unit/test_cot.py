"""CoT parsing refuses what is not a well-formed, DTD-free event, with a CotError (never
another exception that would break the stream)."""

from __future__ import annotations

import pytest

from liaison.tracks.cot import CotError, parse_event

GOOD = (b'<event version="2.0" uid="t1" type="a-h-A-M-F" time="2019-10-31T07:10:00Z" '
        b'start="2019-10-31T07:10:00Z" stale="2019-10-31T07:11:00Z" how="m-g">'
        b'<point lat="39.4" lon="125.9" hae="1000" ce="10" le="10"/></event>')


@pytest.mark.parametrize("raw", [
    b'<?xml version="1.0" encoding="TTF-8"?>' + GOOD,  # unknown encoding: expat LookupError
    b'<!DOCTYPE e [<!ENTITY x "y">]>' + GOOD,
    GOOD[:-3],
    b"<track/>",
])
def test_bad_events_raise_cot_error(raw: bytes) -> None:
    with pytest.raises(CotError):
        parse_event(raw)


def test_a_good_event_parses() -> None:
    assert parse_event(GOOD).uid == "t1"
