"""TAXII 2.1 collections: what was released to each partner, and an inbox for labelled
STIX bundles.

Every SDO, SRO and marking-definition is served under the UUIDv4 the node's id map gives
its key id (``stix.with_ids``, ``uow.taxii.stix_ids``), so a re-release is a new version
(same id, later ``modified``).

``released-to-XXX`` holds, as STIX 2.1, exactly what the release engine let go to partner
XXX (the tearline portions, with their labels as marking-definitions) and the areas shared
with it; objects are added in the release's own transaction. It is read by that partner's
tool (an account with the ``partner`` role for XXX, which sees only its own collection) and
by release officers and reviewers here, within their clearance. ``launch-events``
(``services.taxii_launches``) holds the launch events, read here only. ``inbox`` takes
bundles from analysts' tools: every note must carry a Liaison label marking in this
node's scheme (a TLP marking beside it is kept as informative); unlabelled input is
refused; what a tool other than Liaison leaves out takes the defaults ``stix`` documents.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from liaison.domain.areas import Area
from liaison.domain.items import Item
from liaison.domain.labels import Label, Party
from liaison.domain.search import SearchError, compartment_key, visibility
from liaison.domain.users import Role, User
from liaison.interop import stix
from liaison.services import items as item_service
from liaison.services import taxii_launches
from liaison.services.agreements import load_parties
from liaison.services.context import Deps
from liaison.services.errors import Forbidden, Invalid, NotFound
from liaison.services.ports import TaxiiObject, TaxiiQuery, UnitOfWork

MEDIA = "application/taxii+json;version=2.1"
STIX_MEDIA = "application/stix+json;version=2.1"
INBOX = "inbox"
RELEASED = "released-to-"
MAX_PAGE = 1000
MAX_NEXT = 2**63 - 1  # collection sequence numbers are 64-bit integers in the database
MAX_BUNDLE = 10 * 1024 * 1024
VERSIONED_AT_RELEASE = frozenset({"report", "note", "location", "grouping"})
MILLISECOND = timedelta(milliseconds=1)
LOCAL_READERS = (Role.RELEASE_OFFICER, Role.REVIEWER)
WRITERS = (Role.ANALYST, Role.RELEASE_OFFICER)


@dataclass(frozen=True)
class Collection:
    key: str  # "inbox" | "released-to-KOR"
    id: str  # a UUID, stable per node and key
    title: str
    description: str
    can_read: bool
    can_write: bool

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "description": self.description,
                "can_read": self.can_read, "can_write": self.can_write,
                "media_types": [STIX_MEDIA]}


@dataclass(frozen=True)
class Page:
    raw: list[str]  # each object as stored JSON text, served without re-encoding
    more: bool
    next: str | None
    first_added: datetime | None
    last_added: datetime | None
    versions: list[tuple[str, str, datetime]]  # (id, version, date_added) for manifests

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [json.loads(r) for r in self.raw]


def collection_id(deps: Deps, key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"liaison:{deps.party}:taxii:{key}"))


def collections(deps: Deps, user: User) -> list[Collection]:
    """The collections ``user`` may read or write; others are not even named."""
    if user.disabled:
        return []
    with deps.uow() as uow:
        partners = sorted(p.party for p in uow.peers.list())
    found = []
    for partner in partners:
        if (user.has(Role.PARTNER) and user.party == partner) or user.has(*LOCAL_READERS):
            key = RELEASED + partner
            found.append(Collection(key, collection_id(deps, key), f"Released to {partner}",
                                    f"What {deps.party} released to {partner}, as STIX 2.1",
                                    True, False))
    if user.has(*taxii_launches.READERS) and not user.has(Role.PARTNER):
        key = taxii_launches.LAUNCHES
        found.append(Collection(key, collection_id(deps, key), "Launch events",
                                "Launch events recorded from missile tracks, each revision "
                                "a new version, as STIX 2.1", True, False))
    if user.has(*WRITERS):
        found.append(Collection(INBOX, collection_id(deps, INBOX), "Inbox",
                                "Post labelled STIX 2.1 bundles; each report becomes an "
                                "item", False, True))
    return found


def collection(deps: Deps, user: User, cid: str) -> Collection:
    for c in collections(deps, user):
        if c.id == cid:
            return c
    raise NotFound(f"no collection {cid} that you may use")


def page(deps: Deps, user: User, cid: str, params: Mapping[str, Any]) -> Page:
    """One page of a collection, oldest addition first; ``next`` continues it."""
    c = collection(deps, user, cid)
    if not c.can_read:
        raise Forbidden(f"collection {c.title} is write-only: post bundles to it")
    q = _query(c.key, user, params)
    if c.key == taxii_launches.LAUNCHES:
        taxii_launches.sync(deps)
    with deps.uow() as uow:
        rows = uow.taxii.page(q)
    more, rows = len(rows) > q.limit, rows[:q.limit]
    return Page([o.raw for _, _, o in rows], more,
                str(rows[-1][0]) if more else None,
                rows[0][1] if rows else None, rows[-1][1] if rows else None,
                [(o.data["id"], o.version, at) for _, at, o in rows])


def _query(key: str, user: User, params: Mapping[str, Any]) -> TaxiiQuery:
    try:
        vis = None if user.has(Role.PARTNER) else visibility(user.clearance)
    except SearchError as exc:
        raise Invalid(str(exc)) from exc
    try:
        after = int(params.get("next") or 0)
        limit = int(params.get("limit") or 100)
    except ValueError:
        raise Invalid("next and limit are whole numbers (next as returned by the "
                      "previous page)") from None
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit is 1–{MAX_PAGE}")
    if not 0 <= after <= MAX_NEXT:
        raise Invalid("next is the value the previous page returned (a whole number from 0 "
                      f"to {MAX_NEXT}); leave it out for the first page")
    return TaxiiQuery(key, vis, after, limit, _added_after(params.get("added_after")),
                      _set(params.get("id")), _set(params.get("type")),
                      params.get("version") or "last")


def _added_after(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        since = datetime.fromisoformat(raw)
    except ValueError:
        raise Invalid(f"added_after {raw[:40]!r} is not an RFC 3339 timestamp") from None
    if since.tzinfo is None:
        raise Invalid("added_after needs a time zone, e.g. 2019-10-31T00:00:00Z")
    try:
        return since.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past the end of the calendar in UTC
        raise Invalid(f"added_after {raw[:40]!r} is out of range: give a time between "
                      f"0001 and 9999 in UTC") from None


def _set(raw: str | None) -> frozenset[str]:
    return frozenset(v for v in (raw or "").split(",") if v)


def one_object(deps: Deps, user: User, cid: str, object_id: str,
               params: Mapping[str, Any]) -> Page:
    found = page(deps, user, cid, {**params, "id": object_id})
    if not found.raw:
        raise NotFound(f"no object {object_id} in this collection that you may see")
    return found


# --- filling the collections (in the caller's transaction) ---------------------------


def publish_release(uow: UnitOfWork, deps: Deps, partner: str, item: Item) -> int:
    """Add the released tearline ``item`` to ``partner``'s collection, versioned at the
    release time: a later release of the item (a wider tearline, say) is a newer version
    of the report, listing all the notes it then carries. Each object is visible here to
    those who may see what it tells: a note and the marking-definition of its label as
    the portion; the report and place to those who see every portion."""
    parties = load_parties(uow)
    scheme = parties[deps.party].scheme
    portions = {p.id: p for p in item.portions}
    keys = {stix.marking_definition(p.label, parties)["id"]: p.label for p in item.portions}
    served = uow.taxii.stix_ids(list(keys))
    labels = {served[k]: label for k, label in keys.items()}

    def row(obj: dict[str, Any]) -> TaxiiObject:
        portion = portions.get(str(obj.get("x_liaison_portion_id", "")))
        if obj["type"] == "note" and portion is not None:
            return _row(obj, scheme.level(portion.label.classification).rank,
                        portion.label, item.topic)
        if obj["type"] == "marking-definition" and obj["id"] in labels:
            label = labels[obj["id"]]
            return _row(obj, scheme.level(label.classification).rank, label, "")
        if obj["type"] in ("report", "location"):  # visible to those who see all of it
            top = max(item.portions, key=lambda p: scheme.level(p.label.classification).rank)
            comps = frozenset().union(*(p.label.compartments for p in item.portions))
            return TaxiiObject(obj, _version(obj), scheme.level(top.label.classification).rank,
                               compartment_key(comps), item.topic)
        return TaxiiObject(obj, _version(obj))  # identities, the extension: no label data
    at = max(deps.clock(), item.reported_at)
    at = _after_held_versions(uow, RELEASED + partner, _served(uow, stix.item_objects(
        item, parties, modified=at)), at)
    objects = [row(o) for o in _served(uow, stix.item_objects(item, parties, modified=at))]
    return uow.taxii.add(RELEASED + partner, objects, deps.clock())


def publish_area(uow: UnitOfWork, deps: Deps, partner: str, area: Area) -> int:
    """Add ``area`` to ``partner``'s collection, versioned at the time it is shared: a
    redrawn area is a newer version of its location."""
    parties = load_parties(uow)
    rank = parties[deps.party].scheme.level(area.label.classification).rank
    at = max(deps.clock(), area.label.created)
    at = _after_held_versions(uow, RELEASED + partner, _served(uow, stix.area_objects(
        area, parties, modified=at)), at)
    objects = [_row(o, rank, area.label, "")
               if o["type"] in ("location", "marking-definition", "grouping")  # as its label
               else TaxiiObject(o, _version(o))
               for o in _served(uow, stix.area_objects(area, parties, modified=at))]
    return uow.taxii.add(RELEASED + partner, objects, deps.clock())


def _served(uow: UnitOfWork, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``objects`` under the ids the node serves (its id map's UUIDv4s)."""
    return stix.with_ids(objects, uow.taxii.stix_ids)


