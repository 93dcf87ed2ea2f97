"""Talks use cases on two nodes (in-memory twins, real node keys): what each side keeps of
the other's proposals, answers, minutes and live events, and what it refuses without
changing anything."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from memory_nodes import MemoryNode

from liaison.cli.demo.talks import MOU, TALKS
from liaison.domain.codec import agreement_from
from liaison.domain.labels import Clearance
from liaison.domain.parties import default_parties
from liaison.domain.users import Role, User
from liaison.services import talks
from liaison.services.errors import Forbidden, Invalid, NotFound, Refused

NOW = datetime(2021, 8, 5, 1, 0, tzinfo=UTC)  # 10:00 in Seoul, the talks' start
CHUN = User("chun", "Chun Hae-sung", frozenset({Role.DELEGATE}), Clearance(0))
KIM = User("kim", "", frozenset({Role.DELEGATE}), Clearance(0))  # talks team, not named
JON = User("jon", "Jon Jong-su", frozenset({Role.DELEGATE}), Clearance(0))
PROPOSAL = {k: v for k, v in TALKS.items() if k != "counterpart"}


class Node(MemoryNode):
    def __init__(self, party: str, root: Path) -> None:
        super().__init__(party, root, NOW, [agreement_from(MOU, default_parties())])

    def pending(self) -> list[Any]:
        return sorted((m for m in self.state.outbox.values() if m.state == "pending"),
                      key=lambda m: m.seq)

    def end_mou(self) -> None:
        """The MOU terminated yesterday (on this node's books)."""
        ended = {**MOU, "events": [*MOU["events"], {"kind": "TERMINATED", "date": str(
            (self.now - timedelta(days=1)).date()), "by": "PRK"}]}
        self.state.agreements[MOU["id"]] = agreement_from(ended, default_parties())

    def talks(self, talks_id: str) -> dict[str, Any]:
        return talks.view(self.deps, CHUN if self.party == "KOR" else JON, talks_id)

    def snapshot(self) -> Any:
        s = self.state
        return copy.deepcopy((s.talks, s.talks_events, s.outbox, len(s.audit)))


def deliver(sender: Node, receiver: Node) -> list[str | None]:
    """Apply the sender's pending messages at the receiver, in order, each in a unit of work
    that commits whatever the applier did (as the inbox does: a refusal must not have
    written anything). Returns each refusal's reason (None: accepted)."""
    reasons = []
    for m in sender.pending():
        with receiver.deps.uow() as uow:
            reasons.append(talks.APPLIERS[m.kind](uow, receiver.deps, sender.party,
                                                  copy.deepcopy(m.payload)))
            uow.commit()
        sender.state.outbox[m.id] = replace(m, state="delivered")
    return reasons


def refused(sender: Node, receiver: Node, kind: str, payload: dict[str, Any]) -> str:
    """A partner's message the receiver must refuse without changing anything."""
    before = receiver.snapshot()
    with receiver.deps.uow() as uow:
        reason = talks.APPLIERS[kind](uow, receiver.deps, sender.party, payload)
        uow.commit()
    assert reason, f"{kind} {payload} was accepted"
    after = receiver.snapshot()
    assert after[:3] == before[:3] and after[3] == before[3], "a refusal changed the state"
    return reason


@pytest.fixture
def nodes(tmp_path: Path) -> tuple[Node, Node]:
    kor, prk = Node("KOR", tmp_path), Node("PRK", tmp_path)
    kor.trust(prk)
    prk.trust(kor)
    return kor, prk


def accepted(kor: Node, prk: Node) -> str:
    t = talks.propose(kor.deps, CHUN, "PRK", copy.deepcopy(PROPOSAL))
    assert deliver(kor, prk) == [None]
    talks.answer(prk.deps, JON, t["id"], "accept", {"version": 1})
    assert deliver(prk, kor) == [None]
    return str(t["id"])


# --- 1. a start that cannot be shown --------------------------------------------------


def test_a_start_out_of_range_is_refused_before_anything_is_stored(
        nodes: tuple[Node, Node]) -> None:
    kor, _ = nodes
    with pytest.raises(Invalid, match=r"^proposal\.starts_at: 9999-12-31T23:59:59-12:00 is "
                                      "outside the years 2000–2100"):
        talks.propose(kor.deps, CHUN, "PRK", {**PROPOSAL,
                                               "starts_at": "9999-12-31T23:59:59-12:00"})
    assert (kor.state.talks, kor.state.outbox) == ({}, {})
    assert talks.list_talks(kor.deps, CHUN) == []


def test_a_partners_proposal_with_a_bad_start_is_refused_not_stored(
        nodes: tuple[Node, Node]) -> None:
    kor, prk = nodes
    talks.propose(kor.deps, CHUN, "PRK", copy.deepcopy(PROPOSAL))
    payload = copy.deepcopy(kor.pending()[0].payload)
    payload["talks"]["proposals"][0]["starts_at"] = "9999-12-31T23:59:59-12:00"
    reason = refused(kor, prk, "talks", payload)
    assert "starts_at" in reason and "2000–2100" in reason
    assert talks.list_talks(prk.deps, JON) == []


# --- 2. who joins the call ----------------------------------------------------------


def test_only_the_named_delegates_join_the_call(nodes: tuple[Node, Node]) -> None:
    kor, prk = nodes
    tid = accepted(kor, prk)
    talks.may_join(kor.deps, CHUN, tid)  # by display name
    talks.may_join(prk.deps, JON, tid)
    talks.may_join(kor.deps, replace(KIM, display_name="chun hae-sung"), tid)
    before = kor.snapshot()
    for kind, data in (("presence", {"action": "join"}), ("chat", {"text": "hello"}),
                       ("signal", {"to": "PRK:jon", "data": {"sdp": {}}})):
        with pytest.raises(Forbidden, match=r"^you are not on KOR's delegation for these "
                                            r"talks \(signed in as kim\)$"):
            talks.live_event(kor.deps, KIM, tid, kind, data)
    with pytest.raises(Forbidden, match="not on KOR's delegation"):
        talks.may_join(kor.deps, KIM, tid)
    assert kor.snapshot() == before
    # JON is on PRK's delegation, not KOR's: a PRK name does not let a KOR user in
    with pytest.raises(Forbidden, match="not on KOR's delegation"):
        talks.may_join(kor.deps, replace(KIM, display_name="Jon Jong-su"), tid)
    # the rest stays open to the talks team
    assert talks.view(kor.deps, KIM, tid)["state"] == "accepted"
    assert [t["id"] for t in talks.list_talks(kor.deps, KIM)] == [tid]
    talks.minutes(kor.deps, KIM, tid, {"agreed": ["Keep the lines open"]}, False)
    with pytest.raises(Forbidden, match="needs the role delegate"):
        talks.may_join(kor.deps, replace(CHUN, roles=frozenset({Role.ANALYST})), tid)


def test_a_partner_delegate_who_is_not_named_is_refused(nodes: tuple[Node, Node]) -> None:
    kor, prk = nodes
    tid = accepted(kor, prk)
    event = {"from": "PRK:ri", "name": "Ri Son-gwon", "action": "join"}
    reason = refused(prk, kor, "talks_live", {"talks_id": tid, "kind": "presence",
                                              "event": event})
    assert reason == f"PRK:ri (Ri Son-gwon) is not on PRK's delegation for talks {tid}"
    # PRK's delegation names "Jon Jong-su": the username "jon" alone is not on it
    assert "is not on PRK's delegation" in refused(prk, kor, "talks_live", {
        "talks_id": tid, "kind": "presence",
        "event": {"from": "PRK:jon", "name": "Somebody", "action": "join"}})
    with kor.deps.uow() as uow:  # named by the name the event carries
        assert talks.apply_live(uow, kor.deps, "PRK", {
            "talks_id": tid, "kind": "presence",
            "event": {"from": "PRK:ri", "name": "jon jong-su", "action": "join"}}) is None


# --- 3. both sides edit or sign the minutes at once ------------------------------------


def _minutes(node: Node) -> dict[str, Any]:
    data = next(iter(node.state.talks.values()))[1]
    assert data is not None
    return data


def test_two_edits_of_the_same_revision_keep_each_sides_text(
        nodes: tuple[Node, Node]) -> None:
    kor, prk = nodes
    tid = accepted(kor, prk)
    talks.minutes(kor.deps, CHUN, tid, {"outcomes": {"a1": "Lines tested"}}, False)
    assert deliver(kor, prk) == [None]  # revision 2 on both sides
    talks.minutes(kor.deps, CHUN, tid, {"agreed": ["KOR's point"]}, False, 2)
    talks.minutes(prk.deps, JON, tid, {"agreed": ["PRK's point"]}, False, 2)
    to_prk, to_kor = deliver(kor, prk), deliver(prk, kor)
    assert to_prk == ["revision 3 of the minutes was edited here (by PRK) and by KOR at "
                      "the same time; ours stands: reload and edit again"]
    assert to_kor == ["revision 3 of the minutes was edited here (by KOR) and by PRK at "
                      "the same time; ours stands: reload and edit again"]
    assert _minutes(kor)["agreed"] == ["KOR's point"]  # not swapped
    assert _minutes(prk)["agreed"] == ["PRK's point"]
    # the next edit is taken by both: they agree again
    talks.minutes(prk.deps, JON, tid, {"agreed": ["Both points"]}, False, 3)
    assert deliver(prk, kor) == [None]
    assert _minutes(kor) == _minutes(prk)
    assert _minutes(kor)["revision"] == 4


def test_two_signatures_made_at_once_both_count(nodes: tuple[Node, Node]) -> None:
    kor, prk = nodes
    tid = accepted(kor, prk)
    talks.minutes(kor.deps, CHUN, tid, {"agreed": ["Keep the lines open"]}, False)
    assert deliver(kor, prk) == [None]
    talks.minutes(kor.deps, CHUN, tid, None, True, 2)
    talks.minutes(prk.deps, JON, tid, None, True, 2)
    assert deliver(kor, prk) == deliver(prk, kor) == [None]
    for node, user in ((kor, CHUN), (prk, JON)):
        view = talks.view(node.deps, user, tid)
        assert view["minutes_sealed"]
        assert talks.verify_minutes(node.deps, user, tid) == {"KOR": "verified",
                                                              "PRK": "verified"}
    assert _minutes(kor) == _minutes(prk)
    with pytest.raises(Refused, match="cannot be signed again"):
        talks.minutes(kor.deps, CHUN, tid, None, True)


def test_an_edit_based_on_an_old_revision_is_refused(nodes: tuple[Node, Node]) -> None:
    kor, prk = nodes
    tid = accepted(kor, prk)
    talks.minutes(prk.deps, JON, tid, {"agreed": ["PRK's point"]}, False, 0)
    assert deliver(prk, kor) == [None]
    before = kor.snapshot()
    for revision in (0, 1, 3):
        with pytest.raises(Refused, match=r"^the minutes changed \(now revision 2\); reload "
                                          "and edit again$"):
            talks.minutes(kor.deps, CHUN, tid, {"agreed": ["KOR's point"]}, True, revision)
    assert kor.snapshot() == before
    talks.minutes(kor.deps, CHUN, tid, {"agreed": ["KOR's point"]}, False, 2)
    # asking for nothing new stores and sends nothing
    before = kor.snapshot()
    assert talks.minutes(kor.deps, CHUN, tid, None, False, 3)["minutes"]["revision"] == 3
    assert kor.snapshot() == before


def test_a_tampered_minutes_message_is_refused(nodes: tuple[Node, Node]) -> None:
    kor, prk = nodes
    tid = accepted(kor, prk)
    talks.minutes(prk.deps, JON, tid, {"agreed": ["Keep the lines open"]}, True)
    good = copy.deepcopy(prk.pending()[0].payload)
    tampered = copy.deepcopy(good)
    tampered["minutes"]["agreed"] = ["Keep the lines closed"]
    reason = refused(prk, kor, "talks_minutes", tampered)
    assert reason.startswith("PRK's signature") and "does not verify" in reason
    assert kor.state.talks[tid][1] is None
    # a signature filed in KOR's name, edits in KOR's name, minutes that do not fit
    forged = copy.deepcopy(good)
    forged["minutes"]["signatures"]["KOR"] = {**good["minutes"]["signatures"]["PRK"],
                                              "party": "KOR"}
    assert "KOR signed revision 2" in refused(prk, kor, "talks_minutes", forged)
    unsigned = copy.deepcopy(good)
    unsigned["minutes"]["signatures"] = {}
    for change, message in (
            ({"edited_by": "KOR"}, "PRK can only send its own edits"),
            ({"attendance": {"PRK": ["a"], "USA": ["b"]}}, "must name the parties KOR and"),
            ({"outcomes": {"a9": "x"}}, "a9 not in the accepted agenda"),
            ({"talks_id": "other"}, "minutes of talks 'other'")):
        bad = copy.deepcopy(unsigned)
        bad["minutes"].update(change)
        assert message in refused(prk, kor, "talks_minutes", bad)
    assert "no talks nope here" in refused(prk, kor, "talks_minutes",
                                           {**unsigned, "talks_id": "nope"})
    assert "malformed minutes" in refused(prk, kor, "talks_minutes", {"talks_id": tid})
    assert deliver(prk, kor) == [None]  # the genuine one is kept
    assert _minutes(kor)["agreed"] == ["Keep the lines open"]


# --- 5. the MOU, and ending the talks -----------------------------------------------


def test_without_the_mou_in_force_nothing_but_calling_off_goes_on(
        nodes: tuple[Node, Node]) -> None:
    kor, prk = nodes
    tid = accepted(kor, prk)
    talks.minutes(kor.deps, CHUN, tid, {"agreed": ["x"]}, False)
    minutes_msg = copy.deepcopy(kor.pending()[0].payload)
    kor.state.outbox.clear()
    kor.end_mou()
    prk.end_mou()
    no_mou = "no MOU in force today between KOR and PRK opens talks"
    before = kor.snapshot()
    with pytest.raises(Refused, match=no_mou):
        talks.live_event(kor.deps, CHUN, tid, "chat", {"text": "hello"})
    with pytest.raises(Refused, match=no_mou):
        talks.may_join(kor.deps, CHUN, tid)
    with pytest.raises(Refused, match=no_mou):
        talks.minutes(kor.deps, CHUN, tid, {"agreed": ["y"]}, False)
    assert kor.snapshot() == before
    no_mou_prk = "no MOU in force today between PRK and KOR opens talks"
    assert refused(kor, prk, "talks_minutes", minutes_msg) == no_mou_prk
    live = {"talks_id": tid, "kind": "chat",
            "event": {"from": "KOR:chun", "name": "Chun Hae-sung", "text": "hi"}}
    assert refused(kor, prk, "talks_live", live) == no_mou_prk
    # ending (like cancelling) needs no MOU
    talks.answer(kor.deps, CHUN, tid, "end", {"reason": "The MOU ended."})
    assert deliver(kor, prk) == [None]
    assert prk.talks(tid)["state"] == "ended"


def test_answers_need_the_mou_on_both_sides(nodes: tuple[Node, Node]) -> None:
    kor, prk = nodes
    t = talks.propose(kor.deps, CHUN, "PRK", copy.deepcopy(PROPOSAL))
    assert deliver(kor, prk) == [None]
    prk.end_mou()
    with pytest.raises(Refused, match="no MOU in force today between PRK and KOR"):
        talks.answer(prk.deps, JON, t["id"], "accept", {"version": 1})
    prk.state.agreements[MOU["id"]] = kor.state.agreements[MOU["id"]]
    talks.answer(prk.deps, JON, t["id"], "accept", {"version": 1})
    kor.end_mou()
    assert deliver(prk, kor) == ["no MOU in force today between KOR and PRK opens talks"]
    assert kor.talks(t["id"])["state"] == "proposed"
    # a cancellation still reaches the other side
    talks.answer(prk.deps, JON, t["id"], "cancel", {"reason": "No MOU."})
    assert deliver(prk, kor) == [None]
    assert kor.talks(t["id"])["state"] == "cancelled"


def test_ended_talks_take_no_signal_or_chat_but_keep_their_minutes(
        nodes: tuple[Node, Node]) -> None:
    kor, prk = nodes
    tid = accepted(kor, prk)
    talks.live_event(kor.deps, CHUN, tid, "presence", {"action": "join"})
    assert deliver(kor, prk) == [None]
    view = talks.answer(prk.deps, JON, tid, "end", {"reason": ""})
    assert (view["state"], view["answered_by"], view["reason"]) == ("ended", "PRK", "")
    assert deliver(prk, kor) == [None]
    assert kor.talks(tid)["state"] == "ended"
    with pytest.raises(Refused, match=f"talks {tid} are ended by PRK: only accepted talks "
                                      "can be joined"):
        talks.live_event(kor.deps, CHUN, tid, "chat", {"text": "still there?"})
    with pytest.raises(Refused, match="are ended by PRK"):
        talks.may_join(prk.deps, JON, tid)
    signal = {"talks_id": tid, "kind": "signal", "event": {
        "from": "PRK:jon", "name": "Jon Jong-su", "to": "KOR:chun", "data": {"bye": True}}}
    assert "are ended by PRK" in refused(prk, kor, "talks_live", signal)
    with pytest.raises(Refused, match="only accepted talks can be ended"):
        talks.answer(kor.deps, CHUN, tid, "end", {})
    # leaving is still recorded, on both sides, so the roster empties
    talks.live_event(kor.deps, CHUN, tid, "presence", {"action": "leave"})
    assert deliver(kor, prk) == [None]
    assert talks.roster(talks.record_of(prk.deps, tid)[0]) == []
    with pytest.raises(Refused, match="are ended by PRK"):
        talks.live_event(kor.deps, CHUN, tid, "presence", {"action": "join"})
    talks.minutes(kor.deps, CHUN, tid, {"agreed": ["Meet again"]}, True)
    assert deliver(kor, prk) == [None]
    talks.minutes(prk.deps, JON, tid, None, True, 2)
    assert deliver(prk, kor) == [None]
    assert kor.talks(tid)["minutes_sealed"] and prk.talks(tid)["minutes_sealed"]


# --- 5 and 6. live events -----------------------------------------------------------


def test_live_events_from_the_partner_that_break_a_rule_are_refused(
        nodes: tuple[Node, Node]) -> None:
    kor, prk = nodes
    t = talks.propose(kor.deps, CHUN, "PRK", copy.deepcopy(PROPOSAL))
    assert deliver(kor, prk) == [None]
    jon = {"from": "PRK:jon", "name": "Jon Jong-su"}

    def live(kind: str, **event: Any) -> dict[str, Any]:
        return {"talks_id": t["id"], "kind": kind, "event": {**jon, **event}}

    assert "are proposed: only accepted talks can be joined" in refused(
        prk, kor, "talks_live", live("presence", action="join"))
    talks.answer(prk.deps, JON, t["id"], "accept", {"version": 1})
    assert deliver(prk, kor) == [None]
    big = live("signal", to="KOR:chun", data={"sdp": {"sdp": "x" * 70_000}})
    cases = [
        (big, "live events are limited to 65536 bytes"),
        (live("signal", to="KOR:chun", data={"bye": True}),
         "KOR:chun is not one of KOR's participants in the call"),
        (live("signal", to="KOR:nobody!", data={}), "to: 'KOR:nobody!' is not a participant"),
        (live("chat", text="x" * 2001), "at most 2,000 characters"),
        (live("chat", text="  "), "needs some text"),
        (live("chat", text="hi", extra=1), "a chat event has no field 'extra'"),
        (live("presence", action="dance"), "'dance' is not join, state or leave"),
        (live("presence", action="state", muted="yes"), "muted: true or false"),
        (live("gossip"), "unknown live event 'gossip'"),
        ({**live("chat", text="hi"), "event": {"from": "KOR:chun", "name": "C", "text": "x"}},
         "must come from one of its own delegates, not KOR:chun"),
        ({**live("chat", text="hi"), "talks_id": "nope"}, "no talks nope here"),
        ({**live("chat", text="hi"), "event": "hi"}, "malformed live event"),
        ({"kind": "chat"}, "malformed live event"),
    ]
    for payload, message in cases:
        assert message in refused(prk, kor, "talks_live", payload), message
    # once KOR's delegate is in the call, a signal to them is kept
    talks.live_event(kor.deps, CHUN, t["id"], "presence", {"action": "join"})
    with kor.deps.uow() as uow:
        assert talks.apply_live(uow, kor.deps, "PRK", live(
            "signal", to="KOR:chun", data={"bye": True})) is None


def test_bad_live_input_from_our_own_page_is_refused(nodes: tuple[Node, Node]) -> None:
    kor, prk = nodes
    tid = accepted(kor, prk)
    before = kor.snapshot()
    for kind, data, message in (
            ("chat", {"text": ""}, "needs some text"),
            ("chat", {"text": None}, "needs some text"),
            ("chat", {"text": "x" * 2001}, "at most 2,000 characters; this one is 2,001"),
            ("signal", {"to": "KOR:chun", "data": {}}, "signals go to PRK's participants"),
            ("signal", {"to": "PRK:jon", "data": "offer"}, "carries an object"),
            ("signal", {"to": "PRK:jon", "data": {"sdp": "x" * 70_000}}, "limited to 65536"),
            ("gossip", {}, "unknown live event 'gossip'")):
        with pytest.raises(Invalid, match=message):
            talks.live_event(kor.deps, CHUN, tid, kind, data)
    with pytest.raises(NotFound, match="no talks nope here"):
        talks.live_event(kor.deps, CHUN, "nope", "chat", {"text": "hi"})
    assert kor.snapshot() == before
    talks.live_event(kor.deps, CHUN, tid, "chat", {"text": "x" * 2000})


def test_the_roster_and_the_chat_are_in_both_records(nodes: tuple[Node, Node]) -> None:
    kor, prk = nodes
    tid = accepted(kor, prk)
    talks.live_event(kor.deps, CHUN, tid, "presence", {"action": "join", "muted": False,
                                                       "camera": True, "hand": False})
    talks.live_event(prk.deps, JON, tid, "presence", {"action": "join"})
    talks.live_event(prk.deps, JON, tid, "signal", {"to": "KOR:chun", "data": {"sdp": {}}})
    talks.live_event(kor.deps, CHUN, tid, "chat", {"text": "안녕하십니까"})
    assert deliver(kor, prk) == [None, None]
    assert deliver(prk, kor) == [None, None]
    talks.live_event(prk.deps, JON, tid, "presence", {"action": "state", "hand": True})
    talks.live_event(prk.deps, JON, tid, "chat", {"text": "Good morning"})
    assert deliver(prk, kor) == [None, None]
    for node in (kor, prk):
        events, last = talks.record_of(node.deps, tid)
        assert last == len([e for e in node.state.talks_events if e[1] == tid])
        assert [p["id"] for p in talks.roster(events)] == ["KOR:chun", "PRK:jon"]
        jon = talks.roster(events)[1]
        assert (jon["name"], jon["party"], jon["hand"]) == ("Jon Jong-su", "PRK", True)
        assert [(e[2], e[3]["text"]) for e in events if e[1] == "chat"] == [
            ("KOR", "안녕하십니까"), ("PRK", "Good morning")]
    talks.live_event(kor.deps, CHUN, tid, "presence", {"action": "leave"})
    assert deliver(kor, prk) == [None]
    assert [p["id"] for p in talks.roster(talks.record_of(prk.deps, tid)[0])] == ["PRK:jon"]
    chats = [r for r in kor.state.audit if r.action == "talks.chat"]
    assert [r.details["text"] for r in chats] == ["안녕하십니까"]


def test_a_join_and_its_offers_are_recorded_and_sent_together_or_not_at_all(
        nodes: tuple[Node, Node]) -> None:
    """The page's join carries its offers (the newcomer calls whoever is in already): one
    transaction, queued in order, so they cross to the partner in one envelope."""
    kor, prk = nodes
    tid = accepted(kor, prk)
    talks.live_event(kor.deps, CHUN, tid, "presence", {"action": "join"})
    assert deliver(kor, prk) == [None]
    kor.state.outbox.clear()
    offer = {"to": "KOR:chun", "data": {"sdp": {"type": "offer", "sdp": "v=0"}}}
    before = prk.snapshot()
    with pytest.raises(Invalid, match="signals go to KOR's participants"):
        talks.live_events(prk.deps, JON, tid, [("presence", {"action": "join"}),
                                               ("signal", offer),
                                               ("signal", {**offer, "to": "PRK:jon"})])
    with pytest.raises(Invalid, match="1 to 31 events at once, not 32"):
        talks.live_events(prk.deps, JON, tid, [("signal", offer)] * 32)
    assert prk.snapshot() == before
    talks.live_events(prk.deps, JON, tid, [("presence", {"action": "join", "muted": True}),
                                           ("signal", offer)])
    assert [(m.kind, m.payload["kind"]) for m in prk.pending()] == [
        ("talks_live", "presence"), ("talks_live", "signal")]
    assert deliver(prk, kor) == [None, None]  # the join first: the offer's sender is in
    events = talks.live_state(kor.deps, tid, 0)[0]
    assert [(e[1], e[2]) for e in events][-2:] == [("presence", "PRK"), ("signal", "PRK")]
    jon = [p for p in talks.roster(events) if p["id"] == "PRK:jon"]
    assert jon and jon[0]["muted"]


def test_the_call_goes_on_under_another_mou_once_the_talks_own_has_ended(
        nodes: tuple[Node, Node]) -> None:
    """The live call looks at the talks' own MOU first (the cheap check); when that one has
    ended, any other MOU in force that opens talks still does."""
    kor, prk = nodes
    tid = accepted(kor, prk)
    kor.end_mou()
    renewed = {**MOU, "id": "KOR-PRK-LINES-2021-RENEWED"}
    kor.state.agreements[renewed["id"]] = agreement_from(renewed, default_parties())
    talks.live_event(kor.deps, CHUN, tid, "presence", {"action": "join"})
    talks.may_join(kor.deps, CHUN, tid)
    del kor.state.agreements[renewed["id"]]
    with pytest.raises(Refused, match="no MOU in force today between KOR and PRK"):
        talks.live_event(kor.deps, CHUN, tid, "chat", {"text": "hello"})
