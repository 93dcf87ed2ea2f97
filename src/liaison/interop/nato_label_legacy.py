"""STANAG 4774 confidentiality labels as XML, and a STANAG 4778-style binding of a label to
data by signature. Pure: no file or network I/O.

Deviations from the full standards (on purpose; see the shapes below):

- 4774: a subset. ``PolicyIdentifier`` holds a party code (whose national scheme the
  classification belongs to), not a policy URI; categories carry only ``GenericValue``; the
  originator is ``OriginatorID IDType="PartyCode"``. Anything else inside a label is refused
  rather than skipped, so an unsupported restrictive marking can never be silently dropped.
- 4778: the label is embedded as ``<Metadata Encoding="base64">``, the base64 of the exact
  ``label_to_xml`` bytes that were signed (no XML canonicalisation needed), and the signature
  is Ed25519 over our own bytes, not XML-DSig: ``DOMAIN`` then, each prefixed by its length
  as 4 big-endian bytes, the key id (UTF-8), the SHA-256 of the data and the label XML. The
  key id is signed too, so a signature cannot be re-attributed to another key id.

Reading is fail-closed: ``defusedxml`` with DTDs (hence entities) forbidden, a size cap
(``MAX_LABEL``, ``MAX_BINDING``), the namespace required, unknown elements and attributes
refused, each label validated against its policy party's scheme. Errors name the element
path. Round trips are exact for labels as ``make_label`` builds them (classification by level
name: a mark is read back as the level's name); date-times are written and read as UTC.

Label shape (``label_to_xml``; no whitespace between elements, same label -> same bytes)::

    <ConfidentialityLabel xmlns=NS>
      <ConfidentialityInformation><PolicyIdentifier>KOR</PolicyIdentifier>
        <Classification>..</Classification>
        <Category TagName="REL TO" Type="PERMISSIVE"><GenericValue>USA</GenericValue>..</Category>
      </ConfidentialityInformation>
      <CreationDateTime>2019-10-31T08:00:00Z</CreationDateTime> <ReviewDateTime>?
      <OriginatorID IDType="PartyCode">KOR</OriginatorID> <PrivacyMark>?
      <AlternativeConfidentialityLabel>(the same, without alternatives)</..>*
    </ConfidentialityLabel>

Binding shape (``bind``)::

    <BindingInformation xmlns=BINDING_NS><DataReference><DigestMethod>SHA-256</DigestMethod>
      <DigestValue>b64</DigestValue></DataReference><Metadata Encoding="base64">b64</Metadata>
      <Signature KeyId="..">b64 Ed25519</Signature></BindingInformation>
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
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
    Label,
    LabelError,
    Party,
    validate_label,
)

NS = "urn:nato:stanag:4774:confidentialitymetadatalabel:1:0"
BINDING_NS = "urn:nato:stanag:4778:bindinginformation:1:0"
MAX_LABEL = 64 * 1024
MAX_BINDING = 128 * 1024  # a maximal label, base64-encoded, plus the envelope
DOMAIN = b"liaison-4778-v1\0"
_INVALID_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
            "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
_REQUIRED_TYPE = {REL_TO: CategoryType.PERMISSIVE, EYES: CategoryType.PERMISSIVE,
                  CAVEAT: CategoryType.RESTRICTIVE, COMPARTMENT: CategoryType.RESTRICTIVE}


class NatoLabelError(ValueError):
    """A label or binding that cannot be read; the message says what and where."""


class BindingError(NatoLabelError):
    """A binding that does not verify; never trust its label."""


# --- writing -----------------------------------------------------------------------------


def _esc(text: str, where: str) -> str:
    bad = _INVALID_CHAR.search(text)
    if bad:
        raise NatoLabelError(f"{where}: character U+{ord(bad.group()):04X} cannot appear in XML")
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def _when(dt: datetime, where: str) -> str:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise NatoLabelError(f"{where}: date-time has no time zone")
    try:
        return dt.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
    except OverflowError:
        raise NatoLabelError(f"{where}: {dt} is out of range") from None


def _el(name: str, text: str, attrs: str = "") -> str:
    return f"<{name}{attrs}>{_esc(text, name)}</{name}>"


def _body(label: Label) -> str:
    cats = "".join(
        f'<Category TagName="{_esc(c.tag, "Category/@TagName")}" Type="{c.type.value}">'
        + "".join(_el("GenericValue", v) for v in sorted(c.values)) + "</Category>"
        for c in label.categories)
    out = ("<ConfidentialityInformation>" + _el("PolicyIdentifier", label.policy)
           + _el("Classification", label.classification) + cats + "</ConfidentialityInformation>"
           + _el("CreationDateTime", _when(label.created, "CreationDateTime")))
    if label.review is not None:
        out += _el("ReviewDateTime", _when(label.review, "ReviewDateTime"))
    out += _el("OriginatorID", label.originator, ' IDType="PartyCode"')
    if label.privacy_mark is not None:
        out += _el("PrivacyMark", label.privacy_mark)
    return out


def label_to_xml(label: Label, alternatives: Sequence[Label] = ()) -> bytes:
    """The label (and the same information in other parties' schemes) as 4774 XML."""
    alts = "".join(f"<AlternativeConfidentialityLabel>{_body(a)}</AlternativeConfidentialityLabel>"
                   for a in alternatives)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ConfidentialityLabel xmlns="{NS}">'
            f"{_body(label)}{alts}</ConfidentialityLabel>").encode()


