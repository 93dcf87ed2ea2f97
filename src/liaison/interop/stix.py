"""STIX 2.1 forms of items, launch events and areas, and items back from STIX bundles.
Pure: no I/O; plain dicts in and out (no ``stix2`` dependency). The work is split by
concern: ``stix_common`` (ids, times, extensions, identities, label markings, bundles),
``stix_export`` (items, areas), ``stix_launch`` (launch events), ``stix_ids`` (the UUIDv4
ids served), ``stix_import`` (items back). This module names them all.

Mapping
=======

Identifiers and times
    The mapping derives a key id for every object: ``<type>--uuid5(NAMESPACE,
    "<type>/<key>")``. Keys: ``party/KOR``; ``label/<canonical JSON of the label>``;
    ``item/<originator>/<item id>`` (``…/portion/<portion id>``, ``…/place``);
    ``area/<area id>``; ``launch/<event id>`` (``…/launch``, ``…/impact/<track>``).
    SDOs, SROs and marking-definitions are served under a UUIDv4 (as STIX 2.1 asks):
    ``stix_ids.with_ids`` replaces each key id, and every reference to it, by the UUIDv4
    a map gives it (the node keeps that map in its store, so a re-release keeps the id
    and only ``modified`` moves; ``stix_ids.fresh_ids`` draws a new map). Liaison makes
    no SCO. ``spec_version`` is "2.1"; ``created``/``modified`` are UTC RFC 3339 with
    millisecond precision and "Z". Data times (``published``, ``x_liaison_observed_at``…)
    keep microseconds when they have them, so an item round-trips exactly. A naive
    date-time is refused (``StixError``).

Liaison's own properties
    Every ``x_liaison_*`` property is declared by the extension-definition
    ``PROPERTIES_EXTENSION_ID`` (``toplevel-property-extension``, listing them): an object
    that carries one lists ``extensions[PROPERTIES_EXTENSION_ID] = {"extension_type":
    "toplevel-property-extension"}``. The label of a marking-definition is a
    ``property-extension`` (``LABEL_EXTENSION_ID``). Both definitions and the
    ``project_identity()`` that created them are part of every export.

Labels → ``marking-definition``
    One per distinct ``Label``: ``extensions[LABEL_EXTENSION_ID] = {"extension_type":
    "property-extension", "label": label_to(label), "banner": "<marking>"}`` (date-times
    normalised to UTC, null and empty values left out: STIX has no nulls); ``name`` is the
    same human marking, e.g. ``SECRET//REL TO USA, KOR``, with its case kept (MISP turns
    it into a statement marking). No ``definition_type``: STIX 2.1 allows a
    marking-definition defined by an extension alone. The key depends on the label only,
    never on the banner text, and the importer reads only the label. ``created_by_ref``
    is the identity of the party whose scheme the label is in (``label.policy``).

Parties → ``identity``
    ``identity_class`` "organization", ``name`` the party's name, ``x_liaison_party`` the
    alpha-3 code.

Item → ``report`` + one ``note`` per portion + a ``location`` for the place
    * report: ``name`` = title, ``published`` = reported_at, ``report_types`` =
      ["threat-report"] (the vocabulary's own value), ``x_liaison_item_id``,
      ``x_liaison_discipline``, ``x_liaison_topic``, ``x_liaison_grade`` (Admiralty
      code), ``x_liaison_observed_at`` (when known), ``created_by_ref`` = originator
      identity, ``object_refs`` = the notes in portion order, then the location.
      ``object_marking_refs`` = the marking of the highest portion label; when several
      distinct labels share the highest level (say ``S//REL TO USA`` and ``S//NOFORN``),
      all of them, because STIX applies every listed marking and the title must not look
      more releasable than any top portion.
    * note: ``content`` = portion content, ``object_marking_refs`` = that portion's
      marking (exactly one), ``object_refs`` = [the report] (the object it annotates, as
      STIX tools and MISP read a note), ``x_liaison_portion_id``,
      ``x_liaison_portion_kind``, and for a portion with a file ``x_liaison_attachment``:
      ``codec.attachment_to`` without the node-local ``address`` (the bytes travel
      separately, partners compare the hash). The importer reads portions only from
      ``report.object_refs``, so the report ↔ note cycle is never walked.
    * location: ``latitude``/``longitude``/``name`` of the place, marked like the report,
      listed by that report only.

Area → ``location``
    A STIX location is a point with a ``precision`` radius in metres: a circle gives its
    centre and radius; a polygon the mean of its vertices and the largest geodesic
    distance from there to a vertex, rounded up. The exact shape is in ``x_liaison_area``
    (id, name, kind, priority, originator, and ``polygon`` [[lat, lon], …] or ``center``
    [lat, lon] + ``radius_m``). Marked with the area's label; ``created`` is the label's
    creation time, ``modified`` the caller's ``modified`` (default: the same), so a
    redrawn area is a new version. No report lists it: an area is attached to nothing.

Launch event → ``report`` + ``location`` objects (standard objects only)
    The report (``report_types`` ["threat-report"], ``name`` the event's summary,
    ``published`` the launch time, ``x_liaison_launch`` = ``launch.event_to(event)``)
    lists the launch point (a location) and one location per object at its impact point
    (``x_liaison_impact`` observed/predicted, ``x_liaison_object`` the object's fitted
    flight: track, launch and impact time and point, range_km, apogee_km,
    flight_time_s). A revision is a new version of the same objects: ``created`` is the
    launch time, ``modified`` the launch time plus ``revision`` milliseconds. Everything
    is marked with the caller's label (a launch event carries its feed's label) and
    created by the label originator's identity.

Import (``item_from_bundle``)
    Rebuilds the ``codec.item_from`` dict of every report from its notes, location and
    their label markings (plus ``stix_id`` and ``version``: the report's id and
    ``modified``, for TAXII status), validates it with ``codec.item_from`` (labels must be
    in the owner's scheme). Defaults for what a tool other than Liaison leaves out:
    ``x_liaison_item_id`` → ``stix-<the report's UUID>``; ``x_liaison_grade`` → ``F6``
    (reliability and credibility cannot be judged); no ``created_by_ref``, or an
    identity without ``x_liaison_party`` → the importing node is the originator; a note
    without ``x_liaison_portion_id``/``_kind`` → ``codec`` numbering, text. Without a
    default: ``x_liaison_discipline``, ``x_liaison_topic`` (they decide who may read the
    item), ``name`` and ``published``; what every report of the bundle lacks of them is
    listed in one ``StixError``. A TLP marking (TLP 1.0 ids, referenced or sent, or a
    marking-definition named ``TLP:…``) beside a Liaison label is kept as the informative
    category ``TLP`` of each portion's label (report-level TLP on every portion); TLP
    alone is refused. Refused with ``StixError`` naming the object and what is wrong:
    non-object input; a wrong ``type`` or a ``spec_version`` other than 2.1; more than
    ``MAX_OBJECTS`` objects; malformed or duplicate ids; any reference to an object not
    in the bundle (save the TLP 1.0 markings); a report, note or location with no Liaison
    label marking or with granular markings; a note with more than one label; a report or
    location marked with a label that none of its notes carries; report object_refs other
    than notes, one location and identities. An attachment's ``address`` is never read
    from a bundle: it would name a blob in the importing node's own store.
"""

