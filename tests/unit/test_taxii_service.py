"""TAXII collections through the use cases (in-memory twins): what a local reader sees of
a partner's collection, versions of a re-released item, the inbox taking a bundle all or
nothing, and out-of-range query parameters refused with a reason."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.twins import MemoryState, MemoryUnitOfWork

from liaison.crypto.keys import verify_card
from liaison.domain.areas import Area, AreaKind
from liaison.domain.codec import item_to
from liaison.domain.labels import Clearance
from liaison.domain.users import Role, User
from liaison.federation.keystore import Keystore
from liaison.interop import stix
from liaison.services import items, search, taxii
from liaison.services.context import Deps
from liaison.services.errors import Exists, Invalid
from liaison.services.ports import Peer

from factories import CREATED, PARTIES, item, label, seed_agreements

NOW = datetime(2019, 11, 23, 9, tzinfo=UTC)
KIM = User("kim", "Kim", frozenset({Role.ANALYST}), Clearance(4, frozenset({"K1"})))
LOW_REVIEWER = User("seo", "Seo", frozenset({Role.REVIEWER}), Clearance(1))
HIGH_REVIEWER = User("park", "Park", frozenset({Role.REVIEWER}), Clearance(4, frozenset({"K1"})))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def deps(tmp_path: Path) -> Deps:
    state = MemoryState()
    for a in seed_agreements():
        state.agreements[a.id] = a
    keys = Keystore.create(tmp_path / "JPN", NOW)
    card = keys.card("JPN", "http://jpn", NOW)
    state.peers["JPN"] = Peer("JPN", "http://jpn", keys.fingerprint,
                              verify_card(asdict(card), keys.fingerprint), NOW)
    counter = iter(range(10**6))
    return Deps(uow=lambda: MemoryUnitOfWork(state), party="KOR", clock=Clock(),
                ids=lambda: f"id{next(counter)}")


def released(deps: Deps, user: User, **params: Any) -> list[dict[str, Any]]:
    cid = taxii.collection_id(deps, taxii.RELEASED + "JPN")
    return taxii.page(deps, user, cid, params).objects


def publish(deps: Deps, *portions: int) -> None:
    whole = item(label("대외비", rel_to={"JPN"}),
                 label("군사II급비밀", rel_to={"JPN"}, compartments={"K1"}))
    cut = replace(whole, portions=tuple(whole.portions[i] for i in portions))
    with deps.uow() as uow:
        taxii.publish_release(uow, deps, "JPN", cut)
        uow.commit()


# --- what local readers see ------------------------------------------------------------


def test_a_marking_definition_is_seen_only_by_those_who_may_see_its_label(
        deps: Deps) -> None:
    publish(deps, 0, 1)
    low = [o for o in released(deps, LOW_REVIEWER) if o["type"] == "marking-definition"]
    high = [o for o in released(deps, HIGH_REVIEWER) if o["type"] == "marking-definition"]
    assert len(high) == 2 and len(low) == 1
    assert "K1" not in json.dumps(low) and "군사II급비밀" not in json.dumps(low)
    assert [n["object_marking_refs"] for n in released(deps, LOW_REVIEWER)
            if n["type"] == "note"] == [[low[0]["id"]]]  # the note it sees, marked


# --- versions -----------------------------------------------------------------------------


def test_a_wider_re_release_is_a_newer_report_listing_every_note(deps: Deps) -> None:
    publish(deps, 0)
    first = next(o for o in released(deps, HIGH_REVIEWER) if o["type"] == "report")
    deps.clock.now = NOW + timedelta(days=2)  # type: ignore[attr-defined]
    publish(deps, 0, 1)
    latest = [o for o in released(deps, HIGH_REVIEWER) if o["type"] == "report"]
    assert len(latest) == 1 and latest[0]["modified"] > first["modified"]
    notes = [o for o in released(deps, HIGH_REVIEWER) if o["type"] == "note"]
    assert sorted(latest[0]["object_refs"]) == sorted(n["id"] for n in notes)
    assert len(notes) == 2
    every = released(deps, HIGH_REVIEWER, version="all")
    assert sum(o["type"] == "report" for o in every) == 2  # the first version is kept


@pytest.mark.parametrize("reported", [CREATED, NOW + timedelta(days=30)],
                         ids=["same-millisecond", "reported-in-the-future"])
def test_a_re_release_at_the_same_time_is_still_a_newer_version(
        deps: Deps, reported: datetime) -> None:
    """Versions are millisecond times: a second release in the same millisecond as the
    first (or of an item whose report time is later than the clock, which versions both)
    must not share the first one's version and be dropped as already held."""
    def publish_at(*portions: int) -> None:
        whole = item(label("대외비", rel_to={"JPN"}),
                     label("군사II급비밀", rel_to={"JPN"}, compartments={"K1"}))
        cut = replace(whole, reported_at=reported,
                      portions=tuple(whole.portions[i] for i in portions))
        with deps.uow() as uow:
            taxii.publish_release(uow, deps, "JPN", cut)
            uow.commit()

    publish_at(0)
    publish_at(0, 1)
    reports = [o for o in released(deps, HIGH_REVIEWER, version="all") if o["type"] == "report"]
    assert len(reports) == 2 and reports[0]["modified"] != reports[1]["modified"]
    latest = next(o for o in released(deps, HIGH_REVIEWER) if o["type"] == "report")
    assert len(latest["object_refs"]) == 2  # the wider release, both notes