# --- reading -----------------------------------------------------------------------------


def _parse(data: bytes, limit: int, error: type[NatoLabelError]) -> Element:
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


def _children(el: Element, ns: str, path: str, allowed: dict[str, tuple[int, int | None]],
              attrs: frozenset[str] = frozenset()) -> dict[str, list[Element]]:
    """``el``'s children by local name, each counted against ``allowed[name] = (min, max)``;
    unknown elements or attributes and stray text are refused. ``path`` is ``el``'s path
    from the document element ("" for the document element itself)."""
    here = path or el.tag.rpartition("}")[2]
    _no_extras(el, here, attrs, el.text)
    found: dict[str, list[Element]] = {name: [] for name in allowed}
    for child in el:
        local = child.tag[len(ns) + 2:] if child.tag.startswith(f"{{{ns}}}") else ""
        if local not in allowed:
            raise NatoLabelError(f"{here}: unexpected element <{child.tag}>")
        if child.tail and child.tail.strip():
            raise NatoLabelError(f"{here}: unexpected text after <{local}>")
        found[local].append(child)
    for name, (low, high) in allowed.items():
        n = len(found[name])
        if n < low or (high is not None and n > high):
            need = "is required" if n < low else "may appear at most once"
            raise NatoLabelError(f"{path}/{name}: {need} (found {n})".lstrip("/"))
    return found


def _no_extras(el: Element, path: str, attrs: frozenset[str], text: str | None) -> None:
    if text and text.strip():
        raise NatoLabelError(f"{path}: unexpected text {text.strip()[:40]!r}")
    for name in el.attrib:
        if name not in attrs:
            raise NatoLabelError(f"{path}: unexpected attribute {name!r}")


def _leaf(el: Element, path: str, attrs: frozenset[str] = frozenset(), strip: bool = True) -> str:
    if len(el):
        raise NatoLabelError(f"{path}: unexpected element <{el[0].tag}>")
    _no_extras(el, path, attrs, None)
    text = el.text or ""
    return text.strip() if strip else text


def _time(el: Element, path: str) -> datetime:
    text = _leaf(el, path)
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


def _category(el: Element, path: str) -> Category:
    values = _children(el, NS, path, {"GenericValue": (0, None)}, frozenset({"TagName", "Type"}))
    tag, kind = el.get("TagName"), el.get("Type")
    if tag is None:
        raise NatoLabelError(f"{path}/@TagName: is required")
    if kind is None or kind not in CategoryType.__members__.values():
        allowed = ", ".join(t.value for t in CategoryType)
        raise NatoLabelError(f"{path}/@Type: {kind!r} is not one of {allowed}")
    vals = frozenset(_leaf(v, f"{path}/GenericValue", strip=False) for v in values["GenericValue"])
    if tag in _REQUIRED_TYPE and kind != _REQUIRED_TYPE[tag]:
        raise NatoLabelError(f"{path}/@Type: {tag} must be {_REQUIRED_TYPE[tag].value}")
    if tag in (REL_TO, EYES):
        bad = sorted(v for v in vals if not PARTY_CODE.match(v))
        if bad or not vals:
            raise NatoLabelError(f"{path}: {tag} needs ISO 3166 alpha-3 party codes"
                                 + (f" (got {', '.join(map(repr, bad))})" if bad else ""))
    return Category(tag, CategoryType(kind), vals)