def _after_held_versions(uow: UnitOfWork, collection: str, objects: list[dict[str, Any]],
                         at: datetime) -> datetime:
    """``at``, or a millisecond after the newest version the collection holds of the
    objects versioned at ``at`` (a report, its notes and place; an area's location): a
    version is a millisecond time, and a new version that shared one with an earlier
    release would be dropped as already held."""
    ids = frozenset(o["id"] for o in objects if o["type"] in VERSIONED_AT_RELEASE)
    held = [o.version for _, _, o in uow.taxii.page(TaxiiQuery(
        collection, None, limit=len(ids), ids=ids, versions="last"))]
    newest = max((datetime.fromisoformat(v) for v in held), default=None)
    stamp = at - timedelta(microseconds=at.microsecond % 1000)  # as the version shows it
    return at if newest is None or newest < stamp else newest + MILLISECOND


def _row(obj: dict[str, Any], rank: int, label: Label, topic: str) -> TaxiiObject:
    return TaxiiObject(obj, _version(obj), rank, compartment_key(label.compartments), topic)


def _version(obj: Mapping[str, Any]) -> str:
    return str(obj.get("modified") or obj.get("created") or "")


# --- the inbox -----------------------------------------------------------------------


def add_bundle(deps: Deps, user: User, cid: str, envelope: Any) -> dict[str, Any]:
    """Import every report of a labelled bundle as an item, all or none; the status
    resource. Every report is checked (labels, fields, the files it refers to, the
    user's clearance, ids not yet taken) before any is created: ``Invalid`` (or the
    refusal's own kind) names the first problem and nothing is stored. Objects no imported
    report uses are listed as failures: nothing was taken from them."""
    c = collection(deps, user, cid)
    if not c.can_write:
        raise Forbidden(f"collection {c.title} is read-only")
    if not isinstance(envelope, dict) or not isinstance(envelope.get("objects"), list):
        raise Invalid("send a TAXII envelope: {\"objects\": [...]} of STIX 2.1 objects")
    objects = envelope["objects"]
    with deps.uow() as uow:
        parties: Mapping[str, Party] = load_parties(uow)
    try:
        found = stix.item_from_bundle({"type": "bundle", "id": f"bundle--{uuid.uuid4()}",
                                       "objects": objects}, parties, deps.party)
    except stix.StixError as exc:
        raise Invalid(f"{exc}; nothing was imported") from exc
    if not found:
        raise Invalid("the bundle holds no report: each report (with its notes and their "
                      "label markings) becomes an item; nothing was imported")
    item_service.create_items(deps, user, [_without_stix(d) for d in found],
                              [f"report {d['stix_id']}" for d in found])
    used = _used(objects, {d["stix_id"] for d in found})
    successes = [{"id": o["id"], "version": _version(o)} for o in objects if o["id"] in used]
    failures = [_failure(o, _not_used(o)) for o in objects if o["id"] not in used]
    status_id = str(uuid.uuid4())
    status: dict[str, Any] = {"id": status_id, "status": "complete",
              "request_timestamp": zulu(deps.clock()), "total_count": len(objects),
              "success_count": len(successes), "successes": successes,
              "failure_count": len(failures), "failures": failures,
              "pending_count": 0, "pending": []}
    with deps.uow() as uow:
        uow.taxii.put_status(status_id, {**status, "by": user.username}, deps.clock())
        uow.commit()
    return status


