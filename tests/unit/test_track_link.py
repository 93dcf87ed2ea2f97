"""A partner link sends only what the policy at sending time still routes there: updates
queued under a route that has since gone are withdrawn and counted, never sent."""

from __future__ import annotations

from typing import Any

from tests.twins import MemoryState, MemoryUnitOfWork

from liaison.services.context import Deps
from liaison.tracks.links import PartnerLink

ROW: list[Any] = ["T1", 0.0, 39.0, 127.0, 9000.0, "a-h-A", None, None, 500.0, "", 1]


def link(routes: dict[str, dict[str, Any]]) -> PartnerLink:
    state = MemoryState()
    deps = Deps(uow=lambda: MemoryUnitOfWork(state), party="USA")
    return PartnerLink(deps, "KOR", lambda: None, lambda partner, key: routes.get(key))


def test_updates_still_routed_are_batched_by_group() -> None:
    header = {"feed": "radar", "agreement": "USA-KOR-GSOMIA"}
    lk = link({"radar|USA-KOR-GSOMIA": header})
    for _ in range(3):
        lk.push("radar|USA-KOR-GSOMIA", ROW)
    assert lk._take() == [{**header, "updates": [ROW, ROW, ROW]}]
    assert lk.stats.withdrawn == 0


def test_updates_whose_route_is_gone_are_withdrawn_and_counted() -> None:
    header = {"feed": "radar", "agreement": "USA-KOR-GSOMIA"}
    lk = link({"radar|USA-KOR-GSOMIA": header})
    lk.push("radar|USA-KOR-GSOMIA", ROW)
    lk.push("sbirs|USA-KOR-GSOMIA", ROW)  # no longer routed to KOR
    lk.push("sbirs|USA-KOR-GSOMIA", ROW)
    assert lk._take() == [{**header, "updates": [ROW]}]
    assert lk.stats.withdrawn == 2
    assert lk.view()["withdrawn"] == 2
    assert not lk.queue
