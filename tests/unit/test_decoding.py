"""The one decoding kit every wire format of the domain reads its fields with
(domain.decoding), and the domain staying free of the cryptography library."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path

import pytest

from liaison.domain.decoding import (
    CodecError,
    enum_field,
    field_of,
    parse_datetime,
    str_list,
    strings,
)

DOMAIN = Path(__file__).parents[2] / "src" / "liaison" / "domain"
SEOUL = timezone(timedelta(hours=9))


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


@pytest.mark.parametrize(("text", "expected"), [
    ("2019-10-31T07:35:00Z", datetime(2019, 10, 31, 7, 35, tzinfo=UTC)),
    ("2019-10-31T07:35:00.123Z", datetime(2019, 10, 31, 7, 35, 0, 123000, tzinfo=UTC)),
    ("2019-10-31T07:35:00+00:00", datetime(2019, 10, 31, 7, 35, tzinfo=UTC)),
    ("2019-10-31T16:35:00+09:00", datetime(2019, 10, 31, 7, 35, tzinfo=UTC)),
])
def test_a_time_with_an_offset_or_a_final_z_is_read(text: str, expected: datetime) -> None:
    assert parse_datetime(text, "at") == expected


@pytest.mark.parametrize("text", [
    "2019-10-31T07:35Z:00",  # read as 07:35 UTC when every "Z" became "+00:00"
    "2019-10-31T07Z:35:00",  # ... and as an offset of 35 seconds
    "2019-10-31Z07:35:00+00:00",  # "Z" as the date/time separator, as Python allows
    "2019-10-31Z07:35:00Z",
    "2019-10-31T07:35:00z",
])
def test_a_z_anywhere_but_at_the_end_is_refused(text: str) -> None:
    with pytest.raises(CodecError, match=r"^at: .* is not an ISO 8601 date-time"):
        parse_datetime(text, "at")


@pytest.mark.parametrize("text", ["2019-10-31T07:35:00", "2200-01-01Z", "2019-10-31"])
def test_a_time_without_an_offset_is_refused(text: str) -> None:
    with pytest.raises(CodecError, match=r"^at: needs a time zone offset"):
        parse_datetime(text, "at")


def test_keep_offset_keeps_the_zone_the_time_was_given_in() -> None:
    kept = parse_datetime("2021-10-04T10:00:00+09:00", "starts_at", keep_offset=True)
    assert kept.utcoffset() == timedelta(hours=9)
    assert kept == datetime(2021, 10, 4, 10, tzinfo=SEOUL)
    assert parse_datetime("2021-10-04T10:00:00+09:00", "starts_at").utcoffset() == timedelta(0)


def test_a_datetime_object_is_taken_when_aware_only() -> None:
    assert parse_datetime(datetime(2021, 10, 4, 10, tzinfo=SEOUL), "at").tzinfo is UTC
    with pytest.raises(CodecError, match="needs a time zone offset"):
        parse_datetime(datetime(2021, 10, 4, 10), "at")
    with pytest.raises(CodecError, match="expected an ISO 8601 date-time"):
        parse_datetime(20211004, "at")


def test_fields_are_required_typed_and_named_by_their_path() -> None:
    data = {"n": 3, "flag": True, "name": "x", "gsd": 2}
    assert field_of(data, "n", "item", int) == 3
    assert field_of(data, "gsd", "item", float) == 2.0
    assert field_of(data, "missing", "item", str, default="d") == "d"
    with pytest.raises(CodecError, match=r"^item\.missing: is required"):
        field_of(data, "missing", "item", str)
    with pytest.raises(CodecError, match=r"^item\.flag: expected int, got bool"):
        field_of(data, "flag", "item", int)
    with pytest.raises(CodecError, match=r"^item: expected an object, got list"):
        field_of([], "n", "item", int)  # type: ignore[arg-type]


def test_enums_and_lists_of_strings() -> None:
    assert enum_field(Colour, {"c": "red"}, "c", "") is Colour.RED
    assert enum_field(Colour, {}, "c", "", default="blue") is Colour.BLUE
    with pytest.raises(CodecError, match=r"^c: 'green' is not one of red, blue"):
        enum_field(Colour, {"c": "green"}, "c", "")
    assert str_list({"xs": ["a", "b"]}, "xs", "") == ["a", "b"]
    assert str_list({}, "xs", "") is None
    with pytest.raises(CodecError, match=r"^xs\[1\]: expected a string, got int"):
        str_list({"xs": ["a", 1]}, "xs", "")
    with pytest.raises(CodecError, match=r"^names: expected a list of strings, got str"):
        strings("KOR", "names")


def _imports_of(source: str) -> set[str]:
    """The top-level packages a module's source imports."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_the_domain_does_not_import_the_cryptography_library() -> None:
    assert "cryptography" in _imports_of(
        "from cryptography.hazmat.primitives.asymmetric import ed25519")  # a planted import
    assert "cryptography" in _imports_of("def f():\n    import cryptography.exceptions\n")
    modules = sorted(DOMAIN.glob("*.py"))
    assert {m.name for m in modules} >= {"talks.py", "minutes.py", "talks_wire.py", "codec.py"}
    offenders = [m.name for m in modules if "cryptography" in _imports_of(m.read_text())]
    assert offenders == [], f"domain modules importing cryptography: {offenders}"
