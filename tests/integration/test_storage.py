"""The storage contract, on SQLite (a file) and PostgreSQL, with the in-memory twin held to
the same contract: every repository round-trips real domain objects, uncommitted work is
discarded, duplicates are ``Conflict``, the audit chain stays one chain under concurrent
writers, and the migrations build exactly the tables the code declares."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from liaison.crypto.envelope import raw_public
from liaison.crypto.keys import Card, b64, sign_card
from liaison.domain import codec
from liaison.domain.agreements import Agreement
from liaison.domain.audit import verify_chain
from liaison.domain.items import Item
from liaison.domain.labels import Clearance
from liaison.domain.ledger import Direction, LedgerEntry
from liaison.domain.parties import default_parties
from liaison.domain.release import decide
from liaison.domain.release_basis import basis_of
from liaison.domain.release_facts import Consent, ReleaseFacts
from liaison.domain.review import ReleaseRequest, RequestState, open_request, required_reviews
from liaison.domain.users import Role, User
from liaison.services.ports import (
    Conflict,
    PartnerRequest,
    Peer,
    StoredConsent,
    StoredItem,
    TokenRecord,
    UnitOfWork,
)
from liaison.storage.engine import make_engine, sqlite_url_for
from liaison.storage.schema import migrate
from liaison.storage.tables import SEARCH_INDEX_OBJECTS, metadata
from liaison.storage.unit_of_work import SqlUnitOfWork, uow_factory
from tests.twins import MemoryState, MemoryUnitOfWork

UowFactory = Callable[[], UnitOfWork]
POSTGRES = pytest.param("postgres", marks=pytest.mark.postgres)
PARTIES = default_parties()
KOR = PARTIES["KOR"]
NOW = datetime(2019, 11, 23, 9, tzinfo=UTC)
SEED: list[dict[str, Any]] = yaml.safe_load(
    resources.files("liaison.reference").joinpath("seed.yaml").read_text(encoding="utf-8")
)["agreements"]
GBR: dict[str, Any] = {
    "code": "GBR", "name": "United Kingdom", "unclassified": "OFFICIAL",
    "levels": [{"name": "TOP SECRET", "mark": "TS"}, {"name": "SECRET", "mark": "S"}],
    "secret_level": "SECRET"}
KOR_GBR: dict[str, Any] = {
    "id": "KOR-GBR-GSOMIA", "kind": "GSOMIA", "title": "Korea–UK GSOMIA",
    "parties": ["KOR", "GBR"],
    "table": [{"common": "SECRET", "levels": {"KOR": ["군사II급비밀"], "GBR": ["SECRET"]}}],
    "events": [{"kind": "SIGNED", "date": "2021-01-01"},
               {"kind": "ENTERED_INTO_FORCE", "date": "2021-01-01"}]}


# --- backends ----------------------------------------------------------------------


def _engine_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "sqlite":
        return sqlite_url_for(tmp_path)
    url: str = request.getfixturevalue("postgres_db_url")
    return url


@pytest.fixture(params=["sqlite", POSTGRES])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A migrated, empty database."""
    eng = make_engine(_engine_url(request.param, request, tmp_path))
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture(params=["memory", "sqlite", POSTGRES])
def uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UowFactory]:
    """Fresh units of work over an empty store, SQL or the in-memory twin."""
    if request.param == "memory":
        state = MemoryState()
        yield lambda: MemoryUnitOfWork(state)
        return
    eng = make_engine(_engine_url(request.param, request, tmp_path))
    migrate(eng)
    yield uow_factory(eng)
    eng.dispose()


# --- domain objects ----------------------------------------------------------------


def seed_agreements() -> list[Agreement]:
    return [codec.agreement_from(a, PARTIES) for a in SEED]


