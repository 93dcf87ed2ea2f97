"""STANAG 4778 bindings of a label (and its alternatives) to data, as ADatP-4778 shapes
them, signed and checked with XML Signature by ``signxml``. Pure: keys and certificates
come in as objects and bytes.

A binding (``bind``; ``metadata_xml`` is the same without the signature)::

    <mb:BindingInformation xmlns:mb=BINDING_NS>
      <ds:Signature>..</ds:Signature>                      (enveloped, first)
      <mb:MetadataBindingContainer><mb:MetadataBinding>
        <mb:Metadata><slab:originatorConfidentialityLabel ..></mb:Metadata>
        <mb:Metadata><slab:alternativeConfidentialityLabel ..></mb:Metadata>*
        <mb:DataReference URI="ni:///sha-256;.."/>
      </mb:MetadataBinding></mb:MetadataBindingContainer>
    </mb:BindingInformation>

- The data is named by its hash (RFC 6920 ``ni`` URI of its SHA-256): the portion's text,
  or its file. The signature covers the whole ``BindingInformation`` (``URI=""``, enveloped
  signature and exclusive C14N), hence every label and the data's hash.
- Algorithms (ADatP-4778.2 Annexes A and B): ECDSA-SHA256 with the node's P-256 key, digest
  SHA-384, exclusive C14N 1.0, ``KeyInfo/X509Data`` with the node's certificate: the
  certificate its card publishes and partners pin (the federation TLS certificate; TLS 1.3
  signs under its own context string, so the two uses cannot stand in for each other).
- Checking (``verify_binding``) trusts only the signer's pinned certificate, never the one
  in the signature; then reads the labels from what ``signxml`` says was signed, never from
  the document as sent, so nothing outside the signature can be slipped in.
- A binding in Liaison's old form (``nato_label_legacy``, Ed25519 over our own bytes) is
  still verified against the signer's published signing keys and marked as legacy.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.algorithms import SignatureConstructionMethod as methods
from signxml.exceptions import SignXMLException
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from liaison.domain.labels import Label, Party
from liaison.interop import nato_label_legacy as legacy
from liaison.interop.nato_label import ReadLabels, metadata_elements, read_binding_labels
from liaison.interop.nato_xml import (
    BINDING_NS,
    DS_NS,
    MAX_BINDING,
    BindingError,
    NatoLabelError,
    parse,
)

SIGNATURE = SignatureMethod.ECDSA_SHA256
DIGEST = DigestAlgorithm.SHA384
C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0
_EXPECT = SignatureConfiguration(
    require_x509=True, location="./", expect_references=1,
    signature_methods=frozenset({SignatureMethod.ECDSA_SHA256, SignatureMethod.ECDSA_SHA384,
                                 SignatureMethod.ECDSA_SHA512}),
    digest_algorithms=frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384,
                                 DigestAlgorithm.SHA512}))


def _parser() -> Any:
    """lxml that never loads a DTD, resolves an entity or touches the network (the bytes
    have passed ``defusedxml`` already; this holds for what ``signxml`` parses too)."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_comments=False)


def ni_uri(data_digest: bytes) -> str:
    """RFC 6920 name of the data whose SHA-256 is ``data_digest``."""
    if len(data_digest) != 32:
        raise NatoLabelError(f"data digest is {len(data_digest)} bytes, not a SHA-256 (32)")
    return "ni:///sha-256;" + base64.urlsafe_b64encode(data_digest).decode().rstrip("=")


def metadata_xml(data_digest: bytes, label: Label, alternatives: Sequence[Label] = (),
                 placeholder: bool = False) -> bytes:
    """The label and its alternatives bound to the data, unsigned (4778 allows it)."""
    sig = f'<ds:Signature xmlns:ds="{DS_NS}" Id="placeholder"/>' if placeholder else ""
    metadata = "".join(f"<mb:Metadata>{m}</mb:Metadata>"
                       for m in metadata_elements(label, alternatives))
    return (f'<mb:BindingInformation xmlns:mb="{BINDING_NS}">{sig}'
            f"<mb:MetadataBindingContainer><mb:MetadataBinding>{metadata}"
            f'<mb:DataReference URI="{ni_uri(data_digest)}"/></mb:MetadataBinding>'
            "</mb:MetadataBindingContainer></mb:BindingInformation>").encode()


