"""STANAG 4774 confidentiality labels as ADatP-4774 shapes them, and the reading of any
label a partner may send: a standard label, a 4778 ``BindingInformation`` carrying an
originator label and its alternatives, or Liaison's old form (``nato_label_legacy``, read
and marked as legacy). Pure: no file or network I/O.

A label (``label_to_xml``; no whitespace between elements, same label -> same bytes)::

    <slab:originatorConfidentialityLabel xmlns:slab=NS ReviewDateTime="...Z"?>
      <slab:ConfidentialityInformation>
        <slab:PolicyIdentifier URI="urn:oid:2.25.N">KOR</slab:PolicyIdentifier>
        <slab:Classification>..</slab:Classification> <slab:PrivacyMark>?
        <slab:Category TagName="REL TO" Type="PERMISSIVE"><slab:GenericValue>USA<..>..
      </slab:ConfidentialityInformation>
      <slab:OriginatorID IDType="uniformResourceIdentifier">urn:liaison:party:KOR<..>
      <slab:CreationDateTime>2019-10-31T08:00:00Z</slab:CreationDateTime>
    </slab:originatorConfidentialityLabel>

The same label in another party's scheme is an ``alternativeConfidentialityLabel``, a
separate element: a label and its alternatives travel together as separate ``Metadata`` of
a 4778 ``MetadataBinding`` (``nato_binding``), never nested in one another.

Choices where ADatP-4774 leaves room (or where Liaison holds less than it allows):

- ``PolicyIdentifier`` names the party whose national scheme the classification belongs
  to; its ``URI`` is ``urn:oid:2.25.<n>`` (an OID from a UUID, ITU-T X.667), the UUIDv5 of
  ``urn:liaison:policy:<party>``: stable, unique, and in the ``urn:oid`` form 4774 requires.
  A label naming that policy under another URI is refused (another policy of that name).
- ``OriginatorID`` is ``IDType="uniformResourceIdentifier"`` holding
  ``urn:liaison:party:<party>``; it is required on the way in (Liaison labels name their
  originator), and other ID types are refused, naming the one accepted.
- Categories carry ``GenericValue`` only (4774 forbids the other two); a category's ``URI``
  is accepted and not kept. ``SuccessionHandling`` and elements of other namespaces are
  refused rather than skipped, so nothing restrictive is ever silently dropped.
- ``ReviewDateTime`` is written when the label has one (4774's prose wants it when there is
  no succession handling; Liaison labels may have none) and read when present.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from liaison.domain.labels import Label, LabelError, Party, validate_label
from liaison.interop import nato_label_legacy as legacy
from liaison.interop.nato_xml import (
    BINDING_NS,
    DS_NS,
    MAX_BINDING,
    NS,
    BindingError,
    NatoLabelError,
    category,
    children,
    date_time,
    el,
    esc,
    leaf,
    local,
    no_extras,
    parse,
    when,
)

ORIGINATOR = "originatorConfidentialityLabel"
ALTERNATIVE = "alternativeConfidentialityLabel"
COMPAT = "ConfidentialityLabel"  # 4774 keeps this root "for backwards compatibility only"
URI_ID = "uniformResourceIdentifier"
PARTY_URN = "urn:liaison:party:"
XMIME_TYPE = "{http://www.w3.org/2005/05/xmlmime}contentType"
_POLICY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:liaison:policy")

__all__ = ["BINDING_NS", "NS", "BindingError", "NatoLabelError", "ReadLabels",
           "label_from_xml", "label_to_xml", "policy_uri"]


@dataclass(frozen=True)
class ReadLabels:
    """What a label document said: the originator's label, its alternatives, whether it
    came in Liaison's old form, and the data a 4778 binding names (``DataReference/@URI``)."""

    label: Label
    alternatives: tuple[Label, ...] = ()
    legacy: bool = False
    data_uris: tuple[str, ...] = ()


def policy_uri(party: str) -> str:
    """The ``PolicyIdentifier/@URI`` of ``party``'s national policy."""
    return f"urn:oid:2.25.{uuid.uuid5(_POLICY_NAMESPACE, party).int}"


# --- writing -----------------------------------------------------------------------------