def make_item(item_id: str, level: str = "군사II급비밀", topic: str = "DPRK/missile") -> Item:
    label = {"policy": "KOR", "classification": level, "originator": "KOR",
             "created": "2019-10-31T08:00:00Z", "rel_to": ["JPN", "USA"]}
    return codec.item_from({
        "id": item_id, "discipline": "HUMINT", "topic": topic, "grade": "B2",
        "title": f"report {item_id}", "reported_at": "2019-10-31T08:00:00+09:00",
        "place": {"lat": 39.0, "lon": 125.7, "name": "Pyongyang"},
        "portions": [{"id": "p1", "content": "two projectiles", "label": label}]},
        PARTIES, "KOR")


def rank(level: str) -> int:
    return KOR.scheme.level(level).rank


def release_request(request_id: str, item: Item, at: datetime) -> ReleaseRequest:
    on = date(2019, 11, 23)
    decision = decide(item, "JPN", on, ReleaseFacts(KOR, PARTIES, tuple(seed_agreements())))
    return open_request(request_id=request_id, item_id=item.id, recipient="JPN",
                        purpose="warning", requested_by="lee", requested_at=at,
                        decision=decision,
                        required=required_reviews(rank("군사II급비밀"), KOR.two_person_rank),
                        basis=basis_of(item, decision,
                                       ReleaseFacts(KOR, PARTIES, tuple(seed_agreements())), on))


def signed_peer(party: str) -> Peer:
    key = Ed25519PrivateKey.generate()
    card = sign_card(Card(party, f"https://{party.lower()}.example:8443",
                          b64(raw_public(key.public_key())), (), ()), key)
    return Peer(party, card.address, card.fingerprint, card, NOW)


def person(username: str, rank: int = 3) -> User:
    return User(username, username.title(), frozenset({Role.ANALYST, Role.REVIEWER}),
                Clearance(rank, frozenset({"K1"}), frozenset({"DPRK"})))


# --- round trips -------------------------------------------------------------------


def test_parties_and_agreements_round_trip(uow: UowFactory) -> None:
    gbr = codec.party_from(GBR)
    kor_gbr = codec.agreement_from(KOR_GBR, {**PARTIES, "GBR": gbr})
    with uow() as u:
        for a in seed_agreements():
            u.agreements.put(a)
        assert len(u.agreements.list()) == len(SEED)
        u.parties.put(gbr)
        u.parties.put(KOR)
        u.agreements.put(kor_gbr)
        assert u.agreements.get("KOR-GBR-GSOMIA") == kor_gbr
        u.commit()
    renamed = replace(seed_agreements()[0], title="renamed")
    with uow() as u:
        assert u.parties.get("GBR") == gbr
        assert u.parties.get("FRA") is None
        assert [p.code for p in u.parties.list()] == ["GBR", "KOR"]
        assert u.agreements.get(renamed.id) == seed_agreements()[0]
        u.agreements.put(renamed)
        u.commit()
    with uow() as u:
        stored = u.agreements.list()
        assert [a.id for a in stored] == sorted([a["id"] for a in SEED] + ["KOR-GBR-GSOMIA"])
        assert u.agreements.get(renamed.id) == renamed
        assert u.agreements.get("nope") is None