from __future__ import annotations

from liaison.interop.stix_common import (
    EPOCH,
    LABEL_EXTENSION_ID,
    MAX_OBJECTS,
    NAMESPACE,
    PROJECT_IDENTITY_ID,
    PROPERTIES_EXTENSION_ID,
    SPEC_VERSION,
    TLP_MARKINGS,
    TLP_REFUSAL,
    SchemeBanner,
    StixError,
    StixObject,
    bundle,
    default_banner,
    extension_definition,
    marking_definition,
    party_identity,
    project_identity,
    properties_extension_definition,
    stix_id,
)
from liaison.interop.stix_export import REPORT_TYPES, area_objects, item_objects
from liaison.interop.stix_ids import IdLookup, fresh_ids, key_ids, with_ids
from liaison.interop.stix_import import (
    DEFAULT_GRADE,
    ITEM_ID_PREFIX,
    TLP_CATEGORY,
    item_from_bundle,
    missing_fields,
)
from liaison.interop.stix_launch import event_from, launch_objects

__all__ = [
    "DEFAULT_GRADE", "EPOCH", "ITEM_ID_PREFIX", "LABEL_EXTENSION_ID", "MAX_OBJECTS",
    "NAMESPACE", "PROJECT_IDENTITY_ID", "PROPERTIES_EXTENSION_ID", "REPORT_TYPES",
    "SPEC_VERSION", "TLP_CATEGORY", "TLP_MARKINGS", "TLP_REFUSAL", "IdLookup",
    "SchemeBanner", "StixError", "StixObject", "area_objects", "bundle", "default_banner",
    "event_from", "extension_definition", "fresh_ids", "item_from_bundle", "item_objects",
    "key_ids", "launch_objects", "marking_definition", "missing_fields", "party_identity",
    "project_identity", "properties_extension_definition", "stix_id", "with_ids",
]
