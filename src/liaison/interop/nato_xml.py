"""What the STANAG 4774 label and 4778 binding readers and writers share: the namespaces,
the errors, escaping and date-times on the way out, and a fail-closed reader on the way in
(``defusedxml`` with DTDs, hence entities, forbidden; a size cap; unknown elements,
attributes and stray text refused, each error naming the element's path). Pure."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET  # type: ignore[import-untyped]
from defusedxml.common import DefusedXmlException  # type: ignore[import-untyped]

from liaison.domain.labels import (
    CAVEAT,
    COMPARTMENT,
    EYES,
    PARTY_CODE,
    REL_TO,
    Category,
    CategoryType,
)

NS = "urn:nato:stanag:4774:confidentialitymetadatalabel:1:0"
BINDING_NS = "urn:nato:stanag:4778:bindinginformation:1:0"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
MAX_LABEL = 64 * 1024
MAX_BINDING = 256 * 1024  # labels in every partner's scheme, a signature and a certificate
_INVALID_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
            "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
_REQUIRED_TYPE = {REL_TO: CategoryType.PERMISSIVE, EYES: CategoryType.PERMISSIVE,
                  CAVEAT: CategoryType.RESTRICTIVE, COMPARTMENT: CategoryType.RESTRICTIVE}
Shape = dict[str, tuple[int, int | None]]  # child's local name -> (least, most) times


class NatoLabelError(ValueError):
    """A label or binding that cannot be read; the message says what and where."""


class BindingError(NatoLabelError):
    """A binding that does not verify; never trust its label."""


# --- writing -----------------------------------------------------------------------------


def esc(text: str, where: str) -> str:
    """``text`` escaped for XML text or a double-quoted attribute."""
    bad = _INVALID_CHAR.search(text)
    if bad:
        raise NatoLabelError(f"{where}: character U+{ord(bad.group()):04X} cannot appear in XML")
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def when(dt: datetime, where: str) -> str:
    """``dt`` as an xs:dateTime in UTC (``Z``)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise NatoLabelError(f"{where}: date-time has no time zone")
    try:
        return dt.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
    except OverflowError:
        raise NatoLabelError(f"{where}: {dt} is out of range") from None


def el(name: str, text: str, attrs: str = "") -> str:
    return f"<{name}{attrs}>{esc(text, name.rpartition(':')[2])}</{name}>"


# --- reading -----------------------------------------------------------------------------


def parse(data: bytes, limit: int, error: type[NatoLabelError]) -> Element:
    """The document element of ``data``, read with DTDs and entities refused."""
    if len(data) > limit:
        raise error(f"document is {len(data)} bytes, larger than the {limit}-byte limit")
    try:
        root: Element = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise error(f"forbidden XML construct ({exc.__class__.__name__}): "
                    "DTDs and entities are refused") from exc
    except SafeET.ParseError as exc:
        raise error(f"not well-formed XML: {exc}") from exc
    except (LookupError, ValueError) as exc:  # e.g. an unknown encoding in the declaration
        raise error(f"unreadable XML: {exc}") from exc
    return root


def local(el_: Element, ns: str) -> str:
    """``el_``'s local name when it is in ``ns``, else ""."""
    return el_.tag[len(ns) + 2:] if el_.tag.startswith(f"{{{ns}}}") else ""


def children(el_: Element, ns: str, path: str, allowed: Shape,
             attrs: frozenset[str] = frozenset()) -> dict[str, list[Element]]:
    """``el_``'s children by local name (all in ``ns``), each counted against
    ``allowed[name] = (min, max)``; unknown elements or attributes and stray text are
    refused. ``path`` is ``el_``'s path from the document element ("" for that element)."""
    here = path or el_.tag.rpartition("}")[2]
    no_extras(el_, here, attrs, el_.text)
    found: dict[str, list[Element]] = {name: [] for name in allowed}
    for child in el_:
        name = local(child, ns)
        if name not in allowed:
            raise NatoLabelError(f"{here}: unexpected element <{child.tag}>")
        if child.tail and child.tail.strip():
            raise NatoLabelError(f"{here}: unexpected text after <{name}>")
        found[name].append(child)
    for name, (low, high) in allowed.items():
        n = len(found[name])
        if n < low or (high is not None and n > high):
            need = "is required" if n < low else "may appear at most once"
            raise NatoLabelError(f"{path}/{name}: {need} (found {n})".lstrip("/"))
    return found


def no_extras(el_: Element, path: str, attrs: frozenset[str], text: str | None) -> None:
    if text and text.strip():
        raise NatoLabelError(f"{path}: unexpected text {text.strip()[:40]!r}")
    for name in el_.attrib:
        if name not in attrs:
            raise NatoLabelError(f"{path}: unexpected attribute {name!r}")


def leaf(el_: Element, path: str, attrs: frozenset[str] = frozenset(), strip: bool = True) -> str:
    """The text of an element that may hold no element."""
    if len(el_):
        raise NatoLabelError(f"{path}: unexpected element <{el_[0].tag}>")
    no_extras(el_, path, attrs, None)
    text = el_.text or ""
    return text.strip() if strip else text


def date_time(text: str, path: str) -> datetime:
    """An xs:dateTime with a time zone, in UTC."""
    text = text.strip()
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise NatoLabelError(f"{path}: {text[:40]!r} is not an ISO 8601 date-time") from None
    if dt.tzinfo is None:
        raise NatoLabelError(f"{path}: {text!r} needs a time zone (e.g. 2019-10-31T07:35:00Z)")
    try:
        return dt.astimezone(UTC)
    except OverflowError:
        raise NatoLabelError(f"{path}: {text!r} is out of range") from None


def category(el_: Element, path: str, attrs: frozenset[str] = frozenset({"TagName", "Type"})
             ) -> Category:
    """A ``Category`` and its ``GenericValue``s (the only value 4774 lets a label use)."""
    values = children(el_, NS, path, {"GenericValue": (0, None)}, attrs)
    tag, kind = el_.get("TagName"), el_.get("Type")
    if tag is None:
        raise NatoLabelError(f"{path}/@TagName: is required")
    if kind is None or kind not in CategoryType.__members__.values():
        allowed = ", ".join(t.value for t in CategoryType)
        raise NatoLabelError(f"{path}/@Type: {kind!r} is not one of {allowed}")
    vals = frozenset(leaf(v, f"{path}/GenericValue", strip=False) for v in values["GenericValue"])
    if tag in _REQUIRED_TYPE and kind != _REQUIRED_TYPE[tag]:
        raise NatoLabelError(f"{path}/@Type: {tag} must be {_REQUIRED_TYPE[tag].value}")
    if tag in (REL_TO, EYES):
        bad = sorted(v for v in vals if not PARTY_CODE.match(v))
        if bad or not vals:
            raise NatoLabelError(f"{path}: {tag} needs ISO 3166 alpha-3 party codes"
                                 + (f" (got {', '.join(map(repr, bad))})" if bad else ""))
    return Category(tag, CategoryType(kind), vals)
