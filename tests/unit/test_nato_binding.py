"""ADatP-4778 bindings (liaison.interop.nato_binding): an XML Signature that signxml itself
verifies, refused when anything signed is altered, bound to other data, signed by another
key or wrapped around unsigned labels; old-form bindings verified and marked legacy."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from defusedxml import ElementTree as SafeET  # type: ignore[import-untyped]
from lxml import etree  # type: ignore[import-untyped]
from signxml.verifier import SignatureConfiguration, XMLVerifier
from test_nato_label_legacy import ALT, KEY, KEYS, RICH

from liaison.crypto.tls import self_signed
from liaison.interop import nato_label_legacy
from liaison.interop.nato_binding import bind, metadata_xml, ni_uri, verify_binding
from liaison.interop.nato_label import BINDING_NS, BindingError, NatoLabelError, ReadLabels
from liaison.interop.nato_xml import DS_NS

from factories import PARTIES, label

DATA = b"DPRK/missile report, portion 1"
DIGEST = hashlib.sha256(DATA).digest()


def node_key(party: str) -> tuple[EllipticCurvePrivateKey, bytes]:
    key_pem, cert = self_signed(party, [], datetime.now(UTC))
    key = load_pem_private_key(key_pem, None)
    assert isinstance(key, EllipticCurvePrivateKey)
    return key, cert


KOR_KEY, KOR_CERT = node_key("KOR")
JPN_KEY, JPN_CERT = node_key("JPN")
BINDING = bind(DIGEST, RICH, KOR_KEY, KOR_CERT, [ALT])


def test_binding_verifies_with_signxml_itself() -> None:
    """Any XML Signature verifier takes it: signxml, given only the KOR certificate."""
    result = XMLVerifier().verify(BINDING, x509_cert=KOR_CERT.decode(),
                                  expect_config=SignatureConfiguration(expect_references=1))
    assert result.signed_xml.tag == f"{{{BINDING_NS}}}BindingInformation"  # type: ignore[union-attr]
    assert verify_binding(BINDING, DIGEST, [KOR_CERT], PARTIES) == ReadLabels(
        RICH, (ALT,), data_uris=(ni_uri(DIGEST),))


def test_binding_has_the_4778_structure_and_algorithms() -> None:
    root = SafeET.fromstring(BINDING)
    mb, ds = f"{{{BINDING_NS}}}", f"{{{DS_NS}}}"
    assert root.tag == f"{mb}BindingInformation"
    assert [c.tag for c in root] == [f"{ds}Signature", f"{mb}MetadataBindingContainer"]
    binding = root.find(f"{mb}MetadataBindingContainer/{mb}MetadataBinding")
    assert binding is not None
    assert [c.tag for c in binding] == [f"{mb}Metadata", f"{mb}Metadata", f"{mb}DataReference"]
    ref = binding.find(f"{mb}DataReference")
    assert ref is not None and ref.get("URI") == ni_uri(DIGEST)
    info = root.find(f"{ds}Signature/{ds}SignedInfo")
    assert info is not None
    algorithms = [e.get("Algorithm") for e in info.iter() if e.get("Algorithm")]
    assert algorithms == [
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/04/xmldsig-more#sha384"]
    assert root.find(f"{ds}Signature/{ds}KeyInfo/{ds}X509Data/{ds}X509Certificate") is not None


def test_ni_uri_is_rfc_6920() -> None:
    assert ni_uri(hashlib.sha256(b"Hello World!").digest()) == \
        "ni:///sha-256;f4OxZX_x_FO5LcGBSKHWXfwtSx-j1ncoSt3SABJtkGk"
    with pytest.raises(NatoLabelError, match="not a SHA-256"):
        ni_uri(b"short")


def test_every_single_byte_alteration_is_rejected_or_harmless() -> None:
    """Each byte of the binding changed in turn: refused, or (a byte of the unsigned
    KeyInfo, or one that leaves the XML meaning the same) read with the very same labels;
    never other labels or other data."""
    expected = verify_binding(BINDING, DIGEST, [KOR_CERT], PARTIES)
    rejected = same = other = 0
    for i in range(len(BINDING)):
        altered = BINDING[:i] + bytes([BINDING[i] ^ 0x01]) + BINDING[i + 1:]
        try:
            read = verify_binding(altered, DIGEST, [KOR_CERT], PARTIES)
        except NatoLabelError:
            rejected += 1
            continue
        if read == expected:
            same += 1
        else:
            other += 1
    print(f"4778 bindings: single-byte alterations refused or harmless {rejected + same} of "
          f"{len(BINDING)} (refused {rejected}, read with the identical labels {same}), "
          f"read with other labels {other}")
    assert other == 0
    assert rejected > len(BINDING) * 0.7


@pytest.mark.parametrize(("change", "message"), [
    (lambda b: b.replace("군사II급비밀".encode(), "군사III급비밀".encode(), 1), "does not verify"),
    (lambda b: b.replace(b"ORCON", b"ORCOM"), "does not verify"),
    (lambda b: b.replace(b"<mb:Metadata><slab:alternative", b"<mb:Metadata><slab:x/></mb:Metadata>"
                         b"<mb:Metadata><slab:alternative"), "not well-formed|does not verify"),
], ids=["lowered-level", "changed-caveat", "added-metadata"])
def test_tampered_binding_is_refused(change: object, message: str) -> None:
    tampered = change(BINDING)  # type: ignore[operator]
    assert tampered != BINDING
    with pytest.raises(BindingError, match=message):
        verify_binding(tampered, DIGEST, [KOR_CERT], PARTIES)


def test_other_data_another_signer_and_no_signature_are_refused() -> None:
    with pytest.raises(BindingError, match="names other data"):
        verify_binding(BINDING, hashlib.sha256(b"other").digest(), [KOR_CERT], PARTIES)
    with pytest.raises(BindingError, match="does not verify"):
        verify_binding(BINDING, DIGEST, [JPN_CERT], PARTIES)
    with pytest.raises(BindingError, match="none published"):
        verify_binding(BINDING, DIGEST, [], PARTIES)
    with pytest.raises(BindingError, match="first element must be the ds:Signature"):
        verify_binding(metadata_xml(DIGEST, RICH), DIGEST, [KOR_CERT], PARTIES)
    forged = bind(DIGEST, label("평문"), JPN_KEY, JPN_CERT)
    with pytest.raises(BindingError, match="does not verify"):
        verify_binding(forged, DIGEST, [KOR_CERT], PARTIES)


def test_unsigned_labels_wrapped_around_a_signature_are_refused() -> None:
    """Signature wrapping: a signed binding moved inside an outer one whose labels are not
    signed. Only what the signature covers is read, and it must be the whole binding."""
    inner = etree.fromstring(BINDING)
    outer = etree.fromstring(metadata_xml(DIGEST, label("평문")))
    outer.insert(0, inner[0])  # the valid signature, first
    wrapped = etree.tostring(outer)
    with pytest.raises(BindingError):
        verify_binding(wrapped, DIGEST, [KOR_CERT], PARTIES)


def test_dtds_are_refused_before_the_signature_is_looked_at() -> None:
    evil = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + BINDING
    with pytest.raises(BindingError, match="forbidden XML construct"):
        verify_binding(evil, DIGEST, [KOR_CERT], PARTIES)


def test_an_old_form_binding_verifies_and_is_marked_legacy() -> None:
    old = nato_label_legacy.bind(DIGEST, RICH, KEY, "kor-node-1", [ALT])
    assert verify_binding(old, DIGEST, [KOR_CERT], PARTIES, KEYS) == ReadLabels(
        RICH, (ALT,), legacy=True)
    signed = old.split(b'<Metadata Encoding="base64">')[1].split(b"<")[0]
    lowered = base64.b64encode(base64.b64decode(signed).replace(
        "군사II급비밀".encode(), "군사III급비밀".encode())).decode().encode()
    with pytest.raises(BindingError, match="does not verify"):
        verify_binding(old.replace(signed, lowered), DIGEST, [KOR_CERT], PARTIES, KEYS)
