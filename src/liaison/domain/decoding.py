"""The one kit for decoding plain data (JSON/YAML) into domain objects. Pure: no I/O.

Every wire format of the domain (``codec`` for parties, agreements, labels and items,
``request_codec`` for release requests, ``talks_wire`` for talks and minutes) reads its
fields with these functions, so a field is required, typed, an enum member or a time the
same way everywhere, and every refusal is a ``CodecError`` naming the path of the bad field
(``portions[1].label.classification``) so a person can fix the input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, TypeVar

Data = Mapping[str, Any]
T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

DATETIME_EXAMPLE = "e.g. 2019-10-31T07:35:00Z or 2021-10-04T10:00:00+09:00"


class CodecError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path, self.message = path, message


def join(path: str, name: str) -> str:
    """The path of field ``name`` inside the object at ``path``."""
    return f"{path}.{name}" if path else name


def field_of(data: Data, name: str, path: str, kind: type[T], *, default: Any = ...) -> T:
    """``data[name]`` checked to be a ``kind``; missing and no default is an error."""
    if not isinstance(data, dict):
        raise CodecError(path, f"expected an object, got {type(data).__name__}")
    if name not in data or data[name] is None:
        if default is ...:
            raise CodecError(join(path, name), "is required")
        return default  # type: ignore[no-any-return]
    value = data[name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CodecError(join(path, name), f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def guarded(path: str, fn: Callable[[], T]) -> T:
    """Run ``fn``; turn a domain error (any ``ValueError``) into a ``CodecError`` at
    ``path``."""
    try:
        return fn()
    except CodecError:
        raise
    except KeyError as exc:
        raise CodecError(path, f"unknown key {exc}") from exc
    except ValueError as exc:
        raise CodecError(path, str(exc)) from exc


def allowed(kind: type[StrEnum]) -> str:
    """The values of ``kind``, as a refusal lists them."""
    return ", ".join(m.value for m in kind)


def enum_value(kind: type[E], raw: str, path: str) -> E:
    if raw not in kind.__members__.values():
        raise CodecError(path, f"{raw!r} is not one of {allowed(kind)}")
    return kind(raw)


def enum_field(kind: type[E], data: Data, name: str, path: str,
               default: str | None = None) -> E:
    """Field ``name`` of ``data`` as a member of ``kind``."""
    return enum_value(kind, field_of(data, name, path, str, default=default), join(path, name))


def parse_datetime(value: Any, path: str, *, keep_offset: bool = False) -> datetime:
    """An aware date-time: a ``datetime`` or ISO 8601 text with an offset. In UTC, unless
    ``keep_offset`` (talks keep the offset they were scheduled with).

    "Z" means UTC only as the last character: Python's parser would also take it as the
    date/time separator, and replacing every "Z" by "+00:00" turned text such as
    ``07:35Z:00`` into a time; both are refused."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        dt = _iso_datetime(value, path)
    else:
        raise CodecError(path, f"expected an ISO 8601 date-time ({DATETIME_EXAMPLE})")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise CodecError(path, f"needs a time zone offset ({DATETIME_EXAMPLE})")
    return dt if keep_offset else dt.astimezone(UTC)


def _iso_datetime(text: str, path: str) -> datetime:
    refusal = CodecError(path, f"{text[:64]!r} is not an ISO 8601 date-time "
                               f"({DATETIME_EXAMPLE})")
    if "Z" in text[:-1]:
        raise refusal
    try:
        return datetime.fromisoformat(text.removesuffix("Z") + "+00:00"
                                      if text.endswith("Z") else text)
    except ValueError as exc:
        raise refusal from exc


def parse_date(value: Any, path: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return guarded(path, lambda: date.fromisoformat(value))
    raise CodecError(path, "expected an ISO 8601 date (YYYY-MM-DD)")


def strings(values: object, path: str) -> list[str]:
    """``values`` checked to be a list of strings."""
    if not isinstance(values, list):
        raise CodecError(path, f"expected a list of strings, got {type(values).__name__}")
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise CodecError(f"{path}[{i}]", f"expected a string, got {type(v).__name__}")
    return values


def str_list(data: Data, name: str, path: str) -> list[str] | None:
    """Field ``name`` of ``data`` as a list of strings; ``None`` when absent."""
    values = field_of(data, name, path, list, default=None)
    return None if values is None else strings(values, join(path, name))