def zulu(at: datetime) -> str:
    """A TAXII timestamp: UTC, microseconds, ``Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _without_stix(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("stix_id", "version")}


def _used(objects: list[Any], reports: set[str]) -> set[str]:
    """The ids of the imported reports and of everything they refer to, directly or not
    (notes, location, identities, marking-definitions, the label extension)."""
    by_id = {o["id"]: o for o in objects}  # item_from_bundle checked shape and ids
    used, todo = set(), list(reports)
    while todo:
        oid = todo.pop()
        if oid in used or oid not in by_id:
            continue
        used.add(oid)
        obj = by_id[oid]
        for name, value in obj.items():
            if name.endswith("_ref") and isinstance(value, str):
                todo.append(value)
            elif name.endswith("_refs") and isinstance(value, list):
                todo += [v for v in value if isinstance(v, str)]
        if isinstance(obj.get("extensions"), dict):
            todo += [k for k in obj["extensions"] if k.startswith("extension-definition--")]
    return used


def _not_used(obj: Mapping[str, Any]) -> str:
    why = "not part of a report: nothing was imported from it (each report, with its notes, " \
          "location and label markings, becomes an item)"
    if obj.get("type") not in ("marking-definition", "identity", "extension-definition") \
            and not obj.get("object_marking_refs"):
        why = "unlabelled and " + why
    return why


def _failure(obj: Any, message: str) -> dict[str, Any]:
    return {"id": obj.get("id", "") if isinstance(obj, dict) else "", "message": message}


def status(deps: Deps, user: User, status_id: str) -> dict[str, Any]:
    if not user.has(*WRITERS):
        raise NotFound(f"no status {status_id} that you may see")
    with deps.uow() as uow:
        found = uow.taxii.status(status_id)
    if found is None or found.pop("by", None) != user.username:
        raise NotFound(f"no status {status_id} that you may see")
    return found