def test_items_round_trip_filter_order_and_replace(uow: UowFactory) -> None:
    secret, confidential = "군사II급비밀", "군사III급비밀"
    rows = [StoredItem(make_item("A", secret), "kim", NOW),
            StoredItem(make_item("B", confidential), "kim", NOW + timedelta(hours=1)),
            StoredItem(make_item("C", confidential), "lee", NOW + timedelta(hours=1))]
    with uow() as u:
        for s in rows:
            u.items.add(s, rank(s.item.portions[0].label.classification))
        with pytest.raises(Conflict, match="item A"):
            u.items.add(rows[0], rank(secret))
        u.commit()
    with uow() as u:
        got = u.items.get("A")
        assert got == rows[0]
        assert got is not None
        assert got.created_at.tzinfo is not None
        assert got.created_at.utcoffset() == timedelta(0)
        assert u.items.get("nope") is None
        assert u.items.count() == 3
        assert [s.item.id for s in u.items.list(max_min_rank=9, limit=10, offset=0)] == \
            ["B", "C", "A"]
        assert [s.item.id for s in u.items.list(max_min_rank=rank(confidential), limit=10,
                                                offset=0)] == ["B", "C"]
        assert [s.item.id for s in u.items.list(max_min_rank=9, limit=1, offset=1)] == ["C"]
        remarked = replace(make_item("A", confidential, topic="DPRK/nuclear"))
        u.items.replace(StoredItem(remarked, "someone else", NOW + timedelta(days=9)),
                        rank(confidential))
        u.items.replace(StoredItem(make_item("Z"), "kim", NOW), rank(secret))
        u.items.remove("C")
        u.commit()
    with uow() as u:
        assert u.items.get("A") == StoredItem(remarked, "kim", NOW)
        assert u.items.get("Z") is None
        assert u.items.get("C") is None
        assert [s.item.id for s in u.items.list(max_min_rank=rank(confidential), limit=10,
                                                offset=0)] == ["B", "A"]


def test_release_requests_round_trip(uow: UowFactory) -> None:
    item = make_item("R1")
    first = release_request("r1", item, NOW)
    second = release_request("r2", item, NOW + timedelta(minutes=5))
    with uow() as u:
        u.releases.add(first)
        u.releases.add(second)
        with pytest.raises(Conflict, match="release request r1"):
            u.releases.add(first)
        u.commit()
    withdrawn = replace(first, state=RequestState.WITHDRAWN, state_reason="no longer needed")
    with uow() as u:
        assert u.releases.get("r1") == first
        assert u.releases.get("nope") is None
        u.releases.update(withdrawn)
        u.commit()
    with uow() as u:
        assert u.releases.get("r1") == withdrawn
        assert u.releases.list(state=None, limit=10, offset=0) == [second, withdrawn]
        assert u.releases.list(state="pending", limit=10, offset=0) == [second]
        assert u.releases.list(state=None, limit=10, offset=1) == [withdrawn]


def test_consents_and_ledger_round_trip(uow: UowFactory) -> None:
    consents = [StoredConsent(f"c{i}", Consent("USA", "JPN", "I1", "warning", "col. smith",
                                               date(2019, 11, 20 + i)), "lee",
                              NOW + timedelta(minutes=i)) for i in range(3)]
    entries = [LedgerEntry("KOR-JPN-GSOMIA", "JPN", Direction.GIVEN, "SECRET", "HUMINT", "I1",
                           NOW),
               LedgerEntry("KOR-JPN-GSOMIA", "JPN", Direction.RECEIVED, "CONFIDENTIAL",
                           "SIGINT", "J7", NOW + timedelta(hours=1)),
               LedgerEntry("USA-KOR-GSOMIA", "USA", Direction.GIVEN, "SECRET", "HUMINT", "I1",
                           NOW + timedelta(hours=2))]
    with uow() as u:
        for c in reversed(consents):
            u.consents.add(c)
        with pytest.raises(Conflict, match="consent c1"):
            u.consents.add(consents[1])
        for e in entries:
            u.ledger.add(e)
        u.commit()
    with uow() as u:
        assert u.consents.list() == consents
        assert u.ledger.list() == entries
        assert u.ledger.list(agreement_id="KOR-JPN-GSOMIA") == entries[:2]
        assert u.ledger.list(partner="USA") == entries[2:]
        assert u.ledger.list(agreement_id="KOR-JPN-GSOMIA", partner="USA") == []