def _label(el: Element, where: str, parties: Mapping[str, Party], alternatives: bool) -> Label:
    """The label in ``el``; ``where`` is its path, empty for the document element (so that
    paths read ``ConfidentialityInformation/Classification``)."""
    shape: dict[str, tuple[int, int | None]] = {
        "ConfidentialityInformation": (1, 1), "CreationDateTime": (1, 1),
        "ReviewDateTime": (0, 1), "OriginatorID": (1, 1), "PrivacyMark": (0, 1)}
    if alternatives:
        shape["AlternativeConfidentialityLabel"] = (0, None)
    at = f"{where}/" if where else ""
    parts = _children(el, NS, where, shape)
    ip = f"{at}ConfidentialityInformation"
    info = _children(parts["ConfidentialityInformation"][0], NS, ip, {
        "PolicyIdentifier": (1, 1), "Classification": (1, 1), "Category": (0, None)})
    policy = _leaf(info["PolicyIdentifier"][0], f"{ip}/PolicyIdentifier")
    if policy not in parties:
        raise NatoLabelError(f"{ip}/PolicyIdentifier: unknown policy {policy!r} "
                             f"(known parties: {', '.join(sorted(parties))})")
    scheme = parties[policy].scheme
    level = _leaf(info["Classification"][0], f"{ip}/Classification")
    if not scheme.has(level):
        known = ", ".join(lv.name for lv in scheme.levels)
        raise NatoLabelError(f"{ip}/Classification: {level!r} is not a level of {policy}'s "
                             f"scheme (known: {known})")
    origin = parts["OriginatorID"][0]
    if origin.get("IDType") != "PartyCode":
        raise NatoLabelError(f"{at}OriginatorID/@IDType: must be 'PartyCode'")
    review, mark = parts["ReviewDateTime"], parts["PrivacyMark"]
    label = Label(
        policy=policy,
        classification=scheme.level(level).name,
        originator=_leaf(origin, f"{at}OriginatorID", frozenset({"IDType"})),
        created=_time(parts["CreationDateTime"][0], f"{at}CreationDateTime"),
        categories=tuple(_category(c, f"{ip}/Category[{i}]")
                         for i, c in enumerate(info["Category"], 1)),
        review=_time(review[0], f"{at}ReviewDateTime") if review else None,
        privacy_mark=_leaf(mark[0], f"{at}PrivacyMark", strip=False) if mark else None,
    )
    try:
        validate_label(label, scheme)
    except LabelError as exc:
        raise NatoLabelError(f"{where or 'ConfidentialityLabel'}: {exc}") from exc
    return label


def label_from_xml(data: bytes, parties: Mapping[str, Party]) -> tuple[Label, tuple[Label, ...]]:
    """The label and its alternatives, each validated against its policy party's scheme."""
    root = _parse(data, MAX_LABEL, NatoLabelError)
    if root.tag != f"{{{NS}}}ConfidentialityLabel":
        raise NatoLabelError(f"root element is <{root.tag}>, not <ConfidentialityLabel "
                             f'xmlns="{NS}">')
    label = _label(root, "", parties, alternatives=True)
    alts = [_label(a, f"AlternativeConfidentialityLabel[{i}]", parties, alternatives=False)
            for i, a in enumerate(root.findall(f"{{{NS}}}AlternativeConfidentialityLabel"), 1)]
    return label, tuple(alts)


# --- binding (4778 style) ----------------------------------------------------------------


def digest(data: bytes) -> bytes:
    """SHA-256 of ``data``: what ``bind`` and ``verify_binding`` take as ``data_digest``."""
    return hashlib.sha256(data).digest()


def _signed_bytes(key_id: str, data_digest: bytes, label_xml: bytes) -> bytes:
    out = DOMAIN
    for part in (key_id.encode(), data_digest, label_xml):
        out += struct.pack(">I", len(part)) + part
    return out


