"""A hostile partner's agreement notes and requests (issue 17): a real partner node — its
own keys, valid signatures and encryption — puts whatever it likes inside its envelopes.
Each test replays one bullet of the issue against KOR's inbox (``federation.receive`` with
the node's own appliers) and checks what KOR shows afterwards.

What these tests prove: a partner's ENTERED_INTO_FORCE alone does not bring an agreement
into force (a release check of a 군사II급비밀 item to it stays denied); a partner cannot
withdraw our notice; a note dated 2099-12-31 is refused and our administrator can still
record a termination; a TISA party's note cannot end the arrangement for the others; a
resent RFI with other content does not erase our answer; a consent request from another
partner with the same id does not replace the first partner's RFI. Each refused message
gets a signed receipt with its reason.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from liaison.domain.agreement_lifecycle import Status, status_at
from liaison.domain.agreements import Agreement
from liaison.domain.codec import agreement_from, item_from
from liaison.domain.labels import Clearance
from liaison.domain.parties import default_parties
from liaison.domain.release_decision import Outcome
from liaison.domain.users import Role, User
from liaison.services import agreements, inbox_refusals, releases, requests
from liaison.services.errors import Forbidden
from liaison.services.ports import StoredItem

from .partner_nodes import Node

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)
TODAY = NOW.date()
PARTIES = default_parties()
ADMIN = User("admin", "administrator", frozenset({Role.ADMIN}), Clearance(4))
OFFICER = User("lee", "Lee", frozenset({Role.RELEASE_OFFICER, Role.ANALYST}), Clearance(4))


def gsomia(*events: dict[str, Any]) -> Agreement:
    return agreement_from({
        "id": "KOR-JPN-GSOMIA", "kind": "GSOMIA", "title": "KOR–JPN GSOMIA",
        "parties": ["KOR", "JPN"],
        "table": [{"common": "SECRET", "levels": {"JPN": ["極秘"], "KOR": ["군사II급비밀"]}}],
        "events": [{"kind": "SIGNED", "date": "2016-11-23"}, *events]}, PARTIES)


TISA = agreement_from({
    "id": "TISA-2014", "kind": "ARRANGEMENT", "title": "TISA", "parties": ["KOR", "USA", "JPN"],
    "hub": "USA", "scope": {"topics": ["DPRK/nuclear", "DPRK/missile"]},
    "table": [{"common": "SECRET",
               "levels": {"USA": ["SECRET"], "KOR": ["군사II급비밀"], "JPN": ["極秘"]}}],
    "events": [{"kind": "SIGNED", "date": "2014-12-29"},
               {"kind": "ENTERED_INTO_FORCE", "date": "2014-12-29"}]}, PARTIES)


def nodes(root: Path, *agreements_: Agreement, parties: tuple[str, ...] = ("KOR", "JPN"),
          ) -> dict[str, Node]:
    made = {p: Node(p, root, agreements_, NOW) for p in parties}
    for a, b in itertools.permutations(made.values(), 2):
        a.trust(b)
    return made


def note(agreement_id: str, kind: str, on: str, by: str = "JPN") -> dict[str, Any]:
    return {"agreement": agreement_id, "event": {"kind": kind, "date": on, "by": by}}


def status(node: Node, agreement_id: str, day: date = TODAY) -> Any:
    return status_at(node.state.agreements[agreement_id], day)


def test_a_partners_entry_into_force_alone_does_not_bring_the_agreement_into_force(
        tmp_path: Path) -> None:
    n = nodes(tmp_path, gsomia())
    kor, jpn = n["KOR"], n["JPN"]
    item = item_from({
        "id": "R1", "discipline": "IMINT", "topic": "DPRK/missile", "grade": "A2",
        "title": "TEL at Sunchon", "reported_at": "2026-01-05T00:00:00Z",
        "portions": [{"id": "p1", "content": "TEL sighted", "label": {
            "policy": "KOR", "classification": "군사II급비밀", "originator": "KOR",
            "created": "2026-01-05T00:00:00Z", "rel_to": ["JPN"]}}]}, PARTIES, "KOR")
    with kor.deps.uow() as uow:
        uow.items.add(StoredItem(item, "lee", NOW), 2)
        uow.commit()

    def check() -> tuple[Outcome, str]:
        decision = releases.check(kor.deps, OFFICER, "R1", "JPN", TODAY)
        return decision.outcome, " ".join(r.text for r in decision.reasons)

    assert check()[0] is Outcome.DENIED
    assert jpn.send(kor, "note", note("KOR-JPN-GSOMIA", "ENTERED_INTO_FORCE",
                                      "2026-01-04")) == ("applied", "")
    assert status(kor, "KOR-JPN-GSOMIA").state is Status.SIGNED
    outcome, why = check()
    assert outcome is Outcome.DENIED and "notified by JPN; waiting for KOR" in why
    # with our own notification, in force from the later of the two
    agreements.send_note(kor.deps, ADMIN, "KOR-JPN-GSOMIA",
                         {"kind": "ENTERED_INTO_FORCE", "date": "2026-01-05"})
    s = status(kor, "KOR-JPN-GSOMIA")
    assert (s.state, s.in_force_since) == (Status.IN_FORCE, TODAY)
    assert check()[0] is Outcome.ALLOWED


def test_a_partner_cannot_withdraw_our_notice(tmp_path: Path) -> None:
    n = nodes(tmp_path, gsomia({"kind": "ENTERED_INTO_FORCE", "date": "2016-11-23"}))
    kor, jpn = n["KOR"], n["JPN"]
    agreements.send_note(kor.deps, ADMIN, "KOR-JPN-GSOMIA",
                         {"kind": "NOTICE_GIVEN", "date": "2026-01-02"})
    before = status(kor, "KOR-JPN-GSOMIA")
    for kind in ("NOTICE_WITHDRAWN", "NOTICE_SUSPENDED"):
        outcome, reason = jpn.send(kor, "note", note("KOR-JPN-GSOMIA", kind, "2026-01-05"))
        assert outcome == "refused" and "given by KOR, not JPN" in reason
    after = status(kor, "KOR-JPN-GSOMIA")
    assert (after.state, after.ends_on) == (Status.NOTICE_GIVEN, before.ends_on)
    assert after.ends_on == date(2026, 11, 22)


def test_a_note_from_2099_is_refused_and_our_admin_can_still_terminate(
        tmp_path: Path) -> None:
    n = nodes(tmp_path, gsomia({"kind": "ENTERED_INTO_FORCE", "date": "2016-11-23"}))
    kor, jpn = n["KOR"], n["JPN"]
    outcome, reason = jpn.send(kor, "note", note("KOR-JPN-GSOMIA", "NOTICE_GIVEN",
                                                 "2099-12-31"))
    assert outcome == "refused" and "in the future" in reason
    # a note dated tomorrow (within the skew) is JPN's, and blocks nothing of ours
    assert jpn.send(kor, "note", note("KOR-JPN-GSOMIA", "NOTICE_GIVEN",
                                      "2026-01-06"))[0] == "applied"
    agreements.add_event(kor.deps, ADMIN, "KOR-JPN-GSOMIA",
                         {"kind": "TERMINATED", "date": "2026-01-05", "note": "by consent"})
    assert status(kor, "KOR-JPN-GSOMIA").state is Status.TERMINATED
    kinds = [(e.kind.value, e.on.isoformat()) for e in
             kor.state.agreements["KOR-JPN-GSOMIA"].events]
    assert ("NOTICE_GIVEN", "2099-12-31") not in kinds


def test_a_tisa_partys_note_cannot_end_the_arrangement_for_the_others(
        tmp_path: Path) -> None:
    n = nodes(tmp_path, TISA, parties=("KOR", "USA", "JPN"))
    kor, jpn = n["KOR"], n["JPN"]
    for kind in ("TERMINATED", "NOTICE_GIVEN"):
        outcome, reason = jpn.send(kor, "note", note("TISA-2014", kind, "2026-01-05"))
        assert outcome == "refused" and "binds 3 parties" in reason, kind
    assert status(kor, "TISA-2014").state is Status.IN_FORCE
    # its own withdrawal binds JPN alone: the arrangement goes on between KOR and USA
    assert jpn.send(kor, "note", note("TISA-2014", "WITHDRAWN", "2026-01-05"))[0] == "applied"
    s = status(kor, "TISA-2014")
    assert (s.state, s.withdrawn) == (Status.IN_FORCE, frozenset({"JPN"}))
    # nor can it act in USA's name
    outcome, reason = jpn.send(kor, "note", note("TISA-2014", "WITHDRAWN", "2026-01-05",
                                                 by="USA"))
    assert outcome == "refused" and "own act" in reason


RFI = {"id": "Q-1", "topic": "DPRK/missile", "event": "launch 2026-01-04",
       "priority": "urgent", "deadline": "2026-01-06T00:00:00Z", "purpose": "warning"}


def test_a_resent_rfi_with_other_content_does_not_erase_our_answer(tmp_path: Path) -> None:
    n = nodes(tmp_path, gsomia())
    kor, jpn = n["KOR"], n["JPN"]
    assert jpn.send(kor, "rfi", RFI) == ("applied", "")
    requests.answer_rfi(kor.deps, OFFICER, "JPN:Q-1", "declined", "no collection", [])
    outcome, reason = jpn.send(kor, "rfi", {**RFI, "topic": "DPRK/nuclear"})
    assert outcome == "refused" and reason.startswith("conflict")
    assert jpn.send(kor, "rfi", RFI) == ("applied", "")  # the same again: a duplicate
    with kor.deps.uow() as uow:
        held = uow.requests.get("Q-1", "incoming", "JPN")
        conflicts = [r for r in uow.audit.list(after_seq=0, limit=100)
                     if r.action == "request.conflict"]
    assert held is not None
    assert (held.state, held.data["topic"], held.data["reason"]) == (
        "declined", "DPRK/missile", "no collection")
    assert len(conflicts) == 1


def test_a_consent_request_from_another_partner_does_not_replace_an_rfi(
        tmp_path: Path) -> None:
    n = nodes(tmp_path, gsomia(), parties=("KOR", "JPN", "USA"))
    kor, jpn, usa = n["KOR"], n["JPN"], n["USA"]
    assert jpn.send(kor, "rfi", RFI) == ("applied", "")
    assert usa.send(kor, "consent_request", {
        "id": "Q-1", "item_id": "U1", "recipient": "JPN", "purpose": "warning",
        "portions": []}) == ("applied", "")
    with kor.deps.uow() as uow:
        rfi = uow.requests.get("Q-1", "incoming", "JPN")
        consent = uow.requests.get("Q-1", "incoming", "USA")
    assert rfi is not None and (rfi.kind, rfi.party, rfi.data["topic"]) == (
        "rfi", "JPN", "DPRK/missile")
    assert consent is not None and (consent.kind, consent.party) == ("consent", "USA")
    # addressed by id alone, each is found by its kind; "USA:Q-1" is no RFI
    assert requests.answer_rfi(kor.deps, OFFICER, "Q-1", "declined", "no", []).party == "JPN"
    with pytest.raises(Exception, match="no incoming rfi USA:Q-1"):
        requests.answer_rfi(kor.deps, OFFICER, "USA:Q-1", "declined", "no", [])


def test_two_partners_with_the_same_rfi_id_are_named_apart(tmp_path: Path) -> None:
    n = nodes(tmp_path, gsomia(), parties=("KOR", "JPN", "USA"))
    kor = n["KOR"]
    for sender in ("JPN", "USA"):
        assert n[sender].send(kor, "rfi", RFI) == ("applied", "")
    with pytest.raises(Exception, match="several partners: name it as JPN:Q-1 and USA:Q-1"):
        requests.answer_rfi(kor.deps, OFFICER, "Q-1", "declined", "no", [])
    done = requests.answer_rfi(kor.deps, OFFICER, "Q-1", "declined", "no", [], party="USA")
    assert done.party == "USA"
    with kor.deps.uow() as uow:
        jpn_rfi = uow.requests.get("Q-1", "incoming", "JPN")
    assert jpn_rfi is not None and jpn_rfi.state == "open"


@pytest.mark.parametrize("body", [
    {**RFI, "deadline": "not-a-time"}, {**RFI, "deadline": "2026-01-06T00:00:00"},
    {**RFI, "priority": "flash"}, {**RFI, "topic": "x" * 257}, {**RFI, "id": "a:b"},
    {**RFI, "id": 7}, {**RFI, "purpose": ["x"]}, "not an object",
])
def test_a_malformed_rfi_is_refused_and_reads_still_work(tmp_path: Path,
                                                         body: Any) -> None:
    n = nodes(tmp_path, gsomia())
    kor, jpn = n["KOR"], n["JPN"]
    assert jpn.send(kor, "rfi", body)[0] == "refused"
    assert requests.list_requests(kor.deps, OFFICER, "rfi", None) == []


def test_refused_messages_are_shown_to_administrators_only(tmp_path: Path) -> None:
    """Issue 17, point 8: a refused message is listed for our administrators with the reason
    its receipt gave (``liaison peer inbox``, the console's Outbox page); an analyst may not
    list them; applied messages are not listed."""
    n = nodes(tmp_path, gsomia({"kind": "ENTERED_INTO_FORCE", "date": "2016-11-23"}))
    kor, jpn = n["KOR"], n["JPN"]
    agreements.send_note(kor.deps, ADMIN, "KOR-JPN-GSOMIA",
                         {"kind": "NOTICE_GIVEN", "date": "2026-01-02"})
    outcome, reason = jpn.send(kor, "note", note("KOR-JPN-GSOMIA", "NOTICE_WITHDRAWN",
                                                 "2026-01-05"))
    assert outcome == "refused"
    assert jpn.send(kor, "rfi", {"id": "q1", "topic": "DPRK/missile", "priority": "high",
                                 "purpose": "warning",
                                 "deadline": "2099-01-01T00:00:00+00:00"})[0] == "applied"
    shown = inbox_refusals.refused(kor.deps, ADMIN, None, 100)
    assert [(r["sender"], r["kind"], r["reason"]) for r in shown] == [("JPN", "note", reason)]
    assert inbox_refusals.refused(kor.deps, ADMIN, "USA", 100) == []
    analyst = User("kim", "Kim", frozenset({Role.ANALYST}), Clearance(4))
    with pytest.raises(Forbidden):
        inbox_refusals.refused(kor.deps, analyst, None, 100)
    print(f"refused messages shown to administrators: {len(shown)} of 1")