def test_users_tokens_and_settings_round_trip(uow: UowFactory) -> None:
    kim, lee = person("kim"), replace(person("lee", 1), roles=frozenset({Role.ADMIN}))
    lee = replace(lee, clearance=Clearance(1))
    session = TokenRecord("a" * 64, "kim", "session", "browser", NOW, NOW + timedelta(hours=8))
    api = TokenRecord("b" * 64, "kim", "api", "script", NOW + timedelta(minutes=1), None)
    with uow() as u:
        u.users.add(lee, None)
        u.users.add(kim, "$argon2id$hash")
        with pytest.raises(Conflict, match="user kim"):
            u.users.add(kim, None)
        u.tokens.add(api)
        u.tokens.add(session)
        with pytest.raises(Conflict, match="token"):
            u.tokens.add(session)
        u.settings.put("node.party", "KOR")
        u.settings.put("node.party", "USA")
        u.commit()
    with uow() as u:
        assert u.users.get("kim") == kim
        assert u.users.get("nobody") is None
        assert u.users.list() == [kim, lee]
        assert u.users.password_hash("kim") == "$argon2id$hash"
        assert u.users.password_hash("lee") is None
        u.users.set_password_hash("lee", "$argon2id$other")
        u.users.update(replace(kim, disabled=True))
        assert u.tokens.get("a" * 64) == session
        assert u.tokens.get("c" * 64) is None
        assert u.tokens.list("kim") == [session, api]
        u.tokens.revoke("a" * 64)
        assert u.settings.get("node.party") == "USA"
        assert u.settings.get("missing") is None
        u.commit()
    with uow() as u:
        assert u.users.password_hash("lee") == "$argon2id$other"
        user = u.users.get("kim")
        assert user is not None
        assert user.disabled
        assert u.tokens.list("kim") == [replace(session, revoked=True), api]


def test_peers_outbox_and_inbox_round_trip(uow: UowFactory) -> None:
    jpn, usa = signed_peer("JPN"), signed_peer("USA")
    with uow() as u:
        u.peers.put(usa)
        u.peers.put(jpn)
        m1 = u.outbox.enqueue(message_id="m1", peer="JPN", kind="release",
                              payload={"n": 1}, at=NOW)
        m2 = u.outbox.enqueue(message_id="m2", peer="JPN", kind="release",
                              payload={"n": 2}, at=NOW + timedelta(seconds=1))
        m3 = u.outbox.enqueue(message_id="m3", peer="USA", kind="receipt",
                              payload={"n": 3}, at=NOW + timedelta(seconds=2))
        with pytest.raises(Conflict, match="message m1"):
            u.outbox.enqueue(message_id="m1", peer="USA", kind="x", payload={}, at=NOW)
        u.inbox.add(sender="JPN", message_id="x1", seq=1, kind="release", envelope_id="e1",
                    outcome="accepted", reason="", at=NOW)
        u.inbox.add(sender="JPN", message_id="x2", seq=2, kind="release", envelope_id="e2",
                    outcome="refused", reason="unknown agreement", at=NOW)
        u.inbox.add(sender="USA", message_id="x1", seq=7, kind="release", envelope_id="e3",
                    outcome="accepted", reason="", at=NOW)
        with pytest.raises(Conflict, match="message x1 from JPN"):
            u.inbox.add(sender="JPN", message_id="x1", seq=3, kind="release",
                        envelope_id="e4", outcome="accepted", reason="", at=NOW)
        u.commit()
    assert [(m.peer, m.seq, m.state) for m in (m1, m2, m3)] == \
        [("JPN", 1, "pending"), ("JPN", 2, "pending"), ("USA", 1, "pending")]
    with uow() as u:
        assert u.peers.get("JPN") == jpn
        assert u.peers.get("CHN") is None
        assert u.peers.list() == [jpn, usa]
        assert u.outbox.pending("JPN", 10) == [m1, m2]
        assert u.outbox.pending("JPN", 1) == [m1]
        assert u.outbox.peers_with_pending() == ["JPN", "USA"]
        u.outbox.settle("m1", "delivered", NOW + timedelta(minutes=1), {"ok": True})
        u.outbox.settle_all([("m2", "refused", {"why": "closed"}), ("m3", "delivered", {})],
                            NOW + timedelta(minutes=2))
        u.outbox.settle("m1", "refused", NOW + timedelta(minutes=3), {"late": True})
        u.outbox.settle("unknown", "delivered", NOW, {})
        u.commit()
    with uow() as u:
        assert u.outbox.count() == 3
        assert u.outbox.count(state="pending") == 0
        assert u.outbox.count(peer="JPN", state="delivered") == 1
        assert u.outbox.peers_with_pending() == []
        assert u.outbox.list(peer=None, limit=10) == [
            replace(m3, state="delivered", attempts=1,
                    delivered_at=NOW + timedelta(minutes=2), receipt={}),
            replace(m2, state="refused", attempts=1,
                    delivered_at=NOW + timedelta(minutes=2), receipt={"why": "closed"}),
            replace(m1, state="delivered", attempts=1,
                    delivered_at=NOW + timedelta(minutes=1), receipt={"ok": True})]
        assert [m.id for m in u.outbox.list(peer="JPN", limit=1)] == ["m2"]
        assert u.inbox.seen("JPN", "x1")
        assert not u.inbox.seen("JPN", "x9")
        assert u.inbox.seen_many("JPN", {"x1", "x2", "x9"}) == {"x1", "x2"}
        assert u.inbox.seen_many("JPN", set()) == set()
        assert (u.inbox.count(), u.inbox.count(sender="JPN")) == (3, 2)
        assert (u.inbox.last_seq("JPN"), u.inbox.last_seq("USA"), u.inbox.last_seq("CHN")) == \
            (2, 7, 0)
        assert [(r.sender, r.message_id, r.reason) for r in u.inbox.refused(None, 10)] == \
            [("JPN", "x2", "unknown agreement")]
        assert u.inbox.refused("USA", 10) == []


