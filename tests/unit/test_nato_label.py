"""ADatP-4774 labels (liaison.interop.nato_label): the standard's shape out, standard
labels, 4778 label sets and Liaison's old form (marked legacy) in."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from defusedxml import ElementTree as SafeET  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st
from test_nato_label_legacy import ALT, RICH, labels

from liaison.domain.labels import NOFORN, Label, make_label
from liaison.interop import nato_label_legacy
from liaison.interop.nato_binding import metadata_xml
from liaison.interop.nato_label import (
    ALTERNATIVE,
    BINDING_NS,
    NS,
    NatoLabelError,
    ReadLabels,
    label_element,
    label_from_xml,
    label_to_xml,
    policy_uri,
)

from factories import CREATED, PARTIES, label

DIGEST = bytes(range(32))
# The 4774 GeneralName choices (ADatP-4774 App. 1 Table 9)
ID_TYPES = {"rfc822Name", "dNSName", "directoryName", "uniformResourceIdentifier",
            "iPAddress", "x400Address", "userPrincipalName", "jID"}


def q(name: str, ns: str = NS) -> str:
    return f"{{{ns}}}{name}"


@pytest.mark.parametrize("lb", [
    label("군사II급비밀", rel_to={"USA", "JPN"}),
    label("군사I급비밀", eyes_only={"USA"}),
    label("군사III급비밀", caveats={NOFORN, "ORCON"}),
    label("군사II급비밀", compartments={"TK", "SI"}),
    label("평문", informative={"topic": frozenset({"DPRK/missile"}), "empty": frozenset()}),
    label("대외비", review=CREATED + timedelta(days=365)),
    replace(label("대외비"), privacy_mark=""),
    RICH,
], ids=["rel-to", "eyes-only", "caveats", "compartments", "informative", "review",
        "empty-privacy-mark", "everything"])
def test_standard_label_round_trip(lb: Label) -> None:
    assert label_from_xml(label_to_xml(lb), PARTIES) == ReadLabels(lb)


def test_label_has_the_standard_shape() -> None:
    """originatorConfidentialityLabel; ReviewDateTime an attribute; PrivacyMark inside
    ConfidentialityInformation; OriginatorID a URN of a 4774 ID type, before
    CreationDateTime; PolicyIdentifier with its urn:oid URI."""
    root = SafeET.fromstring(label_to_xml(RICH))
    assert root.tag == q("originatorConfidentialityLabel")
    assert root.get("ReviewDateTime") == "2029-10-28T08:00:00Z"
    assert [c.tag for c in root] == [q(n) for n in (
        "ConfidentialityInformation", "OriginatorID", "CreationDateTime")]
    info = root[0]
    assert [c.tag for c in info][:3] == [q(n) for n in (
        "PolicyIdentifier", "Classification", "PrivacyMark")]
    policy = info.find(q("PolicyIdentifier"))
    assert policy is not None and policy.text == "KOR"
    assert policy.get("URI") == policy_uri("KOR")
    assert policy_uri("KOR").startswith("urn:oid:2.25.") and policy_uri("KOR") != policy_uri("JPN")
    origin = root.find(q("OriginatorID"))
    assert origin is not None and origin.get("IDType") in ID_TYPES
    assert origin.get("IDType") == "uniformResourceIdentifier"
    assert origin.text == "urn:liaison:party:KOR"
    assert root.find(q("ReviewDateTime")) is None


def test_alternatives_are_separate_metadata_not_nested() -> None:
    """The originator's label and each alternative are separate 4778 Metadata."""
    root = SafeET.fromstring(metadata_xml(DIGEST, RICH, [ALT]))
    metadata = root.findall(f"{q('MetadataBindingContainer', BINDING_NS)}/"
                            f"{q('MetadataBinding', BINDING_NS)}/{q('Metadata', BINDING_NS)}")
    assert [[c.tag for c in m] for m in metadata] == [
        [q("originatorConfidentialityLabel")], [q("alternativeConfidentialityLabel")]]
    assert next(root.iter(q("AlternativeConfidentialityLabel")), None) is None
    assert all(m[0].find(q("alternativeConfidentialityLabel")) is None for m in metadata)
    read = label_from_xml(metadata_xml(DIGEST, RICH, [ALT]), PARTIES)
    assert (read.label, read.alternatives, read.legacy) == (RICH, (ALT,), False)
    assert read.data_uris[0].startswith("ni:///sha-256;")


@settings(max_examples=60)
@given(labels(), st.lists(labels(), max_size=2))
def test_round_trip_property(lb: Label, alts: list[Label]) -> None:
    assert label_from_xml(label_to_xml(lb), PARTIES).label == lb
    read = label_from_xml(metadata_xml(DIGEST, lb, alts), PARTIES)
    assert (read.label, read.alternatives) == (lb, tuple(alts))


# A label as a partner's labelling tool writes it: its own prefix, indentation, a category
# URI, the backwards-compatible root.
HAND_WRITTEN = f"""<?xml version="1.0" encoding="UTF-8"?>
<s:ConfidentialityLabel xmlns:s="{NS}" ReviewDateTime="2031-09-26T00:00:00+09:00">
  <s:ConfidentialityInformation>
    <s:PolicyIdentifier URI="{policy_uri('USA')}">USA</s:PolicyIdentifier>
    <s:Classification>SECRET</s:Classification>
    <s:Category Type="PERMISSIVE" TagName="REL TO" URI="urn:oid:2.25.1">
      <s:GenericValue>KOR</s:GenericValue>
      <s:GenericValue>JPN</s:GenericValue>
    </s:Category>
  </s:ConfidentialityInformation>
  <s:OriginatorID IDType="uniformResourceIdentifier">urn:liaison:party:USA</s:OriginatorID>
  <s:CreationDateTime>2026-09-26T12:00:00Z</s:CreationDateTime>
</s:ConfidentialityLabel>""".encode()


