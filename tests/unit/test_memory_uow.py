"""The in-memory unit of work keeps the SQL one's contract: work is visible to later units
only after ``commit``, leaving without it discards everything, duplicates are ``Conflict``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.twins import MemoryState, MemoryUnitOfWork

from liaison.domain.audit import verify_chain
from liaison.domain.labels import Clearance
from liaison.domain.users import Role, User
from liaison.services.ports import Conflict, StoredItem, TokenRecord

from factories import item, label

NOW = datetime(2019, 11, 23, 9, tzinfo=UTC)
KIM = User("kim", "Kim", frozenset({Role.ANALYST}), Clearance(3))


def stored(item_id: str = "I1") -> StoredItem:
    return StoredItem(item(label("군사II급비밀", rel_to={"JPN"}), item_id=item_id), "kim", NOW)


def audit(u: MemoryUnitOfWork, subject: str) -> None:
    u.audit.append(at=NOW, actor="kim", action="x", subject=subject, details={})


def add_user_then_fail(state: MemoryState) -> None:
    with MemoryUnitOfWork(state) as u:
        u.users.add(KIM, None)
        raise RuntimeError("boom")


@pytest.fixture
def state() -> MemoryState:
    return MemoryState()


def test_commit_makes_the_work_visible(state: MemoryState) -> None:
    with MemoryUnitOfWork(state) as u:
        u.items.add(stored(), 2)
        u.settings.put("k", "v")
        audit(u, "I1")
        u.commit()
    with MemoryUnitOfWork(state) as u:
        assert u.items.get("I1") == stored()
        assert u.settings.get("k") == "v"
        assert u.audit.count() == 1


def test_leaving_without_commit_discards(state: MemoryState) -> None:
    with MemoryUnitOfWork(state) as u:
        u.settings.put("k", "v")
        audit(u, "lost")
    with pytest.raises(RuntimeError, match="boom"):
        add_user_then_fail(state)
    with MemoryUnitOfWork(state) as u:
        assert u.settings.get("k") is None
        assert u.users.get("kim") is None
        assert u.audit.count() == 0


def test_work_after_the_commit_is_discarded(state: MemoryState) -> None:
    with MemoryUnitOfWork(state) as u:
        u.settings.put("k", "committed")
        u.commit()
        u.settings.put("k", "not committed")
    with MemoryUnitOfWork(state) as u:
        assert u.settings.get("k") == "committed"


def test_a_unit_of_work_sees_the_state_as_it_began(state: MemoryState) -> None:
    with MemoryUnitOfWork(state) as reader:
        with MemoryUnitOfWork(state) as writer:
            writer.settings.put("k", "v")
            writer.commit()
        assert reader.settings.get("k") is None
    with MemoryUnitOfWork(state) as later:
        assert later.settings.get("k") == "v"


def test_duplicates_are_conflicts_naming_the_key(state: MemoryState) -> None:
    token = TokenRecord("a" * 64, "kim", "api", "script", NOW, None)
    with MemoryUnitOfWork(state) as u:
        u.items.add(stored(), 2)
        u.users.add(KIM, None)
        u.tokens.add(token)
        u.inbox.add(sender="JPN", message_id="m1", seq=1, kind="release", envelope_id="e1",
                    outcome="accepted", reason="", at=NOW)
        u.outbox.enqueue(message_id="o1", peer="JPN", kind="release", payload={}, at=NOW)
        with pytest.raises(Conflict, match="item I1"):
            u.items.add(stored(), 3)
        with pytest.raises(Conflict, match="user kim"):
            u.users.add(KIM, "hash")
        with pytest.raises(Conflict, match="token"):
            u.tokens.add(token)
        with pytest.raises(Conflict, match="message m1 from JPN"):
            u.inbox.add(sender="JPN", message_id="m1", seq=2, kind="release",
                        envelope_id="e2", outcome="accepted", reason="", at=NOW)
        with pytest.raises(Conflict, match="message o1"):
            u.outbox.enqueue(message_id="o1", peer="USA", kind="release", payload={}, at=NOW)
        u.commit()
    with MemoryUnitOfWork(state) as u:
        assert u.users.password_hash("kim") is None
        assert u.items.list(max_min_rank=2, limit=10, offset=0) == [stored()]
        assert u.inbox.last_seq("JPN") == 1
        assert u.outbox.count(peer="USA") == 0


def test_audit_appends_form_one_chain_across_units(state: MemoryState) -> None:
    for batch in range(5):
        with MemoryUnitOfWork(state) as u:
            for i in range(10):
                audit(u, f"s{batch}.{i}")
            u.commit()
    with MemoryUnitOfWork(state) as u:
        audit(u, "rolled back")
    with MemoryUnitOfWork(state) as u:
        records = u.audit.list()
    assert [r.seq for r in records] == list(range(50))
    assert verify_chain(records).ok


def test_updates_of_unknown_keys_change_nothing(state: MemoryState) -> None:
    with MemoryUnitOfWork(state) as u:
        u.users.update(KIM)
        u.users.set_password_hash("kim", "hash")
        u.tokens.revoke("a" * 64)
        u.items.replace(stored(), 2)
        u.outbox.settle("nope", "delivered", NOW, {})
        u.commit()
    with MemoryUnitOfWork(state) as u:
        assert u.users.list() == []
        assert u.items.count() == 0


def test_replace_keeps_who_created_the_item(state: MemoryState) -> None:
    later = NOW + timedelta(days=1)
    with MemoryUnitOfWork(state) as u:
        u.items.add(stored(), 2)
        u.items.replace(StoredItem(stored().item, "lee", later), 1)
        assert u.items.get("I1") == stored()
        assert u.items.list(max_min_rank=1, limit=10, offset=0) == [stored()]


def test_returned_hotline_data_is_a_copy(state: MemoryState) -> None:
    with MemoryUnitOfWork(state) as u:
        u.hotline.put_channel("KOR-JPN", {"state": "open"})
        found = u.hotline.channel("KOR-JPN")
        assert found is not None
        found["state"] = "tampered"
        assert u.hotline.channel("KOR-JPN") == {"state": "open"}
