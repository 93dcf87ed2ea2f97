"""The track hub recomputes its policy snapshot when an input changes (an agreement, a
feed, a peer, the date), within one check interval, and not when nothing did."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.twins import MemoryState, MemoryUnitOfWork

from liaison.crypto.keys import verify_card
from liaison.domain.parties import default_parties
from liaison.domain.users import Clearance, Role, User
from liaison.federation.keystore import Keystore
from liaison.services import agreements as agreement_service
from liaison.services import tracks as track_service
from liaison.services.audit_trail import record
from liaison.services.context import Deps
from liaison.services.ports import Peer
from liaison.tracks import policy_watch
from liaison.tracks.hub import TrackHub
from liaison.tracks.links import PartnerLink

from factories import seed_agreements

NOW = datetime(2019, 11, 1, 12, tzinfo=UTC)
ADMIN = User("admin", "admin", frozenset({Role.ADMIN}), Clearance(10))
FEED: dict[str, Any] = {
    "name": "sbirs", "title": "infrared", "topic": "DPRK/missile", "discipline": "MASINT",
    "label": {"policy": "USA", "classification": "SECRET", "originator": "USA",
              "created": "2019-10-31T00:00:00+00:00", "rel_to": ["USA", "KOR", "JPN"]}}
CHECK_S = 0.02  # the hub's check interval in these tests
BOUND_S = 2.0  # a change must show within this (many check intervals)


class QueuedLinksHub(TrackHub):
    """The real hub; its partner links are never started (no sockets in unit tests)."""

    def _link(self, partner: str) -> PartnerLink:
        link = self.links.get(partner)
        if link is None:
            link = PartnerLink(self.deps, partner, lambda: self.peers.get(partner), self._group)
            self.links[partner] = link
        return link


class Node:
    def __init__(self, root: Path) -> None:
        self.now = NOW
        self.state = MemoryState()
        self.state.parties.update(default_parties())
        for a in seed_agreements():
            self.state.agreements[a.id] = a
        self.deps = Deps(uow=lambda: MemoryUnitOfWork(self.state), party="USA",
                         clock=lambda: self.now, ids=lambda: "id")
        self.root = root
        self.trust("KOR")

    def trust(self, party: str) -> None:
        """Pin a partner's card (what ``peer add`` stores), audited as ``peer add`` does."""
        keys = Keystore.create(self.root / party, self.now)
        card = keys.card(party, f"http://{party.lower()}", self.now)
        peer = Peer(party, f"http://{party.lower()}", keys.fingerprint,
                    verify_card(asdict(card), keys.fingerprint), self.now)
        with self.deps.uow() as uow:
            uow.peers.put(peer)
            record(uow, self.deps, "admin", "peer.added", f"peer:{party}", {})
            uow.commit()

    def audit(self, action: str) -> None:
        with self.deps.uow() as uow:
            record(uow, self.deps, "someone", action, "x", {})
            uow.commit()


def routed(hub: TrackHub) -> list[str]:
    return [r.partner for r in hub.policy.routes.get("sbirs", ())]


def under_gsomia(hub: TrackHub) -> list[str]:
    """Partners the feed goes to under the USA-KOR GSOMIA (the seed's TISA also
    covers KOR: once the GSOMIA ends, the feed goes under the TISA)."""
    return [r.partner for r in hub.policy.routes.get("sbirs", ())
            if r.agreement == "USA-KOR-GSOMIA"]


async def started(node: Node) -> TrackHub:
    track_service.register_feed(node.deps, ADMIN, FEED)
    hub = QueuedLinksHub(node.deps, refresh_s=CHECK_S)
    await hub.start()
    return hub


def _officer() -> User:
    return User("officer", "officer", frozenset({Role.RELEASE_OFFICER}), Clearance(10))


async def within(bound: float, done: Callable[[], bool]) -> float:
    """Seconds until ``done()``; fails past ``bound``."""
    start = asyncio.get_running_loop().time()
    while not done():
        assert asyncio.get_running_loop().time() - start < bound, "not within the bound"
        await asyncio.sleep(CHECK_S / 4)
    return asyncio.get_running_loop().time() - start


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_nothing_changed_nothing_recomputed(tmp_path: Path) -> None:
    node = Node(tmp_path)

    async def scenario() -> None:
        hub = await started(node)
        try:
            assert routed(hub) == ["KOR"]
            before = hub.policy_watch.recomputes
            checks = hub.policy_watch.checks
            for action in ("auth.login", "item.created", "release.requested",
                           "hotline.check_call"):
                node.audit(action)  # other things happen; none is a policy input
            await within(BOUND_S, lambda: hub.policy_watch.checks >= checks + 20)
            assert hub.policy_watch.recomputes == before
            assert hub.view()["policy_watch"]["recomputes"] == before
        finally:
            await hub.stop()
    run(scenario())


