"""Items back from STIX 2.1 bundles (see ``liaison.interop.stix`` for what is read,
the defaults and what is refused). Pure: no I/O."""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from liaison.domain.codec import item_from, label_from
from liaison.domain.decoding import CodecError
from liaison.domain.items import REPORT_TIMES
from liaison.domain.labels import Label, Party
from liaison.interop.stix_common import (
    ID_PATTERN,
    LABEL_EXTENSION_ID,
    MAX_OBJECTS,
    SPEC_VERSION,
    TLP_MARKINGS,
    TLP_REFUSAL,
    StixError,
    StixObject,
)

TLP_CATEGORY: Final = "TLP"  # the informative category a TLP marking is kept in
# Objects the importer reads: they must say spec_version 2.1.
_READ_TYPES: Final = frozenset({"report", "note", "location", "marking-definition",
                                "identity"})


def _kind(obj: Mapping[str, Any]) -> str:
    return f"{obj['type']} {obj['id']}"


def _check_object(obj: Any, where: str) -> StixObject:
    if not isinstance(obj, dict):
        raise StixError(f"{where}: a STIX object is a JSON object, got {type(obj).__name__}")
    object_type, object_id = obj.get("type"), obj.get("id")
    if not isinstance(object_type, str) or not object_type:
        raise StixError(f"{where}: has no 'type'")
    if not isinstance(object_id, str):
        raise StixError(f"{where} ({object_type}): has no 'id'")
    match = ID_PATTERN.match(object_id)
    if match is None or match.group(1) != object_type or not _is_uuid(match.group(2)):
        raise StixError(f"{where}: id {object_id!r} is not '{object_type}--<uuid>'")
    version = obj.get("spec_version")
    if version is None and object_type in _READ_TYPES:
        raise StixError(f"{object_id}: has no spec_version (expected {SPEC_VERSION!r})")
    if version is not None and version != SPEC_VERSION:
        raise StixError(f"{object_id}: spec_version {version!r} is not {SPEC_VERSION!r}; "
                        "Liaison reads STIX 2.1 only")
    return obj


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _index(data: Any) -> dict[str, StixObject]:
    """The bundle's objects by id, checked for shape; repeated ids keep the latest
    ``modified`` version."""
    if not isinstance(data, Mapping):
        raise StixError(f"a STIX bundle is a JSON object, got {type(data).__name__}")
    if data.get("type") != "bundle":
        raise StixError(f"expected a STIX bundle (type 'bundle'), got type {data.get('type')!r}")
    bundle_id = data.get("id")
    if not isinstance(bundle_id, str) or not bundle_id.startswith("bundle--") \
            or not _is_uuid(bundle_id.removeprefix("bundle--")):
        raise StixError(f"bundle id {bundle_id!r} is not 'bundle--<uuid>'")
    if "spec_version" in data:
        raise StixError(f"{bundle_id}: a bundle with spec_version {data['spec_version']!r} is "
                        "STIX 2.0; Liaison reads STIX 2.1 bundles (no spec_version)")
    objects = data.get("objects", [])
    if not isinstance(objects, list):
        raise StixError(f"{bundle_id}: 'objects' must be a list")
    if len(objects) > MAX_OBJECTS:
        raise StixError(f"{bundle_id}: holds {len(objects):,} objects; at most "
                        f"{MAX_OBJECTS:,} are read from one bundle, split it")
    index: dict[str, StixObject] = {}
    for i, raw in enumerate(objects):
        obj = _check_object(raw, f"{bundle_id} objects[{i}]")
        old = index.get(obj["id"])
        if old is None:
            index[obj["id"]] = obj
        elif old != obj:
            new_mod, old_mod = obj.get("modified"), old.get("modified")
            if not isinstance(new_mod, str) or not isinstance(old_mod, str) \
                    or new_mod == old_mod:
                raise StixError(f"{obj['id']}: appears twice with different content and no "
                                "distinct 'modified' to tell the versions apart")
            if _when(new_mod, obj["id"]) > _when(old_mod, obj["id"]):
                index[obj["id"]] = obj
    return index