def test_partner_requests_and_hotline_round_trip(uow: UowFactory) -> None:
    out = PartnerRequest("q1", "rfi", "outgoing", "JPN", "open", {"question": "launch site?"},
                         NOW, NOW)
    inc = replace(out, direction="incoming", created_at=NOW + timedelta(minutes=1),
                  updated_at=NOW + timedelta(minutes=1))
    consent = PartnerRequest("q2", "consent", "incoming", "USA", "open", {"item": "I1"},
                             NOW + timedelta(minutes=2), NOW + timedelta(minutes=2))
    channel = {"id": "KOR-JPN", "parties": ["KOR", "JPN"], "state": "open"}
    with uow() as u:
        for r in (out, inc, consent):
            u.requests.put(r)
        u.hotline.put_channel("KOR-JPN", channel)
        u.hotline.put_traffic("KOR-JPN", "KOR", 1, "message", {"text": "hello"}, NOW)
        u.hotline.put_traffic("KOR-JPN", "JPN", 1, "check_call", {"text": "check"},
                              NOW + timedelta(seconds=1))
        u.hotline.put_traffic("KOR-JPN", "KOR", 2, "message", {"text": "again"},
                              NOW + timedelta(seconds=2))
        u.commit()
    answered = replace(out, state="answered", data={"answer": "north"},
                       updated_at=NOW + timedelta(hours=1))
    with uow() as u:
        assert u.requests.get("q1", "outgoing") == out
        assert u.requests.get("q1", "incoming", "JPN") == inc
        assert u.requests.get("q1", "incoming", "USA") is None  # keyed by sender too
        assert u.requests.get("q2", "outgoing") is None
        assert u.requests.with_id("q1", "incoming") == [inc]
        same_id = replace(consent, id="q1", party="CHN",  # another partner's q1
                          created_at=NOW + timedelta(seconds=90))
        u.requests.put(same_id)
        assert u.requests.with_id("q1", "incoming") == [same_id, inc]
        assert u.requests.with_id("q1", "outgoing") == [out]
        u.requests.put(answered)
        u.hotline.put_channel("KOR-JPN", {**channel, "state": "severed"})
        u.hotline.put_traffic("KOR-JPN", "KOR", 2, "message", {"text": "again", "ack": "JPN"},
                              NOW + timedelta(seconds=2))
        u.commit()
    with uow() as u:
        same_id = replace(consent, id="q1", party="CHN", created_at=NOW + timedelta(seconds=90))
        assert u.requests.list(kind=None, direction=None) == [consent, same_id, inc, answered]
        assert u.requests.list(kind="rfi", direction="outgoing") == [answered]
        assert u.requests.list(kind=None, direction="incoming") == [consent, same_id, inc]
        assert u.hotline.channel("KOR-JPN") == {**channel, "state": "severed"}
        assert u.hotline.channel("KOR-CHN") is None
        assert u.hotline.channels() == [{**channel, "state": "severed"}]
        assert [(m["sender"], m["seq"], m["kind"]) for m in u.hotline.traffic("KOR-JPN")] == \
            [("KOR", 1, "message"), ("JPN", 1, "check_call"), ("KOR", 2, "message")]
        assert u.hotline.get_traffic("KOR-JPN", "KOR", 2) == {
            "text": "again", "ack": "JPN", "sender": "KOR", "seq": 2, "kind": "message"}
        assert u.hotline.get_traffic("KOR-JPN", "KOR", 3) is None
        assert u.hotline.last_seq("KOR-JPN", "KOR") == 2
        assert u.hotline.last_seq("KOR-JPN", "CHN") == 0