def test_an_agreement_terminated_takes_effect_within_one_check(tmp_path: Path) -> None:
    node = Node(tmp_path)

    async def scenario() -> None:
        hub = await started(node)
        try:
            assert routed(hub) == ["KOR"]
            hub.ingest("sbirs", [])  # the link exists
            agreement_service.add_event(node.deps, ADMIN, "USA-KOR-GSOMIA", {
                "kind": "TERMINATED", "date": NOW.date().isoformat(), "by": "USA"})
            took = await within(BOUND_S, lambda: under_gsomia(hub) == [])
            assert "agreement.changed" in hub.policy_watch.last_reason
            assert "USA-KOR-GSOMIA" not in hub.policy.inbound.get("KOR", {})
            print(f"\nagreement terminated: routes gone after {took * 1000:.0f} ms "
                  f"(check every {CHECK_S * 1000:.0f} ms)")
        finally:
            await hub.stop()
    run(scenario())


def test_an_update_queued_before_the_termination_is_withdrawn(tmp_path: Path) -> None:
    node = Node(tmp_path)

    async def scenario() -> None:
        hub = await started(node)
        try:
            from liaison.domain.tracks import TrackUpdate
            update = TrackUpdate("T1", NOW, 39.0, 127.0, 9000.0, "a-h-A")
            assert hub.ingest("sbirs", [update])[0] == 1
            agreement_service.add_event(node.deps, ADMIN, "USA-KOR-GSOMIA", {
                "kind": "TERMINATED", "date": NOW.date().isoformat(), "by": "USA"})
            await within(BOUND_S, lambda: under_gsomia(hub) == [])
            link = hub.links["KOR"]
            assert link._take() == [] and link.stats.withdrawn == 1
        finally:
            await hub.stop()
    run(scenario())


def test_a_feed_narrowed_without_the_route_asking_takes_effect(tmp_path: Path) -> None:
    """A feed changed by another worker or process (no ``hub.refresh()`` here)."""
    node = Node(tmp_path)
    node.trust("JPN")

    async def scenario() -> None:
        hub = await started(node)
        try:
            assert sorted(routed(hub)) == ["JPN", "KOR"]
            narrowed = {**FEED, "label": {**FEED["label"], "rel_to": ["USA", "KOR"]}}
            track_service.register_feed(node.deps, _officer(), narrowed)
            await within(BOUND_S, lambda: routed(hub) == ["KOR"])
            assert "track_feed.registered" in hub.policy_watch.last_reason
        finally:
            await hub.stop()
    run(scenario())


def test_a_peer_added_is_taken_within_one_check(tmp_path: Path) -> None:
    node = Node(tmp_path)

    async def scenario() -> None:
        hub = await started(node)
        try:
            assert "JPN" not in hub.peers
            node.trust("JPN")
            await within(BOUND_S, lambda: "JPN" in hub.peers and "JPN" in routed(hub))
        finally:
            await hub.stop()
    run(scenario())


def test_the_date_ending_an_agreement_takes_effect(tmp_path: Path) -> None:
    """Notice given: the agreement ends on a date; nothing is written on that date."""
    node = Node(tmp_path)

    async def scenario() -> None:
        hub = await started(node)
        try:
            end = NOW.date() + timedelta(days=3)
            agreement_service.add_event(node.deps, ADMIN, "USA-KOR-GSOMIA", {
                "kind": "TERMINATED", "date": end.isoformat(), "by": "USA"})
            await within(BOUND_S, lambda: "agreement.changed" in
                         hub.policy_watch.last_reason)
            assert under_gsomia(hub) == ["KOR"]  # still in force until then
            recomputes = hub.policy_watch.recomputes
            node.now = datetime.combine(end + timedelta(days=1), NOW.time(), UTC)
            await within(BOUND_S, lambda: under_gsomia(hub) == [])
            assert hub.policy_watch.recomputes == recomputes + 1
            assert "the date is now" in hub.policy_watch.last_reason
        finally:
            await hub.stop()
    run(scenario())


def test_a_safety_refresh_runs_at_a_low_rate(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer that forgot to audit is still caught, by the (rare) safety refresh."""
    node = Node(tmp_path)
    monkeypatch.setattr(policy_watch, "SAFETY_S", 0.3)

    async def scenario() -> None:
        hub = await started(node)
        try:
            with node.deps.uow() as uow:  # an unaudited write
                uow.tracks.put_feed("sbirs", {**FEED, "label": {
                    **FEED["label"], "rel_to": ["USA"]}}, NOW)
                uow.commit()
            await within(BOUND_S, lambda: routed(hub) == [])
            assert "safety refresh" in hub.policy_watch.last_reason
        finally:
            await hub.stop()
    run(scenario())


def test_a_failed_snapshot_is_retried_at_the_next_check(tmp_path: Path) -> None:
    node = Node(tmp_path)
    reason, _ = policy_watch.PolicyWatch().check(
        node.deps, track_service.TrackPolicy(NOW.date(), "USA", error="boom"))
    assert "boom" in reason


def test_ledger_moves_matter_only_with_a_reciprocity_limit() -> None:
    assert not policy_watch.names_an_input("release.reviewed", reciprocity=False)
    assert policy_watch.names_an_input("release.reviewed", reciprocity=True)
    for action in ("agreement.changed", "agreement.added", "peer.added", "party.imported",
                   "track_feed.registered", "consent.recorded", "area.saved",
                   "envelope.received"):
        assert policy_watch.names_an_input(action, reciprocity=False), action
    for action in ("auth.login", "item.created", "talks.chat", "user.created"):
        assert not policy_watch.names_an_input(action, reciprocity=True), action
