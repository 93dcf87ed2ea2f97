"""The ``launch-events`` TAXII collection: every revision of every launch event this node
recorded, as standard STIX 2.1 objects (``stix.launch_objects``), each revision a newer
version of the same report and locations.

The collection is brought up to date from the recorded launch events each time it is read
(revisions are appended, never overwritten, so this only adds what is new). It is read
here only, by those who may read launch events, each object within the reader's clearance
of the label of the feed the event came from (the same rank, compartments and topic the
track carried); it is not a partner's collection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from liaison.domain.codec import label_from
from liaison.domain.decoding import CodecError
from liaison.domain.labels import Label, LabelError, Party
from liaison.domain.search import compartment_key
from liaison.domain.users import Role
from liaison.interop import stix
from liaison.services.agreements import load_parties
from liaison.services.context import Deps
from liaison.services.ports import TaxiiObject, UnitOfWork

LAUNCHES = "launch-events"
READERS = (Role.ANALYST, Role.RELEASE_OFFICER, Role.REVIEWER, Role.WATCH_OFFICER, Role.ADMIN)
MAX_EVENTS = 1000  # events brought up to date per read (the latest first)
LABELLED = frozenset({"report", "location", "marking-definition"})


def sync(deps: Deps) -> int:
    """Add the revisions not yet in the collection; how many objects were new. A
    recorded revision that cannot be read back (a malformed row, a label no longer
    valid) is left out: it is never published unlabelled."""
    with deps.uow() as uow:
        parties = load_parties(uow)
        added = 0
        for latest in uow.tracks.launches(MAX_EVENTS):
            for row in uow.tracks.launch_history(str(latest.get("id", ""))):
                added += _publish(uow, deps, parties, row)
        uow.commit()
    return added


def _publish(uow: UnitOfWork, deps: Deps, parties: Mapping[str, Party],
             row: Mapping[str, Any]) -> int:
    try:
        label = label_from(row["label"], parties, "label")
        rank, topic = int(row["rank"]), str(row["topic"])
        objects = stix.launch_objects(stix.event_from(row), label, parties)
    except (CodecError, KeyError, TypeError, ValueError, LabelError, stix.StixError):
        return 0
    served = stix.with_ids(objects, uow.taxii.stix_ids)
    return uow.taxii.add(LAUNCHES, [_row(o, rank, label, topic) for o in served],
                         deps.clock())


def _row(obj: dict[str, Any], rank: int, label: Label, topic: str) -> TaxiiObject:
    version = str(obj.get("modified") or obj.get("created") or "")
    if obj["type"] not in LABELLED:  # identities, extension definitions: no label data
        return TaxiiObject(obj, version)
    return TaxiiObject(obj, version, rank, compartment_key(label.compartments),
                       topic if obj["type"] != "marking-definition" else "")