def test_a_partner_tools_label_is_read() -> None:
    read = label_from_xml(HAND_WRITTEN, PARTIES)
    assert not read.legacy and read.alternatives == ()
    assert (read.label.policy, read.label.classification, read.label.originator) == (
        "USA", "SECRET", "USA")
    assert read.label.rel_to == frozenset({"KOR", "JPN"})
    assert read.label.review is not None and read.label.review.isoformat() == \
        "2031-09-25T15:00:00+00:00"


def test_the_old_form_is_read_and_marked_legacy() -> None:
    old = nato_label_legacy.label_to_xml(RICH, [ALT])
    assert label_from_xml(old, PARTIES) == ReadLabels(RICH, (ALT,), legacy=True)
    assert label_from_xml(label_to_xml(RICH), PARTIES).legacy is False


@pytest.mark.parametrize(("old", "new", "message"), [
    (b'IDType="uniformResourceIdentifier"', b'IDType="rfc822Name"',
     "OriginatorID: must be IDType='uniformResourceIdentifier'"),
    (b'IDType="uniformResourceIdentifier"', b'IDType="PartyCode"',
     "OriginatorID: must be IDType='uniformResourceIdentifier'"),
    (b"urn:liaison:party:KOR", b"KOR", "OriginatorID: must be"),
    (policy_uri("KOR").encode(), b"urn:oid:1.3.26.1.3.1", "is not the policy KOR"),
    (b"<slab:CreationDateTime>", b"<slab:SuccessionHandling/><slab:CreationDateTime>",
     "unexpected element"),
    (b'ReviewDateTime="2029-10-28T08:00:00Z"', b'ReviewDateTime="soon"',
     "@ReviewDateTime: 'soon' is not an ISO 8601 date-time"),
    (b"<slab:GenericValue>ORCON</slab:GenericValue>",
     b"<slab:IntegerValue>1</slab:IntegerValue>", "unexpected element"),
    (b"originatorConfidentialityLabel", b"metadataConfidentialityLabel", "root element"),
], ids=["other-id-type", "old-id-type", "not-a-urn", "other-policy-uri", "succession",
        "review", "integer-value", "metadata-label"])
def test_what_is_not_taken_is_refused_by_name(old: bytes, new: bytes, message: str) -> None:
    xml = label_to_xml(RICH)
    assert old in xml
    with pytest.raises(NatoLabelError, match=message):
        label_from_xml(xml.replace(old, new), PARTIES)


def test_a_nested_alternative_in_a_standard_label_is_refused() -> None:
    """The old nesting, written with the standard's element names, is not taken."""
    nested = label_to_xml(RICH).replace(
        b"</slab:originatorConfidentialityLabel>",
        label_element(ALT, ALTERNATIVE).encode() + b"</slab:originatorConfidentialityLabel>")
    with pytest.raises(NatoLabelError, match="unexpected element"):
        label_from_xml(nested, PARTIES)


@pytest.mark.parametrize(("change", "message"), [
    (lambda x: x.replace(b"<mb:Metadata><slab:alternative", b"<mb:Metadata><slab:original"),
     "not well-formed|holds"),
    (lambda x: x.replace(b"originatorConfidentialityLabel", b"alternativeConfidentialityLabel"),
     "needs exactly one originatorConfidentialityLabel"),
    (lambda x: x.replace(b'<mb:DataReference URI="', b'<mb:DataReference X="1" URI="'),
     "unexpected attribute 'X'"),
    (lambda x: x.replace(b"</mb:MetadataBinding></mb:MetadataBindingContainer>",
                         b"</mb:MetadataBinding><mb:MetadataBinding/>"
                         b"</mb:MetadataBindingContainer>"), "may appear at most once"),
    (lambda x: x.replace(b"<mb:Metadata>", b"<mb:Metadata><x/>", 1), "exactly one label"),
], ids=["unknown-role", "no-originator", "data-reference-attribute", "two-bindings",
        "two-elements-in-metadata"])
def test_label_sets_are_read_fail_closed(change: object, message: str) -> None:
    xml = metadata_xml(DIGEST, RICH, [ALT])
    with pytest.raises(NatoLabelError, match=message):
        label_from_xml(change(xml), PARTIES)  # type: ignore[operator]


@pytest.mark.parametrize("xml", [
    b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    b'<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
    b'<slab:originatorConfidentialityLabel xmlns:slab="' + NS.encode() + b'">&b;'
    b"</slab:originatorConfidentialityLabel>",
], ids=["external-entity", "entity-expansion"])
def test_dtds_and_entities_are_refused(xml: bytes) -> None:
    with pytest.raises(NatoLabelError, match="forbidden XML construct"):
        label_from_xml(xml, PARTIES)


def test_unknown_policy_and_level_are_named() -> None:
    usa_label = make_label(PARTIES["USA"].scheme, "SECRET", originator="USA", created=CREATED)
    xml = label_to_xml(usa_label)
    with pytest.raises(NatoLabelError, match="unknown policy 'USA'"):
        label_from_xml(xml, {k: v for k, v in PARTIES.items() if k != "USA"})
    with pytest.raises(NatoLabelError, match="'ULTRA' is not a level of USA's scheme"):
        label_from_xml(xml.replace(b">SECRET<", b">ULTRA<"), PARTIES)
