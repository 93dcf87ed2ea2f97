"""Pieces every Liaison STIX 2.1 object shares: ids, times, the extensions that declare
Liaison's own properties, identities and label marking-definitions. Pure: no I/O.

See ``liaison.interop.stix`` for the mapping as a whole.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from liaison.domain.codec import attachment_to, label_to
from liaison.domain.items import Attachment
from liaison.domain.labels import Label, LabelError, Party, validate_label
from liaison.domain.labels import _marking as _capco_marking

StixObject = dict[str, Any]
SchemeBanner = Callable[[Label], str]

SPEC_VERSION: Final = "2.1"
NAMESPACE: Final = uuid.UUID("7affe4f4-8837-4c95-b090-314a209f50be")
LABEL_EXTENSION_ID: Final = "extension-definition--b4f2be16-be9f-4f71-bcfe-c82059a2c82c"
PROPERTIES_EXTENSION_ID: Final = "extension-definition--841bcabd-be3d-4fb0-a6b3-e9bf204c09f8"
PROJECT_IDENTITY_ID: Final = "identity--4ce7a773-c4ac-465a-839c-d4ab69c27b69"
PROPERTY_PREFIX: Final = "x_liaison_"
MAX_OBJECTS: Final = 10_000
# Creation time of the fixed objects (project identity, extension definitions, parties).
EPOCH: Final = "2024-01-01T00:00:00.000Z"

# The TLP 1.0 marking-definitions of STIX 2.1 (section 7.2.1.4), often referenced without
# being included in a bundle.
TLP_MARKINGS: Final = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "TLP:WHITE",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "TLP:GREEN",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "TLP:AMBER",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "TLP:RED",
}
TLP_REFUSAL: Final = ("TLP is not a classification label; mark each note with a Liaison "
                      "label marking (TLP may travel beside it, as informative)")

ID_PATTERN: Final = re.compile(r"^([a-z0-9][a-z0-9-]*[a-z0-9])--([0-9a-fA-F-]{36})$")


class StixError(ValueError):
    """A STIX object Liaison cannot produce or accept; the message names the object and
    what is missing or wrong."""


def stix_id(object_type: str, key: str) -> str:
    """The deterministic key id of the ``object_type`` object known by ``key``: a UUIDv5
    in ``NAMESPACE``. The node serves SDOs, SROs and marking-definitions under the UUIDv4
    that ``stix_ids.with_ids`` maps each key id to."""
    return f"{object_type}--{uuid.uuid5(NAMESPACE, f'{object_type}/{key}')}"


def utc(dt: datetime, what: str) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise StixError(f"{what}: date-time {dt.isoformat()} has no time zone")
    return dt.astimezone(UTC)


def stamp(dt: datetime, what: str) -> str:
    """``created``/``modified`` form: UTC, millisecond precision, "Z"."""
    return utc(dt, what).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def instant(dt: datetime, what: str) -> str:
    """A data time: milliseconds, or microseconds when it has them (exact round trip)."""
    at = utc(dt, what)
    spec = "milliseconds" if at.microsecond % 1000 == 0 else "microseconds"
    return at.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def party_of(parties: Mapping[str, Party], code: str, what: str) -> Party:
    party = parties.get(code)
    if party is None:
        raise StixError(f"{what}: unknown party {code!r} (known: {', '.join(sorted(parties))})")
    return party


def base(object_type: str, object_id: str, created: str, modified: str | None = None,
         ) -> StixObject:
    return {"type": object_type, "spec_version": SPEC_VERSION, "id": object_id,
            "created": created, "modified": modified or created}


def declared(obj: StixObject) -> StixObject:
    """``obj`` with its ``x_liaison_*`` properties declared: the Liaison properties
    extension (``toplevel-property-extension``) listed in its ``extensions``."""
    if any(name.startswith(PROPERTY_PREFIX) for name in obj):
        extensions = dict(obj.get("extensions", {}))
        extensions[PROPERTIES_EXTENSION_ID] = {
            "extension_type": "toplevel-property-extension"}
        obj["extensions"] = extensions
    return obj


def project_identity() -> StixObject:
    """The identity that defines Liaison's STIX extensions."""
    return {**base("identity", PROJECT_IDENTITY_ID, EPOCH), "name": "Liaison",
            "identity_class": "system",
            "description": "Liaison: classified information sharing under bilateral "
                           "security agreements; author of the Liaison STIX extensions."}


def extension_definition() -> StixObject:
    """The extension-definition of the label carried by Liaison marking-definitions."""
    return {
        **base("extension-definition", LABEL_EXTENSION_ID, EPOCH),
        "created_by_ref": PROJECT_IDENTITY_ID,
        "name": "Liaison classification label",
        "description": "A STANAG 4774-style confidentiality label on a marking-definition: "
                       "'label' is the label (policy, classification, originator, created, "
                       "rel_to, eyes_only, caveats, compartments, informative, review); "
                       "'banner' is its human marking.",
        "schema": "urn:liaison:stix:extension:label:1.0.0",
        "version": "1.0.0",
        "extension_types": ["property-extension"],
    }