def test_a_redrawn_area_is_a_newer_version_even_in_the_same_millisecond(deps: Deps) -> None:
    """An area's version was its label's creation time: a redrawn area with the same
    label was dropped as already held."""
    drawn = Area("A-1", "yard", AreaKind.LAUNCH_SITE, 2, label("대외비", rel_to={"JPN"}),
                 "KOR", center=(39.0, 125.7), radius_m=500.0)
    for radius in (500.0, 900.0, 1200.0):
        if radius == 1200.0:
            deps.clock.now = NOW + timedelta(days=1)  # type: ignore[attr-defined]
        with deps.uow() as uow:
            taxii.publish_area(uow, deps, "JPN", replace(drawn, radius_m=radius))
            uow.commit()
    places = [o for o in released(deps, HIGH_REVIEWER, version="all")
              if o["type"] == "location"]
    assert [o["x_liaison_area"]["radius_m"] for o in places] == [500.0, 900.0, 1200.0]
    assert len({o["modified"] for o in places}) == 3
    latest = [o for o in released(deps, HIGH_REVIEWER) if o["type"] == "location"]
    assert [o["x_liaison_area"]["radius_m"] for o in latest] == [1200.0]


# --- the inbox ------------------------------------------------------------------------


def bundle_of(*found: Any) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for it in found:
        objects += stix.item_objects(it, PARTIES)
    return copy.deepcopy(stix.bundle(objects)["objects"])


def inbox(deps: Deps) -> str:
    return taxii.collection_id(deps, taxii.INBOX)


def stored(deps: Deps) -> list[str]:
    with deps.uow() as uow:
        return sorted(s.item.id for s in uow.items.list(max_min_rank=99, limit=99, offset=0))


def test_a_bundle_is_imported_whole_and_what_no_report_uses_is_a_failure(
        deps: Deps) -> None:
    objects = bundle_of(item(label("대외비"), item_id="S1"), item(label("대외비"),
                                                                  item_id="S2"))
    stray = {"type": "indicator", "spec_version": "2.1",
             "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
             "created": "2019-10-31T00:00:00.000Z", "modified": "2019-10-31T00:00:00.000Z",
             "pattern": "[ipv4-addr:value = '198.51.100.1']", "pattern_type": "stix",
             "valid_from": "2019-10-31T00:00:00Z"}
    status = taxii.add_bundle(deps, KIM, inbox(deps), {"objects": [*objects, stray]})
    assert stored(deps) == ["S1", "S2"]
    assert status["success_count"] == len(objects) and status["failure_count"] == 1
    (failure,) = status["failures"]
    assert failure["id"] == stray["id"]
    assert failure["message"].startswith("unlabelled and not part of a report")