def bind(data_digest: bytes, label: Label, key: EllipticCurvePrivateKey, cert_pem: bytes,
         alternatives: Sequence[Label] = ()) -> bytes:
    """The binding, signed with ``key`` (whose certificate is ``cert_pem``)."""
    root = etree.fromstring(metadata_xml(data_digest, label, alternatives, placeholder=True),
                            _parser())
    signer = XMLSigner(method=methods.enveloped, signature_algorithm=SIGNATURE,
                       digest_algorithm=DIGEST, c14n_algorithm=C14N)
    signed = signer.sign(root, key=key, cert=cert_pem.decode())
    out: bytes = etree.tostring(signed, encoding="UTF-8", xml_declaration=False)
    return out


def _is_legacy(root: Any) -> bool:
    return any(child.tag == f"{{{BINDING_NS}}}Signature" for child in root)


def _signed_part(binding_xml: bytes, certs: Sequence[bytes]) -> bytes:
    """The part of ``binding_xml`` a pinned certificate's key signed, as bytes."""
    problems = []
    for pem in certs:
        try:
            cert = x509.load_pem_x509_certificate(pem)
            result = XMLVerifier().verify(binding_xml, x509_cert=cert, parser=_parser(),
                                          expect_config=_EXPECT)
        except (SignXMLException, ValueError, etree.LxmlError) as exc:
            problems.append(str(exc)[:200])
            continue
        signed = result.signed_xml  # type: ignore[union-attr]
        if signed is None or signed.tag != f"{{{BINDING_NS}}}BindingInformation":
            raise BindingError("Signature: it must sign the whole BindingInformation (URI=\"\")")
        data: bytes = etree.tostring(signed, encoding="UTF-8")
        return data
    raise BindingError("Signature: does not verify under the signer's certificate"
                       + (f" ({'; '.join(problems)})" if problems else " (none published)"))


def verify_binding(binding_xml: bytes, data_digest: bytes, certs: Sequence[bytes],
                   parties: Mapping[str, Party],
                   legacy_keys: Mapping[str, Ed25519PublicKey] | None = None) -> ReadLabels:
    """The bound labels, only when the XML Signature verifies under one of ``certs`` (the
    signer's pinned certificates, PEM), the signed binding names this data and every
    signed label is valid. An old-form binding is checked against ``legacy_keys``."""
    root = parse(binding_xml, MAX_BINDING, BindingError)
    if root.tag != f"{{{BINDING_NS}}}BindingInformation":
        raise BindingError(f"root element is <{root.tag}>, not <BindingInformation "
                           f'xmlns="{BINDING_NS}">')
    if _is_legacy(root):
        label, alternatives = legacy.verify_binding(binding_xml, data_digest,
                                                    legacy_keys or {}, parties)
        return ReadLabels(label, alternatives, legacy=True)
    first = root[0] if len(root) else None
    if first is None or first.tag != f"{{{DS_NS}}}Signature":
        raise BindingError("BindingInformation: its first element must be the ds:Signature")
    signed = parse(_signed_part(binding_xml, certs), MAX_BINDING, BindingError)
    try:
        read = read_binding_labels(signed, parties)
    except NatoLabelError as exc:
        raise BindingError(f"signed binding: {exc}") from exc
    if ni_uri(data_digest) not in read.data_uris:
        raise BindingError("MetadataBinding/DataReference: the binding names other data "
                           f"({', '.join(u[:80] for u in read.data_uris)}), not "
                           f"{ni_uri(data_digest)}")
    return read