def _b64text(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def bind(data_digest: bytes, label: Label, key: Ed25519PrivateKey, key_id: str,
         alternatives: Sequence[Label] = ()) -> bytes:
    """Bind ``label`` to the data whose SHA-256 is ``data_digest`` by an Ed25519 signature
    over the domain prefix and the length-prefixed key id, digest and label XML. No XML
    declaration (UTF-8 is XML's default), so every byte of the output is checked."""
    if len(data_digest) != 32:
        raise NatoLabelError(f"data digest is {len(data_digest)} bytes, not a SHA-256 (32)")
    if not key_id:
        raise NatoLabelError("key id is empty")
    label_xml = label_to_xml(label, alternatives)
    signature = key.sign(_signed_bytes(key_id, data_digest, label_xml))
    return (f'<BindingInformation xmlns="{BINDING_NS}">'
            "<DataReference><DigestMethod>SHA-256</DigestMethod>"
            + _el("DigestValue", _b64text(data_digest)) + "</DataReference>"
            + _el("Metadata", _b64text(label_xml), ' Encoding="base64"')
            + _el("Signature", _b64text(signature), f' KeyId="{_esc(key_id, "KeyId")}"')
            + "</BindingInformation>").encode()


def _b64(el: Element, path: str, attrs: frozenset[str] = frozenset()) -> bytes:
    """Strict base64: only the canonical encoding is accepted, so no two texts verify."""
    text = _leaf(el, path, attrs, strip=False)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BindingError(f"{path}: not base64") from None
    if base64.b64encode(raw).decode() != text:
        raise BindingError(f"{path}: not canonical base64")
    return raw


def verify_binding(binding_xml: bytes, data_digest: bytes, keys: Mapping[str, Ed25519PublicKey],
                   parties: Mapping[str, Party]) -> tuple[Label, tuple[Label, ...]]:
    """The bound label and its alternatives, only when the signature verifies under the
    named key, the binding's digest is ``data_digest`` and the signed label is valid."""
    root = _parse(binding_xml, MAX_BINDING, BindingError)
    if root.tag != f"{{{BINDING_NS}}}BindingInformation":
        raise BindingError(f"root element is <{root.tag}>, not <BindingInformation "
                           f'xmlns="{BINDING_NS}">')
    try:
        parts = _children(root, BINDING_NS, "", {
            "DataReference": (1, 1), "Metadata": (1, 1), "Signature": (1, 1)})
        ref = _children(parts["DataReference"][0], BINDING_NS, "DataReference", {
            "DigestMethod": (1, 1), "DigestValue": (1, 1)})
        method = _leaf(ref["DigestMethod"][0], "DataReference/DigestMethod", strip=False)
        meta, sig = parts["Metadata"][0], parts["Signature"][0]
        if meta.get("Encoding") != "base64":
            raise BindingError("Metadata/@Encoding: must be 'base64'")
        key_id = sig.get("KeyId") or ""
        bound = _b64(ref["DigestValue"][0], "DataReference/DigestValue")
        label_xml = _b64(meta, "Metadata", frozenset({"Encoding"}))
        signature = _b64(sig, "Signature", frozenset({"KeyId"}))
    except BindingError:
        raise
    except NatoLabelError as exc:
        raise BindingError(str(exc)) from exc
    if method != "SHA-256":
        raise BindingError(f"DataReference/DigestMethod: {method[:40]!r} is not SHA-256")
    if len(signature) != 64:
        raise BindingError(f"Signature: {len(signature)} bytes, not an Ed25519 signature (64)")
    if key_id not in keys:
        raise BindingError(f"Signature/@KeyId: unknown key id {key_id[:80]!r}")
    try:
        keys[key_id].verify(signature, _signed_bytes(key_id, bound, label_xml))
    except InvalidSignature:
        raise BindingError(f"Signature: does not verify under key {key_id!r}") from None
    if not hmac.compare_digest(bound, data_digest):
        raise BindingError("DataReference/DigestValue: digest does not match the data "
                           "(the label is bound to other data)")
    try:
        return label_from_xml(label_xml, parties)
    except NatoLabelError as exc:
        raise BindingError(f"Metadata (signed label): {exc}") from exc