def properties_extension_definition() -> StixObject:
    """The extension-definition of the ``x_liaison_*`` top-level properties."""
    return {
        **base("extension-definition", PROPERTIES_EXTENSION_ID, EPOCH),
        "created_by_ref": PROJECT_IDENTITY_ID,
        "name": "Liaison properties",
        "description": "Top-level properties of Liaison objects. identity: x_liaison_party "
                       "(alpha-3 code). report: x_liaison_item_id, x_liaison_discipline, "
                       "x_liaison_topic, x_liaison_grade (Admiralty), x_liaison_observed_at; "
                       "a launch event's x_liaison_launch. note: x_liaison_portion_id, "
                       "x_liaison_portion_kind, x_liaison_attachment. location: "
                       "x_liaison_area (exact shape of an area), x_liaison_object (one "
                       "object of a launch event), x_liaison_impact.",
        "schema": "urn:liaison:stix:extension:properties:1.0.0",
        "version": "1.0.0",
        "extension_types": ["toplevel-property-extension"],
        "extension_properties": [
            "x_liaison_party", "x_liaison_item_id", "x_liaison_discipline",
            "x_liaison_topic", "x_liaison_grade", "x_liaison_observed_at",
            "x_liaison_launch", "x_liaison_portion_id", "x_liaison_portion_kind",
            "x_liaison_attachment", "x_liaison_area", "x_liaison_object",
            "x_liaison_impact"],
    }


def party_identity(party: Party) -> StixObject:
    return declared({**base("identity", stix_id("identity", f"party/{party.code}"), EPOCH),
                     "name": party.name, "identity_class": "organization",
                     "x_liaison_party": party.code})


def label_data(label: Label) -> dict[str, Any]:
    """``label_to(label)`` with UTC date-times and no null or empty values."""
    data = label_to(label)
    data["created"] = utc(label.created, "label created").isoformat()
    if label.review is not None:
        data["review"] = utc(label.review, "label review").isoformat()
    return {k: v for k, v in data.items() if v is not None and v != {}}


def attachment_data(attachment: Attachment) -> dict[str, Any]:
    """``codec.attachment_to`` without the node-local ``address`` and null values."""
    data = attachment_to(attachment)
    return {k: v for k, v in data.items() if k != "address" and v is not None}


def default_banner(label: Label, parties: Mapping[str, Party]) -> str:
    """The label's full CAPCO-style marking in its own scheme, e.g.
    ``SECRET//REL TO USA, KOR``."""
    return _capco_marking(label, party_of(parties, label.policy, "label").scheme, short=False)


def marking_definition(label: Label, parties: Mapping[str, Party],
                       scheme_banner: SchemeBanner | None = None) -> StixObject:
    """The marking-definition that carries ``label`` (see ``liaison.interop.stix``)."""
    party = party_of(parties, label.policy, "label policy")
    try:
        validate_label(label, party.scheme)
    except LabelError as exc:
        raise StixError(f"label {label.classification!r}: {exc}") from exc
    data = label_data(label)
    name = scheme_banner(label) if scheme_banner else default_banner(label, parties)
    key = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return {
        "type": "marking-definition",
        "spec_version": SPEC_VERSION,
        "id": stix_id("marking-definition", f"label/{key}"),
        "created": stamp(label.created, "label created"),
        "created_by_ref": party_identity(party)["id"],
        "name": name,
        "definition_type": "statement",
        "definition": {"statement": name},
        "extensions": {LABEL_EXTENSION_ID: {
            "extension_type": "property-extension", "label": data, "banner": name}},
    }


class Objects:
    """Objects in first-added order, without duplicates."""

    def __init__(self) -> None:
        self._by_id: dict[str, StixObject] = {}

    def add(self, obj: StixObject) -> str:
        self._by_id.setdefault(obj["id"], obj)
        return str(obj["id"])

    def marking(self, label: Label, parties: Mapping[str, Party],
                scheme_banner: SchemeBanner | None) -> str:
        md = marking_definition(label, parties, scheme_banner)
        self.add(party_identity(parties[label.policy]))
        return self.add(md)

    def get(self, object_id: str) -> StixObject:
        return self._by_id[object_id]

    def list(self) -> list[StixObject]:
        return list(self._by_id.values())


def header() -> Objects:
    """The objects every export starts with: the project identity and both extension
    definitions."""
    objs = Objects()
    for obj in (project_identity(), extension_definition(),
                properties_extension_definition()):
        objs.add(obj)
    return objs


def bundle(objects: Iterable[Mapping[str, Any]]) -> StixObject:
    """A STIX 2.1 bundle (random id) of ``objects``; an object repeated with the same id
    and content (an identity shared by two items) is kept once."""
    seen: dict[str, list[Mapping[str, Any]]] = {}
    out: list[StixObject] = []
    for obj in objects:
        same = seen.setdefault(str(obj.get("id")), [])
        if any(obj == other for other in same):
            continue
        same.append(obj)
        out.append(dict(obj))
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": out}