def label_element(label: Label, role: str = ORIGINATOR) -> str:
    """The label as one ADatP-4774 element (``role``: originator or alternative)."""
    review = "" if label.review is None else \
        f' ReviewDateTime="{when(label.review, "@ReviewDateTime")}"'
    cats = "".join(
        f'<slab:Category TagName="{esc(c.tag, "Category/@TagName")}" Type="{c.type.value}">'
        + "".join(el("slab:GenericValue", v) for v in sorted(c.values)) + "</slab:Category>"
        for c in label.categories)
    mark = "" if label.privacy_mark is None else el("slab:PrivacyMark", label.privacy_mark)
    return (f'<slab:{role} xmlns:slab="{NS}"{review}><slab:ConfidentialityInformation>'
            + el("slab:PolicyIdentifier", label.policy, f' URI="{policy_uri(label.policy)}"')
            + el("slab:Classification", label.classification) + mark + cats
            + "</slab:ConfidentialityInformation>"
            + el("slab:OriginatorID", PARTY_URN + label.originator, f' IDType="{URI_ID}"')
            + el("slab:CreationDateTime", when(label.created, "CreationDateTime"))
            + f"</slab:{role}>")


def label_to_xml(label: Label) -> bytes:
    """The label alone, as an ADatP-4774 ``originatorConfidentialityLabel`` document."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + label_element(label)).encode()


# --- reading -----------------------------------------------------------------------------


def _policy(info: dict[str, list[Element]], ip: str, parties: Mapping[str, Party]) -> Party:
    pid = info["PolicyIdentifier"][0]
    policy = leaf(pid, f"{ip}/PolicyIdentifier", frozenset({"URI"}))
    if policy not in parties:
        raise NatoLabelError(f"{ip}/PolicyIdentifier: unknown policy {policy!r} "
                             f"(known parties: {', '.join(sorted(parties))})")
    uri = pid.get("URI")
    if uri is not None and uri.strip() != policy_uri(policy):
        raise NatoLabelError(f"{ip}/PolicyIdentifier/@URI: {uri[:80]!r} is not the policy "
                             f"{policy} this node knows ({policy_uri(policy)})")
    return parties[policy]


def _originator(el_: Element, path: str) -> str:
    kind = el_.get("IDType")
    text = leaf(el_, path, frozenset({"IDType"}))
    if kind != URI_ID or not text.startswith(PARTY_URN):
        raise NatoLabelError(f"{path}: must be IDType={URI_ID!r} holding "
                             f"'{PARTY_URN}<ISO 3166 alpha-3 code>' (got {kind!r}, "
                             f"{text[:60]!r})")
    return text[len(PARTY_URN):]


def _label(root: Element, where: str, parties: Mapping[str, Party]) -> Label:
    """The ADatP-4774 label ``root`` (any of its roles); ``where`` is its path."""
    at = f"{where}/" if where else ""
    parts = children(root, NS, where, {"ConfidentialityInformation": (1, 1),
                                       "OriginatorID": (1, 1), "CreationDateTime": (1, 1)},
                     frozenset({"ReviewDateTime", "Id"}))
    ip = f"{at}ConfidentialityInformation"
    info = children(parts["ConfidentialityInformation"][0], NS, ip, {
        "PolicyIdentifier": (1, 1), "Classification": (1, 1), "PrivacyMark": (0, 1),
        "Category": (0, None)})
    party = _policy(info, ip, parties)
    level = leaf(info["Classification"][0], f"{ip}/Classification")
    if not party.scheme.has(level):
        known = ", ".join(lv.name for lv in party.scheme.levels)
        raise NatoLabelError(f"{ip}/Classification: {level!r} is not a level of "
                             f"{party.code}'s scheme (known: {known})")
    review, mark = root.get("ReviewDateTime"), info["PrivacyMark"]
    label = Label(
        policy=party.code,
        classification=party.scheme.level(level).name,
        originator=_originator(parts["OriginatorID"][0], f"{at}OriginatorID"),
        created=date_time(leaf(parts["CreationDateTime"][0], f"{at}CreationDateTime"),
                          f"{at}CreationDateTime"),
        categories=tuple(category(c, f"{ip}/Category[{i}]",
                                  frozenset({"TagName", "Type", "URI"}))
                         for i, c in enumerate(info["Category"], 1)),
        review=None if review is None else date_time(review, f"{at}@ReviewDateTime"),
        privacy_mark=leaf(mark[0], f"{ip}/PrivacyMark", strip=False) if mark else None,
    )
    try:
        validate_label(label, party.scheme)
    except LabelError as exc:
        raise NatoLabelError(f"{where or root.tag.rpartition('}')[2]}: {exc}") from exc
    return label


def _is_legacy(root: Element) -> bool:
    """Liaison's old form: a ``ConfidentialityLabel`` whose originator is a party code."""
    origin = root.find(f"{{{NS}}}OriginatorID")
    return local(root, NS) == COMPAT and origin is not None \
        and origin.get("IDType") == "PartyCode"


