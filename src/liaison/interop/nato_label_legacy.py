"""The form of labels and bindings Liaison wrote before it followed ADatP-4774 / 4778
(``nato_label``, ``nato_binding``): still read and verified, and marked as legacy by their
callers, so labels and bindings that older nodes made keep working. The writers stay for
tests and for partners still on that form. Pure: no file or network I/O.

Deviations of this old form from the standards (why it was replaced):

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
import struct
from collections.abc import Mapping, Sequence
from datetime import datetime
from xml.etree.ElementTree import Element

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from liaison.domain.labels import Label, LabelError, Party, validate_label
from liaison.interop.nato_xml import (
    BINDING_NS,
    MAX_BINDING,
    MAX_LABEL,
    NS,
    BindingError,
    NatoLabelError,
    category,
    children,
    date_time,
    el,
    esc,
    leaf,
    parse,
    when,
)

DOMAIN = b"liaison-4778-v1\0"


# --- writing -----------------------------------------------------------------------------


def _body(label: Label) -> str:
    cats = "".join(
        f'<Category TagName="{esc(c.tag, "Category/@TagName")}" Type="{c.type.value}">'
        + "".join(el("GenericValue", v) for v in sorted(c.values)) + "</Category>"
        for c in label.categories)
    out = ("<ConfidentialityInformation>" + el("PolicyIdentifier", label.policy)
           + el("Classification", label.classification) + cats + "</ConfidentialityInformation>"
           + el("CreationDateTime", when(label.created, "CreationDateTime")))
    if label.review is not None:
        out += el("ReviewDateTime", when(label.review, "ReviewDateTime"))
    out += el("OriginatorID", label.originator, ' IDType="PartyCode"')
    if label.privacy_mark is not None:
        out += el("PrivacyMark", label.privacy_mark)
    return out


def label_to_xml(label: Label, alternatives: Sequence[Label] = ()) -> bytes:
    """The label (and the same information in other parties' schemes) as 4774 XML."""
    alts = "".join(f"<AlternativeConfidentialityLabel>{_body(a)}</AlternativeConfidentialityLabel>"
                   for a in alternatives)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ConfidentialityLabel xmlns="{NS}">'
            f"{_body(label)}{alts}</ConfidentialityLabel>").encode()


# --- reading -----------------------------------------------------------------------------


def _time(el_: Element, path: str) -> datetime:
    return date_time(leaf(el_, path), path)


def _label(el: Element, where: str, parties: Mapping[str, Party], alternatives: bool) -> Label:
    """The label in ``el``; ``where`` is its path, empty for the document element (so that
    paths read ``ConfidentialityInformation/Classification``)."""
    shape: dict[str, tuple[int, int | None]] = {
        "ConfidentialityInformation": (1, 1), "CreationDateTime": (1, 1),
        "ReviewDateTime": (0, 1), "OriginatorID": (1, 1), "PrivacyMark": (0, 1)}
    if alternatives:
        shape["AlternativeConfidentialityLabel"] = (0, None)
    at = f"{where}/" if where else ""
    parts = children(el, NS, where, shape)
    ip = f"{at}ConfidentialityInformation"
    info = children(parts["ConfidentialityInformation"][0], NS, ip, {
        "PolicyIdentifier": (1, 1), "Classification": (1, 1), "Category": (0, None)})
    policy = leaf(info["PolicyIdentifier"][0], f"{ip}/PolicyIdentifier")
    if policy not in parties:
        raise NatoLabelError(f"{ip}/PolicyIdentifier: unknown policy {policy!r} "
                             f"(known parties: {', '.join(sorted(parties))})")
    scheme = parties[policy].scheme
    level = leaf(info["Classification"][0], f"{ip}/Classification")
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
        originator=leaf(origin, f"{at}OriginatorID", frozenset({"IDType"})),
        created=_time(parts["CreationDateTime"][0], f"{at}CreationDateTime"),
        categories=tuple(category(c, f"{ip}/Category[{i}]")
                         for i, c in enumerate(info["Category"], 1)),
        review=_time(review[0], f"{at}ReviewDateTime") if review else None,
        privacy_mark=leaf(mark[0], f"{at}PrivacyMark", strip=False) if mark else None,
    )
    try:
        validate_label(label, scheme)
    except LabelError as exc:
        raise NatoLabelError(f"{where or 'ConfidentialityLabel'}: {exc}") from exc
    return label


def label_from_xml(data: bytes, parties: Mapping[str, Party]) -> tuple[Label, tuple[Label, ...]]:
    """The label and its alternatives, each validated against its policy party's scheme."""
    root = parse(data, MAX_LABEL, NatoLabelError)
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
            + el("DigestValue", _b64text(data_digest)) + "</DataReference>"
            + el("Metadata", _b64text(label_xml), ' Encoding="base64"')
            + el("Signature", _b64text(signature), f' KeyId="{esc(key_id, "KeyId")}"')
            + "</BindingInformation>").encode()


def _b64(el: Element, path: str, attrs: frozenset[str] = frozenset()) -> bytes:
    """Strict base64: only the canonical encoding is accepted, so no two texts verify."""
    text = leaf(el, path, attrs, strip=False)
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
    root = parse(binding_xml, MAX_BINDING, BindingError)
    if root.tag != f"{{{BINDING_NS}}}BindingInformation":
        raise BindingError(f"root element is <{root.tag}>, not <BindingInformation "
                           f'xmlns="{BINDING_NS}">')
    try:
        parts = children(root, BINDING_NS, "", {
            "DataReference": (1, 1), "Metadata": (1, 1), "Signature": (1, 1)})
        ref = children(parts["DataReference"][0], BINDING_NS, "DataReference", {
            "DigestMethod": (1, 1), "DigestValue": (1, 1)})
        method = leaf(ref["DigestMethod"][0], "DataReference/DigestMethod", strip=False)
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
