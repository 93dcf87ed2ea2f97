"""Plain-data (JSON/YAML) forms of parties, agreements, labels and items, both ways. Pure:
no I/O.

Decoding validates everything with the kit of ``decoding`` and raises ``CodecError`` naming
the path of the bad field (``portions[1].label.classification``) so a person can fix the
input. Release requests and their decisions are stored in the forms of ``request_codec``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from liaison.domain.agreement_terms import Amendment, ReciprocityLimit
from liaison.domain.agreements import (
    Agreement,
    AgreementEvent,
    AgreementKind,
    EquivalenceRow,
    EquivalenceTable,
    EventKind,
    Scope,
    validate_agreement,
)
from liaison.domain.decoding import (
    CodecError,
    Data,
    enum_field,
    enum_value,
    field_of,
    guarded,
    join,
    parse_date,
    parse_datetime,
    str_list,
)
from liaison.domain.imagery import meta_from, meta_to
from liaison.domain.items import (
    Attachment,
    Discipline,
    Grade,
    Item,
    Place,
    Portion,
    PortionKind,
    validate_item,
)
from liaison.domain.labels import (
    CAVEAT,
    COMPARTMENT,
    EYES,
    REL_TO,
    CategoryType,
    Label,
    Party,
    make_label,
)
from liaison.domain.parties import scheme_from_names

# --- parties -------------------------------------------------------------------------


def party_from(data: Data, path: str = "") -> Party:
    code = field_of(data, "code", path, str)
    levels = field_of(data, "levels", path, list)
    pairs = []
    for i, lv in enumerate(levels):
        lp = f"{join(path, 'levels')}[{i}]"
        pairs.append((field_of(lv, "name", lp, str), field_of(lv, "mark", lp, str)))
    unclassified = field_of(data, "unclassified", path, str, default="UNCLASSIFIED")
    scheme = guarded(join(path, "levels"), lambda: scheme_from_names(code, pairs, unclassified))
    secret = field_of(data, "secret_level", path, str, default="")
    return guarded(path, lambda: Party(code, field_of(data, "name", path, str), scheme, secret))


def party_to(party: Party) -> dict[str, Any]:
    levels = [lv for lv in party.scheme.levels if lv.rank > 0]
    return {
        "code": party.code,
        "name": party.name,
        "levels": [{"name": lv.name, "mark": lv.mark, "rank": lv.rank} for lv in levels],
        "unclassified": party.scheme.levels[-1].name,
        "secret_level": party.secret_level,
    }


# --- agreements ----------------------------------------------------------------------


def agreement_from(data: Data, parties: Mapping[str, Party], path: str = "") -> Agreement:
    kind = guarded(join(path, "kind"), lambda: AgreementKind(field_of(data, "kind", path, str)))
    scope_data = field_of(data, "scope", path, dict, default={})
    agreement = Agreement(
        id=field_of(data, "id", path, str),
        kind=kind,
        title=field_of(data, "title", path, str, default=""),
        parties=frozenset(str_list(data, "parties", path) or []),
        table=_table_from(field_of(data, "table", path, list, default=[]), join(path, "table"),
                          parties),
        scope=_scope_from(scope_data, join(path, "scope")),
        hub=field_of(data, "hub", path, str, default=None),
        term_years=field_of(data, "term_years", path, int, default=1),
        auto_renew=field_of(data, "auto_renew", path, bool, default=True),
        notice_days=field_of(data, "notice_days", path, int, default=90),
        events=tuple(_events_from(field_of(data, "events", path, list, default=[]), path)),
        max_imbalance=field_of(data, "max_imbalance", path, int, default=None),
        opens=frozenset(str_list(data, "opens", path) or []),
        purposes=frozenset(str_list(data, "purposes", path) or []),
        amendments=tuple(amendment_from(a, parties, f"{join(path, 'amendments')}[{i}]")
                         for i, a in enumerate(field_of(data, "amendments", path, list,
                                                        default=[]))),
    )
    guarded(path, lambda: validate_agreement(agreement, parties))
    return agreement


def _table_from(rows: list[Any], path: str, parties: Mapping[str, Party]) -> EquivalenceTable:
    out = []
    for i, row in enumerate(rows):
        rp = f"{path}[{i}]"
        levels = field_of(row, "levels", rp, dict)
        parsed: dict[str, tuple[str, ...]] = {}
        for party, names in levels.items():
            names = [names] if isinstance(names, str) else names
            lp = f"{rp}.levels.{party}"
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise CodecError(lp, "expected a level name or a list")
            if party not in parties:
                raise CodecError(lp, f"unknown party {party!r}")
            scheme = parties[party].scheme
            for name in names:
                if not scheme.has(name):
                    known = ", ".join(lv.name for lv in scheme.levels)
                    raise CodecError(lp, f"{party} has no level {name!r} (known: {known})")
            parsed[str(party)] = tuple(names)
        out.append(EquivalenceRow(field_of(row, "common", rp, str), parsed))
    return EquivalenceTable(tuple(out))


def _scope_from(data: Data, path: str) -> Scope:
    disciplines = str_list(data, "disciplines", path)
    if disciplines is not None:
        for i, d in enumerate(disciplines):
            enum_value(Discipline, d, f"{path}.disciplines[{i}]")
    topics = str_list(data, "topics", path)
    max_level = field_of(data, "max_level", path, dict, default={})
    gsd = field_of(data, "imagery_min_gsd_m", path, float, default=None)
    if gsd is not None and not gsd > 0:
        raise CodecError(join(path, "imagery_min_gsd_m"), "must be a number of metres > 0")
    return Scope(
        disciplines=frozenset(disciplines) if disciplines is not None else None,
        topics=frozenset(topics) if topics is not None else None,
        max_level={str(k): str(v) for k, v in max_level.items()},
        imagery_min_gsd_m=gsd,
    )


def _events_from(events: list[Any], path: str) -> list[AgreementEvent]:
    out = []
    for i, e in enumerate(events):
        ep = f"{join(path, 'events')}[{i}]"
        kind = enum_field(EventKind, e, "kind", ep)
        on = parse_date(field_of(e, "date", ep, object), f"{ep}.date")
        out.append(AgreementEvent(kind, on, field_of(e, "by", ep, str, default=None),
                                  field_of(e, "note", ep, str, default="")))
    return out


def event_from(data: Data, path: str = "") -> AgreementEvent:
    return _events_from([data], path)[0]


def amendment_from(data: Data, parties: Mapping[str, Party], path: str = "") -> Amendment:
    """An amendment: its dates and note, and only the terms it changes (a term absent is
    unchanged; ``max_imbalance: null`` removes the limit)."""
    if not isinstance(data, Mapping):
        raise CodecError(path, "expected an object")
    unknown = sorted(str(k)[:32] for k in data if k not in AMENDMENT_FIELDS)
    if unknown:
        raise CodecError(path, f"unknown fields {', '.join(unknown)} (known: "
                               f"{', '.join(sorted(AMENDMENT_FIELDS))})")
    table = field_of(data, "table", path, list, default=None)
    scope = field_of(data, "scope", path, dict, default=None)
    purposes = str_list(data, "purposes", path)
    limit = ReciprocityLimit(field_of(data, "max_imbalance", path, int, default=None)) \
        if "max_imbalance" in data else None
    return Amendment(
        effective=parse_date(field_of(data, "effective", path, object), join(path, "effective")),
        recorded_by=field_of(data, "recorded_by", path, str, default=""),
        recorded_on=parse_date(field_of(data, "recorded_on", path, object, default=date.min),
                               join(path, "recorded_on")),
        note=field_of(data, "note", path, str, default=""),
        table=_table_from(table, join(path, "table"), parties) if table is not None else None,
        scope=_scope_from(scope, join(path, "scope")) if scope is not None else None,
        reciprocity=limit,
        purposes=frozenset(purposes) if purposes is not None else None)


AMENDMENT_FIELDS = frozenset({"effective", "recorded_by", "recorded_on", "note", "table",
                              "scope", "max_imbalance", "purposes"})


def amendment_to(a: Amendment) -> dict[str, Any]:
    out: dict[str, Any] = {"effective": a.effective.isoformat(), "recorded_by": a.recorded_by,
                           "recorded_on": a.recorded_on.isoformat(), "note": a.note}
    if a.table is not None:
        out["table"] = _table_to(a.table)
    if a.scope is not None:
        out["scope"] = _scope_to(a.scope)
    if a.reciprocity is not None:
        out["max_imbalance"] = a.reciprocity.limit
    if a.purposes is not None:
        out["purposes"] = sorted(a.purposes)
    return out


def _scope_to(scope: Scope) -> dict[str, Any]:
    return {
        "disciplines": sorted(scope.disciplines) if scope.disciplines is not None else None,
        "topics": sorted(scope.topics) if scope.topics is not None else None,
        "max_level": dict(scope.max_level),
        "imagery_min_gsd_m": scope.imagery_min_gsd_m,
    }


def _table_to(table: EquivalenceTable) -> list[dict[str, Any]]:
    return [{"common": r.common, "levels": {p: list(v) for p, v in r.levels.items()}}
            for r in table.rows]


def agreement_to(a: Agreement) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind.value,
        "title": a.title,
        "parties": sorted(a.parties),
        "hub": a.hub,
        "term_years": a.term_years,
        "auto_renew": a.auto_renew,
        "notice_days": a.notice_days,
        "max_imbalance": a.max_imbalance,
        "opens": sorted(a.opens),
        "purposes": sorted(a.purposes),
        "scope": _scope_to(a.scope),
        "table": _table_to(a.table),
        "amendments": [amendment_to(x) for x in a.amendments],
        "events": [{"kind": e.kind.value, "date": e.on.isoformat(), "by": e.by, "note": e.note}
                   for e in a.events],
    }


# --- labels and items ----------------------------------------------------------------


def label_from(data: Data, parties: Mapping[str, Party], path: str = "") -> Label:
    policy = field_of(data, "policy", path, str)
    if policy not in parties:
        raise CodecError(join(path, "policy"), f"unknown party {policy!r}")
    rel_to, eyes = str_list(data, "rel_to", path), str_list(data, "eyes_only", path)
    informative = field_of(data, "informative", path, dict, default={})
    return guarded(path, lambda: make_label(
        parties[policy].scheme,
        field_of(data, "classification", path, str),
        originator=field_of(data, "originator", path, str),
        created=parse_datetime(field_of(data, "created", path, object), join(path, "created")),
        rel_to=set(rel_to) if rel_to is not None else None,
        eyes_only=set(eyes) if eyes is not None else None,
        caveats=set(str_list(data, "caveats", path) or []),
        compartments=set(str_list(data, "compartments", path) or []),
        informative={str(k): frozenset(v) for k, v in informative.items()},
        review=_optional_datetime(data, "review", path),
    ))


def _optional_datetime(data: Data, name: str, path: str) -> datetime | None:
    raw = field_of(data, name, path, object, default=None)
    return None if raw is None else parse_datetime(raw, join(path, name))


def label_to(label: Label) -> dict[str, Any]:
    out: dict[str, Any] = {
        "policy": label.policy,
        "classification": label.classification,
        "originator": label.originator,
        "created": label.created.isoformat(),
        "review": label.review.isoformat() if label.review else None,
    }
    for tag, key in ((REL_TO, "rel_to"), (EYES, "eyes_only"), (CAVEAT, "caveats"),
                     (COMPARTMENT, "compartments")):
        if label.category(tag):
            out[key] = sorted(label.values(tag))
    out["informative"] = {c.tag: sorted(c.values) for c in label.categories
                          if c.type is CategoryType.INFORMATIVE}
    return out


def item_from(data: Data, parties: Mapping[str, Party], owner: str, path: str = "") -> Item:
    """An item held by ``owner``'s node: every label is in the owner's scheme."""
    portions = []
    for i, p in enumerate(field_of(data, "portions", path, list)):
        pp = f"{join(path, 'portions')}[{i}]"
        label = label_from(field_of(p, "label", pp, dict), parties, f"{pp}.label")
        if label.policy != owner:
            raise CodecError(f"{pp}.label.policy", f"labels on this node are in {owner}'s "
                                                   f"scheme (got {label.policy})")
        kind = enum_field(PortionKind, p, "kind", pp, default="text")
        portions.append(Portion(field_of(p, "id", pp, str, default=f"p{i + 1}"), kind,
                                field_of(p, "content", pp, str), label,
                                _attachment_from(field_of(p, "attachment", pp, dict,
                                                          default=None), f"{pp}.attachment")))
    item = Item(
        id=field_of(data, "id", path, str),
        originator=field_of(data, "originator", path, str, default=owner),
        discipline=enum_field(Discipline, data, "discipline", path),
        topic=field_of(data, "topic", path, str),
        grade=guarded(join(path, "grade"),
                      lambda: Grade.parse(field_of(data, "grade", path, str))),
        title=field_of(data, "title", path, str),
        reported_at=parse_datetime(field_of(data, "reported_at", path, object),
                                   join(path, "reported_at")),
        portions=tuple(portions),
        observed_at=_optional_datetime(data, "observed_at", path),
        place=_place_from(field_of(data, "place", path, dict, default=None), path),
    )
    guarded(path, lambda: validate_item(item, parties[owner].scheme))
    return item


def _attachment_from(data: Data | None, path: str) -> Attachment | None:
    if data is None:
        return None
    image = field_of(data, "image", path, dict, default=None)
    return Attachment(
        sha256=field_of(data, "sha256", path, str), size=field_of(data, "size", path, int),
        media_type=field_of(data, "media_type", path, str),
        address=field_of(data, "address", path, str, default=""),
        image=guarded(join(path, "image"), lambda: meta_from(image)) if image else None,
        derived_from=field_of(data, "derived_from", path, str, default=None))


def attachment_to(a: Attachment) -> dict[str, Any]:
    return {"sha256": a.sha256, "size": a.size, "media_type": a.media_type,
            "address": a.address, "image": meta_to(a.image) if a.image else None,
            "derived_from": a.derived_from}


def _place_from(data: Data | None, path: str) -> Place | None:
    if data is None:
        return None
    pp = join(path, "place")
    return Place(field_of(data, "lat", pp, float), field_of(data, "lon", pp, float),
                 field_of(data, "name", pp, str, default=""))


def item_to(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "originator": item.originator,
        "discipline": item.discipline.value,
        "topic": item.topic,
        "grade": str(item.grade),
        "title": item.title,
        "reported_at": item.reported_at.isoformat(),
        "observed_at": item.observed_at.isoformat() if item.observed_at else None,
        "place": ({"lat": item.place.lat, "lon": item.place.lon, "name": item.place.name}
                  if item.place else None),
        "portions": [{"id": p.id, "kind": p.kind.value, "content": p.content,
                      "label": label_to(p.label),
                      **({"attachment": attachment_to(p.attachment)} if p.attachment else {})}
                     for p in item.portions],
    }