def _metadata_label(meta: Element, path: str, parties: Mapping[str, Party]
                    ) -> tuple[str, Label]:
    """The one label in a 4778 ``Metadata`` element, and its role."""
    no_extras(meta, path, frozenset({XMIME_TYPE, "encoding"}), meta.text)
    if len(meta) != 1:
        raise NatoLabelError(f"{path}: must hold exactly one label element (found {len(meta)})")
    inner = meta[0]
    role = local(inner, NS)
    if role not in (ORIGINATOR, ALTERNATIVE) or (inner.tail and inner.tail.strip()):
        raise NatoLabelError(f"{path}: holds <{inner.tag}>, not an {ORIGINATOR} or "
                             f"{ALTERNATIVE} (other metadata is not taken)")
    return role, _label(inner, f"{path}/{role}", parties)


def _data_uri(ref: Element, path: str) -> str:
    """A ``DataReference``'s URI; a ``ds:Transforms`` (a part of the data) is not taken."""
    if leaf(ref, path, frozenset({"URI", XMIME_TYPE})):
        raise NatoLabelError(f"{path}: unexpected text")
    uri = ref.get("URI", "").strip()
    if not uri:
        raise NatoLabelError(f"{path}/@URI: is required")
    return uri


def read_binding_labels(root: Element, parties: Mapping[str, Party],
                        signatures: int = 0) -> ReadLabels:
    """The labels of a 4778 ``BindingInformation`` with one container and one binding;
    ``signatures``: how many ``ds:Signature`` it may start with (their checking is
    ``nato_binding``'s)."""
    sigs = [c for c in root if c.tag == f"{{{DS_NS}}}Signature"]
    if len(sigs) > signatures or any(c.tag == f"{{{DS_NS}}}Signature" for c in root[len(sigs):]):
        raise NatoLabelError("BindingInformation: unexpected ds:Signature")
    for sig in sigs:
        root.remove(sig)
    box = children(root, BINDING_NS, "", {"MetadataBindingContainer": (1, 1)})
    mbc = "MetadataBindingContainer"
    binding = children(box[mbc][0], BINDING_NS, mbc, {"MetadataBinding": (1, 1)},
                       frozenset({"Id"}))["MetadataBinding"][0]
    at = f"{mbc}/MetadataBinding"
    parts = children(binding, BINDING_NS, at, {"Metadata": (1, None), "DataReference": (1, None)},
                     frozenset({"Id"}))
    found = [_metadata_label(m, f"{at}/Metadata[{i}]", parties)
             for i, m in enumerate(parts["Metadata"], 1)]
    origin = [lb for role, lb in found if role == ORIGINATOR]
    if len(origin) != 1:
        raise NatoLabelError(f"{at}: needs exactly one {ORIGINATOR} (found {len(origin)})")
    uris = tuple(_data_uri(d, f"{at}/DataReference[{i}]")
                 for i, d in enumerate(parts["DataReference"], 1))
    return ReadLabels(origin[0], tuple(lb for role, lb in found if role == ALTERNATIVE),
                      data_uris=uris)


def label_from_xml(data: bytes, parties: Mapping[str, Party]) -> ReadLabels:
    """The label (and alternatives) of a standard label, of a 4778 ``BindingInformation``
    (signature not checked here: ``nato_binding.verify_binding`` does), or of Liaison's old
    form (``legacy``); each label validated against its policy party's scheme."""
    root = parse(data, MAX_BINDING, NatoLabelError)
    if root.tag == f"{{{BINDING_NS}}}BindingInformation":
        return read_binding_labels(root, parties, signatures=len(root))
    if _is_legacy(root):
        label, alternatives = legacy.label_from_xml(data, parties)
        return ReadLabels(label, alternatives, legacy=True)
    if local(root, NS) not in (ORIGINATOR, COMPAT):
        raise NatoLabelError(f"root element is <{root.tag}>, not an {ORIGINATOR} (xmlns "
                             f"{NS}) or a BindingInformation (xmlns {BINDING_NS})")
    return ReadLabels(_label(root, "", parties))


def metadata_elements(label: Label, alternatives: Sequence[Label]) -> list[str]:
    """The label and its alternatives as the separate elements 4778 ``Metadata`` hold."""
    return [label_element(label), *(label_element(a, ALTERNATIVE) for a in alternatives)]