# --- transactions ------------------------------------------------------------------


def test_tracks_feeds_numbers_launches_areas_alerts(uow: UowFactory) -> None:
    with uow() as u:
        u.tracks.put_feed("radar", {"name": "radar", "v": 1}, NOW)
        u.tracks.put_feed("radar", {"name": "radar", "v": 2}, NOW)
        first = u.tracks.number_for("feed:radar", "T1", NOW)
        assert u.tracks.number_for("feed:radar", "T1", NOW) == first
        second = u.tracks.number_for("peer:USA", "T1", NOW)
        u.tracks.add_launch("L1", 1, {"id": "L1", "revision": 1}, NOW)
        u.tracks.add_launch("L1", 2, {"id": "L1", "revision": 2}, NOW + timedelta(seconds=1))
        with pytest.raises(Conflict, match="launch event L1 revision 2"):
            u.tracks.add_launch("L1", 2, {"id": "L1", "revision": 99}, NOW)
        u.tracks.put_area("A1", {"id": "A1"}, NOW)
        u.tracks.add_alert("X1", "A1", {"id": "X1"}, NOW)
        u.commit()
    with uow() as u:
        assert u.tracks.feeds() == [{"name": "radar", "v": 2}]
        assert second != first  # each source numbers its own tracks, in its own block
        assert u.tracks.numbers() == {("feed:radar", "T1"): first, ("peer:USA", "T1"): second}
        assert u.tracks.number_for("feed:radar", "T2", NOW) == first + 1
        assert u.tracks.launches(10) == [{"id": "L1", "revision": 2}]
        assert [h["revision"] for h in u.tracks.launch_history("L1")] == [1, 2]
        assert u.tracks.areas() == [{"id": "A1"}]
        assert u.tracks.remove_area("A1") and not u.tracks.remove_area("A1")
        assert u.tracks.alerts(10) == [{"id": "X1"}]


def fill(u: UnitOfWork) -> None:
    """One write in most repositories."""
    u.settings.put("k", "v")
    u.items.add(StoredItem(make_item("I1"), "kim", NOW), rank("군사II급비밀"))
    u.users.add(person("kim"), None)
    u.ledger.add(LedgerEntry("KOR-JPN-GSOMIA", "JPN", Direction.GIVEN, "SECRET", "HUMINT",
                             "I1", NOW))
    u.audit.append(at=NOW, actor="kim", action="item.create", subject="I1", details={})
    u.outbox.enqueue(message_id="m1", peer="JPN", kind="release", payload={}, at=NOW)
    u.hotline.put_channel("KOR-JPN", {"id": "KOR-JPN"})


def fill_then_fail(uow: UowFactory) -> None:
    with uow() as u:
        fill(u)
        raise RuntimeError("boom")