def _when(text: str, object_id: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise StixError(f"{object_id}: modified {text!r} is not an RFC 3339 time") from exc
    if when.tzinfo is None:
        raise StixError(f"{object_id}: modified {text!r} has no time zone (end it in Z)")
    return when


def _references(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(property, id) of every reference the object makes: ``*_ref``, ``*_refs`` and
    granular markings' ``marking_ref``."""
    out: list[tuple[str, str]] = []
    for name, value in obj.items():
        if name.endswith("_ref"):
            if not isinstance(value, str):
                raise StixError(f"{obj['id']}: {name} must be an id string")
            out.append((name, value))
        elif name.endswith("_refs"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise StixError(f"{obj['id']}: {name} must be a list of id strings")
            out.extend((name, v) for v in value)
    granular = obj.get("granular_markings", [])
    if not isinstance(granular, list):
        raise StixError(f"{obj['id']}: granular_markings must be a list")
    for g in granular:
        if isinstance(g, dict) and isinstance(g.get("marking_ref"), str):
            out.append(("granular_markings.marking_ref", g["marking_ref"]))
    return out


def _check_references(index: Mapping[str, StixObject]) -> None:
    for obj in index.values():
        for prop, ref in _references(obj):
            if ref in index or (ref in TLP_MARKINGS and prop == "object_marking_refs"):
                continue  # the TLP 1.0 markings are known without being sent
            raise StixError(f"{obj['id']}: {prop} refers to {ref}, which is not in the "
                            "bundle")


def _is_tlp(md: Mapping[str, Any]) -> str | None:
    """The TLP name of a TLP marking-definition, else ``None``."""
    if md["id"] in TLP_MARKINGS:
        return TLP_MARKINGS[md["id"]]
    name = md.get("name")
    if md.get("definition_type") == "tlp" or (isinstance(name, str)
                                              and name.upper().startswith("TLP:")):
        return name if isinstance(name, str) else "TLP"
    return None


class _Reader:
    def __init__(self, index: Mapping[str, StixObject], parties: Mapping[str, Party]) -> None:
        self.index, self.parties = index, parties
        self._labels: dict[str, tuple[dict[str, Any], Label]] = {}

    def get(self, ref: str, by: Mapping[str, Any]) -> StixObject:
        obj = self.index.get(ref)
        if obj is None:  # _check_references has caught this already
            raise StixError(f"{by['id']}: refers to {ref}, which is not in the bundle")
        return obj

    def tlp(self, ref: str) -> str | None:
        """The TLP name (``AMBER``…) of the marking ``ref``, else ``None``."""
        md = self.index.get(ref)
        if md is None:
            name = TLP_MARKINGS.get(ref)
        elif md["type"] != "marking-definition":
            return None
        else:
            name = _is_tlp(md)
        return name.upper().removeprefix("TLP:") if name else None

    def label(self, ref: str, by: Mapping[str, Any]) -> tuple[dict[str, Any], Label]:
        """The label data and label of the marking-definition ``ref``."""
        if ref in self._labels:
            return self._labels[ref]
        md = self.get(ref, by)
        if md["type"] != "marking-definition":
            raise StixError(f"{by['id']}: object_marking_refs lists {ref}, which is a "
                            f"{md['type']}, not a marking-definition")
        extensions = md.get("extensions")
        ext = extensions.get(LABEL_EXTENSION_ID) if isinstance(extensions, dict) else None
        if ext is None:
            raise StixError(f"{ref}: marking-definition has no Liaison label extension "
                            f"({LABEL_EXTENSION_ID}), so it carries no classification label "
                            f"(marks {by['id']})")
        if not isinstance(ext, dict) or ext.get("extension_type") != "property-extension" \
                or not isinstance(ext.get("label"), dict):
            raise StixError(f"{ref}: the Liaison label extension needs extension_type "
                            "'property-extension' and a 'label' object")
        data: dict[str, Any] = copy.deepcopy(ext["label"])
        try:
            label = label_from(data, self.parties)
        except CodecError as exc:
            raise StixError(f"{ref}: label is invalid: {exc}") from exc
        self._labels[ref] = (data, label)
        return data, label

    def tlps(self, obj: Mapping[str, Any]) -> list[str]:
        """The TLP names among ``obj``'s markings, sorted."""
        refs = obj.get("object_marking_refs") or []
        return sorted({name for ref in refs if (name := self.tlp(ref))})

    def labels(self, obj: Mapping[str, Any]) -> list[tuple[dict[str, Any], Label]]:
        """The distinct Liaison labels marking ``obj`` (TLP markings beside them are
        skipped: ``tlps``); refuses missing or non-label markings."""
        refs = obj.get("object_marking_refs")
        if not refs:
            raise StixError(f"{_kind(obj)} has no object_marking_refs: every {obj['type']} "
                            "must carry a Liaison classification label marking")
        if obj.get("granular_markings"):
            raise StixError(f"{_kind(obj)} has granular_markings: Liaison cannot carry them; "
                            "mark the whole object with one Liaison label marking")
        out: list[tuple[dict[str, Any], Label]] = []
        for ref in refs:
            if self.tlp(ref):
                continue
            data, label = self.label(ref, obj)
            if all(label != lb for _, lb in out):
                out.append((data, label))
        if not out:
            raise StixError(f"{_kind(obj)} is marked {', '.join(self.tlps(obj))} only: "
                            f"{TLP_REFUSAL}")
        return out

    def party_code(self, report: Mapping[str, Any], owner: str) -> str:
        """The originator: ``x_liaison_party`` of the report's ``created_by_ref``
        identity; ``owner`` (this node) when the report names no creator or one without
        that property, as a tool other than Liaison makes it."""
        ref = report.get("created_by_ref")
        if not isinstance(ref, str):
            return owner
        identity = self.get(ref, report)
        if identity["type"] != "identity":
            raise StixError(f"{ref}: the report's created_by_ref must be an identity")
        code = identity.get("x_liaison_party", owner)
        if not isinstance(code, str):
            raise StixError(f"{ref}: x_liaison_party is the originator's alpha-3 code, a "
                            "string")
        return code


# Report properties an item needs and has no default for: (item key, property, meaning).
REQUIRED_FIELDS: Final = (
    ("discipline", "x_liaison_discipline", "the discipline, e.g. HUMINT"),
    ("topic", "x_liaison_topic", "the topic, e.g. DPRK/missile"),
    ("title", "name", "the title"),
    ("reported_at", "published", "the report time"),
)
DEFAULT_GRADE: Final = "F6"  # Admiralty: reliability and credibility cannot be judged
ITEM_ID_PREFIX: Final = "stix-"  # default item id: this prefix + the report's UUID


def missing_fields(report: Mapping[str, Any]) -> list[str]:
    """What ``report`` lacks of the properties without a default, all of them."""
    out = [f"{prop} ({meaning})" for _, prop, meaning in REQUIRED_FIELDS
           if not isinstance(report.get(prop), str)]
    out += [f"{prop} (a string when given)" for prop in
            ("x_liaison_item_id", "x_liaison_grade", "x_liaison_observed_at")
            if prop in report and not isinstance(report[prop], str)]
    return out


def _item_data(report: StixObject, reader: _Reader, owner: str,
               ) -> tuple[dict[str, Any], list[str]]:
    """The ``codec.item_from`` dict of ``report`` and its notes' ids (portion order)."""
    rid = report["id"]
    data: dict[str, Any] = {key: report[prop] for key, prop, _ in REQUIRED_FIELDS}
    data["id"] = report.get("x_liaison_item_id") or ITEM_ID_PREFIX + rid.partition("--")[2]
    data["grade"] = report.get("x_liaison_grade") or DEFAULT_GRADE
    data["originator"] = reader.party_code(report, owner)
    if "x_liaison_observed_at" in report:
        data["observed_at"] = report["x_liaison_observed_at"]
    report_labels = reader.labels(report)

    portions: list[dict[str, Any]] = []
    note_ids: list[str] = []
    place: StixObject | None = None
    for ref in report.get("object_refs", []):
        obj = reader.get(ref, report)
        if obj["type"] == "note":
            portions.append(_portion(obj, reader, reader.tlps(report)))
            note_ids.append(ref)
        elif obj["type"] == "location":
            if place is not None:
                raise StixError(f"{rid}: lists two locations ({place['id']}, {ref}); an item "
                                "has at most one place")
            place = obj
        elif obj["type"] != "identity":
            raise StixError(f"{rid}: object_refs lists {ref}; a Liaison item holds notes (its "
                            "portions), at most one location and identities only")
    if not portions:
        raise StixError(f"{rid}: object_refs lists no notes; each portion is a note")
    portion_labels = [reader.labels(reader.index[n])[0][1] for n in note_ids]
    _covered(report, report_labels, portion_labels)
    data["portions"] = portions
    if place is not None:
        _covered(place, reader.labels(place), portion_labels)
        lat, lon = place.get("latitude"), place.get("longitude")
        if not _number(lat) or not _number(lon):
            raise StixError(f"{place['id']}: location has no latitude/longitude")
        name = place.get("name", "")
        data["place"] = {"lat": lat, "lon": lon, "name": name}
    return data, note_ids


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _portion(note: StixObject, reader: _Reader, report_tlp: list[str]) -> dict[str, Any]:
    labels = reader.labels(note)
    if len(labels) > 1:
        raise StixError(f"{_kind(note)} carries {len(labels)} Liaison labels; a portion has "
                        "exactly one")
    if not isinstance(note.get("content"), str):
        raise StixError(f"{_kind(note)} has no content")
    portion: dict[str, Any] = {"content": note["content"],
                               "label": _with_tlp(labels[0][0], reader.tlps(note) + report_tlp)}
    if "x_liaison_portion_id" in note:
        portion["id"] = note["x_liaison_portion_id"]
    if "x_liaison_portion_kind" in note:
        portion["kind"] = note["x_liaison_portion_kind"]
    if "x_liaison_attachment" in note:
        attachment = copy.deepcopy(note["x_liaison_attachment"])
        if isinstance(attachment, dict):
            attachment.pop("address", None)  # names a blob on the sending node: never ours
        portion["attachment"] = attachment
    return portion


def _with_tlp(label: dict[str, Any], tlp: list[str]) -> dict[str, Any]:
    """The label data with the TLP beside it kept as an informative category."""
    if not tlp:
        return label
    informative = dict(label.get("informative") or {})
    informative[TLP_CATEGORY] = sorted({*informative.get(TLP_CATEGORY, []), *tlp})
    return {**label, "informative": informative}


def _covered(obj: Mapping[str, Any], marks: list[tuple[dict[str, Any], Label]],
             portion_labels: list[Label]) -> None:
    for _, label in marks:
        if label not in portion_labels:
            raise StixError(f"{_kind(obj)} is marked {label.classification!r} "
                            f"({label.token}), a label none of the report's notes carries; "
                            "importing would drop that marking: mark it with its highest "
                            "note's label")


_PORTION_PATH = re.compile(r"^portions\[(\d+)\]")


def item_from_bundle(bundle: Mapping[str, Any], parties: Mapping[str, Party],
                     owner: str) -> list[dict[str, Any]]:
    """The item dict (``codec.item_from`` shape) of every report in ``bundle``, in bundle
    order, each validated by ``codec.item_from(d, parties, owner)``; each also holds
    ``stix_id`` (the report's id) and ``version`` (its ``modified``), which ``item_from``
    ignores. Raises ``StixError`` naming the object and what is wrong (see the module
    notes)."""
    if owner not in parties:
        raise StixError(f"unknown owner party {owner!r}")
    try:
        return _items_of(bundle, parties, owner)
    except OverflowError as exc:  # e.g. 9999-12-31T23:59:59-14:00, past the calendar in UTC
        raise StixError(f"a date-time in the bundle is out of range ({exc}); report times "
                        f"are {REPORT_TIMES}") from exc


def _items_of(bundle: Mapping[str, Any], parties: Mapping[str, Party],
              owner: str) -> list[dict[str, Any]]:
    index = _index(bundle)
    _check_references(index)
    reader = _Reader(index, parties)
    reports = [obj for obj in index.values() if obj["type"] == "report"]
    lacking = [f"{r['id']} lacks {', '.join(m)}" for r in reports if (m := missing_fields(r))]
    if lacking:
        raise StixError("; ".join(lacking))
    items: list[dict[str, Any]] = []
    for obj in reports:
        data, note_ids = _item_data(obj, reader, owner)
        try:
            item_from(data, parties, owner)
        except CodecError as exc:
            match = _PORTION_PATH.match(exc.path)
            note = f" (note {note_ids[int(match.group(1))]})" if match else ""
            raise StixError(f"{obj['id']}: not a valid item: {exc}{note}") from exc
        data["stix_id"] = obj["id"]
        data["version"] = str(obj.get("modified", ""))
        items.append(data)
    return items
