"""Liaison's old form of STANAG 4774 labels and 4778-style bindings
(liaison.interop.nato_label_legacy): still written, read and verified as before."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from defusedxml import ElementTree as SafeET  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from liaison.domain.labels import (
    CAVEAT,
    COMPARTMENT,
    EYES,
    NOFORN,
    REL_TO,
    Category,
    CategoryType,
    Label,
    make_label,
)
from liaison.interop.nato_label_legacy import (
    BINDING_NS,
    MAX_BINDING,
    MAX_LABEL,
    NS,
    BindingError,
    NatoLabelError,
    bind,
    digest,
    label_from_xml,
    label_to_xml,
    verify_binding,
)

from factories import CREATED, PARTIES, label

USA = PARTIES["USA"]
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
KEYS = {"kor-node-1": KEY.public_key()}
DATA = b"DPRK/missile report, portion 1"
RICH = replace(
    label("군사II급비밀", rel_to={"USA", "JPN"}, caveats={"ORCON"}, compartments={"TK", "SI"},
          informative={"topic": frozenset({"DPRK/missile", "a & <b>"})},
          review=CREATED + timedelta(days=3650)),
    privacy_mark="개인정보 \"IN CONFIDENCE\"\r\n",
)
ALT = make_label(USA.scheme, "SECRET", originator="KOR", created=CREATED, rel_to={"KOR", "JPN"})


def q(name: str, ns: str = NS) -> str:
    return f"{{{ns}}}{name}"


# --- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("lb", [
    label("군사II급비밀", rel_to={"USA", "JPN"}),
    label("군사I급비밀", eyes_only={"USA"}),
    label("군사III급비밀", caveats={NOFORN, "ORCON"}),
    label("군사II급비밀", compartments={"TK", "SI"}),
    label("평문", informative={"topic": frozenset({"DPRK/missile"}), "empty": frozenset()}),
    label("대외비", review=CREATED + timedelta(days=365)),
    replace(label("대외비"), privacy_mark="IN CONFIDENCE"),
    replace(label("대외비"), privacy_mark=""),
    RICH,
], ids=["rel-to", "eyes-only", "caveats", "compartments", "informative", "review",
        "privacy-mark", "empty-privacy-mark", "everything"])
def test_round_trip(lb: Label) -> None:
    assert label_from_xml(label_to_xml(lb), PARTIES) == (lb, ())


def test_alternatives_round_trip() -> None:
    jpn = make_label(PARTIES["JPN"].scheme, "極秘", originator="KOR", created=CREATED,
                     rel_to={"USA", "KOR"}, review=CREATED + timedelta(days=1))
    alts = (ALT, replace(jpn, privacy_mark="秘密"))
    assert label_from_xml(label_to_xml(RICH, alts), PARTIES) == (RICH, alts)


def test_xml_shape() -> None:
    root = SafeET.fromstring(label_to_xml(RICH, [ALT]))
    assert root.tag == q("ConfidentialityLabel")
    assert [c.tag for c in root] == [q(n) for n in (
        "ConfidentialityInformation", "CreationDateTime", "ReviewDateTime", "OriginatorID",
        "PrivacyMark", "AlternativeConfidentialityLabel")]
    info = root[0]
    assert info.findtext(q("PolicyIdentifier")) == "KOR"
    assert info.findtext(q("Classification")) == "군사II급비밀"
    cats = info.findall(q("Category"))
    assert [(c.get("TagName"), c.get("Type")) for c in cats] == [
        (REL_TO, "PERMISSIVE"), (CAVEAT, "RESTRICTIVE"), (COMPARTMENT, "RESTRICTIVE"),
        ("topic", "INFORMATIVE")]
    assert [v.text for v in cats[0]] == ["JPN", "USA"]  # values sorted
    assert root.findtext(q("CreationDateTime")) == "2019-10-31T08:00:00Z"
    origin = root.find(q("OriginatorID"))
    assert origin is not None and origin.get("IDType") == "PartyCode"


def test_indented_input_is_read() -> None:
    """Hand-written or pretty-printed labels: whitespace between elements is ignored."""
    xml = label_to_xml(RICH, [ALT]).replace(b"><", b">\n  <")
    assert label_from_xml(xml, PARTIES) == (RICH, (ALT,))


def test_output_is_deterministic() -> None:
    again = replace(label("군사II급비밀", rel_to={"JPN", "USA"}, caveats={"ORCON"},
                          compartments={"SI", "TK"},
                          informative={"topic": frozenset({"a & <b>", "DPRK/missile"})},
                          review=RICH.review), privacy_mark=RICH.privacy_mark)
    assert again == RICH
    assert label_to_xml(again, [ALT]) == label_to_xml(RICH, [ALT])
    kst = RICH.created.astimezone(timezone(timedelta(hours=9)))
    assert label_to_xml(replace(RICH, created=kst)) == label_to_xml(RICH)
    assert bind(digest(DATA), RICH, KEY, "k") == bind(digest(DATA), RICH, KEY, "k")


CODES = st.sampled_from(["KOR", "USA", "JPN", "GBR", "AUS", "CAN", "NZL"])
XML_CHAR = st.one_of(st.characters(exclude_categories=("Cs", "Cc", "Cn")),
                     st.sampled_from("\t\n\r"))
TEXT = st.text(XML_CHAR, max_size=12)
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-5.5))])


@st.composite
def labels(draw: st.DrawFn, policy: str | None = None) -> Label:
    party = PARTIES[policy or draw(st.sampled_from(["KOR", "USA", "JPN"]))]
    level = draw(st.sampled_from(party.scheme.levels))
    classified = level.rank > 0
    foreign = draw(st.sampled_from(["none", REL_TO, EYES])) if classified else "none"
    caveats = draw(st.frozensets(st.sampled_from(["ORCON", "PROPIN"]) | TEXT, max_size=3))
    if foreign == "none" and draw(st.booleans()):
        caveats |= {NOFORN}
    created = draw(st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=ZONES))
    review = draw(st.none() | st.timedeltas(timedelta(0), timedelta(days=3650)))
    informative = draw(st.dictionaries(
        TEXT.filter(lambda t: t not in (REL_TO, EYES, CAVEAT, COMPARTMENT)),
        st.frozensets(TEXT, max_size=3), max_size=2))
    lb = make_label(
        party.scheme, draw(st.sampled_from([level.name, level.mark])),
        originator=draw(CODES), created=created,
        rel_to=draw(st.frozensets(CODES, min_size=1)) if foreign == REL_TO else None,
        eyes_only=draw(st.frozensets(CODES, min_size=1)) if foreign == EYES else None,
        caveats=caveats if classified else frozenset(),
        compartments=draw(st.frozensets(TEXT, max_size=3)),
        informative=informative, review=None if review is None else created + review)
    return replace(lb, privacy_mark=draw(st.none() | TEXT))


@settings(max_examples=100)
@given(labels(), st.lists(labels(), max_size=2))
def test_round_trip_property(lb: Label, alts: list[Label]) -> None:
    xml = label_to_xml(lb, alts)
    assert label_from_xml(xml, PARTIES) == (lb, tuple(alts))
    assert label_to_xml(*label_from_xml(xml, PARTIES)) == xml


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("xml", [
    b'<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
    b"<ConfidentialityLabel>&b;</ConfidentialityLabel>",
    b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    b'<!DOCTYPE ConfidentialityLabel SYSTEM "http://example.invalid/4774.dtd">'
    b"<ConfidentialityLabel/>",
], ids=["billion-laughs", "external-entity", "external-dtd"])
def test_dtds_and_entities_are_refused(xml: bytes) -> None:
    with pytest.raises(NatoLabelError, match="forbidden XML construct"):
        label_from_xml(xml, PARTIES)


def test_undeclared_entity_reference_is_refused() -> None:
    xml = label_to_xml(RICH).replace(b"ORCON", b"&secret;")
    with pytest.raises(NatoLabelError, match="not well-formed XML: undefined entity"):
        label_from_xml(xml, PARTIES)


@pytest.mark.parametrize("xml", [
    label_to_xml(RICH).replace(NS.encode(), b"urn:nato:stanag:4774:other"),
    label_to_xml(RICH).replace(f' xmlns="{NS}"'.encode(), b""),
], ids=["other-namespace", "no-namespace"])
def test_namespace_is_required(xml: bytes) -> None:
    with pytest.raises(NatoLabelError, match=r"root element .* not <ConfidentialityLabel xmlns"):
        label_from_xml(xml, PARTIES)


def test_unknown_classification_names_level_and_element() -> None:
    xml = label_to_xml(RICH).replace("군사II급비밀".encode(), b"ULTRA")
    with pytest.raises(NatoLabelError) as exc:
        label_from_xml(xml, PARTIES)
    assert str(exc.value).startswith(
        "ConfidentialityInformation/Classification: 'ULTRA' is not a level of KOR's scheme")


def test_oversize_is_refused() -> None:
    big = replace(label("대외비"), privacy_mark="x" * MAX_LABEL)
    with pytest.raises(NatoLabelError, match="larger than the 65536-byte limit"):
        label_from_xml(label_to_xml(big), PARTIES)


EYES_CAT = b'<Category TagName="EYES ONLY" Type="PERMISSIVE"><GenericValue>USA</GenericValue>' \
           b"</Category>"


@pytest.mark.parametrize(("old", "new", "message"), [
    (b">KOR</PolicyIdentifier>", b">XYZ</PolicyIdentifier>",
     "ConfidentialityInformation/PolicyIdentifier: unknown policy 'XYZ'"),
    (b"</ConfidentialityInformation>", EYES_CAT + b"</ConfidentialityInformation>",
     "ConfidentialityLabel: REL TO and EYES ONLY are mutually exclusive"),
    (b"2019-10-31T08:00:00Z</Creation", b"31/10/2019</Creation",
     "CreationDateTime: '31/10/2019' is not an ISO 8601 date-time"),
    (b"2019-10-31T08:00:00Z</Creation", b"2019-10-31T08:00:00</Creation",
     "CreationDateTime: .* needs a time zone"),
    (b"<ReviewDateTime>2029", b"<ReviewDateTime>2009", "review date is before the creation"),
    (b'Type="RESTRICTIVE"', b'Type="SECRET"',
     r"Category\[2\]/@Type: 'SECRET' is not one of"),
    (b'TagName="CAVEAT" Type="RESTRICTIVE"', b'TagName="CAVEAT" Type="INFORMATIVE"',
     r"Category\[2\]/@Type: CAVEAT must be RESTRICTIVE"),
    (b"<GenericValue>USA<", b"<GenericValue>usa<",
     r"Category\[1\]: REL TO needs ISO 3166 alpha-3 party codes \(got 'usa'\)"),
    (b"<GenericValue>", b"<IntegerValue>1</IntegerValue><GenericValue>",
     r"Category\[1\]: unexpected element <\{urn:nato:stanag:4774:[^}]*\}IntegerValue>"),
    (b"<Classification>", b"<Classification>II</Classification><Classification>",
     "ConfidentialityInformation/Classification: may appear at most once"),
    (b'IDType="PartyCode"', b'IDType="URI"', "OriginatorID/@IDType: must be 'PartyCode'"),
    (b">KOR</OriginatorID>", b">Korea</OriginatorID>", "originator 'Korea' is not"),
    (b"<CreationDateTime>2019-10-31T08:00:00Z</CreationDateTime>", b"",
     r"^CreationDateTime: is required \(found 0\)"),
    (b"</PrivacyMark>", b"</PrivacyMark>stray",
     "ConfidentialityLabel: unexpected text after <PrivacyMark>"),
    (b">SECRET</Classification>", b">TOP SECRETS</Classification>",
     r"^AlternativeConfidentialityLabel\[1\]/ConfidentialityInformation/Classification: "
     "'TOP SECRETS' is not a level of USA's scheme"),
], ids=["unknown-policy", "rel-to-and-eyes", "bad-date", "naive-date", "review-before-created",
        "bad-type", "caveat-type", "rel-to-codes", "unsupported-value", "duplicate-element",
        "id-type", "originator", "missing-element", "stray-text", "alternative"])
def test_bad_labels_are_refused_naming_the_element(old: bytes, new: bytes, message: str) -> None:
    xml = label_to_xml(RICH, [ALT])
    assert old in xml
    with pytest.raises(NatoLabelError, match=message):
        label_from_xml(xml.replace(old, new, 1), PARTIES)


@pytest.mark.parametrize(("lb", "message"), [
    (replace(RICH, privacy_mark="bell\x07"), "PrivacyMark: character U\\+0007"),
    (replace(RICH, created=datetime(2019, 10, 31)), "CreationDateTime: date-time has no time"),
])
def test_unrepresentable_labels_are_not_exported(lb: Label, message: str) -> None:
    with pytest.raises(NatoLabelError, match=message):
        label_to_xml(lb)


# --- binding -----------------------------------------------------------------------------


def test_binding_verifies_and_has_the_documented_shape() -> None:
    binding = bind(digest(DATA), RICH, KEY, "kor-node-1", [ALT])
    assert verify_binding(binding, digest(DATA), KEYS, PARTIES) == (RICH, (ALT,))
    root = SafeET.fromstring(binding)
    assert [c.tag for c in root] == [q(n, BINDING_NS)
                                     for n in ("DataReference", "Metadata", "Signature")]
    assert root.findtext(f"{q('DataReference', BINDING_NS)}/{q('DigestMethod', BINDING_NS)}") \
        == "SHA-256"
    meta = root.find(q("Metadata", BINDING_NS))
    assert meta is not None and meta.get("Encoding") == "base64"
    assert base64.b64decode(meta.text or "") == label_to_xml(RICH, [ALT])
    sig = root.find(q("Signature", BINDING_NS))
    assert sig is not None and sig.get("KeyId") == "kor-node-1"
    assert len(base64.b64decode(sig.text or "")) == 64


def test_every_single_byte_alteration_is_rejected() -> None:
    binding = bind(digest(DATA), RICH, KEY, "kor-node-1", [ALT])
    n = rejected = same = 0
    for i in range(len(binding)):
        for flip in (0x01, 0x20, 0x80):
            tampered = binding[:i] + bytes([binding[i] ^ flip]) + binding[i + 1:]
            n += 1
            try:
                got = verify_binding(tampered, digest(DATA), KEYS, PARTIES)
            except BindingError:
                rejected += 1
                continue
            assert got == (RICH, (ALT,)), f"byte {i} ^ {flip:#x} changed the label"
            same += 1
    print(f"tampered bindings rejected {rejected} of {n} "
          f"({same} still verified, each with the identical label)")
    assert rejected + same == n
    assert rejected == n  # no unsigned slack: bind writes no XML declaration


def test_binding_with_an_xml_declaration_still_verifies() -> None:
    binding = b'<?xml version="1.0" encoding="UTF-8"?>\n' + bind(digest(DATA), RICH, KEY,
                                                                  "kor-node-1")
    assert verify_binding(binding, digest(DATA), KEYS, PARTIES) == (RICH, ())


def test_changed_data_is_rejected() -> None:
    binding = bind(digest(DATA), RICH, KEY, "kor-node-1")
    with pytest.raises(BindingError, match="digest does not match the data"):
        verify_binding(binding, digest(DATA + b"."), KEYS, PARTIES)


def test_unknown_key_id_is_rejected() -> None:
    binding = bind(digest(DATA), RICH, KEY, "kor-node-2")
    with pytest.raises(BindingError, match="unknown key id 'kor-node-2'"):
        verify_binding(binding, digest(DATA), KEYS, PARTIES)


def test_another_keys_signature_is_rejected() -> None:
    binding = bind(digest(DATA), RICH, OTHER_KEY, "kor-node-1")
    with pytest.raises(BindingError, match="Signature: does not verify under key 'kor-node-1'"):
        verify_binding(binding, digest(DATA), KEYS, PARTIES)


def test_signature_cannot_be_moved_to_another_key_id() -> None:
    binding = bind(digest(DATA), RICH, KEY, "kor-node-1")
    keys = {**KEYS, "kor-node-9": KEY.public_key()}
    moved = binding.replace(b'KeyId="kor-node-1"', b'KeyId="kor-node-9"')
    with pytest.raises(BindingError, match="does not verify"):
        verify_binding(moved, digest(DATA), keys, PARTIES)


def test_signed_label_that_does_not_parse_is_rejected() -> None:
    binding = bind(digest(DATA), RICH, KEY, "kor-node-1", [ALT])
    without_usa = {k: v for k, v in PARTIES.items() if k != "USA"}
    with pytest.raises(BindingError, match=r"signed label\): AlternativeConfidentialityLabel"
                                           r"\[1\]/ConfidentialityInformation/PolicyIdentifier"):
        verify_binding(binding, digest(DATA), KEYS, without_usa)


@pytest.mark.parametrize(("make", "message"), [
    (lambda b: b[:-5], "not well-formed XML"),
    (lambda b: b.replace(BINDING_NS.encode(), NS.encode()), "root element"),
    (lambda b: b.replace(b"<Signature", b'<Signature Alg="RSA"'), "unexpected attribute 'Alg'"),
    (lambda b: b.replace(b">SHA-256<", b">SHA-1<"), "DigestMethod: 'SHA-1' is not SHA-256"),
    (lambda b: b.replace(b"==</Metadata>", b"==\n</Metadata>"), "Metadata: not base64"),
    (lambda b: b.replace(b'<Metadata Encoding="base64">', b'<Metadata Encoding="hex">'),
     "Encoding: must be 'base64'"),
    (lambda b: b.replace(b"</Signature>", b"</Signature><Signature/>"),
     "Signature: may appear at most once"),
    (lambda b: b + b" " * MAX_BINDING, "larger than"),
    (lambda b: b'<!DOCTYPE x [<!ENTITY e "x">]>' + b, "forbidden"),
    (lambda b: b'<?xml version="1.0" encoding="TTF-8"?>' + b, "unknown encoding"),
])
def test_malformed_bindings_are_rejected(make: object, message: str) -> None:
    binding = bind(digest(DATA), RICH, KEY, "kor-node-1", [ALT])
    with pytest.raises(BindingError, match=message):
        verify_binding(make(binding), digest(DATA), KEYS, PARTIES)  # type: ignore[operator]


def test_non_canonical_base64_is_rejected() -> None:
    binding = bind(digest(DATA), RICH, KEY, "kor-node-1")
    sig = binding.split(b'KeyId="kor-node-1">')[1].split(b"<")[0]
    raw = base64.b64decode(sig)
    # The last character before "==" carries 4 spare bits: setting one gives another
    # encoding of the same 64 bytes.
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(sig[-3:-2])
    twin = sig[:-3] + alphabet[last | 1:(last | 1) + 1] + b"=="
    assert twin != sig and base64.b64decode(twin) == raw
    with pytest.raises(BindingError, match="Signature: not canonical base64"):
        verify_binding(binding.replace(sig, twin), digest(DATA), KEYS, PARTIES)


def test_bind_wants_a_sha256_digest() -> None:
    with pytest.raises(NatoLabelError, match="not a SHA-256"):
        bind(DATA, RICH, KEY, "kor-node-1")


def test_category_order_is_kept() -> None:
    lb = replace(label("군사II급비밀"), categories=(
        Category("z-note", CategoryType.INFORMATIVE, frozenset({"1"})),
        Category(REL_TO, CategoryType.PERMISSIVE, frozenset({"USA"}))))
    assert label_from_xml(label_to_xml(lb), PARTIES)[0].categories == lb.categories


def test_alternatives_follow_the_agreements_in_force_on_the_day() -> None:
    """The same label in each partner's scheme, by the equivalence table of an agreement in
    force that day (as a receiver would re-mark it); none from agreements not in force."""
    from liaison.services.context import Deps
    from liaison.services.nato_labels import alternatives

    from factories import seed_agreements

    lb = label("군사II급비밀", rel_to=["JPN", "USA"])
    agreements = list(seed_agreements())

    def on(day: datetime) -> tuple[Label, ...]:
        deps = Deps(uow=lambda: None, party="KOR",  # type: ignore[arg-type,return-value]
                    clock=lambda: day)
        return alternatives(lb, agreements, PARTIES, deps)

    in_force = {a.policy: a.classification for a in on(datetime(2020, 1, 1, tzinfo=UTC))}
    assert in_force["JPN"] == "極秘" and "USA" in in_force
    assert "JPN" not in {a.policy for a in on(datetime(2014, 6, 1, tzinfo=UTC))}
    alts = on(datetime(2020, 1, 1, tzinfo=UTC))
    assert label_from_xml(label_to_xml(lb, alts), PARTIES) == (lb, alts)