def assert_empty(u: UnitOfWork) -> None:
    assert u.settings.get("k") is None
    assert u.items.count() == 0
    assert u.users.list() == []
    assert u.ledger.list() == []
    assert u.audit.count() == 0
    assert u.outbox.count() == 0
    assert u.hotline.channels() == []


def test_leaving_without_commit_discards_everything(uow: UowFactory) -> None:
    with uow() as u:
        fill(u)
    with pytest.raises(RuntimeError, match="boom"):
        fill_then_fail(uow)
    with uow() as u:
        assert_empty(u)


def test_commit_publishes_and_a_conflict_leaves_the_transaction_usable(
        uow: UowFactory) -> None:
    with uow() as u:
        fill(u)
        with pytest.raises(Conflict, match="user kim already exists"):
            u.users.add(person("kim"), None)
        u.settings.put("after", "conflict")
        u.commit()
    with uow() as u:
        assert u.settings.get("after") == "conflict"
        assert u.items.count() == 1
        assert u.audit.count() == 1


def test_audit_chain_of_fifty_appends_verifies(uow: UowFactory) -> None:
    other_zone = timezone(timedelta(hours=9))
    for batch in range(10):
        with uow() as u:
            for i in range(5):
                n = batch * 5 + i
                record = u.audit.append(at=(NOW + timedelta(seconds=n)).astimezone(other_zone),
                                        actor="kim", action="item.view", subject=f"I{n}",
                                        details={"n": n, "when": NOW, "tags": ["a", "b"]})
                assert record.seq == n
            u.commit()
    with uow() as u:
        records = u.audit.list()
        assert u.audit.count() == 50
        assert [r.seq for r in u.audit.list(after_seq=44, limit=3)] == [45, 46, 47]
    assert verify_chain(records, expected_count=50).ok
    assert records[7].at == NOW + timedelta(seconds=7)
    assert records[7].details == {"n": 7, "when": str(NOW), "tags": ["a", "b"]}


# --- SQL only ----------------------------------------------------------------------


def test_migrations_build_exactly_the_declared_tables(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _declared})
        diff = compare_metadata(context, metadata)
    assert diff == []


def _declared(obj: object, name: str | None, kind: str, reflected: bool,
              compare_to: object) -> bool:
    """The search engines' own objects (FTS5 tables, tsvector column) are built by the
    migration alone."""
    return name not in SEARCH_INDEX_OBJECTS


def test_migrating_again_changes_nothing(engine: sa.Engine) -> None:
    with SqlUnitOfWork(engine) as u:
        u.settings.put("kept", "yes")
        u.commit()
    migrate(engine)
    with SqlUnitOfWork(engine) as u:
        assert u.settings.get("kept") == "yes"


def test_naive_timestamps_are_refused(engine: sa.Engine) -> None:
    with SqlUnitOfWork(engine) as u, pytest.raises(sa.exc.StatementError, match="naive"):
        u.ledger.add(LedgerEntry("A", "JPN", Direction.GIVEN, "SECRET", "HUMINT", "I1",
                                 datetime(2019, 11, 23, 9)))


def test_sqlite_is_wal_synchronous_full_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url_for(tmp_path))
    try:
        with engine.connect() as conn:
            pragma = conn.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == 2
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == 10000
    finally:
        engine.dispose()
    assert (tmp_path / "liaison.db").exists()


def test_concurrent_audit_appends_keep_one_chain(engine: sa.Engine) -> None:
    """Writers serialise on the chain head: 4 threads x 25 appends, one unbroken chain."""
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for i in range(25):
                with SqlUnitOfWork(engine) as u:
                    u.audit.append(at=datetime.now(UTC), actor=name, action="x",
                                   subject=f"s{i}", details={"i": i})
                    u.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with SqlUnitOfWork(engine) as u:
        records = u.audit.list(limit=1000)
    assert len(records) == 100
    assert verify_chain(records).ok
    assert {r.actor for r in records} == {"w0", "w1", "w2", "w3"}