@pytest.mark.parametrize("year", ["2200", "9999"])
def test_one_bad_report_and_nothing_of_the_bundle_is_stored(deps: Deps, year: str) -> None:
    objects = bundle_of(item(label("대외비"), item_id="S1"), item(label("대외비"),
                                                                  item_id="S2"))
    late = next(o for o in objects if o.get("x_liaison_item_id") == "S2")
    late["published"] = f"{year}-12-31T23:59:59-14:00" if year == "9999" else \
        f"{year}-01-01T00:00:00Z"
    with pytest.raises(Invalid, match=r"out of range|report times are between 1970"):
        taxii.add_bundle(deps, KIM, inbox(deps), {"objects": objects})
    assert stored(deps) == []


def test_a_report_refused_when_created_leaves_none_created(deps: Deps) -> None:
    items.create_item(deps, KIM, item_to(item(label("대외비"), item_id="S2")))
    objects = bundle_of(item(label("대외비"), item_id="S1"), item(label("대외비"),
                                                                  item_id="S2"))
    with pytest.raises(Exists, match=r"report report--.*item S2 already exists.*nothing was "
                                     "imported"):
        taxii.add_bundle(deps, KIM, inbox(deps), {"objects": objects})
    assert stored(deps) == ["S2"]


# --- out-of-range parameters ------------------------------------------------------------


@pytest.mark.parametrize(("params", "message"), [
    ({"next": "99999999999999999999"}, "next is the value the previous page returned"),
    ({"next": "-1"}, "next is the value"),
    ({"added_after": "9999-12-31T23:59:59-14:00"}, "added_after .* is out of range"),
    ({"added_after": "0001-01-01T00:00:00+14:00"}, "added_after .* is out of range"),
])
def test_taxii_query_parameters_out_of_range_are_refused(
        deps: Deps, params: dict[str, str], message: str) -> None:
    with pytest.raises(Invalid, match=message):
        released(deps, HIGH_REVIEWER, **params)


@pytest.mark.parametrize("since", ["2200-01-01T00:00:00Z", "1960-01-01T00:00:00Z",
                                   "9999-12-31T23:59:59-14:00"])
def test_search_times_outside_the_report_times_are_refused(deps: Deps, since: str) -> None:
    with pytest.raises(Invalid, match="report times"):
        search.search(deps, KIM, {"since": since})
    with pytest.raises(Invalid, match="report times"):
        search.search(deps, KIM, {"until": since})


def test_a_search_window_that_ends_before_it_starts_is_refused(deps: Deps) -> None:
    with pytest.raises(Invalid, match="swap the two"):
        search.search(deps, KIM, {"since": "2020-01-02T00:00:00Z",
                                  "until": "2020-01-01T00:00:00Z"})


def test_a_search_time_without_a_time_zone_is_refused(deps: Deps) -> None:
    with pytest.raises(Invalid, match="time zone"):
        search.search(deps, KIM, {"since": "2200-01-01Z"})  # a date: "Z" is not read


@pytest.mark.parametrize("reported_at", ["2110-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
                                         "9999-12-31T23:59:59-14:00"])
def test_report_times_outside_1970_to_2100_are_refused(deps: Deps, reported_at: str) -> None:
    data = {**item_to(item(label("대외비"))), "reported_at": reported_at}
    with pytest.raises(Invalid, match="report times are between 1970"):
        items.create_item(deps, KIM, data)
    assert stored(deps) == []
    assert CREATED.year == 2019  # the factories' items are well inside
